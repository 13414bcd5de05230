-- A client's settings become one JSON document (tollgate_proto::client::
-- ClientSettings, issue 31), as SQLite's 0009: `name` and `grants` stay,
-- copied from it on every write, for the client list's filters.
ALTER TABLE clients ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

UPDATE clients SET settings = json_build_object(
    'client_name', name,
    'description', description,
    'scope', scopes,
    'grant_types', array_to_json(string_to_array(btrim(grants), ' ')),
    'auth_method', auth_method,
    'token_ttl', token_ttl,
    'qps', qps,
    'per_day', per_day,
    'introspect_any', introspect_any,
    'token_format', token_format,
    'audience', audience,
    'redirect_uris', array_to_json(string_to_array(btrim(redirect_uris), ' ')),
    'public', public,
    'first_party', first_party
)::text;

ALTER TABLE clients ALTER COLUMN settings DROP DEFAULT,
    DROP COLUMN scopes, DROP COLUMN auth_method, DROP COLUMN token_ttl,
    DROP COLUMN qps, DROP COLUMN per_day, DROP COLUMN introspect_any,
    DROP COLUMN token_format, DROP COLUMN audience, DROP COLUMN redirect_uris,
    DROP COLUMN public, DROP COLUMN first_party, DROP COLUMN description;
