//! JWT access tokens from the command line (issue 13): a client registered
//! with `--token-format jwt`, `admin keys list|rotate|retire|revoke`, and
//! `tollgate token --decode`, with the real binary against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Workspace, BIN};
use serde_json::Value;

fn keys(ws: &Workspace) -> Vec<Value> {
    let out = ws.admin_ok(&["keys", "list", "--json"], "");
    assert!(!out.contains("private"), "{out}");
    serde_json::from_str(&out).unwrap()
}

fn decode(base: &str, id: &str, secret: &str, home: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["token", "--decode", "--no-cache"])
        .args(["--token-url", &format!("{base}/oauth2/token.oauth2")])
        .args(["--client-id", id])
        .env("TOLLGATE_CLIENT_SECRET", secret)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn keys_rotate_and_retire_from_the_command_line() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let mut first = keys(&ws);
    for _ in 0..200 {
        if first.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        first = keys(&ws);
    }
    let of = |alg: &str| {
        let k = first.iter().find(|k| k["alg"] == alg);
        k.unwrap_or_else(|| panic!("a key of {alg} at first start: {first:?}"))["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (old, rsa) = (of("ES256"), of("RS256"));
    of("EdDSA");
    assert!(first.iter().all(|k| k["state"] == "signing"), "{first:?}");

    let pending = ws.admin_ok(&["keys", "rotate", "--alg", "EdDSA"], "");
    let pending = pending.trim();
    let listed = keys(&ws);
    let state = |kid: &str| {
        listed
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state(pending).as_deref(), Some("pending"));
    let refused = ws.admin(&["keys", "retire", &old], "");
    assert!(!refused.status.success());
    let says = String::from_utf8_lossy(&refused.stderr);
    assert!(says.contains("rotate"), "{says}");

    let out = ws.admin(&["keys", "revoke", pending], "");
    let says = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{says}");
    assert!(says.contains("revoked"), "{says}");
    let again = ws.admin(&["keys", "revoke", pending], "");
    assert!(
        !again.status.success(),
        "a revoked key cannot be revoked again"
    );

    // The leaked-key case: a new key signs at once, the old one is dead.
    let now = ws.admin(&["keys", "rotate", "--now", "--alg", "ES256"], "");
    let says = String::from_utf8_lossy(&now.stderr);
    assert!(says.contains("revoked"), "{says}");
    let now = String::from_utf8_lossy(&now.stdout).trim().to_owned();
    let listed = keys(&ws);
    let state = |kid: &str| {
        let k = listed.iter().find(|k| k["kid"] == kid).unwrap();
        (k["state"].as_str().unwrap().to_owned(), k.clone())
    };
    let (old_state, old_key) = state(&old);
    assert_eq!(old_state, "retired", "verifies nothing: {old_key}");
    assert_eq!(
        old_key["published_until"], old_key["retired_at"],
        "{old_key}"
    );
    assert_eq!(state(pending).0, "retired");
    assert_eq!(state(&now).0, "signing");
    assert_eq!(state(&rsa).0, "signing", "RS256 untouched");

    // Without --alg, a new key of every algorithm.
    let all = ws.admin_ok(&["keys", "rotate"], "");
    assert_eq!(all.lines().count(), 3, "{all}");
    drop(server);
}

#[tokio::test]
async fn token_decode_shows_a_jwt_and_says_it_is_not_verified() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let (jwt_id, jwt_secret) = ws.create_client(&["--token-format", "jwt", "--scope", "a"]);
    let (opaque_id, opaque_secret) = ws.create_client(&[]);
    let home = tempfile::tempdir().unwrap();

    let out = decode(&server.base, &jwt_id, &jwt_secret, home.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("NOT verified"), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["header"]["typ"], "at+jwt");
    assert_eq!(v["claims"]["client_id"], jwt_id.as_str());
    assert_eq!(v["claims"]["scope"], Value::Null, "no scope requested");

    let out = decode(&server.base, &opaque_id, &opaque_secret, home.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("opaque"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The server's JWKS publishes the key that signed it.
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert!(
        published.contains(&"ES256") && published.contains(&"RS256"),
        "{jwks}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(server);
}
