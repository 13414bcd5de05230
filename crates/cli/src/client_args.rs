//! The options every client subcommand shares, and turning them (with the
//! profile and the secrets) into a token source configuration.
//!
//! Secrets never have to be on the command line: the client secret comes
//! from `--client-secret-file`, `--client-secret-stdin`,
//! `TOLLGATE_CLIENT_SECRET` or a no-echo prompt; the password from
//! `--password-stdin`, `TOLLGATE_PASSWORD` or a prompt. Without any of them
//! and without a terminal, the command fails at once rather than hang.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use tollgate_client::{Credentials, Grant, TokenSourceConfig};

use crate::profile::{self, AuthMode, Profile};
use crate::secret_input;

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Settings from a profile: one of the config file's, or a preset
    /// (manheim, manheim-uat, manheim-legacy).
    #[arg(long, env = "TOLLGATE_PROFILE", hide_env_values = true, global = true)]
    pub profile: Option<String>,
    /// The token endpoint, e.g. https://api.manheim.com/oauth2/token.oauth2.
    #[arg(
        long,
        env = "TOLLGATE_TOKEN_URL",
        hide_env_values = true,
        value_name = "URL",
        global = true
    )]
    pub token_url: Option<String>,
    /// The client id (the Mashery package key).
    #[arg(
        long,
        env = "TOLLGATE_CLIENT_ID",
        hide_env_values = true,
        value_name = "ID",
        global = true
    )]
    pub client_id: Option<String>,
    /// Use the password grant as this user (password from TOLLGATE_PASSWORD,
    /// --password-stdin or a prompt); without it, client_credentials.
    #[arg(
        long,
        env = "TOLLGATE_USERNAME",
        hide_env_values = true,
        value_name = "USER",
        global = true
    )]
    pub username: Option<String>,
    /// A scope to request; repeat for several (or give them space-separated).
    #[arg(long = "scope", value_name = "SCOPE", global = true)]
    pub scopes: Vec<String>,
    /// How to send the client credentials [default: basic, or the profile's].
    #[arg(long, value_enum, global = true)]
    pub auth_method: Option<AuthMode>,
    /// An extra header on token requests, 'Name: value'; repeatable.
    #[arg(long = "header", value_name = "'NAME: VALUE'", global = true)]
    pub token_headers: Vec<String>,
    /// Read the client secret from the first line of standard input.
    #[arg(long, global = true)]
    pub client_secret_stdin: bool,
    /// Read the client secret from this file (first line).
    #[arg(long, value_name = "FILE", global = true)]
    pub client_secret_file: Option<PathBuf>,
    /// Read the password from standard input (after the client secret, if
    /// that comes from standard input too).
    #[arg(long, global = true)]
    pub password_stdin: bool,
    /// Neither read nor write the on-disk token cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Trust the PEM certificates in this file too (a private CA), besides
    /// the system's and the bundled roots.
    #[arg(
        long,
        env = "TOLLGATE_CA_CERT",
        hide_env_values = true,
        value_name = "FILE",
        global = true
    )]
    pub ca_cert: Option<PathBuf>,
}

/// Everything resolved: ready to make a token source.
#[derive(Debug)]
pub struct Resolved {
    pub config: TokenSourceConfig,
    pub profile: Profile,
    pub use_cache: bool,
    /// The contents of `--ca-cert`, read once.
    pub ca_pem: Option<Vec<u8>>,
}

impl Resolved {
    /// The HTTP client every request of this command uses.
    pub fn http(&self) -> Result<reqwest::Client> {
        Ok(tollgate_client::http_client_trusting(
            self.ca_pem.as_deref(),
        )?)
    }

    pub fn secret(&self) -> &str {
        self.config.credentials.client_secret.expose_secret()
    }
}

impl AuthArgs {
    pub fn resolve(&self) -> Result<Resolved> {
        self.resolve_as(false)
    }

    /// For `tollgate login`: the browser grant whatever the profile says.
    pub fn resolve_for_login(&self) -> Result<Resolved> {
        self.resolve_as(true)
    }

    fn resolve_as(&self, login: bool) -> Result<Resolved> {
        let profile = match &self.profile {
            Some(name) => profile::load(name)?,
            None => Profile::default(),
        };
        let login = login || profile.login;
        let Some(token_url) = self.token_url.clone().or_else(|| profile.token_url.clone()) else {
            bail!("no token URL: pass --token-url URL or --profile NAME");
        };
        let Some(client_id) = self.client_id.clone().or_else(|| profile.client_id.clone()) else {
            bail!("no client id: pass --client-id ID or --profile NAME");
        };
        let username = self.username.clone().or_else(|| profile.username.clone());
        let (secret, grant) = if login {
            // A public client has no secret: none given means none.
            (
                self.given_client_secret()?.unwrap_or_default(),
                Grant::AuthorizationCode,
            )
        } else {
            let secret = self.client_secret()?;
            let grant = match username {
                Some(username) => Grant::Password {
                    password: self.password(&username)?,
                    username,
                },
                None => Grant::ClientCredentials,
            };
            (secret, grant)
        };
        let mut config =
            TokenSourceConfig::new(token_url, Credentials::new(client_id, secret), grant);
        config.auth = self
            .auth_method
            .or(profile.auth_method)
            .unwrap_or(AuthMode::Basic)
            .into();
        config.scopes = if self.scopes.is_empty() {
            profile.scopes.clone()
        } else {
            self.scopes
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_owned)
                .collect()
        };
        config.extra_headers = profile
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for h in &self.token_headers {
            config.extra_headers.push(parse_header(h)?);
        }
        let ca_pem = match &self.ca_cert {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("reading the CA certificate {}", path.display()))?,
            ),
            None => None,
        };
        Ok(Resolved {
            ca_pem,
            config,
            profile,
            use_cache: !self.no_cache,
        })
    }

    /// The secret from a file, stdin or the environment, if one was given
    /// that way; never prompts.
    fn given_client_secret(&self) -> Result<Option<String>> {
        let given = self.client_secret_file.is_some()
            || self.client_secret_stdin
            || std::env::var("TOLLGATE_CLIENT_SECRET").is_ok_and(|v| !v.is_empty());
        if given {
            self.client_secret().map(Some)
        } else {
            Ok(None)
        }
    }

    fn client_secret(&self) -> Result<String> {
        if let Some(path) = &self.client_secret_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let line = text.lines().next().unwrap_or("").to_owned();
            if line.is_empty() {
                bail!("the client secret file {} is empty", path.display());
            }
            return Ok(line);
        }
        if self.client_secret_stdin {
            return secret_input::from_stdin("client secret");
        }
        if let Some(v) =
            secret_input::from_env_or_prompt("TOLLGATE_CLIENT_SECRET", "Client secret: ")?
        {
            return Ok(v);
        }
        bail!("no client secret: set TOLLGATE_CLIENT_SECRET, or pass --client-secret-stdin or --client-secret-file FILE")
    }

    fn password(&self, username: &str) -> Result<SecretString> {
        if self.password_stdin {
            return secret_input::from_stdin("password").map(SecretString::from);
        }
        let label = format!("Password for {username}: ");
        if let Some(v) = secret_input::from_env_or_prompt("TOLLGATE_PASSWORD", &label)? {
            return Ok(SecretString::from(v));
        }
        bail!("no password for {username}: set TOLLGATE_PASSWORD or pass --password-stdin")
    }
}

/// `Name: value` into a pair.
pub fn parse_header(h: &str) -> Result<(String, String)> {
    let Some((name, value)) = h.split_once(':') else {
        bail!("header `{h}` is not of the form 'Name: value'");
    };
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        bail!("`{name}` is not a valid header name");
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}
