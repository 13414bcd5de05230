-- The same schema as SQLite's 0001 and 0002, in PostgreSQL types.
CREATE TABLE clients (
    client_id      TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    secret_hash    BYTEA NOT NULL,
    scopes         TEXT NOT NULL DEFAULT '',
    grants         TEXT NOT NULL,
    auth_method    TEXT NOT NULL DEFAULT 'basic',
    token_ttl      BIGINT,
    qps            BIGINT,
    per_day        BIGINT,
    introspect_any BOOLEAN NOT NULL DEFAULT FALSE,
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    full_name     TEXT,
    email         TEXT,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
    token_hash BYTEA PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id  TEXT NOT NULL REFERENCES clients (client_id),
    username   TEXT REFERENCES users (username),
    scope      TEXT NOT NULL DEFAULT '',
    grant_type TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    family_id  TEXT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX tokens_family ON tokens (family_id);
CREATE INDEX tokens_expires ON tokens (expires_at);

-- Bumped by every change that can make a valid token invalid; servers poll
-- it to drop their validation caches (see SQLite's 0002).
CREATE TABLE revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO revision (id, n) VALUES (1, 0);

CREATE FUNCTION tollgate_bump_revision() RETURNS trigger AS $$
BEGIN
    UPDATE revision SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER clients_changed AFTER UPDATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_revision();
CREATE TRIGGER users_changed AFTER UPDATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_revision();
CREATE TRIGGER tokens_revoked AFTER UPDATE OF revoked_at ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_revision();
