-- Roles of a person (the console, issue 16): `admin`, `developer`;
-- space-separated, empty for none.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
