//! Who a request came from: the TCP peer, or, when the peer is a proxy in
//! `trusted_proxies`, the address that proxy says it forwarded for.
//!
//! Trust is given by network and never by default, as nginx's
//! `set_real_ip_from` with `real_ip_recursive on`: `X-Forwarded-For` is read
//! from the right, past every trusted hop, and the first address that is
//! not trusted is the client. An entry that does not parse ends the walk at
//! the hop to its right, so garbage is never believed. With no trusted
//! proxies (the default) the peer is the client and no header is read.
//!
//! The result is put in each request's extensions once, by the accept loop:
//! the throttles, the access log and the gateway's `X-Forwarded-For` all
//! read [`ClientAddr`], never a header.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// The address a request is attributed to, and, when it came through
/// trusted proxies, the chain from the client to the last of them (the
/// peer itself not included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    pub via: Option<Vec<IpAddr>>,
}

impl ClientAddr {
    /// Whether the request came from a trusted proxy, whose
    /// `X-Forwarded-Proto` and `-Host` may then be passed on.
    pub fn via_trusted_proxy(&self) -> bool {
        self.via.is_some()
    }
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client behind `peer`, as described above.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return ClientAddr {
                ip: peer,
                via: None,
            };
        }
        // Entries right to left: several headers are one list (RFC 9110 §5.3).
        let entries = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|v| v.as_bytes().rsplit(|b| *b == b','));
        let mut chain: Vec<IpAddr> = Vec::new();
        let mut client = peer;
        for entry in entries {
            let Some(ip) = parse_entry(entry) else { break };
            chain.push(ip);
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        chain.reverse();
        ClientAddr {
            ip: client,
            via: Some(chain),
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`[v6]:port` or `v4:port`, as some proxies write it).
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    None
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is, so that
/// `10.0.0.0/8` matches a dual-stack listener's peers.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().filter_map(|n| n.parse().ok()).collect())
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn the_client_behind_trusted_hops() {
        // (trusted, peer, X-Forwarded-For headers, client, chain kept)
        type Case<'a> = (
            &'a [&'a str],
            &'a str,
            &'a [&'static str],
            &'a str,
            Option<&'a [&'a str]>,
        );
        let cases: &[Case] = &[
            (&[], "6.6.6.6", &["1.1.1.1"], "6.6.6.6", None),
            (&["10.0.0.0/8"], "6.6.6.6", &["1.1.1.1"], "6.6.6.6", None),
            (&["10.0.0.0/8"], "10.0.0.9", &[], "10.0.0.9", Some(&[])),
            (
                &["10.0.0.0/8"],
                "10.0.0.9",
                &["spoof, 7.7.7.7, 10.1.1.1"],
                "7.7.7.7",
                Some(&["7.7.7.7", "10.1.1.1"]),
            ),
            (
                &["10.0.0.0/8"],
                "10.0.0.9",
                &["9.9.9.9", "7.7.7.7:443"],
                "7.7.7.7",
                Some(&["7.7.7.7"]),
            ),
            (
                &["10.0.0.0/8"],
                "10.0.0.9",
                &["junk, 10.2.2.2"],
                "10.2.2.2",
                Some(&["10.2.2.2"]),
            ),
            (
                &["10.0.0.0/8", "2001:db8::/32"],
                "::ffff:10.0.0.9",
                &["[2001:db8::1]:80, 2001:db8::2"],
                "2001:db8::1",
                Some(&["2001:db8::1", "2001:db8::2"]),
            ),
        ];
        for (nets, peer, headers, client, chain) in cases {
            let got = trusted(nets).client(ip(peer), &xff(headers));
            assert_eq!(got.ip, ip(client), "{nets:?} {peer} {headers:?}");
            let want = chain.map(|c| c.iter().map(|s| ip(s)).collect::<Vec<_>>());
            assert_eq!(got.via, want, "{nets:?} {peer} {headers:?}");
        }
    }
}
