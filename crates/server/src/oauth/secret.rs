//! Random tokens, client secrets and ids, and their digests.
//!
//! Tokens and secrets carry 256 bits from the OS random source, written in
//! base64url (URL-safe, and every character unreserved, so raw and
//! form-encoded Basic headers agree). Each kind carries a short prefix so a
//! leaked value can be recognised by secret scanners. Only SHA-256 digests
//! are stored: the inputs are high-entropy, so a fast hash is enough and a
//! slow KDF would only cost throughput (see ARCHITECTURE.md).
//!
//! A token also starts with a time-ordered id (Unix milliseconds and a
//! counter; not secret: `iat` says as much). Its store key
//! ([`token_key`]) is that id followed by 192 bits of the token's SHA-256,
//! so new rows land at the end of the key index instead of on a random
//! page: a batch of inserts dirties a few pages, not one per token. Token
//! families get time-ordered ids for the same reason.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::error::GrantError;
use crate::store::{Digest, TokenKind};

pub const ACCESS_PREFIX: &str = "tga_";
pub const REFRESH_PREFIX: &str = "tgr_";
pub const SECRET_PREFIX: &str = "tgs_";

fn random_bytes<const N: usize>() -> Result<[u8; N], GrantError> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| GrantError::Internal(format!("OS random source failed: {e}")))?;
    Ok(buf)
}

/// Bytes of a token after its prefix: the ordered id, then 256 random bits.
const TOKEN_BYTES: usize = 8 + 32;
/// Those bytes in unpadded base64url.
const TOKEN_CHARS: usize = (TOKEN_BYTES * 4).div_ceil(3);

/// Unix milliseconds in the high 48 bits, a wrapping counter in the low 16:
/// increasing over time, so keys that start with it are inserted in order.
fn ordered_id() -> u64 {
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (ms << 16) | u64::from(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A new authorization code: 256 random bits, base64url.
pub fn new_code() -> Result<String, GrantError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A new opaque token of the given kind.
pub fn new_token(kind: TokenKind) -> Result<String, GrantError> {
    let prefix = match kind {
        TokenKind::Access => ACCESS_PREFIX,
        TokenKind::Refresh => REFRESH_PREFIX,
    };
    let mut bytes = [0u8; TOKEN_BYTES];
    bytes[..8].copy_from_slice(&ordered_id().to_be_bytes());
    bytes[8..].copy_from_slice(&random_bytes::<32>()?);
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The store key of a token: its ordered id and the first 192 bits of its
/// SHA-256. A token without an ordered id (issued before ids existed, or
/// not ours) is keyed by its whole SHA-256.
pub fn token_key(token: &str) -> Digest {
    let sha = digest(token);
    let Some(id) = ordered_id_of(token) else {
        return sha;
    };
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&id);
    key[8..].copy_from_slice(&sha[..24]);
    key
}

/// The ordered id at the start of a token of ours. Only the first 12
/// characters (9 bytes) are decoded: the id is all the key takes from
/// them, and a token whose rest is malformed still gets a key no stored
/// token has (the rest changes the digest part).
fn ordered_id_of(token: &str) -> Option<[u8; 8]> {
    let body = token
        .strip_prefix(ACCESS_PREFIX)
        .or_else(|| token.strip_prefix(REFRESH_PREFIX))?;
    if body.len() != TOKEN_CHARS {
        return None;
    }
    let mut bytes = [0u8; 9];
    match URL_SAFE_NO_PAD.decode_slice(body.get(..12)?, &mut bytes) {
        Ok(9) => bytes[..8].try_into().ok(),
        _ => None,
    }
}

/// A new client secret.
pub fn new_client_secret() -> Result<String, GrantError> {
    Ok(format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// A new id for a token family, or a JWT's `jti`: hex, so that it sorts by
/// time as the ordered id does. An id, not a secret (a JWT shows it as
/// `sid` or `jti`), so its random half comes from the thread's generator
/// (ChaCha, seeded from the OS) rather than a system call per id.
pub fn new_family_id() -> Result<String, GrantError> {
    let random: u64 = rand::rng().random();
    Ok(format!("{:016x}{random:016x}", ordered_id()))
}

/// A new client id: 24 lowercase letters and digits (~124 bits), the shape
/// of the package keys in the seed.
pub fn new_client_id() -> Result<String, GrantError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(24);
    while id.len() < 24 {
        for b in random_bytes::<32>()? {
            // 252 = 7 * 36: rejecting larger bytes keeps the choice unbiased.
            if b < 252 && id.len() < 24 {
                id.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    Ok(id)
}

/// SHA-256 of a token or secret.
pub fn digest(value: &str) -> Digest {
    Sha256::digest(value.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored digest.
pub fn verify(presented: &str, stored: &Digest) -> bool {
    digest(presented).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_url_safe_and_distinct() {
        let a = new_token(TokenKind::Access).unwrap_or_default();
        let b = new_token(TokenKind::Access).unwrap_or_default();
        let r = new_token(TokenKind::Refresh).unwrap_or_default();
        assert!(a.starts_with("tga_") && r.starts_with("tgr_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 54);
        let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        assert!(a.chars().all(unreserved));
        assert!(new_client_secret()
            .unwrap_or_default()
            .chars()
            .all(unreserved));
    }

    #[test]
    fn client_ids_are_lowercase_alphanumeric() {
        let id = new_client_id().unwrap_or_default();
        assert_eq!(id.len(), 24);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn token_keys_are_ordered_by_issue_and_end_in_the_digest() {
        let a = new_token(TokenKind::Access).unwrap_or_default();
        let b = new_token(TokenKind::Refresh).unwrap_or_default();
        let (ka, kb) = (token_key(&a), token_key(&b));
        assert!(ka < kb, "issued later, sorts later");
        assert_eq!(ka[8..], digest(&a)[..24]);
        // Not one of ours (or from before ordered ids): the whole SHA-256.
        assert_eq!(token_key("tga_legacy"), digest("tga_legacy"));
        assert_eq!(
            token_key("Yn2ToFZFEjr1zIsCcMWB54"),
            digest("Yn2ToFZFEjr1zIsCcMWB54")
        );
        assert_eq!(a.len(), ACCESS_PREFIX.len() + TOKEN_CHARS);
        // Only the id is decoded; a different rest is a different key.
        let forged = format!("{}!{}", &a[..10], &a[11..]);
        assert_eq!(
            token_key(&forged),
            digest(&forged),
            "not base64url in the id"
        );
        let tail = format!("{}{}", &a[..20], "A".repeat(a.len() - 20));
        assert_eq!(token_key(&tail)[..8], ka[..8]);
        assert_ne!(token_key(&tail), ka);
        let f = new_family_id().unwrap_or_default();
        assert_eq!(f.len(), 32);
        assert!(f < new_family_id().unwrap_or_default());
    }

    #[test]
    fn verify_matches_only_the_same_secret() {
        let d = digest("s3cret");
        assert!(verify("s3cret", &d));
        assert!(!verify("s3cret ", &d));
    }
}
