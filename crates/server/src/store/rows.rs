//! Reading and writing column values the aggregates share: digests,
//! scopes, counts, space-separated lists, and the errors a statement's
//! outcome means. A value this version cannot read is `StoreError::Corrupt`.

use std::collections::BTreeSet;

use tollgate_proto::admin::Role;
use tollgate_proto::{GrantType, Scope};

use super::{Digest, StoreError, StoreResult};

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

/// A stored count read back; a negative one (never written) reads as 0.
pub(super) fn count_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn digest(bytes: Vec<u8>) -> StoreResult<Digest> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a digest is not 32 bytes".into()))
}

pub(super) fn parse_scope(s: &str) -> StoreResult<Scope> {
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

pub(super) fn parse_roles(s: &str) -> StoreResult<Vec<Role>> {
    s.split_whitespace()
        .map(|n| Role::parse(n).ok_or_else(|| StoreError::Corrupt(format!("role `{n}`"))))
        .collect()
}

/// `NotFound` when a statement touched no row.
pub(super) fn found(rows: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// Names what a unique violation was about (`client `x``), for
/// `map_err`; other errors pass through.
pub(super) fn named(what: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(what()),
        other => other,
    }
}
