//! Shapes the OpenAPI document describes that have no wire type of their
//! own: the forms handlers read with their own parsers (token, revocation,
//! introspection, authorization requests), and the two error bodies. Below
//! every handler and the document alike.

use utoipa::ToSchema;

pub use crate::error::{Body as OAuthError, Problem};

/// The form of introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenReference {
    pub token: String,
    pub token_type_hint: Option<tollgate_proto::TokenTypeHint>,
}

/// The token request's form (RFC 6749 §4): `grant_type` says which of the
/// other fields it needs. Client credentials go in HTTP Basic, or here as
/// `client_id` and `client_secret`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    pub grant_type: tollgate_proto::GrantType,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// An authorization request (RFC 6749 §4.1.1, RFC 7636, OpenID Connect),
/// in the query (GET) or a form (POST).
#[derive(Debug, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
}
