//! RP-Initiated Logout 1.0, with no HTTP types: is a sign-out request one
//! tollgate may follow, where may it send the browser after, and must the
//! person be asked first.
//!
//! As oidc-provider does: `post_logout_redirect_uri` is followed only when
//! it is one the client registered, matched exactly, and the client is
//! known (from `client_id` or the `id_token_hint`'s audience); otherwise the
//! request is shown as an error page and the browser goes nowhere. With a
//! hint for the person signed in, the sign-out happens at once; without
//! one (anyone could have sent the browser here), the person is asked.

use std::sync::Arc;

use tollgate_proto::FormParams;

use super::error::GrantError;
use super::{authorize, oidc, AuthServer};
use crate::store::Client;

/// A sign-out request that passed every check.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    /// The client it came from, if it said.
    pub client: Option<Arc<Client>>,
    /// The `sub` of a valid `id_token_hint`.
    pub hint_subject: Option<String>,
    /// Registered for `client`.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// Why a sign-out request is not followed.
#[derive(Debug)]
pub enum Refused {
    /// Shown to the person.
    Page(&'static str),
    /// The store failed: logged, the person told to try again.
    Unavailable(GrantError),
}

/// Checks a sign-out request's parameters (query or form).
pub async fn check(server: &AuthServer, p: &FormParams) -> Result<LogoutRequest, Refused> {
    let hint = p.get("id_token_hint");
    let named = p.get("client_id");
    let from_hint = hint.and_then(oidc::hint_audience);
    if let (Some(n), Some(h)) = (named, from_hint.as_deref()) {
        if n != h {
            return Err(Refused::Page(
                "The sign-out request names one application and its ID token another.",
            ));
        }
    }
    let client = match named.or(from_hint.as_deref()) {
        Some(id) => Some(known_client(server, id).await?),
        None => None,
    };
    let hint_subject = match (hint, &client) {
        (None, _) => None,
        (Some(h), Some(c)) => Some(oidc::hint_subject(server, &c.client_id, h).await.map_err(
            |_| Refused::Page("The sign-out request's ID token was not issued by this server."),
        )?),
        (Some(_), None) => {
            return Err(Refused::Page(
                "The sign-out request's ID token names no application.",
            ))
        }
    };
    let post_logout_redirect_uri = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => Some(registered_return(client.as_deref(), uri)?),
    };
    Ok(LogoutRequest {
        client,
        hint_subject,
        post_logout_redirect_uri,
        state: p.get("state").map(str::to_owned),
    })
}

async fn known_client(server: &AuthServer, id: &str) -> Result<Arc<Client>, Refused> {
    match authorize::enabled_client(server, id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Refused::Page(authorize::NOT_REGISTERED)),
        Err(e) => Err(Refused::Unavailable(e)),
    }
}

/// `uri`, if `client` registered it as a `post_logout_redirect_uri`.
fn registered_return(client: Option<&Client>, uri: &str) -> Result<String, Refused> {
    let Some(client) = client else {
        return Err(Refused::Page(
            "The sign-out request asks to return to an address without saying which application it is.",
        ));
    };
    let registered = &client.settings.post_logout_redirect_uris;
    if registered.iter().any(|r| r == uri) {
        Ok(uri.to_owned())
    } else {
        Err(Refused::Page(
            "The application asked to send you after sign-out to an address it has not registered.",
        ))
    }
}

/// Whether the person signed in as `signed_in` must be asked before the
/// sign-out: unless the request's ID token says it is them.
pub fn must_ask(req: &LogoutRequest, signed_in: Option<&str>) -> bool {
    match signed_in {
        None => false,
        Some(user) => req.hint_subject.as_deref() != Some(user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hint_for_the_person_signed_in_skips_the_question() {
        let hinted = LogoutRequest {
            hint_subject: Some("alice".into()),
            ..LogoutRequest::default()
        };
        assert!(!must_ask(&hinted, Some("alice")));
        assert!(must_ask(&hinted, Some("bob")));
        assert!(must_ask(&LogoutRequest::default(), Some("alice")));
        assert!(
            !must_ask(&LogoutRequest::default(), None),
            "no one to sign out"
        );
    }
}
