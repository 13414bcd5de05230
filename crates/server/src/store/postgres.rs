//! PostgreSQL store: for several tollgate instances sharing one database.
//!
//! Same schema and semantics as SQLite (rows are read through `rows`).
//! Migrations run at start under sqlx's advisory lock, so instances starting
//! together do not race. Every token insert and rotation is one transaction;
//! a 200 is answered only after COMMIT. Connection failures, pool timeouts
//! and statement timeouts are `StoreError::Unavailable` (the server answers
//! 503 and keeps serving cached validations).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgSslMode};
use sqlx::{Arguments, PgPool, Postgres};

use super::group_commit::GroupCommit;
use super::sql::{Arg, Backend, Conn, Record, Stmt, Writing};
use super::tokens::{self, TokenQueue};
use super::{StoreError, StoreResult, TokenRecord};
use crate::config::PostgresOptions;

#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    writer: GroupCommit,
}

impl PostgresStore {
    pub async fn open(url: &str, o: &PostgresOptions) -> StoreResult<Self> {
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
            .options([("statement_timeout", o.statement_timeout_ms.to_string())]);
        if let Some(mode) = &o.ssl_mode {
            let mode = PgSslMode::from_str(mode)
                .map_err(|_| StoreError::Backend(format!("unknown ssl_mode `{mode}`")))?;
            opts = opts.ssl_mode(mode);
        }
        let pool = PgPoolOptions::new()
            .max_connections(o.max_connections.max(1))
            .acquire_timeout(Duration::from_millis(o.acquire_timeout_ms))
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        let batch_pool = pool.clone();
        let writer = GroupCommit::spawn(move |rows| {
            let pool = batch_pool.clone();
            async move {
                let mut conn = pool.acquire().await.map_err(db_err)?;
                tokens::insert(&mut *conn, &rows).await
            }
        });
        Ok(Self { pool, writer })
    }
}

#[async_trait]
impl Backend for PostgresStore {
    type Conn = PgConnection;
    type Read = PoolConnection<Postgres>;
    type Write = Writing<Postgres>;

    /// Locks the client's row until the update commits.
    const FOR_UPDATE: &'static str = " FOR UPDATE";

    async fn read(&self) -> StoreResult<Self::Read> {
        self.pool.acquire().await.map_err(db_err)
    }

    /// A connection to write through (PostgreSQL's own locks order writers).
    async fn writing(&self) -> StoreResult<Self::Write> {
        let conn = self.pool.acquire().await.map_err(db_err)?;
        Ok(Writing::new(conn, None))
    }

    async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl TokenQueue for PostgresStore {
    async fn queue_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()> {
        self.writer.insert(tokens).await
    }
}

#[async_trait]
impl Conn for PgConnection {
    type Tx<'c> = sqlx::Transaction<'c, Postgres>;

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

/// Binds each argument as the Rust type it holds, so PostgreSQL infers
/// the parameter types it always has (`int8`, `bool`, `text`, `bytea`).
fn arguments(args: &[Arg<'_>]) -> StoreResult<PgArguments> {
    let mut out = PgArguments::default();
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

/// Sorts sqlx errors into "try later" and "broken". SQLSTATE classes 08
/// (connection), 53 (resources), 57 (operator intervention, incl.
/// statement timeout) mean the database is unavailable.
fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(d)
            if d.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("53") || c.starts_with("57")
            }) =>
        {
            StoreError::Unavailable(d.message().to_owned())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}
