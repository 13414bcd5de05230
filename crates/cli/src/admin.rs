//! `tollgate admin`: clients and users, straight on the database. A server
//! running on the same database sees every change at once.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tollgate_proto::admin::ClientPatch;
use tollgate_proto::{GrantType, Scope};
use tollgate_server::admin::{self as ops, NewClient, NewUser};
use tollgate_server::config::{Argon2Params, FileConfig, TokenFormat, DEFAULT_DATABASE};
use tollgate_server::oauth::password::Passwords;
use tollgate_server::store::{self, AuthMethod, Client, ClientUpdate, Store, User};
use tollgate_server::Clock;

use crate::admin_keys::KeysCommand;
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
    User(UserCommand),
    /// The keys that sign JWT access tokens: list, rotate, retire.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// Grant names as RFC 6749 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum GrantArg {
    ClientCredentials,
    Password,
    RefreshToken,
    /// Browser sign-in (with --redirect-uri).
    AuthorizationCode,
}

impl From<GrantArg> for GrantType {
    fn from(g: GrantArg) -> Self {
        match g {
            GrantArg::ClientCredentials => GrantType::ClientCredentials,
            GrantArg::Password => GrantType::Password,
            GrantArg::RefreshToken => GrantType::RefreshToken,
            GrantArg::AuthorizationCode => GrantType::AuthorizationCode,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthMethodArg {
    /// Either of the two below (the default).
    Any,
    /// HTTP Basic only (client_secret_basic).
    Basic,
    /// Id and secret in the form body only (client_secret_post).
    Post,
}

impl From<AuthMethodArg> for AuthMethod {
    fn from(a: AuthMethodArg) -> Self {
        match a {
            AuthMethodArg::Any => AuthMethod::Any,
            AuthMethodArg::Basic => AuthMethod::Basic,
            AuthMethodArg::Post => AuthMethod::Post,
        }
    }
}

/// Settings shared by `client create` and `client update`.
#[derive(Debug, Args)]
struct ClientSettings {
    /// Scopes the client may request, space-separated, e.g. "locations:read users:read".
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// A grant the client may use; repeat for several. The password grant
    /// issues refresh tokens only to clients that also have refresh_token.
    #[arg(long = "grant", value_enum, value_name = "GRANT")]
    grants: Vec<GrantArg>,
    /// How the client authenticates at the token endpoint.
    #[arg(long, value_enum)]
    auth_method: Option<AuthMethodArg>,
    /// Access-token lifetime in seconds [default: the server's token_ttl].
    #[arg(long, value_name = "SECS")]
    token_ttl: Option<u64>,
    /// Requests per second allowed, 0 for unlimited [default: the server's quota.default_qps].
    #[arg(long, value_name = "N")]
    qps: Option<u64>,
    /// Requests per UTC day allowed, 0 for unlimited [default: the server's quota.default_per_day].
    #[arg(long, value_name = "N")]
    per_day: Option<u64>,
    /// Access-token format: opaque (stored), jwt (signed, RFC 9068), or
    /// server (the server's token_format) [default: server].
    #[arg(long, value_enum, value_name = "FORMAT")]
    token_format: Option<TokenFormatArg>,
    /// The `aud` of this client's JWT access tokens; "" for the issuer [default: the issuer].
    #[arg(long, value_name = "AUDIENCE")]
    audience: Option<String>,
    /// Where the authorization_code grant may send the browser back to;
    /// repeat for several (an update replaces the list). A loopback URI
    /// (http://127.0.0.1/…, http://[::1]/…, http://localhost/…) matches any
    /// port, for native apps (RFC 8252).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Trusted: its users are not asked to consent.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    first_party: Option<bool>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenFormatArg {
    Opaque,
    Jwt,
    /// Whatever the server's token_format says.
    Server,
}

impl TokenFormatArg {
    fn format(self) -> Option<TokenFormat> {
        match self {
            Self::Opaque => Some(TokenFormat::Opaque),
            Self::Jwt => Some(TokenFormat::Jwt),
            Self::Server => None,
        }
    }
}

/// `--audience ""` means the issuer.
fn audience(a: &str) -> Option<String> {
    (!a.is_empty()).then(|| a.to_owned())
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client and print its id and secret (the secret only now).
    Create {
        /// A name for people; not used in the protocol.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: ClientSettings,
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
        settings: ClientSettings,
        /// Grant or withdraw the introspect-any privilege.
        #[arg(long, value_name = "BOOL")]
        introspect_any: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Register a user; the password is prompted for, or read with --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        full_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a user: password grants fail and their tokens stop working.
    Disable { username: String },
    /// Let a disabled user back in.
    Enable { username: String },
    /// Set a new password (prompted for, or read with --password-stdin).
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let url = args
        .database
        .or_else(|| file.database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let store = store::open_with(&url, &file.postgres.clone().unwrap_or_default())
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    let argon2 = file.argon2.unwrap_or_default();
    let result = match args.command {
        AdminCommand::Client(cmd) => client(store.as_ref(), cmd).await,
        AdminCommand::User(cmd) => user(store.as_ref(), argon2, cmd).await,
        AdminCommand::Keys(cmd) => crate::admin_keys::run(store.as_ref(), &file, cmd).await,
    };
    store.close().await;
    result
}

pub(crate) fn now() -> i64 {
    Clock::system().now_secs()
}

/// Who `tollgate admin` acts as in the audit log.
fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Writes a change made here to the audit log, as `cli:$USER`.
pub(crate) async fn audit(
    store: &dyn Store,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let actor = cli_actor();
    let admin = ops::Admin {
        store,
        now: now(),
        actor: &actor,
    };
    admin.record(action, target, detail).await;
}

fn parse_scope(s: &str) -> Result<Scope> {
    s.parse().with_context(|| format!("invalid --scope `{s}`"))
}

/// `--token-ttl 0` in an update returns the client to the server default.
fn ttl(v: u64) -> Option<u64> {
    (v > 0).then_some(v)
}

fn grant_set(grants: &[GrantArg]) -> BTreeSet<GrantType> {
    grants.iter().map(|&g| g.into()).collect()
}

async fn client(store: &dyn Store, cmd: ClientCommand) -> Result<()> {
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
            let secret = if secret_stdin {
                Some(secret_input::from_stdin("client secret")?)
            } else {
                None
            };
            let mut grants = grant_set(&settings.grants);
            if grants.is_empty() {
                grants.insert(GrantType::ClientCredentials);
            }
            let new = NewClient {
                name,
                client_id,
                secret,
                scopes: parse_scope(settings.scope.as_deref().unwrap_or(""))?,
                grants,
                auth_method: settings.auth_method.map(Into::into).unwrap_or_default(),
                token_ttl: settings.token_ttl,
                qps: settings.qps,
                per_day: settings.per_day,
                introspect_any,
                token_format: settings.token_format.and_then(TokenFormatArg::format),
                audience: settings.audience.as_deref().and_then(audience),
                redirect_uris: settings.redirect_uris.clone(),
                public,
                first_party: settings.first_party.unwrap_or(false),
            };
            let (client, secret) = ops::create_client(store, now(), new).await?;
            let info = tollgate_proto::admin::ClientInfo::from(&client);
            audit(
                store,
                "client.create",
                &client.client_id,
                serde_json::json!({ "client": info }),
            )
            .await;
            print_credentials(&client.client_id, &secret, json)
        }
        ClientCommand::List { json } => {
            let views: Vec<ClientView> = store
                .list_clients()
                .await?
                .iter()
                .map(ClientView::from)
                .collect();
            if json {
                return print_json(&views);
            }
            for v in views {
                crate::out::line(format_args!(
                    "{}\t{}\t{}\t{}",
                    v.client_id,
                    if v.enabled { "enabled" } else { "disabled" },
                    v.name,
                    v.scope
                ))?;
            }
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let Some(c) = store.get_client(&client_id).await? else {
                bail!("no client `{client_id}`")
            };
            let v = ClientView::from(&c);
            if json {
                return print_json(&v);
            }
            let text = toml::to_string(&v).context("formatting the client")?;
            crate::out::text(format_args!("{text}"))?;
            Ok(())
        }
        ClientCommand::Disable { client_id } => set_client_enabled(store, &client_id, false).await,
        ClientCommand::Enable { client_id } => set_client_enabled(store, &client_id, true).await,
        ClientCommand::RotateSecret {
            client_id,
            grace,
            json,
        } => {
            let secret = ops::rotate_secret(store, &client_id, now(), grace).await?;
            let detail = serde_json::json!({ "grace_secs": grace });
            audit(store, "client.rotate_secret", &client_id, detail).await;
            print_credentials(&client_id, &secret, json)
        }
        ClientCommand::Update {
            client_id,
            name,
            settings,
            introspect_any,
        } => {
            if let Some(s) = &settings.scope {
                parse_scope(s)?;
            }
            let patch = ClientPatch {
                client_name: name,
                scope: settings.scope.clone(),
                grant_types: (!settings.grants.is_empty())
                    .then(|| grant_set(&settings.grants).into_iter().collect()),
                auth_method: settings
                    .auth_method
                    .map(|a| AuthMethod::from(a).as_str().to_owned()),
                token_ttl: settings.token_ttl.map(ttl),
                qps: settings.qps.map(Some),
                per_day: settings.per_day.map(Some),
                introspect_any,
                token_format: settings
                    .token_format
                    .map(|f| f.format().map(|f| f.as_str().to_owned())),
                audience: settings.audience.as_deref().map(audience),
                redirect_uris: (!settings.redirect_uris.is_empty())
                    .then(|| settings.redirect_uris.clone()),
                first_party: settings.first_party,
                enabled: None,
            };
            let actor = cli_actor();
            let admin = ops::Admin {
                store,
                now: now(),
                actor: &actor,
            };
            admin.update_client(&client_id, patch).await?;
            eprintln!("client {client_id} updated");
            Ok(())
        }
    }
}

async fn set_client_enabled(store: &dyn Store, client_id: &str, enabled: bool) -> Result<()> {
    let update = ClientUpdate {
        enabled: Some(enabled),
        ..ClientUpdate::default()
    };
    store.update_client(client_id, &update, now()).await?;
    let action = if enabled {
        "client.enable"
    } else {
        "client.disable"
    };
    audit(store, action, client_id, serde_json::json!({})).await;
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
            return print_json(&serde_json::json!({ "client_id": client_id }));
        }
        crate::out::line(format_args!("client_id:     {client_id}"))?;
        eprintln!("A public client has no secret: it proves itself with PKCE.");
        return Ok(());
    }
    if json {
        return print_json(&serde_json::json!({ "client_id": client_id, "client_secret": secret }));
    }
    crate::out::line(format_args!("client_id:     {client_id}"))?;
    crate::out::line(format_args!("client_secret: {secret}"))?;
    eprintln!("Store the secret now: tollgate keeps only its hash and cannot show it again.");
    Ok(())
}

async fn user(store: &dyn Store, argon2: Argon2Params, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            password_stdin,
            full_name,
            email,
        } => {
            let password = secret_input::new_password(password_stdin)?;
            let passwords = Passwords::new(argon2)?;
            let new = NewUser {
                username,
                password,
                full_name,
                email,
            };
            let user = ops::create_user(store, &passwords, now(), new).await?;
            audit(store, "user.create", &user.username, serde_json::json!({})).await;
            eprintln!("user {} created", user.username);
            Ok(())
        }
        UserCommand::List { json } => {
            let views: Vec<UserView> = store
                .list_users()
                .await?
                .iter()
                .map(UserView::from)
                .collect();
            if json {
                return print_json(&views);
            }
            for v in views {
                let state = if v.enabled { "enabled" } else { "disabled" };
                crate::out::line(format_args!(
                    "{}\t{state}\t{}",
                    v.username,
                    v.full_name.unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        UserCommand::Disable { username } => set_user_enabled(store, &username, false).await,
        UserCommand::Enable { username } => set_user_enabled(store, &username, true).await,
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let password = secret_input::new_password(password_stdin)?;
            let passwords = Passwords::new(argon2)?;
            ops::set_password(store, &passwords, &username, password, now()).await?;
            audit(store, "user.set_password", &username, serde_json::json!({})).await;
            eprintln!("password of {username} changed");
            Ok(())
        }
    }
}

async fn set_user_enabled(store: &dyn Store, username: &str, enabled: bool) -> Result<()> {
    store.set_user_enabled(username, enabled, now()).await?;
    let detail = serde_json::json!({ "changes": { "enabled": enabled } });
    audit(store, "user.update", username, detail).await;
    eprintln!(
        "user {username} {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

pub(crate) fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string(value).context("formatting JSON")?;
    crate::out::line(format_args!("{text}"))?;
    Ok(())
}

/// A client as shown to operators: everything but the secret digest.
#[derive(Debug, Serialize)]
struct ClientView {
    client_id: String,
    name: String,
    enabled: bool,
    scope: String,
    grants: Vec<GrantType>,
    auth_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_day: Option<u64>,
    introspect_any: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    redirect_uris: Vec<String>,
    public: bool,
    first_party: bool,
    created_at: i64,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            enabled: c.enabled,
            scope: c.scopes.to_string(),
            grants: c.grants.iter().copied().collect(),
            auth_method: c.auth_method.as_str(),
            token_ttl: c.token_ttl,
            qps: c.qps,
            per_day: c.per_day,
            introspect_any: c.introspect_any,
            token_format: c.token_format.map(TokenFormat::as_str),
            audience: c.audience.clone(),
            redirect_uris: c.redirect_uris.clone(),
            public: c.public,
            first_party: c.first_party,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct UserView {
    username: String,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            enabled: u.enabled,
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            created_at: u.created_at,
        }
    }
}
