//! Introspection (RFC 7662): what an authenticated caller may learn about a
//! token. Anything it may not see is simply `{"active":false}`.

use tollgate_proto::{IntrospectionResponse, TokenTypeHint};

use super::{is_active, secret};
use crate::state::AppState;
use crate::store::{Client, TokenKind};
use crate::Error;

/// Introspects `token` for `caller`. Tokens of both kinds share one table,
/// so the hint never hides a token of the other kind.
pub async fn introspect(
    state: &AppState,
    caller: &Client,
    token: &str,
    _hint: Option<TokenTypeHint>,
) -> Result<IntrospectionResponse, Error> {
    let Some(lookup) = state.store.find_token(&secret::digest(token)).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    let t = &lookup.token;
    let visible = t.client_id == caller.client_id || caller.introspect_any;
    if !visible || !is_active(&lookup, state.clock.now_ms()) {
        return Ok(IntrospectionResponse::inactive());
    }
    if t.kind == TokenKind::Refresh {
        return Ok(IntrospectionResponse {
            active: true,
            exp: Some(t.expires_at),
            ..IntrospectionResponse::default()
        });
    }
    Ok(IntrospectionResponse {
        active: true,
        scope: (!t.scope.is_empty()).then(|| t.scope.clone()),
        client_id: Some(t.client_id.clone()),
        username: t.username.clone(),
        sub: Some(t.username.clone().unwrap_or_else(|| t.client_id.clone())),
        token_type: Some("bearer".into()),
        grant_type: Some(t.grant_type),
        exp: Some(t.expires_at),
        iat: Some(t.issued_at),
        iss: Some(state.config.issuer.clone()),
    })
}
