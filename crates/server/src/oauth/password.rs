//! User passwords: argon2id, run off the async runtime.
//!
//! Hashing is deliberately slow and memory-hungry (19 MiB per hash at the
//! default cost), so it runs on a fixed set of dedicated threads, one per
//! core, never on the async workers. Dedicated threads also bound memory:
//! each keeps one argon2 work area and reuses it for every check, so the
//! server holds one hash's worth of memory per core. (Allocating it per
//! check left freed 19 MiB blocks in the allocator's per-thread arenas: the
//! server grew by some 200 MB under a burst of password grants.) The queue in
//! front of them is bounded: when it is full the request fails with 503
//! rather than waiting without limit. An unknown username is checked against
//! a dummy hash so it costs the same time as a wrong password.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use rand::TryRngCore;
use subtle::ConstantTimeEq;

use super::error::GrantError;
use crate::config::Argon2Params;

/// Password checks waiting for a hashing thread, at most.
const QUEUE: usize = 256;

/// A password thread's argon2 work area, reused by every check it runs.
type Memory = Vec<Block>;
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Hashes and verifies passwords on dedicated threads.
pub struct Passwords {
    params: Params,
    jobs: SyncSender<Job>,
    dummy_hash: String,
    /// A moving average of how long `verify` takes, microseconds.
    typical_us: AtomicU64,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher and the dummy hash (one argon2 run at start-up).
    pub fn new(cfg: Argon2Params) -> Result<Self, GrantError> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| GrantError::Internal(format!("argon2 parameters: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let dummy_hash = hash_blocking(&params, "tollgate dummy password")?;
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tollgate-argon2-{i}"))
                .spawn(move || worker(&queue))
                .map_err(|e| {
                    GrantError::Internal(format!("cannot start a password thread: {e}"))
                })?;
        }
        Ok(Self {
            params,
            jobs,
            dummy_hash,
            typical_us: AtomicU64::new(0),
        })
    }

    /// The argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, GrantError> {
        let params = self.params.clone();
        self.blocking(move |_| hash_blocking(&params, &password))
            .await?
    }

    /// Whether `password` matches `stored`; with `stored = None` it checks
    /// against the dummy hash and answers false, taking the same time.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, GrantError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let started = std::time::Instant::now();
        let ok = self
            .blocking(move |memory| verify_blocking(&password, &hash, memory))
            .await??;
        self.note_duration(started.elapsed());
        Ok(ok && known)
    }

    /// How long a check typically takes now: an answer that checks nothing
    /// waits this long, so it cannot be told from one that did.
    pub fn typical_check(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.typical_us.load(Ordering::Relaxed))
    }

    /// Folds one duration into the average (weight 1/8, the first counts whole).
    fn note_duration(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .typical_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 { us } else { old - old / 8 + us / 8 })
            });
    }

    /// Runs `f` on a password thread and waits for it without blocking the runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, GrantError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(f(memory));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(GrantError::Busy(
                    "too many password checks are waiting".into(),
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(GrantError::Internal("password threads stopped".into()))
            }
        }
        result
            .await
            .map_err(|_| GrantError::Internal("a password thread failed".into()))
    }
}

/// A password thread: runs jobs until every sender is gone.
fn worker(queue: &Mutex<Receiver<Job>>) {
    let mut memory = Memory::new();
    loop {
        let job = {
            let rx = queue.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        match job {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, GrantError> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| GrantError::Internal(format!("OS random source failed: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| GrantError::Internal(format!("argon2 salt: {e}")))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| GrantError::Internal(format!("argon2 hash: {e}")))
}

/// Verifies with the parameters recorded in the hash itself, so raising the
/// configured cost does not lock out existing users; in `memory`, grown to
/// the largest cost seen and kept.
fn verify_blocking(password: &str, hash: &str, memory: &mut Memory) -> Result<bool, GrantError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        GrantError::Internal(format!("stored password hash unreadable: {e}"))
    };
    let parsed = PasswordHash::new(hash).map_err(|e| unreadable(&e))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(&e))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| unreadable(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable(&"no salt or no hash"));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|e| unreadable(&e))?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .map_err(|e| unreadable(&e))?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
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
    async fn hash_then_verify() -> Result<(), GrantError> {
        let p = Passwords::new(cheap())?;
        let h = p.hash("correct horse".into()).await?;
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify("correct horse".into(), Some(h.clone())).await?);
        assert!(!p.verify("wrong".into(), Some(h)).await?);
        assert!(!p.verify("tollgate dummy password".into(), None).await?);
        // A hash made at another cost (or by another tool) still verifies.
        let other =
            Params::new(128, 2, 1, None).map_err(|e| GrantError::Internal(e.to_string()))?;
        let h = hash_blocking(&other, "pw")?;
        assert!(p.verify("pw".into(), Some(h.clone())).await?);
        assert!(!p.verify("pW".into(), Some(h)).await?);
        Ok(())
    }
}
