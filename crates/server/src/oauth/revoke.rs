//! Revocation (RFC 7009). Unknown tokens and other clients' tokens are
//! silently ignored (§2.2: the answer is 200 either way). Revoking a refresh
//! token revokes its whole family, including the access tokens issued from it.

use super::secret;
use super::tokens::Invalidation;
use super::AuthServer;
use crate::store::{Client, TokenKind};
use crate::Error;

pub async fn revoke(server: &AuthServer, caller: &Client, token: &str) -> Result<(), Error> {
    let hash = secret::token_key(token);
    let Some(lookup) = server.store.find_token(&hash).await? else {
        return Ok(());
    };
    let t = &lookup.token;
    if t.client_id != caller.client_id {
        return Ok(());
    }
    let now = server.clock.now_secs();
    match t.kind {
        TokenKind::Access => {
            server.store.revoke_token(&hash, now).await?;
            server.tokens.invalidate(Invalidation::Token(hash)).await;
        }
        TokenKind::Refresh => {
            server.store.revoke_family(&t.family_id, now).await?;
            server
                .tokens
                .invalidate(Invalidation::Family(t.family_id.clone()))
                .await;
        }
    }
    tracing::info!(client_id = %caller.client_id, kind = t.kind.as_str(), "token revoked");
    Ok(())
}
