//! What was used and what was changed: usage counts by day, and the audit
//! log. Counts are added in the database, so several instances flushing
//! the same rows add up; the audit log never holds a secret.

use async_trait::async_trait;

use super::rows::{count_i64, count_u64};
use super::sql::{Backend, Conn, Stmt};
use super::{CallUsage, StoreResult, TokenUsage};

/// Usage of every client, or one, over the days `from..=to` (`YYYY-MM-DD`).
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub client_id: Option<String>,
    pub from: String,
    pub to: String,
}

/// One change, as the audit log keeps it: who, what, to what, when, and a
/// JSON detail that never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

#[async_trait]
pub trait Ledger {
    /// Adds these counts to the stored ones, in one transaction: several
    /// instances flushing the same rows add up.
    async fn add_usage(&self, calls: &[CallUsage], tokens: &[TokenUsage]) -> StoreResult<()>;
    /// The stored usage the query selects, by day, client and route.
    async fn usage(&self, query: &UsageQuery) -> StoreResult<(Vec<CallUsage>, Vec<TokenUsage>)>;
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    async fn audit_log(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
}

#[async_trait]
impl<B: Backend> Ledger for B {
    async fn add_usage(&self, calls: &[CallUsage], tokens: &[TokenUsage]) -> StoreResult<()> {
        let mut w = self.writing().await?;
        let mut tx = w.begin().await?;
        for c in calls {
            let stmt = Stmt::new(
                "INSERT INTO usage_calls (client_id, day, route, admitted, over_qps, over_day) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, day, route) \
                 DO UPDATE SET admitted = usage_calls.admitted + excluded.admitted, \
                 over_qps = usage_calls.over_qps + excluded.over_qps, \
                 over_day = usage_calls.over_day + excluded.over_day",
            )
            .bind(&c.client_id)
            .bind(&c.day)
            .bind(&c.route)
            .bind(count_i64(c.admitted))
            .bind(count_i64(c.rejected_per_second))
            .bind(count_i64(c.rejected_per_day));
            tx.execute(stmt).await?;
        }
        for t in tokens {
            let stmt = Stmt::new(
                "INSERT INTO usage_tokens (client_id, day, grant_type, outcome, n) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (client_id, day, grant_type, outcome) \
                 DO UPDATE SET n = usage_tokens.n + excluded.n",
            )
            .bind(&t.client_id)
            .bind(&t.day)
            .bind(&t.grant_type)
            .bind(&t.outcome)
            .bind(count_i64(t.count));
            tx.execute(stmt).await?;
        }
        B::Conn::commit(tx).await
    }

    async fn usage(&self, q: &UsageQuery) -> StoreResult<(Vec<CallUsage>, Vec<TokenUsage>)> {
        let calls = Stmt::new(
            "SELECT * FROM usage_calls WHERE day >= $1 AND day <= $2 \
             AND ($3 IS NULL OR client_id = $3) ORDER BY day, client_id, route",
        )
        .bind(&q.from)
        .bind(&q.to)
        .bind(q.client_id.as_deref());
        let tokens = Stmt::new(
            "SELECT * FROM usage_tokens WHERE day >= $1 AND day <= $2 \
             AND ($3 IS NULL OR client_id = $3) \
             ORDER BY day, client_id, grant_type, outcome",
        )
        .bind(&q.from)
        .bind(&q.to)
        .bind(q.client_id.as_deref());
        let mut conn = self.read().await?;
        let calls: Vec<CallUsageRow> = conn.fetch_all(calls).await?;
        let tokens: Vec<TokenUsageRow> = conn.fetch_all(tokens).await?;
        Ok((
            calls.into_iter().map(CallUsage::from).collect(),
            tokens.into_iter().map(TokenUsage::from).collect(),
        ))
    }

    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO audit_log (at, actor, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(r.at)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.target)
        .bind(&r.detail);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn audit_log(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let stmt = Stmt::new(
            "SELECT * FROM audit_log WHERE id < $1 AND ($2 IS NULL OR target = $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(q.target.as_deref())
        .bind(i64::from(q.limit));
        self.read().await?.fetch_all(stmt).await
    }
}

#[derive(Debug, sqlx::FromRow)]
struct CallUsageRow {
    client_id: String,
    day: String,
    route: String,
    admitted: i64,
    over_qps: i64,
    over_day: i64,
}

impl From<CallUsageRow> for CallUsage {
    fn from(r: CallUsageRow) -> Self {
        CallUsage {
            client_id: r.client_id,
            day: r.day,
            route: r.route,
            admitted: count_u64(r.admitted),
            rejected_per_second: count_u64(r.over_qps),
            rejected_per_day: count_u64(r.over_day),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct TokenUsageRow {
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
            count: count_u64(r.n),
        }
    }
}
