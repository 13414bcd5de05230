//! Which client credentials a request presents: the Basic header, or
//! `client_id`/`client_secret` in the body — never both. Unusable
//! credentials are passed on so that `authenticate` rejects (and counts)
//! every failure in one place.

use std::net::{IpAddr, Ipv6Addr};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use tollgate_proto::{BasicCredentials, FormParams};

use crate::error::Error;
use crate::forwarded::ClientAddr;
use crate::oauth::client_auth::Presented;

pub fn presented(headers: &HeaderMap, form: &FormParams) -> Result<Presented, Error> {
    let mut auth = headers.get_all(header::AUTHORIZATION).iter();
    let header_value = auth.next();
    if auth.next().is_some() {
        return Err(Error::invalid_request("more than one Authorization header"));
    }
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match (header_value, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(Error::invalid_request(
            "client credentials in both the Authorization header and the body",
        )),
        (Some(value), body_id, None) => {
            let Some(candidates) = value
                .to_str()
                .ok()
                .and_then(|v| BasicCredentials::candidates(v).ok())
            else {
                return Ok(Presented::Unusable);
            };
            if let Some(id) = body_id {
                if !candidates.iter().any(|c| c.client_id == id) {
                    return Err(Error::invalid_request(
                        "client_id in the body differs from the Authorization header",
                    ));
                }
            }
            Ok(Presented::Basic(candidates))
        }
        (None, Some(id), Some(secret)) => Ok(Presented::Post(BasicCredentials::new(id, secret))),
        (None, Some(id), None) => Ok(Presented::Public(id.to_owned())),
        (None, None, _) => Ok(Presented::Unusable),
    }
}

/// The address a request is attributed to ([`ClientAddr`]: the TCP peer,
/// or the client a trusted proxy names), which failed authentications are
/// throttled by; unspecified when not served over TCP.
#[derive(Debug, Clone, Copy)]
pub struct Source(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(client_ip(&parts.extensions)))
    }
}

/// The request's [`ClientAddr`], else unspecified.
pub fn client_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.ip)
}
