//! JWT access tokens (RFC 9068): what they claim, signing, and the checks
//! a presented one must pass before its claims are believed.
//!
//! The checks, in order, each with its own `invalid_token` description: not
//! oversized; a header naming `typ: at+jwt`, a `kid` and an algorithm
//! tollgate signs with (never `none`, never HMAC); a known key of that
//! algorithm; the signature; `iss`; `exp` and `nbf` within the leeway. What
//! the claims are then worth (client and user enabled, not revoked) is
//! decided by [`super::tokens`], as for opaque tokens.

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use tollgate_proto::{Audience, GrantType};

use super::error::GrantError;
use super::keys::{Keys, Signer, Verifier};

/// The `typ` of an access token (RFC 9068 §2.1).
pub const TYP: &str = "at+jwt";
/// Longer tokens are refused before any parsing.
pub const MAX_LEN: usize = 8192;

/// The claims of a tollgate access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user for user grants, else the client id.
    pub sub: String,
    /// The resources that accept it: the client's registered audience,
    /// else the issuer. Checked by the resource, not here.
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated; absent when the token has no scope.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The grant family (refresh-token chain) the token belongs to.
    pub sid: String,
    /// The user, for user grants (`sub` says the same; this says it is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The grant that issued it (as Auth0's `gty`), for introspection;
    /// absent in tokens minted before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<GrantType>,
}

/// Whether `token` has the shape of a JWS (three dot-separated parts);
/// opaque tokens never contain a dot.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// Signs `claims` with `signer`.
pub fn sign(claims: &AccessClaims, signer: &Signer) -> Result<String, GrantError> {
    signer.sign(TYP, claims)
}

/// Why a presented JWT is not believed: the `invalid_token` description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub &'static str);

/// The claims of `token` if it passes every check at `now` (Unix seconds).
pub async fn verify(
    token: &str,
    keys: &Keys,
    issuer: &str,
    leeway: i64,
    now: i64,
) -> Result<AccessClaims, Rejected> {
    if token.len() > MAX_LEN {
        return Err(Rejected("the access token is too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        Rejected("the JWT header is malformed or names an algorithm tollgate does not accept")
    })?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(Rejected(
            "the JWT is not an access token (typ must be at+jwt)",
        ));
    }
    if !matches!(
        header.alg,
        Algorithm::ES256 | Algorithm::EdDSA | Algorithm::RS256
    ) {
        return Err(Rejected(
            "the JWT's algorithm is not one tollgate signs with",
        ));
    }
    let Some(kid) = header.kid.as_deref() else {
        return Err(Rejected("the JWT names no key (kid)"));
    };
    let Some(key) = keys.verifier(kid).await else {
        return Err(Rejected(
            "the JWT was signed with a key tollgate does not know",
        ));
    };
    if key.alg != header.alg {
        return Err(Rejected("the JWT's algorithm is not its key's"));
    }
    let mut validation = Validation::new(key.alg);
    // Time is checked below against tollgate's clock.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                Rejected("the JWT's signature does not verify")
            }
            _ => Rejected("the JWT's claims are malformed or missing"),
        })?
        .claims;
    if claims.iss != issuer {
        return Err(Rejected("the JWT was issued by another issuer"));
    }
    in_key_window(&claims, &key, leeway, now)?;
    if now >= claims.exp.saturating_add(leeway) {
        return Err(Rejected("the access token expired"));
    }
    if now < claims.nbf.saturating_sub(leeway) {
        return Err(Rejected("the access token is not valid yet (nbf)"));
    }
    Ok(claims)
}

/// Whether the key that signed `claims` was signing when the token says it
/// was issued, and still verifies at `now`: a retired key's leaked private
/// part cannot mint tokens dated after its retirement, nor any once it is
/// unpublished.
fn in_key_window(
    claims: &AccessClaims,
    key: &Verifier,
    leeway: i64,
    now: i64,
) -> Result<(), Rejected> {
    if key.published_until.is_some_and(|until| now >= until) {
        return Err(Rejected("the JWT's signing key is no longer valid"));
    }
    if key
        .retired_at
        .is_some_and(|retired| claims.iat > retired.saturating_add(leeway))
    {
        return Err(Rejected(
            "the JWT was issued after its signing key was retired",
        ));
    }
    if claims.iat < key.signs_from.saturating_sub(leeway) {
        return Err(Rejected(
            "the JWT was issued before its signing key could sign",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt("tga_0123"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
    }
}
