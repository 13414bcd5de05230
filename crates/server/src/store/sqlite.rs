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

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tollgate_proto::{GrantType, Scope};

use super::{
    AuthMethod, Client, ClientUpdate, Digest, Rotation, Store, StoreError, StoreResult, TokenKind,
    TokenLookup, TokenRecord, User,
};

/// Most token inserts one group commit takes.
const MAX_BATCH: usize = 512;
/// Queue length in front of the group-commit task; senders wait when full.
const QUEUE: usize = 4096;

enum WriterMsg {
    Insert(Vec<TokenRecord>, oneshot::Sender<StoreResult<()>>),
    Close(oneshot::Sender<()>),
}

/// A SQLite database, file or in-memory.
#[derive(Debug)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    writer: mpsc::Sender<WriterMsg>,
}

impl std::fmt::Debug for WriterMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Insert(t, _) => write!(f, "Insert({} tokens)", t.len()),
            Self::Close(_) => f.write_str("Close"),
        }
    }
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
                .synchronous(SqliteSynchronous::Full);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await
                .map_err(db_err)?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.read_only(true))
                .await
                .map_err(db_err)?;
            (read, write)
        };
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;

        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer_loop(write.clone(), rx));
        Ok(Self {
            read,
            write,
            writer: tx,
        })
    }
}

/// The group-commit task: one transaction for everything queued.
async fn writer_loop(pool: SqlitePool, mut rx: mpsc::Receiver<WriterMsg>) {
    let mut batch: Vec<(Vec<TokenRecord>, oneshot::Sender<StoreResult<()>>)> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut closing = None;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                WriterMsg::Insert(tokens, done) => batch.push((tokens, done)),
                WriterMsg::Close(done) => closing = Some(done),
            }
            if closing.is_none() && batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let result = insert_batch(&pool, batch.iter().flat_map(|(t, _)| t)).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, tokens = batch.len(), "token batch not committed");
            }
            for (_, done) in batch.drain(..) {
                let _ = done.send(result.clone());
            }
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}

async fn insert_batch<'a>(
    pool: &SqlitePool,
    tokens: impl Iterator<Item = &'a TokenRecord>,
) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    for t in tokens {
        insert_token(&mut tx, t).await?;
    }
    tx.commit().await.map_err(db_err)
}

async fn insert_token(conn: &mut sqlx::SqliteConnection, t: &TokenRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (token_hash, kind, client_id, username, scope, grant_type, \
         issued_at, expires_at, family_id, rotated_at, revoked_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.hash[..])
    .bind(t.kind.as_str())
    .bind(&t.client_id)
    .bind(&t.username)
    .bind(t.scope.to_string())
    .bind(t.grant_type.as_str())
    .bind(t.issued_at)
    .bind(t.expires_at)
    .bind(&t.family_id)
    .bind(t.rotated_at)
    .bind(t.revoked_at)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
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
            .map_err(|e| conflict_or(e, || format!("client `{}`", c.client_id)))?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        fetch_optional(
            &self.read,
            "SELECT * FROM clients WHERE client_id = ?",
            client_id,
            client_from_row,
        )
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        fetch_all(
            &self.read,
            "SELECT * FROM clients ORDER BY created_at, client_id",
            client_from_row,
        )
        .await
    }

    async fn update_client(&self, client_id: &str, u: &ClientUpdate, now: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let row = sqlx::query("SELECT * FROM clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")))?;
        let mut c = client_from_row(&row)?;
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
        .map_err(|e| conflict_or(e, || format!("user `{}`", u.username)))?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> StoreResult<Option<User>> {
        fetch_optional(
            &self.read,
            "SELECT * FROM users WHERE username = ?",
            username,
            user_from_row,
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        fetch_all(
            &self.read,
            "SELECT * FROM users ORDER BY username",
            user_from_row,
        )
        .await
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
        let (done, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the store is shutting down".into());
        self.writer
            .send(WriterMsg::Insert(tokens, done))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn find_token(&self, hash: &Digest) -> StoreResult<Option<TokenLookup>> {
        let row = sqlx::query(
            "SELECT t.*, c.enabled AS client_enabled, c.qps AS client_qps, \
             c.per_day AS client_per_day, u.enabled AS user_enabled \
             FROM tokens t JOIN clients c ON c.client_id = t.client_id \
             LEFT JOIN users u ON u.username = t.username WHERE t.token_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let user_enabled: Option<bool> = row.try_get("user_enabled").map_err(db_err)?;
        let limit = |col: &str| -> StoreResult<Option<u64>> {
            let v: Option<i64> = row.try_get(col).map_err(db_err)?;
            Ok(v.and_then(|v| u64::try_from(v).ok()))
        };
        Ok(Some(TokenLookup {
            client_qps: limit("client_qps")?,
            client_per_day: limit("client_per_day")?,
            user_enabled: token
                .username
                .as_ref()
                .map(|_| user_enabled.unwrap_or(false)),
            client_enabled: row.try_get("client_enabled").map_err(db_err)?,
            token,
        }))
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
        for t in &successors {
            insert_token(&mut tx, t).await?;
        }
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
        let (done, wait) = oneshot::channel();
        if self.writer.send(WriterMsg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
        self.read.close().await;
        self.write.close().await;
    }
}

impl ClientUpdate {
    fn apply(&self, c: &mut Client) {
        let u = self.clone();
        if let Some(v) = u.name {
            c.name = v;
        }
        if let Some(v) = u.scopes {
            c.scopes = v;
        }
        if let Some(v) = u.grants {
            c.grants = v;
        }
        if let Some(v) = u.auth_method {
            c.auth_method = v;
        }
        if let Some(v) = u.token_ttl {
            c.token_ttl = v;
        }
        if let Some(v) = u.qps {
            c.qps = v;
        }
        if let Some(v) = u.per_day {
            c.per_day = v;
        }
        if let Some(v) = u.introspect_any {
            c.introspect_any = v;
        }
        if let Some(v) = u.enabled {
            c.enabled = v;
        }
        if let Some(v) = u.secret_hash {
            c.secret_hash = v;
        }
    }
}

/// One row by key, mapped.
async fn fetch_optional<T>(
    pool: &SqlitePool,
    sql: &str,
    key: &str,
    map: fn(&SqliteRow) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let row = sqlx::query(sql)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(map).transpose()
}

/// Every row, mapped.
async fn fetch_all<T>(
    pool: &SqlitePool,
    sql: &str,
    map: fn(&SqliteRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let rows = sqlx::query(sql).fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(map).collect()
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

fn client_from_row(r: &SqliteRow) -> StoreResult<Client> {
    let get_u64 = |col: &str| -> StoreResult<Option<u64>> {
        let v: Option<i64> = r.try_get(col).map_err(db_err)?;
        Ok(v.and_then(|v| u64::try_from(v).ok()))
    };
    let auth: String = r.try_get("auth_method").map_err(db_err)?;
    let grants: String = r.try_get("grants").map_err(db_err)?;
    let scopes: String = r.try_get("scopes").map_err(db_err)?;
    Ok(Client {
        client_id: r.try_get("client_id").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        secret_hash: digest(r.try_get("secret_hash").map_err(db_err)?)?,
        scopes: parse_scope(&scopes)?,
        grants: grants_from_string(&grants)?,
        auth_method: AuthMethod::parse(&auth)
            .ok_or_else(|| StoreError::Corrupt(format!("auth_method `{auth}`")))?,
        token_ttl: get_u64("token_ttl")?,
        qps: get_u64("qps")?,
        per_day: get_u64("per_day")?,
        introspect_any: r.try_get("introspect_any").map_err(db_err)?,
        enabled: r.try_get("enabled").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
    })
}

fn user_from_row(r: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        username: r.try_get("username").map_err(db_err)?,
        password_hash: r.try_get("password_hash").map_err(db_err)?,
        full_name: r.try_get("full_name").map_err(db_err)?,
        email: r.try_get("email").map_err(db_err)?,
        enabled: r.try_get("enabled").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
    })
}

fn token_from_row(r: &SqliteRow) -> StoreResult<TokenRecord> {
    let kind: String = r.try_get("kind").map_err(db_err)?;
    let grant: String = r.try_get("grant_type").map_err(db_err)?;
    let scope: String = r.try_get("scope").map_err(db_err)?;
    Ok(TokenRecord {
        hash: digest(r.try_get("token_hash").map_err(db_err)?)?,
        kind: match kind.as_str() {
            "access" => TokenKind::Access,
            "refresh" => TokenKind::Refresh,
            other => return Err(StoreError::Corrupt(format!("token kind `{other}`"))),
        },
        client_id: r.try_get("client_id").map_err(db_err)?,
        username: r.try_get("username").map_err(db_err)?,
        scope: parse_scope(&scope)?,
        grant_type: grant
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("grant type `{grant}`")))?,
        issued_at: r.try_get("issued_at").map_err(db_err)?,
        expires_at: r.try_get("expires_at").map_err(db_err)?,
        family_id: r.try_get("family_id").map_err(db_err)?,
        rotated_at: r.try_get("rotated_at").map_err(db_err)?,
        revoked_at: r.try_get("revoked_at").map_err(db_err)?,
    })
}

fn digest(bytes: Vec<u8>) -> StoreResult<Digest> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a digest is not 32 bytes".into()))
}

fn parse_scope(s: &str) -> StoreResult<Scope> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("scope `{s}`")))
}

fn grants_to_string(grants: &BTreeSet<GrantType>) -> String {
    let names: Vec<&str> = grants.iter().map(|g| g.as_str()).collect();
    names.join(" ")
}

fn grants_from_string(s: &str) -> StoreResult<BTreeSet<GrantType>> {
    s.split_whitespace()
        .map(|g| {
            g.parse()
                .map_err(|_| StoreError::Corrupt(format!("grant `{g}`")))
        })
        .collect()
}

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn found(rows: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

fn conflict_or(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => db_err(e),
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
