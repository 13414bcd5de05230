//! Random tokens, client secrets and ids, and their digests.
//!
//! Tokens and secrets are 256 bits from the OS random source, written in
//! base64url (URL-safe, and every character unreserved, so raw and
//! form-encoded Basic headers agree). Each kind carries a short prefix so a
//! leaked value can be recognised by secret scanners. Only SHA-256 digests
//! are stored: the inputs are high-entropy, so a fast hash is enough and a
//! slow KDF would only cost throughput (see ARCHITECTURE.md).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Digest, TokenKind};
use crate::Error;

pub const ACCESS_PREFIX: &str = "tga_";
pub const REFRESH_PREFIX: &str = "tgr_";
pub const SECRET_PREFIX: &str = "tgs_";

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Internal(format!("OS random source failed: {e}")))?;
    Ok(buf)
}

/// A new opaque token of the given kind.
pub fn new_token(kind: TokenKind) -> Result<String, Error> {
    let prefix = match kind {
        TokenKind::Access => ACCESS_PREFIX,
        TokenKind::Refresh => REFRESH_PREFIX,
    };
    Ok(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// A new client secret.
pub fn new_client_secret() -> Result<String, Error> {
    Ok(format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// A new id for a token family (never shown to clients).
pub fn new_family_id() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// A new client id: 24 lowercase letters and digits (~124 bits), the shape
/// of the package keys in the seed.
pub fn new_client_id() -> Result<String, Error> {
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
        assert_eq!(a.len(), 4 + 43);
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
    fn verify_matches_only_the_same_secret() {
        let d = digest("s3cret");
        assert!(verify("s3cret", &d));
        assert!(!verify("s3cret ", &d));
    }
}
