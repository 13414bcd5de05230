//! Dynamic Client Registration (RFC 7591) and its management protocol
//! (RFC 7592) over HTTP: an initial access token from the admin API, a
//! registration with the standard metadata, the client it makes working
//! and visible to admins, read, replace and delete with the registration
//! access token, and every kind of refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use tollgate_proto::GrantType;

use crate::common::{Reply, TestServer, ISSUER};

/// A request to a registration path with a bearer token (or none).
async fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = s.http.request(method.parse().unwrap(), s.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::from(req.send().await.unwrap()).await
}

/// An initial access token, issued through the admin API.
async fn initial_token(s: &TestServer) -> String {
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "tollgate:admin")
        .await;
    let admin = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=tollgate:admin",
        )
        .await;
    let r = send(
        s,
        "POST",
        "/admin/v1/initial-access-tokens",
        Some(&admin),
        Some(json!({"expires_in": 600})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("cache-control"), "no-store");
    r.json["initial_access_token"].as_str().unwrap().to_owned()
}

async fn server() -> TestServer {
    TestServer::start_with(|f| {
        f.demo_apis = Some(true);
        f.self_service_scopes = Some(vec!["locations:read".into()]);
    })
    .await
}

fn web_app() -> Value {
    json!({
        "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
        "client_name": "Web app",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid locations:read users:read",
        "contacts": ["ops@app.example"],
        "client_uri": "https://app.example",
        "logo_uri": "https://app.example/logo.png",
        "tos_uri": "https://app.example/tos",
        "policy_uri": "https://app.example/privacy",
        "software_id": "web-app",
        "software_version": "1.2",
        "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]},
        "id_token_signed_response_alg": "ES256",
        "post_logout_redirect_uris": ["https://app.example/bye"],
        "default_max_age": 3600,
        "backchannel_logout_uri": "https://app.example/backchannel",
        "backchannel_logout_session_required": true,
        "frobnicate": true
    })
}

#[tokio::test]
async fn a_client_registers_itself_uses_its_credentials_and_manages_its_registration() {
    let s = server().await;
    let iat = initial_token(&s).await;
    let r = send(&s, "POST", "/oauth2/register", Some(&iat), Some(web_app())).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("cache-control"), "no-store");
    let j = &r.json;
    let id = j["client_id"].as_str().unwrap().to_owned();
    let secret = j["client_secret"].as_str().unwrap().to_owned();
    let rat = j["registration_access_token"].as_str().unwrap().to_owned();
    assert_eq!(j["client_secret_expires_at"], 0);
    assert!(j["client_id_issued_at"].is_i64());
    assert_eq!(
        j["registration_client_uri"],
        format!("{ISSUER}/oauth2/register/{id}")
    );
    assert_eq!(
        j["scope"], "locations:read openid",
        "users:read waits for an admin"
    );
    assert_eq!(j["id_token_signed_response_alg"], "ES256");
    assert_eq!(j["contacts"], json!(["ops@app.example"]));
    assert_eq!(j["jwks"], web_app()["jwks"]);
    assert_eq!(
        j["backchannel_logout_uri"],
        "https://app.example/backchannel"
    );
    assert_eq!(j["backchannel_logout_session_required"], true);
    assert!(
        j.get("frobnicate").is_none(),
        "unknown metadata is not echoed"
    );

    // The client works at once, with what it was given.
    let token = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations:read",
        )
        .await;
    assert_eq!(token.status, 200, "{token:?}");
    s.token(
        &id,
        &secret,
        "grant_type=client_credentials&scope=users:read",
    )
    .await
    .assert_error(400, "invalid_scope");
    // An admin sees it, with the scope it asked for and does not have yet.
    let stored = s.state.store().get_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.requested_scopes.to_string(), "users:read");

    let path = format!("/oauth2/register/{id}");
    let read = send(&s, "GET", &path, Some(&rat), None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert!(
        read.json.get("client_secret").is_none(),
        "the secret is shown once"
    );
    assert!(read.json.get("registration_access_token").is_none());
    assert_eq!(read.json["redirect_uris"], web_app()["redirect_uris"]);
    send(&s, "GET", &path, Some("wrong"), None)
        .await
        .assert_bearer(401, Some("invalid_token"));
    send(&s, "GET", "/oauth2/register/nobody", Some(&rat), None)
        .await
        .assert_bearer(401, Some("invalid_token"));

    // Replace: everything sent, with the client_id; what is left out goes.
    let mut replaced = web_app();
    replaced["client_id"] = json!(id);
    replaced["redirect_uris"] = json!(["https://app.example/new"]);
    replaced.as_object_mut().unwrap().remove("contacts");
    let put = send(&s, "PUT", &path, Some(&rat), Some(replaced.clone())).await;
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(
        put.json["redirect_uris"],
        json!(["https://app.example/new"])
    );
    assert!(put.json.get("contacts").is_none(), "{put:?}");
    let mut no_id = replaced.clone();
    no_id.as_object_mut().unwrap().remove("client_id");
    send(&s, "PUT", &path, Some(&rat), Some(no_id))
        .await
        .assert_error(400, "invalid_client_metadata");
    let mut public = replaced.clone();
    public["token_endpoint_auth_method"] = json!("none");
    send(&s, "PUT", &path, Some(&rat), Some(public))
        .await
        .assert_error(400, "invalid_client_metadata");

    let gone = send(&s, "DELETE", &path, Some(&rat), None).await;
    assert_eq!(gone.status, 204, "{gone:?}");
    send(&s, "GET", &path, Some(&rat), None)
        .await
        .assert_bearer(401, Some("invalid_token"));
    s.token(&id, &secret, "grant_type=client_credentials")
        .await
        .assert_error(401, "invalid_client");
    s.stop().await;
}

#[tokio::test]
async fn registration_needs_a_working_initial_access_token_unless_open() {
    let s = server().await;
    let body = Some(json!({"redirect_uris": ["https://app.example/cb"]}));
    send(&s, "POST", "/oauth2/register", None, body.clone())
        .await
        .assert_bearer(401, None);
    send(
        &s,
        "POST",
        "/oauth2/register",
        Some("made-up"),
        body.clone(),
    )
    .await
    .assert_bearer(401, Some("invalid_token"));
    let iat = initial_token(&s).await;
    s.state.clock().advance(std::time::Duration::from_secs(601));
    send(&s, "POST", "/oauth2/register", Some(&iat), body.clone())
        .await
        .assert_bearer(401, Some("invalid_token"));
    let meta: Value = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["registration_endpoint"],
        format!("{ISSUER}/oauth2/register")
    );
    s.stop().await;

    let open = TestServer::start_with(|f| f.open_registration = Some(true)).await;
    let public =
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
    let r = send(&open, "POST", "/oauth2/register", None, Some(public)).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(
        r.json.get("client_secret").is_none(),
        "a public client has no secret: {r:?}"
    );
    assert!(r.json.get("client_secret_expires_at").is_none());
    assert_eq!(r.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(r.json["response_types"], json!(["code"]));
    open.stop().await;
}

#[tokio::test]
async fn every_standard_field_is_checked_and_named() {
    let s = server().await;
    let iat = initial_token(&s).await;
    let cases = [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
            "http is allowed on loopback only",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (json!({}), "invalid_client_metadata", "redirect URI"),
        (
            json!({"grant_types": ["password"]}),
            "invalid_client_metadata",
            "password grant",
        ),
        (
            json!({"grant_types": ["implicit"]}),
            "invalid_client_metadata",
            "implicit",
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
            "invalid_client_metadata",
            "response_types",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
            "public client",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
            "tls_client_auth",
        ),
        (
            json!({"grant_types": ["client_credentials"], "jwks": {"keys": [{"kty": "EC", "d": "private"}]}}),
            "invalid_client_metadata",
            "public keys only",
        ),
        (
            json!({"grant_types": ["client_credentials"], "jwks": {"keys": []}, "jwks_uri": "https://app.example/jwks"}),
            "invalid_client_metadata",
            "both",
        ),
        (
            json!({"grant_types": ["client_credentials"], "jwks_uri": "http://app.example/jwks"}),
            "invalid_client_metadata",
            "jwks_uri",
        ),
        (
            json!({"grant_types": ["client_credentials"], "logo_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
            "logo_uri",
        ),
        (
            json!({"grant_types": ["client_credentials"], "contacts": ["not an address"]}),
            "invalid_client_metadata",
            "contact",
        ),
        (
            json!({"grant_types": ["client_credentials"], "client_name": ""}),
            "invalid_client_metadata",
            "client name",
        ),
        (
            json!({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "HS256"}),
            "invalid_client_metadata",
            "HS256",
        ),
        (
            json!({"grant_types": ["client_credentials"], "scope": "a\"b"}),
            "invalid_client_metadata",
            "scope",
        ),
        (
            json!({"grant_types": "client_credentials"}),
            "invalid_client_metadata",
            "grant_types",
        ),
    ];
    for (body, code, says) in cases {
        let r = send(
            &s,
            "POST",
            "/oauth2/register",
            Some(&iat),
            Some(body.clone()),
        )
        .await;
        r.assert_error(400, code);
        let d = r.json["error_description"].as_str().unwrap();
        assert!(d.contains(says), "{body}: {d}");
    }
    let not_json = s
        .http
        .post(s.url("/oauth2/register"))
        .header("authorization", format!("Bearer {iat}"))
        .body("client_name=x")
        .send()
        .await
        .unwrap();
    Reply::from(not_json)
        .await
        .assert_error(400, "invalid_client_metadata");
    s.stop().await;
}
