//! Tokens kept on disk between processes, so a second command reuses the
//! first one's token.
//!
//! Under `$XDG_CACHE_HOME/tollgate/` (directory 0700, files 0600), one file
//! per (token URL, client, grant, user, scopes, auth mode, secret), named by
//! a SHA-256 of those, so neither the secret nor the password is ever
//! written: only a fingerprint inside the hashed key. Files are written
//! atomically (temp file + rename). [`DiskCache::lock`] takes a lock file so
//! that parallel runs make one token request between them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::ClientAuth;
use crate::token::Token;

/// What identifies a cached token.
#[derive(Debug, Clone)]
pub struct CacheKey<'a> {
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub grant: &'a str,
    pub username: Option<&'a str>,
    pub scopes: &'a [String],
    pub auth: ClientAuth,
    /// Only its fingerprint goes into the key.
    pub secret: &'a str,
}

impl CacheKey<'_> {
    /// Hex SHA-256 of every part; scopes sorted, so their order does not matter.
    pub fn digest(&self) -> String {
        let mut scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let fingerprint = Sha256::digest(format!("tollgate-secret-fingerprint\0{}", self.secret));
        let mut h = Sha256::new();
        for part in [
            self.token_url,
            self.client_id,
            self.grant,
            self.username.unwrap_or(""),
            &scopes.join(" "),
            self.auth.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(fingerprint);
        hex::encode(h.finalize())
    }
}

/// One cached token and, for `cache show`, what it is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub token_url: String,
    pub client_id: String,
    #[serde(default)]
    pub username: Option<String>,
    pub grant: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Unix seconds.
    pub obtained_at: u64,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl CacheEntry {
    pub fn new(key: &CacheKey<'_>, t: &Token) -> Self {
        use secrecy::ExposeSecret;
        Self {
            token_url: key.token_url.to_owned(),
            client_id: key.client_id.to_owned(),
            username: key.username.map(str::to_owned),
            grant: key.grant.to_owned(),
            scopes: key.scopes.to_vec(),
            access_token: t.secret().to_owned(),
            token_type: t.token_type.clone(),
            obtained_at: t
                .obtained_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            expires_in: t.expires_in,
            scope: t.scope.clone(),
            refresh_token: t
                .refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned()),
        }
    }

    pub fn to_token(&self) -> Token {
        Token {
            access_token: SecretString::from(self.access_token.clone()),
            token_type: self.token_type.clone(),
            expires_in: self.expires_in,
            scope: self.scope.clone(),
            refresh_token: self.refresh_token.clone().map(SecretString::from),
            extra: serde_json::Map::new(),
            obtained_at: UNIX_EPOCH + Duration::from_secs(self.obtained_at),
        }
    }

    /// Unix seconds at which the token expires, when known.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_in.map(|e| self.obtained_at + e)
    }
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

/// A held lock file; released on drop.
#[derive(Debug)]
pub struct CacheLock(File);

impl Drop for CacheLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl DiskCache {
    /// `$XDG_CACHE_HOME/tollgate`, else `$HOME/.cache/tollgate`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("tollgate"))
    }

    /// Opens (creating, mode 0700) the cache directory.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        restrict(&dir, 0o700)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{key}.{ext}"))
    }

    /// Blocks until this process holds the lock for `key`.
    pub fn lock(&self, key: &str) -> io::Result<CacheLock> {
        let file = private_file(&self.path(key, "lock"), false)?;
        file.lock()?;
        Ok(CacheLock(file))
    }

    /// The entry for `key`; unreadable or foreign files count as absent.
    pub fn load(&self, key: &str) -> Option<CacheEntry> {
        let bytes = fs::read(self.path(key, "json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes the entry atomically with mode 0600.
    pub fn store(&self, key: &str, entry: &CacheEntry) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(entry).map_err(io::Error::other)?;
        let nonce: u64 = rand::random();
        let tmp = self
            .dir
            .join(format!(".{key}.{}.{nonce:x}.tmp", std::process::id()));
        let result = (|| {
            let mut f = private_file(&tmp, true)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(key, "json"))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn remove(&self, key: &str) -> io::Result<()> {
        match fs::remove_file(self.path(key, "json")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every entry, with its key.
    pub fn entries(&self) -> io::Result<Vec<(String, CacheEntry)>> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir)? {
            let name = item?.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".json") {
                if let Some(e) = self.load(key) {
                    out.push((key.to_owned(), e));
                }
            }
        }
        out.sort_by_key(|e| e.1.obtained_at);
        Ok(out)
    }

    /// Removes every entry and lock file; returns how many tokens were dropped.
    pub fn clear(&self) -> io::Result<usize> {
        let mut n = 0;
        for item in fs::read_dir(&self.dir)? {
            let path = item?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => {
                    fs::remove_file(&path)?;
                    n += 1;
                }
                Some("lock" | "tmp") => fs::remove_file(&path)?,
                _ => {}
            }
        }
        Ok(n)
    }
}

/// Whether a cached entry is usable now (see [`Token::is_fresh`]).
pub fn is_fresh(entry: &CacheEntry, margin: Duration) -> bool {
    entry.to_token().is_fresh(SystemTime::now(), margin)
}

fn private_file(path: &Path, create_new: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(scopes: &'a [String], secret: &'a str) -> CacheKey<'a> {
        CacheKey {
            token_url: "https://a/token",
            client_id: "c",
            grant: "client_credentials",
            username: None,
            scopes,
            auth: ClientAuth::Basic,
            secret,
        }
    }

    #[test]
    fn key_ignores_scope_order_but_not_the_secret() {
        let ab = vec!["a".to_owned(), "b".to_owned()];
        let ba = vec!["b".to_owned(), "a".to_owned()];
        assert_eq!(key(&ab, "s").digest(), key(&ba, "s").digest());
        assert_ne!(key(&ab, "s").digest(), key(&ab, "t").digest());
        assert_eq!(key(&ab, "s").digest().len(), 64);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_round_trip() -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir()?;
        let cache = DiskCache::open(tmp.path().join("tollgate"))?;
        let scopes = vec!["x".to_owned()];
        let k = key(&scopes, "secret-value");
        let digest = k.digest();
        let token = Token::parse(
            br#"{"access_token":"tok","expires_in":60}"#,
            SystemTime::now(),
        )
        .map_err(io::Error::other)?;
        cache.store(&digest, &CacheEntry::new(&k, &token))?;
        let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode(cache.dir())?, 0o700);
        assert_eq!(mode(&cache.dir().join(format!("{digest}.json")))?, 0o600);
        let loaded = cache.load(&digest).map(|e| e.access_token);
        assert_eq!(loaded.as_deref(), Some("tok"));
        let text = fs::read_to_string(cache.dir().join(format!("{digest}.json")))?;
        assert!(!text.contains("secret-value"));
        let _lock = cache.lock(&digest)?;
        assert_eq!(cache.entries()?.len(), 1);
        assert_eq!(cache.clear()?, 1);
        assert!(cache.load(&digest).is_none());
        Ok(())
    }
}
