//! The keys that sign JWT access tokens, ID tokens and signed userinfo.
//!
//! Kept in the store, so every instance signs with the same key and
//! publishes the same JWKS. There is a current key of every algorithm
//! tollgate signs with (`SigningAlg::ALL`, what discovery advertises):
//! access tokens use `jwt.algorithm`'s, ID tokens the client's
//! `id_token_signed_response_alg`'s. The first keys are generated at first
//! start; a rotated-in key is published `prepublish_secs` before it signs
//! (verifiers that cached the JWKS fetch it again before they meet a token
//! it signed); a retired key signs no more and stays published until the last token it
//! signed has expired. The signing key of an algorithm is the newest one of
//! it whose `signs_from` has come and that is not retired: every instance
//! picks the same.
//!
//! Private keys leave this module only into the store; `Debug` of every type
//! here leaves them out, and no endpoint returns them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters, Jwk, JwkSet,
    KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, RSAKeyParameters,
    RSAKeyType,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};

use crate::clock::Clock;
use tollgate_proto::jose::SigningAlg;

use super::error::GrantError;
use crate::config::JwtConfig;
use crate::store::{SigningKey, Store, StoreError};

/// Unknown `kid`s make the keys reload from the store at most this often.
const RELOAD_FOR_UNKNOWN_KID_MS: i64 = 1000;

/// A key that signs, parsed once when the keys are read (parsing the
/// PKCS#8 document on every token cost as much as a third of the signature).
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    pair: KeyPair,
    rng: SystemRandom,
    signs_from: i64,
    retired: bool,
}

/// A parsed private key, ready to sign.
enum KeyPair {
    Ecdsa(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
    Rsa(signature::RsaKeyPair),
}

impl Signer {
    /// The signer of a stored key, if its private part can be read.
    fn parse(k: &SigningKey) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let der = k.private_der.as_slice();
        let pair = match k.alg {
            SigningAlg::ES256 => KeyPair::Ecdsa(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(|e| e.to_string())?,
            ),
            SigningAlg::EdDSA => KeyPair::Ed25519(
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| e.to_string())?,
            ),
            SigningAlg::RS256 => {
                KeyPair::Rsa(signature::RsaKeyPair::from_der(der).map_err(|e| e.to_string())?)
            }
        };
        Ok(Self {
            kid: k.kid.clone(),
            alg: algorithm(k.alg),
            pair,
            rng,
            signs_from: k.signs_from,
            retired: k.retired_at.is_some(),
        })
    }

    /// A JWS in compact serialization (RFC 7515 §7.1) of `claims`, its
    /// header naming this key, the algorithm and `typ`.
    pub fn sign<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String, GrantError> {
        let failed =
            |e: &dyn std::fmt::Display| GrantError::Internal(format!("signing a JWT: {e}"));
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        let header = serde_json::to_vec(&header).map_err(|e| failed(&e))?;
        let claims = serde_json::to_vec(claims).map_err(|e| failed(&e))?;
        let mut jws = URL_SAFE_NO_PAD.encode(header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jws);
        let signature = self.signature(jws.as_bytes()).map_err(|e| failed(&e))?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }

    fn signature(&self, message: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        match &self.pair {
            KeyPair::Ecdsa(pair) => Ok(pair.sign(&self.rng, message)?.as_ref().to_vec()),
            KeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPair::Rsa(pair) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut out)?;
                Ok(out)
            }
        }
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A key that verifies, and the window it signed in: a token is believed
/// only if its `iat` falls inside it, and not at all once the key is
/// unpublished.
#[derive(Clone)]
pub struct Verifier {
    pub alg: Algorithm,
    pub key: DecodingKey,
    /// Unix seconds: the key signs from here.
    pub signs_from: i64,
    /// Unix seconds: the key signed nothing after this.
    pub retired_at: Option<i64>,
    /// Unix seconds: the key verifies nothing from here.
    pub published_until: Option<i64>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The keys as last read from the store.
#[derive(Default)]
struct Ring {
    /// Oldest first.
    signers: Vec<Arc<Signer>>,
    verifiers: HashMap<String, Verifier>,
    /// Every key with when it is published: (jwk, from, until).
    published: Vec<(Jwk, i64, Option<i64>)>,
}

/// The signing keys of this server.
pub struct Keys {
    store: Arc<dyn Store>,
    clock: Clock,
    config: JwtConfig,
    ring: RwLock<Arc<Ring>>,
    /// When the ring was last read (Unix ms), for unknown `kid`s.
    read_at: AtomicI64,
    /// Held while deciding whether to make a key: one per process.
    making: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    pub fn new(store: Arc<dyn Store>, clock: Clock, config: JwtConfig) -> Self {
        Self {
            store,
            clock,
            config,
            ring: RwLock::new(Arc::new(Ring::default())),
            read_at: AtomicI64::new(i64::MIN),
            making: tokio::sync::Mutex::new(()),
        }
    }

    fn ring(&self) -> Arc<Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the keys from the store again.
    pub async fn reload(&self) -> Result<(), GrantError> {
        let stored = self.store.signing_keys().await?;
        let ring = Arc::new(Ring::from_stored(&stored));
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = ring;
        self.read_at.store(self.clock.now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Reads the keys, and makes one of every algorithm that has none left
    /// that can sign (first start, or every key of it retired), the access
    /// tokens' algorithm first. Instances
    /// starting together may each make one; they then all sign with the
    /// newest, as they all pick the same.
    pub async fn ensure(&self) -> Result<(), GrantError> {
        let _one_at_a_time = self.making.lock().await;
        self.reload().await?;
        let first = self.config.algorithm;
        for alg in std::iter::once(first).chain(SigningAlg::ALL.into_iter().filter(|a| *a != first))
        {
            let ring = self.ring();
            if ring
                .signers
                .iter()
                .any(|s| !s.retired && s.alg == algorithm(alg))
            {
                continue;
            }
            let now = self.clock.now_secs();
            // An RSA key's prime search takes long enough to stall a worker.
            let key = tokio::task::spawn_blocking(move || generate(alg, now, now))
                .await
                .map_err(|e| GrantError::Internal(format!("generating a key: {e}")))??;
            let slot = i64::try_from(ring.published.len()).unwrap_or(i64::MAX);
            match self.store.insert_signing_key(&key, Some(slot)).await {
                Ok(()) => {
                    tracing::info!(kid = %key.kid, alg = key.alg.as_str(), "signing key generated");
                }
                Err(StoreError::Conflict(_)) => {
                    tracing::debug!(alg = alg.as_str(), "another instance made a signing key");
                }
                Err(e) => return Err(e.into()),
            }
            self.reload().await?;
        }
        Ok(())
    }

    /// The key that signs access tokens now (`jwt.algorithm`).
    pub async fn signer(&self) -> Result<Arc<Signer>, GrantError> {
        self.signer_for(self.config.algorithm).await
    }

    /// The key of `alg` that signs now.
    pub async fn signer_for(&self, alg: SigningAlg) -> Result<Arc<Signer>, GrantError> {
        let now = self.clock.now_secs();
        if let Some(s) = self.ring().current(now, alg) {
            return Ok(s);
        }
        self.ensure().await?;
        self.ring()
            .current(now, alg)
            .ok_or_else(|| GrantError::Internal("no signing key is usable yet".into()))
    }

    /// The key named `kid`, reading the store again (at most once a second)
    /// when it is not known: another instance may have just added it.
    pub async fn verifier(&self, kid: &str) -> Option<Verifier> {
        if let Some(v) = self.ring().verifiers.get(kid) {
            return Some(v.clone());
        }
        let now = self.clock.now_ms();
        let last = self.read_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < RELOAD_FOR_UNKNOWN_KID_MS {
            return None;
        }
        self.read_at.store(now, Ordering::Relaxed);
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "cannot read the signing keys");
        }
        self.ring().verifiers.get(kid).cloned()
    }

    /// The public keys published now: the JWKS.
    pub fn jwks(&self) -> JwkSet {
        let now = self.clock.now_secs();
        let keys = self
            .ring()
            .published
            .iter()
            .filter(|(_, from, until)| *from <= now && until.is_none_or(|u| now < u))
            .map(|(jwk, _, _)| jwk.clone())
            .collect();
        JwkSet { keys }
    }

    /// `Cache-Control: max-age` of the JWKS.
    pub fn jwks_max_age(&self) -> u64 {
        self.config.jwks_max_age_secs
    }
}

impl Ring {
    /// The usable keys of `stored`; one that cannot be read is left out
    /// (and logged), so it cannot take the others down with it.
    fn from_stored(stored: &[SigningKey]) -> Self {
        let mut ring = Ring::default();
        for k in stored {
            let public = serde_json::from_str::<Jwk>(&k.public_jwk)
                .map_err(|e| e.to_string())
                .and_then(|jwk| {
                    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
                    Ok((jwk, key))
                });
            let (jwk, verify_key) = match public {
                Ok(both) => both,
                Err(e) => {
                    tracing::error!(kid = %k.kid, error = %e, "a stored signing key is unreadable: left out");
                    continue;
                }
            };
            let alg = algorithm(k.alg);
            ring.verifiers.insert(
                k.kid.clone(),
                Verifier {
                    alg,
                    key: verify_key,
                    signs_from: k.signs_from,
                    retired_at: k.retired_at,
                    published_until: k.published_until,
                },
            );
            ring.published.push((jwk, k.created_at, k.published_until));
            match Signer::parse(k) {
                Ok(signer) => ring.signers.push(Arc::new(signer)),
                Err(e) => {
                    tracing::error!(kid = %k.kid, error = %e, "a stored private key is unreadable: it does not sign");
                }
            }
        }
        ring
    }

    /// The newest key of `alg` that may sign at `now`.
    fn current(&self, now: i64, alg: SigningAlg) -> Option<Arc<Signer>> {
        let alg = algorithm(alg);
        self.signers
            .iter()
            .filter(|s| s.alg == alg && !s.retired && s.signs_from <= now)
            .max_by(|a, b| (a.signs_from, &a.kid).cmp(&(b.signs_from, &b.kid)))
            .cloned()
    }
}

/// The JOSE name of `alg`.
pub fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
        SigningAlg::RS256 => Algorithm::RS256,
    }
}

/// A new key pair: published from `now`, signing from `signs_from`.
pub fn generate(alg: SigningAlg, now: i64, signs_from: i64) -> Result<SigningKey, GrantError> {
    let kid = new_kid()?;
    let failed = |e: &dyn std::fmt::Display| GrantError::Internal(format!("generating a key: {e}"));
    let (private_der, params) = match alg {
        SigningAlg::ES256 => {
            let rng = SystemRandom::new();
            let signing = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 =
                signature::EcdsaKeyPair::generate_pkcs8(signing, &rng).map_err(|e| failed(&e))?;
            let pair = signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng)
                .map_err(|e| failed(&e))?;
            // Uncompressed point: 0x04, then x and y, 32 bytes each.
            let point = pair.public_key().as_ref();
            let (x, y) = point.get(1..).unwrap_or_default().split_at(32);
            let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: Default::default(),
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            });
            (pkcs8.as_ref().to_vec(), params)
        }
        SigningAlg::EdDSA => {
            let rng = SystemRandom::new();
            let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| failed(&e))?;
            let pair =
                signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| failed(&e))?;
            let params = AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            });
            (pkcs8.as_ref().to_vec(), params)
        }
        SigningAlg::RS256 => rsa_key().map_err(|e| failed(&e))?,
    };
    let jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(match alg {
                SigningAlg::ES256 => KeyAlgorithm::ES256,
                SigningAlg::EdDSA => KeyAlgorithm::EdDSA,
                SigningAlg::RS256 => KeyAlgorithm::RS256,
            }),
            key_id: Some(kid.clone()),
            ..CommonParameters::default()
        },
        algorithm: params,
    };
    Ok(SigningKey {
        kid,
        alg,
        private_der,
        public_jwk: serde_json::to_string(&jwk).map_err(|e| failed(&e))?,
        created_at: now,
        signs_from,
        retired_at: None,
        published_until: None,
    })
}

/// A 2048-bit RSA key: PKCS#1 DER, and its public JWK parameters.
fn rsa_key() -> Result<(Vec<u8>, AlgorithmParameters), String> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    let params = AlgorithmParameters::RSA(RSAKeyParameters {
        key_type: RSAKeyType::RSA,
        n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    Ok((der.as_bytes().to_vec(), params))
}

/// A key id: 96 random bits, base64url.
fn new_kid() -> Result<String, GrantError> {
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes)
        .map_err(|_| GrantError::Internal("the system random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify_through_their_jwk() {
        for alg in SigningAlg::ALL {
            let k = generate(alg, 100, 100).unwrap_or_else(|e| unreachable!("{e}"));
            let ring = Ring::from_stored(std::slice::from_ref(&k));
            let signer = ring.current(100, alg).unwrap_or_else(|| unreachable!());
            let claims = serde_json::json!({"sub": "x"});
            let token = signer
                .sign("at+jwt", &claims)
                .unwrap_or_else(|e| unreachable!("{alg:?}: {e}"));
            let header =
                jsonwebtoken::decode_header(&token).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(k.kid.as_str()));
            let v = &ring.verifiers[&k.kid];
            let mut validation = jsonwebtoken::Validation::new(v.alg);
            validation.validate_exp = false;
            validation.required_spec_claims.clear();
            let ok = jsonwebtoken::decode::<serde_json::Value>(&token, &v.key, &validation);
            assert_eq!(ok.map(|t| t.claims).ok(), Some(claims), "{alg:?}");
            assert!(
                !k.public_jwk.contains("\"d\""),
                "no private part in the JWK"
            );
        }
    }

    #[test]
    fn the_newest_key_whose_time_has_come_signs() {
        const ES: SigningAlg = SigningAlg::ES256;
        let pkcs8 = generate(SigningAlg::ES256, 0, 0).unwrap_or_else(|e| unreachable!("{e}"));
        let key = |kid: &str, from: i64, retired: bool| {
            let stored = SigningKey {
                kid: kid.into(),
                signs_from: from,
                retired_at: retired.then_some(from),
                ..pkcs8.clone()
            };
            Arc::new(Signer::parse(&stored).unwrap_or_else(|e| unreachable!("{e}")))
        };
        let ring = Ring {
            signers: vec![
                key("a", 0, false),
                key("b", 50, false),
                key("c", 100, false),
            ],
            ..Ring::default()
        };
        assert_eq!(
            ring.current(10, ES).map(|s| s.kid.clone()),
            Some("a".into())
        );
        assert_eq!(
            ring.current(99, ES).map(|s| s.kid.clone()),
            Some("b".into())
        );
        assert_eq!(
            ring.current(100, ES).map(|s| s.kid.clone()),
            Some("c".into())
        );
        let retired = Ring {
            signers: vec![key("a", 0, false), key("b", 50, true)],
            ..Ring::default()
        };
        assert_eq!(
            retired.current(99, ES).map(|s| s.kid.clone()),
            Some("a".into())
        );
        assert!(
            ring.current(100, SigningAlg::RS256).is_none(),
            "each algorithm its own"
        );
    }
}
