//! User passwords: argon2id, run off the async runtime.
//!
//! Hashing is deliberately slow, so it runs on the blocking pool with at most
//! one hash per core at a time; the async workers keep serving other
//! requests. An unknown username is checked against a dummy hash so it costs
//! the same time as a wrong password.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use rand::TryRngCore;
use tokio::sync::Semaphore;

use crate::config::Argon2Params;
use crate::Error;

/// Hashes and verifies passwords with bounded parallelism.
#[derive(Debug)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    dummy_hash: String,
}

impl Passwords {
    /// Builds the hasher and the dummy hash (one argon2 run at start-up).
    pub fn new(cfg: Argon2Params) -> Result<Self, Error> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let dummy_hash = hash_blocking(&params, "tollgate dummy password")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash,
        })
    }

    /// The argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        let params = self.params.clone();
        self.blocking(move || hash_blocking(&params, &password))
            .await?
    }

    /// Whether `password` matches `stored`; with `stored = None` it checks
    /// against the dummy hash and answers false, taking the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, Error> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = self
            .blocking(move || verify_blocking(&password, &hash))
            .await??;
        Ok(ok && known)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("password hasher closed".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Internal(format!("password task failed: {e}")))
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| Error::Internal(format!("OS random source failed: {e}")))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("argon2 salt: {e}")))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2 hash: {e}")))
}

/// Verifies with the parameters recorded in the hash itself, so raising the
/// configured cost does not lock out existing users.
fn verify_blocking(password: &str, hash: &str) -> Result<bool, Error> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| Error::Internal(format!("stored password hash unreadable: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() -> Result<(), Error> {
        let p = Passwords::new(cheap())?;
        let h = p.hash("correct horse".into()).await?;
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify("correct horse".into(), Some(h.clone())).await?);
        assert!(!p.verify("wrong".into(), Some(h)).await?);
        assert!(!p.verify("tollgate dummy password".into(), None).await?);
        Ok(())
    }
}
