//! `tollgate introspect` and `tollgate revoke`. Their URLs come from
//! `--introspect-url`/`--revoke-url` or the profile, else the server's RFC
//! 8414 metadata, else the token URL's sibling.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tollgate_client::endpoints::{resolve, Endpoint};
use tollgate_proto::TokenTypeHint;

use crate::client_args::AuthArgs;
use crate::jsonfmt::{self, Style};
use crate::session::Session;

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Hint {
    AccessToken,
    RefreshToken,
}

impl From<Hint> for TokenTypeHint {
    fn from(h: Hint) -> Self {
        match h {
            Hint::AccessToken => Self::AccessToken,
            Hint::RefreshToken => Self::RefreshToken,
        }
    }
}

#[derive(Debug, Args)]
pub struct IntrospectArgs {
    /// The token to check, or - to read it from standard input [default:
    /// this client's own current token].
    token: Option<String>,
    /// What kind of token it is (only a hint to the server).
    #[arg(long, value_enum)]
    hint: Option<Hint>,
    /// The introspection endpoint [default: the profile's, the server's metadata, or next to the token URL].
    #[arg(long, value_name = "URL")]
    introspect_url: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token to revoke, or - to read it from standard input.
    token: String,
    #[arg(long, value_enum)]
    hint: Option<Hint>,
    /// The revocation endpoint [default: the profile's, the server's metadata, or next to the token URL].
    #[arg(long, value_name = "URL")]
    revoke_url: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

fn token_arg(t: &str) -> Result<String> {
    if t != "-" {
        return Ok(t.to_owned());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the token from standard input")?;
    Ok(line.trim().to_owned())
}

async fn url(
    session: &Session,
    explicit: Option<String>,
    from_profile: Option<String>,
    which: Endpoint,
) -> Result<String> {
    if let Some(u) = explicit.or(from_profile) {
        return Ok(u);
    }
    Ok(resolve(&session.http, &session.resolved.config.token_url, which).await?)
}

/// Exit 0 when the token is active, 1 when not (like `oauth2l test`).
pub async fn run_introspect(args: IntrospectArgs) -> Result<ExitCode> {
    let session = Session::open(args.auth.resolve()?)?;
    let token = match &args.token {
        Some(t) => token_arg(t)?,
        None => session.token().await?.secret().to_owned(),
    };
    let profile_url = session.resolved.profile.introspect_url.clone();
    let url = url(
        &session,
        args.introspect_url,
        profile_url,
        Endpoint::Introspection,
    )
    .await?;
    let answer = session
        .source
        .introspect(&url, &token, args.hint.map(Into::into))
        .await?;
    let value = serde_json::to_value(&answer)?;
    crate::out::line(format_args!(
        "{}",
        jsonfmt::to_string(&value, Style::default())
    ))?;
    Ok(if answer.active {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn run_revoke(args: RevokeArgs) -> Result<()> {
    let session = Session::open(args.auth.resolve()?)?;
    let token = token_arg(&args.token)?;
    let profile_url = session.resolved.profile.revoke_url.clone();
    let url = url(&session, args.revoke_url, profile_url, Endpoint::Revocation).await?;
    session
        .source
        .revoke(&url, &token, args.hint.map(Into::into))
        .await?;
    session.forget(&token);
    eprintln!("revoked");
    Ok(())
}
