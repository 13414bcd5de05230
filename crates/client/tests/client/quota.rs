//! The client library against quotas and refusals: a per-second limit
//! waited out, a daily one an immediate error (both response styles),
//! plain 403s and token endpoint errors not retried, no retry loop, and
//! bounded quota retries.

use super::*;

#[tokio::test]
async fn per_second_quota_is_waited_out() {
    let s = spawn(Clock::system(), |f| f.demo_apis = Some(true)).await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "slow".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            qps: Some(1),
            ..ClientSettings::default()
        })
        .await;
    let api = ApiClient::new(
        source(
            &s,
            &id,
            &secret,
            ClientAuth::Basic,
            Grant::ClientCredentials,
        ),
        RetryPolicy::default(),
    );
    let url = s.url("/locations");
    assert_eq!(api.send(&ApiRequest::get(&url)).await.unwrap().status, 200);
    let started = Instant::now();
    assert_eq!(api.send(&ApiRequest::get(&url)).await.unwrap().status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(s.state.metrics().request_count("/locations", 429) >= 1);
    s.stop().await;
}

async fn daily_limited(mashery: bool) {
    let s = spawn(Clock::system(), |f| {
        f.demo_apis = Some(true);
        f.quota_response = Some(if mashery {
            QuotaResponse::Mashery
        } else {
            QuotaResponse::Standard
        });
        f.quota = Some(QuotaConfig::default());
    })
    .await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "daily".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            per_day: Some(1),
            ..ClientSettings::default()
        })
        .await;
    let api = ApiClient::new(
        source(
            &s,
            &id,
            &secret,
            ClientAuth::Basic,
            Grant::ClientCredentials,
        ),
        RetryPolicy::default(),
    );
    let url = s.url("/locations");
    assert_eq!(api.send(&ApiRequest::get(&url)).await.unwrap().status, 200);
    let started = Instant::now();
    let err = api.send(&ApiRequest::get(&url)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "returned at once"
    );
    assert!(
        matches!(
            err,
            Error::DailyQuota {
                retry_after: Some(_),
                ..
            }
        ),
        "{err}"
    );
    s.stop().await;
}

#[tokio::test]
async fn daily_quota_is_an_immediate_error() {
    daily_limited(false).await;
}

#[tokio::test]
async fn daily_quota_mashery_is_an_immediate_error() {
    daily_limited(true).await;
}

#[tokio::test]
async fn plain_403_and_token_endpoint_errors_are_not_retried() {
    let s = server().await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "no scope".into(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            ..ClientSettings::default()
        })
        .await;
    let mut cfg = TokenSourceConfig::new(
        s.url("/oauth2/token.oauth2"),
        Credentials::new(&id, &secret),
        Grant::ClientCredentials,
    );
    cfg.auth = ClientAuth::Basic;
    let api = ApiClient::new(
        TokenSource::new(tollgate_client::http_client().unwrap(), cfg),
        RetryPolicy::default(),
    );
    let resp = api
        .send(&ApiRequest::get(s.url("/locations")))
        .await
        .unwrap();
    assert_eq!(resp.status, 403);
    assert_eq!(s.state.metrics().request_count("/locations", 403), 1);
    let wrong = source(&s, &id, "nope", ClientAuth::Basic, Grant::ClientCredentials);
    let err = ApiClient::new(wrong.clone(), RetryPolicy::default())
        .send(&ApiRequest::get(s.url("/locations")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TokenEndpoint { status: 401, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("check the client id and secret"),
        "{err}"
    );
    assert_eq!(wrong.token_requests(), 1);
    s.stop().await;
}

/// A server that hands back the same token, without `expires_in`, and an
/// API that always says `invalid_token`: one retry, then an error; no loop.
#[tokio::test]
async fn same_token_again_does_not_loop() {
    use axum::routing::{get, post};
    let token_calls = Arc::new(AtomicUsize::new(0));
    let api_calls = Arc::new(AtomicUsize::new(0));
    let (tc, ac) = (token_calls.clone(), api_calls.clone());
    let app = axum::Router::new()
        .route(
            "/token",
            post(move || {
                tc.fetch_add(1, Ordering::SeqCst);
                async {
                    axum::Json(serde_json::json!({"access_token": "same", "token_type": "bearer"}))
                }
            }),
        )
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/api",
            get(move || {
                ac.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [(
                            "www-authenticate",
                            r#"Bearer realm="x", error="invalid_token""#,
                        )],
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let cfg = TokenSourceConfig::new(
        format!("{base}/token"),
        Credentials::new("c", "s"),
        Grant::ClientCredentials,
    );
    let api = ApiClient::new(
        TokenSource::new(tollgate_client::http_client().unwrap(), cfg),
        RetryPolicy::default(),
    );
    // Without expires_in the token is kept while APIs accept it.
    for _ in 0..3 {
        assert_eq!(
            api.send(&ApiRequest::get(format!("{base}/ok")))
                .await
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(token_calls.load(Ordering::SeqCst), 1);
    let err = api
        .send(&ApiRequest::get(format!("{base}/api")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidToken { .. }), "{err}");
    assert_eq!(
        (
            token_calls.load(Ordering::SeqCst),
            api_calls.load(Ordering::SeqCst)
        ),
        (2, 2)
    );
}

/// What a fake authorization server and API saw.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(String, Option<String>, String)>>,
    calls: AtomicUsize,
}

/// Extra parameters and headers reach the token, introspection and
/// revocation endpoints; quota retries are bounded; a Retry-After beyond the
/// cap is a daily quota; Mashery's OVER_QPS is waited out.
#[tokio::test]
async fn extras_and_bounded_quota_retries() {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    let seen = Arc::new(Seen::default());
    let record = |path: &'static str| {
        move |State(s): State<Arc<Seen>>, h: HeaderMap, body: String| async move {
            let partner = h
                .get("x-partner")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            s.requests
                .lock()
                .unwrap()
                .push((path.to_owned(), partner, body));
            axum::Json(
                serde_json::json!({"access_token": "t", "token_type": "Bearer", "expires_in": "3600", "active": true}),
            )
        }
    };
    let throttle = |code: &'static str, retry: &'static str| {
        move |State(s): State<Arc<Seen>>| async move {
            let n = s.calls.fetch_add(1, Ordering::SeqCst);
            let status = if code == "429" { 429 } else { 403 };
            let mut h = vec![("retry-after", retry)];
            if code != "429" {
                h.push(("x-mashery-error-code", code));
            }
            if code == "ERR_403_DEVELOPER_OVER_QPS" && n >= 1 {
                return (axum::http::StatusCode::OK, HeaderMap::new(), "ok");
            }
            let mut map = HeaderMap::new();
            for (k, v) in h {
                map.insert(k, v.parse().unwrap());
            }
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                map,
                "slow down",
            )
        }
    };
    let app = axum::Router::new()
        .route("/token", post(record("token")))
        .route("/introspect", post(record("introspect")))
        .route("/revoke", post(record("revoke")))
        .route("/always429", get(throttle("429", "0")))
        .route("/long429", get(throttle("429", "3600")))
        .route("/mashery", get(throttle("ERR_403_DEVELOPER_OVER_QPS", "0")))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut cfg = TokenSourceConfig::new(
        format!("{base}/token"),
        Credentials::new("c", "s"),
        Grant::ClientCredentials,
    );
    cfg.extra_params = vec![("audience".into(), "orders".into())];
    cfg.extra_headers = vec![("X-Partner".into(), "acme".into())];
    let src = TokenSource::new(tollgate_client::http_client().unwrap(), cfg);
    let t = src.token().await.unwrap();
    assert_eq!(t.expires_in, Some(3600), "expires_in as a string");
    src.introspect(&format!("{base}/introspect"), "x", None)
        .await
        .unwrap();
    src.revoke(&format!("{base}/revoke"), "x", None)
        .await
        .unwrap();
    for (path, partner, body) in seen.requests.lock().unwrap().iter() {
        assert_eq!(partner.as_deref(), Some("acme"), "{path}");
        assert!(body.contains("audience=orders"), "{path}: {body}");
    }
    assert_eq!(seen.requests.lock().unwrap().len(), 3);

    let policy = RetryPolicy {
        max_attempts: 3,
        max_wait: Duration::from_secs(30),
        jitter: Duration::from_millis(10),
    };
    let api = ApiClient::new(src, policy);
    let err = api
        .send(&ApiRequest::get(format!("{base}/always429")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::QuotaExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(seen.calls.swap(0, Ordering::SeqCst), 3, "bounded attempts");
    let err = api
        .send(&ApiRequest::get(format!("{base}/long429")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DailyQuota { .. }), "{err}");
    assert_eq!(
        seen.calls.swap(0, Ordering::SeqCst),
        1,
        "no wait for a daily quota"
    );
    let ok = api
        .send(&ApiRequest::get(format!("{base}/mashery")))
        .await
        .unwrap();
    assert_eq!(
        (ok.status, seen.calls.load(Ordering::SeqCst)),
        (200, 2),
        "OVER_QPS waited out"
    );
}
