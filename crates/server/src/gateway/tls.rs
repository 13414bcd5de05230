//! TLS to https upstreams, with rustls (ring provider): the system's roots
//! (read once, when the gateway is built; `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` are honoured) plus a route's `ca_cert`, the upstream's
//! host name (or IP address) as SNI and as the name its certificate must
//! carry, an optional client certificate for mutual TLS, and HTTP/2 or
//! HTTP/1.1 by ALPN, as the upstream prefers.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::{ConfigError, Route, Target, UpstreamTls};

/// How to open TLS to one upstream.
#[derive(Clone)]
pub struct Connector {
    pub connector: TlsConnector,
    /// The same, offering HTTP/1.1 only: for upgrades (WebSocket), which
    /// HTTP/2 carries differently (RFC 8441).
    pub h1_only: TlsConnector,
    /// SNI, and the name the certificate is verified against.
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The system's trusted roots, read the first time an https route needs
/// them.
#[derive(Default)]
pub struct SystemRoots(Option<Arc<Vec<CertificateDer<'static>>>>);

impl SystemRoots {
    fn get(&mut self) -> Arc<Vec<CertificateDer<'static>>> {
        self.0
            .get_or_insert_with(|| {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!(error = %e, "reading the system's trusted certificates");
                }
                Arc::new(found.certs)
            })
            .clone()
    }
}

/// The connector for `route`'s upstream `to` (https).
pub fn connector(
    route: &Route,
    to: &Target,
    system: &mut SystemRoots,
) -> Result<Connector, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: "routes",
        message: format!("route `{}`: {message}", route.prefix),
    };
    let config = client_config(&route.tls, system).map_err(invalid)?;
    let mut h1_only = config.clone();
    h1_only.alpn_protocols = vec![b"http/1.1".to_vec()];
    let host = to.authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| invalid(format!("`{host}` cannot be verified by TLS: {e}")))?;
    Ok(Connector {
        connector: TlsConnector::from(Arc::new(config)),
        h1_only: TlsConnector::from(Arc::new(h1_only)),
        name,
    })
}

fn client_config(tls: &UpstreamTls, system: &mut SystemRoots) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(system.get().iter().cloned());
    if unusable > 0 {
        tracing::debug!(unusable, "system certificates rustls cannot use");
    }
    if let Some(path) = &tls.ca_cert {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("ca_cert {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("ca_cert {shown}: no PEM certificate in it"));
        }
        for c in certs {
            roots.add(c).map_err(|e| format!("ca_cert {shown}: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err("no trusted certificate: the system has none and no ca_cert is set".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots);
    let mut config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let chain = CertificateDer::pem_file_iter(&files.cert)
                .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("client_cert {}: {e}", files.cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&files.key)
                .map_err(|e| format!("client_key {}: {e}", files.key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client_cert and client_key: {e}"))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::RouteConfig;

    fn https_route(ca_cert: PathBuf) -> Route {
        Route::try_from(RouteConfig {
            path_prefix: "/billing".into(),
            upstream: Some("https://billing.internal".into()),
            ca_cert: Some(ca_cert),
            ..RouteConfig::default()
        })
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn refusal(route: &Route) -> String {
        let to = &route
            .targets
            .first()
            .unwrap_or_else(|| unreachable!())
            .target;
        match connector(route, to, &mut SystemRoots::default()) {
            Ok(_) => unreachable!("an unusable ca_cert was taken"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unusable_ca_files_are_refused_naming_the_route_and_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let missing = dir.path().join("missing.pem");
        let e = refusal(&https_route(missing));
        assert!(e.contains("/billing") && e.contains("missing.pem"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap_or_else(|e| unreachable!("{e}"));
        let e = refusal(&https_route(empty));
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
