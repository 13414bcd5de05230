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
    cookies: BTreeMap<String, String>,
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
fn hidden_fields(html: &str) -> Vec<(String, String)> {
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
fn by_id(html: &str, id: &str) -> String {
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
async fn register(p: &mut Person, page: &Page, name: &str) -> Page {
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
