//! The client library against the real tollgate server on an ephemeral
//! loopback port (and, for misbehaving servers, a small fake).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_client::{
    ApiClient, ApiRequest, ClientAuth, Credentials, Error, Grant, RetryPolicy, TokenSource,
    TokenSourceConfig,
};
use tollgate_proto::admin::ClientRegistration;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{GrantType, TokenTypeHint};
use tollgate_server::config::{QuotaConfig, QuotaResponse};
use tollgate_server::testing::{spawn, Spawned};
use tollgate_server::Clock;

#[path = "client/quota.rs"]
mod quota;

const ALL: [GrantType; 3] = [
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
];

async fn server() -> Spawned {
    spawn(Clock::system(), |f| f.demo_apis = Some(true)).await
}

async fn client(s: &Spawned, secret: Option<&str>, ttl: Option<u64>) -> (String, String) {
    s.register(ClientRegistration {
        settings: ClientSettings {
            client_name: "t".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: ALL.into_iter().collect(),
            token_ttl: ttl,
            ..ClientSettings::default()
        },
        client_id: secret.map(|_| format!("c{}", rand_suffix())),
        client_secret: secret.map(str::to_owned),
        owner: None,
    })
    .await
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed) as u64
}

fn source(s: &Spawned, id: &str, secret: &str, auth: ClientAuth, grant: Grant) -> TokenSource {
    let mut cfg = TokenSourceConfig::new(
        s.url("/oauth2/token.oauth2"),
        Credentials::new(id, secret),
        grant,
    );
    cfg.auth = auth;
    cfg.scopes = vec!["locations:read".into()];
    TokenSource::new(tollgate_client::http_client().unwrap(), cfg)
}

fn password(user: &str, pw: &str) -> Grant {
    Grant::Password {
        username: user.into(),
        password: pw.to_owned().into(),
    }
}

#[tokio::test]
async fn every_grant_and_auth_mode_with_an_awkward_secret() {
    let s = server().await;
    s.user("alice", "pw", "Alice").await;
    let awkward = "a+b%2F:c/d e";
    let (id, secret) = client(&s, Some(awkward), None).await;
    for auth in [ClientAuth::Basic, ClientAuth::BasicRaw, ClientAuth::Post] {
        if auth == ClientAuth::Post {
            // A post client must be registered for it.
            s.state
                .store()
                .update_client(&id, 0, &mut |c| {
                    c.settings.auth_method = tollgate_proto::client::AuthMethod::Post;
                    true
                })
                .await
                .unwrap();
        }
        for grant in [Grant::ClientCredentials, password("alice", "pw")] {
            let name = grant.name();
            let t = source(&s, &id, &secret, auth, grant).token().await;
            let t = t.unwrap_or_else(|e| panic!("{auth:?} {name}: {e}"));
            assert!(t.secret().starts_with("tga_"));
            assert_eq!(t.expires_in, Some(3600));
            assert_eq!(t.scope.as_deref(), Some("locations:read"));
        }
    }
    s.stop().await;
}

/// Expiry: the refresh token is used first, and a refused refresh token
/// falls back to the password grant once. The hook sees every rotation.
#[tokio::test]
async fn refresh_then_fallback_to_the_grant() {
    let s = server().await;
    s.user("alice", "pw", "Alice").await;
    let (id, secret) = client(&s, None, Some(2)).await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook_seen = seen.clone();
    let mut cfg = TokenSourceConfig::new(
        s.url("/oauth/token"),
        Credentials::new(&id, &secret),
        password("alice", "pw"),
    );
    cfg.expiry_margin = Duration::from_secs(60);
    let src = TokenSource::with_refresh_hook(
        tollgate_client::http_client().unwrap(),
        cfg,
        Arc::new(move |rt| hook_seen.lock().unwrap().push(rt.to_owned())),
    );
    let first = src.token().await.unwrap();
    assert_eq!(
        src.token().await.unwrap().secret(),
        first.secret(),
        "fresh: cached"
    );
    // Lifetime 2 s, margin capped at 1 s: stale after 1 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = src.token().await.unwrap();
    assert_ne!(second.secret(), first.secret());
    assert_eq!((s.issued("password"), s.issued("refresh_token")), (1, 1));
    // Revoke the current refresh token on the server: refresh fails, password once.
    let rt = seen.lock().unwrap().last().cloned().unwrap();
    let digest = tollgate_server::oauth::secret::token_key(&rt);
    let family = s
        .state
        .store()
        .find_token(&digest)
        .await
        .unwrap()
        .unwrap()
        .token
        .family_id;
    s.state.store().revoke_family(&family, 0).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    src.token().await.unwrap();
    assert_eq!((s.issued("password"), s.issued("refresh_token")), (2, 1));
    assert_eq!(
        s.state
            .metrics()
            .token_count("refresh_token", "invalid_grant"),
        1
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "the hook saw each new refresh token"
    );
    s.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_callers_make_one_token_request() {
    let s = server().await;
    let (id, secret) = client(&s, None, None).await;
    let src = source(
        &s,
        &id,
        &secret,
        ClientAuth::Basic,
        Grant::ClientCredentials,
    );
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let src = src.clone();
        set.spawn(async move { src.token().await.map(|t| t.secret().to_owned()) });
    }
    let tokens = set.join_all().await;
    let first = tokens[0].as_ref().unwrap();
    assert!(tokens.iter().all(|t| t.as_ref().ok() == Some(first)));
    assert_eq!(s.issued("client_credentials"), 1);
    // Errors are shared too: 50 callers, a wrong secret, one request.
    let bad = source(
        &s,
        &id,
        "wrong",
        ClientAuth::Basic,
        Grant::ClientCredentials,
    );
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let bad = bad.clone();
        set.spawn(async move { bad.token().await.map(drop) });
    }
    let errors = set.join_all().await;
    assert!(errors
        .iter()
        .all(|e| matches!(e, Err(Error::TokenEndpoint { status: 401, .. }))));
    assert_eq!(bad.token_requests(), 1);
    assert_eq!(
        s.state
            .metrics()
            .token_count("client_credentials", "invalid_client"),
        1
    );
    s.stop().await;
}

/// Revoked on the server: the API says invalid_token, the client gets a
/// new token and retries exactly once.
#[tokio::test]
async fn invalid_token_gets_a_new_token_and_retries_once() {
    let s = server().await;
    let (id, secret) = client(&s, None, None).await;
    let src = source(
        &s,
        &id,
        &secret,
        ClientAuth::BasicRaw,
        Grant::ClientCredentials,
    );
    let api = ApiClient::new(src.clone(), RetryPolicy::default());
    let url = s.url("/locations");
    assert_eq!(api.send(&ApiRequest::get(&url)).await.unwrap().status, 200);
    let used = src.current().unwrap();
    let rurl = s.url("/oauth2/revoke.oauth2");
    src.revoke(&rurl, used.secret(), Some(TokenTypeHint::AccessToken))
        .await
        .unwrap();
    let resp = api.send(&ApiRequest::get(&url)).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(s.issued("client_credentials"), 2);
    assert_eq!(
        s.state.metrics().request_count("/locations", 401),
        1,
        "one refusal, then one retry"
    );
    assert_eq!(s.state.metrics().request_count("/locations", 200), 2);
    s.stop().await;
}

#[tokio::test]
async fn introspection_and_revocation_with_discovered_urls() {
    let s = spawn(Clock::system(), |f| f.issuer = None).await;
    let (id, secret) = client(&s, None, None).await;
    let src = source(
        &s,
        &id,
        &secret,
        ClientAuth::Basic,
        Grant::ClientCredentials,
    );
    let http = tollgate_client::http_client().unwrap();
    let token_url = s.url("/oauth2/token.oauth2");
    use tollgate_client::endpoints::{resolve, Endpoint};
    let iurl = resolve(&http, &token_url, Endpoint::Introspection)
        .await
        .unwrap();
    let rurl = resolve(&http, &token_url, Endpoint::Revocation)
        .await
        .unwrap();
    assert_eq!(iurl, s.url("/oauth2/introspect.oauth2"));
    let t = src.token().await.unwrap();
    let active = src.introspect(&iurl, t.secret(), None).await.unwrap();
    assert!(active.active);
    assert_eq!(active.client_id.as_deref(), Some(id.as_str()));
    src.revoke(&rurl, t.secret(), None).await.unwrap();
    assert!(
        !src.introspect(&iurl, t.secret(), Some(TokenTypeHint::AccessToken))
            .await
            .unwrap()
            .active
    );
    s.stop().await;
}
