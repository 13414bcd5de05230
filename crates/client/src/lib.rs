//! An OAuth 2.0 client that behaves well against tollgate and the platforms
//! it models (Manheim, Manhattan Active).
//!
//! - [`TokenSource`] gets tokens (client_credentials, password,
//!   refresh_token), caches them until a margin before expiry (or until an
//!   API rejects them, when the server gives no `expires_in`), and makes one
//!   token request however many callers need a token at once.
//! - [`ApiClient`] calls APIs with `Authorization: Bearer`, and on
//!   `401 invalid_token` drops that token, gets a new one and retries once;
//!   it waits out per-second quotas and reports daily ones at once.
//! - [`DiskCache`] keeps tokens between processes (files 0600, atomic
//!   writes, a lock so parallel runs make one request).
//!
//! "It is the client's responsibility to cache each OAuth2 access token and
//! request a new token upon token expiration instead of using a timer."

pub mod api;
pub mod auth;
pub mod device;
pub mod disk_cache;
pub mod endpoints;
pub mod error;
pub mod jwt;
pub mod pkce;
pub mod source;
pub mod token;

pub use api::{ApiClient, ApiRequest, ApiResponse, RetryPolicy};
pub use auth::{ClientAuth, Credentials};
pub use disk_cache::{CacheEntry, CacheKey, DiskCache};
pub use error::Error;
pub use source::{Grant, TokenSource, TokenSourceConfig};
pub use token::Token;

/// An HTTP client with sensible defaults: rustls with bundled roots (or the
/// OS store with the `native-roots` feature), timeouts, no redirects to
/// other hosts carrying credentials.
pub fn http_client() -> Result<reqwest::Client, Error> {
    http_client_trusting(None)
}

/// [`http_client`] that also trusts the PEM certificates in `ca_pem` (a
/// private CA, a self-signed server).
pub fn http_client_trusting(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::Config(format!("the CA certificate file is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config(
                "the CA certificate file holds no PEM certificate".into(),
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
}
