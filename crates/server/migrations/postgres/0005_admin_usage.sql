-- The same as SQLite's 0006, in PostgreSQL types.
ALTER TABLE clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE clients ADD COLUMN previous_secret_until BIGINT;

CREATE TABLE usage_calls (
    client_id TEXT NOT NULL,
    day       TEXT NOT NULL,
    route     TEXT NOT NULL,
    admitted  BIGINT NOT NULL DEFAULT 0,
    over_qps  BIGINT NOT NULL DEFAULT 0,
    over_day  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day, route)
);
CREATE INDEX usage_calls_day ON usage_calls (day);

CREATE TABLE usage_tokens (
    client_id  TEXT NOT NULL,
    day        TEXT NOT NULL,
    grant_type TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    n          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day, grant_type, outcome)
);
CREATE INDEX usage_tokens_day ON usage_tokens (day);

CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TRIGGER clients_deleted AFTER DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_revision();
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_revision();
