//! The console over HTTP (issue 16, points 1, 2 and 6): signing in through
//! the server's own authorization code + PKCE flow, the developer's apps,
//! an admin's changes, and bad input, which never gets a 500: a forged or
//! missing CSRF token, another developer's app, an oversized name, HTML in
//! a name, an expired session, a callback that did not start here.
//! `console_browser` does the same as a person would, in Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::TestServer;
use reqwest::header::{LOCATION, SET_COOKIE};

/// A browser, reduced: a cookie jar (paths ignored) and no redirects
/// followed unless asked.
pub(crate) struct Person {
    http: reqwest::Client,
    base: String,
    pub(crate) cookies: BTreeMap<String, String>,
}

/// An answer: status, where it sends the browser, and the page.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    csp: Option<String>,
    pub(crate) body: String,
}

impl Person {
    pub(crate) fn new(s: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let resp = req.header("cookie", jar.join("; ")).send().await.unwrap();
        for c in resp.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_owned()),
            csp: resp
                .headers()
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: resp.text().await.unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(self.url(path));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// GETs `path`, following redirects.
    pub(crate) async fn follow(&mut self, path: &str) -> (String, Page) {
        let mut at = path.to_owned();
        for _ in 0..10 {
            let page = self.get(&at).await;
            match &page.location {
                Some(next) if (300..400).contains(&page.status) => at = next.clone(),
                _ => return (at, page),
            }
        }
        panic!("too many redirects from {path}");
    }

    /// Opens `path`; signs in when sent to the sign-in page; gives the page
    /// the browser ends on, and where.
    pub(crate) async fn open_signed_in(
        &mut self,
        path: &str,
        user: &str,
        password: &str,
    ) -> (String, Page) {
        let (at, page) = self.follow(path).await;
        if !at.contains("/oauth2/authorize") {
            return (at, page);
        }
        assert!(page.body.contains("Sign in"), "{}", page.body);
        let mut form = hidden_fields(&page.body);
        form.push(("username".into(), user.into()));
        form.push(("password".into(), password.into()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signed = self.post("/oauth2/authorize/sign-in", &pairs).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        self.follow(&signed.location.unwrap()).await
    }

    pub(crate) fn csrf(page: &Page) -> String {
        hidden_fields(&page.body)
            .into_iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v)
            .expect("a csrf field")
    }
}

/// The page's hidden inputs, unescaped.
pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        let value = rest
            .split_once("value=\"")
            .and_then(|(_, v)| v.split_once('"'))
            .map_or("", |(v, _)| v);
        let value = value
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        out.push((name.to_owned(), value));
    }
    out
}

/// The text of the element with this id (`<code id="…">TEXT<`).
pub(crate) fn by_id(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} in {html}"));
    let rest = &html[start..];
    let text = &rest[rest.find('>').unwrap() + 1..];
    text[..text.find('<').unwrap()].to_owned()
}

pub(crate) async fn server() -> TestServer {
    let s = TestServer::start_with(|f| {
        f.issuer = None;
        f.demo_apis = Some(true);
        f.usage_flush_ms = Some(50);
        f.change_poll_ms = Some(50);
    })
    .await;
    s.person("dana", "dana-password", "Dana Dev", &["developer"])
        .await;
    s.person("evan", "evan-password", "Evan Dev", &["developer"])
        .await;
    s.person("ada", "ada-password", "Ada Admin", &["admin"])
        .await;
    s.person("nora", "nora-password", "Nora Nobody", &[]).await;
    s
}

/// Registers an app as the person on `page` (a console page); gives the
/// credentials page.
pub(crate) async fn register(p: &mut Person, page: &Page, name: &str) -> Page {
    let csrf = Person::csrf(page);
    let created = p
        .post(
            "/console/apps",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("description", "syncs <stock>"),
                ("scope:locations:read", "on"),
                ("requested", "users:read"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    created
}

#[tokio::test]
async fn a_developer_signs_in_registers_an_app_and_uses_its_secret() {
    let s = server().await;
    let mut dana = Person::new(&s);
    let (at, apps) = dana
        .open_signed_in("/console", "dana", "dana-password")
        .await;
    assert!(at.ends_with("/console/apps"), "{at}");
    assert!(apps.body.contains("You have no apps yet"), "{}", apps.body);
    let csp = apps.csp.clone().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    for (asset, kind) in [
        ("console.css", "text/css"),
        ("console.js", "text/javascript"),
    ] {
        let r = s
            .http
            .get(s.url(&format!("/console/static/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    let created = register(&mut dana, &apps, "Inventory <script>alert(1)</script>").await;
    assert!(
        !created.body.contains("<script>alert"),
        "escaped: {}",
        created.body
    );
    assert!(
        created.body.contains("Inventory &lt;script&gt;"),
        "{}",
        created.body
    );
    let id = by_id(&created.body, "client-id");
    let secret = by_id(&created.body, "client-secret");
    assert!(secret.starts_with("tgs_"), "{secret}");
    assert!(
        created.body.contains("tollgate call --token-url"),
        "{}",
        created.body
    );

    // The secret works, with the self-service scope; the other awaits approval.
    let r = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations%3Aread",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let asked = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=users%3Aread",
        )
        .await;
    assert_eq!(asked.status, 400, "not approved yet: {asked:?}");
    let t = r.json["access_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    }
    // The app's page counts them (after the usage flush).
    let page = format!("/console/apps/{id}");
    let mut shown = String::new();
    for _ in 0..100 {
        let app = dana.get(&page).await;
        assert_eq!(app.status, 200, "{}", app.body);
        shown = by_id(&app.body, "usage-total");
        if shown.starts_with("3 calls admitted") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(shown.starts_with("3 calls admitted"), "{shown}");
    let app = dana.get(&page).await;
    assert_eq!(by_id(&app.body, "quota-used"), "3");
    assert!(app.body.contains("<svg class=\"chart\""), "a chart");
    assert!(app.body.contains("users:read"), "awaiting approval shown");

    // Settings: a new name, redirect URIs (and so the code grant), more scopes.
    let csrf = Person::csrf(&app);
    let edited = dana
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("name", "Inventory v2"),
                ("description", ""),
                ("requested", "orders:write"),
                ("redirect_uris", "http://127.0.0.1/cb\n"),
            ],
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    let c = s.state.store().get_client(&id).await.unwrap().unwrap();
    assert_eq!(c.settings.client_name, "Inventory v2");
    assert_eq!(c.requested_scopes.to_string(), "orders:write users:read");
    assert_eq!(c.settings.scope.to_string(), "locations:read");
    assert!(c
        .settings
        .grant_types
        .contains(&tollgate_proto::GrantType::AuthorizationCode));
    assert_eq!(c.settings.redirect_uris, ["http://127.0.0.1/cb"]);

    // Rotation: a new secret; the old one stops at once.
    let rotated = dana
        .post(
            &format!("{page}/secret"),
            &[("csrf", &csrf), ("grace_secs", "0")],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = by_id(&rotated.body, "client-secret");
    assert_ne!(new_secret, secret);
    assert_eq!(
        s.token(&id, &secret, "grant_type=client_credentials")
            .await
            .status,
        401
    );
    assert_eq!(
        s.token(&id, &new_secret, "grant_type=client_credentials")
            .await
            .status,
        200
    );

    // Disable, enable, delete.
    let off = dana
        .post(
            &format!("{page}/enabled"),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(
        (off.status, off.location.as_deref()),
        (303, Some(page.as_str()))
    );
    assert_eq!(
        s.token(&id, &new_secret, "grant_type=client_credentials")
            .await
            .status,
        401
    );
    let unconfirmed = dana
        .post(&format!("{page}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.body);
    let gone = dana
        .post(
            &format!("{page}/delete"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(gone.status, 303);
    assert_eq!(dana.get(&page).await.status, 404);

    // Every change is in the audit log, as the console and the person.
    let query = tollgate_server::store::AuditQuery {
        before: None,
        limit: 50,
        target: Some(id.clone()),
    };
    let actions: Vec<(String, String)> = s
        .state
        .store()
        .audit_log(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.actor, r.action))
        .collect();
    for action in [
        "client.create",
        "client.rotate_secret",
        "client.disable",
        "client.delete",
    ] {
        assert!(
            actions.contains(&("console:dana".to_owned(), action.to_owned())),
            "{action} in {actions:?}"
        );
    }
    s.stop().await;
}
