-- Clients, users and tokens. Secrets and tokens are stored only as SHA-256
-- digests; user passwords only as argon2id PHC strings.
CREATE TABLE clients (
    client_id      TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    secret_hash    BLOB NOT NULL,
    scopes         TEXT NOT NULL DEFAULT '',
    grants         TEXT NOT NULL,
    auth_method    TEXT NOT NULL DEFAULT 'basic',
    token_ttl      INTEGER,
    qps            INTEGER,
    per_day        INTEGER,
    introspect_any INTEGER NOT NULL DEFAULT 0,
    enabled        INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    full_name     TEXT,
    email         TEXT,
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id  TEXT NOT NULL REFERENCES clients (client_id),
    username   TEXT REFERENCES users (username),
    scope      TEXT NOT NULL DEFAULT '',
    grant_type TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    family_id  TEXT NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID;

CREATE INDEX tokens_family ON tokens (family_id);
CREATE INDEX tokens_expires ON tokens (expires_at);
