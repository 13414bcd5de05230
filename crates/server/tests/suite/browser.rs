//! The sign-in and consent pages as a person meets them (issue 14, point
//! 6): headless Chromium, driven through WebDriver (chromedriver), opens the
//! authorize URL, fills the form, consents, and lands on the app's loopback
//! redirect; the app exchanges the code and calls an API. And a screenshot
//! of the sign-in page, checked for content and for its style sheet having
//! loaded under the Content-Security-Policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::{urlencode, TestServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;
use tollgate_server::testing::ChromeDriver;

const VERIFIER: &str = "browser-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

pub(crate) async fn browser(driver: &ChromeDriver) -> Client {
    ClientBuilder::new(hyper_connector())
        .capabilities(ChromeDriver::capabilities())
        .connect(&driver.url())
        .await
        .expect("a WebDriver session on headless Chromium")
}

/// Fills the sign-in page the browser is on and sends it.
pub(crate) async fn fill_sign_in(c: &Client, username: &str, password: &str) {
    let user = c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#username"))
        .await
        .expect("the sign-in page");
    user.send_keys(username).await.unwrap();
    let pw = c.find(Locator::Css("#password")).await.unwrap();
    pw.send_keys(password).await.unwrap();
    let submit = c.find(Locator::Css("button[type=submit]")).await.unwrap();
    submit.click().await.unwrap();
}

/// WebDriver speaks plain HTTP on loopback: no TLS connector needed.
fn hyper_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    hyper_util::client::legacy::connect::HttpConnector::new()
}

/// The app: a loopback listener for the redirect, reporting the query.
async fn app() -> (String, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let posted = tx.clone();
    let router = axum::Router::new().route(
        "/cb",
        axum::routing::get(move |uri: axum::http::Uri| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(uri.query().unwrap_or_default().to_owned()).await;
                axum::response::Html("<!doctype html><title>App</title><p>back in the app</p>")
            }
        })
        // The form post response mode: the same, in the body.
        .post(move |body: String| {
            let tx = posted.clone();
            async move {
                let _ = tx.send(body).await;
                axum::response::Html("<!doctype html><title>App</title><p>back in the app</p>")
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://127.0.0.1:{port}/cb"), rx)
}

async fn setup() -> (TestServer, String, String) {
    let s = TestServer::start_with(|f| f.demo_apis = Some(true)).await;
    s.user("alice", "wonderland").await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "Photo app".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::AuthorizationCode].into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..ClientSettings::default()
        })
        .await;
    (s, id, secret)
}

fn authorize_url(s: &TestServer, id: &str, redirect: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    s.url(&format!(
        "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={}&scope=locations%3Aread&state=st&code_challenge={challenge}&code_challenge_method=S256",
        urlencode(redirect)
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_consents_and_the_app_calls_an_api() {
    signs_in_consents_and_calls(None).await;
}

/// OAuth 2.0 Form Post Response Mode: the page's one script posts the code
/// under the Content-Security-Policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_post_page_posts_the_code_to_the_app_under_the_csp() {
    signs_in_consents_and_calls(Some("form_post")).await;
}

async fn signs_in_consents_and_calls(response_mode: Option<&str>) {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let (s, id, secret) = setup().await;
    let (redirect, mut back) = app().await;
    let c = browser(&driver).await;
    let mut url = authorize_url(&s, &id, &redirect);
    if let Some(mode) = response_mode {
        url.push_str(&format!("&response_mode={mode}"));
    }
    c.goto(&url).await.unwrap();
    assert!(c.title().await.unwrap().contains("Sign in"));
    fill_sign_in(&c, "alice", "wonderland").await;
    let allow = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .unwrap();
    let consent_text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        consent_text.contains("Photo app") && consent_text.contains("locations:read"),
        "{consent_text}"
    );
    allow.click().await.unwrap();
    let query = tokio::time::timeout(Duration::from_secs(10), back.recv())
        .await
        .expect("the browser reached the app")
        .unwrap();
    let params: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["state"], "st");
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
        params["code"],
        urlencode(&redirect)
    );
    let r = s.token(&id, &secret, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let t = r.json["access_token"].as_str().unwrap();
    assert_eq!(s.api("/locations", Some(t)).await.status, 200);
    c.close().await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_renders_with_its_style_under_the_csp() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let (s, id, _) = setup().await;
    let c = browser(&driver).await;
    c.goto(&authorize_url(&s, &id, "http://127.0.0.1:9/cb"))
        .await
        .unwrap();
    let png_bytes = c.screenshot().await.unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert!(
        info.width >= 800 && info.height >= 600,
        "{}x{}",
        info.width,
        info.height
    );
    let channels = info.color_type.samples();
    let colours: std::collections::BTreeSet<&[u8]> =
        pixels[..info.buffer_size()].chunks(channels).collect();
    assert!(
        colours.len() > 50,
        "the page is not blank: {} colours",
        colours.len()
    );
    // The button has the style sheet's colour: the sheet loaded, under a CSP without unsafe-inline.
    let colour = c
        .execute(
            "return getComputedStyle(document.querySelector('button')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colour, serde_json::json!("rgb(11, 92, 173)"));
    let labels = c.find_all(Locator::Css("label")).await.unwrap();
    assert_eq!(labels.len(), 2, "both inputs are labelled");
    c.close().await.unwrap();
    s.stop().await;
}

/// The sign-out question and the signed-out page (RP-Initiated Logout), as
/// a person sees them at 1440 and 390 px: labelled, nothing sideways, the
/// style sheet loaded; and answering the question signs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_out_pages_read_well_on_a_desktop_and_a_phone() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let (s, id, _) = setup().await;
    let (redirect, mut back) = app().await;
    let c = browser(&driver).await;
    c.goto(&authorize_url(&s, &id, &redirect)).await.unwrap();
    fill_sign_in(&c, "alice", "wonderland").await;
    let allow = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .unwrap();
    allow.click().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), back.recv())
        .await
        .unwrap();

    let camera = crate::console_browser::Camera::new();
    c.goto(&s.url(&format!("/oauth2/logout?client_id={id}")))
        .await
        .unwrap();
    let sign_out = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[value=sign-out]"))
        .await
        .unwrap();
    camera.shoot_page(&c, "sign-out-question", false).await;
    sign_out.click().await.unwrap();
    // Wait for the next page: the question's own `h1` is still there for a
    // moment after the click.
    let done = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//main/h1[text()='Signed out']"))
        .await;
    let headline = c
        .find(Locator::Css("main h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.is_ok(), "after Sign out the page says {headline:?}");
    camera.shoot_page(&c, "signed-out", false).await;
    // Signed out: the next request asks for the password again.
    c.goto(&authorize_url(&s, &id, &redirect)).await.unwrap();
    assert!(c.title().await.unwrap().contains("Sign in"));
    c.close().await.unwrap();
    s.stop().await;
}
