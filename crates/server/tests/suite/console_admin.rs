//! The console as an administrator uses it (issue 16, point 2): approving
//! the scopes a developer asked for, lowering a client's quota, and what
//! the developer then sees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::console::{by_id, register, server, Person};

#[tokio::test]
async fn an_admin_approves_scopes_and_lowers_a_quota() {
    let s = server().await;
    let mut dana = Person::new(&s);
    let (_, apps) = dana
        .open_signed_in("/console/apps", "dana", "dana-password")
        .await;
    let created = register(&mut dana, &apps, "Dana's app").await;
    let id = by_id(&created.body, "client-id");
    let secret = by_id(&created.body, "client-secret");

    // A developer is not an admin.
    assert_eq!(dana.get("/console/admin/clients").await.status, 403);

    let mut ada = Person::new(&s);
    let (at, clients) = ada.open_signed_in("/console", "ada", "ada-password").await;
    assert!(at.ends_with("/console/admin/clients"), "{at}");
    assert!(clients.body.contains("Dana&#39;s app") || clients.body.contains("Dana's app"));
    let pending = ada.get("/console/admin/clients?show=pending").await;
    assert!(pending.body.contains(&id), "{}", pending.body);
    let searched = ada.get("/console/admin/clients?q=nothing-like-it").await;
    assert!(
        searched.body.contains("No client matches"),
        "{}",
        searched.body
    );

    let page = format!("/console/admin/clients/{id}");
    let client = ada.get(&page).await;
    assert_eq!(client.status, 200);
    let csrf = Person::csrf(&client);
    let approved = ada
        .post(
            &format!("{page}/approve"),
            &[("csrf", &csrf), ("decision", "approve")],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let r = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=users%3Aread",
        )
        .await;
    assert_eq!(r.status, 200, "approved: {r:?}");

    // A quota of 2 a day: the third call is refused.
    let saved = ada
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("client_name", "Dana's app"),
                ("scope", "locations:read users:read"),
                ("grant:client_credentials", "on"),
                ("qps", ""),
                ("per_day", "2"),
                ("token_ttl", ""),
                ("redirect_uris", ""),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let t = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations%3Aread",
        )
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let statuses = [
        s.api("/locations", Some(&t)).await.status,
        s.api("/locations", Some(&t)).await.status,
        s.api("/locations", Some(&t)).await.status,
    ];
    assert_eq!(statuses, [200, 200, 429]);
    let invalid = ada
        .post(
            &page,
            &[("csrf", &csrf), ("client_name", "x"), ("per_day", "lots")],
        )
        .await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert!(invalid.body.contains("whole number"), "{}", invalid.body);

    // An admin registers a client for a developer, rotates its secret, deletes it.
    let made = ada
        .post(
            "/console/admin/clients",
            &[
                ("csrf", &csrf),
                ("client_name", "For Evan"),
                ("owner", "evan"),
                ("scope", "locations:read"),
                ("grant:client_credentials", "on"),
                ("per_day", "100"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let evans = by_id(&made.body, "client-id");
    let evans_secret = by_id(&made.body, "client-secret");
    let mut evan = Person::new(&s);
    let (_, evan_apps) = evan
        .open_signed_in("/console/apps", "evan", "evan-password")
        .await;
    assert!(evan_apps.body.contains("For Evan"), "{}", evan_apps.body);
    let rotated = ada
        .post(
            &format!("/console/admin/clients/{evans}/secret"),
            &[("csrf", &csrf), ("grace_secs", "3600")],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let both = [
        s.token(&evans, &evans_secret, "grant_type=client_credentials")
            .await
            .status,
        s.token(
            &evans,
            &by_id(&rotated.body, "client-secret"),
            "grant_type=client_credentials",
        )
        .await
        .status,
    ];
    assert_eq!(both, [200, 200], "the old secret has an hour's grace");
    let bad_grace = ada
        .post(
            &format!("/console/admin/clients/{evans}/secret"),
            &[("csrf", &csrf), ("grace_secs", "99999999")],
        )
        .await;
    assert_eq!(bad_grace.status, 400);
    let no_redirect = ada
        .post(
            "/console/admin/clients",
            &[
                ("csrf", &csrf),
                ("client_name", "Browser app"),
                ("grant:authorization_code", "on"),
            ],
        )
        .await;
    assert_eq!(no_redirect.status, 400, "{}", no_redirect.body);
    assert!(
        no_redirect.body.contains("redirect URI"),
        "{}",
        no_redirect.body
    );
    let deleted = ada
        .post(
            &format!("/console/admin/clients/{evans}/delete"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(
        ada.get(&format!("/console/admin/clients/{evans}"))
            .await
            .status,
        404
    );

    // Users: roles, and the admin cannot lock themself out.
    let users = ada.get("/console/admin/users").await;
    assert!(users.body.contains("nora"), "{}", users.body);
    let found = ada.get("/console/admin/users?q=NOBODY").await;
    assert!(
        found.body.contains("Nora Nobody") && !found.body.contains("Dana Dev"),
        "{}",
        found.body
    );
    let made = ada
        .post(
            "/console/admin/users/nora",
            &[("csrf", &csrf), ("role:developer", "on"), ("enabled", "on")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let nora = s.state.store().get_user("nora").await.unwrap().unwrap();
    assert_eq!(nora.roles, [tollgate_proto::admin::Role::Developer]);
    let self_lock = ada
        .post(
            "/console/admin/users/ada",
            &[("csrf", &csrf), ("role:admin", "on")],
        )
        .await;
    assert_eq!(self_lock.status, 400, "{}", self_lock.body);
    let added = ada
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "<i>x</i>"),
                ("password", "pw-123456"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let listed = ada.get("/console/admin/users").await;
    assert!(
        listed.body.contains("&lt;i&gt;x&lt;/i&gt;"),
        "escaped: {}",
        listed.body
    );

    for path in [
        "/console/admin/usage",
        "/console/admin/audit",
        "/console/admin/keys",
    ] {
        let p = ada.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
    }
    let audit = ada.get("/console/admin/audit").await;
    assert!(audit.body.contains("console:ada"), "{}", audit.body);
    let usage = ada.get("/console/admin/usage").await;
    assert!(
        usage.body.contains("Top clients by quota refusals"),
        "{}",
        usage.body
    );
    s.stop().await;
}

/// An admin issues an initial access token in the console (shown once);
/// a developer's client registers itself with it (RFC 7591) and appears in
/// the admin's list of clients.
#[tokio::test]
async fn an_admin_issues_a_registration_token_and_the_client_it_registers_is_listed() {
    let s = server().await;
    let mut ada = Person::new(&s);
    let (_, clients) = ada.open_signed_in("/console", "ada", "ada-password").await;
    assert!(
        clients.body.contains("Issue a registration token"),
        "{}",
        clients.body
    );
    let csrf = Person::csrf(&clients);
    let issued = ada
        .post(
            "/console/admin/clients/registration-token",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let token = by_id(&issued.body, "initial-token");
    assert!(issued.body.contains("/oauth2/register"), "{}", issued.body);
    let forged = ada
        .post(
            "/console/admin/clients/registration-token",
            &[("csrf", "x")],
        )
        .await;
    assert_ne!(
        forged.status, 200,
        "a form without the CSRF token issues nothing"
    );

    let r = s
        .http
        .post(s.url("/oauth2/register"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"client_name": "Self-registered", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let listed = ada.get("/console/admin/clients?q=Self-registered").await;
    assert!(listed.body.contains("Self-registered"), "{}", listed.body);
    s.stop().await;
}
