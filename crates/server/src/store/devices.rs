//! Device authorizations (RFC 8628): the record, and its storage. A grant
//! is stored by the key of its device code and the SHA-256 of its user
//! code, never either in the clear; it waits for a person's decision,
//! then is used once by the device's poll.

use async_trait::async_trait;
use tollgate_proto::Scope;

use super::rows::{digest, parse_scope};
use super::sql::{Backend, Conn, Stmt};
use super::{Digest, StoreError, StoreResult};

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Nobody has entered the user code and decided yet.
    Pending,
    /// `username`, signed in at `auth_time`, allowed it.
    Allowed {
        username: String,
        auth_time: i64,
    },
    Denied,
    /// Tokens were issued for it.
    Used,
}

/// A device authorization, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    /// The key of the device code (`secret::token_key`).
    pub device_hash: Digest,
    /// The SHA-256 of the user code as normalised (`XXXXXXXX`).
    pub user_code_hash: Digest,
    pub client_id: String,
    pub scope: Scope,
    pub expires_at: i64,
    /// Seconds the device must leave between polls.
    pub interval_secs: i64,
    /// The last poll that was answered, in milliseconds.
    pub polled_at_ms: Option<i64>,
    pub status: DeviceStatus,
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    Unknown,
    /// Polled sooner than its interval after the last poll: the interval
    /// has grown by 5 s (RFC 8628 §3.5), the poll is not counted.
    TooSoon(DeviceGrant),
    Polled(DeviceGrant),
}

#[async_trait]
pub trait Devices {
    /// Stores a new grant; `Conflict` when its user code is taken.
    async fn insert_device_grant(&self, grant: &DeviceGrant) -> StoreResult<()>;
    async fn device_grant_by_user_code(&self, hash: &Digest) -> StoreResult<Option<DeviceGrant>>;
    /// Records a person's decision on a pending grant that has not expired
    /// at `now`; whether there was one.
    async fn decide_device_grant(
        &self,
        user_code_hash: &Digest,
        decision: &DeviceStatus,
        now: i64,
    ) -> StoreResult<bool>;
    /// A device's poll at `now_ms`, counted when its interval has passed.
    async fn poll_device_grant(&self, device_hash: &Digest, now_ms: i64)
        -> StoreResult<DevicePoll>;
    /// Marks an allowed grant used, atomically: only one caller gets `true`.
    async fn use_device_grant(&self, device_hash: &Digest) -> StoreResult<bool>;
}

#[async_trait]
impl<B: Backend> Devices for B {
    async fn insert_device_grant(&self, g: &DeviceGrant) -> StoreResult<()> {
        let (status, username, auth_time) = status_columns(&g.status);
        let stmt = Stmt::new(
            "INSERT INTO device_grants (device_hash, user_code_hash, client_id, scope, \
             expires_at, interval_secs, polled_at_ms, status, username, auth_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&g.device_hash[..])
        .bind(&g.user_code_hash[..])
        .bind(&g.client_id)
        .bind(g.scope.to_string())
        .bind(g.expires_at)
        .bind(g.interval_secs)
        .bind(g.polled_at_ms)
        .bind(status)
        .bind(username)
        .bind(auth_time);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn device_grant_by_user_code(&self, hash: &Digest) -> StoreResult<Option<DeviceGrant>> {
        let stmt =
            Stmt::new("SELECT * FROM device_grants WHERE user_code_hash = $1").bind(&hash[..]);
        let row: Option<DeviceRow> = self.read().await?.fetch_optional(stmt).await?;
        row.map(DeviceGrant::try_from).transpose()
    }

    async fn decide_device_grant(
        &self,
        user_code_hash: &Digest,
        decision: &DeviceStatus,
        now: i64,
    ) -> StoreResult<bool> {
        let (status, username, auth_time) = status_columns(decision);
        let stmt = Stmt::new(
            "UPDATE device_grants SET status = $1, username = $2, auth_time = $3 \
             WHERE user_code_hash = $4 AND status = 'pending' AND expires_at > $5",
        )
        .bind(status)
        .bind(username)
        .bind(auth_time)
        .bind(&user_code_hash[..])
        .bind(now);
        Ok(self.writing().await?.execute(stmt).await? == 1)
    }

    async fn poll_device_grant(&self, hash: &Digest, now_ms: i64) -> StoreResult<DevicePoll> {
        let mut w = self.writing().await?;
        let mut tx = w.begin().await?;
        let count = Stmt::new(
            "UPDATE device_grants SET polled_at_ms = $1 WHERE device_hash = $2 \
             AND (polled_at_ms IS NULL OR polled_at_ms + interval_secs * 1000 <= $1)",
        )
        .bind(now_ms)
        .bind(&hash[..]);
        let counted = tx.execute(count).await? == 1;
        if !counted {
            let slower = Stmt::new(
                "UPDATE device_grants SET interval_secs = interval_secs + 5 \
                 WHERE device_hash = $1",
            )
            .bind(&hash[..]);
            tx.execute(slower).await?;
        }
        let read = Stmt::new("SELECT * FROM device_grants WHERE device_hash = $1").bind(&hash[..]);
        let row: Option<DeviceRow> = tx.fetch_optional(read).await?;
        B::Conn::commit(tx).await?;
        Ok(match row.map(DeviceGrant::try_from).transpose()? {
            None => DevicePoll::Unknown,
            Some(g) if counted => DevicePoll::Polled(g),
            Some(g) => DevicePoll::TooSoon(g),
        })
    }

    async fn use_device_grant(&self, hash: &Digest) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE device_grants SET status = 'used' \
             WHERE device_hash = $1 AND status = 'allowed'",
        )
        .bind(&hash[..]);
        Ok(self.writing().await?.execute(stmt).await? == 1)
    }
}

/// The `status`, `username` and `auth_time` columns of a status.
fn status_columns(s: &DeviceStatus) -> (&'static str, Option<&str>, Option<i64>) {
    match s {
        DeviceStatus::Pending => ("pending", None, None),
        DeviceStatus::Allowed {
            username,
            auth_time,
        } => ("allowed", Some(username), Some(*auth_time)),
        DeviceStatus::Denied => ("denied", None, None),
        DeviceStatus::Used => ("used", None, None),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct DeviceRow {
    device_hash: Vec<u8>,
    user_code_hash: Vec<u8>,
    client_id: String,
    scope: String,
    expires_at: i64,
    interval_secs: i64,
    polled_at_ms: Option<i64>,
    status: String,
    username: Option<String>,
    auth_time: Option<i64>,
}

impl TryFrom<DeviceRow> for DeviceGrant {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> StoreResult<Self> {
        let status = match (r.status.as_str(), r.username, r.auth_time) {
            ("pending", _, _) => DeviceStatus::Pending,
            ("allowed", Some(username), Some(auth_time)) => DeviceStatus::Allowed {
                username,
                auth_time,
            },
            ("denied", _, _) => DeviceStatus::Denied,
            ("used", _, _) => DeviceStatus::Used,
            (other, _, _) => {
                return Err(StoreError::Corrupt(format!(
                    "device grant status `{other}`"
                )))
            }
        };
        Ok(DeviceGrant {
            device_hash: digest(r.device_hash)?,
            user_code_hash: digest(r.user_code_hash)?,
            scope: parse_scope(&r.scope)?,
            client_id: r.client_id,
            expires_at: r.expires_at,
            interval_secs: r.interval_secs,
            polled_at_ms: r.polled_at_ms,
            status,
        })
    }
}
