//! RP-Initiated Logout 1.0 (issue 32, point 5) over HTTP: a hint for the
//! person signed in signs out at once and returns to a registered address
//! with `state`; without one the person is asked; anything that cannot be
//! trusted is an error page that sends the browser nowhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::common::web::{authorize_url, exchange, server, Browser, Page, REDIRECT, VERIFIER};
use crate::common::{urlencode, TestServer};

const BYE: &str = "https://rp.example/signed-out";

async fn rp(s: &TestServer) -> (String, String) {
    s.register(ClientSettings {
        client_name: "Relying party".into(),
        grant_types: [GrantType::AuthorizationCode].into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![BYE.into()],
        first_party: true,
        ..ClientSettings::default()
    })
    .await
}

/// Signs in through the pages; the ID token.
async fn signed_in(b: &mut Browser<'_>, id: &str, secret: &str) -> String {
    let page = b.get(&authorize_url(id, "&scope=openid")).await;
    let back = b.sign_in(&page, "alice", "wonderland").await;
    let code = back.redirect_query()["code"].clone();
    let r = exchange(b.server(), id, secret, &code, VERIFIER).await;
    r.json["id_token"].as_str().unwrap().to_owned()
}

async fn still_signed_in(b: &mut Browser<'_>, id: &str) -> bool {
    let r = b.get(&authorize_url(id, "&scope=openid&prompt=none")).await;
    r.redirect_query().contains_key("code")
}

#[tokio::test]
async fn a_hint_for_the_person_signs_out_at_once_and_returns_with_state() {
    let s = server().await;
    let (id, secret) = rp(&s).await;
    let mut b = Browser::new(&s);
    let id_token = signed_in(&mut b, &id, &secret).await;
    assert!(still_signed_in(&mut b, &id).await);
    let r = b
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s-1",
            urlencode(BYE)
        ))
        .await;
    assert_eq!(r.location, format!("{BYE}?state=s-1"), "{r:?}");
    assert!(r.redirect_query().contains_key("state"));
    assert!(!still_signed_in(&mut b, &id).await, "the session ended");
    let d = s.api("/.well-known/openid-configuration", None).await;
    assert!(d.json["end_session_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/oauth2/logout"));
    s.stop().await;
}

#[tokio::test]
async fn without_a_hint_the_person_is_asked() {
    let s = server().await;
    let (id, secret) = rp(&s).await;
    let mut b = Browser::new(&s);
    signed_in(&mut b, &id, &secret).await;
    let ask = format!(
        "/oauth2/logout?client_id={id}&post_logout_redirect_uri={}",
        urlencode(BYE)
    );
    let question = b.get(&ask).await;
    assert_eq!(question.status, 200, "{question:?}");
    assert!(question.body.contains("Sign out?") && question.body.contains("alice"));
    let stay = answer(&mut b, &question, "stay").await;
    assert_eq!(stay.location, BYE);
    assert!(
        still_signed_in(&mut b, &id).await,
        "staying keeps the session"
    );

    let question = b.get(&ask).await;
    let out = answer(&mut b, &question, "sign-out").await;
    assert_eq!(out.location, BYE);
    assert!(!still_signed_in(&mut b, &id).await);

    // Forged: the question's form without its CSRF token.
    let question = b.get("/oauth2/logout").await;
    assert!(
        question.body.contains("You are signed out."),
        "no one to sign out: {question:?}"
    );
    let forged = b
        .post(
            "/oauth2/logout/confirm",
            &[("decision".into(), "sign-out".into())],
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    s.stop().await;
}

async fn answer(b: &mut Browser<'_>, question: &Page, decision: &str) -> Page {
    let mut fields = question.hidden();
    fields.push(("decision".into(), decision.into()));
    b.post("/oauth2/logout/confirm", &fields).await
}

#[tokio::test]
async fn untrusted_sign_out_requests_are_pages_that_send_nowhere() {
    let s = server().await;
    let (id, secret) = rp(&s).await;
    let (other, _) = rp(&s).await;
    let mut b = Browser::new(&s);
    let id_token = signed_in(&mut b, &id, &secret).await;
    let forged = format!("{}x", &id_token[..id_token.len() - 1]);
    let bye = urlencode(BYE);
    for (what, query) in [
        (
            "unregistered return",
            format!(
                "client_id={id}&post_logout_redirect_uri={}",
                urlencode("https://evil.example/")
            ),
        ),
        (
            "return without a client",
            format!("post_logout_redirect_uri={bye}"),
        ),
        (
            "hint and client disagree",
            format!("client_id={other}&id_token_hint={id_token}"),
        ),
        (
            "forged hint",
            format!("id_token_hint={forged}&post_logout_redirect_uri={bye}"),
        ),
        (
            "unknown client",
            format!("client_id=nobody&post_logout_redirect_uri={bye}"),
        ),
    ] {
        let r = b.get(&format!("/oauth2/logout?{query}")).await;
        assert_eq!((r.status, r.location.as_str()), (400, ""), "{what}: {r:?}");
    }
    assert!(still_signed_in(&mut b, &id).await, "nothing was signed out");
    s.stop().await;
}
