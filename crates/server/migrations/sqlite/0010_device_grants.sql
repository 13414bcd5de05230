-- The Device Authorization Grant (RFC 8628): a device's code (by its key)
-- and the user code a person types (by its SHA-256), waiting for that
-- person's decision, then used once.
CREATE TABLE device_grants (
    device_hash    BLOB PRIMARY KEY,
    user_code_hash BLOB NOT NULL UNIQUE,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    interval_secs  INTEGER NOT NULL,
    polled_at_ms   INTEGER,
    status         TEXT NOT NULL,          -- pending, allowed, denied, used
    username       TEXT,                   -- who decided
    auth_time      INTEGER
);
CREATE INDEX device_grants_expiry ON device_grants (expires_at);
