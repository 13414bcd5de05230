//! Signing keys through [`Admin`]: list, rotate in, retire; each change
//! audited. Private keys never leave the store this way.

use serde_json::json;
use tollgate_proto::admin::{KeyInfo, KeyRotation};

use super::views::key_info;
use super::{retire_key, rotate_key, Admin, AdminError};
use crate::config::{JwtConfig, SigningAlg};

impl Admin<'_> {
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, AdminError> {
        let keys = self.store.signing_keys().await?;
        Ok(keys.iter().map(|k| key_info(k, self.now)).collect())
    }

    /// Adds a key, published now and signing after `jwt.prepublish_secs`
    /// (or at once with `now`).
    pub async fn rotate_key(
        &self,
        jwt: &JwtConfig,
        rotation: KeyRotation,
    ) -> Result<KeyInfo, AdminError> {
        let alg = match rotation.alg.as_deref() {
            None => jwt.algorithm,
            Some(a) => SigningAlg::parse(a).ok_or_else(|| {
                AdminError::Invalid(format!("alg `{a}`: expected ES256, EdDSA or RS256"))
            })?,
        };
        let key = rotate_key(self.store, self.now, alg, jwt.prepublish_secs, rotation.now).await?;
        let info = key_info(&key, self.now);
        self.record("key.rotate", &key.kid, json!({ "key": info }))
            .await;
        Ok(info)
    }

    /// Retires `kid`, kept published as long as a token it signed can
    /// live: the longest of `server_ttl` and every client's own lifetime,
    /// plus the verifiers' `leeway`.
    pub async fn retire_key_after_tokens(
        &self,
        kid: &str,
        server_ttl: u64,
        leeway: u64,
    ) -> Result<KeyInfo, AdminError> {
        let clients = self.store.list_clients().await?;
        let longest = clients
            .iter()
            .filter_map(|c| c.token_ttl)
            .fold(server_ttl, u64::max);
        self.retire_key(kid, longest.saturating_add(leeway)).await
    }

    /// Retires `kid`: published for `longest_ttl` more, signing no more.
    pub async fn retire_key(&self, kid: &str, longest_ttl: u64) -> Result<KeyInfo, AdminError> {
        let until = retire_key(self.store, self.now, kid, longest_ttl).await?;
        self.record("key.retire", kid, json!({ "published_until": until }))
            .await;
        let keys = self.keys().await?;
        keys.into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| AdminError::Invalid(format!("signing key `{kid}` vanished")))
    }
}
