//! Browser sign-ins and the consents given in them: the records, and their
//! storage. A session is stored by the key of its cookie value, never the
//! value itself; a consent is the scope a user granted a client; a
//! session's clients are those it signed in to (Back-Channel Logout).

use async_trait::async_trait;
use tollgate_proto::Scope;

use super::rows::parse_scope;
use super::sql::{Backend, Conn, Stmt};
use super::{Digest, StoreResult};

/// A browser's sign-in, as stored (by the key of its cookie value).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub username: String,
    pub auth_time: i64,
    pub expires_at: i64,
    /// Its id in ID and logout tokens (`sid`, Back-Channel Logout 1.0):
    /// random, not the cookie's value; empty for sessions stored before.
    pub sid: String,
}

#[async_trait]
pub trait Sessions {
    /// Stores a session, or moves the end of the one stored under `hash`.
    async fn create_session(&self, hash: &Digest, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, hash: &Digest) -> StoreResult<Option<Session>>;
    /// Ends every session of `username` (sign-in and console, on every
    /// instance: they share the store); how many there were.
    async fn delete_user_sessions(&self, username: &str) -> StoreResult<u64>;
    /// Remembers that the session `sid` signed in to `client_id`.
    async fn record_session_client(&self, sid: &str, client_id: &str) -> StoreResult<()>;
    /// Every (session id, client id) of the live sessions of `username`.
    async fn session_clients(&self, username: &str) -> StoreResult<Vec<(String, String)>>;
    /// The scope `username` consented to for `client_id`, if any.
    async fn consent(&self, username: &str, client_id: &str) -> StoreResult<Option<Scope>>;
    async fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> StoreResult<()>;
}

#[async_trait]
impl<B: Backend> Sessions for B {
    async fn create_session(&self, hash: &Digest, s: &Session) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO sessions (id_hash, username, auth_time, expires_at, sid) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id_hash) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(&hash[..])
        .bind(&s.username)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .bind(&s.sid);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn get_session(&self, hash: &Digest) -> StoreResult<Option<Session>> {
        let stmt = Stmt::new(
            "SELECT username, auth_time, expires_at, sid FROM sessions WHERE id_hash = $1",
        )
        .bind(&hash[..]);
        self.read().await?.fetch_optional(stmt).await
    }

    async fn delete_user_sessions(&self, username: &str) -> StoreResult<u64> {
        let stmt = Stmt::new("DELETE FROM sessions WHERE username = $1").bind(username);
        self.writing().await?.execute(stmt).await
    }

    async fn record_session_client(&self, sid: &str, client_id: &str) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO session_clients (sid, client_id) VALUES ($1, $2) \
             ON CONFLICT (sid, client_id) DO NOTHING",
        )
        .bind(sid)
        .bind(client_id);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn session_clients(&self, username: &str) -> StoreResult<Vec<(String, String)>> {
        let stmt = Stmt::new(
            "SELECT DISTINCT c.sid, c.client_id FROM session_clients c \
             JOIN sessions s ON s.sid = c.sid WHERE s.username = $1 AND s.sid <> '' \
             ORDER BY c.sid, c.client_id",
        )
        .bind(username);
        self.read().await?.fetch_all(stmt).await
    }

    async fn consent(&self, username: &str, client_id: &str) -> StoreResult<Option<Scope>> {
        let stmt = Stmt::new("SELECT scope FROM consents WHERE username = $1 AND client_id = $2")
            .bind(username)
            .bind(client_id);
        let row: Option<(String,)> = self.read().await?.fetch_optional(stmt).await?;
        row.map(|(s,)| parse_scope(&s)).transpose()
    }

    async fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO consents (username, client_id, scope, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (username, client_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(username)
        .bind(client_id)
        .bind(scope.to_string())
        .bind(now);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }
}
