-- OpenID Connect Back-Channel Logout 1.0: a sign-in session's id (`sid` in
-- ID tokens and logout tokens), the session a code was issued in, and which
-- clients each session signed in to (told when it ends).
ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN sid TEXT;

CREATE TABLE session_clients (
    sid        TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    PRIMARY KEY (sid, client_id)
);
