//! SQLite store: the embedded default.
//!
//! Reads go through a small pool (WAL lets them run beside the writer); all
//! writes go through one connection. Token inserts, the hot write, are queued
//! to a group-commit task that puts every insert waiting at that moment into
//! one transaction, so a burst of N token requests costs one fsync rather than
//! N, and each caller is answered only after its rows are committed
//! (`synchronous=FULL`). An in-memory database (`sqlite::memory:`) uses one
//! connection for everything, since each connection would otherwise see a
//! database of its own.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::SqlitePool;

use super::group_commit::GroupCommit;
use super::rows::{conflict_or, found, grants_to_string, opt_i64, ClientRow, LookupRow, UserRow};
use super::{
    digest_hex, Client, ClientUpdate, Digest, Rotation, Store, StoreError, StoreResult,
    TokenLookup, TokenRecord, User,
};

/// A SQLite database, file or in-memory.
#[derive(Debug)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    writer: GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));

        let (read, write) = if in_memory {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base)
                .await
                .map_err(db_err)?;
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
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(opts.read_only(true))
                .await
                .map_err(db_err)?;
            (read, write)
        };
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;

        let pool = write.clone();
        let writer = GroupCommit::spawn(move |rows| {
            let pool = pool.clone();
            async move { insert_tokens(&pool, &rows).await }
        });
        Ok(Self {
            read,
            write,
            writer,
        })
    }
}

/// Inserts `tokens` in one statement, atomic on its own. The rows travel as
/// one JSON array, so the statement text is the same for any number of rows
/// (prepared once) and a batch costs one round trip to SQLite's thread.
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
                digest_hex(&t.hash),
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

#[async_trait]
impl Store for SqliteStore {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO clients (name, secret_hash, scopes, grants, auth_method, token_ttl, qps, \
             per_day, introspect_any, enabled, updated_at, created_at, client_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        bind_client(q, c, c.created_at)
            .bind(c.created_at)
            .bind(&c.client_id)
            .execute(&self.write)
            .await
            .map_err(|e| conflict_or(e, || format!("client `{}`", c.client_id), db_err))?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        fetch_optional::<ClientRow, _>(
            &self.read,
            "SELECT * FROM clients WHERE client_id = ?",
            client_id,
        )
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        fetch_all::<ClientRow, _>(
            &self.read,
            "SELECT * FROM clients ORDER BY created_at, client_id",
        )
        .await
    }

    async fn update_client(&self, client_id: &str, u: &ClientUpdate, now: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let row: ClientRow = sqlx::query_as("SELECT * FROM clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
        let mut c = Client::try_from(row)?;
        u.apply(&mut c);
        let q = sqlx::query(
            "UPDATE clients SET name = ?, secret_hash = ?, scopes = ?, grants = ?, auth_method = ?, \
             token_ttl = ?, qps = ?, per_day = ?, introspect_any = ?, enabled = ?, updated_at = ? \
             WHERE client_id = ?",
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
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.full_name)
        .bind(&u.email)
        .bind(u.enabled)
        .bind(u.created_at)
        .bind(u.created_at)
        .execute(&self.write)
        .await
        .map_err(|e| conflict_or(e, || format!("user `{}`", u.username), db_err))?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> StoreResult<Option<User>> {
        fetch_optional::<UserRow, _>(
            &self.read,
            "SELECT * FROM users WHERE username = ?",
            username,
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        fetch_all::<UserRow, _>(&self.read, "SELECT * FROM users ORDER BY username").await
    }

    async fn set_user_enabled(&self, username: &str, enabled: bool, now: i64) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET enabled = ?, updated_at = ? WHERE username = ?")
            .bind(enabled)
            .bind(now)
            .bind(username)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        found(done.rows_affected(), || format!("user `{username}`"))
    }

    async fn set_user_password(&self, username: &str, hash: &str, now: i64) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?")
                .bind(hash)
                .bind(now)
                .bind(username)
                .execute(&self.write)
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
             LEFT JOIN users u ON u.username = t.username WHERE t.token_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.read)
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
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let used = sqlx::query(
            "UPDATE tokens SET rotated_at = ? WHERE token_hash = ? AND kind = 'refresh' \
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
            "UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&hash[..])
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn sweep_expired(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM tokens WHERE expires_at < ?")
            .bind(before)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn revision(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
        self.write.close().await;
    }
}

/// One row by key, converted.
async fn fetch_optional<R, T>(pool: &SqlitePool, sql: &str, key: &str) -> StoreResult<Option<T>>
where
    R: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    let row: Option<R> = sqlx::query_as(sql)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(T::try_from).transpose()
}

/// Every row, converted.
async fn fetch_all<R, T>(pool: &SqlitePool, sql: &str) -> StoreResult<Vec<T>>
where
    R: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    let rows: Vec<R> = sqlx::query_as(sql).fetch_all(pool).await.map_err(db_err)?;
    rows.into_iter().map(T::try_from).collect()
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds a client's settable columns, then `updated_at`, in the order both
/// the INSERT and the UPDATE name them.
fn bind_client<'q>(q: SqliteQuery<'q>, c: &'q Client, updated_at: i64) -> SqliteQuery<'q> {
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
