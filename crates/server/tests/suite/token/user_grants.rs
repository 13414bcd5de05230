//! The token endpoint's grants for a person: the password grant, and
//! refresh tokens (rotation, reuse revoking the family, narrowing scope,
//! another client's or an expired one, concurrent refreshes).

use super::*;

#[tokio::test]
async fn password_grant() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "users:read").await;
    s.user("alice", "correct horse").await;
    s.user("bob", "battery staple").await;
    s.state
        .store()
        .update_user("bob", &crate::common::enabled(false), 0)
        .await
        .unwrap();
    let ok = s
        .token(
            &id,
            &secret,
            "grant_type=password&username=alice&password=correct+horse&scope=users%3Aread",
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.json["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("tgr_"));
    let intro = s
        .introspect(&id, &secret, ok.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(intro.json["username"], "alice");
    assert_eq!(intro.json["sub"], "alice");
    assert_eq!(intro.json["grant_type"], "password");
    for body in [
        "grant_type=password&username=alice&password=wrong",
        "grant_type=password&username=nobody&password=correct+horse",
        "grant_type=password&username=bob&password=battery+staple",
    ] {
        s.token(&id, &secret, body)
            .await
            .assert_error(400, "invalid_grant");
    }
    // Without the refresh_token grant, the password grant issues no refresh token.
    let (cc_pw, cc_pw_secret) = s.client(&[GrantType::Password], "").await;
    let r = s
        .token(
            &cc_pw,
            &cc_pw_secret,
            "grant_type=password&username=alice&password=correct+horse",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json.get("refresh_token").is_none());
    s.stop().await;
}

async fn password_tokens(s: &TestServer, id: &str, secret: &str, scope: &str) -> (String, String) {
    let r = s
        .token(
            id,
            secret,
            &format!("grant_type=password&username=alice&password=pw&scope={scope}"),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    (
        r.json["access_token"].as_str().unwrap().into(),
        r.json["refresh_token"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "a b").await;
    s.user("alice", "pw").await;
    let (access1, refresh1) = password_tokens(&s, &id, &secret, "a%20b").await;
    let r = s
        .token(
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh1}"),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["scope"], "a b");
    let access2 = r.json["access_token"].as_str().unwrap().to_owned();
    let refresh2 = r.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    assert!(s.is_active(&id, &secret, &access2).await);
    assert!(
        !s.is_active(&id, &secret, &refresh1).await,
        "a used refresh token is inactive"
    );
    // Reuse of refresh1: refused, and everything in the family dies.
    let reuse = s
        .token(
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh1}"),
        )
        .await;
    reuse.assert_error(400, "invalid_grant");
    for t in [&access1, &access2, &refresh2] {
        assert!(
            !s.is_active(&id, &secret, t).await,
            "family member still active after reuse"
        );
    }
    let r = s
        .token(
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh2}"),
        )
        .await;
    r.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn refresh_scope_may_narrow_never_widen() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "a b c").await;
    s.user("alice", "pw").await;
    let (_, refresh) = password_tokens(&s, &id, &secret, "a%20b").await;
    let wide = s
        .token(
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh}&scope=a%20c"),
        )
        .await;
    wide.assert_error(400, "invalid_scope");
    let narrow = s
        .token(
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh}&scope=a"),
        )
        .await;
    assert_eq!(narrow.status, 200, "{narrow:?}");
    assert_eq!(narrow.json["scope"], "a");
    s.stop().await;
}

#[tokio::test]
async fn refresh_token_of_another_client_or_expired_is_invalid_grant() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "").await;
    let (other, other_secret) = s.client(ALL, "").await;
    s.user("alice", "pw").await;
    let (access, refresh) = password_tokens(&s, &id, &secret, "").await;
    let body = format!("grant_type=refresh_token&refresh_token={refresh}");
    s.token(&other, &other_secret, &body)
        .await
        .assert_error(400, "invalid_grant");
    let as_refresh = format!("grant_type=refresh_token&refresh_token={access}");
    s.token(&id, &secret, &as_refresh)
        .await
        .assert_error(400, "invalid_grant");
    s.state.clock().advance(Duration::from_secs(30 * 24 * 3600));
    s.token(&id, &secret, &body)
        .await
        .assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn concurrent_refreshes_yield_at_most_one_success() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "").await;
    s.user("alice", "pw").await;
    let (_, refresh) = password_tokens(&s, &id, &secret, "").await;
    let body = format!("grant_type=refresh_token&refresh_token={refresh}");
    let replies = futures_join(&s, &id, &secret, &body, 8).await;
    let ok = replies.iter().filter(|&&st| st == 200).count();
    assert!(
        ok <= 1,
        "{ok} concurrent uses of one refresh token succeeded"
    );
    s.stop().await;
}

async fn futures_join(s: &TestServer, id: &str, secret: &str, body: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (http, url) = (s.http.clone(), s.url("/oauth2/token"));
        let auth = BasicCredentials::new(id, secret).header_value(BasicEncoding::Raw);
        let body = body.to_owned();
        set.spawn(async move {
            http.post(url)
                .header("authorization", auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn token_lifetime_is_per_client_and_exact() {
    let s = TestServer::start().await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "short".into(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            token_ttl: Some(60),
            ..ClientSettings::default()
        })
        .await;
    let r = s.token(&id, &secret, "grant_type=client_credentials").await;
    assert_eq!(r.json["expires_in"], 60);
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    let intro = s.introspect(&id, &secret, &token).await;
    let (iat, exp) = (
        intro.json["iat"].as_i64().unwrap(),
        intro.json["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 60);
    // Move to just before exp, then to exp: dead from that instant on.
    let now_ms = s.state.clock().now_ms();
    s.state.clock().advance(Duration::from_millis(
        u64::try_from(exp * 1000 - now_ms - 1).unwrap(),
    ));
    assert!(s.is_active(&id, &secret, &token).await);
    s.state.clock().advance(Duration::from_millis(1));
    assert!(!s.is_active(&id, &secret, &token).await);
    s.stop().await;
}

#[tokio::test]
async fn tokens_are_opaque_random_and_stored_only_as_digests() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "").await;
    s.user("alice", "pw").await;
    let (access, refresh) = password_tokens(&s, &id, &secret, "").await;
    for (t, prefix) in [(&access, "tga_"), (&refresh, "tgr_")] {
        assert!(t.starts_with(prefix), "{t}");
        let rest = &t[4..];
        assert!(rest.len() >= 22, "at least 128 bits: {t}");
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
            "{t}"
        );
    }
    // The database files (main and write-ahead log) hold digests only.
    let mut bytes = std::fs::read(&s.db_path).unwrap();
    bytes.extend(std::fs::read(s.db_path.with_extension("db-wal")).unwrap_or_default());
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for clear in [&access, &refresh, &secret] {
        assert!(!holds(clear.as_bytes()), "stored in the clear: {clear}");
    }
    let digest = tollgate_server::oauth::secret::token_key(&access);
    assert!(
        holds(&digest),
        "the access token's key (ordered id + SHA-256) is stored"
    );
    s.stop().await;
}
