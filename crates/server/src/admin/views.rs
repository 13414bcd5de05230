//! Records as the admin API shows them (`tollgate_proto::admin`): every
//! field but secret digests and private keys.

use tollgate_proto::admin::{AuditEntry, ClientInfo, KeyInfo, KeyState, UserInfo};

use crate::store::{AuditRecord, Client, SigningKey, User};

impl From<&Client> for ClientInfo {
    fn from(c: &Client) -> Self {
        ClientInfo {
            client_id: c.client_id.clone(),
            settings: c.settings.clone(),
            enabled: c.enabled,
            created_at: c.created_at,
            previous_secret_until: c.previous_secret.map(|p| p.until),
            owner: c.owner.clone(),
            requested_scope: c.requested_scopes.clone(),
        }
    }
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        UserInfo {
            username: u.username.clone(),
            enabled: u.enabled,
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            created_at: u.created_at,
            roles: u.roles.clone(),
        }
    }
}

/// A key and what it does at `now`.
pub fn key_info(k: &SigningKey, now: i64) -> KeyInfo {
    let state = match (k.retired_at, k.published_until) {
        (Some(_), Some(until)) if until <= now => KeyState::Retired,
        (Some(_), _) => KeyState::Published,
        (None, _) if k.signs_from > now => KeyState::Pending,
        (None, _) => KeyState::Signing,
    };
    KeyInfo {
        kid: k.kid.clone(),
        alg: k.alg,
        state,
        created_at: k.created_at,
        signs_from: k.signs_from,
        retired_at: k.retired_at,
        published_until: k.published_until,
    }
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}
