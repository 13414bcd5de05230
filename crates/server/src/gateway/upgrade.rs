//! Upgraded connections through the gateway: WebSocket (RFC 6455) and any
//! other HTTP/1.1 `Connection: Upgrade` protocol. The handshake is an
//! ordinary request (the bearer check and the quota have passed when it
//! gets here); it goes upstream on a connection of its own with
//! `Connection` and `Upgrade` kept, and when the upstream answers `101`
//! the two connections are joined and bytes copied both ways until either
//! side closes, the server shuts down, or, on a route with
//! `upgrades_end_at_token_expiry`, the caller's token expires. The
//! caller's connection keeps its slot among `max_connections` meanwhile
//! ([`crate::net::Hold`]).

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Response, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::net::Hold;

/// An upgrade the caller asked for, taken from its request.
#[derive(Debug)]
pub struct Upgrade {
    /// The `Upgrade` header (`websocket`, ...).
    pub protocol: HeaderValue,
    client: OnUpgrade,
    hold: Option<Hold>,
}

impl Upgrade {
    /// The upgrade `req` asks for: HTTP/1.1, `Connection` naming
    /// `upgrade`, an `Upgrade` header. HTTP/2 has no such handshake.
    pub fn take(req: &mut Request) -> Option<Self> {
        let names_upgrade =
            connection_tokens(req.headers()).any(|t| t.eq_ignore_ascii_case("upgrade"));
        if req.version() != Version::HTTP_11 || !names_upgrade {
            return None;
        }
        let protocol = req.headers().get(header::UPGRADE)?.clone();
        Some(Self {
            protocol,
            client: hyper::upgrade::on(&mut *req),
            hold: req.extensions().get::<Hold>().cloned(),
        })
    }

    /// Puts `Connection: upgrade` and `Upgrade` back on the request going
    /// upstream (they were removed with the other hop-by-hop headers).
    pub fn restore(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, self.protocol.clone());
    }

    /// Joins the caller's connection to the upstream's once both have
    /// switched (after `resp`, the upstream's `101`, is sent on), for at
    /// most `until`; gives the `101` to send to the caller.
    pub fn splice(self, mut resp: Response<Body>, until: Option<Duration>) -> Response<Body> {
        let upstream = hyper::upgrade::on(&mut resp);
        let Self { client, hold, .. } = self;
        tokio::spawn(async move {
            let busy = hold.as_ref().map(Hold::busy);
            let (client, upstream) = match tokio::try_join!(client, upstream) {
                Ok(both) => both,
                Err(e) => {
                    tracing::debug!(error = %e, "an upgrade did not complete");
                    return;
                }
            };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            let copying = tokio::io::copy_bidirectional(&mut client, &mut upstream);
            let capped = async {
                match until {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let mut hold = hold;
            let stopped = async {
                match hold.as_mut() {
                    Some(h) => h.stopped().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                copied = copying => tracing::debug!(?copied, "upgraded connection ended"),
                () = capped => tracing::debug!("upgraded connection ended: the token expired"),
                () = stopped => tracing::debug!("upgraded connection ended: shutting down"),
            }
            drop(busy);
        });
        resp
    }
}

/// The names the `Connection` header lists (comma-separated, trimmed): the
/// upgrade asked for here, the hop-by-hop headers `proxy` strips.
pub(super) fn connection_tokens(h: &HeaderMap) -> impl Iterator<Item = &str> {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, connection: &str, upgrade: Option<&str>) -> Request {
        let mut b = axum::http::Request::get("/ws")
            .version(version)
            .header(header::CONNECTION, connection);
        if let Some(u) = upgrade {
            b = b.header(header::UPGRADE, u);
        }
        b.body(Body::empty())
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn only_an_http11_upgrade_handshake_is_taken() {
        let mut ws = request(Version::HTTP_11, "keep-alive, Upgrade", Some("websocket"));
        let taken = Upgrade::take(&mut ws).map(|u| u.protocol);
        assert_eq!(taken, Some(HeaderValue::from_static("websocket")));
        let mut no_protocol = request(Version::HTTP_11, "upgrade", None);
        assert!(Upgrade::take(&mut no_protocol).is_none());
        let mut not_named = request(Version::HTTP_11, "keep-alive", Some("websocket"));
        assert!(Upgrade::take(&mut not_named).is_none());
        let mut h2 = request(Version::HTTP_2, "upgrade", Some("websocket"));
        assert!(Upgrade::take(&mut h2).is_none());
    }
}
