//! Introspection (RFC 7662, with the seed's `api-key` header) and
//! revocation (RFC 7009), and finding their URLs: the server's RFC 8414
//! metadata, else the token URL's sibling (`.../token.oauth2` →
//! `.../introspect.oauth2`).

use tollgate_proto::{AuthorizationServerMetadata, IntrospectionResponse, TokenTypeHint};

use crate::source::{endpoint_error, send_form, TokenSource};
use crate::Error;

/// Which endpoint to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Introspection,
    Revocation,
}

impl Endpoint {
    fn sibling_name(self) -> &'static str {
        match self {
            Self::Introspection => "introspect",
            Self::Revocation => "revoke",
        }
    }
}

/// The URL next to the token URL: `token.oauth2` → `introspect.oauth2`,
/// `token` → `introspect`.
pub fn sibling_url(token_url: &str, which: Endpoint) -> Option<String> {
    let (base, last) = token_url.rsplit_once('/')?;
    let (stem, ext) = match last.split_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (last, None),
    };
    if stem != "token" {
        return None;
    }
    Some(match ext {
        Some(e) => format!("{base}/{}.{e}", which.sibling_name()),
        None => format!("{base}/{}", which.sibling_name()),
    })
}

/// The endpoint's URL from the issuer's metadata document, if it has one.
pub async fn discover(http: &reqwest::Client, token_url: &str, which: Endpoint) -> Option<String> {
    let url = reqwest::Url::parse(token_url).ok()?;
    let origin = url.origin().ascii_serialization();
    let resp = http
        .get(format!("{origin}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let meta: AuthorizationServerMetadata = resp.json().await.ok()?;
    Some(match which {
        Endpoint::Introspection => meta.introspection_endpoint,
        Endpoint::Revocation => meta.revocation_endpoint,
    })
}

/// Metadata first, then the sibling of the token URL.
pub async fn resolve(
    http: &reqwest::Client,
    token_url: &str,
    which: Endpoint,
) -> Result<String, Error> {
    if let Some(u) = discover(http, token_url, which).await {
        return Ok(u);
    }
    sibling_url(token_url, which).ok_or_else(|| {
        Error::Config(format!(
            "cannot tell the {} URL from the token URL {token_url}; give it explicitly",
            which.sibling_name()
        ))
    })
}

impl TokenSource {
    /// Introspects `token` as this client (Basic + `api-key: <client id>`).
    pub async fn introspect(
        &self,
        url: &str,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<IntrospectionResponse, Error> {
        let body = self.send_token(url, token, hint, true).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Endpoint {
            url: url.to_owned(),
            status: 200,
            error: None,
            description: Some(format!("the answer is not an introspection response: {e}")),
        })
    }

    /// Revokes `token` (200 even when the server did not know it).
    pub async fn revoke(
        &self,
        url: &str,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<(), Error> {
        self.send_token(url, token, hint, false).await.map(drop)
    }

    async fn send_token(
        &self,
        url: &str,
        token: &str,
        hint: Option<TokenTypeHint>,
        api_key: bool,
    ) -> Result<bytes::Bytes, Error> {
        let mut form = vec![("token".to_owned(), token.to_owned())];
        if let Some(h) = hint {
            form.push(("token_type_hint".into(), h.as_str().into()));
        }
        form.extend(self.config().extra_params.iter().cloned());
        let mut b = self.post(url, &mut form);
        if api_key {
            b = b.header("api-key", &self.config().credentials.client_id);
        }
        let (status, body) = send_form(b, url, &form).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(endpoint_error(url, status, &body, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings() {
        let s = |u: &str, w| sibling_url(u, w);
        assert_eq!(
            s(
                "https://api.manheim.com/oauth2/token.oauth2",
                Endpoint::Introspection
            )
            .as_deref(),
            Some("https://api.manheim.com/oauth2/introspect.oauth2")
        );
        assert_eq!(
            s("https://x/oauth/token", Endpoint::Revocation).as_deref(),
            Some("https://x/oauth/revoke")
        );
        assert_eq!(s("https://x/auth", Endpoint::Revocation), None);
    }
}
