//! A resource owner's password, checked behind the guessing throttles: the
//! password grant and the sign-in page both come here, so both are slowed
//! alike and answer alike.

use std::net::IpAddr;

use tollgate_proto::ErrorCode;

use super::error::GrantError;
use super::{throttle, AuthServer};

/// The longest username there can be (the admin API's limit): a longer one
/// is refused before it is counted anywhere, so it costs no memory.
pub const MAX_USERNAME_BYTES: usize = 255;

fn bad_credentials() -> GrantError {
    GrantError::oauth(ErrorCode::InvalidGrant, "invalid username or password")
}

/// Checks a resource owner's password, unless the username must wait after
/// failed checks ([`throttle`]) from this address or from all. Unknown
/// users, wrong passwords and disabled users look alike; a wait is said, and
/// takes as long as a check, so neither its body nor its timing tells
/// whether the username exists.
pub async fn check_password(
    server: &AuthServer,
    username: &str,
    password: String,
    source: IpAddr,
) -> Result<(), GrantError> {
    if username.is_empty() || username.len() > MAX_USERNAME_BYTES {
        return Err(GrantError::invalid_request(format!(
            "the username must be 1 to {MAX_USERNAME_BYTES} bytes long"
        )));
    }
    let now = server.clock.now_ms();
    let here = throttle::user_at(username, source);
    let t = &server.throttles;
    let now_ms = || server.clock.now_ms();
    let tickets = match t.passwords.enter(&here, now_ms).await {
        Ok(a) => t.accounts.enter(username, now_ms).await.map(|b| (a, b)),
        Err(refused) => Err(refused),
    };
    let (here_ticket, account_ticket) = match tickets {
        Ok(both) => both,
        Err(refused) => {
            tokio::time::sleep(server.passwords.typical_check()).await;
            if refused == throttle::Refused::Full {
                tracing::warn!(
                    "password throttle table full of keys in backoff: raise [throttle] table_bytes"
                );
            }
            tracing::info!(
                username,
                wait_ms = refused.wait_ms(),
                "password attempt refused: waiting after failed checks"
            );
            let secs = refused.retry_after_secs();
            return Err(GrantError::oauth(
                ErrorCode::InvalidGrant,
                format!("too many failed sign-ins for this username: retry in {secs} s"),
            ));
        }
    };
    let user = server.store.get_user(username).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = server.passwords.verify(password, stored).await?;
    match user {
        Some(u) if matches && u.enabled => {
            here_ticket.succeeded();
            account_ticket.succeeded();
            Ok(())
        }
        _ => {
            here_ticket.failed(now);
            account_ticket.failed(now);
            tracing::info!(username, "password grant failed");
            Err(bad_credentials())
        }
    }
}
