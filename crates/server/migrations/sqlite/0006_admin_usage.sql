-- The admin API (issue 15): a client's previous secret during a rotation's
-- grace period; usage per client, UTC day and route, added to by every
-- instance's flushes; the audit log of changes; deletions seen by the
-- change watcher like updates.
ALTER TABLE clients ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE clients ADD COLUMN previous_secret_until INTEGER;

CREATE TABLE usage_calls (
    client_id TEXT NOT NULL,
    day       TEXT NOT NULL,               -- YYYY-MM-DD, UTC
    route     TEXT NOT NULL,
    admitted  INTEGER NOT NULL DEFAULT 0,
    over_qps  INTEGER NOT NULL DEFAULT 0,  -- refused: per-second quota
    over_day  INTEGER NOT NULL DEFAULT 0,  -- refused: per-day quota
    PRIMARY KEY (client_id, day, route)
);
CREATE INDEX usage_calls_day ON usage_calls (day);

CREATE TABLE usage_tokens (
    client_id  TEXT NOT NULL,
    day        TEXT NOT NULL,
    grant_type TEXT NOT NULL,
    outcome    TEXT NOT NULL,              -- issued, or the error code
    n          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day, grant_type, outcome)
);
CREATE INDEX usage_tokens_day ON usage_tokens (day);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'      -- JSON; never a secret
);

CREATE TRIGGER clients_deleted AFTER DELETE ON clients
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
