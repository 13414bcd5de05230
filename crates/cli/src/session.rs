//! A token source backed by the on-disk cache: the first command's token
//! serves the next. Getting a token holds the cache entry's lock file, so N
//! commands started together make one token request between them.

use std::sync::Arc;

use anyhow::{Context, Result};
use tollgate_client::disk_cache::CacheLock;
use tollgate_client::{CacheEntry, CacheKey, DiskCache, Token, TokenSource};

use crate::client_args::Resolved;

pub struct Session {
    pub source: TokenSource,
    /// The client the token source uses, for the command's other requests.
    pub http: reqwest::Client,
    pub resolved: Resolved,
    cache: Option<(DiskCache, String)>,
}

impl Session {
    pub fn open(resolved: Resolved) -> Result<Self> {
        let http = resolved.http()?;
        let source = TokenSource::new(http.clone(), resolved.config.clone());
        let cache = if resolved.use_cache {
            let dir = DiskCache::default_dir()
                .context("no cache directory: set XDG_CACHE_HOME or HOME, or pass --no-cache")?;
            let cache = DiskCache::open(&dir)
                .with_context(|| format!("opening the token cache {}", dir.display()))?;
            let key = cache_key(&resolved).digest();
            Some((cache, key))
        } else {
            None
        };
        Ok(Self {
            source,
            http,
            resolved,
            cache,
        })
    }

    /// A fresh token: from the cache file, refreshed, or newly requested.
    pub async fn token(&self) -> Result<Arc<Token>> {
        let Some((cache, key)) = &self.cache else {
            return Ok(self.source.token().await?);
        };
        let _lock = lock(cache, key).await?;
        let stored = cache.load(key);
        if let Some(entry) = &stored {
            self.source.seed(entry.to_token());
        }
        let token = self.source.token().await?;
        if stored
            .as_ref()
            .is_none_or(|e| e.access_token != token.secret())
        {
            self.write(cache, key, &token);
        }
        Ok(token)
    }

    /// After API calls: keep the cache file in step with the source (a token
    /// the server rejected is dropped, a replacement written).
    pub fn sync(&self) {
        let Some((cache, key)) = &self.cache else {
            return;
        };
        match self.source.current() {
            Some(t) if cache.load(key).is_none_or(|e| e.access_token != t.secret()) => {
                self.write(cache, key, &t)
            }
            Some(_) => {}
            None => {
                let _ = cache.remove(key);
            }
        }
    }

    /// Drops the cached token if it is `token` (e.g. it was just revoked).
    pub fn forget(&self, token: &str) {
        if let Some((cache, key)) = &self.cache {
            if cache.load(key).is_some_and(|e| e.access_token == token) {
                let _ = cache.remove(key);
            }
        }
    }

    fn write(&self, cache: &DiskCache, key: &str, token: &Token) {
        let entry = CacheEntry::new(&cache_key(&self.resolved), token);
        if let Err(e) = cache.store(key, &entry) {
            eprintln!("tollgate: warning: cannot write the token cache: {e}");
        }
    }
}

fn cache_key(r: &Resolved) -> CacheKey<'_> {
    let c = &r.config;
    CacheKey {
        token_url: &c.token_url,
        client_id: &c.credentials.client_id,
        grant: c.grant.name(),
        username: c.grant.username(),
        scopes: &c.scopes,
        auth: c.auth,
        secret: r.secret(),
    }
}

async fn lock(cache: &DiskCache, key: &str) -> Result<CacheLock> {
    let (cache, key) = (cache.clone(), key.to_owned());
    tokio::task::spawn_blocking(move || cache.lock(&key))
        .await
        .context("waiting for the token cache lock")?
        .context("locking the token cache")
}
