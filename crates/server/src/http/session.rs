//! Cookies and the sessions behind them, for the pages people use (the
//! sign-in forms, the console). A session is a random value in a cookie,
//! stored server-side by its key only. Cookies are always `HttpOnly` and
//! `SameSite=Lax`, scoped to a path, and `Secure` unless the issuer is plain
//! http (a loopback development server).
//!
//! A session ends `session_idle_timeout` after it was last used and at the
//! latest `session_lifetime` after the person signed in (OWASP's session
//! management advice; Keycloak's SSO Session Idle and Max): each use moves
//! its end on, written at most once a minute. Signing out, disabling the
//! person, or a new password ends every session of theirs in the store, so
//! on every instance.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use cookie::{Cookie, SameSite};

use crate::error::Error;
use crate::oauth::{backchannel, secret};
use crate::state::AppState;
use crate::store::Session;

/// The sign-in pages' session (on `/oauth2`).
pub const SIGN_IN_COOKIE: &str = "tollgate_session";

/// The console's session (on `/console`).
pub const CONSOLE_COOKIE: &str = "tollgate_console";

/// A session's end is written again only once it has moved this far.
const RENEW_AFTER_SECS: i64 = 60;

/// The value of the cookie `name`, if the request carries it.
pub fn value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Sets `name` on `path` for `max_age` seconds (0: removes it).
pub fn set(
    state: &AppState,
    resp: &mut Response,
    path: &str,
    name: &str,
    value: &str,
    max_age: i64,
) {
    let secure = !state.config().issuer.starts_with("http://");
    let c = Cookie::build((name, value))
        .path(path.to_owned())
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The live session named by the cookie `name`, and the cookie's value.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Option<(String, Session)> {
    let value = self::value(headers, name)?;
    let key = secret::token_key(&value);
    let mut session = state.store().get_session(&key).await.ok().flatten()?;
    let now = state.clock().now_secs();
    let end = ends_at(state, session.auth_time, now);
    if session.expires_at <= now || end <= now {
        return None;
    }
    if end - session.expires_at >= RENEW_AFTER_SECS {
        session.expires_at = end;
        if let Err(e) = state.store().create_session(&key, &session).await {
            tracing::warn!(error = %e, "cannot renew a session");
        }
    }
    Some((value, session))
}

/// When a session of someone who signed in at `auth_time`, used at `now`,
/// ends: idle timeout from now, capped by the lifetime from the sign-in.
fn ends_at(state: &AppState, auth_time: i64, now: i64) -> i64 {
    let c = state.config();
    now.saturating_add(c.session_idle_timeout)
        .min(auth_time.saturating_add(c.session_lifetime))
}

/// Signs `username` out everywhere: every session of theirs ends in the
/// store (sign-in pages and console, on every instance), `resp` removes
/// both cookies from this browser, and every client those sessions signed
/// in to that asked to be told gets a logout token (Back-Channel Logout).
/// The one sign-out, for the console's button and RP-Initiated Logout alike.
pub async fn sign_out(state: &AppState, username: &str, resp: &mut Response) {
    let owed = match backchannel::notices(state.oauth(), username).await {
        Ok(owed) => owed,
        Err(e) => {
            tracing::warn!(error = %e, "cannot make the logout tokens of a sign-out");
            Vec::new()
        }
    };
    match state.store().delete_user_sessions(username).await {
        Ok(n) => tracing::info!(username, sessions = n, "signed out"),
        Err(e) => tracing::warn!(error = %e, "cannot delete the sessions of a sign-out"),
    }
    super::backchannel::deliver(owed);
    set(state, resp, "/console", CONSOLE_COOKIE, "", 0);
    set(state, resp, "/oauth2", SIGN_IN_COOKIE, "", 0);
}

/// A new session for `username`, signed in at `auth_time`: the cookie's
/// value and the session.
pub async fn start(
    state: &AppState,
    username: &str,
    auth_time: i64,
) -> Result<(String, Session), Error> {
    let value = secret::new_code()?;
    let session = Session {
        username: username.to_owned(),
        auth_time,
        expires_at: ends_at(state, auth_time, state.clock().now_secs()),
        sid: secret::new_family_id()?,
    };
    state
        .store()
        .create_session(&secret::token_key(&value), &session)
        .await?;
    Ok((value, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie_lines: &[String]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in cookie_lines {
            if let Ok(v) = HeaderValue::from_str(line) {
                h.append(header::COOKIE, v);
            }
        }
        h
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4096, ..Default::default() })]

        /// Any `Cookie` headers are read without a panic.
        #[test]
        fn cookie_headers_never_panic(lines in proptest::collection::vec("[ -~]{0,80}", 0..4)) {
            let _ = value(&headers(&lines), SIGN_IN_COOKIE);
        }

        /// A cookie among others (before or after it, in one header or
        /// several) reads back as its value; junk around it changes nothing.
        #[test]
        fn a_cookie_among_others_is_found(
            ours in "[A-Za-z0-9_-]{1,43}",
            others in proptest::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9%._-]{0,12}"), 0..5),
            junk in "[ -~]{0,20}",
            split: bool,
        ) {
            let mut pairs: Vec<String> = others.iter().map(|(k, v)| format!("x{k}={v}")).collect();
            let at = pairs.len() / 2;
            pairs.insert(at, format!("{SIGN_IN_COOKIE}={ours}"));
            let lines = if split {
                pairs.clone()
            } else {
                vec![pairs.join("; ")]
            };
            let mut with_junk = lines.clone();
            with_junk.push(junk.replace(SIGN_IN_COOKIE, "x"));
            proptest::prop_assert_eq!(value(&headers(&lines), SIGN_IN_COOKIE), Some(ours.clone()));
            proptest::prop_assert_eq!(value(&headers(&with_junk), SIGN_IN_COOKIE), Some(ours));
        }
    }
}
