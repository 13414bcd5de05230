-- Dynamic Client Registration (RFC 7591, RFC 7592): the digest of the
-- registration access token that reads, updates and deletes a registered
-- client; and the initial access tokens an admin hands out, by digest.
ALTER TABLE clients ADD COLUMN registration_hash BLOB;

CREATE TABLE initial_access_tokens (
    token_hash  BLOB PRIMARY KEY,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX initial_access_tokens_expiry ON initial_access_tokens (expires_at);
