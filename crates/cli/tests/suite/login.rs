//! `tollgate login` (issue 14, point 5): the real binary waits on a loopback
//! port while a person signs in (played here over HTTP, cookies and all),
//! exchanges the code with PKCE, caches the tokens, and `tollgate call
//! --profile P` then calls an API as that person.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Workspace, BIN};

/// The hidden fields of a page's form.
fn hidden(html: &str) -> Vec<(String, String)> {
    html.match_indices("type=\"hidden\" name=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            let name = rest[..rest.find('"').unwrap()].to_owned();
            let vstart = rest.find("value=\"").unwrap() + 7;
            let value = rest[vstart..vstart + rest[vstart..].find('"').unwrap()].to_owned();
            (name, value.replace("&amp;", "&").replace("&quot;", "\""))
        })
        .collect()
}

fn cookies(resp: &reqwest::Response, jar: &mut BTreeMap<String, String>) {
    for v in resp.headers().get_all("set-cookie") {
        let pair = v.to_str().unwrap().split(';').next().unwrap();
        let (k, v) = pair.split_once('=').unwrap();
        jar.insert(k.into(), v.into());
    }
}

fn jar_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn login_in_the_browser_then_call_as_that_person() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    ws.admin_ok(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--full-name",
            "Alice Liddell",
        ],
        "wonderland\n",
    );
    let out = ws.admin_ok(
        &[
            "client",
            "create",
            "--name",
            "CLI",
            "--public",
            "--first-party",
            "--json",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v.get("client_secret").is_none(),
        "a public client has no secret: {out}"
    );
    let client_id = v["client_id"].as_str().unwrap().to_owned();

    let home = login_home(&server.base, "me", &client_id, "[\"openid\", \"profile\"]");
    let env = |c: &mut Command| home.env(c);

    let mut login = Command::new(BIN);
    login.args([
        "login",
        "--profile",
        "me",
        "--no-browser",
        "--timeout",
        "30",
    ]);
    env(&mut login);
    let mut child = login.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let url = sign_in_url(&mut stderr);
    assert!(url.contains("code_challenge_method=S256"), "{url}");

    // The person, in the browser.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = BTreeMap::new();
    let page = http.get(&url).send().await.unwrap();
    cookies(&page, &mut jar);
    let html = page.text().await.unwrap();
    let mut form = hidden(&html);
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), "wonderland".into()));
    let back = http
        .post(format!("{}/oauth2/authorize/sign-in", server.base))
        .header("cookie", jar_header(&jar))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303, "{}", back.text().await.unwrap());
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let landed = http.get(&location).send().await.unwrap();
    assert_eq!(landed.status(), 200);
    assert!(landed.text().await.unwrap().contains("Signed in"));

    let status = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        (child.wait().unwrap(), rest)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "login failed: {}", status.1);

    // Later: an API call as alice, from the cache.
    let mut call = Command::new(BIN);
    call.args([
        "call",
        "--profile",
        "me",
        &format!("{}/userinfo", server.base),
    ]);
    env(&mut call);
    let out = call.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\"sub\": \"alice\"") && text.contains("Alice Liddell"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// `tollgate login --device` (RFC 8628): the binary prints a code and an
/// address; the person enters the code on the `/device` page (played over
/// HTTP), signs in and allows; the binary's poll then gets the tokens.
#[tokio::test]
async fn login_on_another_device_then_call_as_that_person() {
    let ws = Workspace::new();
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(ws.config(), format!("device_poll_interval = 1\n{cfg}")).unwrap();
    let server = ws.serve(&[]);
    ws.admin_ok(
        &["user", "create", "--username", "alice", "--password-stdin"],
        "wonderland\n",
    );
    let out = ws.admin_ok(
        &[
            "client",
            "create",
            "--name",
            "Kiosk",
            "--public",
            "--json",
            "--grant",
            "device_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let client_id = v["client_id"].as_str().unwrap().to_owned();
    let home = login_home(&server.base, "tv", &client_id, "[\"openid\"]");
    let env = |c: &mut Command| home.env(c);
    let mut login = Command::new(BIN);
    login.args(["login", "--profile", "tv", "--device", "--timeout", "30"]);
    env(&mut login);
    let mut child = login.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let (address, code) = line
        .trim()
        .strip_prefix("To sign in, open ")
        .and_then(|rest| rest.split_once(" on any device and enter the code "))
        .unwrap_or_else(|| panic!("no code said: {line}"));
    assert_eq!(address, format!("{}/device", server.base));
    assert_eq!(code.len(), 9, "{code}");

    // The person, on another screen: the short address, the code typed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(2))
        .build()
        .unwrap();
    let mut jar = BTreeMap::new();
    let page = http.get(address).send().await.unwrap();
    cookies(&page, &mut jar);
    let mut form = hidden(&page.text().await.unwrap());
    form.push(("user_code".into(), code.to_lowercase()));
    let post = |jar: &BTreeMap<String, String>, path: &str, form: Vec<(String, String)>| {
        http.post(format!("{}{path}", server.base))
            .header("cookie", jar_header(jar))
            .form(&form)
            .send()
    };
    let sign_in = post(&jar, "/oauth2/device", form).await.unwrap();
    let sign_in = sign_in.text().await.unwrap();
    let mut form = hidden(&sign_in);
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), "wonderland".into()));
    let confirm = post(&jar, "/oauth2/device/sign-in", form).await.unwrap();
    cookies(&confirm, &mut jar);
    let mut form = hidden(&confirm.text().await.unwrap());
    form.push(("decision".into(), "allow".into()));
    let done = post(&jar, "/oauth2/device/confirm", form).await.unwrap();
    assert!(done.text().await.unwrap().contains("Device connected"));

    let (status, rest) = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        (child.wait().unwrap(), rest)
    })
    .await
    .unwrap();
    assert!(status.success(), "login --device failed: {rest}");
    assert!(rest.contains("Signed in"), "{rest}");

    let mut call = Command::new(BIN);
    call.args([
        "call",
        "--profile",
        "tv",
        &format!("{}/userinfo", server.base),
    ]);
    env(&mut call);
    let out = call.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text} {err}");
    assert!(text.contains("\"sub\": \"alice\""), "{text}");
}

#[test]
fn login_without_a_sign_in_gives_up_clearly() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["login", "--no-browser", "--timeout", "1"])
        .args([
            "--token-url",
            &format!("{}/oauth2/token.oauth2", server.base),
        ])
        .args(["--client-id", "nobody"])
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("HOME", home.path())
        .env_remove("TOLLGATE_CLIENT_SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Sign in at: "), "{stderr}");
    assert!(stderr.contains("no sign-in within 1 s"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Mix-up defence (RFC 9700 §4.4, RFC 9207): a redirect naming another
/// issuer is refused, even with the right state.
#[tokio::test]
async fn a_redirect_from_another_issuer_is_refused() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["login", "--no-browser", "--timeout", "20"])
        .args([
            "--token-url",
            &format!("{}/oauth2/token.oauth2", server.base),
        ])
        .args(["--client-id", "nobody"])
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("HOME", home.path())
        .env_remove("TOLLGATE_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let url = reqwest::Url::parse(&sign_in_url(&mut stderr)).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let mut forged = reqwest::Url::parse(&param("redirect_uri")).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("code", "attacker-code")
        .append_pair("state", &param("state"))
        .append_pair("iss", "https://evil.example");
    let _ = reqwest::get(forged).await.unwrap();
    let (status, rest) = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        (child.wait().unwrap(), rest)
    })
    .await
    .unwrap();
    assert!(!status.success());
    assert!(rest.contains("issuer `https://evil.example`"), "{rest}");
    drop(server);
}

/// A home directory for a person at a terminal, with a config file whose
/// profile `name` signs in (`login = true`) as the public client `client_id`.
struct Home(tempfile::TempDir);

impl Home {
    /// `c` runs in this home, with no client secret in its environment.
    fn env(&self, c: &mut Command) {
        let home = self.0.path();
        c.env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("HOME", home)
            .env_remove("TOLLGATE_CLIENT_SECRET")
            .stdin(Stdio::null());
    }
}

fn login_home(base: &str, name: &str, client_id: &str, scopes: &str) -> Home {
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("config/tollgate");
    std::fs::create_dir_all(&config_dir).unwrap();
    let profile = format!(
        "[profiles.{name}]\ntoken_url = \"{base}/oauth2/token.oauth2\"\nclient_id = \"{client_id}\"\nscopes = {scopes}\nlogin = true\n"
    );
    std::fs::write(config_dir.join("config.toml"), profile).unwrap();
    Home(home)
}

/// The address `tollgate login` prints for the person to open.
fn sign_in_url(stderr: &mut impl BufRead) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "login said no URL"
        );
        if let Some(u) = line.trim().strip_prefix("Sign in at: ") {
            return u.to_owned();
        }
    }
}
