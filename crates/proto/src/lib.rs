//! Wire types of OAuth 2.0 shared by the tollgate server and client.
//!
//! Only this crate defines shapes that cross the wire: the token response
//! (RFC 6749 §5.1), error codes and bodies (§5.2, RFC 6750 §3.1), grant types,
//! scope sets (§3.3), audiences (`aud`), HTTP Basic client credentials (§2.3.1), introspection
//! (RFC 7662), server metadata (RFC 8414), the device authorization response
//! (RFC 8628), a client's settings and the
//! admin API's bodies, with JSON merge patches (RFC 7396) to change them. It has no I/O and no async
//! runtime, so both sides can depend on it freely.

pub mod admin;
pub mod audience;
pub mod basic;
pub mod challenge;
pub mod client;
pub mod device;
pub mod error;
pub mod grant;
pub mod introspect;
pub mod jose;
pub mod merge_patch;
pub mod metadata;
pub mod registration;
pub mod request;
pub mod scope;
pub mod token;

pub use audience::Audience;
pub use basic::BasicCredentials;
pub use challenge::BearerChallenge;
pub use device::DeviceAuthorizationResponse;
pub use error::{ErrorCode, ErrorResponse, ProtoError};
pub use grant::GrantType;
pub use introspect::{IntrospectionResponse, TokenTypeHint};
pub use metadata::AuthorizationServerMetadata;
pub use request::{FormParams, RequestError, TokenRequest};
pub use scope::Scope;
pub use token::TokenResponse;
