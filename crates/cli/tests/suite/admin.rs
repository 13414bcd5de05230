//! `tollgate admin` against a live `tollgate serve` on the same database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tollgate_server::testing::within;

use crate::common::{active, admin_get, admin_token, token, Workspace};

const SECOND: Duration = Duration::from_secs(1);

fn unreserved(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

#[test]
fn client_create_json_is_exactly_id_and_secret() {
    let ws = Workspace::new();
    let out = ws.admin_ok(
        &[
            "client", "create", "--name", "x", "--scope", "a b", "--json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["client_id", "client_secret"]
    );
    let secret = obj["client_secret"].as_str().unwrap();
    assert!(unreserved(secret), "{secret}");
    assert!(secret.len() >= 4 + 22, "at least 128 bits: {secret}");
    // The secret is not shown again.
    let id = obj["client_id"].as_str().unwrap();
    let shown = ws.admin_ok(&["client", "show", id, "--json"], "");
    assert!(!shown.contains(secret));
    let list = ws.admin_ok(&["client", "list", "--json"], "");
    assert!(list.contains(id) && !list.contains(secret));
}

#[test]
fn bad_admin_input_is_a_clear_error_not_a_panic() {
    let ws = Workspace::new();
    for (args, stdin, needle) in [
        (
            &["client", "create", "--name", "x", "--scope", "a\"b"][..],
            "",
            "scope",
        ),
        (&["client", "show", "nope"][..], "", "not found"),
        (&["client", "disable", "nope"][..], "", "not found"),
        (
            &[
                "client",
                "create",
                "--name",
                "x",
                "--client-id",
                "a:b",
                "--secret-stdin",
            ][..],
            "s\n",
            ":",
        ),
        (
            &[
                "client",
                "create",
                "--name",
                "x",
                "--client-id",
                "dup",
                "--secret-stdin",
            ][..],
            "\n",
            "empty",
        ),
        (
            &["user", "create", "--username", "u"][..],
            "",
            "--password-stdin",
        ),
        (&["user", "disable", "ghost"][..], "", "not found"),
    ] {
        let out = ws.admin(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    ws.admin_ok(
        &[
            "client",
            "create",
            "--name",
            "x",
            "--client-id",
            "dup",
            "--secret-stdin",
        ],
        "s\n",
    );
    let again = ws.admin(
        &[
            "client",
            "create",
            "--name",
            "x",
            "--client-id",
            "dup",
            "--secret-stdin",
        ],
        "s\n",
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn imported_client_keeps_its_printable_secret() {
    let ws = Workspace::new();
    let secret = r#"A2Q xe4+z8%3X:/~!"#;
    ws.admin_ok(
        &[
            "client",
            "create",
            "--name",
            "moved",
            "--client-id",
            "zq4hmfg72z3zabc4wr72euyu",
            "--secret-stdin",
        ],
        &format!("{secret}\n"),
    );
    let server = ws.serve(&[]);
    let (status, v) = token(
        &server,
        "zq4hmfg72z3zabc4wr72euyu",
        secret,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(server.stop());
}

/// Every admin change reaches the running server, the disabling ones
/// within a second.
#[tokio::test]
async fn admin_changes_reach_a_running_server() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    // A client created while the server runs works at once.
    let (id, secret) = ws.create_client(&[
        "--scope",
        "a",
        "--grant",
        "client_credentials",
        "--grant",
        "password",
        "--grant",
        "refresh_token",
    ]);
    let (status, cc) = token(
        &server,
        &id,
        &secret,
        "grant_type=client_credentials&scope=a",
    )
    .await;
    assert_eq!(status, 200, "{cc}");
    let cc = cc["access_token"].as_str().unwrap().to_owned();

    ws.admin_ok(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--full-name",
            "Alice",
        ],
        "pw1\n",
    );
    let (status, ut) = token(
        &server,
        &id,
        &secret,
        "grant_type=password&username=alice&password=pw1",
    )
    .await;
    assert_eq!(status, 200, "{ut}");
    let user_token = ut["access_token"].as_str().unwrap().to_owned();

    // set-password: the old one stops working.
    ws.admin_ok(
        &["user", "set-password", "alice", "--password-stdin"],
        "pw2\n",
    );
    assert_eq!(
        token(
            &server,
            &id,
            &secret,
            "grant_type=password&username=alice&password=pw1"
        )
        .await
        .0,
        400
    );
    assert_eq!(
        token(
            &server,
            &id,
            &secret,
            "grant_type=password&username=alice&password=pw2"
        )
        .await
        .0,
        200
    );

    // Disabling the user: their tokens are inactive within a second.
    assert!(
        active(&server, &id, &secret, &user_token).await,
        "now cached"
    );
    ws.admin_ok(&["user", "disable", "alice"], "");
    within(SECOND, "user's token inactive", || async {
        !active(&server, &id, &secret, &user_token).await
    })
    .await;
    assert!(active(&server, &id, &secret, &cc).await);
    let users = ws.admin_ok(&["user", "list"], "");
    assert!(users.contains("alice\tdisabled\tAlice"), "{users}");

    // update: the new scopes apply within a second (the server's client
    // cache is dropped when the store's revision moves).
    ws.admin_ok(&["client", "update", &id, "--scope", "a b"], "");
    within(SECOND, "scope update", || async {
        token(
            &server,
            &id,
            &secret,
            "grant_type=client_credentials&scope=b",
        )
        .await
        .0 == 200
    })
    .await;

    // rotate-secret: the new secret works at once, the old one stops within
    // a second.
    let out = ws.admin_ok(&["client", "rotate-secret", &id, "--json"], "");
    let new_secret = serde_json::from_str::<serde_json::Value>(&out).unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        token(&server, &id, &new_secret, "grant_type=client_credentials")
            .await
            .0,
        200
    );
    within(SECOND, "old secret refused", || async {
        token(&server, &id, &secret, "grant_type=client_credentials")
            .await
            .0
            == 401
    })
    .await;

    // rotate-secret --grace: both secrets work during the grace period.
    let out = ws.admin_ok(
        &["client", "rotate-secret", &id, "--grace", "3600", "--json"],
        "",
    );
    let newest = serde_json::from_str::<serde_json::Value>(&out).unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for s in [&newest, &new_secret] {
        let body = "grant_type=client_credentials";
        assert_eq!(token(&server, &id, s, body).await.0, 200);
    }

    // Every change above is in the audit log, as this command's user.
    let (ops, ops_secret) = ws.create_client(&["--scope", "tollgate:admin"]);
    let admin = admin_token(&server, &ops, &ops_secret).await;
    let log = admin_get(&server, &admin, "/audit?limit=500").await;
    let items = log["items"].as_array().unwrap();
    let done: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "client.create",
        "client.rotate_secret",
        "client.update",
        "user.create",
        "user.set_password",
    ] {
        assert!(done.contains(&a), "{a} not in {done:?}");
    }
    assert!(items
        .iter()
        .all(|e| e["actor"].as_str().unwrap().starts_with("cli:")));
    assert!(!log.to_string().contains(&newest), "no secret in the log");

    // Disabling the client: its tokens die; enabling brings them back.
    let (rs, rs_secret) = ws.create_client(&["--introspect-any"]);
    ws.admin_ok(&["client", "disable", &id], "");
    within(SECOND, "client's token inactive", || async {
        !active(&server, &rs, &rs_secret, &cc).await
    })
    .await;
    let show = ws.admin_ok(&["client", "show", &id], "");
    assert!(show.contains("enabled = false"), "{show}");
    ws.admin_ok(&["client", "enable", &id], "");
    within(SECOND, "client's token active again", || async {
        active(&server, &rs, &rs_secret, &cc).await
    })
    .await;
    assert!(server.stop());
}

/// `tollgate admin --url`: the same commands through a server's admin API,
/// as a client with `tollgate:admin` whose credentials come from the
/// environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_through_the_api_with_url() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let (ops, ops_secret) = ws.create_client(&["--scope", "tollgate:admin"]);
    let remote = |args: &[&str], stdin: &str, secret: &str| {
        let mut cmd = std::process::Command::new(crate::common::BIN);
        cmd.arg("admin")
            .args(["--url", &server.base])
            .args(args)
            .env("TOLLGATE_CLIENT_ID", &ops)
            .env("TOLLGATE_CLIENT_SECRET", secret)
            .env_remove("TOLLGATE_DATABASE");
        crate::common::run_with_stdin(cmd, stdin)
    };
    let ok = |args: &[&str], stdin: &str| {
        let out = remote(args, stdin, &ops_secret);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let created = ok(
        &[
            "client", "create", "--name", "remote", "--scope", "a", "--json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (id, secret) = (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        token(&server, &id, &secret, "grant_type=client_credentials")
            .await
            .0,
        200
    );
    assert!(ok(&["client", "list"], "").contains(&format!("{id}\tenabled\tremote\ta")));
    let issued = ok(&["client", "registration-token", "--json"], "");
    assert!(issued.contains("\"initial_access_token\":\""), "{issued}");
    ok(
        &["client", "update", &id, "--scope", "a b", "--qps", "7"],
        "",
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["client", "show", &id, "--json"], "")).unwrap();
    assert_eq!(
        (shown["scope"].as_str(), shown["qps"].as_u64()),
        (Some("a b"), Some(7))
    );
    let rotated = ok(
        &["client", "rotate-secret", &id, "--grace", "600", "--json"],
        "",
    );
    let new_secret = serde_json::from_str::<serde_json::Value>(&rotated).unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for s in [&secret, &new_secret] {
        assert_eq!(
            token(&server, &id, s, "grant_type=client_credentials")
                .await
                .0,
            200
        );
    }
    ok(&["client", "disable", &id], "");
    within(SECOND, "disabled through the API", || async {
        token(&server, &id, &new_secret, "grant_type=client_credentials")
            .await
            .0
            == 401
    })
    .await;
    ok(
        &[
            "user",
            "create",
            "--username",
            "rita",
            "--role",
            "developer",
            "--password-stdin",
        ],
        "pw-remote\n",
    );
    assert!(ok(&["user", "list"], "").contains("rita\tenabled\t\tdeveloper"));
    ok(
        &[
            "user",
            "set-roles",
            "rita",
            "--role",
            "admin",
            "--role",
            "developer",
        ],
        "",
    );
    assert!(ok(&["user", "list"], "").contains("rita\tenabled\t\tadmin,developer"));
    ok(
        &["user", "set-password", "rita", "--password-stdin"],
        "pw-two\n",
    );
    let kid = ok(&["keys", "rotate", "--alg", "EdDSA"], "");
    assert!(ok(&["keys", "list"], "").contains(kid.trim()));
    ok(&["client", "delete", &id], "");

    // Clear errors: a missing resource, wrong credentials.
    let out = remote(&["client", "show", "nope"], "", &ops_secret);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("404") && err.contains("not found"),
        "{err}"
    );
    let out = remote(&["client", "list"], "", "wrong-secret");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("invalid_client"),
        "{err}"
    );

    // Every change through the API is audited as the API client.
    let admin = admin_token(&server, &ops, &ops_secret).await;
    let log = admin_get(&server, &admin, &format!("/audit?target={id}")).await;
    let items = log["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.delete",
            "client.disable",
            "client.rotate_secret",
            "client.update",
            "client.create"
        ]
    );
    assert!(
        items.iter().all(|e| e["actor"] == format!("client:{ops}")),
        "{log}"
    );
    assert!(server.stop());
}

/// `tollgate admin client registration-token`: an initial access token
/// (RFC 7591), printed once, that registers clients at the running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_tokens_from_the_cli_register_clients() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let json = ws.admin_ok(
        &[
            "client",
            "registration-token",
            "--json",
            "--expires-in",
            "600",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["expires_at"].is_i64(), "{json}");
    let plain = ws.admin_ok(&["client", "registration-token"], "");
    let tokens = [v["initial_access_token"].as_str().unwrap(), plain.trim()];
    for (n, t) in tokens.into_iter().enumerate() {
        let r = reqwest::Client::new()
            .post(format!("{}/oauth2/register", server.base))
            .bearer_auth(t)
            .json(&serde_json::json!({"client_name": format!("app {n}"), "grant_types": ["client_credentials"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let bad = ws.admin(&["client", "registration-token", "--expires-in", "0"], "");
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("1 to 2592000 seconds"), "{said}");
    assert!(ws.admin_ok(&["client", "list"], "").contains("app 1"));
}
