-- The same as SQLite's 0007.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
