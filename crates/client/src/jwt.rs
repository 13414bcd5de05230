//! What a JWT access token says, read without verifying it: for people
//! looking at a token (`tollgate token --decode`), never for deciding
//! anything. Verifying needs the issuer's published keys (`jwks_uri`).

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;

use crate::Error;

/// The header and claims of a JWT, unverified.
#[derive(Debug, Clone, PartialEq)]
pub struct Unverified {
    pub header: Value,
    pub claims: Value,
}

/// Reads `token`'s header and claims without checking its signature, its
/// issuer or its times.
pub fn decode_unverified(token: &str) -> Result<Unverified, Error> {
    let not_jwt = |detail: &str| Error::NotJwt(detail.to_owned());
    if token.bytes().filter(|&b| b == b'.').count() != 2 {
        return Err(not_jwt(
            "it is opaque (a random string, not three dot-separated parts): only its issuer knows what it grants",
        ));
    }
    let mut lenient = Validation::default();
    lenient.insecure_disable_signature_validation();
    lenient.validate_exp = false;
    lenient.validate_aud = false;
    lenient.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(&[]), &lenient)
        .map_err(|e| not_jwt(&format!("it does not decode as a JWT: {e}")))?;
    let header =
        serde_json::to_value(&data.header).map_err(|e| not_jwt(&format!("its header: {e}")))?;
    Ok(Unverified {
        header,
        claims: data.claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_tokens_are_said_to_be_opaque() {
        let Err(e) = decode_unverified("tga_0123456789") else {
            unreachable!("an opaque token decoded")
        };
        assert!(e.to_string().contains("opaque"), "{e}");
        assert!(decode_unverified("a.b.c").is_err());
    }

    #[test]
    fn reads_header_and_claims() {
        let key = jsonwebtoken::EncodingKey::from_secret(b"k");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let claims = serde_json::json!({"sub": "s", "exp": 1});
        let t =
            jsonwebtoken::encode(&header, &claims, &key).unwrap_or_else(|e| unreachable!("{e}"));
        let d = decode_unverified(&t).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(d.header["typ"], "at+jwt");
        assert_eq!(d.claims["sub"], "s");
    }
}
