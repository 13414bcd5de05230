//! `tollgate token`: print an access token (from the cache when fresh).

use anyhow::Result;
use clap::Args;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use crate::client_args::AuthArgs;
use crate::session::Session;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print the whole token response as JSON instead of the token alone.
    #[arg(long, conflicts_with = "decode")]
    json: bool,
    /// Print what a JWT access token says (header and claims) instead of
    /// the token. Not verified: it shows what the token claims, not that
    /// the issuer signed it.
    #[arg(long)]
    decode: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

pub async fn run(args: TokenArgs) -> Result<()> {
    let session = Session::open(args.auth.resolve()?)?;
    let t = session.token().await?;
    if args.decode {
        let d = tollgate_client::jwt::decode_unverified(t.secret())?;
        eprintln!("tollgate: NOT verified: the header and claims as the token states them; verify its signature against the issuer's jwks_uri before trusting any of it");
        let both = json!({"header": d.header, "claims": d.claims});
        crate::out::line(format_args!("{}", serde_json::to_string_pretty(&both)?))?;
        return Ok(());
    }
    if !args.json {
        crate::out::line(format_args!("{}", t.secret()))?;
        return Ok(());
    }
    let mut m = Map::new();
    m.insert("access_token".into(), json!(t.secret()));
    let optional = [
        ("token_type", t.token_type.clone().map(Value::from)),
        ("expires_in", t.expires_in.map(Value::from)),
        ("scope", t.scope.clone().map(Value::from)),
        (
            "refresh_token",
            t.refresh_token
                .as_ref()
                .map(|r| Value::from(r.expose_secret())),
        ),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    m.extend(t.extra.clone());
    crate::out::line(format_args!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(m))?
    ))?;
    Ok(())
}
