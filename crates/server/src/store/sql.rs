//! The small query layer both SQL backends run, so each aggregate's SQL is
//! written once, as ordinary functions, for SQLite and PostgreSQL alike.
//!
//! A statement is plain data ([`Stmt`]: text and [`Arg`]s); the backends
//! say how their connections run one ([`Conn`]) and where connections come
//! from ([`Backend`]). The statements are the same text on both dialects:
//! `$N` means argument N on both (SQLite reads `$N` as a numbered
//! parameter), and the schema's column types line up. Binding through an
//! enum rather than generic sqlx code keeps the bounds out of every
//! function; the backends bind each variant as the Rust type it holds, so
//! PostgreSQL sees the same parameter types as before.

use std::borrow::Cow;
use std::ops::DerefMut;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

use super::StoreResult;

/// One argument of a statement, as the column type it binds to.
#[derive(Debug, Clone)]
pub enum Arg<'q> {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<Cow<'q, str>>),
    Bytes(Option<&'q [u8]>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(Some(v))
    }
}

impl From<Option<bool>> for Arg<'_> {
    fn from(v: Option<bool>) -> Self {
        Self::Bool(v)
    }
}

impl<'q> From<&'q str> for Arg<'q> {
    fn from(v: &'q str) -> Self {
        Self::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'q> From<&'q String> for Arg<'q> {
    fn from(v: &'q String) -> Self {
        Self::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Self::Text(Some(Cow::Owned(v)))
    }
}

impl<'q> From<Option<&'q str>> for Arg<'q> {
    fn from(v: Option<&'q str>) -> Self {
        Self::Text(v.map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Self::Text(v.map(Cow::Owned))
    }
}

impl<'q> From<&'q [u8]> for Arg<'q> {
    fn from(v: &'q [u8]) -> Self {
        Self::Bytes(Some(v))
    }
}

impl<'q> From<Option<&'q [u8]>> for Arg<'q> {
    fn from(v: Option<&'q [u8]>) -> Self {
        Self::Bytes(v)
    }
}

/// A statement and its arguments, `$1` first.
#[derive(Debug, Clone)]
pub struct Stmt<'q> {
    pub sql: Cow<'q, str>,
    pub args: Vec<Arg<'q>>,
}

impl<'q> Stmt<'q> {
    pub fn new(sql: impl Into<Cow<'q, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Appends the next argument.
    pub fn bind(mut self, arg: impl Into<Arg<'q>>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// A row type both backends can decode.
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<R> Record for R where
    R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// A database connection, or a transaction on one (which derefs to it).
///
/// A unique violation comes back as `StoreError::Conflict` with the
/// database's message; the caller names what conflicted.
#[async_trait]
pub trait Conn: Send {
    /// An open transaction; dropped without [`Conn::commit`], it rolls back.
    type Tx<'c>: DerefMut<Target = Self> + Send
    where
        Self: 'c;

    /// Runs `stmt`; how many rows it changed.
    async fn execute(&mut self, stmt: Stmt<'_>) -> StoreResult<u64>;
    async fn fetch_optional<R: Record>(&mut self, stmt: Stmt<'_>) -> StoreResult<Option<R>>;
    async fn fetch_all<R: Record>(&mut self, stmt: Stmt<'_>) -> StoreResult<Vec<R>>;
    async fn begin(&mut self) -> StoreResult<Self::Tx<'_>>;
    async fn commit(tx: Self::Tx<'_>) -> StoreResult<()>;
}

/// Where a backend's connections come from, and what else differs.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    type Conn: Conn;
    /// A pooled connection to read through.
    type Read: DerefMut<Target = Self::Conn> + Send;
    /// A connection to write through, with the process's write turn where
    /// the backend has one (SQLite's single writer).
    type Write: DerefMut<Target = Self::Conn> + Send;

    /// What ends the read that starts a client update: a row lock on
    /// PostgreSQL; nothing on SQLite, whose single writer serialises anyway.
    const FOR_UPDATE: &'static str;

    async fn read(&self) -> StoreResult<Self::Read>;
    async fn writing(&self) -> StoreResult<Self::Write>;
    /// Finishes pending writes and closes the pools.
    async fn close(&self);
}

/// A pooled connection to write through, and the process's write turn where
/// the backend has one (SQLite, whose token writer thread takes the same
/// turn); both are given back when this is dropped.
#[derive(Debug)]
pub struct Writing<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> Writing<DB> {
    pub fn new(
        conn: sqlx::pool::PoolConnection<DB>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Self {
        Self { conn, _turn: turn }
    }
}

impl<DB: sqlx::Database> std::ops::Deref for Writing<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for Writing<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}
