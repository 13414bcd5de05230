//! The console's refusals over HTTP (issue 16, point 6): bad input never
//! gets a 500 (a forged or missing CSRF token, another developer's app, an
//! oversized name, HTML in a name, an expired session, a callback that did
//! not start here), and a console switched off is not there at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::TestServer;
use crate::console::{by_id, register, server, Person};

#[tokio::test]
async fn bad_input_gets_a_page_never_a_500() {
    let s = server().await;
    let mut dana = Person::new(&s);
    let (_, apps) = dana
        .open_signed_in("/console/apps", "dana", "dana-password")
        .await;
    let created = register(&mut dana, &apps, "Dana's app").await;
    let id = by_id(&created.body, "client-id");
    let csrf = Person::csrf(&apps);

    // CSRF: missing, forged, or another session's.
    let missing = dana.post("/console/apps", &[("name", "x")]).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    let forged = dana
        .post("/console/apps", &[("csrf", "forged"), ("name", "x")])
        .await;
    assert_eq!(forged.status, 403);
    let mut evan = Person::new(&s);
    let (_, evan_apps) = evan
        .open_signed_in("/console/apps", "evan", "evan-password")
        .await;
    let theirs = dana
        .post(
            "/console/apps",
            &[("csrf", &Person::csrf(&evan_apps)), ("name", "x")],
        )
        .await;
    assert_eq!(theirs.status, 403, "another session's token");

    // Another developer's app: as if it did not exist, for reads and changes.
    let evan_csrf = Person::csrf(&evan_apps);
    assert_eq!(evan.get(&format!("/console/apps/{id}")).await.status, 404);
    for action in ["secret", "enabled", "delete"] {
        let r = evan
            .post(
                &format!("/console/apps/{id}/{action}"),
                &[
                    ("csrf", &evan_csrf),
                    ("confirm", "yes"),
                    ("enabled", "false"),
                ],
            )
            .await;
        assert_eq!(r.status, 404, "{action}: {}", r.body);
    }
    assert!(
        s.state
            .store()
            .get_client(&id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert_eq!(dana.get("/console/apps/no-such-app").await.status, 404);
    let bad_id = dana.get("/console/apps/%FF%00").await.status;
    assert!(matches!(bad_id, 400 | 404), "{bad_id}");

    // Oversized and empty names, a bad redirect URI, a bad scope: the form again.
    let long = "n".repeat(300);
    for (name, uris, requested) in [
        (long.as_str(), "", ""),
        ("", "", ""),
        ("ok", "http://example.com/cb", ""),
        ("ok", "", "bad\"scope"),
    ] {
        let r = dana
            .post(
                "/console/apps",
                &[
                    ("csrf", &csrf),
                    ("name", name),
                    ("redirect_uris", uris),
                    ("requested", requested),
                ],
            )
            .await;
        assert_eq!(r.status, 400, "{name:.10} {uris} {requested}: {}", r.body);
        assert!(r.body.contains("role=\"alert\""), "{}", r.body);
    }
    let big_description = "d".repeat(2000);
    let r = dana
        .post(
            "/console/apps",
            &[
                ("csrf", &csrf),
                ("name", "ok"),
                ("description", &big_description),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Not a role for the console; a page that is not there.
    let mut nora = Person::new(&s);
    let (_, none) = nora
        .open_signed_in("/console", "nora", "nora-password")
        .await;
    assert_eq!(none.status, 403, "{}", none.body);
    assert!(none
        .body
        .contains("neither the developer nor the admin role"));
    assert_eq!(nora.get("/console/apps").await.status, 403);
    assert_eq!(dana.get("/console/nowhere").await.status, 404);

    // A callback that did not start here, or with a state not its own.
    let mut stranger = Person::new(&s);
    let r = stranger.get("/console/callback?code=abc&state=xyz").await;
    assert_eq!(r.status, 400, "{}", r.body);
    stranger.cookies.insert(
        "tollgate_console_login".into(),
        "st.verifier.L2NvbnNvbGU".into(),
    );
    let r = stranger.get("/console/callback?code=abc&state=other").await;
    assert_eq!(r.status, 400);
    let r = stranger.get("/console/callback?code=abc&state=st").await;
    assert_eq!(r.status, 400, "an unknown code: {}", r.body);
    let r = stranger
        .get("/console/sign-in?next=https://evil.example/")
        .await;
    assert_eq!(r.status, 303);
    assert!(
        stranger.cookies["tollgate_console_login"].ends_with(".L2NvbnNvbGU"),
        "back to /console only"
    );

    // An expired session: sign in again, then the page asked for.
    s.state.clock().advance(Duration::from_secs(9 * 3600));
    let page = format!("/console/apps/{id}");
    let first = dana.get(&page).await;
    assert_eq!(first.status, 303);
    assert!(first
        .location
        .as_deref()
        .unwrap()
        .starts_with("/console/sign-in?next="));
    let (at, back) = dana.open_signed_in(&page, "dana", "dana-password").await;
    assert_eq!(
        (at.as_str(), back.status),
        (page.as_str(), 200),
        "{}",
        back.body
    );

    // Signing out ends both sessions: the next visit asks for the password,
    // and so does a copy of the cookies taken before (issue 30, point 6:
    // the sign-in cookie used to sign the console in again).
    let mut copy = Person::new(&s);
    copy.cookies = dana.cookies.clone();
    let out = dana
        .post("/console/sign-out", &[("csrf", &Person::csrf(&back))])
        .await;
    assert_eq!(out.status, 200);
    let (at, again) = dana.follow("/console/apps").await;
    assert!(at.contains("/oauth2/authorize"), "{at}");
    assert!(again.body.contains("Sign in"));
    let (at, again) = copy.follow("/console/apps").await;
    assert!(at.contains("/oauth2/authorize"), "{at}");
    assert!(again.body.contains("Sign in"), "{}", again.body);
    s.stop().await;
}

#[tokio::test]
async fn the_console_can_be_switched_off() {
    let s = TestServer::start_with(|f| {
        f.issuer = None;
        f.console = Some(false);
    })
    .await;
    let r = s.http.get(s.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(s
        .state
        .store()
        .get_client("tollgate-console")
        .await
        .unwrap()
        .is_none());
    s.stop().await;
}
