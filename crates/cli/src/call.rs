//! `tollgate call [METHOD] URL`: an API request with a bearer token, like a
//! small curl that knows OAuth. On `401 invalid_token` it gets a new token
//! and retries once; per-second quotas are waited out.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use reqwest::Method;
use tollgate_client::{ApiClient, ApiRequest, ApiResponse, RetryPolicy};

use crate::client_args::{parse_header, AuthArgs};
use crate::jsonfmt::{self, Style};
use crate::session::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// [METHOD] URL: the method is optional (GET, or POST with -d).
    #[arg(value_name = "[METHOD] URL", num_args = 1..=2, required = true)]
    target: Vec<String>,
    /// A header on the API request, 'Name: value'; repeatable.
    #[arg(short = 'H', long = "api-header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Request body: DATA, @FILE, or @- for standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// Print the status line and response headers before the body.
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// Colour JSON output [default: auto: only on a terminal, and not with NO_COLOR].
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(flatten)]
    auth: AuthArgs,
}

pub async fn run(args: CallArgs) -> Result<ExitCode> {
    let (method, url) = match args.target.as_slice() {
        [url] => (
            if args.data.is_some() {
                Method::POST
            } else {
                Method::GET
            },
            url.clone(),
        ),
        [m, url] => (
            Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .with_context(|| format!("`{m}` is not an HTTP method"))?,
            url.clone(),
        ),
        _ => bail!("give [METHOD] URL"),
    };
    let mut headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>>>()?;
    let body = args.data.as_deref().map(read_data).transpose()?;
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    let session = Session::open(args.auth.resolve()?)?;
    session.token().await?;
    let api = ApiClient::new(session.source.clone(), RetryPolicy::default());
    let request = ApiRequest {
        method,
        url: url.clone(),
        headers,
        body,
    };
    let result = api.send(&request).await;
    session.sync();
    let resp = result?;
    print_response(&resp, args.include, use_color(args.color))?;
    if (200..300).contains(&resp.status) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("tollgate: {url} answered HTTP {}", status_line(resp.status));
        Ok(ExitCode::FAILURE)
    }
}

fn read_data(d: &str) -> Result<Bytes> {
    Ok(match d.strip_prefix('@') {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the body from standard input")?;
            buf.into()
        }
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the body from {path}"))?
            .into(),
        None => Bytes::copy_from_slice(d.as_bytes()),
    })
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

fn print_response(resp: &ApiResponse, include: bool, color: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if include {
        writeln!(out, "{:?} {}", resp.version, status_line(resp.status))?;
        for (k, v) in &resp.headers {
            writeln!(out, "{k}: {}", String::from_utf8_lossy(v.as_bytes()))?;
        }
        writeln!(out)?;
    }
    match serde_json::from_slice::<serde_json::Value>(&resp.body) {
        Ok(v) if !resp.body.is_empty() => {
            writeln!(
                out,
                "{}",
                jsonfmt::to_string(
                    &v,
                    Style {
                        ensure_ascii: false,
                        color
                    }
                )
            )?;
        }
        _ => out.write_all(&resp.body)?,
    }
    out.flush()?;
    Ok(())
}
