//! `tollgate admin keys`: the keys that sign JWT access tokens. Private
//! keys are never printed; a server on the same database picks up a change
//! within its poll interval.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use tollgate_proto::admin::KeyRotation;
use tollgate_proto::jose::SigningAlg;

use crate::admin_backend::Backend;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys and what each does now.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a key of every algorithm (or of --alg): published in the JWKS at
    /// once, signing after the config's jwt.prepublish_secs (so cached JWKS
    /// see it first). Access tokens use jwt.algorithm's key, ID tokens the
    /// client's id_token_signed_response_alg's.
    Rotate {
        /// Only a key of this algorithm [default: one of each].
        #[arg(long, value_enum)]
        alg: Option<AlgArg>,
        /// The current key leaked: sign with the new one at once, and revoke
        /// every key of its algorithm that signed until now, so every token
        /// they signed is refused at once (clients fetch new ones; verifiers
        /// with a cached JWKS refuse new tokens until they fetch it again).
        #[arg(long)]
        now: bool,
    },
    /// Stop a key signing; it stays in the JWKS until every token it signed
    /// has expired. Another key must be signing already.
    Retire {
        /// The key's id, as `keys list` shows it. An id is base64url, so it
        /// may begin with `-`: it is taken as the id, not as an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// The key leaked: it verifies nothing from now on, so every token it
    /// signed is refused at once, here and (at their next poll of the
    /// database) on every other instance. If no other key signs, a new one
    /// of the config's jwt.algorithm signs at once.
    Revoke {
        /// The key's id, as `keys list` shows it.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
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

pub async fn run(backend: &Backend, cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::List { json } => {
            let keys = backend.keys().await?;
            if json {
                return crate::out::json(&keys);
            }
            for k in keys {
                crate::out::line(format_args!(
                    "{}\t{}\t{}\tcreated {}\tsigns from {}",
                    k.kid, k.alg, k.state, k.created_at, k.signs_from
                ))?;
            }
            Ok(())
        }
        KeysCommand::Rotate { alg, now: at_once } => {
            let rotation = KeyRotation {
                alg: alg.map(SigningAlg::from),
                now: at_once,
            };
            let keys = backend.rotate_keys(rotation).await?;
            let now = tollgate_server::Clock::system().now_secs();
            for key in &keys {
                eprintln!(
                    "key {} ({}) published; it signs from {} ({} s from now)",
                    key.kid,
                    key.alg,
                    key.signs_from,
                    (key.signs_from - now).max(0)
                );
            }
            if at_once {
                eprintln!("every key of its algorithm that signed before it is revoked: their tokens are refused");
            }
            for key in &keys {
                crate::out::line(format_args!("{}", key.kid))?;
            }
            Ok(())
        }
        KeysCommand::Retire { kid } => {
            let key = backend.retire_key(&kid).await?;
            let until = key.published_until.unwrap_or_default();
            eprintln!("key {kid} retired: it signs no more, and stays published until {until}");
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            backend.revoke_key(&kid).await?;
            eprintln!("key {kid} revoked: every token it signed is refused from now on");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::KeysCommand;

    #[derive(Debug, Parser)]
    struct Keys {
        #[command(subcommand)]
        command: KeysCommand,
    }

    #[test]
    fn retire_takes_an_id_that_begins_with_a_hyphen() {
        let parsed = Keys::try_parse_from(["keys", "retire", "-u8Xz_2Qa"]);
        let kid = match parsed.map(|k| k.command) {
            Ok(KeysCommand::Retire { kid }) => Some(kid),
            _ => None,
        };
        assert_eq!(kid.as_deref(), Some("-u8Xz_2Qa"));
    }
}
