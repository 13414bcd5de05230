//! Log set-up: `tracing` to stderr, as text or JSON lines. The level comes
//! from `RUST_LOG` (default `info`). Nothing logged anywhere carries a
//! secret, password or token; a test runs every flow at `trace` to check.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use tollgate_server::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
