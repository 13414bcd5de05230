//! The device pages (RFC 8628) as a person meets them: headless Chromium
//! opens the device's `verification_uri_complete`, finds the code filled
//! in, continues, signs in, reads which app and code it is allowing, and
//! allows; the device's next poll gets tokens. Photographed at 1440 and
//! 390 px (`TOLLGATE_SCREENSHOTS=DIR` keeps the pictures).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use fantoccini::{Client, Locator};
use tollgate_server::testing::ChromeDriver;

use crate::browser::{browser, fill_sign_in};
use crate::common::web::server;
use crate::common::ISSUER;
use crate::console_browser::Camera;
use crate::device::{device_client, poll, start};

async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_pages_read_well_and_connect_a_device() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let s = server().await;
    let id = device_client(&s).await;
    let j = start(&s, &id, "locations:read").await.json;
    let user_code = j["user_code"].as_str().unwrap();
    let complete = j["verification_uri_complete"].as_str().unwrap();
    let camera = Camera::new();
    let c = browser(&driver).await;
    c.goto(&s.url(complete.strip_prefix(ISSUER).unwrap()))
        .await
        .unwrap();
    let code = element(&c, "#user_code").await;
    assert_eq!(
        code.prop("value").await.unwrap().as_deref(),
        Some(user_code)
    );
    camera.shoot_page(&c, "device-code", false).await;
    element(&c, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();

    fill_sign_in(&c, "alice", "wonderland").await;
    let allow = element(&c, "button[value=allow]").await;
    let text = element(&c, "main").await.text().await.unwrap();
    assert!(
        text.contains("TV app") && text.contains(user_code),
        "{text}"
    );
    assert!(text.contains("locations:read"), "{text}");
    camera.shoot_page(&c, "device-confirm", false).await;
    allow.click().await.unwrap();
    // Wait for the next page: the confirmation page's own `h1` is still
    // there for a moment after the click.
    let done = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//main/h1[text()='Device connected']"))
        .await;
    let headline = element(&c, "main h1").await.text().await.unwrap();
    assert!(done.is_ok(), "after Allow the page says {headline:?}");
    camera.shoot_page(&c, "device-connected", false).await;

    s.state.clock().advance(Duration::from_secs(5));
    let tokens = poll(&s, &id, j["device_code"].as_str().unwrap()).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    c.close().await.unwrap();
    s.stop().await;
}
