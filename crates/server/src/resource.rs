//! The resource-server side: one bearer check in front of every protected
//! route, built-in or proxied (RFC 6750).
//!
//! In order: read exactly one `Authorization: Bearer` credential (never a
//! query parameter), validate the token (cache first, store on a miss),
//! check that it was minted for this resource (its `aud` holds the route's
//! audience, by default the issuer: RFC 9068 §4) and the route's scopes
//! (every request, also on a cache hit), then the client's quota. The handler receives the [`Principal`]; admitted
//! responses carry the `RateLimit` headers. Each quota decision is counted
//! in the usage records under the route's name.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tollgate_proto::{ErrorCode, Scope};

use crate::config::Limits;
use crate::error::Error;
use crate::oauth::tokens::{Found, Tokens};
use crate::oauth::validated::Validated;
use crate::quota::{Exceeded, Quota, Refusal, Standing};
use crate::usage::{Call, Usage};

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

/// What a built-in route needs: the scopes, and its name in usage records.
#[derive(Debug, Clone)]
pub struct Guarded {
    pub route: &'static str,
    pub needed: Scope,
}

/// The bearer check and the API quota.
#[derive(Debug)]
pub struct Resource {
    tokens: Arc<Tokens>,
    quota: Quota,
    usage: Arc<Usage>,
    /// Limits of clients registered without their own.
    defaults: Limits,
    /// Accept `bearer` in any case (RFC 7235) rather than only `Bearer`.
    case_insensitive: bool,
    /// The audience of the built-in APIs, and of routes that name none.
    issuer: String,
}

impl Resource {
    pub fn new(
        tokens: Arc<Tokens>,
        quota: Quota,
        usage: Arc<Usage>,
        defaults: Limits,
        case_insensitive: bool,
        issuer: String,
    ) -> Self {
        Self {
            tokens,
            quota,
            usage,
            defaults,
            case_insensitive,
            issuer,
        }
    }

    /// The audience of tollgate's own APIs: the issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The bearer check, then the client's quota: the caller, or the
    /// error that refuses the request. `route` names it in usage records.
    pub async fn admit(
        &self,
        headers: &HeaderMap,
        needed: &Scope,
        audience: &str,
        route: &str,
    ) -> Result<Admitted, Error> {
        let principal = self.authorize(headers, needed, audience).await?;
        let limits = principal.limits(self.defaults);
        let client_id = principal.client_id.as_str();
        let standing = match self.quota.admit(client_id, limits).await {
            Ok(s) => {
                self.usage.call(client_id, route, Call::Admitted);
                s
            }
            Err(refusal) => {
                if let Refusal::Exceeded(r) = &refusal {
                    let what = match r.exceeded {
                        Exceeded::PerSecond => Call::OverPerSecond,
                        Exceeded::PerDay => Call::OverPerDay,
                    };
                    self.usage.call(client_id, route, what);
                }
                return Err(refusal.into());
            }
        };
        Ok(Admitted {
            principal: Principal(principal),
            standing,
        })
    }

    /// Where `client_id` (with these registered limits) stands against
    /// the API quota, without spending any; `None` while Redis is down.
    pub async fn standing(
        &self,
        client_id: &str,
        qps: Option<u64>,
        per_day: Option<u64>,
    ) -> Option<(Standing, Limits)> {
        let limits = Limits {
            qps: qps.unwrap_or(self.defaults.qps),
            per_day: per_day.unwrap_or(self.defaults.per_day),
        };
        let standing = self.quota.peek(client_id, limits).await?;
        Some((standing, limits))
    }

    /// Validates the bearer credential, that it is for `audience`, and the
    /// scopes it needs.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        needed: &Scope,
        audience: &str,
    ) -> Result<Arc<Validated>, Error> {
        let token = bearer_token(headers, self.case_insensitive)?;
        let v = self.validate(token).await?;
        if !v.audience.contains(audience) {
            return Err(invalid_token(&format!(
                "the access token was minted for another resource (its aud does not hold `{audience}`)"
            )));
        }
        if !needed.is_subset(&v.scope) {
            return Err(Error::Bearer {
                code: ErrorCode::InsufficientScope,
                description: format!("this resource needs scope `{needed}`"),
                scope: Some(needed.to_string()),
            });
        }
        Ok(v)
    }

    /// A valid access token's grant, or the bearer error saying why not.
    async fn validate(&self, token: &str) -> Result<Arc<Validated>, Error> {
        match self.tokens.find(token).await? {
            Found::Access(v) => Ok(v),
            Found::Refresh { .. } => Err(invalid_token(
                "a refresh token cannot be used to call an API",
            )),
            Found::Inactive => Err(invalid_token(
                "the access token expired, was revoked, or its client or user is disabled",
            )),
            Found::Unknown => Err(invalid_token("the access token is unknown")),
            Found::Rejected(why) => Err(invalid_token(why)),
        }
    }
}

/// The middleware for built-in routes:
/// `from_fn_with_state((resource, Arc::new(guarded)), bearer_check)`.
pub async fn bearer_check(
    State((resource, guarded)): State<(Arc<Resource>, Arc<Guarded>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let admitted = match resource
        .admit(
            req.headers(),
            &guarded.needed,
            resource.issuer(),
            guarded.route,
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(admitted.principal.clone());
    let resp = next.run(req).await;
    finish(resp, admitted)
}

/// Adds the `RateLimit` headers and, for the access log, the caller.
pub fn finish(mut resp: Response, admitted: Admitted) -> Response {
    admitted.standing.write_headers(resp.headers_mut());
    resp.extensions_mut().insert(admitted.principal);
    resp
}

/// The token from the one `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap, case_insensitive: bool) -> Result<&str, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Error::BearerMissing);
    };
    if values.next().is_some() {
        return Err(bad_request("more than one Authorization header"));
    }
    match well_formed(value.as_bytes(), case_insensitive) {
        Some(token) => Ok(token),
        None => diagnose(value, case_insensitive),
    }
}

/// The token of a well-formed `Bearer <b64token>` value, in one pass over
/// its bytes (a JWT is hundreds of them, on every request). Everything it
/// accepts is visible ASCII, so it answers as [`diagnose`] would.
fn well_formed(value: &[u8], case_insensitive: bool) -> Option<&str> {
    let (scheme, rest) = value.split_at_checked(6)?;
    let scheme_ok = if case_insensitive {
        scheme.eq_ignore_ascii_case(b"Bearer")
    } else {
        scheme == b"Bearer"
    };
    if !scheme_ok || rest.first() != Some(&b' ') {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    let token = &rest[start..];
    if !is_b64token(token) {
        return None;
    }
    std::str::from_utf8(token).ok()
}

/// Why a value is not a well-formed bearer credential. It accepts exactly
/// what [`well_formed`] accepts (a property test holds the two together).
fn diagnose(value: &HeaderValue, case_insensitive: bool) -> Result<&str, Error> {
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
    if !is_b64token(token.as_bytes()) {
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
/// The body is checked with no early exit and no branch per byte, so the
/// compiler checks 16 bytes at a time: a JWT is hundreds of them, on every
/// request.
fn is_b64token(t: &[u8]) -> bool {
    let end = t.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let body = &t[..end];
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & is_b64token_char(b))
}

/// Whether `b` may stand in a b64token's body, in comparisons only.
fn is_b64token_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

fn invalid_token(description: &str) -> Error {
    Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: description.to_owned(),
        scope: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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

    proptest::proptest! {
        /// The one-pass check accepts exactly what the full diagnosis
        /// accepts, and gives the same token.
        #[test]
        fn the_fast_path_agrees_with_the_diagnosis(
            value in "(Bearer|bearer|BEARER|Basic)?( {0,3})[A-Za-z0-9._~+/=\\-]{0,12}[ -~\\x{80}]?[A-Za-z0-9=]{0,4}",
            insensitive: bool,
        ) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                if let Some(token) = well_formed(v.as_bytes(), insensitive) {
                    proptest::prop_assert_eq!(diagnose(&v, insensitive).ok(), Some(token));
                }
                if let Ok(token) = diagnose(&v, insensitive) {
                    proptest::prop_assert_eq!(well_formed(v.as_bytes(), insensitive), Some(token));
                }
            }
        }
    }

    #[test]
    fn b64token_chars_are_exactly_rfc_6750s() {
        for b in 0..=u8::MAX {
            let rfc = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_char(b), rfc, "byte {b:#04x}");
        }
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
