//! Issue 32, point 2: every value the discovery document advertises is
//! exercised against what the server does. The test walks the document
//! itself, so a field or a list value added without a check here fails it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::Value;
use tollgate_proto::client::{AuthMethod, ClientSettings};
use tollgate_proto::jose::SigningAlg;
use tollgate_proto::GrantType;

use crate::common::web::{authorize_url, code_client, exchange, server, Browser, VERIFIER};
use crate::common::{urlencode, TestServer, ISSUER};
use crate::oidc::{code_flow_tokens, signing_client, verified};

fn strings(v: &Value) -> Vec<String> {
    let list = v.as_array().unwrap_or_else(|| panic!("a list: {v}"));
    list.iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The path of an endpoint the document names under the issuer.
fn path_of(url: &Value) -> String {
    let url = url.as_str().unwrap();
    url.strip_prefix(ISSUER)
        .unwrap_or_else(|| panic!("{url} is under the issuer"))
        .to_owned()
}

#[tokio::test]
async fn every_value_discovery_advertises_is_served() {
    let s = server().await;
    let d = s.api("/.well-known/openid-configuration", None).await;
    assert_eq!(d.status, 200);
    let same = s.api("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(same.json, d.json, "one document at both addresses");
    for (field, value) in d.json.as_object().unwrap() {
        match field.as_str() {
            "issuer" => assert_eq!(value, ISSUER),
            f if f.ends_with("_endpoint") || f == "jwks_uri" => endpoint(&s, f, value).await,
            "grant_types_supported" => {
                for g in strings(value) {
                    grant(&s, &g).await;
                }
            }
            "response_types_supported" => assert_eq!(strings(value), ["code"]),
            "response_modes_supported" => {
                for m in strings(value) {
                    response_mode(&s, &m).await;
                }
            }
            "token_endpoint_auth_methods_supported" => {
                for m in strings(value) {
                    token_auth(&s, &m).await;
                }
            }
            "introspection_endpoint_auth_methods_supported" => {
                for m in strings(value) {
                    endpoint_auth(&s, &path_of(&d.json["introspection_endpoint"]), &m).await;
                }
            }
            "revocation_endpoint_auth_methods_supported" => {
                for m in strings(value) {
                    endpoint_auth(&s, &path_of(&d.json["revocation_endpoint"]), &m).await;
                }
            }
            "scopes_supported" | "claims_supported" | "subject_types_supported" => {
                claims(&s, &d.json).await
            }
            "code_challenge_methods_supported" => {
                // S256 only; `plain` is refused (the authorize tests show it).
                assert_eq!(strings(value), ["S256"]);
                let (id, secret) = code_client(&s, false, true).await;
                let mut b = Browser::new(&s);
                let page = b.get(&authorize_url(&id, "")).await;
                let back = b.sign_in(&page, "alice", "wonderland").await;
                let code = back.redirect_query()["code"].clone();
                assert_eq!(
                    exchange(&s, &id, &secret, &code, VERIFIER).await.status,
                    200
                );
            }
            "id_token_signing_alg_values_supported" => {
                for a in strings(value) {
                    let alg = SigningAlg::parse(&a).unwrap();
                    let (id, secret) = signing_client(&s, Some(alg), None).await;
                    let tokens = code_flow_tokens(&s, &id, &secret).await;
                    let (signed, _) = verified(&s, tokens["id_token"].as_str().unwrap(), &id).await;
                    assert_eq!(format!("{signed:?}"), a);
                }
            }
            "userinfo_signing_alg_values_supported" => {
                for a in strings(value) {
                    let alg = SigningAlg::parse(&a).unwrap();
                    let (id, secret) = signing_client(&s, None, Some(alg)).await;
                    let tokens = code_flow_tokens(&s, &id, &secret).await;
                    let r = s.api("/userinfo", tokens["access_token"].as_str()).await;
                    let (signed, claims) = verified(&s, &r.body, &id).await;
                    assert_eq!(
                        (format!("{signed:?}"), &claims["sub"]),
                        (a, &"alice".into())
                    );
                }
            }
            "prompt_values_supported" => {
                for p in strings(value) {
                    prompt(&s, &p).await;
                }
            }
            "request_parameter_supported" | "request_uri_parameter_supported" => {
                assert_eq!(value, false, "{field}");
                let (param, error) = if field.starts_with("request_uri") {
                    ("request_uri", "request_uri_not_supported")
                } else {
                    ("request", "request_not_supported")
                };
                let (id, _) = code_client(&s, false, true).await;
                let url = authorize_url(&id, &format!("&{param}=x"));
                let r = Browser::new(&s).get(&url).await;
                assert_eq!(r.redirect_query()["error"], error);
            }
            "backchannel_logout_supported" | "backchannel_logout_session_supported" => {
                assert_eq!(value, true);
                let (logout, sid) = crate::backchannel::told_of_a_sign_out(&s).await;
                assert_eq!(logout["sid"], sid.as_str(), "{logout}");
            }
            "authorization_response_iss_parameter_supported" => {
                assert_eq!(value, true);
                let (id, _) = code_client(&s, false, true).await;
                let r = Browser::new(&s)
                    .get(&authorize_url(&id, "&prompt=none"))
                    .await;
                assert_eq!(r.redirect_query()["iss"], ISSUER);
            }
            other => panic!("discovery advertises `{other}`, which this test does not exercise"),
        }
    }
    s.stop().await;
}

/// An endpoint the document names is routed (whatever it answers to a
/// request without credentials, it is not 404 or 405).
async fn endpoint(s: &TestServer, field: &str, url: &Value) {
    let path = path_of(url);
    let r = if field == "token_endpoint"
        || field.starts_with("introspection")
        || field.starts_with("revocation")
        || field.starts_with("device_authorization")
        || field.starts_with("registration")
    {
        s.post_raw(&path, None, &[], "").await
    } else {
        s.api(&path, None).await
    };
    assert!(![404, 405].contains(&r.status), "{field} {path}: {r:?}");
}

async fn grant(s: &TestServer, g: &str) {
    let body = match GrantType::ALL.into_iter().find(|x| x.as_str() == g) {
        Some(GrantType::AuthorizationCode) => {
            let (id, secret) = signing_client(s, None, None).await;
            assert!(code_flow_tokens(s, &id, &secret).await["access_token"].is_string());
            return;
        }
        Some(GrantType::DeviceCode) => {
            let tokens = crate::device::device_flow_tokens(s).await;
            assert_eq!(tokens.status, 200, "{tokens:?}");
            return;
        }
        Some(GrantType::ClientCredentials) => "grant_type=client_credentials".to_owned(),
        Some(GrantType::Password | GrantType::RefreshToken) => {
            "grant_type=password&username=alice&password=wonderland".to_owned()
        }
        None => panic!("grant `{g}` is advertised but unknown"),
    };
    let (id, secret) = s
        .client(
            &[
                GrantType::ClientCredentials,
                GrantType::Password,
                GrantType::RefreshToken,
            ],
            "",
        )
        .await;
    let r = s.token(&id, &secret, &body).await;
    assert_eq!(r.status, 200, "{g}: {r:?}");
    if g == "refresh_token" {
        let refresh = r.json["refresh_token"].as_str().unwrap();
        let again = s
            .token(
                &id,
                &secret,
                &format!("grant_type=refresh_token&refresh_token={refresh}"),
            )
            .await;
        assert_eq!(again.status, 200, "{again:?}");
    }
}

async fn response_mode(s: &TestServer, mode: &str) {
    let (id, _) = code_client(s, false, true).await;
    let mut b = Browser::new(s);
    let page = b
        .get(&authorize_url(&id, &format!("&response_mode={mode}")))
        .await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = match mode {
        "query" => back.redirect_query().get("code").cloned(),
        "form_post" => back
            .hidden()
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v),
        other => panic!("response mode `{other}` advertised but not exercised"),
    };
    assert!(code.is_some(), "{mode}: {back:?}");
}

/// A client registered for `method` gets a token with it.
async fn token_auth(s: &TestServer, method: &str) {
    if method == "none" {
        let (id, _) = code_client(s, true, true).await;
        let mut b = Browser::new(s);
        let page = b.get(&authorize_url(&id, "")).await;
        let code = b
            .sign_in(&page, "alice", "wonderland")
            .await
            .redirect_query()["code"]
            .clone();
        assert_eq!(
            exchange(s, &id, "", &code, VERIFIER).await.status,
            200,
            "public client"
        );
        return;
    }
    let auth_method = match method {
        "client_secret_basic" => AuthMethod::Basic,
        "client_secret_post" => AuthMethod::Post,
        other => panic!("token endpoint auth method `{other}` advertised but not exercised"),
    };
    let (id, secret) = s
        .register(ClientSettings {
            client_name: method.into(),
            grant_types: [GrantType::ClientCredentials].into(),
            auth_method,
            ..ClientSettings::default()
        })
        .await;
    let r = credentials(
        s,
        "/oauth2/token.oauth2",
        method,
        &id,
        &secret,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 200, "{method}: {r:?}");
}

/// Introspection or revocation with `method`'s credentials.
async fn endpoint_auth(s: &TestServer, path: &str, method: &str) {
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let token = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let body = format!("token={}", urlencode(&token));
    let r = credentials(s, path, method, &id, &secret, &body).await;
    assert_eq!(r.status, 200, "{path} {method}: {r:?}");
}

async fn credentials(
    s: &TestServer,
    path: &str,
    method: &str,
    id: &str,
    secret: &str,
    body: &str,
) -> crate::common::Reply {
    match method {
        "client_secret_basic" => {
            let auth = tollgate_proto::BasicCredentials::new(id, secret)
                .header_value(tollgate_proto::basic::BasicEncoding::FormUrlEncoded);
            s.post_raw(path, Some(&auth), &[("api-key", id)], body)
                .await
        }
        "client_secret_post" => {
            let body = format!("{body}&client_id={id}&client_secret={}", urlencode(secret));
            s.post_raw(path, None, &[("api-key", id)], &body).await
        }
        other => panic!("auth method `{other}` advertised but not exercised"),
    }
}

/// Every claim advertised reaches the client for scope `openid profile
/// email`, each scope adds what it says, and `sub` is public: the same for
/// every client.
async fn claims(s: &TestServer, d: &Value) {
    let (id, secret) = signing_client(s, None, None).await;
    let tokens = code_flow_tokens(s, &id, &secret).await;
    let (_, id_token) = verified(s, tokens["id_token"].as_str().unwrap(), &id).await;
    let userinfo = s
        .api("/userinfo", tokens["access_token"].as_str())
        .await
        .json;
    let seen: BTreeSet<&str> = id_token
        .as_object()
        .unwrap()
        .keys()
        .chain(userinfo.as_object().unwrap().keys())
        .map(String::as_str)
        .collect();
    for claim in strings(&d["claims_supported"]) {
        assert!(
            seen.contains(claim.as_str()),
            "claim {claim} never sent: {seen:?}"
        );
    }
    assert_eq!(
        strings(&d["scopes_supported"]),
        ["openid", "profile", "email"]
    );
    assert_eq!(
        (&userinfo["name"], &userinfo["email"]),
        (&"Test User".into(), &"alice@example.com".into())
    );
    assert_eq!(strings(&d["subject_types_supported"]), ["public"]);
    let (other, other_secret) = signing_client(s, None, None).await;
    let theirs = code_flow_tokens(s, &other, &other_secret).await;
    let (_, their_id_token) = verified(s, theirs["id_token"].as_str().unwrap(), &other).await;
    assert_eq!(their_id_token["sub"], id_token["sub"], "public subject");
}

async fn prompt(s: &TestServer, value: &str) {
    let (id, _) = code_client(s, false, true).await;
    let mut b = Browser::new(s);
    let page = b.get(&authorize_url(&id, "")).await;
    b.sign_in(&page, "alice", "wonderland")
        .await
        .redirect_query();
    let r = b
        .get(&authorize_url(&id, &format!("&prompt={value}")))
        .await;
    match value {
        "none" => assert!(r.redirect_query().contains_key("code"), "{r:?}"),
        "login" | "select_account" => assert!(r.body.contains("name=\"password\""), "{r:?}"),
        "consent" => assert!(r.body.contains("Allow access?"), "{r:?}"),
        other => panic!("prompt `{other}` advertised but not exercised"),
    }
}
