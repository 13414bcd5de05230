//! The audit log: one record per change, written after the change, read
//! back newest first. A detail names what changed, never a secret.

use serde_json::Value;
use tollgate_proto::admin::{AuditEntry, Page};

use super::{page, Admin, AdminError};
use crate::store::{AuditQuery, AuditRecord};

impl Admin<'_> {
    /// Writes `action` on `target` to the audit log, after this server's
    /// caches are dropped. The change is made already: a failure to record
    /// it is logged, not returned, so the caller is not told a change failed
    /// that did not.
    pub async fn record(&self, action: &str, target: &str, detail: Value) {
        if let Some(server) = self.caches {
            if let Err(e) = server.follow_change().await {
                tracing::warn!(error = %e, "cannot read the signing keys again");
            }
        }
        let record = AuditRecord {
            id: 0,
            at: self.now,
            actor: self.actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: detail.to_string(),
        };
        match self.store.append_audit(&record).await {
            Ok(()) => tracing::info!(actor = self.actor, action, target, "admin change"),
            Err(e) => {
                tracing::error!(error = %e, actor = self.actor, action, target, "admin change made but not written to the audit log")
            }
        }
    }

    /// A page of the log, newest first; `next` is the `before` of the next.
    pub async fn audit_log(&self, query: AuditQuery) -> Result<Page<AuditEntry>, AdminError> {
        let records = self.store.audit_log(&query).await?;
        Ok(page(
            records,
            query.limit,
            |r| r.id.to_string(),
            AuditEntry::from,
        ))
    }
}
