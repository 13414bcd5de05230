-- A client's settings become one JSON document (tollgate_proto::client::
-- ClientSettings, issue 31): a setting added later is a field with a
-- default and needs no column. `name` and `grants` stay, copied from the
-- document on every write, for the client list's filters; the other
-- columns move into the document and are dropped.
ALTER TABLE clients ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Space-separated words as a JSON array of strings (none has a space;
-- quotes and backslashes are escaped all the same).
UPDATE clients SET settings = json_object(
    'client_name', name,
    'description', description,
    'scope', scopes,
    'grant_types', json(CASE WHEN trim(grants) = '' THEN '[]' ELSE
        '["' || replace(replace(replace(trim(grants), '\', '\\'), '"', '\"'), ' ', '","') || '"]' END),
    'auth_method', auth_method,
    'token_ttl', token_ttl,
    'qps', qps,
    'per_day', per_day,
    'introspect_any', json(CASE WHEN introspect_any THEN 'true' ELSE 'false' END),
    'token_format', token_format,
    'audience', audience,
    'redirect_uris', json(CASE WHEN trim(redirect_uris) = '' THEN '[]' ELSE
        '["' || replace(replace(replace(trim(redirect_uris), '\', '\\'), '"', '\"'), ' ', '","') || '"]' END),
    'public', json(CASE WHEN public THEN 'true' ELSE 'false' END),
    'first_party', json(CASE WHEN first_party THEN 'true' ELSE 'false' END)
);

ALTER TABLE clients DROP COLUMN scopes;
ALTER TABLE clients DROP COLUMN auth_method;
ALTER TABLE clients DROP COLUMN token_ttl;
ALTER TABLE clients DROP COLUMN qps;
ALTER TABLE clients DROP COLUMN per_day;
ALTER TABLE clients DROP COLUMN introspect_any;
ALTER TABLE clients DROP COLUMN token_format;
ALTER TABLE clients DROP COLUMN audience;
ALTER TABLE clients DROP COLUMN redirect_uris;
ALTER TABLE clients DROP COLUMN public;
ALTER TABLE clients DROP COLUMN first_party;
ALTER TABLE clients DROP COLUMN description;
