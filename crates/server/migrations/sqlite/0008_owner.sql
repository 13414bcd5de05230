-- The console (issue 16): who registered a client through the developer
-- portal (a username; NULL for clients an admin made), what it is for, and
-- the scopes it asked for that an admin has yet to approve (space-separated).
ALTER TABLE clients ADD COLUMN owner TEXT;
ALTER TABLE clients ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN requested_scopes TEXT NOT NULL DEFAULT '';
CREATE INDEX clients_owner ON clients (owner, client_id);
