-- Signed (JWT) access tokens: a format per client, the keys that sign them,
-- and the denylist that revokes them (a JWT has no row to mark revoked).
ALTER TABLE clients ADD COLUMN token_format TEXT;  -- NULL: the server's token_format
ALTER TABLE clients ADD COLUMN audience TEXT;      -- NULL: the issuer

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    private_der     BLOB NOT NULL,
    public_jwk      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    signs_from      INTEGER NOT NULL,
    retired_at      INTEGER,
    published_until INTEGER,
    -- For a key made automatically (first start, or none left to sign):
    -- how many keys there were. Unique, so instances that decide to make
    -- one at the same moment make one between them.
    auto_slot       INTEGER UNIQUE
);

-- `jti:<jti>` for one token, `sid:<family>` for every token of a grant.
CREATE TABLE revoked_jwts (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_jwts_expiry ON revoked_jwts (expires_at);

-- Other instances reload their keys and drop their caches when these change.
CREATE TRIGGER signing_keys_added AFTER INSERT ON signing_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_changed AFTER UPDATE ON signing_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER jwts_revoked AFTER INSERT ON revoked_jwts
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
