//! `tollgate admin keys`: the keys that sign JWT access tokens. Private
//! keys are never printed; a server on the same database picks up a change
//! within its poll interval.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use tollgate_server::admin as ops;
use tollgate_server::config::{FileConfig, JwtConfig, SigningAlg};
use tollgate_server::store::{SigningKey, Store};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys and what each does now.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a key: published in the JWKS at once, signing after the
    /// config's jwt.prepublish_secs (so cached JWKS see it first).
    Rotate {
        /// Its algorithm [default: the config's jwt.algorithm, else ES256].
        #[arg(long, value_enum)]
        alg: Option<AlgArg>,
        /// Sign with it at once, without the pre-publication delay (when the
        /// current key leaked; verifiers with a cached JWKS refuse new tokens
        /// until they fetch it again).
        #[arg(long)]
        now: bool,
    },
    /// Stop a key signing; it stays in the JWKS until every token it signed
    /// has expired. Another key must be signing already.
    Retire { kid: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgArg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "RS256")]
    Rs256,
}

impl From<AlgArg> for SigningAlg {
    fn from(a: AlgArg) -> Self {
        match a {
            AlgArg::Es256 => SigningAlg::ES256,
            AlgArg::EdDsa => SigningAlg::EdDSA,
            AlgArg::Rs256 => SigningAlg::RS256,
        }
    }
}

pub async fn run(store: &dyn Store, file: &FileConfig, cmd: KeysCommand) -> Result<()> {
    let jwt: JwtConfig = file.jwt.unwrap_or_default();
    let now = super::admin::now();
    match cmd {
        KeysCommand::List { json } => {
            let keys = store.signing_keys().await?;
            let views: Vec<KeyView> = keys.iter().map(|k| KeyView::of(k, now)).collect();
            if json {
                return super::admin::print_json(&views);
            }
            for v in views {
                crate::out::line(format_args!(
                    "{}\t{}\t{}\tcreated {}\tsigns from {}",
                    v.kid, v.alg, v.state, v.created_at, v.signs_from
                ))?;
            }
            Ok(())
        }
        KeysCommand::Rotate { alg, now: at_once } => {
            let alg = alg.map_or(jwt.algorithm, Into::into);
            let key = ops::rotate_key(store, now, alg, jwt.prepublish_secs, at_once).await?;
            let detail =
                serde_json::json!({ "alg": key.alg.as_str(), "signs_from": key.signs_from });
            super::admin::audit(store, "key.rotate", &key.kid, detail).await;
            eprintln!(
                "key {} ({}) published; it signs from {} ({} s from now)",
                key.kid,
                key.alg.as_str(),
                key.signs_from,
                key.signs_from - now
            );
            crate::out::line(format_args!("{}", key.kid))?;
            Ok(())
        }
        KeysCommand::Retire { kid } => {
            let longest = longest_token_ttl(store, file).await? + jwt.leeway_secs;
            let until = ops::retire_key(store, now, &kid, longest).await?;
            let detail = serde_json::json!({ "published_until": until });
            super::admin::audit(store, "key.retire", &kid, detail).await;
            eprintln!("key {kid} retired: it signs no more, and stays published until {until}");
            Ok(())
        }
    }
}

/// The longest an access token can live: the server's token_ttl or a
/// client's own, whichever is longer.
async fn longest_token_ttl(store: &dyn Store, file: &FileConfig) -> Result<u64> {
    let server = file.token_ttl.unwrap_or(3600);
    let clients = store.list_clients().await?;
    Ok(clients
        .iter()
        .filter_map(|c| c.token_ttl)
        .fold(server, u64::max))
}

/// A key as shown to operators: never its private part.
#[derive(Debug, Serialize)]
struct KeyView {
    kid: String,
    alg: &'static str,
    /// signing, pending (published, not signing yet), published (no longer
    /// signing), or retired (no longer published).
    state: &'static str,
    created_at: i64,
    signs_from: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    retired_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    published_until: Option<i64>,
}

impl KeyView {
    fn of(k: &SigningKey, now: i64) -> Self {
        let state = match (k.retired_at, k.published_until) {
            (Some(_), Some(until)) if until <= now => "retired",
            (Some(_), _) => "published",
            (None, _) if k.signs_from > now => "pending",
            (None, _) => "signing",
        };
        Self {
            kid: k.kid.clone(),
            alg: k.alg.as_str(),
            state,
            created_at: k.created_at,
            signs_from: k.signs_from,
            retired_at: k.retired_at,
            published_until: k.published_until,
        }
    }
}
