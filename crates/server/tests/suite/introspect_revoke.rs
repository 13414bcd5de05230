//! Introspection, revocation and metadata (issue sections 4–6), plus the
//! background sweep and admin changes reaching a running server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tollgate_server::testing::within;

use crate::common::{TestServer, ISSUER};
use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{BasicCredentials, GrantType};

const ALL: &[GrantType] = &[
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
];

const SECOND: Duration = Duration::from_secs(1);

async fn user_tokens(s: &TestServer, id: &str, secret: &str) -> (String, String) {
    let r = s
        .token(
            id,
            secret,
            "grant_type=password&username=alice&password=pw&scope=a",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    (
        r.json["access_token"].as_str().unwrap().into(),
        r.json["refresh_token"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn seed_introspection_request_and_active_access_fields() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "a b").await;
    s.user("alice", "pw").await;
    let (access, _) = user_tokens(&s, &id, &secret).await;
    // As the seed sends it: raw Basic, api-key header, token and hint in the body.
    let auth = BasicCredentials::new(&id, &secret).header_value(BasicEncoding::Raw);
    let body = format!("token={access}&token_type_hint=access_token");
    let r = s
        .post_raw(
            "/oauth2/introspect.oauth2",
            Some(&auth),
            &[("api-key", &id)],
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), "no-store");
    let j = &r.json;
    assert_eq!(j["active"], true);
    assert_eq!(j["scope"], "a");
    assert_eq!(j["client_id"], id.as_str());
    assert_eq!(j["username"], "alice");
    assert_eq!(j["sub"], "alice");
    assert_eq!(j["token_type"], "bearer");
    assert_eq!(j["grant_type"], "password");
    assert_eq!(j["iss"], ISSUER);
    assert_eq!(
        j["exp"].as_i64().unwrap() - j["iat"].as_i64().unwrap(),
        3600
    );
    s.stop().await;
}

#[tokio::test]
async fn active_refresh_token_shows_only_active_and_exp() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "a").await;
    s.user("alice", "pw").await;
    let (_, refresh) = user_tokens(&s, &id, &secret).await;
    let auth = BasicCredentials::new(&id, &secret).header_value(BasicEncoding::Raw);
    // With the right hint, the wrong hint, and none: the hint is only a hint.
    for hint in [
        "&token_type_hint=refresh_token",
        "&token_type_hint=access_token",
        "",
    ] {
        let body = format!("token={refresh}{hint}");
        let r = s
            .post_raw(
                "/oauth2/introspect.oauth2",
                Some(&auth),
                &[("api-key", &id)],
                &body,
            )
            .await;
        let obj = r.json.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{hint}: {r:?}");
        assert_eq!(obj["active"], true);
        assert!(obj["exp"].is_i64());
    }
    s.stop().await;
}

#[tokio::test]
async fn api_key_must_be_the_callers_client_id() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "").await;
    let token = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let auth = BasicCredentials::new(&id, &secret).header_value(BasicEncoding::Raw);
    let body = format!("token={token}");
    // With the right credentials, the description says what is wrong.
    for (headers, says) in [
        (&[][..], "api-key header is missing"),
        (&[("api-key", "someone-else")][..], "must equal"),
        (&[("api-key", "")][..], "must equal"),
    ] {
        let r = s
            .post_raw("/oauth2/introspect.oauth2", Some(&auth), headers, &body)
            .await;
        r.assert_error(401, "invalid_client");
        assert!(r.header("www-authenticate").starts_with("Basic realm="));
        let d = r.json["error_description"].as_str().unwrap();
        assert!(d.contains(says), "{d}");
    }
    let wrong_secret = BasicCredentials::new(&id, "nope").header_value(BasicEncoding::Raw);
    let r = s
        .post_raw(
            "/oauth2/introspect.oauth2",
            Some(&wrong_secret),
            &[("api-key", &id)],
            &body,
        )
        .await;
    r.assert_error(401, "invalid_client");
    assert_eq!(
        r.json["error_description"], "client authentication failed",
        "a wrong secret says nothing about the api-key"
    );
    let r = s
        .post_raw(
            "/oauth2/introspect.oauth2",
            Some(&auth),
            &[("api-key", &id)],
            "token_type_hint=access_token",
        )
        .await;
    r.assert_error(400, "invalid_request");
    s.stop().await;
}

#[tokio::test]
async fn inactive_is_exactly_active_false() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "a").await;
    let (other, other_secret) = s.client(ALL, "a").await;
    let (rs, rs_secret) = s
        .register(ClientSettings {
            client_name: "resource server".into(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            introspect_any: true,
            ..ClientSettings::default()
        })
        .await;
    let mine = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let revoked = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_eq!(
        s.post(
            "/oauth2/revoke.oauth2",
            &id,
            &secret,
            &format!("token={revoked}")
        )
        .await
        .status,
        200
    );

    let exactly_false =
        |r: crate::common::Reply| assert_eq!(r.body, r#"{"active":false}"#, "{r:?}");
    exactly_false(s.introspect(&id, &secret, "tga_unknown").await);
    exactly_false(s.introspect(&id, &secret, &revoked).await);
    // Another client's token is invisible...
    exactly_false(s.introspect(&other, &other_secret, &mine).await);
    // ...unless the caller may introspect any token.
    let seen = s.introspect(&rs, &rs_secret, &mine).await;
    assert_eq!(seen.json["active"], true, "{seen:?}");
    assert_eq!(seen.json["client_id"], id.as_str());
    // Expired.
    s.state.clock().advance(Duration::from_secs(3600));
    exactly_false(s.introspect(&id, &secret, &mine).await);
    s.stop().await;
}

#[tokio::test]
async fn revocation_rules() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(ALL, "a").await;
    let (other, other_secret) = s.client(ALL, "a").await;
    s.user("alice", "pw").await;
    // Unknown tokens: 200, `{}`.
    let r = s
        .post("/oauth2/revoke.oauth2", &id, &secret, "token=tga_nothing")
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    // Another client's token: 200, and it stays active.
    let theirs = s
        .access_token(&other, &other_secret, "grant_type=client_credentials")
        .await;
    assert_eq!(
        s.post(
            "/oauth2/revoke.oauth2",
            &id,
            &secret,
            &format!("token={theirs}")
        )
        .await
        .status,
        200
    );
    assert!(s.is_active(&other, &other_secret, &theirs).await);
    // Revoking a refresh token revokes the access tokens issued from it.
    let (access, refresh) = user_tokens(&s, &id, &secret).await;
    let (access_b, _) = user_tokens(&s, &id, &secret).await;
    let body = format!("token={refresh}&token_type_hint=refresh_token");
    let r = s.post("/oauth2/revoke.oauth2", &id, &secret, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json;charset=UTF-8");
    assert_eq!(r.body, "{}", "a JSON body popular clients accept");
    assert_eq!(r.header("cache-control"), "no-store");
    assert!(!s.is_active(&id, &secret, &refresh).await);
    assert!(!s.is_active(&id, &secret, &access).await);
    assert!(
        s.is_active(&id, &secret, &access_b).await,
        "another grant's tokens are untouched"
    );
    let r = s
        .token(
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    r.assert_error(400, "invalid_grant");
    // Authentication is required, as at the token endpoint.
    s.post("/oauth2/revoke.oauth2", &id, "wrong", "token=x")
        .await
        .assert_error(401, "invalid_client");
    s.post("/oauth2/revoke.oauth2", &id, &secret, "")
        .await
        .assert_error(400, "invalid_request");
    s.stop().await;
}

#[tokio::test]
async fn metadata_document() {
    let s = TestServer::start().await;
    let r = s
        .http
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["issuer"], ISSUER);
    assert_eq!(j["token_endpoint"], format!("{ISSUER}/oauth2/token.oauth2"));
    assert_eq!(
        j["introspection_endpoint"],
        format!("{ISSUER}/oauth2/introspect.oauth2")
    );
    assert_eq!(
        j["revocation_endpoint"],
        format!("{ISSUER}/oauth2/revoke.oauth2")
    );
    assert_eq!(
        j["grant_types_supported"],
        serde_json::json!([
            "client_credentials",
            "password",
            "refresh_token",
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    let methods = serde_json::json!(["client_secret_basic", "client_secret_post"]);
    assert_eq!(j["introspection_endpoint_auth_methods_supported"], methods);
    assert_eq!(
        j["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"]),
        "none: public clients, with PKCE"
    );
    s.stop().await;
}

#[tokio::test]
async fn expired_rows_are_swept_in_the_background() {
    let s = TestServer::start_with(|f| f.sweep_interval = Some(1)).await;
    let (id, secret) = s.client(ALL, "").await;
    let token = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let digest = tollgate_server::oauth::secret::token_key(&token);
    assert!(s.state.store().find_token(&digest).await.unwrap().is_some());
    s.state.clock().advance(Duration::from_secs(3600 + 61));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.state.store().find_token(&digest).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired token not swept within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}

/// Changes made through a second connection to the same database (as
/// `tollgate admin` makes them): a new client works at once; anything else
/// applies within a second (the revision poll drops the server's caches).
#[tokio::test]
async fn admin_changes_reach_the_running_server() {
    let s = TestServer::start().await;
    let admin = tollgate_server::store::open(&format!("sqlite://{}", s.db_path.display()))
        .await
        .unwrap();
    let (id, secret) = s.client(ALL, "a").await;
    s.user("alice", "pw").await;
    let cc = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let (user_token, _) = user_tokens(&s, &id, &secret).await;

    // A new client registered elsewhere works at once.
    let (new_c, new_secret) = tollgate_server::admin::create_client(
        admin.as_ref(),
        0,
        ClientSettings {
            client_name: "late".into(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            ..ClientSettings::default()
        }
        .into(),
    )
    .await
    .unwrap();
    s.access_token(
        &new_c.client_id,
        &new_secret,
        "grant_type=client_credentials",
    )
    .await;

    // Disabling the user kills their tokens; the client's own token lives on.
    assert!(s.is_active(&id, &secret, &user_token).await, "now cached");
    admin
        .update_user("alice", &crate::common::enabled(false), 0)
        .await
        .unwrap();
    within(SECOND, "user's token inactive", || async {
        !s.is_active(&id, &secret, &user_token).await
    })
    .await;
    assert!(s.is_active(&id, &secret, &cc).await);
    s.token(
        &id,
        &secret,
        "grant_type=password&username=alice&password=pw",
    )
    .await
    .assert_error(400, "invalid_grant");

    // Disabling the client kills every token it holds; enabling restores them.
    let (rs, rs_secret) = s
        .register(ClientSettings {
            client_name: "rs".into(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            introspect_any: true,
            ..ClientSettings::default()
        })
        .await;
    let set_enabled = |on: bool| {
        move |c: &mut tollgate_server::store::Client| {
            c.enabled = on;
            true
        }
    };
    admin
        .update_client(&id, 0, &mut set_enabled(false))
        .await
        .unwrap();
    within(SECOND, "client's token inactive", || async {
        s.introspect(&rs, &rs_secret, &cc).await.body == r#"{"active":false}"#
    })
    .await;
    s.token(&id, &secret, "grant_type=client_credentials")
        .await
        .assert_error(401, "invalid_client");
    admin
        .update_client(&id, 0, &mut set_enabled(true))
        .await
        .unwrap();
    within(SECOND, "client's token active again", || async {
        s.introspect(&id, &secret, &cc).await.json["active"] == true
    })
    .await;

    // Rotating the secret: the new one works at once, the old one stops
    // within a second.
    let new_secret = tollgate_server::admin::rotate_secret(admin.as_ref(), &id, 0, 0)
        .await
        .unwrap();
    s.access_token(&id, &new_secret, "grant_type=client_credentials")
        .await;
    within(SECOND, "old secret refused", || async {
        s.token(&id, &secret, "grant_type=client_credentials")
            .await
            .status
            == 401
    })
    .await;
    s.token(&id, &secret, "grant_type=client_credentials")
        .await
        .assert_error(401, "invalid_client");
    admin.close().await;
    s.stop().await;
}

#[tokio::test]
async fn durable_before_answer_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let s = TestServer::start_with(|f| f.database = Some(db.clone())).await;
    let (id, secret) = s.client(ALL, "").await;
    let tokens: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(
                s.access_token(&id, &secret, "grant_type=client_credentials")
                    .await,
            );
        }
        v
    };
    s.stop().await;
    let s2 = TestServer::start_with(|f| f.database = Some(db.clone())).await;
    for t in &tokens {
        assert!(s2.is_active(&id, &secret, t).await);
    }
    s2.stop().await;
}
