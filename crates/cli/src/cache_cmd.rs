//! `tollgate cache show|clear`: the on-disk token cache, without ever
//! printing a token.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Subcommand;
use tollgate_client::DiskCache;

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List cached tokens: what they are for and when they expire.
    Show,
    /// Delete every cached token.
    Clear,
}

pub fn run(cmd: CacheCommand) -> Result<()> {
    let dir = DiskCache::default_dir().context("no cache directory: set XDG_CACHE_HOME or HOME")?;
    let cache = DiskCache::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
    match cmd {
        CacheCommand::Show => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let entries = cache.entries()?;
            if entries.is_empty() {
                eprintln!("no cached tokens in {}", dir.display());
            }
            for (_, e) in entries {
                let expiry = match e.expires_at() {
                    Some(at) if at > now => format!("expires in {} s", at - now),
                    Some(_) => "expired".to_owned(),
                    None => "no expiry given".to_owned(),
                };
                let who = e
                    .username
                    .as_deref()
                    .map(|u| format!(" user {u}"))
                    .unwrap_or_default();
                crate::out::line(format_args!(
                    "{}\tclient {}{who}\t{}\tscope [{}]\t{expiry}",
                    e.token_url,
                    e.client_id,
                    e.grant,
                    e.scopes.join(" ")
                ))?;
            }
        }
        CacheCommand::Clear => {
            let n = cache.clear()?;
            eprintln!("removed {n} cached token(s) from {}", dir.display());
        }
    }
    Ok(())
}
