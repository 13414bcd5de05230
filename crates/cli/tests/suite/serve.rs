//! `tollgate serve` as a process: demo mode and the README's commands,
//! configuration layering, graceful shutdown, crash durability, and logs
//! that never carry a secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use crate::common::{
    active, admin_token, basic, post_form, repo_root, token, Server, Workspace, BIN,
};

/// The README's quick-start blocks, pasted into bash against `serve --demo`,
/// and the commands the demo banner prints.
#[tokio::test]
async fn readme_quick_start_works_against_the_demo() {
    let server = Server::start(&["--demo".to_owned()], &[]);
    let banner = server.stdout_with("demo-secret");
    assert!(
        banner.contains("demo-client") && banner.contains("demo-secret"),
        "{banner}"
    );
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("B=http://127.0.0.1:8080")
        .expect("README quick start block");
    let blocks: Vec<&str> = readme[start..]
        .split("```sh")
        .take(2)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let script = blocks
        .join("\n")
        .replacen("http://127.0.0.1:8080", &server.base, 1);
    let out = Command::new("bash")
        .args(["-euc", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(json.len(), 5, "{stdout}");
    assert!(
        json[0]["items"].as_array().is_some_and(|a| !a.is_empty()),
        "/locations: {stdout}"
    );
    assert_eq!(
        (json[1]["active"].as_bool(), json[1]["scope"].as_str()),
        (Some(true), Some("locations:read"))
    );
    assert_eq!(json[2], serde_json::json!({}), "revocation: {stdout}");
    assert_eq!(json[3], serde_json::json!({"active": false}));
    assert_eq!(json[4]["data"]["UserId"], "demo", "user details: {stdout}");
    assert!(stdout.contains("HTTP/1.1 401 Unauthorized"), "{stdout}");
    let realm = server
        .base
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let challenge = format!("www-authenticate: Bearer realm=\"{realm}\", error=\"invalid_token\"");
    assert!(
        stdout.to_lowercase().contains(&challenge.to_lowercase()),
        "{stdout}"
    );

    // The banner's own commands, pasted as printed.
    let pasted: Vec<&str> = banner
        .lines()
        .filter(|l| {
            ["  curl", "  TOKEN=", "  ADMIN="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(pasted.len(), 9, "{banner}");
    let out = Command::new("bash")
        .args(["-euc", &pasted.join("\n")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        answers.len(),
        7,
        "two tokens, locations, an introspection, a revocation, clients, usage: {stdout}"
    );
    assert!(answers[0]["access_token"].is_string() && answers[1]["refresh_token"].is_string());
    assert!(answers[2]["items"].is_array());
    assert_eq!(answers[3]["active"], true);
    assert_eq!(answers[4], serde_json::json!({}));
    let clients = answers[5]["items"].as_array().unwrap();
    assert!(
        clients.iter().any(|c| c["client_id"] == "demo-client"),
        "{stdout}"
    );
    assert!(answers[6]["calls"].is_array(), "{stdout}");
    assert!(server.stop(), "clean exit on SIGTERM");
}

#[test]
fn demo_refuses_a_public_listen_address() {
    let out = Command::new(BIN)
        .args(["serve", "--demo", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nno_such_key = 1\n").unwrap();
    for args in [
        vec!["serve", "--config", cfg.to_str().unwrap()],
        vec!["serve", "--config", "/nonexistent/tollgate.toml"],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "mysql://x",
        ],
        vec!["serve", "--listen", "not-an-address"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !err.contains("panicked") && !err.is_empty(),
            "{args:?}: {err}"
        );
    }
}

/// File < environment < flags, shown through the realm in a challenge.
#[tokio::test]
async fn config_file_environment_and_flags_layer() {
    let ws = Workspace::new();
    let cfg = ws.dir.path().join("layered.toml");
    let text = format!(
        "realm = \"file-realm\"\ntoken_ttl = 77\n{}",
        std::fs::read_to_string(ws.config()).unwrap()
    );
    std::fs::write(&cfg, text).unwrap();
    let (id, secret) = ws.create_client(&[]);
    let args = |extra: &[&str]| {
        let mut v = vec![
            "--database".to_owned(),
            ws.database(),
            "--config".to_owned(),
            cfg.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    for (extra, env, want) in [
        (&[][..], &[][..], "file-realm"),
        (&[][..], &[("TOLLGATE_REALM", "env-realm")][..], "env-realm"),
        (
            &["--realm", "flag-realm"][..],
            &[("TOLLGATE_REALM", "env-realm")][..],
            "flag-realm",
        ),
    ] {
        let server = Server::start(&args(extra), env);
        let resp = reqwest::Client::new()
            .post(server.url("/oauth2/token"))
            .header("authorization", basic(&id, "wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["www-authenticate"],
            format!("Basic realm=\"{want}\"").as_str()
        );
        let (_, v) = token(&server, &id, &secret, "grant_type=client_credentials").await;
        assert_eq!(v["expires_in"], 77, "token_ttl from the file");
        assert!(server.stop());
    }
}

/// SIGTERM while a slow request (an expensive password hash) is in flight:
/// the request is answered, then the process exits cleanly.
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let ws = Workspace::new();
    let slow = ws.dir.path().join("slow.toml");
    std::fs::write(
        &slow,
        "[argon2]\nmemory_kib = 65536\niterations = 8\nparallelism = 1\n",
    )
    .unwrap();
    let (id, secret) = ws.create_client(&["--grant", "password"]);
    let mut cmd = Command::new(BIN);
    cmd.args([
        "admin",
        "--database",
        &ws.database(),
        "--config",
        slow.to_str().unwrap(),
    ])
    .args(["user", "create", "--username", "slow", "--password-stdin"]);
    assert!(crate::common::run_with_stdin(cmd, "pw\n").status.success());
    let server = ws.serve(&[]);
    let url = server.url("/oauth2/token");
    let request = tokio::spawn(async move {
        post_form(
            &reqwest::Client::new(),
            &url,
            &basic(&id, &secret),
            &[],
            "grant_type=password&username=slow&password=pw",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.signal("-TERM");
    let (status, v) = request.await.unwrap();
    assert_eq!(status, 200, "in-flight request answered: {v}");
    assert!(server.stop());
}

/// Every token answered with 200 survives `kill -9` of the server.
#[tokio::test]
async fn tokens_answered_survive_kill_9() {
    let ws = Workspace::new();
    let (id, secret) = ws.create_client(&[]);
    let server = ws.serve(&[]);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let url = server.url("/oauth2/token.oauth2");
        let (id, secret) = (id.clone(), secret.clone());
        set.spawn(async move {
            post_form(
                &reqwest::Client::new(),
                &url,
                &basic(&id, &secret),
                &[],
                "grant_type=client_credentials",
            )
            .await
        });
    }
    let mut issued = Vec::new();
    for (status, v) in set.join_all().await {
        assert_eq!(status, 200, "{v}");
        issued.push(v["access_token"].as_str().unwrap().to_owned());
    }
    server.signal("-KILL");
    drop(server);
    let server = ws.serve(&[]);
    for t in &issued {
        assert!(
            active(&server, &id, &secret, t).await,
            "token lost by kill -9"
        );
    }
    assert!(server.stop());
}

/// Runs every flow with trace logging and checks that no secret, password,
/// token or Basic credential appears anywhere in the output.
#[tokio::test]
async fn no_secret_in_any_log_line() {
    let ws = Workspace::new();
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
    let password = "Pa55word-unique-needle";
    ws.admin_ok(
        &["user", "create", "--username", "alice", "--password-stdin"],
        &format!("{password}\n"),
    );
    let cfg = ws.dir.path().join("apis.toml");
    let base = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(&cfg, format!("demo_apis = true\n{base}")).unwrap();
    let args = [
        "--database".to_owned(),
        ws.database(),
        "--config".to_owned(),
        cfg.display().to_string(),
    ];
    let server = Server::start(&args, &[("RUST_LOG", "trace")]);

    let mut needles = vec![secret.clone(), password.to_owned(), basic(&id, &secret)];
    let (_, cc) = token(
        &server,
        &id,
        &secret,
        "grant_type=client_credentials&scope=a",
    )
    .await;
    let (_, pw) = token(
        &server,
        &id,
        &secret,
        &format!("grant_type=password&username=alice&password={password}"),
    )
    .await;
    let refresh = pw["refresh_token"].as_str().unwrap().to_owned();
    let (_, rf) = token(
        &server,
        &id,
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    )
    .await;
    for v in [&cc, &pw, &rf] {
        needles.push(v["access_token"].as_str().unwrap().to_owned());
    }
    needles.push(refresh.clone());
    needles.push(rf["refresh_token"].as_str().unwrap().to_owned());
    // Failures too: wrong secret, wrong password, reused refresh token, a token in the query.
    token(
        &server,
        &id,
        "wrong-secret-needle",
        "grant_type=client_credentials",
    )
    .await;
    token(
        &server,
        &id,
        &secret,
        "grant_type=password&username=alice&password=wrong-pass-needle",
    )
    .await;
    token(
        &server,
        &id,
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    )
    .await;
    needles.extend([
        "wrong-secret-needle".to_owned(),
        "wrong-pass-needle".to_owned(),
    ]);
    let tok = cc["access_token"].as_str().unwrap();
    active(&server, &id, &secret, tok).await;
    let http = reqwest::Client::new();
    // API calls: accepted, refused for scope, refused as unknown.
    let user_tok = pw["access_token"].as_str().unwrap();
    for (t, path) in [
        (tok, "/locations"),
        (user_tok, "/locations"),
        ("tga_unknown-needle", "/locations"),
    ] {
        http.get(server.url(path))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
    }
    let details = "/organization/api/organization/user/allDetails/userId/alice";
    let (_, fresh) = token(
        &server,
        &id,
        &secret,
        &format!("grant_type=password&username=alice&password={password}"),
    )
    .await;
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    needles.push(fresh.clone());
    let r = http
        .get(server.url(details))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    needles.push("tga_unknown-needle".to_owned());
    http.get(server.url(&format!("/healthz?access_token={tok}")))
        .send()
        .await
        .unwrap();
    post_form(
        &http,
        &server.url("/oauth2/revoke.oauth2"),
        &basic(&id, &secret),
        &[],
        &format!("token={tok}"),
    )
    .await;

    // The admin API: a registration (the secret in the answer), a secret
    // rotation, a user with a password, a password change, the quota.
    let (ops, ops_secret) = ws.create_client(&["--scope", "tollgate:admin"]);
    needles.push(ops_secret.clone());
    let admin = admin_token(&server, &ops, &ops_secret).await;
    needles.push(admin.clone());
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, server.url(&format!("/admin/v1{path}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let reg: serde_json::Value = call(
        reqwest::Method::POST,
        "/clients",
        serde_json::json!({"client_name": "n"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let new_id = reg["client_id"].as_str().unwrap().to_owned();
    needles.push(reg["client_secret"].as_str().unwrap().to_owned());
    let rot: serde_json::Value = call(
        reqwest::Method::POST,
        &format!("/clients/{new_id}/secret"),
        serde_json::json!({"grace_secs": 5}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    needles.push(rot["client_secret"].as_str().unwrap().to_owned());
    let admin_pw = "Admin-set-pw-needle";
    call(
        reqwest::Method::POST,
        "/users",
        serde_json::json!({"username": "bob", "password": admin_pw}),
    )
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    call(
        reqwest::Method::PUT,
        "/users/bob/password",
        serde_json::json!({"password": "Changed-pw-needle"}),
    )
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    needles.extend([admin_pw.to_owned(), "Changed-pw-needle".to_owned()]);
    http.get(server.url("/oauth2/quota"))
        .header("authorization", basic(&id, &secret))
        .send()
        .await
        .unwrap();

    let logs = {
        let s = server;
        std::thread::sleep(Duration::from_millis(200));
        let text = s.log_text();
        assert!(s.stop());
        text
    };
    assert!(
        logs.lines().count() > 20,
        "trace logging produced too little to be meaningful"
    );
    for needle in &needles {
        assert!(
            !logs.contains(needle.as_str()),
            "log output contains a secret: {needle}"
        );
    }
}
