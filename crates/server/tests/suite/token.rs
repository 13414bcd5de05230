//! Token endpoint rules (issue section 3), over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::{TestServer, REALM};
use tollgate_proto::admin::ClientRegistration;
use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::client::AuthMethod;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{BasicCredentials, GrantType};

mod user_grants;

const CC: &[GrantType] = &[GrantType::ClientCredentials];
const ALL: &[GrantType] = &[
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
];

#[tokio::test]
async fn every_token_path_issues_with_the_seed_headers() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(CC, "a b").await;
    for path in ["/oauth2/token.oauth2", "/oauth2/token", "/oauth/token"] {
        let r = s
            .post(path, &id, &secret, "grant_type=client_credentials&scope=a")
            .await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.header("content-type"), "application/json;charset=UTF-8");
        assert_eq!(r.header("cache-control"), "no-store");
        assert_eq!(r.header("pragma"), "no-cache");
        assert_eq!(r.json["token_type"], "bearer");
        assert_eq!(r.json["expires_in"], 3600);
        assert_eq!(r.json["scope"], "a");
        assert!(
            r.json.get("refresh_token").is_none(),
            "client_credentials has no refresh token"
        );
        assert!(
            s.is_active(&id, &secret, r.json["access_token"].as_str().unwrap())
                .await
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn only_post_is_allowed() {
    let s = TestServer::start().await;
    for path in ["/oauth2/token.oauth2", "/oauth2/token", "/oauth/token"] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "POST");
    }
    s.stop().await;
}

#[tokio::test]
async fn body_must_be_form_urlencoded() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(CC, "").await;
    let auth = BasicCredentials::new(&id, &secret).header_value(BasicEncoding::Raw);
    let send = |ct: &'static str| {
        s.http
            .post(s.url("/oauth2/token.oauth2"))
            .header("authorization", auth.clone())
            .header("content-type", ct)
            .body("grant_type=client_credentials")
            .send()
    };
    for bad in ["application/json", "text/plain", "multipart/form-data"] {
        let r = send(bad).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{bad}");
    }
    let missing = s
        .http
        .post(s.url("/oauth2/token.oauth2"))
        .header("authorization", auth.clone());
    assert_eq!(
        missing
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let ok = send("application/x-www-form-urlencoded; charset=UTF-8")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    s.stop().await;
}

/// The seed's client-credentials and password curl requests, byte for byte,
/// with its worked-example key and secret.
#[tokio::test]
async fn seed_requests_byte_for_byte() {
    let s = TestServer::start().await;
    s.register(ClientRegistration {
        settings: ClientSettings {
            client_name: "seed".into(),
            scope: "APP1:ABC APP@:CDE".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials, GrantType::Password]
                .into_iter()
                .collect(),
            ..ClientSettings::default()
        },
        client_id: Some("zq4hmfg72z3zabc4wr72euyu".into()),
        client_secret: Some("A2Qxe4z83X".into()),
        owner: None,
    })
    .await;
    s.user("johndoe", "abcde").await;
    // base64('zq4hmfg72z3zabc4wr72euyu:A2Qxe4z83X'), as the seed tells the reader to build it.
    let auth = "Basic enE0aG1mZzcyejN6YWJjNHdyNzJldXl1OkEyUXhlNHo4M1g=";
    let cc = s
        .post_raw(
            "/oauth2/token.oauth2",
            Some(auth),
            &[],
            "grant_type=client_credentials&scope=APP1%3AABC%20APP@%3ACDE",
        )
        .await;
    assert_eq!(cc.status, 200, "{cc:?}");
    assert_eq!(cc.json["scope"], "APP1:ABC APP@:CDE");
    let pw = s
        .post_raw(
            "/oauth2/token.oauth2",
            Some(auth),
            &[],
            "grant_type=password&username=johndoe&password=abcde&scope=APP1%3AABC%20APP@%3ACDE",
        )
        .await;
    assert_eq!(pw.status, 200, "{pw:?}");
    assert_eq!(pw.json["token_type"], "bearer");
    s.stop().await;
}

/// Secrets with `+ % : /` work in both the RFC and the raw Basic encodings.
#[tokio::test]
async fn awkward_secrets_work_in_both_basic_encodings() {
    let s = TestServer::start().await;
    for secret in ["a+b", "100%", "x:y:z", "p/q", "a+b%2F:c/d e", "%zz+"] {
        let (id, _) = s
            .register(ClientRegistration {
                settings: ClientSettings {
                    client_name: "imported".into(),
                    grant_types: [GrantType::ClientCredentials].into_iter().collect(),
                    ..ClientSettings::default()
                },
                client_id: Some(format!("imp-{}", crate::common::urlencode(secret))),
                client_secret: Some(secret.into()),
                owner: None,
            })
            .await;
        for enc in [BasicEncoding::FormUrlEncoded, BasicEncoding::Raw] {
            let auth = BasicCredentials::new(&id, secret).header_value(enc);
            let r = s
                .post_raw(
                    "/oauth2/token",
                    Some(&auth),
                    &[],
                    "grant_type=client_credentials",
                )
                .await;
            assert_eq!(r.status, 200, "{secret:?} {enc:?}: {r:?}");
        }
        let wrong =
            BasicCredentials::new(&id, format!("{secret}x")).header_value(BasicEncoding::Raw);
        let r = s
            .post_raw(
                "/oauth2/token",
                Some(&wrong),
                &[],
                "grant_type=client_credentials",
            )
            .await;
        r.assert_error(401, "invalid_client");
    }
    s.stop().await;
}

/// Issue 11: the methods the metadata advertises work for a client
/// registered without options; `--auth-method` restricts a client to one.
#[tokio::test]
async fn both_advertised_methods_by_default_and_one_when_restricted() {
    let s = TestServer::start().await;
    let register = |name: &'static str, auth_method: AuthMethod| {
        s.register(ClientSettings {
            client_name: name.into(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            auth_method,
            ..ClientSettings::default()
        })
    };
    let any = register("any", AuthMethod::default()).await;
    let basic = register("basic", AuthMethod::Basic).await;
    let post = register("post", AuthMethod::Post).await;
    let in_body = |(id, secret): &(String, String)| {
        format!(
            "grant_type=client_credentials&client_id={id}&client_secret={}",
            crate::common::urlencode(secret)
        )
    };
    let via_post = |c: (String, String)| {
        let body = in_body(&c);
        let s = &s;
        async move { s.post_raw("/oauth2/token", None, &[], &body).await.status }
    };
    let via_basic = |c: (String, String)| {
        let s = &s;
        async move {
            s.token(&c.0, &c.1, "grant_type=client_credentials")
                .await
                .status
        }
    };
    assert_eq!(via_post(any.clone()).await, 200, "post, unrestricted");
    assert_eq!(via_basic(any).await, 200, "basic, unrestricted");
    assert_eq!(via_basic(basic.clone()).await, 200);
    assert_eq!(via_post(basic).await, 401, "a basic-only client");
    assert_eq!(via_post(post.clone()).await, 200);
    assert_eq!(via_basic(post).await, 401, "a post-only client");
    s.stop().await;
}

#[tokio::test]
async fn two_authentication_methods_are_invalid_request() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(CC, "").await;
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    s.token(&id, &secret, &body)
        .await
        .assert_error(400, "invalid_request");
    let auth = BasicCredentials::new(&id, &secret).header_value(BasicEncoding::Raw);
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", auth.clone())
        .header("authorization", auth)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn client_failures_are_indistinguishable() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(CC, "").await;
    let (off_id, off_secret) = s.client(CC, "").await;
    s.state
        .store()
        .update_client(&off_id, 0, &mut |c| {
            c.enabled = false;
            true
        })
        .await
        .unwrap();
    let body = "grant_type=client_credentials";
    let unknown = s.token("no-such-client", &secret, body).await;
    let wrong = s.token(&id, "wrong-secret", body).await;
    let disabled = s.token(&off_id, &off_secret, body).await;
    let none = s.post_raw("/oauth2/token", None, &[], body).await;
    let garbage = s
        .post_raw("/oauth2/token", Some("Basic %%%"), &[], body)
        .await;
    for r in [&unknown, &wrong, &disabled, &none, &garbage] {
        r.assert_error(401, "invalid_client");
        assert_eq!(
            r.header("www-authenticate"),
            format!("Basic realm=\"{REALM}\"")
        );
        assert_eq!(r.body, unknown.body, "bodies must not differ");
    }
    let failures = s.state.metrics().client_auth_failures();
    assert!(
        failures >= 4,
        "failed client authentications are counted: {failures}"
    );
    s.stop().await;
}

// Timing of unknown client vs wrong secret: the guessing module (2,000 pairs).

#[tokio::test]
async fn scope_rules() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(CC, "locations:read users:read").await;
    // No scope parameter: a token with no scopes.
    let r = s.token(&id, &secret, "grant_type=client_credentials").await;
    assert_eq!(r.status, 200);
    assert!(r.json.get("scope").is_none(), "{r:?}");
    let intro = s
        .introspect(&id, &secret, r.json["access_token"].as_str().unwrap())
        .await;
    assert!(intro.json.get("scope").is_none(), "{intro:?}");
    // Exactly what was asked, space-delimited.
    let r = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=users%3Aread%20locations%3Aread",
        )
        .await;
    assert_eq!(r.json["scope"], "locations:read users:read");
    // Anything unapproved: invalid_scope and no token, even alongside approved ones.
    for bad in ["admin", "locations%3Aread%20admin", "locations%3Awrite"] {
        let r = s
            .token(
                &id,
                &secret,
                &format!("grant_type=client_credentials&scope={bad}"),
            )
            .await;
        r.assert_error(400, "invalid_scope");
    }
    s.token(&id, &secret, "grant_type=client_credentials&scope=a%22b")
        .await
        .assert_error(400, "invalid_scope");
    s.stop().await;
}

#[tokio::test]
async fn grant_and_parameter_errors() {
    let s = TestServer::start().await;
    let (id, secret) = s.client(CC, "").await;
    s.token(&id, &secret, "grant_type=password&username=u&password=p")
        .await
        .assert_error(400, "unauthorized_client");
    s.token(&id, &secret, "grant_type=refresh_token&refresh_token=x")
        .await
        .assert_error(400, "unauthorized_client");
    s.token(&id, &secret, "grant_type=authorization_code&code=x")
        .await
        .assert_error(400, "unauthorized_client");
    s.token(&id, &secret, "grant_type=implicit")
        .await
        .assert_error(400, "unsupported_grant_type");
    s.token(&id, &secret, "scope=a")
        .await
        .assert_error(400, "invalid_request");
    s.token(
        &id,
        &secret,
        "grant_type=client_credentials&grant_type=client_credentials",
    )
    .await
    .assert_error(400, "invalid_request");
    let (pid, psecret) = s.client(ALL, "").await;
    s.token(&pid, &psecret, "grant_type=password&username=u")
        .await
        .assert_error(400, "invalid_request");
    s.token(
        &pid,
        &psecret,
        "grant_type=password&username=u&password=p&password=q",
    )
    .await
    .assert_error(400, "invalid_request");
    s.token(&pid, &psecret, "grant_type=refresh_token")
        .await
        .assert_error(400, "invalid_request");
    s.stop().await;
}
