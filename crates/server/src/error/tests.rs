//! The error→HTTP map, checked status by status and header by header.

use axum::response::Response;

use super::*;
use crate::config::{FileConfig, QuotaResponse};
use crate::quota::{Exceeded, Standing};

fn config(mashery: bool) -> Config {
    let f = FileConfig {
        realm: Some("api.example.com".into()),
        quota_response: Some(if mashery {
            QuotaResponse::Mashery
        } else {
            QuotaResponse::Standard
        }),
        ..FileConfig::default()
    };
    Config::try_from(f).unwrap_or_else(|e| unreachable!("{e}"))
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

fn check(code: ErrorCode, status: u16) {
    let resp = Error::oauth(code, "x").render(&config(false));
    assert_eq!(resp.status().as_u16(), status, "{code}");
    assert_eq!(header(&resp, "cache-control"), "no-store");
    let challenge = header(&resp, "www-authenticate");
    assert_eq!(
        !challenge.is_empty(),
        code == ErrorCode::InvalidClient,
        "{code}"
    );
}

#[test]
fn oauth_status_table() {
    check(ErrorCode::InvalidRequest, 400);
    check(ErrorCode::InvalidClient, 401);
    check(ErrorCode::InvalidGrant, 400);
    check(ErrorCode::UnauthorizedClient, 400);
    check(ErrorCode::UnsupportedGrantType, 400);
    check(ErrorCode::InvalidScope, 400);
}

#[test]
fn bearer_errors_carry_the_challenge() {
    let c = config(false);
    let r = Error::BearerMissing.render(&c);
    assert_eq!(
        (r.status().as_u16(), header(&r, "www-authenticate")),
        (401, r#"Bearer realm="api.example.com""#.into())
    );
    let expired = Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: "expired".into(),
        scope: None,
    };
    let r = expired.render(&c);
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        r#"Bearer realm="api.example.com", error="invalid_token", error_description="expired""#
    );
    let scope = Error::Bearer {
        code: ErrorCode::InsufficientScope,
        description: "d".into(),
        scope: Some("a b".into()),
    };
    let r = scope.render(&c);
    assert_eq!(r.status(), 403);
    assert!(header(&r, "www-authenticate").ends_with(r#"scope="a b""#));
}

fn rejection(exceeded: Exceeded) -> Rejection {
    Rejection {
        exceeded,
        retry_after_ms: 1500,
        standing: Standing {
            per_second: Some((5, 0, 1)),
            per_day: None,
        },
    }
}

#[test]
fn quota_modes() {
    let r = Error::Quota(rejection(Exceeded::PerSecond)).render(&config(false));
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "2");
    assert_eq!(header(&r, "ratelimit-policy"), "\"per-second\";q=5;w=1");
    assert_eq!(header(&r, "ratelimit"), "\"per-second\";r=0;t=1");
    let r = Error::Quota(rejection(Exceeded::PerSecond)).render(&config(true));
    assert_eq!(r.status(), 403);
    assert_eq!(
        header(&r, "x-mashery-error-code"),
        "ERR_403_DEVELOPER_OVER_QPS"
    );
    assert_eq!(
        header(&r, "x-error-detail-header"),
        "Account Over Queries Per Second Limit"
    );
    let r = Error::Quota(rejection(Exceeded::PerDay)).render(&config(true));
    assert_eq!(
        header(&r, "x-mashery-error-code"),
        "ERR_403_DEVELOPER_OVER_RATE"
    );
    assert_eq!(
        header(&r, "x-error-detail-header"),
        "Account Over Rate Limit"
    );
    assert_eq!(header(&r, "retry-after"), "2");
}

#[test]
fn unavailable_and_upstream() {
    let c = config(false);
    let r = Error::from(StoreError::Unavailable("down".into())).render(&c);
    assert_eq!(
        (r.status().as_u16(), header(&r, "retry-after")),
        (503, "1".into())
    );
    assert_eq!(
        Error::Upstream {
            timeout: true,
            detail: "x".into()
        }
        .render(&c)
        .status(),
        504
    );
    assert_eq!(
        Error::Upstream {
            timeout: false,
            detail: "x".into()
        }
        .render(&c)
        .status(),
        502
    );
    assert_eq!(Error::NotFound("x".into()).render(&c).status(), 404);
}

#[test]
fn limits_and_overload() {
    let c = config(false);
    for (e, status) in [
        (Error::TooLarge(TooLarge::Uri(8)), 414),
        (Error::TooLarge(TooLarge::Headers(8)), 431),
        (Error::Overloaded, 503),
        (
            Error::Throttled {
                retry_after_secs: 3,
            },
            429,
        ),
    ] {
        let r = e.render(&c);
        assert_eq!(r.status().as_u16(), status);
        assert!(header(&r, "content-type").starts_with("application/json"));
    }
}

#[test]
fn excerpts_are_cut_and_marked() {
    assert_eq!(excerpt("abcdef", 3), "abc…");
    assert_eq!(excerpt("abc", 3), "abc");
}

#[tokio::test]
async fn a_problem_says_what_the_error_said_and_keeps_its_headers() {
    let r = Error::Quota(rejection(Exceeded::PerDay)).render(&config(false));
    let p = as_problem(r);
    assert_eq!(p.status(), 429);
    assert_eq!(header(&p, "content-type"), "application/problem+json");
    assert_eq!(header(&p, "retry-after"), "2");
    let bytes = axum::body::to_bytes(p.into_body(), 4096)
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(v["type"], "about:blank");
    assert_eq!(v["title"], "Too Many Requests");
    assert_eq!(v["status"], 429);
    assert_eq!(v["error"], "quota_exceeded");
    assert_eq!(v["limit"], "per_day");
    assert_eq!(v["detail"], "Account Over Rate Limit: retry in 2 s");
    let ok = as_problem(json_response(StatusCode::OK, &"fine"));
    assert!(header(&ok, "content-type").starts_with("application/json"));
}
