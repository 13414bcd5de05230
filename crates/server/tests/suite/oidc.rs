//! OpenID Connect as relying parties use it (issue 32), over HTTP: `prompt`,
//! `max_age` and the hints (OIDC Core §3.1.2.1, §3.1.2.6), request objects
//! refused, `redirect_uri` required, and the form post response mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::common::web::{authorize_url, exchange, server, Browser, Page, REDIRECT, VERIFIER};
use crate::common::{urlencode, TestServer, ISSUER};

const OPENID: &str = "&scope=openid";

/// A confidential client that is not first party (its users see consent).
async fn rp(s: &TestServer, default_max_age: Option<u32>) -> (String, String) {
    s.register(ClientSettings {
        client_name: "Relying party".into(),
        grant_types: [GrantType::AuthorizationCode].into(),
        redirect_uris: vec![REDIRECT.into()],
        default_max_age,
        ..ClientSettings::default()
    })
    .await
}

/// The payload of a JWT, unverified (the signature is checked elsewhere).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The error a redirect carries, after checking `state` and `iss` with it.
fn error_of(page: &Page) -> String {
    let q = page.redirect_query();
    assert_eq!(
        (q["state"].as_str(), q["iss"].as_str()),
        ("xyz", ISSUER),
        "{q:?}"
    );
    q.get("error").cloned().unwrap_or_default()
}

fn is_sign_in(page: &Page) -> bool {
    page.status == 200 && page.body.contains("name=\"password\"")
}

/// Signs in through the page and consents if asked; the ID token.
async fn sign_in_for_id_token(b: &mut Browser<'_>, id: &str, secret: &str, user: &str) -> String {
    let page = b.get(&authorize_url(id, OPENID)).await;
    let mut next = b.sign_in(&page, user, "wonderland").await;
    if next.status == 200 {
        next = b.consent(&next, "allow").await;
    }
    let code = next.redirect_query()["code"].clone();
    let r = exchange(b.server(), id, secret, &code, VERIFIER).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn prompt_none_answers_with_the_reason_instead_of_a_page() {
    let s = server().await;
    let (id, _) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    let none = format!("{OPENID}&prompt=none");
    assert_eq!(
        error_of(&b.get(&authorize_url(&id, &none)).await),
        "login_required"
    );

    let page = b.get(&authorize_url(&id, OPENID)).await;
    let consent = b.sign_in(&page, "alice", "wonderland").await;
    assert!(consent.body.contains("Allow access?"), "{}", consent.body);
    let r = b.get(&authorize_url(&id, &none)).await;
    assert_eq!(error_of(&r), "consent_required");

    b.consent(&consent, "allow").await.redirect_query();
    let r = b.get(&authorize_url(&id, &none)).await;
    assert_eq!(error_of(&r), "");
    assert!(r.redirect_query().contains_key("code"));

    let other = format!("{none}&login_hint=bob");
    let r = b.get(&authorize_url(&id, &other)).await;
    assert_eq!(error_of(&r), "account_selection_required");
    for bad in ["none%20login", "sideways", "login%20login"] {
        let r = b
            .get(&authorize_url(&id, &format!("{OPENID}&prompt={bad}")))
            .await;
        assert_eq!(error_of(&r), "invalid_request", "prompt={bad}");
    }
    s.stop().await;
}

#[tokio::test]
async fn prompt_login_consent_and_select_account_ask_again() {
    let s = server().await;
    let (id, secret) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    sign_in_for_id_token(&mut b, &id, &secret, "alice").await;

    let login = b
        .get(&authorize_url(&id, &format!("{OPENID}&prompt=login")))
        .await;
    assert!(is_sign_in(&login), "{}", login.body);
    assert_eq!(login.field("username"), "alice");
    // Signing in answers the request: prompt=login does not ask twice.
    let back = b.sign_in(&login, "alice", "wonderland").await;
    assert!(back.redirect_query().contains_key("code"), "{back:?}");

    let consent = b
        .get(&authorize_url(&id, &format!("{OPENID}&prompt=consent")))
        .await;
    assert!(consent.body.contains("Allow access?"), "{}", consent.body);
    assert!(b
        .consent(&consent, "allow")
        .await
        .redirect_query()
        .contains_key("code"));

    let select = b
        .get(&authorize_url(
            &id,
            &format!("{OPENID}&prompt=select_account"),
        ))
        .await;
    assert!(is_sign_in(&select), "{}", select.body);
    let hinted = b
        .get(&authorize_url(&id, &format!("{OPENID}&login_hint=carol")))
        .await;
    assert!(is_sign_in(&hinted), "another user's hint signs in again");
    assert_eq!(hinted.field("username"), "carol");
    s.stop().await;
}

#[tokio::test]
async fn max_age_signs_in_again_and_auth_time_is_the_sign_in() {
    let s = server().await;
    let (id, secret) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    let first = payload(&sign_in_for_id_token(&mut b, &id, &secret, "alice").await);
    let signed_in_at = first["auth_time"].as_i64().unwrap();
    s.state.clock().advance(Duration::from_secs(3));

    let fresh = b
        .get(&authorize_url(&id, &format!("{OPENID}&max_age=10")))
        .await;
    let code = fresh.redirect_query()["code"].clone();
    let r = exchange(&s, &id, &secret, &code, VERIFIER).await;
    let again = payload(r.json["id_token"].as_str().unwrap());
    assert_eq!(
        again["auth_time"].as_i64(),
        Some(signed_in_at),
        "no new sign-in"
    );

    for max_age in ["0", "1"] {
        let url = authorize_url(&id, &format!("{OPENID}&max_age={max_age}&prompt=none"));
        assert_eq!(
            error_of(&b.get(&url).await),
            "login_required",
            "max_age={max_age}"
        );
    }
    let stale = b
        .get(&authorize_url(&id, &format!("{OPENID}&max_age=1")))
        .await;
    assert!(is_sign_in(&stale), "{}", stale.body);
    let back = b.sign_in(&stale, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let r = exchange(&s, &id, &secret, &code, VERIFIER).await;
    let renewed = payload(r.json["id_token"].as_str().unwrap());
    assert_eq!(renewed["auth_time"].as_i64(), Some(signed_in_at + 3));

    let bad = b
        .get(&authorize_url(&id, &format!("{OPENID}&max_age=-1")))
        .await;
    assert_eq!(error_of(&bad), "invalid_request");
    s.stop().await;
}

#[tokio::test]
async fn a_clients_default_max_age_applies_when_the_request_sends_none() {
    let s = server().await;
    let (id, secret) = rp(&s, Some(60)).await;
    let mut b = Browser::new(&s);
    sign_in_for_id_token(&mut b, &id, &secret, "alice").await;
    let within = b.get(&authorize_url(&id, OPENID)).await;
    assert!(within.redirect_query().contains_key("code"));
    s.state.clock().advance(Duration::from_secs(61));
    let after = b.get(&authorize_url(&id, OPENID)).await;
    assert!(is_sign_in(&after), "{}", after.body);
    // The request's own max_age wins over the default.
    let own = b
        .get(&authorize_url(&id, &format!("{OPENID}&max_age=3600")))
        .await;
    assert!(own.redirect_query().contains_key("code"));
    s.stop().await;
}

#[tokio::test]
async fn id_token_hint_names_who_the_client_thinks_is_signed_in() {
    let s = server().await;
    s.user("bob", "wonderland").await;
    let (id, secret) = rp(&s, None).await;
    let mut alice = Browser::new(&s);
    let alices = sign_in_for_id_token(&mut alice, &id, &secret, "alice").await;
    let mut bob = Browser::new(&s);
    let bobs = sign_in_for_id_token(&mut bob, &id, &secret, "bob").await;

    let hint = |t: &str| format!("{OPENID}&prompt=none&id_token_hint={t}");
    let same = alice.get(&authorize_url(&id, &hint(&alices))).await;
    assert!(same.redirect_query().contains_key("code"), "{same:?}");
    let other = alice.get(&authorize_url(&id, &hint(&bobs))).await;
    assert_eq!(error_of(&other), "login_required");
    let forged = format!("{}x", &alices[..alices.len() - 1]);
    let bad = alice.get(&authorize_url(&id, &hint(&forged))).await;
    assert_eq!(error_of(&bad), "invalid_request");
    // Another client's ID token is not a hint for this one.
    let (id2, _) = rp(&s, None).await;
    let theirs = alice.get(&authorize_url(&id2, &hint(&alices))).await;
    assert_eq!(error_of(&theirs), "invalid_request");
    // Without prompt=none, a mismatch is a sign-in, filled with the hint.
    let url = authorize_url(&id, &format!("{OPENID}&id_token_hint={bobs}"));
    let page = alice.get(&url).await;
    assert!(is_sign_in(&page));
    assert_eq!(page.field("username"), "bob");
    s.stop().await;
}

#[tokio::test]
async fn request_objects_are_refused_and_discovery_says_so() {
    let s = server().await;
    let (id, _) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    let r = b
        .get(&authorize_url(
            &id,
            &format!("{OPENID}&request=eyJhbGciOiJub25lIn0.e30."),
        ))
        .await;
    assert_eq!(error_of(&r), "request_not_supported");
    let uri = urlencode("https://rp.example/request.jwt");
    let r = b
        .get(&authorize_url(&id, &format!("{OPENID}&request_uri={uri}")))
        .await;
    assert_eq!(error_of(&r), "request_uri_not_supported");
    let d = s.api("/.well-known/openid-configuration", None).await;
    assert_eq!(d.json["request_parameter_supported"], false, "{}", d.body);
    assert_eq!(
        d.json["request_uri_parameter_supported"], false,
        "{}",
        d.body
    );
    assert_eq!(
        d.json["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
    s.stop().await;
}

#[tokio::test]
async fn openid_requests_must_name_their_redirect_uri() {
    let s = server().await;
    let (id, _) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    let url = format!(
        "/oauth2/authorize?response_type=code&client_id={id}&scope=openid&state=xyz&code_challenge={}&code_challenge_method=S256",
        crate::common::web::challenge(VERIFIER)
    );
    let r = b.get(&url).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("OpenID Connect requires"), "{}", r.body);
    // Plain OAuth may still leave it out when one is registered.
    let plain = url.replace("&scope=openid", "");
    assert_eq!(b.get(&plain).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn form_post_answers_with_a_page_that_posts_the_code() {
    let s = server().await;
    let (id, secret) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    sign_in_for_id_token(&mut b, &id, &secret, "alice").await;
    let r = b
        .get(&authorize_url(
            &id,
            &format!("{OPENID}&response_mode=form_post"),
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'sha256-") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(
        r.body.contains("action=\"http://127.0.0.1:53682/cb\""),
        "{}",
        r.body
    );
    let fields: std::collections::BTreeMap<_, _> = r.hidden().into_iter().collect();
    assert_eq!(
        (fields["state"].as_str(), fields["iss"].as_str()),
        ("xyz", ISSUER)
    );
    let ok = exchange(&s, &id, &secret, &fields["code"], VERIFIER).await;
    assert_eq!(ok.status, 200, "{ok:?}");

    // Errors go back the same way.
    let denied = b
        .get(&authorize_url(
            &id,
            &format!("{OPENID}&response_mode=form_post&prompt=none&max_age=0"),
        ))
        .await;
    let fields: std::collections::BTreeMap<_, _> = denied.hidden().into_iter().collect();
    assert_eq!(fields["error"], "login_required");
    let unknown = b
        .get(&authorize_url(
            &id,
            &format!("{OPENID}&response_mode=fragment"),
        ))
        .await;
    assert_eq!(error_of(&unknown), "invalid_request");
    s.stop().await;
}

/// A JWT's claims, verified against the server's JWKS by its `kid`, with
/// the algorithm the key was published for.
pub async fn verified(s: &TestServer, jwt: &str, aud: &str) -> (jsonwebtoken::Algorithm, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let body = s.api("/.well-known/jwks.json", None).await.body;
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&body).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[ISSUER]);
    v.validate_exp = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims;
    (header.alg, claims)
}

/// A first-party client whose ID tokens (and userinfo, when given) are
/// signed with these algorithms.
pub async fn signing_client(
    s: &TestServer,
    id_token: Option<tollgate_proto::jose::SigningAlg>,
    userinfo: Option<tollgate_proto::jose::SigningAlg>,
) -> (String, String) {
    s.register(ClientSettings {
        client_name: "Signing RP".into(),
        grant_types: [GrantType::AuthorizationCode].into(),
        redirect_uris: vec![REDIRECT.into()],
        first_party: true,
        id_token_signed_response_alg: id_token,
        userinfo_signed_response_alg: userinfo,
        ..ClientSettings::default()
    })
    .await
}

/// The token response of a code flow for `id` as alice, scope `openid
/// profile email`.
pub async fn code_flow_tokens(s: &TestServer, id: &str, secret: &str) -> Value {
    let mut b = Browser::new(s);
    let page = b
        .get(&authorize_url(
            id,
            "&scope=openid%20profile%20email&nonce=n-1",
        ))
        .await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let r = exchange(s, id, secret, &code, VERIFIER).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json
}

#[tokio::test]
async fn id_tokens_are_rs256_unless_the_client_registered_another() {
    use jsonwebtoken::Algorithm;
    use tollgate_proto::jose::SigningAlg;
    let s = server().await;
    for (registered, expected) in [
        (None, Algorithm::RS256),
        (Some(SigningAlg::ES256), Algorithm::ES256),
        (Some(SigningAlg::EdDSA), Algorithm::EdDSA),
    ] {
        let (id, secret) = signing_client(&s, registered, None).await;
        let tokens = code_flow_tokens(&s, &id, &secret).await;
        let (alg, claims) = verified(&s, tokens["id_token"].as_str().unwrap(), &id).await;
        assert_eq!(alg, expected, "{registered:?}");
        let access = tokens["access_token"].as_str().unwrap();
        let digest = if alg == Algorithm::EdDSA {
            <sha2::Sha512 as sha2::Digest>::digest(access.as_bytes()).to_vec()
        } else {
            <sha2::Sha256 as sha2::Digest>::digest(access.as_bytes()).to_vec()
        };
        let half = URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
        assert_eq!(claims["at_hash"], half.as_str(), "{alg:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn userinfo_is_a_signed_jwt_for_a_client_that_asked() {
    use tollgate_proto::jose::SigningAlg;
    let s = server().await;
    let (id, secret) = signing_client(&s, None, Some(SigningAlg::ES256)).await;
    let tokens = code_flow_tokens(&s, &id, &secret).await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = s.api("/userinfo", Some(access)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), "application/jwt");
    let (alg, claims) = verified(&s, &r.body, &id).await;
    assert_eq!(alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(
        (claims["sub"].as_str(), claims["iss"].as_str()),
        (Some("alice"), Some(ISSUER))
    );
    assert_eq!(claims["email"], "alice@example.com");
    // A client that did not ask gets JSON.
    let (plain, plain_secret) = signing_client(&s, None, None).await;
    let tokens = code_flow_tokens(&s, &plain, &plain_secret).await;
    let r = s.api("/userinfo", tokens["access_token"].as_str()).await;
    assert_eq!(r.json["sub"], "alice", "{r:?}");
    s.stop().await;
}
