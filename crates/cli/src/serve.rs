//! `tollgate serve`: configuration from file, environment and flags (flags
//! win), then the server until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tokio::net::TcpListener;
use tollgate_proto::client::TokenFormat;
use tollgate_server::config::{Config, FileConfig, LogFormat};
use tollgate_server::{demo, store, AppState, Clock};

use crate::logging;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and TOLLGATE_* variables override it.
    #[arg(
        long,
        env = "TOLLGATE_CONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(
        long,
        env = "TOLLGATE_LISTEN",
        hide_env_values = true,
        value_name = "ADDR"
    )]
    listen: Option<SocketAddr>,
    /// sqlite://PATH (created and migrated on start), sqlite::memory:, or
    /// postgres://USER@HOST/DB [default: sqlite://tollgate.db; with --demo, in memory].
    #[arg(
        long,
        env = "TOLLGATE_DATABASE",
        hide_env_values = true,
        value_name = "URL"
    )]
    database: Option<String>,
    /// The `iss` value in introspection answers [default: http://LISTEN, or
    /// https://LISTEN with --tls-cert].
    #[arg(
        long,
        env = "TOLLGATE_ISSUER",
        hide_env_values = true,
        value_name = "URL"
    )]
    issuer: Option<String>,
    /// Realm for WWW-Authenticate challenges [default: the issuer's host].
    #[arg(long, env = "TOLLGATE_REALM", hide_env_values = true)]
    realm: Option<String>,
    /// Register a demo client and user with fixed credentials and print
    /// commands to try; refuses to listen on anything but loopback.
    #[arg(long, env = "TOLLGATE_DEMO", hide_env_values = true)]
    demo: bool,
    /// redis://HOST:PORT/ shared by several instances: quotas and
    /// revocation events hold across all of them.
    #[arg(
        long,
        env = "TOLLGATE_REDIS",
        hide_env_values = true,
        value_name = "URL"
    )]
    redis: Option<String>,
    /// PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1) with
    /// --tls-key. Both files are read again on SIGHUP.
    #[arg(
        long,
        env = "TOLLGATE_TLS_CERT",
        hide_env_values = true,
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(
        long,
        env = "TOLLGATE_TLS_KEY",
        hide_env_values = true,
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Access tokens: opaque (random, stored, looked up) or jwt (signed,
    /// RFC 9068, verifiable offline against /.well-known/jwks.json);
    /// clients registered with --token-format keep theirs [default: opaque].
    #[arg(
        long,
        env = "TOLLGATE_TOKEN_FORMAT",
        hide_env_values = true,
        value_enum,
        value_name = "FORMAT"
    )]
    token_format: Option<TokenFormatArg>,
    /// Log line format [default: text].
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", hide_env_values = true, value_enum)]
    log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenFormatArg {
    Opaque,
    Jwt,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

impl ServeArgs {
    /// Sets on `file` what the flags (and their `TOLLGATE_*` variables)
    /// give: they win over the file; what they leave out stays.
    fn apply(&self, file: &mut FileConfig) {
        let set = |v: &Option<String>, field: &mut Option<String>| {
            if let Some(v) = v {
                *field = Some(v.clone());
            }
        };
        set(&self.database, &mut file.database);
        set(&self.issuer, &mut file.issuer);
        set(&self.realm, &mut file.realm);
        set(&self.redis, &mut file.redis);
        file.listen = self.listen.or(file.listen);
        if self.demo {
            file.demo = Some(true);
        }
        file.tls_cert = self.tls_cert.clone().or(file.tls_cert.take());
        file.tls_key = self.tls_key.clone().or(file.tls_key.take());
        if let Some(f) = self.token_format {
            file.token_format = Some(match f {
                TokenFormatArg::Opaque => TokenFormat::Opaque,
                TokenFormatArg::Jwt => TokenFormat::Jwt,
            });
        }
        if let Some(f) = self.log_format {
            file.log_format = Some(match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            });
        }
    }
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut merged = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    args.apply(&mut merged);
    let config = Config::try_from(merged.clone()).context("invalid configuration")?;
    logging::init(config.log_format);

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    // With port 0 the real port is known only now; defaults derived from it follow.
    let mut config = if local != config.listen {
        Config::try_from(FileConfig {
            listen: Some(local),
            ..merged
        })?
    } else {
        config
    };

    config.routes_file = args.config.clone();
    let admin_listener = match config.admin_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (admin_listen)"))?,
        ),
        None => None,
    };
    let store = store::open_with(&config.database, &config.postgres)
        .await
        .with_context(|| format!("cannot open the database {}", config.database))?;
    let demo_mode = config.demo;
    let state = AppState::new(config, store, Clock::system())?;
    if demo_mode {
        demo::seed(&state)
            .await
            .context("registering the demo client and user")?;
        let scheme = if state.config().tls.is_some() {
            "https"
        } else {
            "http"
        };
        crate::out::line(format_args!(
            "{}",
            demo::banner(&format!("{scheme}://{local}"))
        ))?;
    }
    tollgate_server::run_with_admin(listener, admin_listener, state, shutdown_signal()).await?;
    tracing::info!("tollgate stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on SIGINT only");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_win_over_the_file_and_leave_the_rest() {
        let mut file: FileConfig =
            toml::from_str("realm = \"a\"\ntoken_ttl = 5\nlisten = \"127.0.0.1:9\"")
                .unwrap_or_default();
        let cli = Cli::try_parse_from(["t", "--realm", "b", "--token-format", "jwt"])
            .unwrap_or_else(|e| unreachable!("{e}"));
        cli.serve.apply(&mut file);
        assert_eq!(file.realm.as_deref(), Some("b"));
        assert_eq!(file.token_format, Some(TokenFormat::Jwt));
        assert_eq!(file.token_ttl, Some(5));
        assert_eq!(file.listen.map(|l| l.port()), Some(9));
        assert_eq!(file.demo, None);
    }
}
