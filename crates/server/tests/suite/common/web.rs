//! A browser without a browser, for the sign-in flow's tests: a cookie jar,
//! no automatic redirects, forms filled from the page's hidden fields; and
//! the code flow's client and exchange.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use super::{urlencode, TestServer};

pub const REDIRECT: &str = "http://127.0.0.1/cb";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-longer-than-43-chars";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A browser: a cookie jar and no automatic redirects.
pub struct Browser<'a> {
    s: &'a TestServer,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// A page as the browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn field(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            + needle.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
    }

    /// The hidden fields of the page's form, by name.
    pub fn hidden(&self) -> Vec<(String, String)> {
        self.body
            .match_indices("type=\"hidden\" name=\"")
            .map(|(i, m)| {
                let rest = &self.body[i + m.len()..];
                let name = rest[..rest.find('"').unwrap()].to_owned();
                (name.clone(), self.field(&name))
            })
            .collect()
    }

    /// The query of the Location a redirect points to.
    pub fn redirect_query(&self) -> BTreeMap<String, String> {
        assert_eq!(self.status, 303, "{}", self.body);
        let (_, query) = self.location.split_once('?').unwrap();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }
}

impl<'a> Browser<'a> {
    pub fn new(s: &'a TestServer) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            s,
            http,
            cookies: BTreeMap::new(),
        }
    }

    /// The server this browser talks to.
    pub fn server(&self) -> &'a TestServer {
        self.s
    }

    pub async fn read(&mut self, resp: reqwest::Response) -> Page {
        for v in resp.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        Page {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path_and_query: &str) -> Page {
        let resp = self
            .http
            .get(self.s.url(path_and_query))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(String, String)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .http
            .post(self.s.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Fills the sign-in form of `page` and sends it.
    pub async fn sign_in(&mut self, page: &Page, user: &str, password: &str) -> Page {
        let mut fields = page.hidden();
        fields.push(("username".into(), user.into()));
        fields.push(("password".into(), password.into()));
        self.post("/oauth2/authorize/sign-in", &fields).await
    }

    pub async fn consent(&mut self, page: &Page, decision: &str) -> Page {
        let mut fields = page.hidden();
        fields.push(("decision".into(), decision.into()));
        self.post("/oauth2/authorize/consent", &fields).await
    }
}

pub fn authorize_url(client_id: &str, extra: &str) -> String {
    format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&state=xyz&code_challenge={}&code_challenge_method=S256{extra}",
        urlencode("http://127.0.0.1:53682/cb"),
        challenge(VERIFIER),
    )
}

pub async fn server() -> TestServer {
    let s = TestServer::start_with(|f| f.demo_apis = Some(true)).await;
    s.user("alice", "wonderland").await;
    s
}

pub async fn code_client(s: &TestServer, public: bool, first_party: bool) -> (String, String) {
    s.register(ClientSettings {
        client_name: "Photo app".into(),
        scope: "locations:read".parse().unwrap(),
        grant_types: [GrantType::AuthorizationCode, GrantType::RefreshToken].into(),
        redirect_uris: vec![REDIRECT.into()],
        public,
        first_party,
        ..ClientSettings::default()
    })
    .await
}

pub async fn exchange(
    s: &TestServer,
    id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> crate::common::Reply {
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        urlencode("http://127.0.0.1:53682/cb")
    );
    if secret.is_empty() {
        s.post_raw(
            "/oauth2/token.oauth2",
            None,
            &[],
            &format!("{body}&client_id={id}"),
        )
        .await
    } else {
        s.token(id, secret, &body).await
    }
}
