//! Client authentication (RFC 6749 §2.3.1).
//!
//! A known client presenting its current secret is answered from the
//! [client cache](super::cache). Every other attempt costs the same
//! work whether or not the client exists: one store lookup and one digest
//! comparison per candidate decoding, against a dummy digest when there is
//! no such client. Failures all produce the same `invalid_client`, are
//! logged without the secret, and are counted; each is answered
//! `failure_floor_ms` after the attempt began, so what remains of the
//! difference in work cannot be timed.
//!
//! Failures are throttled per source address ([`super::throttle`]): past
//! `client_free_failures`, an address waits before its next check, and
//! attempts meanwhile are refused with 429 unless the client cache already
//! knows the credentials (a real client behind the same address keeps
//! working).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tollgate_proto::BasicCredentials;

use super::error::GrantError;
use super::secret;
use super::AuthServer;
use crate::store::{Client, Digest};

/// Digest compared against when the client id is unknown.
const DUMMY_DIGEST: Digest = [0x5a; 32];

/// Whether `presented` is the client's secret, or its previous one during
/// a rotation's grace period. Both digests are always compared, so the
/// time taken does not tell which matched.
fn secret_matches(c: Option<&Client>, presented: &str, now: i64) -> bool {
    let previous = c.and_then(|c| c.previous_secret).filter(|p| now < p.until);
    let current = c.map_or(&DUMMY_DIGEST, |c| &c.secret_hash);
    let current_ok = secret::verify(presented, current) & c.is_some();
    let previous_ok = secret::verify(
        presented,
        previous.as_ref().map_or(&DUMMY_DIGEST, |p| &p.hash),
    );
    current_ok | (previous_ok & previous.is_some())
}

/// The credentials a request presented.
#[derive(Debug)]
pub enum Presented {
    /// An `Authorization: Basic` header, as its plausible decodings.
    Basic(Vec<BasicCredentials>),
    /// `client_id` and `client_secret` in the form body.
    Post(BasicCredentials),
    /// `client_id` alone: only a public client (no secret) may be so named.
    Public(String),
    /// No credentials, or an `Authorization` header that is not Basic.
    Unusable,
}

/// The authenticated, enabled client, or `invalid_client`.
pub async fn authenticate(
    server: &AuthServer,
    presented: &Presented,
    source: IpAddr,
) -> Result<Arc<Client>, GrantError> {
    let started = tokio::time::Instant::now();
    let floor = Duration::from_millis(server.config.throttle.failure_floor_ms);
    let outcome = check(server, presented, source).await;
    if let Err(GrantError::Refused { .. } | GrantError::Throttled { .. }) = &outcome {
        tokio::time::sleep_until(started + floor).await;
    }
    outcome
}

/// A public client named by its id alone. Its tokens are bound to what it
/// proves otherwise (a PKCE verifier, a refresh token), so naming one is
/// not a guess at a secret and is not throttled; naming a confidential
/// client without its secret is `invalid_client`.
async fn public(server: &AuthServer, client_id: &str) -> Result<Arc<Client>, GrantError> {
    if let Some(c) = server
        .clients
        .get(client_id, server.clock.now_ms())
        .filter(|c| c.settings.public && c.enabled)
    {
        return Ok(c);
    }
    let generation = server.clients.generation();
    match server.store.get_client(client_id).await? {
        Some(c) if c.settings.public && c.enabled => {
            let c = Arc::new(c);
            let id = c.client_id.clone();
            server
                .clients
                .insert(id, c.clone(), generation, server.clock.now_ms());
            Ok(c)
        }
        _ => {
            tracing::info!(
                client_id,
                "client authentication failed: no secret for a confidential client"
            );
            Err(GrantError::invalid_client())
        }
    }
}

/// The client the credentials name, if they are right.
async fn check(
    server: &AuthServer,
    presented: &Presented,
    source: IpAddr,
) -> Result<Arc<Client>, GrantError> {
    let (candidates, via_post) = match presented {
        Presented::Basic(c) => (c.as_slice(), false),
        Presented::Post(c) => (std::slice::from_ref(c), true),
        Presented::Public(id) => return public(server, id).await,
        Presented::Unusable => (&[][..], false),
    };
    let now = server.clock.now_secs();
    let accepts = |c: &Client, cand: &BasicCredentials| {
        c.enabled
            && secret_matches(Some(c), &cand.client_secret, now)
            && c.settings.auth_method.allows(via_post)
    };
    for cand in candidates {
        match server
            .clients
            .get(cand.client_id.as_str(), server.clock.now_ms())
        {
            Some(client) if accepts(&client, cand) => return Ok(client),
            _ => {}
        }
    }
    let ticket = match server
        .throttles
        .clients
        .begin(&source.to_string(), server.clock.now_ms())
    {
        Ok(t) => t,
        Err(refused) => {
            tracing::info!(%source, wait_ms = refused.wait_ms(), "client authentication refused: too many failures from this address");
            return Err(GrantError::Throttled {
                retry_after_secs: refused.retry_after_secs(),
            });
        }
    };
    for cand in candidates {
        let generation = server.clients.generation();
        let client = server.store.get_client(&cand.client_id).await?;
        let secret_ok = secret_matches(client.as_ref(), &cand.client_secret, now);
        if let Some(client) = client.filter(|c| secret_ok && c.enabled) {
            if !client.settings.auth_method.allows(via_post) {
                break;
            }
            let client = Arc::new(client);
            let id = client.client_id.clone();
            server
                .clients
                .insert(id, client.clone(), generation, server.clock.now_ms());
            return Ok(client);
        }
    }
    let failures = server.metrics.client_auth_failed();
    ticket.failed(server.clock.now_ms());
    let client_id = candidates.first().map_or("", |c| c.client_id.as_str());
    tracing::info!(client_id, failures, "client authentication failed");
    Err(GrantError::invalid_client())
}
