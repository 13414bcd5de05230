//! Signed access tokens (RFC 9068): what they carry, the JWKS that verifies
//! them, and that tollgate still refuses revoked ones and those of disabled
//! clients and users, while a verifier offline cannot know.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::{urlencode, Reply, TestServer, ISSUER};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::client::TokenFormat;
use tollgate_proto::jose::SigningAlg;
use tollgate_proto::GrantType;
use tollgate_server::admin;
use tollgate_server::oauth::{keys, secret};
use tollgate_server::testing::within;

async fn jwt_server() -> TestServer {
    TestServer::start_with(|f| {
        f.demo_apis = Some(true);
        f.token_format = Some(TokenFormat::Jwt);
    })
    .await
}

async fn jwks(s: &TestServer) -> (JwkSet, Reply) {
    let r = s.api("/.well-known/jwks.json", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    (serde_json::from_str(&r.body).unwrap(), r)
}

/// Verifies `token` as any RFC 9068 verifier would: the JWKS, the issuer.
async fn verify_offline(s: &TestServer, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let (set, _) = jwks(s).await;
    let jwk = set.find(header.kid.as_deref().unwrap()).unwrap();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[ISSUER]);
    v.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn a_jwt_access_token_follows_rfc_9068_and_verifies_against_the_jwks() {
    let s = jwt_server().await;
    let meta = s.api("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(
        meta.json["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "locations:read")
        .await;
    let t = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations:read",
        )
        .await;
    let header = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256, "ES256 by default");
    let (set, reply) = jwks(&s).await;
    assert_eq!(reply.header("cache-control"), "public, max-age=300");
    let algs: std::collections::BTreeSet<_> = set
        .keys
        .iter()
        .map(|k| format!("{:?}", k.common.key_algorithm.unwrap()))
        .collect();
    assert_eq!(
        algs,
        ["ES256", "EdDSA", "RS256"].map(String::from).into(),
        "a key of every algorithm advertised"
    );
    assert!(
        !reply.body.contains("\"d\""),
        "no private part: {}",
        reply.body
    );
    let claims = verify_offline(&s, &t).await;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], ISSUER);
    assert_eq!(claims["scope"], "locations:read");
    let (iat, exp, nbf) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
    );
    assert_eq!((exp - iat, nbf), (3600, iat));
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let stored = s
        .state
        .store()
        .find_token(&secret::token_key(&t))
        .await
        .unwrap();
    assert!(stored.is_none(), "issuing a JWT writes no row");

    assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    let r = s.introspect(&id, &secret, &t).await;
    assert_eq!(
        (&r.json["active"], &r.json["client_id"], &r.json["scope"]),
        (&json!(true), &json!(id), &json!("locations:read")),
        "{r:?}"
    );
    assert_eq!(
        (&r.json["exp"], &r.json["iat"]),
        (&claims["exp"], &claims["iat"])
    );
    s.stop().await;
}

#[tokio::test]
async fn per_client_format_and_audience() {
    let s = TestServer::start_with(|f| f.demo_apis = Some(true)).await;
    let (opaque_id, opaque_secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let (jwt_id, jwt_secret) = s
        .register(ClientSettings {
            client_name: "jwt".into(),
            grant_types: [GrantType::ClientCredentials].into(),
            token_format: Some(TokenFormat::Jwt),
            audience: Some("https://inventory.example".into()),
            ..ClientSettings::default()
        })
        .await;
    let opaque = s
        .access_token(&opaque_id, &opaque_secret, "grant_type=client_credentials")
        .await;
    assert!(!opaque.contains('.'), "the server default stays opaque");
    let t = s
        .access_token(&jwt_id, &jwt_secret, "grant_type=client_credentials")
        .await;
    let claims = payload(&t);
    assert_eq!(claims["aud"], "https://inventory.example");
    assert!(claims.get("scope").is_none(), "no scope, no claim");
    s.stop().await;
}

#[tokio::test]
async fn password_grant_jwt_names_the_user_and_refresh_tokens_stay_opaque() {
    let s = jwt_server().await;
    s.user("alice", "wonderland").await;
    let (id, secret) = s
        .client(&[GrantType::Password, GrantType::RefreshToken], "")
        .await;
    let r = s
        .token(
            &id,
            &secret,
            "grant_type=password&username=alice&password=wonderland",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json["access_token"].as_str().unwrap();
    let refresh = r.json["refresh_token"].as_str().unwrap();
    assert!(!refresh.contains('.'), "refresh tokens stay opaque");
    let claims = verify_offline(&s, access).await;
    assert_eq!(
        (&claims["sub"], &claims["username"]),
        (&json!("alice"), &json!("alice"))
    );
    let again = s
        .token(
            &id,
            &secret,
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                urlencode(refresh)
            ),
        )
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    let next = verify_offline(&s, again.json["access_token"].as_str().unwrap()).await;
    assert_eq!(next["sid"], claims["sid"], "one grant, one sid");

    // Disabling the user stops its JWTs at tollgate.
    let fresh = again.json["access_token"].as_str().unwrap().to_owned();
    assert!(s.is_active(&id, &secret, &fresh).await);
    s.state
        .store()
        .update_user("alice", &crate::common::enabled(false), 1)
        .await
        .unwrap();
    within(
        Duration::from_secs(2),
        "the disabled user's JWT inactive",
        || {
            let fresh = fresh.clone();
            let (id, secret) = (id.clone(), secret.clone());
            let s = &s;
            async move { !s.is_active(&id, &secret, &fresh).await }
        },
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn revoked_and_disabled_are_refused_by_tollgate_but_verify_offline() {
    let s = jwt_server().await;
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "locations:read")
        .await;
    let body = "grant_type=client_credentials&scope=locations:read";
    let t = s.access_token(&id, &secret, body).await;
    assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    let r = s
        .post("/oauth2/revoke.oauth2", &id, &secret, &format!("token={t}"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let refused = s.api("/locations", Some(&t)).await;
    refused.assert_bearer(401, Some("invalid_token"));
    assert!(!s.is_active(&id, &secret, &t).await);
    verify_offline(&s, &t).await;

    let other = s.access_token(&id, &secret, body).await;
    assert_eq!(s.api("/locations", Some(&other)).await.status, 200);
    s.state
        .store()
        .update_client(&id, 1, &mut |c| {
            c.enabled = false;
            true
        })
        .await
        .unwrap();
    within(
        Duration::from_secs(2),
        "the disabled client's JWT refused",
        || {
            let other = other.clone();
            let s = &s;
            async move { s.api("/locations", Some(&other)).await.status == 401 }
        },
    )
    .await;
    s.stop().await;
}

/// The server's own signing key, read from its store: lets the test forge
/// tokens that are right in every way but one.
async fn server_key(s: &TestServer) -> (String, EncodingKey) {
    let stored = s.state.store().signing_keys().await.unwrap();
    let k = stored
        .iter()
        .rfind(|k| k.alg == SigningAlg::ES256 && k.retired_at.is_none())
        .unwrap();
    (k.kid.clone(), EncodingKey::from_ec_der(&k.private_der))
}

fn claims(s: &TestServer, id: &str, exp_in: i64) -> Value {
    let now = s.state.clock().now_secs();
    json!({
        "iss": ISSUER, "sub": id, "aud": ISSUER, "iat": now, "nbf": now,
        "exp": now + exp_in, "jti": "forged-1", "client_id": id, "sid": "forged",
        "scope": "locations:read",
    })
}

/// The claims of a JWT, unverified.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn bad_jwts_are_401_invalid_token_with_a_reason_never_500() {
    let s = jwt_server().await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let good = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let (kid, key) = server_key(&s).await;
    let header = |alg: Algorithm, typ: &str, kid: &str| {
        let mut h = Header::new(alg);
        h.typ = Some(typ.into());
        h.kid = Some(kid.into());
        h
    };
    let sign = |h: &Header, c: &Value, k: &EncodingKey| jsonwebtoken::encode(h, c, k).unwrap();
    let control = sign(
        &header(Algorithm::ES256, "at+jwt", &kid),
        &claims(&s, &id, 60),
        &key,
    );
    assert_eq!(
        s.api("/locations", Some(&control)).await.status,
        200,
        "the forgery kit works"
    );

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        b64(&claims(&s, &id, 60))
    );
    let (set, _) = jwks(&s).await;
    let public = serde_json::to_vec(&set.keys[0]).unwrap();
    let hmac = sign(
        &header(Algorithm::HS256, "at+jwt", &kid),
        &claims(&s, &id, 60),
        &EncodingKey::from_secret(&public),
    );
    let stranger = keys::generate(SigningAlg::ES256, 0, 0).unwrap();
    let unknown = sign(
        &header(Algorithm::ES256, "at+jwt", &stranger.kid),
        &claims(&s, &id, 60),
        &EncodingKey::from_ec_der(&stranger.private_der),
    );
    let wrong_typ = sign(
        &header(Algorithm::ES256, "JWT", &kid),
        &claims(&s, &id, 60),
        &key,
    );
    let mut foreign_claims = claims(&s, &id, 60);
    foreign_claims["iss"] = json!("https://evil.example");
    let foreign = sign(
        &header(Algorithm::ES256, "at+jwt", &kid),
        &foreign_claims,
        &key,
    );
    let expired = sign(
        &header(Algorithm::ES256, "at+jwt", &kid),
        &claims(&s, &id, -120),
        &key,
    );
    let truncated = good[..good.len() - 10].to_owned();
    let oversized = format!("{good}{}", "A".repeat(9000));
    for (what, token, says) in [
        ("alg none", none, "algorithm"),
        ("HMAC with the public key", hmac, "algorithm"),
        ("unknown kid", unknown, "key"),
        ("wrong typ", wrong_typ, "typ"),
        ("another issuer", foreign, "issuer"),
        ("expired", expired, "expired"),
        ("truncated", truncated, "signature"),
        ("oversized", oversized, "too long"),
    ] {
        let r = s.api("/locations", Some(&token)).await;
        r.assert_bearer(401, Some("invalid_token"));
        let description = r.json["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{what}: {description}");
        let i = s.introspect(&id, &secret, &token).await;
        assert_eq!(i.json, json!({"active": false}), "{what}: {i:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn rotation_publishes_first_and_retirement_unpublishes_last() {
    let s = jwt_server().await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let body = "grant_type=client_credentials";
    let first = s.access_token(&id, &secret, body).await;
    let old_kid = jsonwebtoken::decode_header(&first).unwrap().kid.unwrap();
    let store = s.state.store().clone();
    let now = s.state.clock().now_secs();
    let (new, _) = admin::rotate_key(store.as_ref(), now, SigningAlg::ES256, 600, false)
        .await
        .unwrap();
    within(Duration::from_secs(2), "the new key published", || {
        let s = &s;
        let kid = new.kid.clone();
        async move { jwks(s).await.0.find(&kid).is_some() }
    })
    .await;
    let t = s.access_token(&id, &secret, body).await;
    let kid = jsonwebtoken::decode_header(&t).unwrap().kid.unwrap();
    assert_eq!(kid, old_kid, "a pre-published key does not sign yet");
    assert!(
        admin::retire_key(store.as_ref(), now, &old_kid, 3600)
            .await
            .is_err(),
        "the only signing key of its algorithm cannot be retired"
    );

    s.state.clock().advance(Duration::from_secs(600));
    let t = s.access_token(&id, &secret, body).await;
    let h = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(
        (h.kid.as_deref(), h.alg),
        (Some(new.kid.as_str()), Algorithm::ES256)
    );
    assert_eq!(
        s.api("/locations", Some(&t)).await.status,
        403,
        "verified; no scope"
    );

    let now = s.state.clock().now_secs();
    admin::retire_key(store.as_ref(), now, &old_kid, 3600)
        .await
        .unwrap();
    within(
        Duration::from_secs(2),
        "tokens of the retired key still valid",
        || {
            let s = &s;
            let first = first.clone();
            let (id, secret) = (id.clone(), secret.clone());
            async move { s.is_active(&id, &secret, &first).await }
        },
    )
    .await;
    assert!(jwks(&s).await.0.find(&old_kid).is_some(), "still published");
    s.state.clock().advance(Duration::from_secs(3601));
    within(
        Duration::from_secs(2),
        "unpublished after the last expiry",
        || {
            let s = &s;
            let old_kid = old_kid.clone();
            async move { jwks(s).await.0.find(&old_kid).is_none() }
        },
    )
    .await;
    s.stop().await;
}

/// Issue 30, point 2: a leaked private key of a retired key forges nothing
/// dated after its retirement, and nothing at all once it is unpublished.
#[tokio::test]
async fn a_retired_key_verifies_nothing_signed_after_its_retirement() {
    let s = jwt_server().await;
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "locations:read")
        .await;
    let body = "grant_type=client_credentials&scope=locations:read";
    let before = s.access_token(&id, &secret, body).await;
    let (old_kid, leaked) = server_key(&s).await;
    let store = s.state.store().clone();
    let now = s.state.clock().now_secs();
    admin::rotate_key(store.as_ref(), now, SigningAlg::ES256, 0, false)
        .await
        .unwrap();
    admin::retire_key(store.as_ref(), now, &old_kid, 3600)
        .await
        .unwrap();
    s.state.clock().advance(Duration::from_secs(120));
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("at+jwt".into());
    h.kid = Some(old_kid.clone());
    let forged = jsonwebtoken::encode(&h, &claims(&s, &id, 600), &leaked).unwrap();
    within(Duration::from_secs(2), "the forgery refused", || {
        let s = &s;
        let forged = forged.clone();
        async move { s.api("/locations", Some(&forged)).await.status == 401 }
    })
    .await;
    let r = s.api("/locations", Some(&forged)).await;
    r.assert_bearer(401, Some("invalid_token"));
    assert!(
        r.header("www-authenticate")
            .contains("after its signing key was retired"),
        "{r:?}"
    );
    assert!(!s.is_active(&id, &secret, &forged).await);
    // A token the key signed before it was retired still works ...
    assert_eq!(s.api("/locations", Some(&before)).await.status, 200);
    // ... until the key is unpublished: then nothing it signed verifies.
    s.state.clock().advance(Duration::from_secs(3600));
    let mut old = claims(&s, &id, 600);
    old["iat"] = json!(now - 1);
    let backdated = jsonwebtoken::encode(&h, &old, &leaked).unwrap();
    within(
        Duration::from_secs(2),
        "the backdated forgery refused",
        || {
            let s = &s;
            let t = backdated.clone();
            async move { s.api("/locations", Some(&t)).await.status == 401 }
        },
    )
    .await;
    s.stop().await;
}

/// `POST /admin/v1{path}` with a bearer token and a JSON body.
async fn admin_post(s: &TestServer, token: &str, path: &str, body: Value) -> Reply {
    let r = s
        .http
        .post(s.url(&format!("/admin/v1{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    Reply::from(r).await
}

/// Waits until `token` is refused by `s` as a token of a dead key.
async fn refused_as_dead(s: &TestServer, token: &str, what: &str) {
    within(Duration::from_secs(10), what, || async move {
        s.api("/locations", Some(token)).await.status == 401
    })
    .await;
    let r = s.api("/locations", Some(token)).await;
    r.assert_bearer(401, Some("invalid_token"));
    assert!(
        r.header("www-authenticate").contains("no longer valid"),
        "{r:?}"
    );
}

/// Issue 30, point 2: `keys revoke KID` and `keys rotate --now` (the leaked
/// key case) make every token of the key invalid at once, on this instance
/// and, at its next poll, on another sharing the database; the leaked
/// private key forges nothing; tokens are issued by a new key meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_verifies_nothing_on_any_instance() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("keys.db").display());
    let tweak = |f: &mut tollgate_server::config::FileConfig| {
        f.demo_apis = Some(true);
        f.token_format = Some(TokenFormat::Jwt);
        f.database = Some(db.clone());
        f.change_poll_ms = Some(50);
    };
    let s = TestServer::start_with(tweak).await;
    let other = TestServer::start_with(tweak).await;
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "locations:read")
        .await;
    let (admin_id, admin_secret) = s
        .client(&[GrantType::ClientCredentials], "tollgate:admin")
        .await;
    let body = "grant_type=client_credentials&scope=locations:read";
    let admin_body = "grant_type=client_credentials&scope=tollgate:admin";
    let before = s.access_token(&id, &secret, body).await;
    assert_eq!(other.api("/locations", Some(&before)).await.status, 200);
    let (kid, leaked) = server_key(&s).await;

    let admin = s.access_token(&admin_id, &admin_secret, admin_body).await;
    let r = admin_post(&s, &admin, &format!("/keys/{kid}/revoke"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["state"], "retired", "{r:?}");
    // At once here (no waiting for the poll), and on the other instance.
    let r = s.api("/locations", Some(&before)).await;
    assert_eq!(r.status, 401, "{r:?}");
    refused_as_dead(&other, &before, "the other instance refuses it").await;
    refused_as_dead(&s, &admin, "the admin's own token died with its key").await;
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.clone());
    let forged = jsonwebtoken::encode(&h, &claims(&s, &id, 600), &leaked).unwrap();
    refused_as_dead(&s, &forged, "a forgery with the leaked key").await;
    refused_as_dead(&other, &forged, "a forgery, elsewhere").await;

    // The revoked key was the only one: a new one signs at once.
    let after = s.access_token(&id, &secret, body).await;
    let new_kid = jsonwebtoken::decode_header(&after).unwrap().kid.unwrap();
    assert_ne!(new_kid, kid);
    assert_eq!(s.api("/locations", Some(&after)).await.status, 200);
    within(
        Duration::from_secs(10),
        "the new key verifies elsewhere",
        || {
            let (other, after) = (&other, &after);
            async move { other.api("/locations", Some(after)).await.status == 200 }
        },
    )
    .await;
    let admin = s.access_token(&admin_id, &admin_secret, admin_body).await;
    let again = admin_post(&s, &admin, &format!("/keys/{kid}/revoke"), json!({})).await;
    assert_eq!(again.status, 404, "{again:?}");

    // rotate --now: a new key signs, the one that signed is revoked.
    let r = admin_post(&s, &admin, "/keys", json!({"now": true, "alg": "ES256"})).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json[0]["state"], "signing", "{r:?}");
    refused_as_dead(&s, &after, "rotate --now revoked the key that signed").await;
    refused_as_dead(&other, &after, "... on every instance").await;
    let fresh = s.access_token(&id, &secret, body).await;
    let fresh_kid = jsonwebtoken::decode_header(&fresh).unwrap().kid.unwrap();
    assert_eq!(Some(fresh_kid.as_str()), r.json[0]["kid"].as_str());
    assert_eq!(s.api("/locations", Some(&fresh)).await.status, 200);
    other.stop().await;
    s.stop().await;
}
