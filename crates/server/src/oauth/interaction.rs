//! What an OpenID Connect request asks of the sign-in itself (OIDC Core
//! §3.1.2.1): `prompt`, `max_age`, `login_hint` and `id_token_hint`; and
//! the decision they make with the browser's session: stand on it, sign in
//! again, or, with `prompt=none`, tell the client why not (§3.1.2.6).
//!
//! Hints are compared with the username (tollgate's `sub`). An
//! `id_token_hint` is believed only if tollgate signed it for this client;
//! an expired one is still a hint, as oidc-provider takes it.

use std::borrow::Cow;

use tollgate_proto::{ErrorCode, FormParams};

use super::{oidc, AuthServer};
use crate::store::{Client, Session};

/// An error to send back to the client's redirect URI.
pub type Back = (ErrorCode, Cow<'static, str>);

/// The `prompt` values, each at most once; `none` stands alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

impl Prompt {
    /// What discovery advertises as `prompt_values_supported`.
    pub const VALUES: [&'static str; 4] = ["none", "login", "consent", "select_account"];

    pub fn parse(value: Option<&str>) -> Result<Self, &'static str> {
        let mut p = Self::default();
        for word in value.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
            let flag = match word {
                "none" => &mut p.none,
                "login" => &mut p.login,
                "consent" => &mut p.consent,
                "select_account" => &mut p.select_account,
                _ => return Err("prompt has a value tollgate does not know"),
            };
            if std::mem::replace(flag, true) {
                return Err("prompt repeats a value");
            }
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err("prompt=none cannot be combined with another value");
        }
        Ok(p)
    }
}

/// What the request asked of the sign-in.
#[derive(Debug, Clone, Default)]
pub struct Interaction {
    pub prompt: Prompt,
    /// Seconds a sign-in may be old: the request's, else the client's
    /// `default_max_age`.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub hint_subject: Option<String>,
}

/// Reads the request's interaction parameters for `client`.
pub async fn read(
    server: &AuthServer,
    p: &FormParams,
    client: &Client,
) -> Result<Interaction, Back> {
    let invalid = |d: &'static str| (ErrorCode::InvalidRequest, Cow::Borrowed(d));
    let prompt = Prompt::parse(p.get("prompt")).map_err(invalid)?;
    let max_age = match p.get("max_age") {
        None => client.settings.default_max_age,
        Some(v) => Some(
            v.parse::<u32>()
                .map_err(|_| invalid("max_age must be a whole number of seconds"))?,
        ),
    };
    let hint_subject = match p.get("id_token_hint") {
        None => None,
        Some(hint) => Some(
            oidc::hint_subject(server, &client.client_id, hint)
                .await
                .map_err(invalid)?,
        ),
    };
    Ok(Interaction {
        prompt,
        max_age: max_age.map(i64::from),
        login_hint: p.get("login_hint").map(str::to_owned),
        hint_subject,
    })
}

/// The session the request may stand on: `Ok(Some)` use it, `Ok(None)`
/// show the sign-in page, `Err` the `prompt=none` error to send back.
pub fn session_stands<'s>(
    i: &Interaction,
    session: Option<&'s Session>,
    now: i64,
) -> Result<Option<&'s Session>, Back> {
    let why_not: Option<(ErrorCode, &'static str)> = match session {
        None => Some((ErrorCode::LoginRequired, "the user is not signed in")),
        Some(s) if too_old(i.max_age, s.auth_time, now) => Some((
            ErrorCode::LoginRequired,
            "the user signed in longer ago than max_age allows",
        )),
        Some(s) if i.hint_subject.as_deref().is_some_and(|h| h != s.username) => Some((
            ErrorCode::LoginRequired,
            "the user signed in is not the subject of id_token_hint",
        )),
        Some(s) if i.login_hint.as_deref().is_some_and(|h| h != s.username) => Some((
            ErrorCode::AccountSelectionRequired,
            "the user signed in is not the one login_hint names",
        )),
        Some(_) if i.prompt.login || i.prompt.select_account => {
            Some((ErrorCode::LoginRequired, "prompt asks for a sign-in"))
        }
        Some(_) => None,
    };
    match why_not {
        None => Ok(session),
        Some((code, why)) if i.prompt.none => Err((code, why.into())),
        Some(_) => Ok(None),
    }
}

/// `max_age=0` asks for a sign-in every time; otherwise a sign-in more
/// than `max_age` seconds ago is too old.
fn too_old(max_age: Option<i64>, auth_time: i64, now: i64) -> bool {
    match max_age {
        None => false,
        Some(0) => true,
        Some(m) => now.saturating_sub(auth_time) > m,
    }
}

/// The name the sign-in page starts with: the hint's, else the session's.
pub fn username_to_fill<'a>(i: &'a Interaction, session: Option<&'a Session>) -> &'a str {
    i.login_hint
        .as_deref()
        .or(i.hint_subject.as_deref())
        .or(session.map(|s| s.username.as_str()))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(auth_time: i64) -> Session {
        Session {
            username: "alice".into(),
            auth_time,
            expires_at: i64::MAX,
            sid: "s".into(),
        }
    }

    #[test]
    fn prompt_values_parse_and_none_stands_alone() {
        let p = Prompt::parse(Some("login consent")).unwrap_or_default();
        assert!(p.login && p.consent && !p.none);
        assert_eq!(Prompt::parse(None), Ok(Prompt::default()));
        for bad in ["none login", "login login", "sideways", "none consent"] {
            assert!(Prompt::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_session_stands_unless_stale_another_user_or_prompted_away() {
        let s = session(1_000);
        let none = Interaction {
            prompt: Prompt {
                none: true,
                ..Prompt::default()
            },
            ..Interaction::default()
        };
        let stands = |i: &Interaction, s: Option<&Session>, now| {
            session_stands(i, s, now)
                .map(|o| o.is_some())
                .map_err(|e| e.0)
        };
        assert_eq!(stands(&none, Some(&s), 5_000), Ok(true));
        assert_eq!(stands(&none, None, 5_000), Err(ErrorCode::LoginRequired));
        let old = Interaction {
            max_age: Some(1),
            ..none.clone()
        };
        assert_eq!(stands(&old, Some(&s), 1_001), Ok(true));
        assert_eq!(stands(&old, Some(&s), 1_002), Err(ErrorCode::LoginRequired));
        let zero = Interaction {
            max_age: Some(0),
            ..Interaction::default()
        };
        assert_eq!(stands(&zero, Some(&s), 1_000), Ok(false));
        let bob = Interaction {
            login_hint: Some("bob".into()),
            ..none.clone()
        };
        assert_eq!(
            stands(&bob, Some(&s), 1_000),
            Err(ErrorCode::AccountSelectionRequired)
        );
        let login = Interaction {
            prompt: Prompt {
                login: true,
                ..Prompt::default()
            },
            ..Interaction::default()
        };
        assert_eq!(stands(&login, Some(&s), 1_000), Ok(false));
        assert_eq!(username_to_fill(&login, Some(&s)), "alice");
    }
}
