//! Issue 10: `tollgate serve` terminates TLS itself. A throwaway CA signs
//! the server's certificate; the token flow runs over HTTPS with the CLI
//! trusting that CA (`--ca-cert`), HTTP/2 is offered by ALPN, and SIGHUP
//! swaps the certificate without dropping open connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Server, BIN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_server::testing::{certs, Ca};

/// The names the server's certificates carry.
const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Writes a fresh certificate (named `cn`) and key into `dir`; returns its DER.
fn issue(ca: &Ca, dir: &Path, cn: &str) -> Vec<u8> {
    let issued = ca.issue(&NAMES, cn);
    issued.write_to(dir);
    issued.der
}

/// A rustls client trusting only `ca_pem`.
fn connector(ca_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca_pem) {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Full handshakes only: a resumed session shows the certificate it began with.
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_flow_over_tls_with_http2_and_a_reload_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::default();
    let first = issue(&ca, dir.path(), "first");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let cert = dir.path().join("cert.pem").display().to_string();
    let key = dir.path().join("key.pem").display().to_string();
    let server = Server::start(
        &["--demo", "--tls-cert", &cert, "--tls-key", &key].map(str::to_owned),
        &[],
    );
    let https = server.base.replace("http://", "https://");
    let addr = server.base.trim_start_matches("http://").to_owned();
    assert!(
        server.stdout_with(&https).contains(&https),
        "the demo banner shows the https URL"
    );

    // The CLI's token command, trusting the throwaway CA.
    let home = tempfile::tempdir().unwrap();
    let token_url = format!("{https}/oauth2/token.oauth2");
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args([
                "token",
                "--token-url",
                &token_url,
                "--client-id",
                "demo-client",
            ])
            .args(["--scope", "locations:read", "--no-cache"])
            .args(extra)
            .env("TOLLGATE_CLIENT_SECRET", "demo-secret")
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ok = run(&["--ca-cert", ca_file.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let token = String::from_utf8(ok.stdout).unwrap().trim().to_owned();
    assert!(token.len() > 20, "{token}");
    let untrusted = run(&[]);
    assert!(!untrusted.status.success());
    let err = String::from_utf8_lossy(&untrusted.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");

    // HTTP/2 by ALPN, and the API over it.
    let root = reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap();
    let h2 = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let r = h2
        .get(format!("{https}/locations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);

    // An HTTP/1.1 connection opened before the reload...
    let tls = connector(&ca.pem, &[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut open = tls.connect(name.clone(), tcp).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    open.write_all(request).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = open.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert_eq!(
        open.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        &first[..]
    );

    // ...a renewed certificate and SIGHUP...
    let second = issue(&ca, dir.path(), "second");
    server.signal("-HUP");
    let reloaded = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        server.log_text().contains("TLS certificate reloaded")
    });
    assert!(reloaded, "{}", server.log_text());

    // ...the open connection still works, and new ones get the new certificate.
    open.write_all(request).await.unwrap();
    let n = open.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let fresh = tls.connect(name, tcp).await.unwrap();
    assert_eq!(
        fresh.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        &second[..]
    );

    // A broken file on reload keeps the certificate in use.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    server.signal("-HUP");
    let refused = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        server.log_text().contains("TLS certificate not reloaded")
    });
    assert!(refused, "{}", server.log_text());
    let r = h2.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(server.stop());
}
