//! The authorization code grant with PKCE (issue 14), over HTTP as a
//! browser and an app would drive it: the authorize endpoint, the sign-in
//! and consent forms with their cookies and CSRF token, the code exchange;
//! and every way a request can be wrong, none of which is a 500.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::web::{
    authorize_url, challenge, code_client, exchange, server, Browser, REDIRECT, VERIFIER,
};
use crate::common::{urlencode, TestServer, ISSUER};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tollgate_proto::GrantType;

#[tokio::test]
async fn sign_in_consent_code_token_api() {
    let s = server().await;
    let (id, secret) = code_client(&s, false, false).await;
    let mut b = Browser::new(&s);
    let page = b.get(&authorize_url(&id, "&scope=locations%3Aread")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign in") && page.body.contains("Photo app"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let set_cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );

    let wrong = b.sign_in(&page, "alice", "nope").await;
    assert_eq!(wrong.status, 200);
    assert!(
        wrong.body.contains("invalid username or password"),
        "{}",
        wrong.body
    );
    let consent = b.sign_in(&wrong, "alice", "wonderland").await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("locations:read"), "{}", consent.body);
    let back = b.consent(&consent, "allow").await;
    let q = back.redirect_query();
    assert!(
        back.location.starts_with("http://127.0.0.1:53682/cb?"),
        "{}",
        back.location
    );
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", ISSUER));

    let r = exchange(&s, &id, &secret, &q["code"], VERIFIER).await;
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    assert!(r.json["refresh_token"].is_string());
    assert_eq!(s.api("/locations", Some(&access)).await.status, 200);
    let i = s.introspect(&id, &secret, &access).await;
    assert_eq!(i.json["username"], "alice");

    // Consent is remembered: the next request goes straight back with a code.
    let again = b.get(&authorize_url(&id, "&scope=locations%3Aread")).await;
    let code2 = again.redirect_query()["code"].clone();

    // A replayed code: refused, and the tokens issued from it revoked.
    let replay = exchange(&s, &id, &secret, &q["code"], VERIFIER).await;
    replay.assert_error(400, "invalid_grant");
    assert_eq!(s.api("/locations", Some(&access)).await.status, 401);
    assert_eq!(
        exchange(&s, &id, &secret, &code2, VERIFIER).await.status,
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn public_clients_need_pkce_and_first_party_ones_skip_consent() {
    let s = server().await;
    let (id, secret) = code_client(&s, true, true).await;
    assert!(secret.is_empty(), "a public client has no secret");
    let mut b = Browser::new(&s);
    let no_pkce = format!(
        "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={}",
        urlencode(REDIRECT)
    );
    let r = b.get(&no_pkce).await;
    assert_eq!(r.redirect_query()["error"], "invalid_request");
    let page = b.get(&authorize_url(&id, "")).await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let wrong = exchange(&s, &id, "", &code, &format!("{VERIFIER}x")).await;
    wrong.assert_error(400, "invalid_grant");
    let page = b.get(&authorize_url(&id, "")).await;
    let code = page.redirect_query()["code"].clone();
    let ok = exchange(&s, &id, "", &code, VERIFIER).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    // A public client cannot use other grants.
    let cc = s
        .post_raw(
            "/oauth2/token.oauth2",
            None,
            &[],
            &format!("grant_type=client_credentials&client_id={id}"),
        )
        .await;
    assert_eq!(cc.status, 400, "{cc:?}");
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_are_pages_or_redirects_never_500() {
    let s = server().await;
    let (id, secret) = code_client(&s, false, false).await;
    let mut b = Browser::new(&s);
    let page = |uri: &str| {
        format!(
            "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={}",
            urlencode(uri)
        )
    };
    // Before the redirect URI is trusted: a page, never a redirect.
    for (what, path) in [
        (
            "unknown client",
            "/oauth2/authorize?response_type=code&client_id=nobody".to_owned(),
        ),
        (
            "no client",
            "/oauth2/authorize?response_type=code".to_owned(),
        ),
        ("unregistered redirect", page("https://evil.example/cb")),
        ("redirect with a fragment", page("http://127.0.0.1/cb#x")),
        (
            "another path on loopback",
            page("http://127.0.0.1:5000/other"),
        ),
        (
            "repeated parameter",
            format!("/oauth2/authorize?client_id={id}&client_id={id}"),
        ),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(r.location.is_empty(), "{what}");
        assert!(r.body.contains("Cannot continue"), "{what}");
    }
    // After: back to the client with an error.
    let base = format!(
        "/oauth2/authorize?client_id={id}&redirect_uri={}&state=s",
        urlencode("http://127.0.0.1:1234/cb")
    );
    let pkce = format!("&code_challenge={}", challenge(VERIFIER));
    for (what, extra, error) in [
        ("no response_type", String::new(), "invalid_request"),
        (
            "token response type",
            "&response_type=token".to_owned(),
            "unsupported_response_type",
        ),
        (
            "plain PKCE",
            format!("&response_type=code{pkce}&code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            "PKCE without a method",
            format!("&response_type=code{pkce}"),
            "invalid_request",
        ),
        (
            "fragment mode",
            "&response_type=code&response_mode=fragment".to_owned(),
            "invalid_request",
        ),
        (
            "unapproved scope",
            "&response_type=code&scope=admin".to_owned(),
            "invalid_scope",
        ),
    ] {
        let r = b.get(&format!("{base}{extra}")).await;
        let q = r.redirect_query();
        assert_eq!(
            (q["error"].as_str(), q["state"].as_str()),
            (error, "s"),
            "{what}: {}",
            r.location
        );
    }
    // A forged CSRF token, and a form without the cookie.
    let signin = b.get(&authorize_url(&id, "")).await;
    let mut forged = signin.hidden();
    for f in &mut forged {
        if f.0 == "csrf" {
            f.1 = "A".repeat(43);
        }
    }
    forged.push(("username".into(), "alice".into()));
    forged.push(("password".into(), "wonderland".into()));
    let r = b.post("/oauth2/authorize/sign-in", &forged).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let mut stranger = Browser::new(&s);
    let r = stranger.sign_in(&signin, "alice", "wonderland").await;
    assert_eq!(r.status, 403, "no CSRF cookie: {}", r.body);
    // Denied consent, then a code for a signed-in user after the session ended.
    let consent = b.sign_in(&signin, "alice", "wonderland").await;
    let denied = b.consent(&consent, "deny").await;
    assert_eq!(denied.redirect_query()["error"], "access_denied");
    s.state.clock().advance(Duration::from_secs(9 * 3600));
    let expired = b.get(&authorize_url(&id, "")).await;
    assert_eq!(expired.status, 200);
    assert!(
        expired.body.contains("Sign in"),
        "the session ended: sign in again"
    );
    // Codes: unknown, wrong client, expired.
    let bogus = exchange(&s, &id, &secret, "bogus", VERIFIER).await;
    bogus.assert_error(400, "invalid_grant");
    let consent = b.sign_in(&expired, "alice", "wonderland").await;
    let code = b.consent(&consent, "allow").await.redirect_query()["code"].clone();
    s.state.clock().advance(Duration::from_secs(61));
    let late = exchange(&s, &id, &secret, &code, VERIFIER).await;
    late.assert_error(400, "invalid_grant");
    assert!(late.json["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    s.stop().await;
}

#[tokio::test]
async fn metadata_advertises_the_code_flow() {
    let s = server().await;
    let m = s.api("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(
        m.json["authorization_endpoint"],
        format!("{ISSUER}/oauth2/authorize")
    );
    assert_eq!(
        m.json["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        m.json["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(m.json["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("authorization_code")));
    let css = s.api("/oauth2/static/tollgate.css", None).await;
    assert_eq!(css.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn openid_connect_id_token_userinfo_and_discovery() {
    let s = server().await;
    let (id, secret) = code_client(&s, false, true).await;
    let mut b = Browser::new(&s);
    let page = b
        .get(&authorize_url(
            &id,
            "&scope=openid%20profile%20email&nonce=n-0S6",
        ))
        .await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let r = exchange(&s, &id, &secret, &code, VERIFIER).await;
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json["access_token"].as_str().unwrap();
    let id_token = r.json["id_token"].as_str().unwrap();

    let d = s.api("/.well-known/openid-configuration", None).await;
    for field in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(
            !d.json[field].is_null(),
            "discovery has {field}: {}",
            d.body
        );
    }
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&s.api("/.well-known/jwks.json", None).await.body).unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[&id]);
    v.set_issuer(&[ISSUER]);
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "n-0S6");
    assert_eq!(claims["azp"], id.as_str());
    assert_eq!(claims["name"], "Test User");
    assert!(claims["auth_time"].as_i64().is_some());
    let half = &Sha256::digest(access.as_bytes())[..16];
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(half));

    let info = s.api("/userinfo", Some(access)).await;
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(
        (&info.json["sub"], &info.json["name"]),
        (&serde_json::json!("alice"), &serde_json::json!("Test User"))
    );
    // An ID token is not an access token.
    s.api("/userinfo", Some(id_token))
        .await
        .assert_bearer(401, Some("invalid_token"));
    // A token without `openid` may not read userinfo.
    let (cc_id, cc_secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let cc = s
        .access_token(&cc_id, &cc_secret, "grant_type=client_credentials")
        .await;
    s.api("/userinfo", Some(&cc))
        .await
        .assert_bearer(403, Some("insufficient_scope"));
    s.stop().await;
}

/// RFC 9700 §2.1.1: a code issued without a challenge is refused with a
/// verifier (a PKCE downgrade), and one issued with a challenge without.
#[tokio::test]
async fn pkce_downgrade_is_refused_both_ways() {
    let s = server().await;
    let (id, secret) = code_client(&s, false, true).await;
    let mut b = Browser::new(&s);
    let no_challenge = format!(
        "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={}&state=xyz",
        urlencode("http://127.0.0.1:53682/cb")
    );
    let page = b.get(&no_challenge).await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let r = exchange(&s, &id, &secret, &code, VERIFIER).await;
    r.assert_error(400, "invalid_grant");
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("without a code_challenge"),
        "{r:?}"
    );

    let page = b.get(&authorize_url(&id, "")).await;
    let code = page.redirect_query()["code"].clone();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        urlencode("http://127.0.0.1:53682/cb")
    );
    s.token(&id, &secret, &body)
        .await
        .assert_error(400, "invalid_grant");

    // Without a challenge and without a verifier, a confidential client's
    // code still works (PKCE is optional for it, as RFC 9700 allows).
    let page = b.get(&no_challenge).await;
    let code = page.redirect_query()["code"].clone();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        urlencode("http://127.0.0.1:53682/cb")
    );
    assert_eq!(s.token(&id, &secret, &body).await.status, 200);
    s.stop().await;
}

/// Whether `b`'s sign-in session still yields a code without a password.
async fn still_signed_in(b: &mut Browser<'_>, id: &str) -> bool {
    let page = b.get(&authorize_url(id, "")).await;
    match page.status {
        303 => page.redirect_query().contains_key("code"),
        200 if page.body.contains("Sign in") => false,
        _ => panic!("neither a code nor the sign-in page: {page:?}"),
    }
}

/// Issue 30, point 5: the sign-in session has an idle lifetime (30 min by
/// default, each use moves it on) and an absolute one (8 h from the sign-in,
/// however busy); disabling the person or setting a new password ends it.
#[tokio::test]
async fn sign_in_sessions_end_when_idle_at_their_lifetime_and_on_disable() {
    let s = server().await;
    let (id, _) = code_client(&s, true, true).await;
    let clock = s.state.clock();
    let mut b = Browser::new(&s);
    let page = b.get(&authorize_url(&id, "")).await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    assert!(back.redirect_query().contains_key("code"), "{back:?}");

    // Used every 20 minutes: alive until 8 h after the sign-in, not after.
    let mut used_for = Duration::ZERO;
    while used_for + Duration::from_secs(20 * 60) < Duration::from_secs(8 * 3600) {
        clock.advance(Duration::from_secs(20 * 60));
        used_for += Duration::from_secs(20 * 60);
        assert!(still_signed_in(&mut b, &id).await, "after {used_for:?}");
    }
    clock.advance(Duration::from_secs(20 * 60));
    assert!(!still_signed_in(&mut b, &id).await, "past the lifetime");

    // Idle for 31 minutes: over.
    let page = b.get(&authorize_url(&id, "")).await;
    b.sign_in(&page, "alice", "wonderland").await;
    clock.advance(Duration::from_secs(29 * 60));
    assert!(still_signed_in(&mut b, &id).await, "29 min idle");
    clock.advance(Duration::from_secs(31 * 60));
    assert!(!still_signed_in(&mut b, &id).await, "31 min idle");

    // Disabling the person ends it; so does a new password.
    let admin = || tollgate_server::admin::Admin {
        store: s.state.store().as_ref(),
        now: clock.now_secs(),
        actor: "test",
        caches: Some(s.state.oauth()),
    };
    let page = b.get(&authorize_url(&id, "")).await;
    b.sign_in(&page, "alice", "wonderland").await;
    assert!(still_signed_in(&mut b, &id).await);
    let patch = |enabled| tollgate_proto::admin::UserPatch {
        enabled: Some(enabled),
        ..Default::default()
    };
    admin().update_user("alice", patch(false)).await.unwrap();
    admin().update_user("alice", patch(true)).await.unwrap();
    assert!(!still_signed_in(&mut b, &id).await, "disabled: signed out");
    let page = b.get(&authorize_url(&id, "")).await;
    b.sign_in(&page, "alice", "wonderland").await;
    assert!(still_signed_in(&mut b, &id).await);
    admin()
        .set_user_password(
            s.state.oauth().passwords(),
            "alice",
            "new-password-1".into(),
        )
        .await
        .unwrap();
    assert!(
        !still_signed_in(&mut b, &id).await,
        "new password: signed out"
    );
    s.stop().await;
}

/// Issue 31: a JWT says which grant issued it (`gty`), so introspection of
/// one from the code flow reports `authorization_code`, not a guess.
#[tokio::test]
async fn a_jwt_from_the_code_flow_introspects_as_authorization_code() {
    let s = TestServer::start_with(|f| {
        f.demo_apis = Some(true);
        f.token_format = Some(tollgate_proto::client::TokenFormat::Jwt);
    })
    .await;
    s.user("alice", "wonderland").await;
    let (id, secret) = code_client(&s, false, true).await;
    let mut b = Browser::new(&s);
    let page = b.get(&authorize_url(&id, "")).await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let r = exchange(&s, &id, &secret, &code, VERIFIER).await;
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(access.matches('.').count(), 2, "a JWT");
    let i = s.introspect(&id, &secret, &access).await;
    assert_eq!(i.json["grant_type"], "authorization_code", "{i:?}");
    assert_eq!(i.json["username"], "alice", "{i:?}");
    s.stop().await;
}

/// Issue 31: when the store fails, the sign-in page says to try again and
/// nothing of why (the driver's text is logged, never shown).
#[tokio::test]
async fn a_store_failure_is_a_page_without_the_store_text() {
    let s = server().await;
    let (id, _) = code_client(&s, true, true).await;
    s.state.store().close().await;
    let mut b = Browser::new(&s);
    let page = b.get(&authorize_url(&id, "")).await;
    assert_eq!(page.status, 503, "{page:?}");
    assert!(page.body.contains("Try again"), "{}", page.body);
    let lower = page.body.to_lowercase();
    for leak in ["pool", "closed", "sqlx", "sqlite", "database", "store"] {
        assert!(!lower.contains(leak), "`{leak}` shown: {}", page.body);
    }
}
