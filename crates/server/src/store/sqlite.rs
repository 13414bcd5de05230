//! SQLite store: the embedded default.
//!
//! Reads go through a small pool (WAL lets them run beside the writer).
//! Token inserts, the hot write, are group-committed by a thread of their
//! own (`sqlite_writer`): every insert waiting at that moment goes into one
//! transaction, so a burst of N token requests costs one fsync rather than
//! N, and each caller is answered only after its rows are committed
//! (`synchronous=FULL`). Every other write goes through one sqlx
//! connection; the two take one write turn. An in-memory database
//! (`sqlite::memory:`) uses one sqlx connection for everything, token
//! inserts included, since each connection would otherwise see a database
//! of its own.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, Sqlite, SqlitePool};
use tokio::sync::Mutex;

use super::group_commit::GroupCommit;
use super::sql::{Arg, Backend, Conn, Record, Stmt, Writing};
use super::tokens::{self, TokenQueue};
use super::{sqlite_writer, StoreError, StoreResult, TokenRecord};

async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    sqlx::migrate!("./migrations/sqlite")
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
}

/// How long a connection waits for another's write lock before "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite database, file or in-memory.
#[derive(Debug)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    writer: GroupCommit,
    /// The process's write turn: held by each write through `write` and by
    /// the token writer thread for each batch.
    turn: Arc<Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    ///
    /// Several processes may open a new database at the same moment (a
    /// server starting while `tollgate admin` runs): switching it to WAL and
    /// creating its tables take locks SQLite does not wait for, and only one
    /// process applies a migration. The others are told "locked" or find
    /// the migration's work done, and try again, for up to about three
    /// seconds.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let mut attempt: u64 = 1;
        loop {
            match Self::open_once(url).await {
                Err(e) if attempt < 8 && opening_raced(&e) => {
                    tracing::debug!(error = %e, attempt, "opening the database raced another process; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn open_once(url: &str) -> StoreResult<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let file = base.get_filename().to_owned();

        // Read connections open after the migrations: one opened before
        // would prepare `SELECT *` against the schema it loaded then.
        let (read, write) = if in_memory {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base)
                .await
                .map_err(db_err)?;
            migrate(&pool).await?;
            (pool.clone(), pool)
        } else {
            let opts = base
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .pragma("temp_store", "memory");
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(opts.clone())
                .await
                .map_err(db_err)?;
            migrate(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(opts.read_only(true))
                .await
                .map_err(db_err)?;
            (read, write)
        };

        let turn = Arc::new(Mutex::new(()));
        let writer = if in_memory {
            let pool = write.clone();
            GroupCommit::spawn(move |rows| {
                let pool = pool.clone();
                async move {
                    let mut conn = pool.acquire().await.map_err(db_err)?;
                    tokens::insert(&mut *conn, &rows).await
                }
            })
        } else {
            sqlite_writer::spawn(&file, BUSY_TIMEOUT, turn.clone())?
        };
        Ok(Self {
            read,
            write,
            writer,
            turn,
        })
    }
}

/// Whether opening may have failed because another process was opening the
/// same new database at that moment: a lock, or a migration that found its
/// work done ("already exists", "duplicate column"). A migration that fails
/// for a reason of its own fails again, and is reported then.
fn opening_raced(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(m) => m.contains("locked") || m.contains("busy"),
        StoreError::Backend(m) => m.starts_with("migration failed"),
        _ => false,
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type Read = PoolConnection<Sqlite>;
    type Write = Writing<Sqlite>;

    /// SQLite's one writer connection serialises updates; no row lock needed.
    const FOR_UPDATE: &'static str = "";

    async fn read(&self) -> StoreResult<Self::Read> {
        self.read.acquire().await.map_err(db_err)
    }

    /// The write connection, once it is this caller's turn to write.
    async fn writing(&self) -> StoreResult<Self::Write> {
        let turn = self.turn.clone().lock_owned().await;
        let conn = self.write.acquire().await.map_err(db_err)?;
        Ok(Writing::new(conn, Some(turn)))
    }

    async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
        self.write.close().await;
    }
}

#[async_trait]
impl TokenQueue for SqliteStore {
    async fn queue_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()> {
        self.writer.insert(tokens).await
    }
}

#[async_trait]
impl Conn for SqliteConnection {
    type Tx<'c> = sqlx::Transaction<'c, Sqlite>;

    async fn execute(&mut self, stmt: Stmt<'_>) -> StoreResult<u64> {
        let done = sqlx::query_with(&stmt.sql, arguments(&stmt.args)?)
            .execute(self)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn fetch_optional<R: Record>(&mut self, stmt: Stmt<'_>) -> StoreResult<Option<R>> {
        sqlx::query_as_with(&stmt.sql, arguments(&stmt.args)?)
            .fetch_optional(self)
            .await
            .map_err(db_err)
    }

    async fn fetch_all<R: Record>(&mut self, stmt: Stmt<'_>) -> StoreResult<Vec<R>> {
        sqlx::query_as_with(&stmt.sql, arguments(&stmt.args)?)
            .fetch_all(self)
            .await
            .map_err(db_err)
    }

    async fn begin(&mut self) -> StoreResult<Self::Tx<'_>> {
        sqlx::Connection::begin(self).await.map_err(db_err)
    }

    async fn commit(tx: Self::Tx<'_>) -> StoreResult<()> {
        tx.commit().await.map_err(db_err)
    }
}

/// Binds each argument as the Rust type it holds.
fn arguments<'q>(args: &'q [Arg<'_>]) -> StoreResult<SqliteArguments<'q>> {
    let mut out = SqliteArguments::default();
    for arg in args {
        match arg {
            Arg::Int(v) => out.add(*v),
            Arg::Bool(v) => out.add(*v),
            Arg::Text(v) => out.add(v.as_deref()),
            Arg::Bytes(v) => out.add(*v),
        }
        .map_err(|e| StoreError::Backend(format!("binding an argument: {e}")))?;
    }
    Ok(out)
}

/// Sorts sqlx errors into "try later" and "broken".
fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d)
            if d.message().contains("locked") || d.message().contains("busy") =>
        {
            StoreError::Unavailable(d.message().to_owned())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        other => StoreError::Backend(other.to_string()),
    }
}
