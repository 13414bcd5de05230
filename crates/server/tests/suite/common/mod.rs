//! A real server on an ephemeral loopback port, for the integration tests:
//! `tollgate_server::testing` (file-backed SQLite in a temp dir, cheap
//! argon2) with a manual clock, an HTTP client and request helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

pub mod upstream;
pub mod web;

use serde_json::Value;
use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{BasicCredentials, GrantType};
use tollgate_server::config::{FileConfig, RouteConfig};
use tollgate_server::testing::{self, Spawned};
use tollgate_server::Clock;

pub const ISSUER: &str = "https://api.manheim.com";
pub const REALM: &str = "api.manheim.com";

/// `tollgate_server::testing::Spawned` plus an HTTP client and helpers.
pub struct TestServer {
    inner: Spawned,
    pub http: reqwest::Client,
}

impl std::ops::Deref for TestServer {
    type Target = Spawned;

    fn deref(&self) -> &Spawned {
        &self.inner
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut FileConfig)) -> Self {
        Self::start_with_clock(Clock::manual(Clock::system().now_ms()), tweak).await
    }

    pub async fn start_with_clock(clock: Clock, tweak: impl FnOnce(&mut FileConfig)) -> Self {
        let inner = testing::spawn(clock, |f| {
            f.issuer = Some(ISSUER.into());
            tweak(f);
        })
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { inner, http }
    }

    /// Registers a client with a generated id and secret.
    pub async fn client(&self, grants: &[GrantType], scopes: &str) -> (String, String) {
        self.register(ClientSettings {
            client_name: "test".into(),
            scope: scopes.parse().unwrap(),
            grant_types: grants.iter().copied().collect::<BTreeSet<_>>(),
            ..ClientSettings::default()
        })
        .await
    }

    pub async fn user(&self, username: &str, password: &str) {
        self.inner.user(username, password, "Test User").await;
    }

    /// POSTs a form body with Basic credentials (RFC encoding).
    pub async fn post(&self, path: &str, id: &str, secret: &str, body: &str) -> Reply {
        let auth = BasicCredentials::new(id, secret).header_value(BasicEncoding::FormUrlEncoded);
        self.post_raw(path, Some(&auth), &[], body).await
    }

    /// POSTs a form body with an arbitrary Authorization header and extra headers.
    pub async fn post_raw(
        &self,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub async fn token(&self, id: &str, secret: &str, body: &str) -> Reply {
        self.post("/oauth2/token.oauth2", id, secret, body).await
    }

    /// A token from a successful request; panics with the reply otherwise.
    pub async fn access_token(&self, id: &str, secret: &str, body: &str) -> String {
        let r = self.token(id, secret, body).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.json["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn introspect(&self, id: &str, secret: &str, token: &str) -> Reply {
        let auth = BasicCredentials::new(id, secret).header_value(BasicEncoding::Raw);
        let body = format!("token={}", urlencode(token));
        self.post_raw(
            "/oauth2/introspect.oauth2",
            Some(&auth),
            &[("api-key", id)],
            &body,
        )
        .await
    }

    pub async fn is_active(&self, id: &str, secret: &str, token: &str) -> bool {
        let r = self.introspect(id, secret, token).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.json["active"].as_bool().unwrap()
    }

    /// GET `path` with `Authorization: Bearer token` (when given).
    pub async fn api(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        Reply::from(req.send().await.unwrap()).await
    }

    /// GET `path` with exactly these headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.http.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub async fn stop(self) {
        self.inner.stop().await;
    }
}

/// A server with these gateway `routes` (and `upstream_timeout`, in
/// seconds), and an access token of a new client_credentials client.
pub async fn gateway_with(routes: Vec<RouteConfig>, upstream_timeout: u64) -> (TestServer, String) {
    let s = TestServer::start_with(move |f| {
        f.routes = Some(routes);
        f.upstream_timeout = Some(upstream_timeout);
    })
    .await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let t = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    (s, t)
}

impl TestServer {
    /// Whether a new connection's request goes unanswered for 2 s (the
    /// server closed it, or never read it): no slot was free for it.
    pub async fn leaves_a_new_connection_unanswered(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = extra
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let wait = std::time::Duration::from_secs(2);
        let _ = tokio::time::timeout(wait, extra.read_to_end(&mut buf)).await;
        buf.is_empty()
    }
}

pub fn urlencode(s: &str) -> String {
    tollgate_proto::basic::form_encode(s)
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub json: Value,
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            json,
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// Asserts a bearer-check refusal: status, JSON error, and the challenge.
    pub fn assert_bearer(&self, status: u16, code: Option<&str>) {
        assert_eq!(self.status, status, "{self:?}");
        let challenge = self.header("www-authenticate");
        assert!(
            challenge.starts_with(&format!("Bearer realm=\"{REALM}\"")),
            "{self:?}"
        );
        match code {
            Some(c) => {
                assert_eq!(self.error(), c, "{self:?}");
                assert!(challenge.contains(&format!("error=\"{c}\"")), "{self:?}");
            }
            None => assert!(!challenge.contains("error="), "{self:?}"),
        }
        assert!(self.json["error_description"].is_string(), "{self:?}");
    }

    /// Asserts an OAuth error: status, code, no-store, and a description.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.error()), (status, code), "{self:?}");
        assert_eq!(self.header("cache-control"), "no-store", "{self:?}");
        assert!(self.json["error_description"].is_string(), "{self:?}");
        assert!(self.json.get("access_token").is_none(), "{self:?}");
    }
}

/// An HTTP client whose connections come from `ip` (any 127/8 address).
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A password grant from `http`: (status, error_description).
pub async fn sign_in(
    s: &TestServer,
    http: &reqwest::Client,
    client: &(String, String),
    user: &str,
    pw: &str,
) -> (u16, String) {
    let auth = BasicCredentials::new(&client.0, &client.1).header_value(BasicEncoding::Raw);
    let r = http
        .post(s.url("/oauth2/token.oauth2"))
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username={}&password={}",
            urlencode(user),
            urlencode(pw)
        ))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap();
    (
        status,
        v["error_description"].as_str().unwrap_or("").to_owned(),
    )
}

/// A change that enables or disables a user, as another process makes it.
pub fn enabled(on: bool) -> tollgate_server::store::UserUpdate {
    tollgate_server::store::UserUpdate {
        enabled: Some(on),
        ..Default::default()
    }
}
