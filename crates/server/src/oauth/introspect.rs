//! Introspection (RFC 7662): what an authenticated caller may learn about a
//! token. Anything it may not see is simply `{"active":false}`. An active
//! access token is answered from the validation cache when it is there, so
//! introspection sees a change made elsewhere within the same bound as the
//! bearer check (`change_poll_ms`, or at once through Redis).

use tollgate_proto::{IntrospectionResponse, TokenTypeHint};

use super::error::GrantError;
use super::tokens::Found;
use super::AuthServer;
use crate::store::Client;

/// Introspects `token` for `caller`. Tokens of both kinds share one table,
/// so the hint never hides a token of the other kind.
pub async fn introspect(
    server: &AuthServer,
    caller: &Client,
    token: &str,
    _hint: Option<TokenTypeHint>,
) -> Result<IntrospectionResponse, GrantError> {
    let visible = |client_id: &str| client_id == caller.client_id || caller.settings.introspect_any;
    Ok(match server.tokens.find(token).await? {
        Found::Access(v) if visible(&v.client_id) => IntrospectionResponse {
            active: true,
            scope: (!v.scope.is_empty()).then(|| v.scope.clone()),
            client_id: Some(v.client_id.clone()),
            username: v.username.clone(),
            sub: Some(v.username.clone().unwrap_or_else(|| v.client_id.clone())),
            token_type: Some("bearer".into()),
            grant_type: Some(v.grant_type),
            exp: Some(v.expires_at()),
            iat: Some(v.issued_at),
            iss: Some(server.config.issuer.clone()),
            aud: Some(v.audience.clone()),
        },
        Found::Refresh {
            active: true,
            client_id,
            expires_at,
        } if visible(&client_id) => IntrospectionResponse {
            active: true,
            exp: Some(expires_at),
            ..IntrospectionResponse::default()
        },
        _ => IntrospectionResponse::inactive(),
    })
}
