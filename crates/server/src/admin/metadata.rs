//! What a client says about itself (RFC 7591 §2: contacts, home page,
//! logo, terms, policy, software, keys), checked for every create and
//! update: addresses people may be sent to are https (or http on
//! loopback), a key set holds public keys only, and nothing is unbounded.

use serde_json::Value;
use tollgate_proto::client::ClientSettings;

use super::{check_redirect_uri, check_text, AdminError};

/// Most contacts a client lists.
const MAX_CONTACTS: usize = 10;
/// The largest inline JWK Set, in bytes of JSON.
const MAX_JWKS_BYTES: usize = 16 << 10;
/// Members of a JWK that only a private or symmetric key has (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

pub(super) fn check_about(s: &ClientSettings) -> Result<(), AdminError> {
    if s.contacts.len() > MAX_CONTACTS {
        return Err(AdminError::Invalid(format!(
            "at most {MAX_CONTACTS} contacts"
        )));
    }
    for c in &s.contacts {
        check_text("contact", c)?;
        if !c.contains('@') || c.contains(char::is_whitespace) {
            return Err(AdminError::Invalid(format!(
                "contact `{c}`: an e-mail address"
            )));
        }
    }
    let uris = [
        ("client_uri", &s.client_uri),
        ("logo_uri", &s.logo_uri),
        ("tos_uri", &s.tos_uri),
        ("policy_uri", &s.policy_uri),
        ("jwks_uri", &s.jwks_uri),
        ("backchannel_logout_uri", &s.backchannel_logout_uri),
    ];
    for (name, uri) in uris {
        if let Some(u) = uri {
            check_web_uri(name, u)?;
        }
    }
    for (name, v) in [
        ("software_id", &s.software_id),
        ("software_version", &s.software_version),
    ] {
        if let Some(v) = v {
            check_text(name, v)?;
        }
    }
    if s.backchannel_logout_uri
        .as_ref()
        .is_some_and(|u| u.contains('#'))
    {
        return Err(AdminError::Invalid(
            "backchannel_logout_uri: no fragment (Back-Channel Logout 1.0 §2.2)".into(),
        ));
    }
    if let Some(jwks) = &s.jwks {
        if s.jwks_uri.is_some() {
            return Err(AdminError::Invalid(
                "jwks and jwks_uri cannot both be given (RFC 7591 §2)".into(),
            ));
        }
        check_jwks(jwks)?;
    }
    Ok(())
}

/// An address a person or this server may be sent to: https, or http on
/// loopback; no app scheme.
fn check_web_uri(name: &str, uri: &str) -> Result<(), AdminError> {
    let web = uri.starts_with("https://") || uri.starts_with("http://");
    match web.then(|| check_redirect_uri(uri)) {
        Some(Ok(())) => Ok(()),
        _ => Err(AdminError::Invalid(format!(
            "{name} `{uri}`: must be https://… (or http:// on loopback), with no fragment"
        ))),
    }
}

/// A JWK Set of public keys: `{"keys": [{"kty": ...}, ...]}`.
fn check_jwks(jwks: &Value) -> Result<(), AdminError> {
    let bad = |why: &str| AdminError::Invalid(format!("jwks: {why}"));
    if jwks.to_string().len() > MAX_JWKS_BYTES {
        return Err(bad(&format!("at most {MAX_JWKS_BYTES} bytes")));
    }
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("a JWK Set: an object with a `keys` array"))?;
    for key in keys {
        let Some(key) = key.as_object() else {
            return Err(bad("each key is an object"));
        };
        if !key.get("kty").is_some_and(Value::is_string) {
            return Err(bad("each key has a `kty`"));
        }
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
            return Err(bad(&format!("a key has `{m}`: register public keys only")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(f: impl FnOnce(&mut ClientSettings)) -> Result<(), AdminError> {
        let mut s = ClientSettings::default();
        f(&mut s);
        check_about(&s)
    }

    #[test]
    fn addresses_contacts_and_keys_are_checked() {
        assert!(with(|_| {}).is_ok());
        assert!(with(|s| s.client_uri = Some("https://app.example".into())).is_ok());
        assert!(with(|s| s.logo_uri = Some("http://evil.example/l.png".into())).is_err());
        assert!(with(|s| s.tos_uri = Some("javascript:alert(1)".into())).is_err());
        assert!(with(|s| s.policy_uri = Some("com.example.app:/p".into())).is_err());
        assert!(with(|s| s.contacts = vec!["ops@example.com".into()]).is_ok());
        assert!(with(|s| s.contacts = vec!["not an address".into()]).is_err());
        assert!(with(|s| s.contacts = vec!["a@b".into(); 11]).is_err());
        let public = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]});
        assert!(with(|s| s.jwks = Some(public.clone())).is_ok());
        let private = json!({"keys": [{"kty": "EC", "d": "secret"}]});
        assert!(with(|s| s.jwks = Some(private)).is_err());
        assert!(with(|s| s.jwks = Some(json!({"keys": "no"}))).is_err());
        assert!(with(|s| {
            s.jwks = Some(public);
            s.jwks_uri = Some("https://app.example/jwks".into());
        })
        .is_err());
    }
}
