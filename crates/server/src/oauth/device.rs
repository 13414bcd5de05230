//! The Device Authorization Grant (RFC 8628): a device with no browser
//! asks for a user code, a person enters it on the `/device` page, signs in
//! and decides, and the device, polling the token endpoint, gets tokens.
//!
//! User codes are 8 characters from 20 consonants (no vowels, so no words;
//! no look-alikes such as 0/O or 1/I: RFC 8628 §6.1), about 34.5 bits;
//! entering one is throttled per source address like a password, so
//! guessing a live code among the few pending ones is hopeless (§5.1).
//! Polls faster than the interval are `slow_down`, and each grows it by
//! 5 s (§3.5). Every person's decision is asked for, first-party client or
//! not: a user code can be phished, and the confirmation page names the
//! client (§5.4).

use std::net::IpAddr;
use std::sync::Arc;

use rand::rngs::OsRng;
use rand::TryRngCore;
use tollgate_proto::{ErrorCode, GrantType, Scope};

use super::error::GrantError;
use super::{authorize, secret, AuthServer};
use crate::store::{Client, DeviceGrant, DevicePoll, DeviceStatus, StoreError, User};

/// The characters of a user code (RFC 8628 §6.1's example set).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code, shown as two groups of four.
pub const USER_CODE_LEN: usize = 8;
/// New user codes tried when one is already taken.
const USER_CODE_TRIES: usize = 4;

/// What the device is given (RFC 8628 §3.2).
#[derive(Debug)]
pub struct Started {
    pub device_code: String,
    /// `XXXX-XXXX`.
    pub user_code: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// Starts a device authorization for `client`, which asked for `scope`.
pub async fn start(
    server: &AuthServer,
    client: &Client,
    scope: Option<Scope>,
) -> Result<Started, GrantError> {
    if !client.settings.grant_types.contains(&GrantType::DeviceCode) {
        return Err(GrantError::oauth(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the device authorization grant",
        ));
    }
    let scope = authorize::approved_scope(&authorize::allowed_scopes(client), scope)?;
    let ttl = server.config.device_code_ttl;
    let interval = server.config.device_poll_interval;
    let device_code = secret::new_code()?;
    let mut grant = DeviceGrant {
        device_hash: secret::digest(&device_code),
        user_code_hash: [0; 32],
        client_id: client.client_id.clone(),
        scope,
        expires_at: server.clock.now_secs().saturating_add(ttl),
        interval_secs: interval,
        polled_at_ms: None,
        status: DeviceStatus::Pending,
    };
    for _ in 0..USER_CODE_TRIES {
        let user_code = new_user_code()?;
        grant.user_code_hash = secret::digest(&user_code);
        match server.store.insert_device_grant(&grant).await {
            Ok(()) => {
                tracing::info!(client_id = %client.client_id, "device authorization started");
                return Ok(Started {
                    device_code,
                    user_code: display(&user_code),
                    expires_in: u64::try_from(ttl).unwrap_or(0),
                    interval: u64::try_from(interval).unwrap_or(0),
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(GrantError::Internal(format!(
        "{USER_CODE_TRIES} new user codes in a row were taken"
    )))
}

/// A new user code, unformatted: uniform over the alphabet (bytes past the
/// last whole multiple of 20 are drawn again).
fn new_user_code() -> Result<String, GrantError> {
    let mut code = String::with_capacity(USER_CODE_LEN);
    let limit = 256 - 256 % USER_CODE_ALPHABET.len();
    while code.len() < USER_CODE_LEN {
        let mut buf = [0u8; 16];
        OsRng
            .try_fill_bytes(&mut buf)
            .map_err(|e| GrantError::Internal(format!("OS random source failed: {e}")))?;
        for b in buf.into_iter().filter(|&b| usize::from(b) < limit) {
            if code.len() < USER_CODE_LEN {
                let i = usize::from(b) % USER_CODE_ALPHABET.len();
                code.push(char::from(USER_CODE_ALPHABET[i]));
            }
        }
    }
    Ok(code)
}

/// A user code as shown: `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// What a person typed, as a user code: any case, dashes and spaces
/// ignored; `None` unless 8 characters of the alphabet remain.
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

/// A pending authorization a person has found by its user code.
#[derive(Debug)]
pub struct Found {
    pub grant: DeviceGrant,
    pub client: Arc<Client>,
    /// The code as shown, for the pages.
    pub user_code: String,
}

fn no_such_code() -> GrantError {
    GrantError::invalid_request(
        "That code is not right, or it has expired. Check the code your device shows.",
    )
}

/// The pending authorization whose user code a person typed at `source`;
/// wrong codes from one address wait longer and longer, as passwords do.
pub async fn find(server: &AuthServer, typed: &str, source: IpAddr) -> Result<Found, GrantError> {
    let now_ms = server.clock.now_ms();
    let ticket = match server
        .throttles
        .user_codes
        .begin(&source.to_string(), now_ms)
    {
        Ok(t) => t,
        Err(refused) => {
            let secs = refused.retry_after_secs();
            return Err(GrantError::invalid_request(format!(
                "Too many wrong codes from here: try again in {secs} s."
            )));
        }
    };
    let found = match normalize(typed) {
        Some(code) => lookup(server, &code).await?,
        None => None,
    };
    match found {
        Some(f) => {
            ticket.succeeded();
            Ok(f)
        }
        None => {
            ticket.failed(now_ms);
            tracing::info!(%source, "device flow: a wrong or expired user code");
            Err(no_such_code())
        }
    }
}

/// The pending, unexpired authorization of `code` (normalised), with its
/// enabled client.
async fn lookup(server: &AuthServer, code: &str) -> Result<Option<Found>, GrantError> {
    let now = server.clock.now_secs();
    let grant = server
        .store
        .device_grant_by_user_code(&secret::digest(code))
        .await?
        .filter(|g| g.status == DeviceStatus::Pending && now < g.expires_at);
    let Some(grant) = grant else { return Ok(None) };
    let client = authorize::enabled_client(server, &grant.client_id).await?;
    Ok(client.map(|client| Found {
        grant,
        client,
        user_code: display(code),
    }))
}

/// Records a person's decision: `Some((username, auth_time))` allows,
/// `None` denies. `false` when the code is no longer pending.
pub async fn decide(
    server: &AuthServer,
    found: &Found,
    allowed: Option<(&str, i64)>,
) -> Result<bool, GrantError> {
    let decision = match allowed {
        Some((username, auth_time)) => DeviceStatus::Allowed {
            username: username.to_owned(),
            auth_time,
        },
        None => DeviceStatus::Denied,
    };
    let now = server.clock.now_secs();
    let hash = &found.grant.user_code_hash;
    let done = server
        .store
        .decide_device_grant(hash, &decision, now)
        .await?;
    tracing::info!(client_id = %found.client.client_id, allowed = allowed.is_some(), done, "device authorization decided");
    Ok(done)
}

/// What a device is issued tokens for once its poll finds the grant allowed.
#[derive(Debug)]
pub struct Redeemed {
    pub user: User,
    pub scope: Scope,
    pub auth_time: i64,
}

fn refused(code: ErrorCode, why: &'static str) -> GrantError {
    GrantError::oauth(code, why)
}

/// A device's poll (RFC 8628 §3.4, §3.5): the error that says to wait, to
/// slow down or to stop, or the grant used up and its user.
pub async fn redeem(
    server: &AuthServer,
    client: &Client,
    device_code: &str,
) -> Result<Redeemed, GrantError> {
    let hash = secret::digest(device_code);
    let now_ms = server.clock.now_ms();
    let unknown = || refused(ErrorCode::InvalidGrant, "the device code is unknown");
    let grant = match server.store.poll_device_grant(&hash, now_ms).await? {
        DevicePoll::Unknown => return Err(unknown()),
        DevicePoll::TooSoon(g) | DevicePoll::Polled(g) if g.client_id != client.client_id => {
            return Err(unknown())
        }
        DevicePoll::TooSoon(g) if now_ms < g.expires_at.saturating_mul(1000) => {
            return Err(refused(
                ErrorCode::SlowDown,
                "polled sooner than the interval: wait 5 s longer between polls",
            ))
        }
        DevicePoll::TooSoon(g) | DevicePoll::Polled(g) => g,
    };
    if now_ms >= grant.expires_at.saturating_mul(1000) {
        return Err(refused(
            ErrorCode::ExpiredToken,
            "the device code expired: start again",
        ));
    }
    let (username, auth_time) = match grant.status {
        DeviceStatus::Pending => {
            return Err(refused(
                ErrorCode::AuthorizationPending,
                "the user has not yet entered the code and decided",
            ))
        }
        DeviceStatus::Denied => {
            return Err(refused(
                ErrorCode::AccessDenied,
                "the user denied the request",
            ))
        }
        DeviceStatus::Used => {
            return Err(refused(
                ErrorCode::InvalidGrant,
                "the device code was used already",
            ))
        }
        DeviceStatus::Allowed {
            username,
            auth_time,
        } => (username, auth_time),
    };
    if !server.store.use_device_grant(&hash).await? {
        return Err(refused(
            ErrorCode::InvalidGrant,
            "the device code was used already",
        ));
    }
    let user = server
        .store
        .get_user(&username)
        .await?
        .filter(|u| u.enabled);
    let Some(user) = user else {
        return Err(refused(
            ErrorCode::InvalidGrant,
            "the device code belongs to a user who can no longer sign in",
        ));
    };
    Ok(Redeemed {
        user,
        scope: grant.scope,
        auth_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_codes_are_eight_letters_of_the_alphabet() {
        for _ in 0..200 {
            let code = new_user_code().unwrap_or_default();
            assert_eq!(code.len(), USER_CODE_LEN);
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
            assert_eq!(normalize(&display(&code)).as_deref(), Some(code.as_str()));
            assert_eq!(normalize(&display(&code).to_lowercase()), Some(code));
        }
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_not_codes() {
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJ0",
            "BCDF-GHJI",
            "BCDF-GHJA",
            "ÄBCD-FGHJ",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(normalize(" bcdf ghjk ").as_deref(), Some("BCDFGHJK"));
    }

    proptest! {
        #[test]
        fn normalize_never_panics_and_gives_only_codes(typed in "\\PC{0,80}") {
            if let Some(code) = normalize(&typed) {
                prop_assert_eq!(code.len(), USER_CODE_LEN);
                prop_assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
            }
        }
    }
}
