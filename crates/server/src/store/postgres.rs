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

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{PgPool, Postgres};

use tollgate_proto::Scope;

use super::group_commit::GroupCommit;
use super::rows::{
    conflict_or, contains_pattern, count_i64, found, grants_to_string, roles_to_string,
    settings_json, AuditRow, CallUsageRow, ClientRow, CodeRow, JwtStateRow, LookupRow, SessionRow,
    SigningKeyRow, TokenUsageRow, UserRow,
};
use super::sql::{sql_store, Writing};
use super::{
    AuditQuery, AuditRecord, AuthCode, CallUsage, Client, ClientEdit, ClientFilter, CodeUse,
    Digest, JwtState, Rotation, Session, SigningKey, Store, StoreError, StoreResult, TokenLookup,
    TokenRecord, TokenUsage, UsageQuery, User, UserUpdate,
};
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
            async move { insert_tokens(&pool, &rows).await }
        });
        Ok(Self { pool, writer })
    }
}

/// Inserts `tokens` in one statement, atomic on its own: one array per
/// column, so the statement text is the same for any number of rows.
async fn insert_tokens<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    tokens: &[TokenRecord],
) -> StoreResult<()> {
    let col = |f: fn(&TokenRecord) -> Option<&str>| tokens.iter().map(f).collect::<Vec<_>>();
    let num = |f: fn(&TokenRecord) -> Option<i64>| tokens.iter().map(f).collect::<Vec<_>>();
    let scopes: Vec<String> = tokens.iter().map(|t| t.scope.to_string()).collect();
    sqlx::query(
        "INSERT INTO tokens (token_hash, kind, client_id, username, scope, grant_type, \
         issued_at, expires_at, family_id, rotated_at, revoked_at) \
         SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::int8[], $8::int8[], $9::text[], $10::int8[], $11::int8[])",
    )
    .bind(tokens.iter().map(|t| &t.hash[..]).collect::<Vec<_>>())
    .bind(col(|t| Some(t.kind.as_str())))
    .bind(col(|t| Some(&t.client_id)))
    .bind(col(|t| t.username.as_deref()))
    .bind(scopes)
    .bind(col(|t| Some(t.grant_type.as_str())))
    .bind(num(|t| Some(t.issued_at)))
    .bind(num(|t| Some(t.expires_at)))
    .bind(col(|t| Some(&t.family_id)))
    .bind(num(|t| t.rotated_at))
    .bind(num(|t| t.revoked_at))
    .execute(exec)
    .await
    .map_err(db_err)?;
    Ok(())
}

sql_store!(PostgresStore, Postgres);

/// Locks the client's row until the update commits.
const SELECT_CLIENT_FOR_UPDATE: &str = "SELECT * FROM clients WHERE client_id = $1 FOR UPDATE";

impl PostgresStore {
    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection to write through (PostgreSQL's own locks order writers).
    async fn writing(&self) -> StoreResult<Writing<sqlx::Postgres>> {
        let conn = self.pool.acquire().await.map_err(db_err)?;
        Ok(Writing::new(conn, None))
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }
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
        _ => StoreError::Backend(e.to_string()),
    }
}
