//! Signing keys through [`Admin`]: list, rotate in, retire, revoke; each
//! change audited. Private keys never leave the store this way.

use serde_json::json;
use tollgate_proto::admin::{KeyInfo, KeyRotation};

use tollgate_proto::jose::SigningAlg;

use super::views::key_info;
use super::{retire_key, revoke_key, rotate_key, Admin, AdminError};
use crate::config::JwtConfig;

impl Admin<'_> {
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, AdminError> {
        let keys = self.store.signing_keys().await?;
        Ok(keys.iter().map(|k| key_info(k, self.now)).collect())
    }

    /// Adds a key of `rotation.alg`, or of every algorithm when it names
    /// none: published now and signing after `jwt.prepublish_secs`; with
    /// `now`, signing at once and every key of its algorithm that signed
    /// revoked.
    pub async fn rotate_keys(
        &self,
        jwt: &JwtConfig,
        rotation: KeyRotation,
    ) -> Result<Vec<KeyInfo>, AdminError> {
        let algs = match rotation.alg {
            Some(alg) => vec![alg],
            None => SigningAlg::ALL.to_vec(),
        };
        let mut made = Vec::with_capacity(algs.len());
        for alg in algs {
            let (key, revoked) =
                rotate_key(self.store, self.now, alg, jwt.prepublish_secs, rotation.now).await?;
            let info = key_info(&key, self.now);
            self.record("key.rotate", &key.kid, json!({ "key": info }))
                .await;
            for kid in revoked {
                self.record("key.revoke", &kid, json!({ "replaced_by": key.kid }))
                    .await;
            }
            made.push(info);
        }
        Ok(made)
    }

    /// Revokes `kid` at once: every token it signed is refused from now on.
    /// A key of its algorithm is made to sign when no other does.
    pub async fn revoke_key(&self, kid: &str) -> Result<KeyInfo, AdminError> {
        let made = revoke_key(self.store, self.now, kid).await?;
        if let Some(key) = &made {
            let info = key_info(key, self.now);
            self.record("key.rotate", &key.kid, json!({ "key": info }))
                .await;
        }
        let replaced_by = made.map(|k| k.kid);
        self.record("key.revoke", kid, json!({ "replaced_by": replaced_by }))
            .await;
        self.key(kid).await
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
            .filter_map(|c| c.settings.token_ttl)
            .fold(server_ttl, u64::max);
        self.retire_key(kid, longest.saturating_add(leeway)).await
    }

    /// Retires `kid`: published for `longest_ttl` more, signing no more.
    pub async fn retire_key(&self, kid: &str, longest_ttl: u64) -> Result<KeyInfo, AdminError> {
        let until = retire_key(self.store, self.now, kid, longest_ttl).await?;
        self.record("key.retire", kid, json!({ "published_until": until }))
            .await;
        self.key(kid).await
    }

    async fn key(&self, kid: &str) -> Result<KeyInfo, AdminError> {
        let keys = self.keys().await?;
        keys.into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| AdminError::Invalid(format!("signing key `{kid}` vanished")))
    }
}
