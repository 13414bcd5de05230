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
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{PgPool, Postgres};

use super::group_commit::GroupCommit;
use super::rows::{conflict_or, found, grants_to_string, opt_i64, ClientRow, LookupRow, UserRow};
use super::{
    Client, ClientUpdate, Digest, Rotation, Store, StoreError, StoreResult, TokenLookup,
    TokenRecord, User,
};

/// `[postgres]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// Longest a statement may run, in milliseconds.
    pub statement_timeout_ms: u64,
    /// Longest a request waits for a connection, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// disable, allow, prefer, require, verify-ca or verify-full; when
    /// absent, the URL's `sslmode` (default prefer).
    pub ssl_mode: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout_ms: 5_000,
            acquire_timeout_ms: 3_000,
            ssl_mode: None,
        }
    }
}

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

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds a client's settable columns, then `updated_at`, as $1..$11.
fn bind_client<'q>(q: PgQuery<'q>, c: &'q Client, updated_at: i64) -> PgQuery<'q> {
    q.bind(&c.name)
        .bind(&c.secret_hash[..])
        .bind(c.scopes.to_string())
        .bind(grants_to_string(&c.grants))
        .bind(c.auth_method.as_str())
        .bind(opt_i64(c.token_ttl))
        .bind(opt_i64(c.qps))
        .bind(opt_i64(c.per_day))
        .bind(c.introspect_any)
        .bind(c.enabled)
        .bind(updated_at)
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

async fn fetch_optional<R, T>(pool: &PgPool, sql: &str, key: &str) -> StoreResult<Option<T>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    let row: Option<R> = sqlx::query_as(sql)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(T::try_from).transpose()
}

async fn fetch_all<R, T>(pool: &PgPool, sql: &str) -> StoreResult<Vec<T>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    let rows: Vec<R> = sqlx::query_as(sql).fetch_all(pool).await.map_err(db_err)?;
    rows.into_iter().map(T::try_from).collect()
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO clients (name, secret_hash, scopes, grants, auth_method, token_ttl, qps, \
             per_day, introspect_any, enabled, updated_at, created_at, client_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        );
        bind_client(q, c, c.created_at)
            .bind(c.created_at)
            .bind(&c.client_id)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or(e, || format!("client `{}`", c.client_id), db_err))?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        fetch_optional::<ClientRow, _>(
            &self.pool,
            "SELECT * FROM clients WHERE client_id = $1",
            client_id,
        )
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        fetch_all::<ClientRow, _>(
            &self.pool,
            "SELECT * FROM clients ORDER BY created_at, client_id",
        )
        .await
    }

    async fn update_client(&self, client_id: &str, u: &ClientUpdate, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row: ClientRow =
            sqlx::query_as("SELECT * FROM clients WHERE client_id = $1 FOR UPDATE")
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
        let mut c = Client::try_from(row)?;
        u.apply(&mut c);
        let q = sqlx::query(
            "UPDATE clients SET name = $1, secret_hash = $2, scopes = $3, grants = $4, auth_method = $5, \
             token_ttl = $6, qps = $7, per_day = $8, introspect_any = $9, enabled = $10, updated_at = $11 \
             WHERE client_id = $12",
        );
        bind_client(q, &c, now)
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn create_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (username, password_hash, full_name, email, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.full_name)
        .bind(&u.email)
        .bind(u.enabled)
        .bind(u.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or(e, || format!("user `{}`", u.username), db_err))?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> StoreResult<Option<User>> {
        fetch_optional::<UserRow, _>(
            &self.pool,
            "SELECT * FROM users WHERE username = $1",
            username,
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        fetch_all::<UserRow, _>(&self.pool, "SELECT * FROM users ORDER BY username").await
    }

    async fn set_user_enabled(&self, username: &str, enabled: bool, now: i64) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET enabled = $1, updated_at = $2 WHERE username = $3")
                .bind(enabled)
                .bind(now)
                .bind(username)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        found(done.rows_affected(), || format!("user `{username}`"))
    }

    async fn set_user_password(&self, username: &str, hash: &str, now: i64) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3")
                .bind(hash)
                .bind(now)
                .bind(username)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        found(done.rows_affected(), || format!("user `{username}`"))
    }

    async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()> {
        self.writer.insert(tokens).await
    }

    async fn find_token(&self, hash: &Digest) -> StoreResult<Option<TokenLookup>> {
        let row: Option<LookupRow> = sqlx::query_as(
            "SELECT t.*, c.enabled AS client_enabled, c.qps AS client_qps, \
             c.per_day AS client_per_day, u.enabled AS user_enabled \
             FROM tokens t JOIN clients c ON c.client_id = t.client_id \
             LEFT JOIN users u ON u.username = t.username WHERE t.token_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(TokenLookup::try_from).transpose()
    }

    async fn rotate_refresh(
        &self,
        old: &Digest,
        now: i64,
        successors: Vec<TokenRecord>,
    ) -> StoreResult<Rotation> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let used = sqlx::query(
            "UPDATE tokens SET rotated_at = $1 WHERE token_hash = $2 AND kind = 'refresh' \
             AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&old[..])
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if used.rows_affected() == 0 {
            return Ok(Rotation::AlreadyUsed);
        }
        insert_tokens(&mut *tx, &successors).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Rotation::Rotated)
    }

    async fn revoke_token(&self, hash: &Digest, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&hash[..])
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn sweep_expired(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn revision(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn close(&self) {
        self.writer.close().await;
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
