//! A real server for other crates' tests (feature `testing`): SQLite in a
//! temp dir, an ephemeral loopback port, cheap argon2, a clock of your
//! choice, and helpers to register clients and users; and throwaway
//! PostgreSQL and Redis servers, and nginx and Caddy in front of a server,
//! started from the installed binaries; a throwaway certificate authority.

mod ca;
mod proxies;
mod services;

pub use ca::{certs, Ca, Issued};
pub use proxies::Proxy;
pub use services::{skip, ChromeDriver, Postgres, Redis};

use std::path::PathBuf;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_proto::admin::{ClientRegistration, Role};

use crate::admin::{self, NewUser};
use crate::clock::Clock;
use crate::config::{Argon2Params, Config, FileConfig};
use crate::state::AppState;

/// A server running in this process until [`Spawned::stop`].
#[derive(Debug)]
pub struct Spawned {
    pub base: String,
    /// With `admin_listen` set: the admin API's own address.
    pub admin_base: Option<String>,
    pub state: AppState,
    pub db_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts a server; `tweak` adjusts the configuration first.
///
/// # Panics
/// When the temp dir, the port or the database cannot be had: test set-up.
#[allow(clippy::expect_used)]
pub async fn spawn(clock: Clock, tweak: impl FnOnce(&mut FileConfig)) -> Spawned {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("tollgate.db");
    let mut file = FileConfig {
        listen: Some(([127, 0, 0, 1], 0).into()),
        database: Some(format!("sqlite://{}", db_path.display())),
        argon2: Some(Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }),
        ..FileConfig::default()
    };
    tweak(&mut file);
    let wanted = file.listen.unwrap_or(([127, 0, 0, 1], 0).into());
    let listener = tokio::net::TcpListener::bind(wanted).await.expect("bind");
    let local = listener.local_addr().expect("local addr");
    file.listen = Some(local);
    let admin = match file.admin_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .expect("bind admin"),
        ),
        None => None,
    };
    let admin_base = admin
        .as_ref()
        .map(|l| format!("http://{}", l.local_addr().expect("admin addr")));
    let config = Config::try_from(file).expect("valid test config");
    let base = format!("http://{local}");
    let store = crate::store::open(&config.database).await.expect("store");
    seed_keys(store.as_ref()).await;
    let state = AppState::new(config, store, clock).expect("state");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(crate::run_with_admin(
        listener,
        admin,
        state.clone(),
        async {
            let _ = rx.await;
        },
    ));
    Spawned {
        base,
        admin_base,
        state,
        db_path,
        shutdown: Some(tx),
        task: Some(task),
        _dir: dir,
    }
}

/// Gives a test server the signing keys it would make at first start, from
/// one set made per test process: an RSA key takes a few hundred ms to
/// make, which every server of a suite would otherwise spend. The keys are
/// like any made by `oauth::keys::ensure`, published and signing from 0.
#[allow(clippy::expect_used)]
async fn seed_keys(store: &dyn crate::store::Store) {
    static SEED: std::sync::OnceLock<Vec<crate::store::SigningKey>> = std::sync::OnceLock::new();
    let keys = SEED.get_or_init(|| {
        tollgate_proto::jose::SigningAlg::ALL
            .into_iter()
            .map(|alg| crate::oauth::keys::generate(alg, 0, 0).expect("a test key"))
            .collect()
    });
    if !store.signing_keys().await.expect("read keys").is_empty() {
        return;
    }
    for (slot, key) in (0_i64..).zip(keys) {
        store
            .insert_signing_key(key, Some(slot))
            .await
            .expect("seed a key");
    }
}

impl Spawned {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Registers a client (its settings, or a whole registration); returns
    /// its id and secret.
    #[allow(clippy::expect_used)]
    pub async fn register(&self, reg: impl Into<ClientRegistration>) -> (String, String) {
        let (c, secret) = admin::create_client(
            self.state.store().as_ref(),
            self.state.clock().now_secs(),
            reg.into(),
        )
        .await
        .expect("register client");
        (c.client_id, secret)
    }

    /// Registers a user (`USERNAME@example.com`).
    pub async fn user(&self, username: &str, password: &str, full_name: &str) {
        self.person(username, password, full_name, &[]).await;
    }

    /// Registers a user with console roles (`admin`, `developer`).
    #[allow(clippy::expect_used)]
    pub async fn person(&self, username: &str, password: &str, full_name: &str, roles: &[&str]) {
        let new = NewUser {
            username: username.into(),
            password: password.into(),
            full_name: Some(full_name.into()),
            email: Some(format!("{username}@example.com")),
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        };
        admin::create_user(
            self.state.store().as_ref(),
            self.state.oauth().passwords(),
            self.state.clock().now_secs(),
            new,
        )
        .await
        .expect("register user");
    }

    /// Token requests answered with a token, by grant.
    pub fn issued(&self, grant: &'static str) -> u64 {
        self.state.metrics().token_count(grant, "issued")
    }

    /// Stops the server, waits for it, and checks it stopped cleanly.
    ///
    /// Breaks the database under the running server, as a bad migration
    /// or an operator's mistake would: every table is renamed away, so
    /// each statement fails with the driver's own words ("no such table").
    ///
    /// # Panics
    /// When the database file cannot be opened or altered: test set-up.
    #[allow(clippy::expect_used)]
    pub async fn break_database(&self) {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}", self.db_path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("open the database");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables");
        for (name,) in tables {
            sqlx::query(&format!("ALTER TABLE \"{name}\" RENAME TO \"{name}_gone\""))
                .execute(&mut conn)
                .await
                .expect("rename a table");
        }
        conn.close().await.expect("close");
    }

    /// # Panics
    /// When the server task failed.
    #[allow(clippy::expect_used)]
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS:`, `VmHWM:`), for tests
/// that bound what callers can cost; `pid` may be `self`.
pub fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Polls `check` every 20 ms until it holds, and returns how long that took:
/// for changes a server applies within its poll interval (`change_poll_ms`).
///
/// # Panics
/// When `check` still fails after `limit`, naming `what`.
#[allow(clippy::panic)]
pub async fn within<F, Fut>(
    limit: std::time::Duration,
    what: &str,
    mut check: F,
) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        if started.elapsed() > limit {
            panic!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
