//! PKCE (RFC 7636) for the authorization code grant: a random verifier
//! kept by the client, and its S256 challenge sent with the request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// A verifier (64 characters, 384 random bits) and its challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    pub fn new() -> Result<Self, Error> {
        let verifier = random_string::<48>()?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Ok(Self {
            verifier,
            challenge,
        })
    }
}

/// `N` random bytes, base64url: for `state` and verifiers.
pub fn random_string<const N: usize>() -> Result<String, Error> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::Config(format!("the system random generator failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_and_challenge_have_the_rfc_shapes() {
        let p = Pkce::new().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.verifier.len(), 64);
        assert_eq!(p.challenge.len(), 43);
        let again = URL_SAFE_NO_PAD.encode(Sha256::digest(p.verifier.as_bytes()));
        assert_eq!(again, p.challenge);
    }
}
