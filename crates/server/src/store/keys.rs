//! Keys that sign JWT access tokens and ID tokens: the record, and its
//! storage. A key is published before it signs and after it stops, so
//! verifiers holding a cached JWKS never meet a `kid` they do not know.

use async_trait::async_trait;
use tollgate_proto::jose::SigningAlg;

use super::rows::{found, named};
use super::sql::{Backend, Conn, Stmt};
use super::{StoreError, StoreResult};

/// A key that signs JWT access tokens, or did, as stored. `Debug` leaves
/// out the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 (ES256, EdDSA) or PKCS#1 (RS256) DER.
    pub private_der: Vec<u8>,
    /// The public JWK (JSON), as the JWKS publishes it.
    pub public_jwk: String,
    /// Unix seconds: published in the JWKS from here.
    pub created_at: i64,
    /// Signs from here: `created_at` plus the pre-publication delay.
    pub signs_from: i64,
    /// Signs no more from here.
    pub retired_at: Option<i64>,
    /// Dropped from the JWKS from here: every token it signed has expired.
    pub published_until: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .field("retired_at", &self.retired_at)
            .field("published_until", &self.published_until)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait SigningKeys {
    /// Every signing key, retired ones included, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Stores a new key. `auto_slot`: for a key made automatically, how many
    /// keys there were when it was decided on; a second key for the same
    /// slot is a `Conflict`, so instances starting together make one.
    async fn insert_signing_key(&self, key: &SigningKey, auto_slot: Option<i64>)
        -> StoreResult<()>;
    /// Stops `kid` signing at `at` (or keeps when it already stopped), and
    /// publishes it until `published_until` (`at` itself revokes it: it
    /// verifies nothing from then on). Only ever shortens: `NotFound` when
    /// there is no such key published past `published_until`.
    async fn retire_signing_key(&self, kid: &str, at: i64, published_until: i64)
        -> StoreResult<()>;
}

#[async_trait]
impl<B: Backend> SigningKeys for B {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let stmt = Stmt::new("SELECT * FROM signing_keys ORDER BY created_at, kid");
        let rows: Vec<SigningKeyRow> = self.read().await?.fetch_all(stmt).await?;
        rows.into_iter().map(SigningKey::try_from).collect()
    }

    async fn insert_signing_key(&self, k: &SigningKey, auto_slot: Option<i64>) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created_at, \
             signs_from, retired_at, published_until, auto_slot) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&k.kid)
        .bind(k.alg.as_str())
        .bind(&k.private_der[..])
        .bind(&k.public_jwk)
        .bind(k.created_at)
        .bind(k.signs_from)
        .bind(k.retired_at)
        .bind(k.published_until)
        .bind(auto_slot);
        let done = self.writing().await?.execute(stmt).await;
        done.map_err(named(|| format!("signing key `{}`", k.kid)))?;
        Ok(())
    }

    async fn retire_signing_key(
        &self,
        kid: &str,
        at: i64,
        published_until: i64,
    ) -> StoreResult<()> {
        let stmt = Stmt::new(
            "UPDATE signing_keys SET retired_at = COALESCE(retired_at, $1), \
             published_until = $2 \
             WHERE kid = $3 AND (published_until IS NULL OR published_until > $2)",
        )
        .bind(at)
        .bind(published_until)
        .bind(kid);
        let done = self.writing().await?.execute(stmt).await?;
        found(done, || format!("signing key `{kid}` still published"))
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    alg: String,
    private_der: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    signs_from: i64,
    retired_at: Option<i64>,
    published_until: Option<i64>,
}

impl TryFrom<SigningKeyRow> for SigningKey {
    type Error = StoreError;

    fn try_from(r: SigningKeyRow) -> StoreResult<Self> {
        Ok(SigningKey {
            alg: SigningAlg::parse(&r.alg)
                .ok_or_else(|| StoreError::Corrupt(format!("signing key alg `{}`", r.alg)))?,
            kid: r.kid,
            private_der: r.private_der,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            signs_from: r.signs_from,
            retired_at: r.retired_at,
            published_until: r.published_until,
        })
    }
}
