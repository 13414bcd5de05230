//! The tollgate server: an OAuth 2.0 authorization server (token,
//! introspection and revocation endpoints) over a pluggable store, and the
//! resource-server side: bearer checks, quotas, a proxying gateway.
//!
//! Entry points: [`AppState::new`] builds the state, [`router`] the routes,
//! and [`run`] serves them on a listener the caller bound, until `shutdown`
//! resolves. See ARCHITECTURE.md for the map.

pub mod admin;
pub mod clock;
pub mod config;
pub mod cors;
pub mod demo;
pub mod demo_api;
pub mod error;
pub mod forwarded;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod path;
pub mod quota;
pub mod resource;
pub mod runner;
pub mod shared;
pub mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod usage;

pub use clock::Clock;
pub use config::{Config, FileConfig};
pub use error::Error;
pub use http::router;
pub use runner::{run, run_with_admin};
pub use state::{AppState, StartError};
