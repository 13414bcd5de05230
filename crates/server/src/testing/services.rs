//! Throwaway PostgreSQL and Redis for tests: started from the installed
//! binaries in a temp dir on a free loopback port, stopped on drop. Where the
//! binaries are absent, `start` prints why and returns `None`, so the test
//! can skip loudly — and under `CI=true` it fails instead ([`skip`]). `initdb` refuses to run as root, so as root the
//! PostgreSQL binaries run as the `postgres` user (Debian's package creates
//! it) on a directory it owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A test cannot run here because `reason`: says so on stderr, and under
/// `CI=true` (where `.ci/run` installs every tool) fails the test instead,
/// so a missing tool is never reported as a pass.
#[allow(clippy::panic)]
pub fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("CI is set, so this test may not skip: {reason}");
    }
}

/// A free loopback port (there is a small race until the server binds it).
pub(super) fn free_port() -> Option<u16> {
    TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()
        .map(|a| a.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then Debian's
/// versioned directories, newest first.
fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// A PostgreSQL cluster of our own.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    pub port: u16,
    next_db: std::sync::atomic::AtomicU32,
}

impl Postgres {
    /// initdb + pg_ctl start, or `None` (with the reason printed).
    pub fn start() -> Option<Self> {
        let Some(bin) = pg_bin_dir() else {
            skip("PostgreSQL binaries (initdb, pg_ctl) are not installed; .ci/run installs them");
            return None;
        };
        let as_postgres = is_root();
        let dir = tempfile::tempdir().ok()?;
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status();
            if !ok.is_ok_and(|s| s.success()) {
                skip("running as root but cannot hand a directory to the `postgres` user");
                return None;
            }
        }
        let pg = Self {
            bin,
            port: free_port()?,
            dir,
            as_postgres,
            next_db: std::sync::atomic::AtomicU32::new(0),
        };
        let data = pg.data().display().to_string();
        let init = pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        if !init {
            skip("initdb failed (see above)");
            return None;
        }
        pg.start_again().then_some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> bool {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts (or restarts) the server on the same port and data.
    pub fn start_again(&self) -> bool {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("log").display().to_string();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "30", "start",
            ],
        )
    }

    /// Stops the server at once (as a crash would).
    pub fn stop(&self) -> bool {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A fresh, empty database; returns its URL.
    pub async fn fresh_database(&self) -> Option<String> {
        use sqlx::Connection;
        let n = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .ok()?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .ok()?;
        Some(self.url(&name))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The cluster tests running at the same time share, started by the
/// first of them and stopped when the last lets go.
static SHARED_POSTGRES: std::sync::Mutex<std::sync::Weak<Postgres>> =
    std::sync::Mutex::new(std::sync::Weak::new());

impl Postgres {
    /// A cluster shared with the tests running beside this one (each takes
    /// a [`fresh_database`](Self::fresh_database)); `None` as [`start`](Self::start).
    pub fn shared() -> Option<std::sync::Arc<Self>> {
        let mut slot = SHARED_POSTGRES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pg) = slot.upgrade() {
            return Some(pg);
        }
        let pg = std::sync::Arc::new(Self::start()?);
        *slot = std::sync::Arc::downgrade(&pg);
        Some(pg)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis server of our own, without persistence.
#[derive(Debug)]
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts `redis-server`, or `None` (with the reason printed).
    pub fn start() -> Option<Self> {
        let mut r = Self {
            port: free_port()?,
            child: None,
        };
        if r.start_again() {
            Some(r)
        } else {
            skip("redis-server is not installed or did not start; .ci/run installs it");
            None
        }
    }

    /// Starts (or restarts) on the same port; waits until it accepts connections.
    pub fn start_again(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `chromedriver` of our own, for tests that drive headless Chromium
/// through WebDriver (Debian's `chromium` and `chromium-driver`).
#[derive(Debug)]
pub struct ChromeDriver {
    pub port: u16,
    child: Child,
}

impl ChromeDriver {
    /// Starts `chromedriver` on a free loopback port, or `None` (with the
    /// reason printed; a failure under `CI=true`).
    pub fn start() -> Option<Self> {
        let port = free_port()?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            skip("chromedriver is not installed; .ci/run installs chromium and chromium-driver");
            return None;
        };
        let driver = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(driver);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        skip("chromedriver did not start within 20 s");
        None
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// WebDriver capabilities for headless Chromium: as root (CI
    /// containers) it needs `--no-sandbox`.
    pub fn capabilities() -> serde_json::Map<String, serde_json::Value> {
        let options = serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1024,768"],
        });
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        caps
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
