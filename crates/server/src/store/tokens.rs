//! Issued tokens and authorization codes: the records, and their storage.
//!
//! Two operations are atomic on every backend: inserting a batch of tokens,
//! and rotating a refresh token (mark the old one used *and* insert its
//! successors, or neither). Token inserts, the hot write, reach the
//! database through each backend's group commit ([`TokenQueue`]); the
//! statement they run is [`insert_statement`], here and nowhere else.
//! Revoked JWTs are kept by id (`jti:…`, `sid:…`) on a denylist until
//! they would have expired anyway.

use std::fmt::Write as _;

use async_trait::async_trait;
use tollgate_proto::{GrantType, Scope};

use super::clients::parse_settings;
use super::rows::{digest, parse_scope};
use super::sql::{Arg, Backend, Conn, Stmt};
use super::{Digest, StoreError, StoreResult};

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
    /// The sign-in session it was issued in (`sid` of its ID token).
    pub sid: Option<String>,
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

#[async_trait]
pub trait Tokens {
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
    /// Puts `id` (`jti:…` or `sid:…`) on the JWT denylist until `expires_at`.
    async fn deny_jwt(&self, id: &str, expires_at: i64) -> StoreResult<()>;
    /// The client, user and denylist state a JWT of `client_id` (and
    /// `username`) with these denylist ids depends on, in one query.
    async fn jwt_state(
        &self,
        client_id: &str,
        username: Option<&str>,
        ids: [&str; 2],
    ) -> StoreResult<JwtState>;
    async fn insert_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Marks the code used at `now`, atomically: only one caller gets `Fresh`.
    async fn use_code(&self, hash: &Digest, now: i64) -> StoreResult<CodeUse>;
}

/// How a backend's token inserts reach the database: its group commit,
/// which runs [`insert_statement`] (or [`insert`]) on each batch.
#[async_trait]
pub trait TokenQueue {
    async fn queue_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()>;
}

#[async_trait]
impl<B: Backend + TokenQueue> Tokens for B {
    async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> StoreResult<()> {
        self.queue_tokens(tokens).await
    }

    async fn find_token(&self, hash: &Digest) -> StoreResult<Option<TokenLookup>> {
        let stmt = Stmt::new(
            "SELECT t.*, c.enabled AS client_enabled, c.settings AS client_settings, \
             u.enabled AS user_enabled \
             FROM tokens t JOIN clients c ON c.client_id = t.client_id \
             LEFT JOIN users u ON u.username = t.username WHERE t.token_hash = $1",
        )
        .bind(&hash[..]);
        let row: Option<LookupRow> = self.read().await?.fetch_optional(stmt).await?;
        row.map(TokenLookup::try_from).transpose()
    }

    async fn rotate_refresh(
        &self,
        old: &Digest,
        now: i64,
        successors: Vec<TokenRecord>,
    ) -> StoreResult<Rotation> {
        let mut w = self.writing().await?;
        let mut tx = w.begin().await?;
        let used = Stmt::new(
            "UPDATE tokens SET rotated_at = $1 WHERE token_hash = $2 \
             AND kind = 'refresh' AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&old[..]);
        if tx.execute(used).await? == 0 {
            return Ok(Rotation::AlreadyUsed);
        }
        insert(&mut *tx, &successors).await?;
        B::Conn::commit(tx).await?;
        Ok(Rotation::Rotated)
    }

    async fn revoke_token(&self, hash: &Digest, now: i64) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&hash[..]);
        Ok(self.writing().await?.execute(stmt).await? > 0)
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<u64> {
        let stmt = Stmt::new(
            "UPDATE tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id);
        self.writing().await?.execute(stmt).await
    }

    async fn deny_jwt(&self, id: &str, expires_at: i64) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO revoked_jwts (id, expires_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(expires_at);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn jwt_state(
        &self,
        client_id: &str,
        username: Option<&str>,
        ids: [&str; 2],
    ) -> StoreResult<JwtState> {
        let stmt = Stmt::new(
            "SELECT c.enabled AS client_enabled, c.settings AS client_settings, \
             (SELECT u.enabled FROM users u WHERE u.username = $2) AS user_enabled, \
             EXISTS (SELECT 1 FROM revoked_jwts r WHERE r.id IN ($3, $4)) AS denied \
             FROM clients c WHERE c.client_id = $1",
        )
        .bind(client_id)
        .bind(username)
        .bind(ids[0])
        .bind(ids[1]);
        let row: Option<JwtStateRow> = self.read().await?.fetch_optional(stmt).await?;
        JwtState::try_from(row)
    }

    async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO auth_codes (code_hash, client_id, username, redirect_uri, \
             redirect_given, code_challenge, scope, nonce, auth_time, family_id, \
             expires_at, used_at, sid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&c.hash[..])
        .bind(&c.client_id)
        .bind(&c.username)
        .bind(&c.redirect_uri)
        .bind(c.redirect_given)
        .bind(c.code_challenge.as_deref())
        .bind(c.scope.to_string())
        .bind(c.nonce.as_deref())
        .bind(c.auth_time)
        .bind(&c.family_id)
        .bind(c.expires_at)
        .bind(c.used_at)
        .bind(c.sid.as_deref());
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn use_code(&self, hash: &Digest, now: i64) -> StoreResult<CodeUse> {
        let mut w = self.writing().await?;
        let mut tx = w.begin().await?;
        let mark = Stmt::new(
            "UPDATE auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&hash[..]);
        let marked = tx.execute(mark).await?;
        let read = Stmt::new("SELECT * FROM auth_codes WHERE code_hash = $1").bind(&hash[..]);
        let row: Option<CodeRow> = tx.fetch_optional(read).await?;
        B::Conn::commit(tx).await?;
        Ok(match row.map(AuthCode::try_from).transpose()? {
            None => CodeUse::Unknown,
            Some(c) if marked == 1 => CodeUse::Fresh(c),
            Some(c) => CodeUse::Replayed(c),
        })
    }
}

/// Most tokens one statement inserts: 11 arguments each stays within both
/// dialects' limit on a statement's parameters (SQLite 32,766).
const ROWS_PER_STATEMENT: usize = 1000;

/// Inserts `tokens` atomically through `conn`: one statement, or, past
/// [`ROWS_PER_STATEMENT`], several in one transaction.
pub(super) async fn insert<C: Conn>(conn: &mut C, tokens: &[TokenRecord]) -> StoreResult<()> {
    if tokens.len() <= ROWS_PER_STATEMENT {
        conn.execute(insert_statement(tokens)).await?;
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    for chunk in tokens.chunks(ROWS_PER_STATEMENT) {
        tx.execute(insert_statement(chunk)).await?;
    }
    C::commit(tx).await
}

/// The statement that stores `tokens`: one row of `VALUES` each.
pub(super) fn insert_statement(tokens: &[TokenRecord]) -> Stmt<'_> {
    let mut sql = String::from(
        "INSERT INTO tokens (token_hash, kind, client_id, username, scope, grant_type, \
         issued_at, expires_at, family_id, rotated_at, revoked_at) VALUES ",
    );
    let mut args = Vec::with_capacity(tokens.len() * 11);
    for (i, t) in tokens.iter().enumerate() {
        let n = i * 11;
        let sep = if i == 0 { "" } else { ", " };
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            "{sep}(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 8,
            n + 9,
            n + 10,
            n + 11
        );
        args.extend(columns(t));
    }
    Stmt {
        sql: sql.into(),
        args,
    }
}

/// A token's values, in the statement's column order.
fn columns(t: &TokenRecord) -> [Arg<'_>; 11] {
    [
        Arg::from(&t.hash[..]),
        Arg::from(t.kind.as_str()),
        Arg::from(&t.client_id),
        Arg::from(t.username.as_deref()),
        Arg::from(t.scope.to_string()),
        Arg::from(t.grant_type.as_str()),
        Arg::from(t.issued_at),
        Arg::from(t.expires_at),
        Arg::from(&t.family_id),
        Arg::from(t.rotated_at),
        Arg::from(t.revoked_at),
    ]
}

#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    token_hash: Vec<u8>,
    kind: String,
    client_id: String,
    username: Option<String>,
    scope: String,
    grant_type: String,
    issued_at: i64,
    expires_at: i64,
    family_id: String,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;

    fn try_from(r: TokenRow) -> StoreResult<Self> {
        Ok(TokenRecord {
            hash: digest(r.token_hash)?,
            kind: match r.kind.as_str() {
                "access" => TokenKind::Access,
                "refresh" => TokenKind::Refresh,
                other => return Err(StoreError::Corrupt(format!("token kind `{other}`"))),
            },
            scope: parse_scope(&r.scope)?,
            grant_type: r
                .grant_type
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("grant type `{}`", r.grant_type)))?,
            client_id: r.client_id,
            username: r.username,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            family_id: r.family_id,
            rotated_at: r.rotated_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// A token joined with its client and user (`find_token`).
#[derive(Debug, sqlx::FromRow)]
struct LookupRow {
    #[sqlx(flatten)]
    token: TokenRow,
    client_enabled: bool,
    client_settings: String,
    user_enabled: Option<bool>,
}

impl TryFrom<LookupRow> for TokenLookup {
    type Error = StoreError;

    fn try_from(r: LookupRow) -> StoreResult<Self> {
        let token = TokenRecord::try_from(r.token)?;
        let settings = parse_settings(&r.client_settings)?;
        Ok(TokenLookup {
            // A token naming a user that no longer exists is unusable.
            user_enabled: token
                .username
                .as_ref()
                .map(|_| r.user_enabled.unwrap_or(false)),
            client_enabled: r.client_enabled,
            client_qps: settings.qps,
            client_per_day: settings.per_day,
            client_audience: settings.audience,
            token,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct CodeRow {
    code_hash: Vec<u8>,
    client_id: String,
    username: String,
    redirect_uri: String,
    redirect_given: bool,
    code_challenge: Option<String>,
    scope: String,
    nonce: Option<String>,
    auth_time: i64,
    family_id: String,
    expires_at: i64,
    used_at: Option<i64>,
    sid: Option<String>,
}

impl TryFrom<CodeRow> for AuthCode {
    type Error = StoreError;

    fn try_from(r: CodeRow) -> StoreResult<Self> {
        Ok(AuthCode {
            hash: digest(r.code_hash)?,
            scope: parse_scope(&r.scope)?,
            client_id: r.client_id,
            username: r.username,
            redirect_uri: r.redirect_uri,
            redirect_given: r.redirect_given,
            code_challenge: r.code_challenge,
            nonce: r.nonce,
            auth_time: r.auth_time,
            family_id: r.family_id,
            expires_at: r.expires_at,
            used_at: r.used_at,
            sid: r.sid,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct JwtStateRow {
    client_enabled: bool,
    client_settings: String,
    user_enabled: Option<bool>,
    denied: bool,
}

impl TryFrom<Option<JwtStateRow>> for JwtState {
    type Error = StoreError;

    fn try_from(row: Option<JwtStateRow>) -> StoreResult<Self> {
        let Some(r) = row else {
            return Ok(JwtState {
                client: None,
                user_enabled: None,
                denied: false,
            });
        };
        let settings = parse_settings(&r.client_settings)?;
        Ok(JwtState {
            client: Some(ClientState {
                enabled: r.client_enabled,
                qps: settings.qps,
                per_day: settings.per_day,
            }),
            user_enabled: r.user_enabled,
            denied: r.denied,
        })
    }
}
