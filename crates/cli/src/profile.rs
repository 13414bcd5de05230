//! Client profiles: named settings in `$XDG_CONFIG_HOME/tollgate/config.toml`
//! (else `~/.config/tollgate/config.toml`), plus built-in presets for the
//! platforms the seeds describe. A profile in the file overrides a preset of
//! the same name. `tollgate profile list|show NAME`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

/// A client-authentication mode as written in profiles and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// RFC 6749: id and secret form-urlencoded, then base64.
    Basic,
    /// Plain base64 of id:secret, as the Manheim and Manhattan docs show.
    BasicRaw,
    /// client_id and client_secret in the form body.
    Post,
}

impl From<AuthMode> for tollgate_client::ClientAuth {
    fn from(m: AuthMode) -> Self {
        match m {
            AuthMode::Basic => Self::Basic,
            AuthMode::BasicRaw => Self::BasicRaw,
            AuthMode::Post => Self::Post,
        }
    }
}

/// One profile; every field optional, flags override each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspect_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<AuthMode>,
    /// Extra headers on token, introspection and revocation requests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `true`: tokens come from `tollgate login` (a person signing in in
    /// the browser), not from a client secret or a password.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub login: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

fn preset(host: &str, token_path: &str) -> Profile {
    Profile {
        token_url: Some(format!("https://{host}{token_path}")),
        api_url: Some(format!("https://{host}")),
        introspect_url: Some(format!("https://{host}/oauth2/introspect.oauth2")),
        auth_method: Some(AuthMode::BasicRaw),
        ..Profile::default()
    }
}

/// The built-in presets.
pub fn presets() -> BTreeMap<String, Profile> {
    BTreeMap::from([
        (
            "manheim".to_owned(),
            preset("api.manheim.com", "/oauth2/token.oauth2"),
        ),
        (
            "manheim-uat".to_owned(),
            preset("uat.api.manheim.com", "/oauth2/token.oauth2"),
        ),
        // For clients that request tokens with a Company ID.
        (
            "manheim-legacy".to_owned(),
            preset("api.manheim.com", "/oauth2/token"),
        ),
    ])
}

pub fn config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("tollgate").join("config.toml"))
}

/// Presets overlaid with the user's file.
pub fn all() -> Result<BTreeMap<String, Profile>> {
    let mut out = presets();
    if let Some(path) = config_path().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let file: ProfileFile =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        out.extend(file.profiles);
    }
    Ok(out)
}

pub fn load(name: &str) -> Result<Profile> {
    let mut all = all()?;
    match all.remove(name) {
        Some(p) => Ok(p),
        None => bail!(
            "no profile `{name}`: known are {} (add one under [profiles.{name}] in {})",
            all.keys().cloned().collect::<Vec<_>>().join(", "),
            config_path().map_or_else(|| "the config file".into(), |p| p.display().to_string())
        ),
    }
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List profiles: the built-in presets and those in the config file.
    List,
    /// Show one profile's settings.
    Show { name: String },
}

pub fn run(cmd: ProfileCommand) -> Result<()> {
    match cmd {
        ProfileCommand::List => {
            let builtin = presets();
            for (name, p) in all()? {
                let origin = if builtin.get(&name) == Some(&p) {
                    "preset"
                } else {
                    "config"
                };
                crate::out::line(format_args!(
                    "{name}\t{origin}\t{}",
                    p.token_url.as_deref().unwrap_or("-")
                ))?;
            }
        }
        ProfileCommand::Show { name } => {
            let p = load(&name)?;
            crate::out::text(format_args!(
                "{}",
                toml::to_string(&p).context("formatting the profile")?
            ))?;
        }
    }
    Ok(())
}
