//! Persistent state behind one trait: clients, users and tokens.
//!
//! The store is deliberately dumb: it keeps rows and answers lookups, and the
//! `oauth` module decides what they mean (is a token active, may this client
//! see it). Two operations must be atomic in every backend: inserting a batch
//! of tokens, and rotating a refresh token (mark the old one used *and* insert
//! its successors, or neither). Tokens are keyed by `secret::token_key` (a
//! time-ordered id and SHA-256 output), secrets by SHA-256; the store never
//! sees a token or secret in the clear.

mod group_commit;
mod postgres;
mod rows;
mod sql;
mod sql_records;
mod sqlite;
mod sqlite_writer;

use std::sync::Arc;

use async_trait::async_trait;
use tollgate_proto::admin::Role;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{GrantType, Scope};

/// Usage counts to add, or the totals read back.
pub use tollgate_proto::admin::{CallUsage, TokenUsage};

pub use postgres::PostgresStore;

use tollgate_proto::jose::SigningAlg;

use crate::config::PostgresOptions;
pub use sqlite::SqliteStore;

/// A client secret's SHA-256, or a token's key (`secret::token_key`).
pub type Digest = [u8; 32];

/// A registered client: its settings (the one type the admin API, the
/// console and the CLI edit), its secrets' digests, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub settings: ClientSettings,
    pub secret_hash: Digest,
    /// The secret it had before its last rotation, while still accepted.
    pub previous_secret: Option<PreviousSecret>,
    pub enabled: bool,
    pub created_at: i64,
    /// The person who registered it in the developer portal; `None` for a
    /// client an admin made.
    pub owner: Option<String>,
    /// Scopes asked for in the portal that an admin has yet to approve.
    pub requested_scopes: Scope,
}

/// A replaced client secret that keeps working for a grace period, so a
/// fleet of callers can switch to the new one without an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: Digest,
    /// Unix seconds: refused from here on.
    pub until: i64,
}

/// A resource owner for the password grant.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    /// What the person may do in the console.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("email", &self.email)
            .field("enabled", &self.enabled)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// One issued token, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: Digest,
    pub kind: TokenKind,
    pub client_id: String,
    pub username: Option<String>,
    pub scope: Scope,
    pub grant_type: GrantType,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; the token is dead from this instant on.
    pub expires_at: i64,
    /// Every token descended from one original grant shares this id.
    pub family_id: String,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token row joined with the state of its client and user, so one lookup
/// answers "is this token usable right now" and "what are its quotas".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLookup {
    pub token: TokenRecord,
    pub client_enabled: bool,
    /// `None` for tokens without a user.
    pub user_enabled: Option<bool>,
    /// The client's registered requests per second (`None`: server default).
    pub client_qps: Option<u64>,
    /// The client's registered requests per day (`None`: server default).
    pub client_per_day: Option<u64>,
    /// The client's registered audience (`None`: the issuer).
    pub client_audience: Option<String>,
}

/// What happened when a refresh token was rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now used and its successors are stored.
    Rotated,
    /// The old token was already used or revoked; nothing was stored.
    AlreadyUsed,
}

/// A change to a client, made inside the store's transaction: it edits the
/// record read, and says whether to store the result (`false`: leave it).
pub type ClientEdit<'a> = &'a mut (dyn FnMut(&mut Client) -> bool + Send);

/// Which clients a page of the list holds: those after `after` (by id),
/// at most `limit`, matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    pub after: Option<String>,
    pub limit: u32,
    pub enabled: Option<bool>,
    /// Part of the name, any case.
    pub name: Option<String>,
    pub grant: Option<GrantType>,
    /// Only this person's clients.
    pub owner: Option<String>,
    /// Only clients with scopes awaiting approval.
    pub pending: bool,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub full_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub roles: Option<Vec<Role>>,
}

/// Usage of every client, or one, over the days `from..=to` (`YYYY-MM-DD`).
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub client_id: Option<String>,
    pub from: String,
    pub to: String,
}

/// One change, as the audit log keeps it: who, what, to what, when, and a
/// JSON detail that never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Assigned by the store; ignored when appending.
    pub id: i64,
    pub at: i64,
    /// `client:ID` through the admin API, `cli:USER` through `tollgate admin`.
    pub actor: String,
    /// `client.create`, `client.update`, `user.set_password`, ...
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// A page of the audit log, newest first: records before `before` (an id),
/// at most `limit`, about `target` when given.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub before: Option<i64>,
    pub limit: u32,
    pub target: Option<String>,
}

/// An authorization code, as stored (by its key, never the code itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub hash: Digest,
    pub client_id: String,
    pub username: String,
    /// Where the code was sent.
    pub redirect_uri: String,
    /// Whether the request named it (then the token request must too).
    pub redirect_given: bool,
    /// The PKCE S256 challenge.
    pub code_challenge: Option<String>,
    pub scope: Scope,
    /// OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When the user signed in (Unix seconds).
    pub auth_time: i64,
    /// The family of the tokens issued for it: a replayed code revokes it.
    pub family_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// Unused until now; now used.
    Fresh(AuthCode),
    /// Used before: a replay.
    Replayed(AuthCode),
    Unknown,
}

/// A browser's sign-in, as stored (by the key of its cookie value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// A key that signs JWT access tokens, or did, as stored. `Debug` leaves
/// out the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 (ES256, EdDSA) or PKCS#1 (RS256) DER.
    pub private_der: Vec<u8>,
    /// The public JWK (JSON), as the JWKS publishes it.
    pub public_jwk: String,
    /// Unix seconds: published in the JWKS from here.
    pub created_at: i64,
    /// Signs from here: `created_at` plus the pre-publication delay.
    pub signs_from: i64,
    /// Signs no more from here.
    pub retired_at: Option<i64>,
    /// Dropped from the JWKS from here: every token it signed has expired.
    pub published_until: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .field("retired_at", &self.retired_at)
            .field("published_until", &self.published_until)
            .finish_non_exhaustive()
    }
}

/// What a JWT access token's validity depends on besides its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtState {
    /// The client's enabled flag and registered limits; `None`: no such client.
    pub client: Option<ClientState>,
    /// `None` for tokens without a user, or an unknown user.
    pub user_enabled: Option<bool>,
    /// Its `jti` or its `sid` (grant family) is on the denylist.
    pub denied: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientState {
    pub enabled: bool,
    pub qps: Option<u64>,
    pub per_day: Option<u64>,
}

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

/// Everything the server and the admin commands need from storage.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// One page of clients, by id.
    async fn list_clients_page(&self, filter: &ClientFilter) -> StoreResult<Vec<Client>>;
    /// Deletes a client with its tokens, codes and consents; `NotFound`
    /// when there is no such client.
    async fn delete_client(&self, client_id: &str) -> StoreResult<()>;
    /// Reads the client, lets `edit` change it and stores the result, in
    /// one transaction, so concurrent edits never undo each other; the
    /// client as stored, or `None` when `edit` declined. `NotFound` when
    /// there is no such client.
    async fn update_client(
        &self,
        client_id: &str,
        now: i64,
        edit: ClientEdit<'_>,
    ) -> StoreResult<Option<Client>>;

    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, username: &str) -> StoreResult<Option<User>>;
    /// One page of users after `after`, by username; with `name`, only those
    /// whose username or full name contains it, any case.
    async fn list_users_page(
        &self,
        after: Option<&str>,
        limit: u32,
        name: Option<&str>,
    ) -> StoreResult<Vec<User>>;
    async fn update_user(&self, username: &str, update: &UserUpdate, now: i64) -> StoreResult<()>;
    async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<()>;

    /// Stores tokens durably before returning: a token handed out after this
    /// returns survives a crash.
    async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()>;
    async fn find_token(&self, hash: &Digest) -> StoreResult<Option<TokenLookup>>;
    /// Atomically marks refresh token `old` used (if it is neither used nor
    /// revoked) and stores `successors`.
    async fn rotate_refresh(
        &self,
        old: &Digest,
        now: i64,
        successors: Vec<TokenRecord>,
    ) -> StoreResult<Rotation>;
    /// Revokes one token; returns whether a live token was changed.
    async fn revoke_token(&self, hash: &Digest, now: i64) -> StoreResult<bool>;
    /// Revokes every token of a family; returns how many were changed.
    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<u64>;
    /// Deletes tokens and denylist entries that expired before `before`;
    /// returns how many.
    async fn sweep_expired(&self, before: i64) -> StoreResult<u64>;

    /// Every signing key, retired ones included, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Stores a new key. `auto_slot`: for a key made automatically, how many
    /// keys there were when it was decided on; a second key for the same
    /// slot is a `Conflict`, so instances starting together make one.
    async fn insert_signing_key(&self, key: &SigningKey, auto_slot: Option<i64>)
        -> StoreResult<()>;
    /// Stops `kid` signing at `at` (or keeps when it already stopped), and
    /// publishes it until `published_until` (`at` itself revokes it: it
    /// verifies nothing from then on). Only ever shortens: `NotFound` when
    /// there is no such key published past `published_until`.
    async fn retire_signing_key(&self, kid: &str, at: i64, published_until: i64)
        -> StoreResult<()>;
    /// Puts `id` (`jti:…` or `sid:…`) on the JWT denylist until `expires_at`.
    async fn deny_jwt(&self, id: &str, expires_at: i64) -> StoreResult<()>;
    async fn insert_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Marks the code used at `now`, atomically: only one caller gets `Fresh`.
    async fn use_code(&self, hash: &Digest, now: i64) -> StoreResult<CodeUse>;
    /// The scope `username` consented to for `client_id`, if any.
    async fn consent(&self, username: &str, client_id: &str) -> StoreResult<Option<Scope>>;
    async fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> StoreResult<()>;
    /// Stores a session, or moves the end of the one stored under `hash`.
    async fn create_session(&self, hash: &Digest, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, hash: &Digest) -> StoreResult<Option<Session>>;
    /// Ends every session of `username` (sign-in and console, on every
    /// instance: they share the store); how many there were.
    async fn delete_user_sessions(&self, username: &str) -> StoreResult<u64>;

    /// The client, user and denylist state a JWT of `client_id` (and
    /// `username`) with these denylist ids depends on, in one query.
    async fn jwt_state(
        &self,
        client_id: &str,
        username: Option<&str>,
        ids: [&str; 2],
    ) -> StoreResult<JwtState>;

    /// Adds these counts to the stored ones, in one transaction: several
    /// instances flushing the same rows add up.
    async fn add_usage(&self, calls: &[CallUsage], tokens: &[TokenUsage]) -> StoreResult<()>;
    /// The stored usage the query selects, by day, client and route.
    async fn usage(&self, query: &UsageQuery) -> StoreResult<(Vec<CallUsage>, Vec<TokenUsage>)>;
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    async fn audit_log(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;

    /// A number that changes whenever a client or user is updated or a
    /// token revoked, by anyone sharing the database. Also the readiness probe.
    async fn revision(&self) -> StoreResult<i64>;

    /// Finishes pending writes and closes connections.
    async fn close(&self);
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
