//! Persistent state, one aggregate per module, behind one handle.
//!
//! The store is deliberately dumb: it keeps rows and answers lookups, and the
//! `oauth` module decides what they mean (is a token active, may this client
//! see it). Each aggregate is a trait in a module of its own with its record
//! types and its SQL: `clients`, `users`, `tokens` (and codes), `devices`
//! (RFC 8628 device authorizations), `registration` (RFC 7591 initial
//! access tokens), `keys`,
//! `sessions` (and consents), `ledger` (usage and audit). The SQL is written
//! once for both dialects over the small query layer in `sql`; `sqlite` and
//! `postgres` only say how connections are had and statements bound.
//! [`Store`] is all of them, plus what spans them. Tokens are keyed by
//! `secret::token_key` (a time-ordered id and SHA-256 output), secrets by
//! SHA-256; the store never sees a token or secret in the clear.

mod clients;
mod devices;
mod group_commit;
mod keys;
mod ledger;
mod postgres;
mod registration;
mod rows;
mod sessions;
mod sql;
mod sqlite;
mod sqlite_writer;
mod tokens;
mod users;

use std::sync::Arc;

use async_trait::async_trait;

/// Usage counts to add, or the totals read back.
pub use tollgate_proto::admin::{CallUsage, TokenUsage};

pub use clients::{Client, ClientEdit, ClientFilter, Clients, PreviousSecret};
pub use devices::{DeviceGrant, DevicePoll, DeviceStatus, Devices};
pub use keys::{SigningKey, SigningKeys};
pub use ledger::{AuditQuery, AuditRecord, Ledger, UsageQuery};
pub use postgres::PostgresStore;
pub use registration::{InitialAccessToken, InitialAccessTokens};
pub use sessions::{Session, Sessions};
pub use sqlite::SqliteStore;
pub use tokens::{
    AuthCode, ClientState, CodeUse, JwtState, Rotation, TokenKind, TokenLookup, TokenRecord, Tokens,
};
pub use users::{User, UserUpdate, Users};

use crate::config::PostgresOptions;
use sql::{Backend, Conn, Stmt};
use tokens::TokenQueue;

/// A client secret's SHA-256, or a token's key (`secret::token_key`).
pub type Digest = [u8; 32];

/// Store failures. `Unavailable` means "try again later" (the server answers
/// 503); the others are bugs or conflicts the caller reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("the database holds a value this version cannot read: {0}")]
    Corrupt(String),
    #[error("unsupported database URL `{0}` (expected sqlite://PATH, sqlite::memory: or postgres://...)")]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server and the admin commands need from storage: every
/// aggregate, and what spans them.
#[async_trait]
pub trait Store:
    Clients
    + Users
    + Tokens
    + Devices
    + InitialAccessTokens
    + SigningKeys
    + Sessions
    + Ledger
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Deletes tokens, denylist entries, codes, device grants, initial
    /// access tokens and sessions that expired before `before`; returns how many.
    async fn sweep_expired(&self, before: i64) -> StoreResult<u64>;

    /// A number that changes whenever a client or user is updated or a
    /// token revoked, by anyone sharing the database. Also the readiness probe.
    async fn revision(&self) -> StoreResult<i64>;

    /// Finishes pending writes and closes connections.
    async fn close(&self);
}

#[async_trait]
impl<B: Backend + TokenQueue> Store for B {
    async fn sweep_expired(&self, before: i64) -> StoreResult<u64> {
        let mut swept = 0;
        for sql in [
            "DELETE FROM tokens WHERE expires_at < $1",
            "DELETE FROM revoked_jwts WHERE expires_at < $1",
            "DELETE FROM auth_codes WHERE expires_at < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
            "DELETE FROM device_grants WHERE expires_at < $1",
            "DELETE FROM initial_access_tokens WHERE expires_at < $1",
        ] {
            let stmt = Stmt::new(sql).bind(before);
            swept += self.writing().await?.execute(stmt).await?;
        }
        // What ended sessions signed in to: nothing to tell any more.
        let orphans = "DELETE FROM session_clients WHERE sid NOT IN (SELECT sid FROM sessions)";
        swept += self.writing().await?.execute(Stmt::new(orphans)).await?;
        Ok(swept)
    }

    async fn revision(&self) -> StoreResult<i64> {
        let stmt = Stmt::new("SELECT n FROM revision WHERE id = 1");
        let row: Option<(i64,)> = self.read().await?.fetch_optional(stmt).await?;
        row.map(|(n,)| n)
            .ok_or_else(|| StoreError::Corrupt("the revision row is missing".into()))
    }

    async fn close(&self) {
        Backend::close(self).await;
    }
}

/// Opens the store named by a database URL, with default PostgreSQL options.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    open_with(url, &PostgresOptions::default()).await
}

/// Opens the store named by a database URL and applies its migrations.
pub async fn open_with(url: &str, pg: &PostgresOptions) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url, pg).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
