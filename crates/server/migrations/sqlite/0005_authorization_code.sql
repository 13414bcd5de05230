-- Browser sign-in: the authorization code grant with PKCE (RFC 6749 §4.1,
-- RFC 7636): where a client may be sent back to, whether it has a secret,
-- whether it may skip consent; codes; consents; sign-in sessions.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';  -- space-separated
ALTER TABLE clients ADD COLUMN public INTEGER NOT NULL DEFAULT 0;       -- no secret: PKCE only
ALTER TABLE clients ADD COLUMN first_party INTEGER NOT NULL DEFAULT 0;  -- no consent page

CREATE TABLE auth_codes (
    code_hash      BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    username       TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    redirect_given INTEGER NOT NULL,
    code_challenge TEXT,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    family_id      TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE consents (
    username   TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (username, client_id)
);

CREATE TABLE sessions (
    id_hash    BLOB PRIMARY KEY,
    username   TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
