-- Dynamic Client Registration (RFC 7591, RFC 7592): the digest of the
-- registration access token that reads, updates and deletes a registered
-- client; and the initial access tokens an admin hands out, by digest.
ALTER TABLE clients ADD COLUMN registration_hash BYTEA;

CREATE TABLE initial_access_tokens (
    token_hash  BYTEA PRIMARY KEY,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX initial_access_tokens_expiry ON initial_access_tokens (expires_at);
