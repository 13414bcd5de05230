//! The server's integration tests, built as one binary (linking the whole
//! server once, not once per file). Each module is one subject; `common`
//! holds what they share (a server on an ephemeral loopback port, a fake
//! upstream). `tests/memory.rs` is a binary of its own: it measures this
//! process's memory, which other tests running beside it would move.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod admin_api;
mod architecture;
mod authorize;
mod backchannel;
mod bearer;
mod browser;
mod console;
mod console_admin;
mod console_browser;
mod console_refusals;
mod cors;
mod decision;
mod device;
mod device_browser;
mod discovery;
mod gateway;
mod guessing;
mod hardening;
mod https_upstream;
mod introspect_revoke;
mod jwt;
mod leaks;
mod logout;
mod oidc;
mod openapi;
mod properties;
mod quota;
mod registration;
mod replicas;
mod routing;
mod sizes;
mod spa_browser;
mod store_migration;
mod store_suite;
mod streaming;
mod token;
mod websocket;
