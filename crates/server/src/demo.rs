//! `serve --demo`: fixed, published credentials for trying tollgate out.
//! Only ever served on loopback (enforced in `config`).

use tollgate_proto::admin::{ClientRegistration, Role};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::admin::{self, AdminError, NewUser};
use crate::state::AppState;
use crate::store::StoreError;

pub const CLIENT_ID: &str = "demo-client";
pub const CLIENT_SECRET: &str = "demo-secret";
pub const SCOPES: &str = "locations:read users:read";
/// A client for the admin API (`tollgate:admin`), client_credentials only.
pub const ADMIN_CLIENT_ID: &str = "demo-admin";
pub const ADMIN_CLIENT_SECRET: &str = "demo-admin-secret";
pub const USERNAME: &str = "demo";
/// A person with the `admin` role (the demo user is a `developer`).
pub const ADMIN_USERNAME: &str = "demo-admin";
pub const ADMIN_PASSWORD: &str = "demo-admin-password";
pub const PASSWORD: &str = "demo-password";
pub const REDIRECT_URIS: [&str; 3] = [
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
];

/// Registers the demo clients and users unless they exist. Safe when several
/// instances sharing one database start at once.
pub async fn seed(state: &AppState) -> Result<(), AdminError> {
    let now = state.clock().now_secs();
    let client = ClientRegistration {
        settings: ClientSettings {
            client_name: "Demo client".into(),
            scope: SCOPES
                .parse()
                .map_err(|e| AdminError::Invalid(format!("{e}")))?,
            grant_types: GrantType::ALL.into_iter().collect(),
            // Any port on loopback (RFC 8252 §7.3): `tollgate login`, and a
            // browser tried by hand.
            redirect_uris: REDIRECT_URIS.iter().map(|u| (*u).to_owned()).collect(),
            ..ClientSettings::default()
        },
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(CLIENT_SECRET.into()),
        owner: None,
    };
    let operator = ClientRegistration {
        settings: ClientSettings {
            client_name: "Demo admin".into(),
            scope: admin::ADMIN_SCOPE
                .parse()
                .map_err(|e| AdminError::Invalid(format!("{e}")))?,
            grant_types: [GrantType::ClientCredentials].into(),
            ..ClientSettings::default()
        },
        client_id: Some(ADMIN_CLIENT_ID.into()),
        client_secret: Some(ADMIN_CLIENT_SECRET.into()),
        owner: None,
    };
    for new in [client, operator] {
        ignore_conflict(
            admin::create_client(state.store().as_ref(), now, new)
                .await
                .map(drop),
        )?;
    }
    let people = [
        NewUser {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            full_name: Some("Demo User".into()),
            email: Some("demo@example.com".into()),
            roles: vec![Role::Developer],
        },
        NewUser {
            username: ADMIN_USERNAME.into(),
            password: ADMIN_PASSWORD.into(),
            full_name: Some("Demo Admin".into()),
            email: Some("admin@example.com".into()),
            roles: vec![Role::Admin],
        },
    ];
    for user in people {
        ignore_conflict(
            admin::create_user(state.store().as_ref(), state.oauth().passwords(), now, user)
                .await
                .map(drop),
        )?;
    }
    Ok(())
}

fn ignore_conflict(r: Result<(), AdminError>) -> Result<(), AdminError> {
    match r {
        Err(AdminError::Store(StoreError::Conflict(_))) => Ok(()),
        other => other,
    }
}

/// What `serve --demo` prints: the credentials and commands to paste.
pub fn banner(base_url: &str) -> String {
    format!(
        r#"tollgate demo mode: fixed credentials, in-memory unless --database is given.

  client_id      {CLIENT_ID}
  client_secret  {CLIENT_SECRET}
  scopes         {SCOPES}
  user           {USERNAME} / {PASSWORD}  (role developer)
  admin user     {ADMIN_USERNAME} / {ADMIN_PASSWORD}  (role admin)
  console        {base_url}/console  (sign in as either user)

Get a token (client credentials):
  curl -s -w '\n' -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials -d scope=locations:read {base_url}/oauth2/token.oauth2

Get a token for the demo user (password grant):
  curl -s -w '\n' -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=password -d username={USERNAME} -d password={PASSWORD} {base_url}/oauth2/token.oauth2

Keep a token, call the demo API with it, introspect it, revoke it:
  TOKEN=$(curl -s -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials -d scope=locations:read {base_url}/oauth2/token.oauth2 | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -w '\n' -H "Authorization: Bearer $TOKEN" {base_url}/locations
  curl -s -w '\n' -u {CLIENT_ID}:{CLIENT_SECRET} -H 'api-key: {CLIENT_ID}' -d "token=$TOKEN" {base_url}/oauth2/introspect.oauth2
  curl -s -w '\n' -u {CLIENT_ID}:{CLIENT_SECRET} -d "token=$TOKEN" {base_url}/oauth2/revoke.oauth2

Administer it (the admin API under /admin/v1, scope tollgate:admin; {ADMIN_CLIENT_ID} / {ADMIN_CLIENT_SECRET}):
  ADMIN=$(curl -s -u {ADMIN_CLIENT_ID}:{ADMIN_CLIENT_SECRET} -d grant_type=client_credentials -d scope=tollgate:admin {base_url}/oauth2/token.oauth2 | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -w '\n' -H "Authorization: Bearer $ADMIN" {base_url}/admin/v1/clients
  curl -s -w '\n' -H "Authorization: Bearer $ADMIN" {base_url}/admin/v1/usage
"#
    )
}
