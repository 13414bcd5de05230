//! TLS termination with rustls (ring provider): HTTP/2 and HTTP/1.1 by ALPN,
//! TLS 1.2 and 1.3 with rustls's safe defaults.
//!
//! The certificate is served by a resolver that [`Tls::reload`] swaps, so a
//! renewed certificate (SIGHUP) applies to new handshakes at once, while
//! connections already open carry on undisturbed. A reload that cannot read
//! or parse the files keeps the certificate in use and says why.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::{ConfigError, TlsFiles};

/// The acceptor, and the certificate it serves.
pub struct Tls {
    acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    provider: Arc<CryptoProvider>,
    files: TlsFiles,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

impl Tls {
    /// Reads `files` and builds the acceptor.
    pub fn load(files: &TlsFiles) -> Result<Self, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key(files, &provider)?;
        let resolver = Arc::new(Resolver(RwLock::new(Arc::new(key))));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            resolver,
            provider,
            files: files.clone(),
        })
    }

    /// Reads the files again; new handshakes use what they hold.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let key = certified_key(&self.files, &self.provider)?;
        *self.resolver.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid {
        key: "tls_cert",
        message,
    }
}

/// The chain and key of `files`, checked to belong together.
fn certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, ConfigError> {
    let shown = |p: &PathBuf| p.display().to_string();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{}: {e}", shown(&files.cert))))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "{}: no PEM certificate in it",
            shown(&files.cert)
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| ConfigError::Invalid {
        key: "tls_key",
        message: format!("{}: {e}", shown(&files.key)),
    })?;
    let signing =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| ConfigError::Invalid {
                key: "tls_key",
                message: format!("{}: {e}", shown(&files.key)),
            })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| ConfigError::Invalid {
        key: "tls_key",
        message: format!("the key does not belong to the certificate: {e}"),
    })?;
    Ok(certified)
}
