//! The tollgate server: an OAuth 2.0 authorization server (token,
//! introspection and revocation endpoints) over a pluggable store.
//!
//! Entry points: [`AppState::new`] builds the state, [`router`] the routes,
//! and [`run`] serves them on a listener the caller bound, until `shutdown`
//! resolves. See ARCHITECTURE.md for the map.

pub mod admin;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod oauth;
pub mod state;
pub mod store;

use std::future::Future;
use std::time::Duration;

pub use clock::Clock;
pub use config::{Config, FileConfig};
pub use error::Error;
pub use http::router;
pub use state::AppState;

/// Serves `state` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish and flushes the store before returning.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep_loop(state.clone()));
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    state.store.close().await;
    served
}

/// Deletes expired tokens now and then. Rows are kept a minute past expiry
/// so that "expired" and "unknown" stay distinguishable in logs meanwhile.
async fn sweep_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.sweep_interval));
    loop {
        tick.tick().await;
        match state.store.sweep_expired(state.clock.now_secs() - 60).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "swept expired tokens"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired tokens failed"),
        }
    }
}
