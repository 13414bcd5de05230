//! What an upgraded connection (a WebSocket, or any `Connection: Upgrade`
//! protocol) keeps once hyper has handed it over and stopped serving it:
//! its slot among `max_connections`, its place in the per-address census,
//! a busy mark (so it is never taken for an idle connection to close), and
//! the server's shutdown signal, which ends it.

use std::sync::Arc;

use tokio::sync::{watch as signal, OwnedSemaphorePermit};

use super::census::Enrolled;
use super::watch::{Active, Watch};

/// In the extensions of each request that asks for an upgrade.
#[derive(Debug, Clone)]
pub struct Hold {
    inner: Arc<Inner>,
    stop: signal::Receiver<bool>,
}

#[derive(Debug)]
struct Inner {
    _slot: OwnedSemaphorePermit,
    _enrolled: Enrolled,
    watch: Arc<Watch>,
}

/// Held for as long as an upgraded connection lives.
#[derive(Debug)]
pub struct Busy {
    _active: Active,
    _hold: Arc<Inner>,
}

impl Hold {
    pub(super) fn new(
        slot: OwnedSemaphorePermit,
        enrolled: Enrolled,
        watch: Arc<Watch>,
        stop: signal::Receiver<bool>,
    ) -> Self {
        let inner = Inner {
            _slot: slot,
            _enrolled: enrolled,
            watch,
        };
        Self {
            inner: Arc::new(inner),
            stop,
        }
    }

    /// The connection still counts, and is busy, until this is dropped.
    pub fn busy(&self) -> Busy {
        Busy {
            _active: self.inner.watch.begin(),
            _hold: self.inner.clone(),
        }
    }

    /// Resolves when the server shuts down.
    pub async fn stopped(&mut self) {
        // An error is a dropped sender: the server is gone, so stop too.
        let _ = self.stop.wait_for(|stopping| *stopping).await;
    }
}
