//! The resource-server side: one bearer-check layer in front of every
//! protected route, built-in or proxied (RFC 6750).
//!
//! In order: read exactly one `Authorization: Bearer` credential (never a
//! query parameter), validate the token (cache first, store on a miss),
//! check the route's scopes (every request, also on a cache hit), then the
//! client's quota. The handler receives the [`Principal`]; admitted
//! responses carry the `RateLimit` headers.

pub mod cache;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tollgate_proto::{ErrorCode, Scope};

use crate::oauth::{is_active, secret};
use crate::quota::Standing;
use crate::state::{AppState, QuotaScope};
use crate::store::{Digest, TokenKind};
use crate::Error;
use cache::Validated;

/// Who is calling: put into request extensions for handlers, and into
/// response extensions for the access log.
#[derive(Debug, Clone)]
pub struct Principal(pub Arc<Validated>);

/// A request that passed the bearer check and its quota.
#[derive(Debug)]
pub struct Admitted {
    pub principal: Principal,
    standing: Standing,
}

/// The middleware for built-in routes:
/// `from_fn_with_state((state, Arc::new(scopes)), bearer_check)`.
pub async fn bearer_check(
    State((state, needed)): State<(AppState, Arc<Scope>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let admitted = match admit(&state, req.headers(), &needed).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(admitted.principal.clone());
    let resp = next.run(req).await;
    finish(resp, admitted)
}

/// The bearer check, then the client's quota: the caller, or the response
/// that refuses the request.
pub async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    needed: &Scope,
) -> Result<Admitted, Error> {
    let principal = authorize(state, headers, needed).await?;
    let limits = principal.limits(state.config.quota.defaults());
    let standing = state
        .admit(QuotaScope::Api, &principal.client_id, limits)
        .await?;
    Ok(Admitted {
        principal: Principal(principal),
        standing,
    })
}

/// Adds the `RateLimit` headers and, for the access log, the caller.
pub fn finish(mut resp: Response, admitted: Admitted) -> Response {
    rate_limit_headers(resp.headers_mut(), &admitted.standing);
    resp.extensions_mut().insert(admitted.principal);
    resp
}

/// Validates the bearer credential and the scopes it needs.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    needed: &Scope,
) -> Result<Arc<Validated>, Error> {
    let token = bearer_token(headers, state.config.bearer_case_insensitive)?;
    let v = validate(state, token).await?;
    if !needed.is_subset(&v.scope) {
        return Err(Error::Bearer {
            code: ErrorCode::InsufficientScope,
            description: format!("this resource needs scope `{needed}`"),
            scope: Some(needed.to_string()),
        });
    }
    Ok(v)
}

/// The token from the one `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap, case_insensitive: bool) -> Result<&str, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Error::BearerMissing);
    };
    if values.next().is_some() {
        return Err(bad_request("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| bad_request("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let is_bearer = if case_insensitive {
        scheme.eq_ignore_ascii_case("Bearer")
    } else {
        scheme == "Bearer"
    };
    if !is_bearer {
        if scheme.eq_ignore_ascii_case("Bearer") {
            return Err(bad_request(
                "the keyword `Bearer` is case-sensitive: write it exactly so",
            ));
        }
        return Err(Error::BearerMissing);
    }
    let token = token.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(bad_request(
            "the bearer token is empty or has characters RFC 6750 does not allow",
        ));
    }
    Ok(token)
}

fn bad_request(description: &str) -> Error {
    Error::Bearer {
        code: ErrorCode::InvalidRequest,
        description: description.to_owned(),
        scope: None,
    }
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn invalid_token(description: &str) -> Error {
    Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: description.to_owned(),
        scope: None,
    }
}

/// What is known of a presented token.
#[derive(Debug)]
pub enum Found {
    /// An active access token.
    Access(Arc<Validated>),
    /// A refresh token, active or not.
    Refresh {
        active: bool,
        client_id: String,
        expires_at: i64,
    },
    /// An access token that expired, was revoked, or whose client or user
    /// is disabled.
    Inactive,
    Unknown,
}

/// Looks `digest` up: an active access token from the validation cache when
/// there, else from the store (and then cached).
pub async fn find_token(state: &AppState, digest: &Digest) -> Result<Found, Error> {
    let now = state.clock.now_ms();
    if let Some(v) = state.cache.get(digest, now) {
        return Ok(Found::Access(v));
    }
    let generation = state.cache.generation();
    let Some(lookup) = state.store.find_token(digest).await? else {
        return Ok(Found::Unknown);
    };
    let active = is_active(&lookup, now);
    if lookup.token.kind == TokenKind::Refresh {
        let t = lookup.token;
        return Ok(Found::Refresh {
            active,
            client_id: t.client_id,
            expires_at: t.expires_at,
        });
    }
    if !active {
        return Ok(Found::Inactive);
    }
    let v = Arc::new(Validated::from(lookup));
    state.cache.insert(*digest, v.clone(), generation, now);
    Ok(Found::Access(v))
}

/// A valid access token's grant, or the bearer error saying why not.
async fn validate(state: &AppState, token: &str) -> Result<Arc<Validated>, Error> {
    match find_token(state, &secret::token_key(token)).await? {
        Found::Access(v) => Ok(v),
        Found::Refresh { .. } => Err(invalid_token(
            "a refresh token cannot be used to call an API",
        )),
        Found::Inactive => Err(invalid_token(
            "the access token expired, was revoked, or its client or user is disabled",
        )),
        Found::Unknown => Err(invalid_token("the access token is unknown")),
    }
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub fn rate_limit_headers(headers: &mut HeaderMap, standing: &Standing) {
    let mut policy = Vec::new();
    let mut current = Vec::new();
    if let Some((q, r, t)) = standing.per_second {
        policy.push(format!("\"per-second\";q={q};w=1"));
        current.push(format!("\"per-second\";r={r};t={t}"));
    }
    if let Some((q, r, t)) = standing.per_day {
        policy.push(format!("\"per-day\";q={q};w=86400"));
        current.push(format!("\"per-day\";r={r};t={t}"));
    }
    for (name, items) in [("ratelimit-policy", policy), ("ratelimit", current)] {
        if let (false, Ok(v)) = (items.is_empty(), HeaderValue::from_str(&items.join(", "))) {
            headers.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[&str], insensitive: bool, expected: Result<&str, &str>) {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("x")),
            );
        }
        let got = bearer_token(&h, insensitive).map_err(|e| match e {
            Error::BearerMissing => "missing",
            Error::Bearer { code, .. } => code.as_str(),
            _ => "other",
        });
        assert_eq!(got, expected, "{values:?}");
    }

    #[test]
    fn bearer_header_table() {
        check(
            &["Bearer Yn2ToFZFEjr1zIsCcMWB54"],
            false,
            Ok("Yn2ToFZFEjr1zIsCcMWB54"),
        );
        check(
            &["Bearer tga_a-b_c.d~e+f/g=="],
            false,
            Ok("tga_a-b_c.d~e+f/g=="),
        );
        check(&[], false, Err("missing"));
        check(&["Basic YTpi"], false, Err("missing"));
        check(&["bearer abc"], false, Err("invalid_request"));
        check(&["BEARER abc"], false, Err("invalid_request"));
        check(&["bearer abc"], true, Ok("abc"));
        check(&["Bearer"], false, Err("invalid_request"));
        check(&["Bearer "], false, Err("invalid_request"));
        check(&["Bearer a b"], false, Err("invalid_request"));
        check(&["Bearer a=b"], false, Err("invalid_request"));
        check(&["Bearer abc", "Bearer def"], false, Err("invalid_request"));
    }
}
