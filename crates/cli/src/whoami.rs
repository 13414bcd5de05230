//! `tollgate whoami`: the Manhattan Active sample CLI from the seeds, in
//! Rust. Password grant with plain-base64 Basic auth (as Python requests
//! sends it), then the user-details call, printed exactly as the sample's
//! `print(json.dumps(response.json(), indent=2))` prints it.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::SecretString;
use tollgate_client::{
    ApiClient, ApiRequest, ClientAuth, Credentials, Error, Grant, RetryPolicy, TokenSource,
    TokenSourceConfig,
};

use crate::jsonfmt::{self, Style};
use crate::secret_input;

/// Everything but RFC 3986's unreserved characters: one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Client identifier.
    #[arg(short = 'c', long, env = "ACTIVE_CLIENT_ID", hide_env_values = true)]
    client_id: String,
    /// Token endpoint, e.g. https://<environment>/oauth/token.
    #[arg(short = 't', long, env = "ACTIVE_TOKEN_URL", hide_env_values = true)]
    token_url: String,
    /// The resource owner's username.
    #[arg(short = 'u', long, env = "ACTIVE_USERNAME", hide_env_values = true)]
    username: String,
    /// API base URL, e.g. https://<environment>.
    #[arg(short = 'a', long, env = "ACTIVE_API_URL", hide_env_values = true)]
    api_url: String,
}

fn secret(var: &str, label: &str) -> Result<String> {
    if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(v);
    }
    if std::io::stdin().is_terminal() {
        return secret_input::prompt(label);
    }
    bail!("set {var} (secrets are read from the environment or a prompt, never from arguments)")
}

pub async fn run(args: WhoamiArgs) -> Result<ExitCode> {
    let client_secret = secret("ACTIVE_CLIENT_SECRET", "Client secret: ")?;
    let password = secret(
        "ACTIVE_PASSWORD",
        &format!("Password for {}: ", args.username),
    )?;
    let grant = Grant::Password {
        username: args.username.clone(),
        password: SecretString::from(password),
    };
    let mut config = TokenSourceConfig::new(
        &args.token_url,
        Credentials::new(&args.client_id, client_secret),
        grant,
    );
    config.auth = ClientAuth::BasicRaw;
    let source = TokenSource::new(tollgate_client::http_client()?, config);
    match source.token().await {
        Ok(_) => {}
        Err(Error::TokenEndpoint {
            url,
            status: 400,
            error,
            description,
        }) => {
            eprintln!("tollgate: 400 Client Error: Bad Request for url: {url}");
            let detail = tollgate_client::error::oauth_suffix(&error, &description);
            eprintln!("tollgate: the username and password are invalid for the authorization server{detail}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    }
    let url = format!(
        "{}/organization/api/organization/user/allDetails/userId/{}",
        args.api_url.trim_end_matches('/'),
        utf8_percent_encode(&args.username, SEGMENT)
    );
    let resp = ApiClient::new(source, RetryPolicy::default())
        .send(&ApiRequest::get(&url))
        .await?;
    let value: serde_json::Value = serde_json::from_slice(&resp.body).with_context(|| {
        format!(
            "{url} answered HTTP {} with a body that is not JSON",
            resp.status
        )
    })?;
    crate::out::line(format_args!(
        "{}",
        jsonfmt::to_string(
            &value,
            Style {
                ensure_ascii: true,
                color: false
            }
        )
    ))?;
    if (200..300).contains(&resp.status) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("tollgate: {url} answered HTTP {}", resp.status);
        Ok(ExitCode::FAILURE)
    }
}
