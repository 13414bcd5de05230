//! The admin API's people, keys and records, as `flow` calls them: users,
//! signing keys, the audit log, usage and quotas.

use super::*;

pub(super) async fn users(s: &TestServer, token: &str) {
    let t = Some(token);
    let new = json!({"username": "ann", "password": "first-pass", "full_name": "Ann Example"});
    let r = call(s, "POST", "/users", t, Some(new)).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("location"), "/admin/v1/users/ann");
    assert!(
        !r.body.contains("first-pass") && !r.body.contains("argon2"),
        "{r:?}"
    );
    let found = call(s, "GET", "/users?name=EXAMPLE", t, None).await;
    let names: Vec<&str> = found.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["ann"], "by full name: {found:?}");
    let dup = json!({"username": "ann", "password": "x"});
    assert_problem(
        &call(s, "POST", "/users", t, Some(dup)).await,
        409,
        "conflict",
    );
    let empty = json!({"username": "bob", "password": ""});
    assert_problem(
        &call(s, "POST", "/users", t, Some(empty)).await,
        400,
        "invalid_request",
    );
    let r = call(
        s,
        "PATCH",
        "/users/ann",
        t,
        Some(json!({"email": "ann@example.com", "full_name": null})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.json["email"].as_str(), r.json["full_name"].clone()),
        (Some("ann@example.com"), Value::Null)
    );
    let r = call(
        s,
        "PATCH",
        "/users/ann",
        t,
        Some(json!({"roles": ["developer", "admin"]})),
    )
    .await;
    assert_eq!(r.json["roles"], json!(["admin", "developer"]), "{r:?}");
    let bad = json!({"roles": ["root"]});
    assert_problem(
        &call(s, "PATCH", "/users/ann", t, Some(bad)).await,
        400,
        "invalid_request",
    );
    let r = call(
        s,
        "PUT",
        "/users/ann/password",
        t,
        Some(json!({"password": "second-pass"})),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let (pid, psecret) = s.client(&[GrantType::Password], "").await;
    s.access_token(
        &pid,
        &psecret,
        "grant_type=password&username=ann&password=second-pass",
    )
    .await;
    let r = call(s, "GET", "/users?limit=10", t, None).await;
    assert_eq!(r.json["items"][0]["username"], "ann", "{r:?}");
    assert_problem(
        &call(s, "GET", "/users/ghost", t, None).await,
        404,
        "not_found",
    );
    assert_problem(
        &call(
            s,
            "PUT",
            "/users/ghost/password",
            t,
            Some(json!({"password": "x"})),
        )
        .await,
        404,
        "not_found",
    );
}

pub(super) async fn keys(s: &TestServer, token: &str) {
    let t = Some(token);
    let before = call(s, "GET", "/keys", t, None).await;
    assert_eq!(before.status, 200, "{before:?}");
    let n = before.json.as_array().unwrap().len();
    let r = call(s, "POST", "/keys", t, Some(json!({"alg": "EdDSA"}))).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (r.json[0]["alg"].as_str(), r.json[0]["state"].as_str()),
        (Some("EdDSA"), Some("pending"))
    );
    assert!(!r.body.contains("private"), "{r:?}");
    let after = call(s, "GET", "/keys", t, None).await;
    assert_eq!(after.json.as_array().unwrap().len(), n + 1);
    // Without an algorithm: one new key of each.
    let r = call(s, "POST", "/keys", t, None).await;
    let algs: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"], "{r:?}");
    let r = call(s, "POST", "/keys", t, Some(json!({"alg": "HS256"}))).await;
    assert_problem(&r, 400, "invalid_request");
    let detail = r.json["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("alg: unknown variant `HS256`") && detail.contains("`RS256`"),
        "{detail}"
    );
    let kid = r.json["kid"].as_str().unwrap_or("nope").to_owned();
    assert_problem(
        &call(s, "POST", &format!("/keys/{kid}/retire"), t, None).await,
        404,
        "not_found",
    );
}

/// Every change is in the log, with who made it, and no secret.
pub(super) async fn audit(s: &TestServer, token: &str, admin_id: &str) {
    let r = call(s, "GET", "/audit?limit=500", t(token), None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let entries = r.json["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "client.create",
        "client.update",
        "client.disable",
        "client.enable",
        "client.delete",
        "client.rotate_secret",
        "user.create",
        "user.update",
        "user.set_password",
        "key.rotate",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] == format!("client:{admin_id}")),
        "{r:?}"
    );
    assert!(
        !r.body.contains("second-pass") && !r.body.contains("client_secret\":\""),
        "{r:?}"
    );
    let page = call(s, "GET", "/audit?limit=2", t(token), None).await;
    let next = page.json["next"].as_str().unwrap();
    let older = call(
        s,
        "GET",
        &format!("/audit?limit=2&before={next}"),
        t(token),
        None,
    )
    .await;
    assert!(older.json["items"][0]["id"].as_i64() < page.json["items"][1]["id"].as_i64());
}

pub(super) fn t(token: &str) -> Option<&str> {
    Some(token)
}

/// Calls and token requests show up in the usage records once flushed;
/// `/oauth2/quota` reads a client's standing without spending it.
pub(super) async fn usage_and_quota(s: &TestServer, token: &str) {
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "metered".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into(),
            qps: Some(2),
            per_day: Some(100),
            ..ClientSettings::default()
        })
        .await;
    let api = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations:read",
        )
        .await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(s.api("/locations", Some(&api)).await.status);
        }
        v
    };
    let admitted = statuses.iter().filter(|&&c| c == 200).count() as u64;
    let refused = statuses.iter().filter(|&&c| c == 429).count() as u64;
    assert_eq!(admitted + refused, 5, "{statuses:?}");
    assert!(refused >= 1, "{statuses:?}");

    let path = format!("/usage?client_id={id}");
    // Flushes may split the calls; wait until every one is in the store.
    within(Duration::from_secs(3), "usage flushed", || async {
        let r = call(s, "GET", &path, Some(token), None).await;
        let row = &r.json["calls"][0];
        row["admitted"] == admitted && row["rejected_per_second"] == refused
    })
    .await;
    let r = call(s, "GET", &path, Some(token), None).await;
    let row = &r.json["calls"][0];
    assert_eq!(row["route"], "/locations", "{r:?}");
    assert_eq!(row["rejected_per_second"], refused, "{r:?}");
    assert_eq!(r.json["token_requests"][0]["outcome"], "issued", "{r:?}");
    assert_eq!(
        r.json["token_requests"][0]["grant_type"],
        "client_credentials"
    );
    assert_problem(
        &call(s, "GET", "/usage?from=2026-13-01", Some(token), None).await,
        400,
        "invalid_request",
    );
    assert_problem(
        &call(
            s,
            "GET",
            "/usage?from=2026-11-02&to=2026-11-01",
            Some(token),
            None,
        )
        .await,
        400,
        "invalid_request",
    );

    // Quota: with the token or with Basic credentials, and reading spends nothing.
    let quota = |auth: String| async move {
        let r = s
            .http
            .get(s.url("/oauth2/quota"))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        Reply::from(r).await
    };
    let first = quota(format!("Bearer {api}")).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json["client_id"], json!(id));
    assert_eq!(first.json["per_day"]["limit"], 100);
    assert_eq!(first.json["per_day"]["used"], admitted, "{first:?}");
    assert_eq!(first.json["per_second"]["limit"], 2);
    let basic = BasicCredentials::new(&id, &secret).header_value(BasicEncoding::Raw);
    let again = quota(basic).await;
    assert_eq!(again.json["per_day"], first.json["per_day"], "{again:?}");
    let bad = BasicCredentials::new(&id, "wrong").header_value(BasicEncoding::Raw);
    quota(bad).await.assert_error(401, "invalid_client");
    let r = s.http.get(s.url("/oauth2/quota")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}
