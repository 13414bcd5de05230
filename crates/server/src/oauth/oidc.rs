//! OpenID Connect Core for the code flow: the ID token a client gets with
//! scope `openid`, and the claims `/userinfo` answers with. Signed with the
//! keys of the access tokens (`typ: JWT`, so an ID token is never taken for
//! an access token, whose `typ` is `at+jwt`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha512};
use tollgate_proto::Scope;

use super::error::GrantError;
use super::keys::Signer;
use super::AuthServer;
use crate::store::{Client, User};

/// What an ID token is about.
#[derive(Debug)]
pub struct SignedIn<'a> {
    pub user: &'a User,
    pub scope: &'a Scope,
    /// When the user signed in (Unix seconds).
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
    /// The sign-in session (`sid`, Back-Channel Logout 1.0 §2.1), when the
    /// person signed in through the browser here.
    pub sid: Option<&'a str>,
}

/// The ID token for `client` (OIDC Core §2, §3.1.3.6).
pub async fn id_token(
    server: &AuthServer,
    client: &Client,
    who: &SignedIn<'_>,
) -> Result<String, GrantError> {
    let alg = client.settings.id_token_alg();
    let signer = server.tokens.keys().signer_for(alg).await?;
    let now = server.clock.now_secs();
    let ttl = client.settings.token_ttl.unwrap_or(server.config.token_ttl);
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(server.config.issuer));
    claims.insert("sub".into(), json!(who.user.username));
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("azp".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
    );
    claims.insert("auth_time".into(), json!(who.auth_time));
    claims.insert("at_hash".into(), json!(at_hash(&signer, who.access_token)));
    if let Some(n) = who.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    if let Some(sid) = who.sid {
        claims.insert("sid".into(), json!(sid));
    }
    claims.extend(user_claims(who.user, who.scope));
    signer.sign("JWT", &Value::Object(claims))
}

/// The subject of `hint`, an ID token this server signed for `client_id`
/// (`id_token_hint`, OIDC Core §3.1.2.1). Its expiry is not checked: an
/// old ID token still says who the client thinks is signed in.
pub async fn hint_subject(
    server: &AuthServer,
    client_id: &str,
    hint: &str,
) -> Result<String, &'static str> {
    const NOT_OURS: &str = "id_token_hint is not an ID token this server issued to this client";
    if hint.len() > 8 * 1024 {
        return Err(NOT_OURS);
    }
    let header = jsonwebtoken::decode_header(hint).map_err(|_| NOT_OURS)?;
    if header.typ.as_deref() != Some("JWT") {
        return Err(NOT_OURS);
    }
    let kid = header.kid.as_deref().ok_or(NOT_OURS)?;
    let key = server.tokens.keys().verifier(kid).await.ok_or(NOT_OURS)?;
    if key.alg != header.alg {
        return Err(NOT_OURS);
    }
    let mut v = jsonwebtoken::Validation::new(key.alg);
    v.validate_exp = false;
    v.required_spec_claims.clear();
    v.set_issuer(&[&server.config.issuer]);
    v.set_audience(&[client_id]);
    let claims = jsonwebtoken::decode::<HintClaims>(hint, &key.key, &v).map_err(|_| NOT_OURS)?;
    Ok(claims.claims.sub)
}

#[derive(serde::Deserialize)]
struct HintClaims {
    sub: String,
}

/// The client an ID token names in `aud`, read without verifying it: only
/// to know whose key and audience to verify it against
/// ([`hint_subject`]), when a request names no client (logout).
pub fn hint_audience(hint: &str) -> Option<String> {
    let payload = hint.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    match &claims["aud"] {
        Value::String(a) => Some(a.clone()),
        Value::Array(list) if list.len() == 1 => list[0].as_str().map(str::to_owned),
        _ => None,
    }
}

/// What `/userinfo` answers: the claims, or a JWT of them.
#[derive(Debug)]
pub enum UserInfo {
    Json(Map<String, Value>),
    /// Signed for a client registered with `userinfo_signed_response_alg`,
    /// with `iss` and `aud` added (OIDC Core §5.3.2).
    Jwt(String),
}

/// The userinfo response about `user` for the token's client (its record,
/// if it still exists).
pub async fn userinfo(
    server: &AuthServer,
    client: Option<&Client>,
    user: &User,
    scope: &Scope,
) -> Result<UserInfo, GrantError> {
    let mut claims = user_claims(user, scope);
    let Some((client_id, alg)) =
        client.and_then(|c| Some((&c.client_id, c.settings.userinfo_signed_response_alg?)))
    else {
        return Ok(UserInfo::Json(claims));
    };
    let signer = server.tokens.keys().signer_for(alg).await?;
    claims.insert("iss".into(), json!(server.config.issuer));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("iat".into(), json!(server.clock.now_secs()));
    Ok(UserInfo::Jwt(signer.sign("JWT", &Value::Object(claims))?))
}

/// The claims about `user` that `scope` lets a client see (OIDC Core §5.4):
/// `sub` always, `profile` the name, `email` the address.
pub fn user_claims(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(user.username));
    if scope.contains("profile") {
        m.insert("preferred_username".into(), json!(user.username));
        if let Some(name) = &user.full_name {
            m.insert("name".into(), json!(name));
            if let Some((given, family)) = name.split_once(' ') {
                m.insert("given_name".into(), json!(given));
                m.insert("family_name".into(), json!(family));
            }
        }
    }
    if scope.contains("email") {
        if let Some(email) = &user.email {
            m.insert("email".into(), json!(email));
            // Set by an administrator, never by the user: vouched for.
            m.insert("email_verified".into(), json!(true));
        }
    }
    m
}

/// `at_hash`: the left half of the access token's hash, with the hash of
/// the ID token's algorithm (SHA-256 for ES256 and RS256, SHA-512 for
/// EdDSA with Ed25519), base64url.
fn at_hash(signer: &Signer, access_token: &str) -> String {
    let digest: Vec<u8> = match signer.alg {
        jsonwebtoken::Algorithm::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            username: "jdoe".into(),
            password_hash: String::new(),
            full_name: Some("John Doe".into()),
            email: Some("jdoe@example.com".into()),
            enabled: true,
            created_at: 0,
            roles: Vec::new(),
        }
    }

    #[test]
    fn claims_follow_the_scopes() {
        let only = user_claims(&user(), &"openid".parse().unwrap_or_default());
        assert_eq!(Value::Object(only), json!({"sub": "jdoe"}));
        let all = user_claims(&user(), &"openid profile email".parse().unwrap_or_default());
        assert_eq!(all["name"], "John Doe");
        assert_eq!(all["given_name"], "John");
        assert_eq!(all["email"], "jdoe@example.com");
        assert_eq!(all["preferred_username"], "jdoe");
    }
}
