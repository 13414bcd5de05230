//! Rows as both SQL backends return them, and their conversion into the
//! store's records. Shared so SQLite and PostgreSQL read data identically;
//! a value this version cannot read is `StoreError::Corrupt`.

use std::collections::BTreeSet;

use tollgate_proto::admin::Role;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::jose::SigningAlg;
use tollgate_proto::{GrantType, Scope};

use super::{
    AuditRecord, AuthCode, CallUsage, Client, ClientState, Digest, JwtState, PreviousSecret,
    Session, SigningKey, StoreError, StoreResult, TokenKind, TokenLookup, TokenRecord, TokenUsage,
    User, UserUpdate,
};

/// A client as stored: its settings as one JSON document (a setting added
/// later reads as its default from rows written before it), `name` and
/// `grants` copied from them for the list's filters, and its state.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClientRow {
    client_id: String,
    settings: String,
    secret_hash: Vec<u8>,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_until: Option<i64>,
    enabled: bool,
    created_at: i64,
    owner: Option<String>,
    requested_scopes: String,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(r: ClientRow) -> StoreResult<Self> {
        Ok(Client {
            settings: parse_settings(&r.settings)?,
            secret_hash: digest(r.secret_hash)?,
            requested_scopes: parse_scope(&r.requested_scopes)?,
            previous_secret: match (r.previous_secret_hash, r.previous_secret_until) {
                (Some(hash), Some(until)) => Some(PreviousSecret {
                    hash: digest(hash)?,
                    until,
                }),
                _ => None,
            },
            client_id: r.client_id,
            enabled: r.enabled,
            created_at: r.created_at,
            owner: r.owner,
        })
    }
}

/// A client's settings as the `settings` column holds them.
pub(super) fn settings_json(s: &ClientSettings) -> StoreResult<String> {
    serde_json::to_string(s).map_err(|e| StoreError::Backend(format!("client settings: {e}")))
}

fn parse_settings(json: &str) -> StoreResult<ClientSettings> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("client settings: {e}")))
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct CodeRow {
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
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionRow {
    username: String,
    auth_time: i64,
    expires_at: i64,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            username: r.username,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SigningKeyRow {
    kid: String,
    alg: String,
    private_der: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    signs_from: i64,
    retired_at: Option<i64>,
    published_until: Option<i64>,
}

impl TryFrom<SigningKeyRow> for SigningKey {
    type Error = StoreError;

    fn try_from(r: SigningKeyRow) -> StoreResult<Self> {
        Ok(SigningKey {
            alg: SigningAlg::parse(&r.alg)
                .ok_or_else(|| StoreError::Corrupt(format!("signing key alg `{}`", r.alg)))?,
            kid: r.kid,
            private_der: r.private_der,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            signs_from: r.signs_from,
            retired_at: r.retired_at,
            published_until: r.published_until,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct JwtStateRow {
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

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserRow {
    username: String,
    password_hash: String,
    full_name: Option<String>,
    email: Option<String>,
    enabled: bool,
    created_at: i64,
    roles: String,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> StoreResult<Self> {
        Ok(User {
            username: r.username,
            password_hash: r.password_hash,
            full_name: r.full_name,
            email: r.email,
            enabled: r.enabled,
            created_at: r.created_at,
            roles: r
                .roles
                .split_whitespace()
                .map(|n| Role::parse(n).ok_or_else(|| StoreError::Corrupt(format!("role `{n}`"))))
                .collect::<StoreResult<_>>()?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TokenRow {
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

/// A token joined with its client and user (see `LOOKUP_SQL` in each backend).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct LookupRow {
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

impl UserUpdate {
    /// Applies the fields that are set.
    pub fn apply(&self, user: &mut User) {
        let u = self.clone();
        user.full_name = u.full_name.unwrap_or(std::mem::take(&mut user.full_name));
        user.email = u.email.unwrap_or(std::mem::take(&mut user.email));
        user.enabled = u.enabled.unwrap_or(user.enabled);
        user.roles = u.roles.unwrap_or(std::mem::take(&mut user.roles));
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct CallUsageRow {
    client_id: String,
    day: String,
    route: String,
    admitted: i64,
    over_qps: i64,
    over_day: i64,
}

impl From<CallUsageRow> for CallUsage {
    fn from(r: CallUsageRow) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        CallUsage {
            client_id: r.client_id,
            day: r.day,
            route: r.route,
            admitted: n(r.admitted),
            rejected_per_second: n(r.over_qps),
            rejected_per_day: n(r.over_day),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TokenUsageRow {
    client_id: String,
    day: String,
    grant_type: String,
    outcome: String,
    n: i64,
}

impl From<TokenUsageRow> for TokenUsage {
    fn from(r: TokenUsageRow) -> Self {
        TokenUsage {
            client_id: r.client_id,
            day: r.day,
            grant_type: r.grant_type,
            outcome: r.outcome,
            count: u64::try_from(r.n).unwrap_or(0),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        AuditRecord {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: r.detail,
        }
    }
}

/// `LIKE` pattern for "contains `s`", any case, with its wildcards escaped
/// (`ESCAPE '\'`).
pub(super) fn contains_pattern(s: &str) -> String {
    let escaped = s
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A count as stored (SQL has no unsigned 64-bit integers).
pub(super) fn count_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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

pub(super) fn grants_to_string(grants: &BTreeSet<GrantType>) -> String {
    let names: Vec<&str> = grants.iter().map(|g| g.as_str()).collect();
    names.join(" ")
}

/// Roles as stored: space-separated names.
pub(super) fn roles_to_string(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    names.join(" ")
}

/// `NotFound` when an UPDATE touched no row.
pub(super) fn found(rows: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// `Conflict` for a unique violation, else the backend's own mapping.
pub(super) fn conflict_or(
    e: sqlx::Error,
    what: impl FnOnce() -> String,
    db_err: fn(sqlx::Error) -> StoreError,
) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => db_err(e),
    }
}
