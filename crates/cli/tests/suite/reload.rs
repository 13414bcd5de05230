//! `[[routes]]` read again on SIGHUP (issue 33 point 4): requests from
//! then on take the new routes, a keep-alive connection opened before goes
//! on working, and a file that does not load keeps the routes in use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::routing::any;
use axum::Router;

use crate::common::{token, Workspace};

/// An upstream that answers every request with `name`.
async fn upstream(name: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(any(move || async move { name }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn write_config(ws: &Workspace, routes: &str) {
    let base = "[argon2]\nmemory_kib = 256\niterations = 1\nparallelism = 1\n";
    std::fs::write(ws.config(), format!("{base}\n{routes}")).unwrap();
}

fn route(prefix: &str, upstream: &str) -> String {
    format!("[[routes]]\npath_prefix = \"{prefix}\"\nupstream = \"{upstream}\"\n")
}

#[tokio::test]
async fn sighup_reloads_the_routes_without_dropping_connections() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let ws = Workspace::new();
    write_config(&ws, &route("/svc", &a));
    let server = ws.serve(&[]);
    let (id, secret) = ws.create_client(&["--grant", "client_credentials"]);
    let (status, t) = token(&server, &id, &secret, "grant_type=client_credentials").await;
    assert_eq!(status, 200, "{t}");
    let t = t["access_token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let req = http.get(server.url(path)).bearer_auth(&t);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    assert_eq!(get("/svc/x").await, (200, "a".to_owned()));
    assert_eq!(get("/new/x").await.0, 404);
    // A keep-alive connection opened before the reload.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut open = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(ask(&mut open, &t).await.ends_with("\r\n\r\na"));

    write_config(&ws, &format!("{}{}", route("/svc", &b), route("/new", &a)));
    server.signal("-HUP");
    wait_for_log(&server, "routes reloaded");
    assert_eq!(get("/svc/x").await, (200, "b".to_owned()));
    assert_eq!(get("/new/x").await, (200, "a".to_owned()));
    let answer = ask(&mut open, &t).await;
    assert!(
        answer.ends_with("\r\n\r\nb"),
        "the connection from before: {answer}"
    );

    // A file that does not validate keeps the routes in use, and says why.
    write_config(
        &ws,
        "[[routes]]\npath_prefix = \"no-slash\"\nupstream = \"http://h\"\n",
    );
    server.signal("-HUP");
    wait_for_log(&server, "routes not reloaded");
    assert!(
        server.log_text().contains("no-slash"),
        "{}",
        server.log_text()
    );
    assert_eq!(get("/svc/x").await, (200, "b".to_owned()));
    assert!(server.stop());
}

/// `GET /svc/x` on `conn`, kept alive; the whole answer (its body is one
/// byte).
async fn ask(conn: &mut tokio::net::TcpStream, t: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET /svc/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n")
        || !got.ends_with(b"a") && !got.ends_with(b"b")
    {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the connection was closed");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn wait_for_log(server: &crate::common::Server, needle: &str) {
    let seen = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        server.log_text().contains(needle)
    });
    assert!(seen, "no `{needle}` in: {}", server.log_text());
}
