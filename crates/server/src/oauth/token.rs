//! The token endpoint's decisions: which grant, which scope, which tokens.
//!
//! Scope rule (the seed): a token carries exactly the scopes requested, none
//! when none are requested, and any scope the client is not approved for is
//! `invalid_scope` with no token. Refresh tokens rotate on every use; a used
//! one presented again revokes its whole family (RFC 6819 §5.2.2.3).

use tollgate_proto::{ErrorCode, GrantType, Scope, TokenRequest, TokenResponse};

use std::net::IpAddr;

use super::error::GrantError;
use super::jwt::{self, AccessClaims};
use super::revoke::revoke_family;
use super::AuthServer;
use super::{authorize, device, is_active, oidc, secret, sign_in};
use crate::store::{AuthCode, Client, CodeUse, Rotation, TokenKind, TokenRecord, User};
use tollgate_proto::client::TokenFormat;

/// Handles a token request from an authenticated client.
pub async fn issue(
    server: &AuthServer,
    client: &Client,
    req: TokenRequest,
    source: IpAddr,
) -> Result<TokenResponse, GrantError> {
    let grant = req.grant_type();
    let public_may = matches!(
        grant,
        GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::DeviceCode
    );
    if client.settings.public && !public_may {
        return Err(GrantError::oauth(
            ErrorCode::UnauthorizedClient,
            format!("a public client (no secret) may not use the {grant} grant"),
        ));
    }
    if !client.settings.grant_types.contains(&grant) {
        return Err(GrantError::oauth(
            ErrorCode::UnauthorizedClient,
            format!("this client is not registered for the {grant} grant"),
        ));
    }
    match req {
        TokenRequest::ClientCredentials { scope } => {
            let scope = authorize::approved_scope(&client.settings.scope, scope)?;
            let Minted { records, response } =
                mint(server, client, None, scope, grant, None).await?;
            store_tokens(server, records).await?;
            Ok(response)
        }
        TokenRequest::Password {
            username,
            password,
            scope,
        } => {
            let scope = authorize::approved_scope(&client.settings.scope, scope)?;
            sign_in::check_password(server, &username, password, source).await?;
            let Minted { records, response } =
                mint(server, client, Some(username), scope, grant, None).await?;
            store_tokens(server, records).await?;
            Ok(response)
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh(server, client, &refresh_token, scope).await,
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => exchange_code(server, client, &code, redirect_uri, code_verifier).await,
        TokenRequest::DeviceCode { device_code } => {
            let d = device::redeem(server, client, &device_code).await?;
            let user = Some(d.user.username.clone());
            let mut minted = mint(server, client, user, d.scope.clone(), grant, None).await?;
            if d.scope.contains("openid") {
                let who = oidc::SignedIn {
                    user: &d.user,
                    scope: &d.scope,
                    auth_time: d.auth_time,
                    nonce: None,
                    access_token: &minted.response.access_token,
                    sid: None,
                };
                minted.response.id_token = Some(oidc::id_token(server, client, &who).await?);
            }
            store_tokens(server, minted.records).await?;
            Ok(minted.response)
        }
    }
}

/// Stores what was minted; a JWT access token alone stores nothing.
async fn store_tokens(server: &AuthServer, records: Vec<TokenRecord>) -> Result<(), GrantError> {
    if !records.is_empty() {
        server.store.insert_tokens(records).await?;
    }
    Ok(())
}

/// Tokens about to be stored, and the response that hands them out.
struct Minted {
    records: Vec<TokenRecord>,
    response: TokenResponse,
}

/// Makes an access token (opaque and stored, or a signed JWT that is not),
/// plus a refresh token for user grants when the client may refresh.
/// `family` continues an existing family.
async fn mint(
    server: &AuthServer,
    client: &Client,
    username: Option<String>,
    scope: Scope,
    grant: GrantType,
    family: Option<String>,
) -> Result<Minted, GrantError> {
    let issue = Issue {
        client,
        family_id: match family {
            Some(f) => f,
            None => secret::new_family_id()?,
        },
        username,
        scope,
        grant,
        now: server.clock.now_secs(),
    };
    let ttl = client.settings.token_ttl.unwrap_or(server.config.token_ttl);
    let mut records = Vec::new();
    let format = client.settings.token_format;
    let access = match format.unwrap_or(server.config.token_format) {
        TokenFormat::Opaque => {
            let token = secret::new_token(TokenKind::Access)?;
            records.push(issue.record(TokenKind::Access, &token, ttl));
            token
        }
        TokenFormat::Jwt => {
            let claims = issue.claims(&server.config.issuer, ttl)?;
            jwt::sign(&claims, &*server.tokens.keys().signer().await?)?
        }
    };
    let grants = &client.settings.grant_types;
    let refresh = if issue.username.is_some() && grants.contains(&GrantType::RefreshToken) {
        let token = secret::new_token(TokenKind::Refresh)?;
        records.push(issue.record(TokenKind::Refresh, &token, server.config.refresh_ttl));
        Some(token)
    } else {
        None
    };
    Ok(Minted {
        response: TokenResponse {
            access_token: access,
            token_type: "bearer".into(),
            expires_in: Some(ttl),
            scope: (!issue.scope.is_empty()).then(|| issue.scope.clone()),
            refresh_token: refresh,
            id_token: None,
        },
        records,
    })
}

/// What every token of one issuance shares.
struct Issue<'a> {
    client: &'a Client,
    username: Option<String>,
    scope: Scope,
    grant: GrantType,
    family_id: String,
    now: i64,
}

impl Issue<'_> {
    fn expires_at(&self, ttl: u64) -> i64 {
        self.now
            .saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))
    }

    /// The stored record of `token`, alive for `ttl` seconds.
    fn record(&self, kind: TokenKind, token: &str, ttl: u64) -> TokenRecord {
        TokenRecord {
            hash: secret::token_key(token),
            kind,
            client_id: self.client.client_id.clone(),
            username: self.username.clone(),
            scope: self.scope.clone(),
            grant_type: self.grant,
            issued_at: self.now,
            expires_at: self.expires_at(ttl),
            family_id: self.family_id.clone(),
            rotated_at: None,
            revoked_at: None,
        }
    }

    /// The claims of a JWT access token (RFC 9068) alive for `ttl` seconds.
    fn claims(&self, issuer: &str, ttl: u64) -> Result<AccessClaims, GrantError> {
        let settings = &self.client.settings;
        Ok(AccessClaims {
            iss: issuer.to_owned(),
            sub: (self.username.clone()).unwrap_or_else(|| self.client.client_id.clone()),
            aud: settings
                .audience
                .clone()
                .unwrap_or_else(|| issuer.to_owned())
                .into(),
            exp: self.expires_at(ttl),
            iat: self.now,
            nbf: self.now,
            jti: secret::new_family_id()?,
            client_id: self.client.client_id.clone(),
            scope: self.scope.to_string(),
            sid: self.family_id.clone(),
            username: self.username.clone(),
            gty: Some(self.grant),
        })
    }
}

fn bad_code(why: &str) -> GrantError {
    GrantError::oauth(
        ErrorCode::InvalidGrant,
        format!("the authorization code {why}"),
    )
}

/// Uses up an authorization code: a fresh code of this client, its
/// redirect URI, its PKCE verifier; gives the code and its (enabled) user.
/// A code presented twice revokes everything issued from it (§4.1.2). The
/// console, a client of this server in the same process, signs people in
/// with it.
pub async fn redeem_code(
    server: &AuthServer,
    client: &Client,
    code: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> Result<(AuthCode, User), GrantError> {
    let now = server.clock.now_secs();
    let c = match server.store.use_code(&secret::token_key(code), now).await? {
        CodeUse::Unknown => return Err(bad_code("is unknown")),
        CodeUse::Replayed(c) => {
            if c.client_id == client.client_id {
                let revoked = revoke_family(server, client, &c.family_id).await?;
                tracing::warn!(client_id = %client.client_id, revoked, "authorization code used twice: tokens issued from it revoked");
            }
            return Err(bad_code("was used already"));
        }
        CodeUse::Fresh(c) => c,
    };
    if c.client_id != client.client_id {
        return Err(bad_code("was issued to another client"));
    }
    if now >= c.expires_at {
        return Err(bad_code("expired"));
    }
    let redirect_ok = match (c.redirect_given, redirect_uri.as_deref()) {
        (true, given) => given == Some(c.redirect_uri.as_str()),
        (false, given) => given.is_none_or(|g| g == c.redirect_uri),
    };
    if !redirect_ok {
        return Err(bad_code("was sent to another redirect_uri"));
    }
    // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is
    // a downgrade attempt, refused like a wrong one.
    match (&c.code_challenge, verifier.as_deref()) {
        (Some(challenge), Some(v)) if authorize::pkce_matches(v, challenge) => {}
        (Some(_), Some(_)) => return Err(bad_code("does not match this code_verifier")),
        (Some(_), None) => return Err(bad_code("needs its code_verifier (PKCE)")),
        (None, Some(_)) => {
            return Err(bad_code(
                "was issued without a code_challenge, so a code_verifier is refused",
            ))
        }
        (None, None) => {}
    }
    let Some(user) = server
        .store
        .get_user(&c.username)
        .await?
        .filter(|u| u.enabled)
    else {
        return Err(bad_code("belongs to a user who can no longer sign in"));
    };
    Ok((c, user))
}

/// The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): the
/// code redeemed, then tokens for its user.
async fn exchange_code(
    server: &AuthServer,
    client: &Client,
    code: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> Result<TokenResponse, GrantError> {
    let (c, user) = redeem_code(server, client, code, redirect_uri, verifier).await?;
    let Minted {
        records,
        mut response,
    } = mint(
        server,
        client,
        Some(c.username.clone()),
        c.scope.clone(),
        GrantType::AuthorizationCode,
        Some(c.family_id.clone()),
    )
    .await?;
    if c.scope.contains("openid") {
        let who = oidc::SignedIn {
            user: &user,
            scope: &c.scope,
            auth_time: c.auth_time,
            nonce: c.nonce.as_deref(),
            access_token: &response.access_token,
            sid: c.sid.as_deref(),
        };
        response.id_token = Some(oidc::id_token(server, client, &who).await?);
    }
    store_tokens(server, records).await?;
    Ok(response)
}

fn bad_refresh() -> GrantError {
    GrantError::oauth(
        ErrorCode::InvalidGrant,
        "the refresh token is invalid, expired or revoked",
    )
}

/// The refresh_token grant: validate, rotate, detect reuse.
async fn refresh(
    server: &AuthServer,
    client: &Client,
    presented: &str,
    requested: Option<Scope>,
) -> Result<TokenResponse, GrantError> {
    let hash = secret::token_key(presented);
    let lookup = server
        .store
        .find_token(&hash)
        .await?
        .ok_or_else(bad_refresh)?;
    let old = &lookup.token;
    if old.kind != TokenKind::Refresh || old.client_id != client.client_id {
        return Err(bad_refresh());
    }
    let now = server.clock.now_secs();
    if old.rotated_at.is_some() && old.revoked_at.is_none() {
        let revoked = revoke_family(server, client, &old.family_id).await?;
        tracing::warn!(client_id = %client.client_id, revoked, "refresh token reused: family revoked");
        return Err(bad_refresh());
    }
    if !is_active(&lookup, server.clock.now_ms()) {
        return Err(bad_refresh());
    }
    let scope = match requested {
        Some(s) if !s.is_subset(&old.scope) => {
            return Err(GrantError::oauth(
                ErrorCode::InvalidScope,
                format!(
                    "scope `{}` was not granted originally",
                    s.difference(&old.scope)
                ),
            ))
        }
        Some(s) => {
            let lost = s.difference(&authorize::allowed_scopes(client));
            if !lost.is_empty() {
                return Err(GrantError::oauth(
                    ErrorCode::InvalidScope,
                    format!("this client is not approved for scope `{lost}`"),
                ));
            }
            s
        }
        // The original scope, less anything the client has since lost.
        None => {
            let allowed = authorize::allowed_scopes(client);
            old.scope.iter().filter(|s| allowed.contains(s)).collect()
        }
    };
    let tokens = mint(
        server,
        client,
        old.username.clone(),
        scope,
        old.grant_type,
        Some(old.family_id.clone()),
    )
    .await?;
    match server
        .store
        .rotate_refresh(&hash, now, tokens.records)
        .await?
    {
        Rotation::Rotated => Ok(tokens.response),
        Rotation::AlreadyUsed => {
            // Lost a race with another use of the same token: that is reuse too.
            revoke_family(server, client, &old.family_id).await?;
            tracing::warn!(client_id = %client.client_id, "concurrent refresh token reuse: family revoked");
            Err(bad_refresh())
        }
    }
}
