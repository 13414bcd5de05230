//! The client subcommands (issue 4) as a person runs them: the real binary
//! against a real `tollgate serve` on a loopback port, with their own
//! XDG cache and config directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Server, Workspace, BIN};

mod output;

/// A client's environment: its own cache and config directories.
struct Client {
    home: tempfile::TempDir,
    base: String,
}

impl Client {
    fn new(server: &Server) -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            base: server.base.clone(),
        }
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache/tollgate")
    }

    fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("HOME", self.home.path())
            .env_remove("TOLLGATE_CLIENT_SECRET")
            .env_remove("TOLLGATE_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.cmd(args, env).output().unwrap()
    }

    /// Runs with the demo-like credentials of `id`/`secret` against the server.
    fn as_client(&self, id: &str, secret: &str, args: &[&str]) -> Output {
        let token_url = format!("{}/oauth2/token.oauth2", self.base);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--token-url", &token_url, "--client-id", id]);
        self.run(&all, &[("TOLLGATE_CLIENT_SECRET", secret)])
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Token requests the server has answered, whatever the outcome.
async fn token_requests(server: &Server) -> u64 {
    let m = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .filter(|l| l.starts_with("tollgate_token_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn demo_apis_server(ws: &Workspace, extra_config: &str) -> Server {
    let cfg = ws.dir.path().join("server.toml");
    let base = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(&cfg, format!("demo_apis = true\n{extra_config}\n{base}")).unwrap();
    let args = [
        "--database".to_owned(),
        ws.database(),
        "--config".to_owned(),
        cfg.display().to_string(),
    ];
    Server::start(&args, &[])
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Acceptance: two calls in a row make one token request; the cache is
/// private and holds no secret.
#[tokio::test]
async fn two_calls_make_one_token_request() {
    let ws = Workspace::new();
    let (id, secret) = ws.create_client(&["--scope", "locations:read"]);
    let server = demo_apis_server(&ws, "");
    let c = Client::new(&server);
    let url = server.url("/locations");
    let mut outputs = String::new();
    for _ in 0..2 {
        let o = c.as_client(&id, &secret, &["call", &url, "--scope", "locations:read"]);
        outputs.push_str(&ok(&o));
        outputs.push_str(&text(&o.stderr));
        assert!(text(&o.stdout).contains("\"items\""));
    }
    assert_eq!(token_requests(&server).await, 1);
    let files: Vec<PathBuf> = std::fs::read_dir(c.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    #[cfg(unix)]
    {
        assert_eq!(mode(&c.cache_dir()), 0o700);
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }
    for f in &files {
        let content = std::fs::read_to_string(f).unwrap();
        assert!(!content.contains(&secret), "secret in {}", f.display());
    }
    assert!(!outputs.contains(&secret));
    assert!(server.stop());
}

#[tokio::test]
async fn eight_parallel_processes_make_one_token_request() {
    let ws = Workspace::new();
    let (id, secret) = ws.create_client(&[]);
    let server = ws.serve(&[]);
    let c = Client::new(&server);
    let token_url = format!("{}/oauth2/token.oauth2", server.base);
    let children: Vec<_> = (0..8)
        .map(|_| {
            c.cmd(
                &["token", "--token-url", &token_url, "--client-id", &id],
                &[("TOLLGATE_CLIENT_SECRET", &secret)],
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let tokens: Vec<String> = children
        .into_iter()
        .map(|ch| ok(&ch.wait_with_output().unwrap()).trim().to_owned())
        .collect();
    assert!(
        tokens
            .iter()
            .all(|t| t == &tokens[0] && t.starts_with("tga_")),
        "{tokens:?}"
    );
    assert_eq!(token_requests(&server).await, 1);
    assert!(server.stop());
}

#[tokio::test]
async fn each_auth_mode_and_grant_with_an_awkward_secret() {
    let ws = Workspace::new();
    let awkward = "a+b%2F:c/d";
    ws.admin_ok(
        &[
            "client",
            "create",
            "--name",
            "x",
            "--client-id",
            "awk",
            "--secret-stdin",
            "--grant",
            "client_credentials",
            "--grant",
            "password",
        ],
        &format!("{awkward}\n"),
    );
    ws.admin_ok(
        &[
            "client",
            "create",
            "--name",
            "p",
            "--client-id",
            "awk-post",
            "--secret-stdin",
            "--auth-method",
            "post",
        ],
        &format!("{awkward}\n"),
    );
    ws.admin_ok(
        &["user", "create", "--username", "alice", "--password-stdin"],
        "pw\n",
    );
    let server = ws.serve(&[]);
    let c = Client::new(&server);
    for mode in ["basic", "basic-raw"] {
        let o = c.as_client(
            "awk",
            awkward,
            &["token", "--no-cache", "--auth-method", mode],
        );
        assert!(ok(&o).starts_with("tga_"), "{mode}");
        let token_url = format!("{}/oauth2/token.oauth2", server.base);
        let pw = c.run(
            &[
                "token",
                "--no-cache",
                "--auth-method",
                mode,
                "--token-url",
                &token_url,
                "--client-id",
                "awk",
                "--username",
                "alice",
            ],
            &[
                ("TOLLGATE_CLIENT_SECRET", awkward),
                ("TOLLGATE_PASSWORD", "pw"),
            ],
        );
        assert!(ok(&pw).starts_with("tga_"), "{mode} password");
    }
    let o = c.as_client(
        "awk-post",
        awkward,
        &["token", "--no-cache", "--auth-method", "post"],
    );
    assert!(ok(&o).starts_with("tga_"));
    // Secrets from stdin and from a file work as well as the environment.
    let token_url = format!("{}/oauth2/token.oauth2", server.base);
    let o = crate::common::run_with_stdin(
        c.cmd(
            &[
                "token",
                "--no-cache",
                "--token-url",
                &token_url,
                "--client-id",
                "awk",
                "--client-secret-stdin",
            ],
            &[],
        ),
        &format!("{awkward}\n"),
    );
    assert!(ok(&o).starts_with("tga_"));
    let file = c.home.path().join("secret");
    std::fs::write(&file, format!("{awkward}\n")).unwrap();
    let o = c.run(
        &[
            "token",
            "--no-cache",
            "--token-url",
            &token_url,
            "--client-id",
            "awk",
            "--client-secret-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok(&o).starts_with("tga_"));
    // --json: the whole response.
    let o = c.as_client("awk", awkward, &["token", "--json", "--no-cache"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(
        (v["token_type"].as_str(), v["expires_in"].as_u64()),
        (Some("bearer"), Some(3600))
    );
    assert!(server.stop());
}

/// Revoked behind the cache's back: the call gets invalid_token, a new
/// token, retries once, and the cache holds the new token.
#[tokio::test]
async fn a_rejected_cached_token_is_replaced() {
    let ws = Workspace::new();
    let (id, secret) = ws.create_client(&["--scope", "locations:read"]);
    let server = demo_apis_server(&ws, "");
    let c = Client::new(&server);
    let url = server.url("/locations");
    ok(&c.as_client(&id, &secret, &["call", &url, "--scope", "locations:read"]));
    let first = ok(&c.as_client(&id, &secret, &["token", "--scope", "locations:read"]))
        .trim()
        .to_owned();
    let (status, _) = crate::common::post_form(
        &reqwest::Client::new(),
        &server.url("/oauth2/revoke.oauth2"),
        &crate::common::basic(&id, &secret),
        &[],
        &format!("token={first}"),
    )
    .await;
    assert_eq!(status, 200);
    let o = c.as_client(&id, &secret, &["call", &url, "--scope", "locations:read"]);
    assert!(ok(&o).contains("\"items\""));
    let second = ok(&c.as_client(&id, &secret, &["token", "--scope", "locations:read"]))
        .trim()
        .to_owned();
    assert_ne!(first, second, "the cache holds the replacement");
    assert_eq!(token_requests(&server).await, 2);
    assert!(server.stop());
}

/// A real upstream behind a gateway route, to see what `call` sends.
async fn echo_upstream() -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    let app = axum::Router::new().fallback(|method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
        let status = if uri.path().ends_with("/missing") { axum::http::StatusCode::NOT_FOUND } else { axum::http::StatusCode::OK };
        let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let custom = headers.get("x-custom").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = serde_json::json!({"method": method.as_str(), "path": uri.path(), "content_type": ct, "x_custom": custom, "body": String::from_utf8_lossy(&body), "name": "Zoë", "n": 1.5});
        (status, axum::Json(body))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_sends_methods_headers_and_bodies() {
    let upstream = echo_upstream().await;
    let ws = Workspace::new();
    let (id, secret) = ws.create_client(&[]);
    let server = demo_apis_server(
        &ws,
        &format!("[[routes]]\npath_prefix = \"/echo\"\nupstream = \"{upstream}\"\n"),
    );
    let c = Client::new(&server);
    let url = server.url("/echo/things");
    let json = |o: &Output| serde_json::from_str::<serde_json::Value>(&ok(o)).unwrap();
    let v = json(&c.as_client(&id, &secret, &["call", &url, "-H", "X-Custom: yes"]));
    assert_eq!(
        (v["method"].as_str(), v["x_custom"].as_str()),
        (Some("GET"), Some("yes"))
    );
    let v = json(&c.as_client(&id, &secret, &["call", &url, "-d", "a=1&b=2"]));
    assert_eq!(
        (v["method"].as_str(), v["body"].as_str()),
        (Some("POST"), Some("a=1&b=2"))
    );
    assert_eq!(v["content_type"], "application/x-www-form-urlencoded");
    let file = c.home.path().join("body.json");
    std::fs::write(&file, r#"{"k":"v"}"#).unwrap();
    let at = format!("@{}", file.display());
    let v = json(&c.as_client(
        &id,
        &secret,
        &[
            "call",
            "put",
            &url,
            "-d",
            &at,
            "-H",
            "Content-Type: application/json",
        ],
    ));
    assert_eq!(
        (
            v["method"].as_str(),
            v["body"].as_str(),
            v["content_type"].as_str()
        ),
        (Some("PUT"), Some(r#"{"k":"v"}"#), Some("application/json"))
    );
    let token_url = format!("{}/oauth2/token.oauth2", server.base);
    let o = crate::common::run_with_stdin(
        c.cmd(
            &[
                "call",
                &url,
                "-d",
                "@-",
                "--token-url",
                &token_url,
                "--client-id",
                &id,
            ],
            &[("TOLLGATE_CLIENT_SECRET", &secret)],
        ),
        "from stdin",
    );
    assert_eq!(json(&o)["body"], "from stdin");
    // Key order kept, pretty-printed, not coloured on a pipe; -i adds the status and headers.
    let o = c.as_client(&id, &secret, &["call", &url, "-i"]);
    let out = ok(&o);
    assert!(out.starts_with("HTTP/1.1 200 OK\n"), "{out}");
    assert!(out.contains("\ncontent-type: application/json"), "{out}");
    assert!(
        out.contains("{\n  \"method\": \"GET\",\n  \"path\": \"/echo/things\""),
        "{out}"
    );
    assert!(
        out.contains("\"name\": \"Zoë\"") && !out.contains('\x1b'),
        "{out}"
    );
    let coloured = ok(&c.as_client(&id, &secret, &["call", &url, "--color", "always"]));
    assert!(coloured.contains("\x1b["), "{coloured}");
    // Non-2xx: the body still printed, a one-line reason on stderr, exit 1.
    let o = c.as_client(&id, &secret, &["call", &server.url("/echo/missing")]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("404 Not Found"), "{err}");
    assert!(text(&o.stdout).contains("\"path\""));
    assert!(server.stop());
}

#[tokio::test]
async fn introspect_and_revoke_exit_codes() {
    let ws = Workspace::new();
    let (id, secret) = ws.create_client(&[]);
    let server = ws.serve(&[]);
    let c = Client::new(&server);
    let own = c.as_client(&id, &secret, &["introspect"]);
    assert_eq!(own.status.code(), Some(0), "{}", text(&own.stderr));
    assert!(text(&own.stdout).contains("\"active\": true"));
    let token = ok(&c.as_client(&id, &secret, &["token"])).trim().to_owned();
    let o = c.as_client(
        &id,
        &secret,
        &["introspect", &token, "--hint", "access_token"],
    );
    assert_eq!(o.status.code(), Some(0));
    ok(&c.as_client(&id, &secret, &["revoke", &token]));
    let o = c.as_client(&id, &secret, &["introspect", &token]);
    assert_eq!(o.status.code(), Some(1), "inactive: exit 1");
    assert_eq!(text(&o.stdout).trim(), "{\n  \"active\": false\n}");
    // Explicit URLs, and a wrong one, are honoured.
    let url = format!("--introspect-url={}", server.url("/nope"));
    let o = c.as_client(&id, &secret, &["introspect", "tga_x", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("404"), "{}", text(&o.stderr));
    assert!(server.stop());
}
