//! Revocation (RFC 7009). Unknown tokens and other clients' tokens are
//! silently ignored (§2.2: the answer is 200 either way). Revoking a refresh
//! token revokes its whole family, including the access tokens issued from
//! it. A JWT access token has no row: its `jti` goes on the denylist until
//! its `exp`, and a revoked family's `sid` until the longest access token
//! it can have outlives.

use super::error::GrantError;
use super::tokens::Invalidation;
use super::{jwt, secret, AuthServer};
use crate::store::{Client, TokenKind};
use tollgate_proto::client::TokenFormat;

pub async fn revoke(server: &AuthServer, caller: &Client, token: &str) -> Result<(), GrantError> {
    if jwt::looks_like_jwt(token) {
        return revoke_jwt(server, caller, token).await;
    }
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
            revoke_family(server, caller, &t.family_id).await?;
        }
    }
    tracing::info!(client_id = %caller.client_id, kind = t.kind.as_str(), "token revoked");
    Ok(())
}

/// A JWT of this server, signed for `caller`, goes on the denylist.
async fn revoke_jwt(server: &AuthServer, caller: &Client, token: &str) -> Result<(), GrantError> {
    let Ok(claims) = server.tokens.verify_jwt(token).await else {
        return Ok(());
    };
    if claims.client_id != caller.client_id {
        return Ok(());
    }
    let until = claims.exp.saturating_add(server.tokens.leeway());
    server
        .store
        .deny_jwt(&format!("jti:{}", claims.jti), until)
        .await?;
    let key = secret::token_key(token);
    server.tokens.invalidate(Invalidation::Token(key)).await;
    tracing::info!(client_id = %caller.client_id, kind = "access", "token revoked");
    Ok(())
}

/// Revokes every token of `family` (a refresh token revoked or reused):
/// stored ones in the store, JWTs by the family's `sid`.
pub async fn revoke_family(
    server: &AuthServer,
    client: &Client,
    family: &str,
) -> Result<u64, GrantError> {
    let now = server.clock.now_secs();
    let revoked = server.store.revoke_family(family, now).await?;
    if client
        .settings
        .token_format
        .unwrap_or(server.config.token_format)
        == TokenFormat::Jwt
    {
        let longest = client
            .settings
            .token_ttl
            .unwrap_or(0)
            .max(server.config.token_ttl);
        let leeway = server.config.jwt.leeway_secs;
        let until = now.saturating_add(i64::try_from(longest + leeway).unwrap_or(i64::MAX));
        server
            .store
            .deny_jwt(&format!("sid:{family}"), until)
            .await?;
    }
    server
        .tokens
        .invalidate(Invalidation::Family(family.to_owned()))
        .await;
    Ok(revoked)
}
