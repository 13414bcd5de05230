//! The Device Authorization Grant (RFC 8628) over HTTP: the device's
//! requests, the person's pages (no script), and each answer of the poll.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::Value;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::common::web::{server, Browser, Page};
use crate::common::{Reply, TestServer};

const DEVICE_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

/// A public client of the device grant (a CLI), as `tollgate login --device` uses.
pub(crate) async fn device_client(s: &TestServer) -> String {
    let (id, _) = s
        .register(ClientSettings {
            client_name: "TV app".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::DeviceCode, GrantType::RefreshToken].into(),
            public: true,
            ..ClientSettings::default()
        })
        .await;
    id
}

pub(crate) async fn start(s: &TestServer, client_id: &str, scope: &str) -> Reply {
    let body = format!(
        "client_id={client_id}&scope={}",
        crate::common::urlencode(scope)
    );
    s.post_raw("/oauth2/device_authorization", None, &[], &body)
        .await
}

pub(crate) async fn poll(s: &TestServer, client_id: &str, device_code: &str) -> Reply {
    let body = format!("grant_type={DEVICE_GRANT}&device_code={device_code}&client_id={client_id}");
    s.post_raw("/oauth2/token", None, &[], &body).await
}

/// The person's side: the page from `verification_uri_complete`, the code
/// confirmed, signed in as alice, then `decision`.
async fn decide(b: &mut Browser<'_>, complete: &str, decision: &str) -> Page {
    let path = complete.strip_prefix(crate::common::ISSUER).unwrap();
    let first = b.get(path).await;
    assert_eq!(first.status, 303, "/device sends the browser on");
    let entry = b.get(&first.location).await;
    assert_eq!(entry.status, 200, "{}", entry.body);
    assert!(!entry.body.contains("<script"), "works without script");
    let mut fields = entry.hidden();
    fields.push(("user_code".into(), entry.field("user_code")));
    let sign_in = b.post("/oauth2/device", &fields).await;
    assert!(
        sign_in.body.contains("/oauth2/device/sign-in"),
        "{}",
        sign_in.body
    );
    assert!(sign_in.body.contains("TV app"), "{}", sign_in.body);
    let mut fields = sign_in.hidden();
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), "wonderland".into()));
    let confirm = b.post("/oauth2/device/sign-in", &fields).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains("Allow the device?"),
        "{}",
        confirm.body
    );
    let mut fields = confirm.hidden();
    fields.push(("decision".into(), decision.into()));
    b.post("/oauth2/device/confirm", &fields).await
}

/// The whole flow for a new device client, alice allowing: the token
/// endpoint's answer.
pub(crate) async fn device_flow_tokens(s: &TestServer) -> Reply {
    let id = device_client(s).await;
    let j = start(s, &id, "locations:read").await.json;
    let mut b = Browser::new(s);
    decide(
        &mut b,
        j["verification_uri_complete"].as_str().unwrap(),
        "allow",
    )
    .await;
    poll(s, &id, j["device_code"].as_str().unwrap()).await
}

#[tokio::test]
async fn a_device_gets_tokens_after_the_person_allows_it() {
    let s = server().await;
    let id = device_client(&s).await;
    let started = start(&s, &id, "openid locations:read").await;
    assert_eq!(started.status, 200, "{started:?}");
    assert_eq!(started.header("cache-control"), "no-store");
    let j = &started.json;
    let user_code = j["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert!(user_code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(
        j["verification_uri"],
        format!("{}/device", crate::common::ISSUER)
    );
    assert_eq!(j["expires_in"], 600);
    assert_eq!(j["interval"], 5);
    let device_code = j["device_code"].as_str().unwrap().to_owned();

    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "authorization_pending");
    let mut b = Browser::new(&s);
    let done = decide(
        &mut b,
        j["verification_uri_complete"].as_str().unwrap(),
        "allow",
    )
    .await;
    assert!(done.body.contains("Device connected"), "{}", done.body);

    s.state.clock().advance(Duration::from_secs(5));
    let tokens = poll(&s, &id, &device_code).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.json["scope"], "locations:read openid");
    assert!(tokens.json["refresh_token"].is_string(), "{tokens:?}");
    let id_token = tokens.json["id_token"].as_str().unwrap();
    let (_, claims) = crate::oidc::verified(&s, id_token, &id).await;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], id.as_str());
    assert!(claims["auth_time"].is_i64());
    let access = tokens.json["access_token"].as_str().unwrap();
    assert_eq!(s.api("/locations", Some(access)).await.status, 200);

    s.state.clock().advance(Duration::from_secs(5));
    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn polls_too_fast_slow_down_a_denial_is_access_denied_and_codes_expire() {
    let s = server().await;
    let id = device_client(&s).await;
    let j = start(&s, &id, "locations:read").await.json;
    let device_code = j["device_code"].as_str().unwrap().to_owned();
    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "authorization_pending");
    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "slow_down");
    // The interval grew by 5 s: 5 s later is still too soon, 10 s is not.
    s.state.clock().advance(Duration::from_secs(5));
    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "slow_down");
    s.state.clock().advance(Duration::from_secs(15));
    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "authorization_pending");

    let mut b = Browser::new(&s);
    let done = decide(
        &mut b,
        j["verification_uri_complete"].as_str().unwrap(),
        "deny",
    )
    .await;
    assert!(done.body.contains("not connected"), "{}", done.body);
    s.state.clock().advance(Duration::from_secs(20));
    poll(&s, &id, &device_code)
        .await
        .assert_error(400, "access_denied");

    let other = start(&s, &id, "").await.json;
    let code = other["device_code"].as_str().unwrap();
    s.state.clock().advance(Duration::from_secs(601));
    poll(&s, &id, code).await.assert_error(400, "expired_token");
    s.stop().await;
}

#[tokio::test]
async fn the_device_endpoint_refuses_what_it_must() {
    let s = server().await;
    let id = device_client(&s).await;
    start(&s, &id, "admin")
        .await
        .assert_error(400, "invalid_scope");
    start(&s, "nobody", "")
        .await
        .assert_error(401, "invalid_client");
    let (cc, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    s.post("/oauth2/device_authorization", &cc, &secret, "")
        .await
        .assert_error(400, "unauthorized_client");
    // Another client's device code is not this client's.
    let code = start(&s, &id, "").await.json["device_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = device_client(&s).await;
    poll(&s, &other, &code)
        .await
        .assert_error(400, "invalid_grant");
    poll(&s, &id, "made-up")
        .await
        .assert_error(400, "invalid_grant");
    let meta = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let meta: Value = meta.json().await.unwrap();
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{}/oauth2/device_authorization", crate::common::ISSUER)
    );
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&Value::from("urn:ietf:params:oauth:grant-type:device_code")));
    s.stop().await;
}

#[tokio::test]
async fn wrong_user_codes_are_told_and_throttled_per_address() {
    let s = server().await;
    let id = device_client(&s).await;
    let real = start(&s, &id, "").await.json["user_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&s);
    let entry = b.get("/oauth2/device").await;
    let mut refused_after = None;
    for n in 0..40 {
        let mut fields = entry.hidden();
        fields.push(("user_code".into(), "BBBB-BBBB".into()));
        let page = b.post("/oauth2/device", &fields).await;
        assert_eq!(page.status, 400, "{}", page.body);
        if page.body.contains("Too many wrong codes") {
            refused_after = Some(n);
            break;
        }
        assert!(
            page.body.contains("That code is not right"),
            "{}",
            page.body
        );
        assert!(page.body.contains("BBBB-BBBB"), "what was typed is kept");
    }
    let n = refused_after.expect("wrong codes are throttled");
    assert!(n >= 5, "a few typos are free: refused after {n}");
    // While the address waits, even the right code is not looked at.
    let mut fields = entry.hidden();
    fields.push(("user_code".into(), real.to_lowercase()));
    let page = b.post("/oauth2/device", &fields).await;
    assert!(page.body.contains("Too many wrong codes"), "{}", page.body);
    // Past the wait, the right code (any case, no dash) is found.
    s.state.clock().advance(Duration::from_secs(120));
    let mut fields = entry.hidden();
    fields.push(("user_code".into(), real.replace('-', "").to_lowercase()));
    let page = b.post("/oauth2/device", &fields).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign in"), "{}", page.body);
    // A form without the CSRF cookie's token is refused.
    let forged = b
        .post("/oauth2/device", &[("user_code".into(), real.clone())])
        .await;
    assert_eq!(forged.status, 403);
    s.stop().await;
}
