//! The console as people use it (issue 16, point 5), in headless Chromium
//! through WebDriver: a developer signs in, registers an app, reads its
//! secret off the page, gets a token with it over HTTP, calls `/locations`,
//! and sees the count and quota use rise on the app's page; an admin signs
//! in, lowers the app's daily quota, and the developer's next call is
//! refused with 429. Every page is photographed at desktop (1440 px) and
//! phone (360 px) widths into the test's temp dir, and each photo is checked
//! for content. With `TOLLGATE_SCREENSHOTS=DIR` the photos are also copied
//! there (how `docs/console/` was made).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use tollgate_server::config::QuotaConfig;
use tollgate_server::testing::ChromeDriver;

const DESKTOP: (u32, u32) = (1440, 1100);
const PHONE: (u32, u32) = (360, 780);

async fn browser(driver: &ChromeDriver) -> Client {
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(ChromeDriver::capabilities())
        .connect(&driver.url())
        .await
        .expect("a WebDriver session on headless Chromium")
}

/// Photographs the page at both widths; checks each is a page, not a blank.
pub(crate) struct Camera {
    dir: tempfile::TempDir,
    keep: Option<PathBuf>,
}

impl Camera {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            keep: std::env::var_os("TOLLGATE_SCREENSHOTS").map(PathBuf::from),
        }
    }

    async fn shoot(&self, c: &Client, name: &str) {
        self.shoot_page(c, name, true).await;
    }

    /// `console`: a console page, with its header (not the sign-in page).
    pub(crate) async fn shoot_page(&self, c: &Client, name: &str, console: bool) {
        for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            c.set_window_size(w, h).await.unwrap();
            check_page(c, name, w).await;
            let png = c.screenshot().await.unwrap();
            let file = self.dir.path().join(format!("{name}-{label}.png"));
            std::fs::write(&file, &png).unwrap();
            check_photo(&file, w, console);
            if let Some(keep) = &self.keep {
                std::fs::create_dir_all(keep).unwrap();
                std::fs::copy(&file, keep.join(format!("{name}-{label}.png"))).unwrap();
            }
        }
        c.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
    }
}

/// What a person needs of every page: each control has a label, and at
/// this width nothing makes the page scroll sideways (wide tables scroll in
/// their own box).
async fn check_page(c: &Client, name: &str, width: u32) {
    let unlabelled = c
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
             .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))\
             .map(e => e.name || e.id)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "{name}: controls without a label"
    );
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    let wide = c
        .execute(
            "const w = document.documentElement.clientWidth; \
             return [...document.querySelectorAll('body *')]\
             .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap'))\
             .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        serde_json::json!(0),
        "{name} scrolls sideways at {width} px: {wide}"
    );
}

/// A photo of a page with content: about the window's width, many colours,
/// and on a console page the header's dark blue in its top rows (the style
/// sheet loaded).
fn check_photo(file: &Path, window_width: u32, console: bool) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(file).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let shown = file.display();
    assert!(
        info.width + 40 >= window_width && info.width <= window_width,
        "{shown}: {} px wide for a {window_width} px window",
        info.width
    );
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let colours: std::collections::BTreeSet<&[u8]> = pixels.chunks(channels).collect();
    assert!(
        colours.len() > 40,
        "{shown} is blank: {} colours",
        colours.len()
    );
    let row = usize::try_from(info.width).unwrap() * channels;
    let header_blue = pixels[row * 5..row * 6]
        .chunks(channels)
        .any(|p| p[..3] == [0x10, 0x2a, 0x43]);
    assert!(header_blue || !console, "{shown}: no console header");
}

/// The text of the element, once the page has one (a page still loading
/// may replace it under us: then again).
async fn text(c: &Client, css: &str) -> String {
    let mut last = None;
    for _ in 0..50 {
        let found = c.find(Locator::Css(css)).await;
        match found {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css}: {last:?}");
}

async fn fill(c: &Client, css: &str, value: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Clicks what submits a form or follows a link, and waits for the next
/// page to replace this one.
async fn submit(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    click(c, css).await;
    for _ in 0..100 {
        if old.text().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css}: the page stayed");
}

/// Signs in on the sign-in page the console sent the browser to.
async fn sign_in(c: &Client, user: &str, password: &str) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#username"))
        .await
        .unwrap();
    assert!(c.title().await.unwrap().contains("Sign in"));
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    submit(c, "button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_registers_and_uses_an_app_and_an_admin_limits_it() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let s = TestServer::start_with(|f| {
        f.issuer = None;
        f.demo_apis = Some(true);
        f.usage_flush_ms = Some(100);
        f.quota = Some(QuotaConfig {
            default_qps: 20,
            default_per_day: 1000,
            burst: 20,
            ..QuotaConfig::default()
        });
    })
    .await;
    s.person("dana", "dana-password", "Dana Dev", &["developer"])
        .await;
    s.person("ada", "ada-password", "Ada Admin", &["admin"])
        .await;
    let camera = Camera::new();
    let c = browser(&driver).await;
    c.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();

    // The developer signs in and registers an app.
    c.goto(&s.url("/console")).await.unwrap();
    camera.shoot_page(&c, "sign-in", false).await;
    sign_in(&c, "dana", "dana-password").await;
    assert_eq!(text(&c, "h1").await, "My apps");
    submit(&c, "a[href='/console/apps/new']").await;
    assert_eq!(text(&c, "h1").await, "Register an app");
    fill(&c, "#name", "Inventory sync <b>beta</b>").await;
    fill(
        &c,
        "#description",
        "Keeps the stock levels of our lots in step.",
    )
    .await;
    click(&c, "input[name='scope:locations:read']").await;
    camera.shoot(&c, "register").await;
    submit(&c, "form.stacked button[type=submit]").await;
    let id = text(&c, "#client-id").await;
    let secret = text(&c, "#client-secret").await;
    assert!(secret.starts_with("tgs_"), "{secret}");
    assert!(text(&c, "h1").await.contains("registered"));
    let copy = c
        .find(Locator::Css("button[data-copy=client-secret]"))
        .await
        .unwrap();
    assert!(
        copy.is_displayed().await.unwrap(),
        "the script showed the copy button"
    );
    let shown_name = text(&c, "dl.facts dd").await;
    assert_eq!(
        shown_name, "Inventory sync <b>beta</b>",
        "shown as text, not markup"
    );
    camera.shoot(&c, "credentials").await;

    // Its secret gets a token over HTTP; three calls.
    let r = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations%3Aread",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(s.api("/locations", Some(&token)).await.status, 200);
    }

    // The app's page shows them, once the usage is flushed.
    let app_page = s.url(&format!("/console/apps/{id}"));
    let mut total = String::new();
    for _ in 0..50 {
        c.goto(&app_page).await.unwrap();
        total = text(&c, "#usage-total").await;
        if total.starts_with("3 calls admitted") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(total.starts_with("3 calls admitted"), "{total}");
    assert_eq!(text(&c, "#quota-used").await, "3");
    assert_eq!(text(&c, "#quota-limit").await, "1,000");
    assert_eq!(text(&c, "#quota-qps").await, "20 calls a second");
    let bars = c
        .find_all(Locator::Css("svg.chart rect.admitted"))
        .await
        .unwrap();
    assert!(!bars.is_empty(), "the chart has bars");
    camera.shoot(&c, "app").await;

    // The admin signs in (after the developer signs out) and lowers the quota.
    submit(&c, "form.signout button").await;
    assert!(text(&c, "main").await.contains("signed out"));
    c.goto(&s.url("/console")).await.unwrap();
    sign_in(&c, "ada", "ada-password").await;
    assert_eq!(text(&c, "h1").await, "Clients");
    camera.shoot(&c, "clients").await;
    c.goto(&s.url(&format!("/console/admin/clients/{id}")))
        .await
        .unwrap();
    fill(&c, "#per_day", "3").await;
    camera.shoot(&c, "client").await;
    submit(&c, "form.stacked button[type=submit]").await;
    assert_eq!(
        c.find(Locator::Css("#per_day"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap(),
        Some("3".to_owned())
    );
    assert_eq!(s.api("/locations", Some(&token)).await.status, 429);

    // Usage across clients: the app is top by calls and, once the refusal
    // is flushed, by refusals too.
    let mut usage = String::new();
    for _ in 0..50 {
        c.goto(&s.url("/console/admin/usage")).await.unwrap();
        usage = text(&c, "main").await;
        if usage.matches(id.as_str()).count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(usage.matches(id.as_str()).count(), 2, "{usage}");
    camera.shoot(&c, "usage").await;
    c.goto(&s.url("/console/admin/audit")).await.unwrap();
    let log = text(&c, "main").await;
    assert!(
        log.contains("console:ada") && log.contains("client.update"),
        "{log}"
    );
    camera.shoot(&c, "audit").await;
    c.goto(&s.url("/console/admin/users")).await.unwrap();
    camera.shoot(&c, "users").await;

    // Keyboard: the first Tab lands on a link, and focus is drawn.
    c.goto(&s.url("/console/admin/clients")).await.unwrap();
    c.active_element()
        .await
        .unwrap()
        .send_keys("\u{e004}")
        .await
        .unwrap();
    let focused = c
        .execute("return document.activeElement.tagName", vec![])
        .await
        .unwrap();
    assert_eq!(focused, serde_json::json!("A"));
    c.close().await.unwrap();
    s.stop().await;
}
