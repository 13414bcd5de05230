//! Revocation (RFC 7009). Unknown tokens and other clients' tokens are
//! silently ignored (§2.2: the answer is 200 either way). Revoking a refresh
//! token revokes its whole family, including the access tokens issued from it.

use super::secret;
use crate::shared::Invalidation;
use crate::state::AppState;
use crate::store::{Client, TokenKind};
use crate::Error;

pub async fn revoke(state: &AppState, caller: &Client, token: &str) -> Result<(), Error> {
    let hash = secret::token_key(token);
    let Some(lookup) = state.store.find_token(&hash).await? else {
        return Ok(());
    };
    let t = &lookup.token;
    if t.client_id != caller.client_id {
        return Ok(());
    }
    let now = state.clock.now_secs();
    match t.kind {
        TokenKind::Access => {
            state.store.revoke_token(&hash, now).await?;
            state.invalidate(Invalidation::Token(hash)).await;
        }
        TokenKind::Refresh => {
            state.store.revoke_family(&t.family_id, now).await?;
            state
                .invalidate(Invalidation::Family(t.family_id.clone()))
                .await;
        }
    }
    tracing::info!(client_id = %caller.client_id, kind = t.kind.as_str(), "token revoked");
    Ok(())
}
