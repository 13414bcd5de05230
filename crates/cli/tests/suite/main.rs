//! The CLI's integration tests, built as one binary (linking once, not
//! once per file): the real `tollgate` binary against real servers, one
//! module per subject; `common` starts them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod admin;
mod client_cli;
mod jwt_cli;
mod limits;
mod login;
mod multi_instance;
mod prompt;
mod reload;
mod serve;
mod tls;
