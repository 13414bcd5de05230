//! A throwaway certificate authority for TLS tests: certificates made in
//! the test (nothing fetched), for servers and for clients (mutual TLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA, and a way to sign certificates with it.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's own certificate, PEM.
    pub pem: String,
}

/// A certificate the CA signed, and its key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl Default for Ca {
    fn default() -> Self {
        Self::new("tollgate test CA")
    }
}

impl Ca {
    /// # Panics
    /// When rcgen cannot make a key: test set-up.
    #[allow(clippy::expect_used)]
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("the CA certificate");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), named `cn`.
    ///
    /// # Panics
    /// When a name is unusable: test set-up.
    #[allow(clippy::expect_used)]
    pub fn issue(&self, names: &[&str], cn: &str) -> Issued {
        let key = KeyPair::generate().expect("a key");
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).expect("certificate params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Writes the CA's certificate to `path`.
    ///
    /// # Panics
    /// When the file cannot be written: test set-up.
    #[allow(clippy::expect_used)]
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, &self.pem).expect("writing the CA");
        path.to_owned()
    }

    /// The CA's certificate as rustls takes it.
    pub fn der(&self) -> CertificateDer<'static> {
        certs(&self.pem).remove(0)
    }
}

impl Issued {
    /// Writes `cert.pem` and `key.pem` into `dir`; gives their paths.
    ///
    /// # Panics
    /// When the files cannot be written: test set-up.
    #[allow(clippy::expect_used)]
    pub fn write_to(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert_pem).expect("writing the certificate");
        std::fs::write(&key, &self.key_pem).expect("writing the key");
        (cert, key)
    }

    /// A rustls server config serving this certificate with `alpn`, and,
    /// given `clients`, requiring a client certificate signed by it.
    ///
    /// # Panics
    /// When rustls refuses the certificate: test set-up.
    #[allow(clippy::expect_used)]
    pub fn server_config(&self, alpn: &[&[u8]], clients: Option<&Ca>) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der()).expect("the client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("a client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("the key");
        let mut config = builder
            .with_single_cert(certs(&self.cert_pem), key)
            .expect("the certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

/// The certificates in `pem`.
///
/// # Panics
/// When `pem` does not parse: test set-up.
#[allow(clippy::expect_used)]
pub fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.expect("a PEM certificate"))
        .collect()
}
