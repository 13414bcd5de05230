//! OpenID Connect Back-Channel Logout 1.0: when a person's sessions end,
//! each client that one of them signed in to, and that registered a
//! `backchannel_logout_uri`, is owed a logout token (§2.4): a JWT of `typ`
//! `logout+jwt`, signed as its ID tokens are, naming the person (`sub`) and
//! the session (`sid`), with the back-channel logout event and no `nonce`.
//! Sending them is `http::backchannel`'s.

use serde_json::json;

use super::error::GrantError;
use super::{secret, AuthServer};
use crate::store::Client;

/// The event a logout token carries (§2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token may be used, in seconds: two minutes, as
/// oidc-provider allows.
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// A logout token owed to a client, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub client_id: String,
    pub uri: String,
    pub logout_token: String,
}

/// The logout tokens owed when every session of `username` ends: one per
/// session and enabled client with a `backchannel_logout_uri`. Read before
/// the sessions are deleted.
pub async fn notices(server: &AuthServer, username: &str) -> Result<Vec<Notice>, GrantError> {
    let mut owed = Vec::new();
    for (sid, client_id) in server.store.session_clients(username).await? {
        let client = server.store.get_client(&client_id).await?;
        let Some(client) = client.filter(|c| c.enabled) else {
            continue;
        };
        let Some(uri) = client.settings.backchannel_logout_uri.clone() else {
            continue;
        };
        let logout_token = logout_token(server, &client, username, &sid).await?;
        owed.push(Notice {
            client_id,
            uri,
            logout_token,
        });
    }
    Ok(owed)
}

/// The logout token for `client` of the session `sid` of `sub`.
async fn logout_token(
    server: &AuthServer,
    client: &Client,
    sub: &str,
    sid: &str,
) -> Result<String, GrantError> {
    let signer = server
        .tokens
        .keys()
        .signer_for(client.settings.id_token_alg())
        .await?;
    let now = server.clock.now_secs();
    let claims = json!({
        "iss": server.config.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now.saturating_add(LOGOUT_TOKEN_TTL_SECS),
        "jti": secret::new_family_id()?,
        "sub": sub,
        "sid": sid,
        "events": { LOGOUT_EVENT: {} },
    });
    signer.sign("logout+jwt", &claims)
}
