//! `tollgate admin`: clients, users and signing keys, straight on the
//! database (a server running on it sees every change within its poll
//! interval), or with `--url` through a server's admin API. Every change is
//! written to the audit log.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tollgate_proto::admin::ClientInfo;
use tollgate_proto::merge_patch;
use tollgate_server::config::{defaults, FileConfig};
use tollgate_server::store;

use crate::admin_backend::{Backend, Local, Remote};
use crate::admin_keys::KeysCommand;
use crate::admin_settings::{registration, SettingsFlags};
use crate::secret_input;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Database URL, as for `serve` [default: the config file's, else sqlite://tollgate.db].
    #[arg(
        long,
        env = "TOLLGATE_DATABASE",
        hide_env_values = true,
        value_name = "URL",
        global = true
    )]
    database: Option<String>,
    /// The server's TOML config file, for its database and argon2 settings.
    #[arg(
        long,
        env = "TOLLGATE_CONFIG",
        hide_env_values = true,
        value_name = "FILE",
        global = true
    )]
    config: Option<PathBuf>,
    /// Work through this server's admin API instead of on a database, e.g.
    /// https://auth.example.com. As the client TOLLGATE_CLIENT_ID (or the
    /// profile's client_id) with TOLLGATE_CLIENT_SECRET (or a prompt): a
    /// client registered with scope tollgate:admin. --database is then
    /// not used.
    #[arg(
        long,
        env = "TOLLGATE_ADMIN_URL",
        hide_env_values = true,
        value_name = "URL",
        global = true
    )]
    url: Option<String>,
    /// With --url: the profile whose client_id and token_url to use.
    #[arg(long, env = "TOLLGATE_PROFILE", hide_env_values = true, global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Register and manage API clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Register and manage resource owners for the password grant.
    #[command(subcommand)]
    User(crate::admin_users::UserCommand),
    /// The keys that sign JWT access tokens: list, rotate, retire.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client and print its id and secret (the secret only now).
    Create {
        /// A name for people; not used in the protocol.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: Box<SettingsFlags>,
        /// Let the client introspect any client's tokens (for resource servers).
        #[arg(long)]
        introspect_any: bool,
        /// No secret: a native or single-page app. It may use only the
        /// authorization_code grant (PKCE required) and refresh_token.
        #[arg(long, conflicts_with = "secret_stdin")]
        public: bool,
        /// Import an existing client id (with --secret-stdin) instead of generating one.
        #[arg(long, value_name = "ID", requires = "secret_stdin")]
        client_id: Option<String>,
        /// Read the client secret to import from standard input.
        #[arg(long, requires = "client_id")]
        secret_stdin: bool,
        /// Print exactly {"client_id":...,"client_secret":...}.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop a client: its secret and all its tokens stop working at once.
    Disable { client_id: String },
    /// Let a disabled client back in; its unexpired tokens work again.
    Enable { client_id: String },
    /// Delete a client and its tokens, codes and consents.
    Delete { client_id: String },
    /// Replace the client's secret and print the new one.
    RotateSecret {
        client_id: String,
        /// Seconds the old secret keeps working beside the new one, so
        /// every caller can switch over [default: 0, it stops at once].
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        grace: u64,
        #[arg(long)]
        json: bool,
    },
    /// Change a client's settings; what is not given stays as it is.
    Update {
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: Box<SettingsFlags>,
        /// Grant or withdraw the introspect-any privilege.
        #[arg(long, value_name = "BOOL")]
        introspect_any: Option<bool>,
    },
    /// Issue an initial access token: a developer's client sends it as
    /// `Authorization: Bearer` to POST /oauth2/register (RFC 7591) to
    /// register itself. Printed once; it works until it expires.
    RegistrationToken {
        /// Seconds it works [default: 86400, one day; at most 30 days].
        #[arg(long, value_name = "SECS")]
        expires_in: Option<i64>,
        /// Print {"initial_access_token":...,"expires_at":...}.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let backend = backend(&args).await?;
    let result = match args.command {
        AdminCommand::Client(cmd) => client(&backend, cmd).await,
        AdminCommand::User(cmd) => crate::admin_users::run(&backend, cmd).await,
        AdminCommand::Keys(cmd) => crate::admin_keys::run(&backend, cmd).await,
    };
    backend.close().await;
    result
}

/// The database, or with `--url` the server's admin API.
async fn backend(args: &AdminArgs) -> Result<Backend> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    if let Some(url) = &args.url {
        return remote(url, args.profile.as_deref());
    }
    let url = args
        .database
        .clone()
        .or_else(|| file.database.clone())
        .unwrap_or_else(|| defaults::DATABASE.to_owned());
    let store = store::open_with(&url, &file.postgres.clone().unwrap_or_default())
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    Ok(Backend::Local(Local::new(
        store,
        file.argon2.unwrap_or_default(),
        file.jwt.unwrap_or_default(),
        file.token_ttl.unwrap_or(3600),
    )))
}

/// The admin API at `url`, as the client TOLLGATE_CLIENT_ID (or the
/// profile's) with the secret from TOLLGATE_CLIENT_SECRET or a prompt.
fn remote(url: &str, profile: Option<&str>) -> Result<Backend> {
    let profile = match profile {
        Some(name) => crate::profile::load(name)?,
        None => crate::profile::Profile::default(),
    };
    let client_id = std::env::var("TOLLGATE_CLIENT_ID")
        .ok()
        .filter(|v| !v.is_empty())
        .or(profile.client_id.clone());
    let Some(client_id) = client_id else {
        bail!("no client id for the admin API: set TOLLGATE_CLIENT_ID or use --profile NAME (a client with scope tollgate:admin)");
    };
    let Some(secret) =
        secret_input::from_env_or_prompt("TOLLGATE_CLIENT_SECRET", "Client secret: ")?
    else {
        bail!("no client secret for the admin API: set TOLLGATE_CLIENT_SECRET");
    };
    let http = tollgate_client::http_client_trusting(None)?;
    Ok(Backend::Remote(Remote::new(
        http,
        url,
        profile.token_url.clone(),
        client_id,
        secret,
    )))
}

/// `client update`: the client as it is, changed by the flags, sent as the
/// merge patch of what differs (so nothing else is overwritten).
async fn update(
    backend: &Backend,
    client_id: &str,
    edit: impl FnOnce(&mut ClientInfo) -> Result<()>,
) -> Result<()> {
    let before = backend.client(client_id).await?;
    let mut after = before.clone();
    edit(&mut after)?;
    let json = |c: &ClientInfo| serde_json::to_value(c).context("formatting the client");
    let patch = match merge_patch::diff(&json(&before)?, &json(&after)?) {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    backend.update_client(client_id, patch).await?;
    Ok(())
}

async fn client(backend: &Backend, cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Create {
            name,
            settings,
            introspect_any,
            public,
            client_id,
            secret_stdin,
            json,
        } => {
            let mut reg = registration(name, &settings, public)?;
            reg.settings.introspect_any = introspect_any;
            reg.client_id = client_id;
            if secret_stdin {
                reg.client_secret = Some(secret_input::from_stdin("client secret")?);
            }
            let created = backend.register_client(reg).await?;
            let secret = created.client_secret.unwrap_or_default();
            print_credentials(&created.client_id, &secret, json)
        }
        ClientCommand::List { json } => list_clients(backend, json).await,
        ClientCommand::Show { client_id, json } => {
            let c = backend.client(&client_id).await?;
            if json {
                return crate::out::json(&c);
            }
            let text = toml::to_string(&c).context("formatting the client")?;
            crate::out::text(format_args!("{text}"))?;
            Ok(())
        }
        ClientCommand::Disable { client_id } => {
            set_client_enabled(backend, &client_id, false).await
        }
        ClientCommand::Enable { client_id } => set_client_enabled(backend, &client_id, true).await,
        ClientCommand::Delete { client_id } => {
            backend.delete_client(&client_id).await?;
            eprintln!("client {client_id} deleted, with its tokens");
            Ok(())
        }
        ClientCommand::RotateSecret {
            client_id,
            grace,
            json,
        } => {
            let rotated = backend.rotate_secret(&client_id, grace).await?;
            let secret = rotated.client_secret.unwrap_or_default();
            print_credentials(&client_id, &secret, json)
        }
        ClientCommand::Update {
            client_id,
            name,
            settings,
            introspect_any,
        } => {
            update(backend, &client_id, |c| {
                settings.apply(&mut c.settings, &mut c.owner)?;
                if let Some(name) = name {
                    c.settings.client_name = name;
                }
                c.settings.introspect_any = introspect_any.unwrap_or(c.settings.introspect_any);
                Ok(())
            })
            .await?;
            eprintln!("client {client_id} updated");
            Ok(())
        }
        ClientCommand::RegistrationToken { expires_in, json } => {
            let issued = backend.initial_access_token(expires_in).await?;
            if json {
                crate::out::json(&issued)
            } else {
                eprintln!("initial access token (shown once; send it as Authorization: Bearer to /oauth2/register; expires at {}):", issued.expires_at);
                Ok(crate::out::line(&issued.initial_access_token)?)
            }
        }
    }
}

/// One line per client (id, state, name, scopes), or the JSON list.
async fn list_clients(backend: &Backend, json: bool) -> Result<()> {
    let clients = backend.clients().await?;
    if json {
        return crate::out::json(&clients);
    }
    for c in clients {
        crate::out::line(format_args!(
            "{}\t{}\t{}\t{}",
            c.client_id,
            if c.enabled { "enabled" } else { "disabled" },
            c.settings.client_name,
            c.settings.scope
        ))?;
    }
    Ok(())
}

async fn set_client_enabled(backend: &Backend, client_id: &str, enabled: bool) -> Result<()> {
    update(backend, client_id, |c| {
        c.enabled = enabled;
        Ok(())
    })
    .await?;
    eprintln!(
        "client {client_id} {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

fn print_credentials(client_id: &str, secret: &str, json: bool) -> Result<()> {
    if secret.is_empty() {
        // A public client: nothing secret to show.
        if json {
            return crate::out::json(&serde_json::json!({ "client_id": client_id }));
        }
        crate::out::line(format_args!("client_id:     {client_id}"))?;
        eprintln!("A public client has no secret: it proves itself with PKCE.");
        return Ok(());
    }
    if json {
        return crate::out::json(
            &serde_json::json!({ "client_id": client_id, "client_secret": secret }),
        );
    }
    crate::out::line(format_args!("client_id:     {client_id}"))?;
    crate::out::line(format_args!("client_secret: {secret}"))?;
    eprintln!("Store the secret now: tollgate keeps only its hash and cannot show it again.");
    Ok(())
}
