//! Cookies and the sessions behind them, for the pages people use (the
//! sign-in forms, the console). A session is a random value in a cookie,
//! stored server-side by its key only. Cookies are always `HttpOnly` and
//! `SameSite=Lax`, scoped to a path, and `Secure` unless the issuer is plain
//! http (a loopback development server).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use cookie::{Cookie, SameSite};

use crate::oauth::secret;
use crate::state::AppState;
use crate::store::Session;
use crate::Error;

/// The sign-in pages' session (on `/oauth2`).
pub const SIGN_IN_COOKIE: &str = "tollgate_session";

/// How long a session lasts.
pub const TTL_SECS: i64 = 8 * 3600;

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
    let session = state
        .store()
        .get_session(&secret::token_key(&value))
        .await
        .ok()
        .flatten()?;
    (session.expires_at > state.clock().now_secs()).then_some((value, session))
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
        expires_at: state.clock().now_secs() + TTL_SECS,
    };
    state
        .store()
        .create_session(&secret::token_key(&value), &session)
        .await?;
    Ok((value, session))
}
