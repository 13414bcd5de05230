-- Browser sign-in: the authorization code grant with PKCE (RFC 6749 §4.1,
-- RFC 7636): where a client may be sent back to, whether it has a secret,
-- whether it may skip consent; codes; consents; sign-in sessions.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';  -- space-separated
ALTER TABLE clients ADD COLUMN public BOOLEAN NOT NULL DEFAULT FALSE;     -- no secret: PKCE only
ALTER TABLE clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE; -- no consent page

CREATE TABLE auth_codes (
    code_hash      BYTEA PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    username       TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    redirect_given BOOLEAN NOT NULL,
    code_challenge TEXT,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    auth_time      BIGINT NOT NULL,
    family_id      TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE consents (
    username   TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (username, client_id)
);

CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    username   TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
