//! SQLite's token writer: the group commit's flush, on a thread of its own.
//!
//! Token inserts are the hot write. Through sqlx, each batch crossed three
//! threads (the request's, the group-commit task's, sqlx's connection
//! thread) and travelled as JSON for SQLite to decode. Here one thread owns
//! a connection of its own to the database file, takes each batch from the
//! queue itself and writes it with one prepared statement per row inside
//! one `BEGIN IMMEDIATE` transaction. `synchronous=FULL` on this connection
//! keeps the promise that an answered insert is on disk.
//!
//! sqlx's write connection remains for every other write. The two take
//! turns through one fair (first come, first served) mutex, the process's
//! write turn: the writer thread holds it for each batch, every other write
//! for its statement or transaction. Meeting only at SQLite's lock, whose
//! busy handler polls with sleeps, the writer's back-to-back batches under
//! load could starve the other writes for the whole busy timeout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::sync::Mutex;

use super::group_commit::GroupCommit;
use super::sql::Arg;
use super::tokens::insert_statement;
use super::{StoreError, StoreResult, TokenRecord};

/// Opens the writer's connection to the (already migrated) database at
/// `path` and starts its thread, which holds `turn` while it writes.
pub fn spawn(
    path: &Path,
    busy_timeout: Duration,
    turn: Arc<Mutex<()>>,
) -> StoreResult<GroupCommit> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(db_err)?;
    conn.busy_timeout(busy_timeout).map_err(db_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(db_err)?;
    GroupCommit::spawn_thread("tollgate-sqlite-writer", move |rows| {
        let _turn = turn.blocking_lock();
        write(&mut conn, rows)
    })
}

/// Inserts `tokens` in one transaction, one prepared statement per row (the
/// statement `tokens::insert_statement` makes for one token); any failure
/// rolls all of them back.
fn write(conn: &mut Connection, tokens: &[TokenRecord]) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    for t in tokens {
        let stmt = insert_statement(std::slice::from_ref(t));
        let mut insert = tx.prepare_cached(&stmt.sql).map_err(db_err)?;
        insert
            .execute(params_from_iter(stmt.args.iter().map(value)))
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)
}

/// An argument as rusqlite binds it.
fn value<'a>(arg: &'a Arg<'_>) -> ToSqlOutput<'a> {
    ToSqlOutput::Borrowed(match arg {
        Arg::Int(Some(v)) => ValueRef::Integer(*v),
        Arg::Bool(Some(v)) => ValueRef::Integer(i64::from(*v)),
        Arg::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
        Arg::Bytes(Some(v)) => ValueRef::Blob(v),
        Arg::Int(None) | Arg::Bool(None) | Arg::Text(None) | Arg::Bytes(None) => ValueRef::Null,
    })
}

/// Sorts SQLite's errors as the sqlx side does: locked or busy is "try
/// later", anything else is broken.
fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}
