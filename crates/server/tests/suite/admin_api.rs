//! The admin API over HTTP (`/admin/v1`), on SQLite and on PostgreSQL:
//! who may reach it, problem details, clients (paging, filters, updates,
//! deletion, secret rotation with a grace period), users, signing keys,
//! the audit log, usage records flushed by the server, and a client's own
//! quota at `GET /oauth2/quota`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::{Reply, TestServer};
use serde_json::{json, Value};
use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{BasicCredentials, GrantType};
use tollgate_server::config::FileConfig;
use tollgate_server::testing::{within, Postgres};

mod records;
use records::{audit, keys, usage_and_quota, users};

const CC: &str = "grant_type=client_credentials";

/// A request to the admin API with a bearer token (or none).
async fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let url = s.url(&format!("/admin/v1{path}"));
    let mut req = s.http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::from(req.send().await.unwrap()).await
}

/// Asserts an RFC 9457 problem with this status and error code.
fn assert_problem(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        "application/problem+json",
        "{r:?}"
    );
    assert_eq!(r.json["status"], status, "{r:?}");
    assert_eq!(r.json["type"], "about:blank", "{r:?}");
    assert_eq!(r.json["error"], code, "{r:?}");
    assert!(
        r.json["title"].is_string() && r.json["detail"].is_string(),
        "{r:?}"
    );
}

/// An admin client and a token of it with `tollgate:admin`.
async fn admin_token(s: &TestServer) -> (String, String) {
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "tollgate:admin")
        .await;
    let token = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=tollgate:admin",
        )
        .await;
    (id, token)
}

/// A change poll far longer than any test: a change made through the API
/// applies on this server at once, without it.
fn config(f: &mut FileConfig) {
    f.demo_apis = Some(true);
    f.usage_flush_ms = Some(50);
    f.change_poll_ms = Some(600_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_on_sqlite() {
    let s = TestServer::start_with(config).await;
    flow(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_on_postgres() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.fresh_database().await.expect("database");
    let s = TestServer::start_with(|f| {
        config(f);
        f.database = Some(url);
    })
    .await;
    flow(&s).await;
    s.stop().await;
}

async fn flow(s: &TestServer) {
    access(s).await;
    let (admin_id, token) = admin_token(s).await;
    clients(s, &token).await;
    grace_period(s, &token).await;
    users(s, &token).await;
    keys(s, &token).await;
    audit(s, &token, &admin_id).await;
    usage_and_quota(s, &token).await;
}

/// Nothing reaches the API without a token with `tollgate:admin`.
async fn access(s: &TestServer) {
    let r = call(s, "GET", "/clients", None, None).await;
    assert_problem(&r, 401, "unauthorized");
    assert!(r.header("www-authenticate").starts_with("Bearer"), "{r:?}");
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "locations:read")
        .await;
    let plain = s.access_token(&id, &secret, CC).await;
    let r = call(s, "GET", "/clients", Some(&plain), None).await;
    assert_problem(&r, 403, "insufficient_scope");
    assert!(
        r.header("www-authenticate")
            .contains("scope=\"tollgate:admin\""),
        "{r:?}"
    );
    let r = call(s, "GET", "/clients", Some("made-up"), None).await;
    assert_problem(&r, 401, "invalid_token");
    // Asking for the scope without being registered for it gets nothing.
    let r = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=tollgate:admin",
        )
        .await;
    r.assert_error(400, "invalid_scope");
}

async fn clients(s: &TestServer, token: &str) {
    let t = Some(token);
    let new = json!({"client_name": "Billing batch", "scope": "locations:read", "qps": 5});
    let r = call(s, "POST", "/clients", t, Some(new)).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("cache-control"), "no-store");
    let id = r.json["client_id"].as_str().unwrap().to_owned();
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), format!("/admin/v1/clients/{id}"));
    assert_eq!(
        r.json["client"]["grant_types"],
        json!(["client_credentials"])
    );
    assert_eq!(r.json["client"]["qps"], 5);
    s.access_token(&id, &secret, CC).await;

    // Read back: never the secret, nor its digest.
    let r = call(s, "GET", &format!("/clients/{id}"), t, None).await;
    assert_eq!(
        (r.status, r.json["client_name"].as_str()),
        (200, Some("Billing batch"))
    );
    assert!(
        !r.body.contains(&secret) && !r.body.contains("secret_hash"),
        "{r:?}"
    );
    assert_problem(
        &call(s, "GET", "/clients/nope", t, None).await,
        404,
        "not_found",
    );

    // Bad input is a 400 problem that says what is wrong, never a 500.
    for (body, status, says) in [
        (
            json!({"client_name": "x", "grant_types": ["authorization_code"]}),
            400,
            "redirect URI",
        ),
        (json!({"client_name": "x", "scope": "a\"b"}), 400, "scope"),
        (
            json!({"client_name": "x", "colour": "red"}),
            400,
            "`colour`",
        ),
        (json!({"client_name": ""}), 400, "client name"),
        (json!({"client_name": "x", "token_ttl": 0}), 400, "1 second"),
        (
            json!({"client_name": "x", "auth_method": "magic"}),
            400,
            "`magic`",
        ),
        (json!({"client_name": "x", "qps": "many"}), 400, "qps"),
    ] {
        let r = call(s, "POST", "/clients", t, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {r:?}");
        let detail = r.json["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {detail}");
        assert_eq!(
            r.header("content-type"),
            "application/problem+json",
            "{body}: {r:?}"
        );
    }
    let r = s
        .http
        .post(s.url("/admin/v1/clients"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(&Reply::from(r).await, 400, "bad_request");

    // An imported id that exists is a conflict.
    let dup = json!({"client_name": "x", "client_id": id, "client_secret": "s3cret-imported"});
    assert_problem(
        &call(s, "POST", "/clients", t, Some(dup)).await,
        409,
        "conflict",
    );

    // Update: what is named changes, the rest stays; an update that leaves
    // an invalid client is refused whole.
    let patch = json!({"scope": "locations:read users:read", "qps": null, "per_day": 1000});
    let r = call(s, "PATCH", &format!("/clients/{id}"), t, Some(patch)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["scope"], "locations:read users:read");
    assert_eq!(
        (r.json["qps"].clone(), r.json["per_day"].clone()),
        (Value::Null, json!(1000))
    );
    assert_eq!(r.json["client_name"], "Billing batch");
    let bad = json!({"grant_types": []});
    assert_problem(
        &call(s, "PATCH", &format!("/clients/{id}"), t, Some(bad)).await,
        400,
        "invalid_request",
    );
    // A JSON merge patch (RFC 7396): `null` is the default again; what is
    // fixed at registration or kept by the server cannot change, and a
    // name it does not know is refused.
    let merge = |body: Value| {
        let url = s.url(&format!("/admin/v1/clients/{id}"));
        let req = s.http.patch(url).bearer_auth(token);
        async move {
            let r = req
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            Reply::from(r).await
        }
    };
    let r = merge(json!({"per_day": null, "description": "nightly"})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.json["per_day"].clone(), r.json["description"].clone()),
        (Value::Null, json!("nightly"))
    );
    assert_eq!(
        r.json["scope"], "locations:read users:read",
        "the rest stays"
    );
    for (body, says) in [
        (json!({"public": true}), "`public` cannot be changed"),
        (
            json!({"client_id": "other"}),
            "`client_id` cannot be changed",
        ),
        (json!({"created_at": 1}), "`created_at` cannot be changed"),
        (json!({"colour": "red"}), "unknown field `colour`"),
        (json!({"client_name": null}), "client_name"),
        (json!({"auth_method": "magic"}), "magic"),
    ] {
        let r = merge(body.clone()).await;
        assert_problem(&r, 400, "invalid_request");
        let detail = r.json["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {detail}");
    }
    // The audit log says what changed, not what was sent.
    let r = call(s, "GET", &format!("/audit?target={id}"), t, None).await;
    assert_eq!(
        r.json["items"][0]["detail"]["changes"],
        json!({"per_day": null, "description": "nightly"}),
        "{r:?}"
    );

    // Paging and filters.
    for name in ["Page A", "Page B", "Other"] {
        let r = call(s, "POST", "/clients", t, Some(json!({"client_name": name}))).await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let q = if after.is_empty() {
            "/clients?limit=2".to_owned()
        } else {
            format!("/clients?limit=2&after={after}")
        };
        let r = call(s, "GET", &q, t, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        let items = r.json["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|c| c["client_id"].as_str().unwrap().to_owned()),
        );
        match r.json["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "each client once, in id order");
    assert!(seen.len() >= 6, "{seen:?}");
    let r = call(s, "GET", "/clients?name=page", t, None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2, "{r:?}");
    assert_problem(
        &call(s, "GET", "/clients?limit=0", t, None).await,
        400,
        "invalid_request",
    );
    assert_problem(
        &call(s, "GET", "/clients?limit=x", t, None).await,
        400,
        "bad_request",
    );

    // Disable: its credentials stop at once; enable brings them back.
    let off = json!({"enabled": false});
    assert_eq!(
        call(s, "PATCH", &format!("/clients/{id}"), t, Some(off))
            .await
            .status,
        200
    );
    assert!(
        s.token(&id, &secret, CC).await.status == 401,
        "disabled client refused at once"
    );
    let r = call(s, "GET", "/clients?enabled=false", t, None).await;
    assert_eq!(r.json["items"][0]["client_id"], json!(id), "{r:?}");
    assert_eq!(
        call(
            s,
            "PATCH",
            &format!("/clients/{id}"),
            t,
            Some(json!({"enabled": true}))
        )
        .await
        .status,
        200
    );
    assert!(
        s.token(&id, &secret, CC).await.status == 200,
        "enabled client accepted at once"
    );

    // Delete: gone, with its tokens.
    let tok = s.access_token(&id, &secret, CC).await;
    let r = call(s, "DELETE", &format!("/clients/{id}"), t, None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""), "{r:?}");
    assert_problem(
        &call(s, "GET", &format!("/clients/{id}"), t, None).await,
        404,
        "not_found",
    );
    assert_problem(
        &call(s, "DELETE", &format!("/clients/{id}"), t, None).await,
        404,
        "not_found",
    );
    assert!(
        s.api("/locations", Some(&tok)).await.status == 401,
        "deleted client's token refused at once"
    );
    let r = call(s, "PUT", "/clients", t, None).await;
    assert_problem(&r, 405, "method_not_allowed");
}

/// A rotated secret: the new one works at once; the old one until the
/// grace period ends, then never.
async fn grace_period(s: &TestServer, token: &str) {
    let t = Some(token);
    let r = call(
        s,
        "POST",
        "/clients",
        t,
        Some(json!({"client_name": "fleet"})),
    )
    .await;
    let id = r.json["client_id"].as_str().unwrap().to_owned();
    let old = r.json["client_secret"].as_str().unwrap().to_owned();
    let r = call(
        s,
        "POST",
        &format!("/clients/{id}/secret"),
        t,
        Some(json!({"grace_secs": 60})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let new = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(r.json["client"]["previous_secret_until"].is_i64(), "{r:?}");
    s.access_token(&id, &new, CC).await;
    s.access_token(&id, &old, CC).await;
    s.state.clock().advance(Duration::from_secs(61));
    s.token(&id, &old, CC)
        .await
        .assert_error(401, "invalid_client");
    s.access_token(&id, &new, CC).await;
    // Without a body: no grace, the old secret stops at once.
    let r = call(s, "POST", &format!("/clients/{id}/secret"), t, None).await;
    let newest = r.json["client_secret"].as_str().unwrap().to_owned();
    assert!(
        s.token(&id, &new, CC).await.status == 401,
        "replaced secret refused at once"
    );
    s.access_token(&id, &newest, CC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_can_be_off_or_on_its_own_listener() {
    let off = TestServer::start_with(|f| f.admin_api = Some(false)).await;
    let (_, token) = admin_token(&off).await;
    let r = call(&off, "GET", "/clients", Some(&token), None).await;
    assert_eq!(r.status, 404, "{r:?}");
    off.stop().await;

    let split = TestServer::start_with(|f| f.admin_listen = Some(([127, 0, 0, 1], 0).into())).await;
    let (_, token) = admin_token(&split).await;
    let r = call(&split, "GET", "/clients", Some(&token), None).await;
    assert_eq!(r.status, 404, "not on the main listener: {r:?}");
    let admin = split.admin_base.clone().unwrap();
    let r = split
        .http
        .get(format!("{admin}/admin/v1/clients"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = split
        .http
        .get(format!("{admin}/oauth2/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "only the admin API there");
    // Each listener documents what it serves.
    let doc: Value = split
        .http
        .get(format!("{admin}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/admin/v1/clients"), "{doc}");
    assert!(!paths.contains_key("/oauth2/token.oauth2"), "{doc}");
    let main = split.api("/openapi.json", None).await;
    let main_paths = main.json["paths"].as_object().unwrap();
    assert!(!main_paths.keys().any(|p| p.starts_with("/admin/")));
    split.stop().await;
}
