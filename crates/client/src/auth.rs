//! How a client proves who it is at the token endpoint (RFC 6749 §2.3.1).

use secrecy::{ExposeSecret, SecretString};
use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::BasicCredentials;

/// Client-authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// RFC 6749: id and secret form-urlencoded, then base64.
    #[default]
    Basic,
    /// Plain base64 of `id:secret`: what the Manheim and Manhattan docs show
    /// and what Python requests sends.
    BasicRaw,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::BasicRaw => "basic-raw",
            Self::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "basic" => Some(Self::Basic),
            "basic-raw" => Some(Self::BasicRaw),
            "post" => Some(Self::Post),
            _ => None,
        }
    }
}

/// A client id and secret. The secret never prints.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// Adds these credentials to a token-endpoint-style request.
    pub fn apply(
        &self,
        mode: ClientAuth,
        req: reqwest::RequestBuilder,
        form: &mut Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        let basic = |enc| {
            BasicCredentials::new(&self.client_id, self.client_secret.expose_secret())
                .header_value(enc)
        };
        if self.client_secret.expose_secret().is_empty() {
            // A public client (no secret): it names itself, and proves
            // nothing here (RFC 6749 §2.3: PKCE does that).
            form.push(("client_id".into(), self.client_id.clone()));
            return req;
        }
        match mode {
            ClientAuth::Basic => req.header("authorization", basic(BasicEncoding::FormUrlEncoded)),
            ClientAuth::BasicRaw => req.header("authorization", basic(BasicEncoding::Raw)),
            ClientAuth::Post => {
                form.push(("client_id".into(), self.client_id.clone()));
                form.push((
                    "client_secret".into(),
                    self.client_secret.expose_secret().to_owned(),
                ));
                req
            }
        }
    }
}
