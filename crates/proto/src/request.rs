//! Form-encoded requests: the token request (RFC 6749 §4.3.2, §4.4.2, §6) and
//! the parameter rules every endpoint shares (§3.1, §3.2).

use std::collections::BTreeMap;
use std::fmt;

use crate::{ErrorCode, GrantType, Scope};

/// A request the server must refuse, with the error code RFC 6749 gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct RequestError {
    pub code: ErrorCode,
    pub description: String,
}

impl RequestError {
    fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// Decoded `application/x-www-form-urlencoded` parameters. Empty values are
/// treated as omitted (§3.2); a parameter given twice is an error (§3.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FormParams(BTreeMap<String, String>);

impl fmt::Debug for FormParams {
    /// Shows names only: values include passwords and tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FormParams {
    /// The parameters of `body`; `invalid_request` for a repeated parameter
    /// or more than `max_params` of them (empty ones count: they cost work).
    pub fn parse(body: &[u8], max_params: usize) -> Result<Self, RequestError> {
        let mut map = BTreeMap::new();
        for (n, (k, v)) in form_urlencoded::parse(body).enumerate() {
            if n >= max_params {
                return Err(RequestError::new(
                    ErrorCode::InvalidRequest,
                    format!("more than {max_params} parameters"),
                ));
            }
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(RequestError::new(
                    ErrorCode::InvalidRequest,
                    format!("parameter `{k}` is repeated"),
                ));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The named parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, RequestError> {
        self.get(name).ok_or_else(|| {
            RequestError::new(
                ErrorCode::InvalidRequest,
                format!("parameter `{name}` is missing"),
            )
        })
    }

    /// The `scope` parameter: `None` when absent, `invalid_scope` when malformed.
    pub fn scope(&self) -> Result<Option<Scope>, RequestError> {
        self.get("scope")
            .map(|s| {
                s.parse().map_err(|e: crate::ProtoError| {
                    RequestError::new(ErrorCode::InvalidScope, e.to_string())
                })
            })
            .transpose()
    }
}

/// A token request, by grant type.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenRequest {
    ClientCredentials {
        scope: Option<Scope>,
    },
    Password {
        username: String,
        password: String,
        scope: Option<Scope>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<Scope>,
    },
    /// RFC 6749 §4.1.3 with RFC 7636 §4.5. The scope is the code's.
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    /// RFC 8628 §3.4: polling with the device code. The scope is the
    /// device authorization's.
    DeviceCode {
        device_code: String,
    },
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientCredentials { scope } => f
                .debug_struct("ClientCredentials")
                .field("scope", scope)
                .finish(),
            Self::Password {
                username, scope, ..
            } => f
                .debug_struct("Password")
                .field("username", username)
                .field("scope", scope)
                .finish_non_exhaustive(),
            Self::RefreshToken { scope, .. } => f
                .debug_struct("RefreshToken")
                .field("scope", scope)
                .finish_non_exhaustive(),
            Self::AuthorizationCode { redirect_uri, .. } => f
                .debug_struct("AuthorizationCode")
                .field("redirect_uri", redirect_uri)
                .finish_non_exhaustive(),
            Self::DeviceCode { .. } => f.debug_struct("DeviceCode").finish_non_exhaustive(),
        }
    }
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::Password { .. } => GrantType::Password,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }

    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Self::ClientCredentials { scope }
            | Self::Password { scope, .. }
            | Self::RefreshToken { scope, .. } => scope.as_ref(),
            Self::AuthorizationCode { .. } | Self::DeviceCode { .. } => None,
        }
    }

    /// Reads a token request from its form parameters.
    pub fn from_params(p: &FormParams) -> Result<Self, RequestError> {
        let grant = p.require("grant_type")?;
        let grant: GrantType = grant.parse().map_err(|_| {
            RequestError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type `{grant}` is not supported"),
            )
        })?;
        let scope = p.scope()?;
        Ok(match grant {
            GrantType::ClientCredentials => Self::ClientCredentials { scope },
            GrantType::Password => Self::Password {
                username: p.require("username")?.to_owned(),
                password: p.require("password")?.to_owned(),
                scope,
            },
            GrantType::RefreshToken => Self::RefreshToken {
                refresh_token: p.require("refresh_token")?.to_owned(),
                scope,
            },
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: p.require("code")?.to_owned(),
                redirect_uri: p.get("redirect_uri").map(str::to_owned),
                code_verifier: p.get("code_verifier").map(str::to_owned),
            },
            GrantType::DeviceCode => Self::DeviceCode {
                device_code: p.require("device_code")?.to_owned(),
            },
        })
    }

    /// The form parameters that carry this request.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("grant_type", self.grant_type().as_str().to_owned())];
        match self {
            Self::ClientCredentials { .. } => {}
            Self::Password {
                username, password, ..
            } => {
                out.push(("username", username.clone()));
                out.push(("password", password.clone()));
            }
            Self::RefreshToken { refresh_token, .. } => {
                out.push(("refresh_token", refresh_token.clone()));
            }
            Self::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                out.push(("code", code.clone()));
                out.extend(redirect_uri.iter().map(|r| ("redirect_uri", r.clone())));
                out.extend(code_verifier.iter().map(|v| ("code_verifier", v.clone())));
            }
            Self::DeviceCode { device_code } => out.push(("device_code", device_code.clone())),
        }
        if let Some(scope) = self.scope().filter(|s| !s.is_empty()) {
            out.push(("scope", scope.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<&str, ErrorCode>) {
        let got = FormParams::parse(body.as_bytes(), 100)
            .and_then(|p| TokenRequest::from_params(&p))
            .map(|r| format!("{r:?}"))
            .map_err(|e| e.code);
        assert_eq!(got.as_deref().map_err(|c| *c), expected, "body {body:?}");
    }

    #[test]
    fn token_request_table() {
        check(
            "grant_type=client_credentials&scope=APP1%3AABC%20APP%40%3ACDE",
            Ok(r#"ClientCredentials { scope: Some(Scope({"APP1:ABC", "APP@:CDE"})) }"#),
        );
        check(
            "grant_type=client_credentials",
            Ok("ClientCredentials { scope: None }"),
        );
        check(
            "grant_type=client_credentials&scope=",
            Ok("ClientCredentials { scope: None }"),
        );
        check(
            "grant_type=password&username=johndoe&password=abcde",
            Ok(r#"Password { username: "johndoe", scope: None, .. }"#),
        );
        check(
            "grant_type=password&username=johndoe",
            Err(ErrorCode::InvalidRequest),
        );
        check("grant_type=refresh_token", Err(ErrorCode::InvalidRequest));
        check("", Err(ErrorCode::InvalidRequest));
        check(
            "grant_type=authorization_code",
            Err(ErrorCode::InvalidRequest),
        );
        check(
            "grant_type=authorization_code&code=c&code_verifier=v&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
            Ok(r#"AuthorizationCode { redirect_uri: Some("http://127.0.0.1/cb"), .. }"#),
        );
        check(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d",
            Ok("DeviceCode { .. }"),
        );
        check(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
            Err(ErrorCode::InvalidRequest),
        );
        check("grant_type=implicit", Err(ErrorCode::UnsupportedGrantType));
        check(
            "grant_type=password&grant_type=password",
            Err(ErrorCode::InvalidRequest),
        );
        check(
            "grant_type=client_credentials&scope=a&scope=b",
            Err(ErrorCode::InvalidRequest),
        );
        check(
            "grant_type=client_credentials&scope=a%22b",
            Err(ErrorCode::InvalidScope),
        );
    }

    #[test]
    fn to_form_round_trips() {
        let req = TokenRequest::Password {
            username: "u".into(),
            password: "p+%&=".into(),
            scope: Some("b a".parse().unwrap_or_default()),
        };
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(req.to_form())
            .finish();
        let back =
            FormParams::parse(body.as_bytes(), 100).and_then(|p| TokenRequest::from_params(&p));
        assert_eq!(back, Ok(req));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let req = TokenRequest::Password {
            username: "u".into(),
            password: "hunter2".into(),
            scope: None,
        };
        assert!(!format!("{req:?}").contains("hunter2"));
        let p = FormParams::parse(b"password=hunter2", 100).unwrap_or_default();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
