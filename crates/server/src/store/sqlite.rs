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

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::Mutex;

use tollgate_proto::Scope;

use super::group_commit::GroupCommit;
use super::rows::{
    conflict_or, contains_pattern, count_i64, found, grants_to_string, roles_to_string,
    settings_json, AuditRow, CallUsageRow, ClientRow, CodeRow, JwtStateRow, LookupRow, SessionRow,
    SigningKeyRow, TokenUsageRow, UserRow,
};
use super::sql::{sql_store, Writing};
use super::sqlite_writer;
use super::{
    AuditQuery, AuditRecord, AuthCode, CallUsage, Client, ClientEdit, ClientFilter, CodeUse,
    Digest, JwtState, Rotation, Session, SigningKey, Store, StoreError, StoreResult, TokenLookup,
    TokenRecord, TokenUsage, UsageQuery, User, UserUpdate,
};

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
                async move { insert_tokens(&pool, &rows).await }
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

/// Inserts `tokens` in one statement, atomic on its own, through sqlx (a
/// refresh rotation's transaction, and an in-memory database's inserts).
/// The rows travel as one JSON array, so the statement text is the same
/// for any number of rows (prepared once).
async fn insert_tokens<'e>(
    exec: impl sqlx::SqliteExecutor<'e>,
    tokens: &[TokenRecord],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (token_hash, kind, client_id, username, scope, grant_type, \
         issued_at, expires_at, family_id, rotated_at, revoked_at) \
         SELECT unhex(value->>0), value->>1, value->>2, value->>3, value->>4, value->>5, \
         value->>6, value->>7, value->>8, value->>9, value->>10 FROM json_each(?)",
    )
    .bind(rows_json(tokens)?)
    .execute(exec)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// `[[hex key, kind, client_id, username, ...], ...]` in column order.
fn rows_json(tokens: &[TokenRecord]) -> StoreResult<String> {
    let rows: Vec<_> = tokens
        .iter()
        .map(|t| {
            (
                hex::encode(t.hash),
                t.kind.as_str(),
                &t.client_id,
                &t.username,
                t.scope.to_string(),
                t.grant_type.as_str(),
                t.issued_at,
                t.expires_at,
                &t.family_id,
                t.rotated_at,
                t.revoked_at,
            )
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Backend(e.to_string()))
}

sql_store!(SqliteStore, sqlx::Sqlite);

/// SQLite's one writer connection serialises updates; no row lock needed.
const SELECT_CLIENT_FOR_UPDATE: &str = "SELECT * FROM clients WHERE client_id = $1";

impl SqliteStore {
    fn read_pool(&self) -> &SqlitePool {
        &self.read
    }

    /// The write connection, once it is this caller's turn to write.
    async fn writing(&self) -> StoreResult<Writing<sqlx::Sqlite>> {
        let turn = self.turn.clone().lock_owned().await;
        let conn = self.write.acquire().await.map_err(db_err)?;
        Ok(Writing::new(conn, Some(turn)))
    }

    async fn close_pools(&self) {
        self.read.close().await;
        self.write.close().await;
    }
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
        other => StoreError::Backend(other.to_string()),
    }
}
