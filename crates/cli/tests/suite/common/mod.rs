//! Runs the real `tollgate` binary: servers on loopback port 0 (the bound
//! address read from the JSON log), admin commands with stdin.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// A temp dir with a config file (cheap argon2) and a database path.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = "[argon2]\nmemory_kib = 256\niterations = 1\nparallelism = 1\n";
        std::fs::write(dir.path().join("tollgate.toml"), cfg).unwrap();
        Self { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("tollgate.toml")
    }

    pub fn database(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("tollgate.db").display())
    }

    /// `tollgate admin ...` on this workspace's database, with `stdin`.
    pub fn admin(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("admin")
            .args(["--database", &self.database()])
            .arg("--config")
            .arg(self.config())
            .args(args);
        run_with_stdin(cmd, stdin)
    }

    /// Like `admin`, but the command must succeed; returns stdout.
    pub fn admin_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.admin(args, stdin);
        assert!(
            out.status.success(),
            "admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `admin client create ... --json`, returning (id, secret).
    pub fn create_client(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["client", "create", "--name", "t", "--json"];
        all.extend_from_slice(args);
        let out = self.admin_ok(&all, "");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            v["client_id"].as_str().unwrap().into(),
            v["client_secret"].as_str().unwrap().into(),
        )
    }

    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec![
            "--database".to_owned(),
            self.database(),
            "--config".to_owned(),
        ];
        args.push(self.config().display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start(&args, &[])
    }
}

pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A running `tollgate serve` child process.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `tollgate serve --listen 127.0.0.1:0 --log-format json ARGS`.
    pub fn start(args: &[String], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stderr.take().unwrap(), logs.clone(), Some(tx));
        drain(child.stdout.take().unwrap(), stdout.clone(), None);
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("server did not start: {:?}", logs.lock().unwrap())
            });
        Self {
            child,
            base: format!("http://{addr}"),
            logs,
            stdout,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then wait; returns whether it exited successfully.
    pub fn stop(mut self) -> bool {
        self.signal("-TERM");
        self.child.wait().unwrap().success()
    }

    /// What the server printed on stdout, once it holds `needle` (or after
    /// 10 s): stdout and the stderr that announced the address are read by
    /// separate threads, so the banner may still be in flight.
    pub fn stdout_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.stdout.lock().unwrap().join("\n");
            if text.contains(needle) || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies lines into `sink`; sends the bound address once it is logged.
fn drain(
    pipe: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<Vec<String>>>,
    tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &tx {
                if let Some(addr) = listen_addr(&line) {
                    let _ = tx.send(addr);
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
}

fn listen_addr(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["fields"]["message"] != "tollgate listening" {
        return None;
    }
    v["fields"]["listen"].as_str().map(str::to_owned)
}

pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req = http
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

pub async fn token(
    server: &Server,
    id: &str,
    secret: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    post_form(
        &reqwest::Client::new(),
        &server.url("/oauth2/token.oauth2"),
        &basic(id, secret),
        &[],
        body,
    )
    .await
}

pub async fn active(server: &Server, id: &str, secret: &str, tok: &str) -> bool {
    let body = format!("token={tok}");
    let (status, v) = post_form(
        &reqwest::Client::new(),
        &server.url("/oauth2/introspect.oauth2"),
        &basic(id, secret),
        &[("api-key", id)],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["active"].as_bool().unwrap()
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// An access token with scope `tollgate:admin` for this client.
pub async fn admin_token(server: &Server, id: &str, secret: &str) -> String {
    let body = "grant_type=client_credentials&scope=tollgate%3Aadmin";
    let (status, v) = token(server, id, secret, body).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// `GET /admin/v1{path}` with an admin token, read as JSON.
pub async fn admin_get(server: &Server, admin: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(server.url(&format!("/admin/v1{path}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
