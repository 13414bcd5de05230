//! Initial access tokens (RFC 7591 §3): what an admin hands a developer so
//! a client can register itself. Stored by digest only; each works until
//! it expires, and the sweep deletes it then.

use async_trait::async_trait;

use super::rows::digest;
use super::sql::{Backend, Conn, Stmt};
use super::{Digest, StoreError, StoreResult};

/// An initial access token, as stored (by its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    pub hash: Digest,
    /// Who issued it (`cli:alice`, `console:bob`, a client id).
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[async_trait]
pub trait InitialAccessTokens {
    async fn insert_initial_access_token(&self, t: &InitialAccessToken) -> StoreResult<()>;
    async fn initial_access_token(&self, hash: &Digest) -> StoreResult<Option<InitialAccessToken>>;
}

#[async_trait]
impl<B: Backend> InitialAccessTokens for B {
    async fn insert_initial_access_token(&self, t: &InitialAccessToken) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO initial_access_tokens (token_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&t.hash[..])
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.expires_at);
        self.writing().await?.execute(stmt).await?;
        Ok(())
    }

    async fn initial_access_token(&self, hash: &Digest) -> StoreResult<Option<InitialAccessToken>> {
        let stmt = Stmt::new(
            "SELECT token_hash, created_by, created_at, expires_at \
             FROM initial_access_tokens WHERE token_hash = $1",
        )
        .bind(&hash[..]);
        let row: Option<Row> = self.read().await?.fetch_optional(stmt).await?;
        row.map(InitialAccessToken::try_from).transpose()
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    token_hash: Vec<u8>,
    created_by: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<Row> for InitialAccessToken {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(Self {
            hash: digest(r.token_hash)?,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}
