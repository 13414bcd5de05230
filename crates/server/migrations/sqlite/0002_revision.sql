-- A counter bumped by every change that can make a valid token invalid:
-- a client or user update (disable, scope change, secret rotation) or a
-- token revocation. Servers poll it to drop their validation caches, so a
-- change made by `tollgate admin` or by another instance applies within the
-- poll interval.
CREATE TABLE revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO revision (id, n) VALUES (1, 0);

CREATE TRIGGER clients_changed AFTER UPDATE ON clients
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER users_changed AFTER UPDATE ON users
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER tokens_revoked AFTER UPDATE OF revoked_at ON tokens
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
