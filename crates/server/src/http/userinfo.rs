//! `GET|POST /userinfo` (OpenID Connect Core §5.3): the signed-in user's
//! claims, for an access token of a user with scope `openid`, as the scopes
//! `profile` and `email` allow, as JSON or as a JWT the client asked for.
//! Refusals are the bearer check's (RFC 6750).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_proto::{ErrorCode, Scope};

use crate::error::Error;
use crate::oauth::oidc::{self, UserInfo};
use crate::state::AppState;

#[utoipa::path(
    method(get, post),
    path = "/userinfo",
    tag = "oauth",
    security(("bearer" = ["openid"])),
    responses(
        (status = 200, description = "the user's claims (OpenID Connect Core §5.3); a signed JWT (`application/jwt`) for a client registered with `userinfo_signed_response_alg`", body = Object),
        (status = 401, description = "no or an invalid access token", body = super::schemas::OAuthError),
        (status = 403, description = "insufficient_scope", body = super::schemas::OAuthError),
    )
)]
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let needed = Scope::from_iter(["openid"]);
    let resource = state.resource();
    let grant = resource
        .authorize(&headers, &needed, resource.issuer())
        .await?;
    let invalid = |d: &str| Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: d.to_owned(),
        scope: None,
    };
    let Some(username) = &grant.username else {
        return Err(invalid("the access token is not a user's"));
    };
    let Some(user) = state
        .store()
        .get_user(username)
        .await?
        .filter(|u| u.enabled)
    else {
        return Err(invalid("the token's user can no longer sign in"));
    };
    let client = state.store().get_client(&grant.client_id).await?;
    let info = oidc::userinfo(state.oauth(), client.as_ref(), &user, &grant.scope);
    let mut resp = match info.await? {
        UserInfo::Json(claims) => Json(claims).into_response(),
        UserInfo::Jwt(jwt) => ([(header::CONTENT_TYPE, "application/jwt")], jwt).into_response(),
    };
    if let Some(client) = client {
        resp.extensions_mut()
            .insert(super::cors::Allowed(std::sync::Arc::new(client)));
    }
    Ok(resp)
}
