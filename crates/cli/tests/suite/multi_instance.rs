//! Several `tollgate serve` processes sharing one PostgreSQL and one Redis
//! (both throwaway, started from the installed binaries), as issue 5
//! describes: shared tokens, revocation, quotas, and failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{active, admin_get, admin_token, basic, post_form, token, Server, BIN};
use tollgate_server::testing::{Postgres, Redis};

struct Cluster {
    pg: Postgres,
    redis: Redis,
    db: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Option<Self> {
        let pg = Postgres::start()?;
        let redis = Redis::start()?;
        let db = pg.fresh_database().await?;
        Some(Self {
            pg,
            redis,
            db,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A config file: cheap argon2, the demo APIs, and `extra`.
    fn config(&self, name: &str, extra: &str) -> String {
        let path = self.dir.path().join(name);
        let text =
            format!("{extra}\n[argon2]\nmemory_kib = 256\niterations = 1\nparallelism = 1\n");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn serve(&self, config: &str) -> Server {
        let args = [
            "--demo",
            "--database",
            &self.db,
            "--redis",
            &self.redis.url(),
            "--config",
            config,
        ];
        Server::start(&args.map(str::to_owned), &[])
    }

    /// `n` instances started at the same moment (migrations and the demo
    /// seed must not trip over each other).
    fn serve_many(&self, n: usize, config: &str) -> Vec<Server> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n).map(|_| s.spawn(|| self.serve(config))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// `tollgate admin client create ... --json` on the shared database.
    fn client(&self, args: &[&str]) -> (String, String) {
        let out = Command::new(BIN)
            .args([
                "admin",
                "--database",
                &self.db,
                "client",
                "create",
                "--name",
                "t",
                "--json",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["client_id"].as_str().unwrap().into(),
            v["client_secret"].as_str().unwrap().into(),
        )
    }
}

async fn access_token(s: &Server, id: &str, secret: &str) -> String {
    let (status, v) = token(
        s,
        id,
        secret,
        "grant_type=client_credentials&scope=locations%3Aread",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn get(s: &Server, path: &str, tok: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(s.url(path))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap()
}

/// How long until every one of `servers` refuses the revoked `tok`; fails
/// the test past one second.
async fn until_refused(servers: &[&Server], tok: &str) -> Duration {
    let started = Instant::now();
    for s in servers {
        while locations(s, tok).await == 200 {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "revoked token still accepted after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    started.elapsed()
}

async fn locations(s: &Server, tok: &str) -> u16 {
    get(s, "/locations", tok).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_tokens_revocations_and_quotas() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    // A slow revision poll: within 1 s, only the Redis channel can deliver a revocation.
    let cfg = c.config("shared.toml", "change_poll_ms = 5000\n[quota]\nburst = 9");
    let servers = c.serve_many(3, &cfg);
    let (a, b, cc) = (&servers[0], &servers[1], &servers[2]);

    // Issued on A: active on B and C, by introspection and by API call.
    let t = access_token(a, "demo-client", "demo-secret").await;
    for s in [b, cc] {
        assert!(active(s, "demo-client", "demo-secret", &t).await);
        assert_eq!(locations(s, &t).await, 200);
    }
    assert_eq!(locations(a, &t).await, 200, "cached on A too");

    // Revoked on B: rejected on A and C within a second, although cached there.
    let (status, _) = post_form(
        &reqwest::Client::new(),
        &b.url("/oauth2/revoke.oauth2"),
        &basic("demo-client", "demo-secret"),
        &[],
        &format!("token={t}"),
    )
    .await;
    assert_eq!(status, 200);
    let took = until_refused(&[a, cc], &t).await;
    eprintln!("revocation reached A and C in {took:?}");

    // --qps 10 (burst 9) hammered on all instances at once: 10 per second in all, not per instance.
    let (id, secret) = c.client(&["--scope", "locations:read", "--qps", "10"]);
    let t = access_token(a, &id, &secret).await;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..60 {
        let url = servers[i % 3].url("/locations");
        let t = t.clone();
        set.spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = set.join_all().await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let bound = 10 + (10.0 * elapsed).ceil() as usize;
    eprintln!("qps 10: {ok} of 60 admitted across 3 instances in {elapsed:.2} s (bound {bound})");
    assert!((10..=bound).contains(&ok), "{ok} admitted, bound {bound}");
    assert!(statuses.iter().all(|&s| s == 200 || s == 429));

    // The per-day quota is shared likewise.
    let (id, secret) = c.client(&["--scope", "locations:read", "--per-day", "5"]);
    let t = access_token(b, &id, &secret).await;
    let mut ok = 0;
    for i in 0..15 {
        if locations(&servers[i % 3], &t).await == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 5, "per-day 5 across three instances");
    for s in servers {
        assert!(s.stop());
    }
}

/// Issue 13: JWT access tokens across instances started together: one
/// signing key for all, tokens from one valid on the others, and a
/// revocation on one refused by all within a second (the slow revision
/// poll leaves that to the store's denylist and the Redis channel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_signing_keys_and_jwt_revocations() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    // One issuer for all, as deploy/tollgate.toml has it (the default is each
    // instance's own address).
    let cfg = c.config(
        "jwt.toml",
        "issuer = \"https://auth.example.test\"\ntoken_format = \"jwt\"\nchange_poll_ms = 5000",
    );
    let servers = c.serve_many(3, &cfg);
    let jwks = |s: &Server| {
        let url = s.url("/.well-known/jwks.json");
        async move {
            let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            v
        }
    };
    let t = access_token(&servers[0], "demo-client", "demo-secret").await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    for s in &servers[1..] {
        let other = access_token(s, "demo-client", "demo-secret").await;
        assert_eq!(
            kid(&other),
            kid(&t),
            "every instance signs with the same key"
        );
        assert_eq!(locations(s, &t).await, 200);
    }
    let first = jwks(&servers[0]).await;
    for s in &servers[1..] {
        assert_eq!(jwks(s).await, first, "one JWKS");
    }

    let (status, _) = post_form(
        &reqwest::Client::new(),
        &servers[1].url("/oauth2/revoke.oauth2"),
        &basic("demo-client", "demo-secret"),
        &[],
        &format!("token={t}"),
    )
    .await;
    assert_eq!(status, 200);
    let took = until_refused(&[&servers[0], &servers[2]], &t).await;
    eprintln!("JWT revocation reached the other instances in {took:?}");
    for s in servers {
        assert!(s.stop());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_redis_postgres_and_an_instance() {
    let Some(mut c) = Cluster::start().await else {
        return;
    };
    let open = c.config("open.toml", "");
    let closed = c.config("closed.toml", "quota_fail_mode = \"closed\"");
    let servers = c.serve_many(2, &open);
    let (a, b) = (&servers[0], &servers[1]);
    let strict = c.serve(&closed);

    // A revocation whose message never comes (written straight into the
    // database, as a lost pub/sub message would leave it): still rejected
    // everywhere within a second, through the store's revision.
    let t = access_token(a, "demo-client", "demo-secret").await;
    for s in [a, b] {
        assert_eq!(locations(s, &t).await, 200);
    }
    let store = tollgate_server::store::open(&c.db).await.unwrap();
    let digest = tollgate_server::oauth::secret::token_key(&t);
    assert!(store.revoke_token(&digest, 0).await.unwrap());
    store.close().await;
    let started = Instant::now();
    for s in [a, b] {
        while locations(s, &t).await == 200 {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "a silently revoked token still accepted after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!(
        "silent revocation reached every instance in {:?}",
        started.elapsed()
    );

    let (id, secret) = c.client(&["--scope", "locations:read", "--qps", "1"]);
    let t = access_token(a, &id, &secret).await;
    assert_eq!(locations(a, &t).await, 200);
    assert_eq!(
        locations(a, &t).await,
        429,
        "quota enforced while Redis is up"
    );

    // Redis down: tokens keep working; quotas fail open, or closed with 503.
    c.redis.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..3 {
        assert_eq!(locations(a, &t).await, 200, "fail open");
    }
    let fresh = access_token(b, &id, &secret).await;
    assert_eq!(locations(b, &fresh).await, 200);
    let r = get(&strict, "/locations", &t).await;
    assert_eq!(r.status(), 503, "fail closed");
    assert!(r.headers().get("retry-after").is_some());
    assert!(quota_store_errors_counted(a).await, "counted");
    // Redis back: quotas hold again, by themselves.
    assert!(c.redis.start_again());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let burst: Vec<u16> = futures_join(a, &t, 3).await;
        if burst.contains(&429) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "quotas did not recover after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // PostgreSQL down: 503 from the token endpoint (never 500, never an
    // unstored token), cached validations still work, not ready.
    let (cached_id, cached_secret) = c.client(&["--scope", "locations:read"]);
    let cached = access_token(a, &cached_id, &cached_secret).await;
    assert_eq!(locations(a, &cached).await, 200);
    assert!(c.pg.stop());
    let (status, body) = token(
        a,
        &cached_id,
        &cached_secret,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    assert_eq!(
        locations(a, &cached).await,
        200,
        "cached validation keeps working"
    );
    let ready = reqwest::get(a.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    // PostgreSQL back: recovery without a restart.
    assert!(c.pg.start_again());
    let deadline = Instant::now() + Duration::from_secs(20);
    while token(
        a,
        &cached_id,
        &cached_secret,
        "grant_type=client_credentials",
    )
    .await
    .0 != 200
    {
        assert!(Instant::now() < deadline, "token endpoint did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(reqwest::get(a.url("/readyz")).await.unwrap().status(), 200);

    // One instance killed with -9 in the middle of load: the other keeps
    // serving, and every token answered 200 anywhere stays valid.
    let (lid, lsecret) = c.client(&["--scope", "locations:read"]);
    let mut issued = Vec::new();
    let victim = &servers[1];
    for i in 0..60 {
        let target = if i % 2 == 0 { a } else { victim };
        if i == 30 {
            victim.signal("-KILL");
        }
        let (status, v) = try_token(target, &lid, &lsecret).await;
        if status == 200 {
            issued.push(v["access_token"].as_str().unwrap().to_owned());
        } else if std::ptr::eq(target, a) {
            panic!("the surviving instance failed: {status} {v}");
        }
    }
    assert!(issued.len() >= 45, "only {} tokens issued", issued.len());
    for t in &issued {
        assert!(
            active(a, &lid, &lsecret, t).await,
            "a token answered with 200 was lost"
        );
    }
    drop(servers);
    assert!(strict.stop());
}

async fn futures_join(s: &Server, t: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (url, t) = (s.url("/locations"), t.to_owned());
        set.spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        });
    }
    set.join_all().await
}

/// A token request that reports a refused connection (a killed instance) as status 0.
async fn try_token(s: &Server, id: &str, secret: &str) -> (u16, serde_json::Value) {
    let sent = reqwest::Client::new()
        .post(s.url("/oauth2/token.oauth2"))
        .header("authorization", basic(id, secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    match sent {
        Ok(r) => (
            r.status().as_u16(),
            r.json().await.unwrap_or(serde_json::Value::Null),
        ),
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// Issue 10: Redis killed and restarted under load. A client well within
/// its quota is never refused, before, during or after; while Redis is away
/// the calls decide at once (fail open) instead of waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_and_coming_back_refuses_no_one() {
    let Some(mut c) = Cluster::start().await else {
        return;
    };
    let servers = c.serve_many(2, &c.config("open.toml", ""));
    let (id, secret) = c.client(&["--scope", "locations:read", "--qps", "1000"]);
    let t = access_token(&servers[0], &id, &secret).await;
    let http = reqwest::Client::new();
    let urls: Vec<String> = servers.iter().map(|s| s.url("/locations")).collect();

    // ~50 requests a second (5% of the quota) for 7 s, alternating instances;
    // Redis is killed at 2 s and back at 4 s.
    #[derive(Clone, Copy, PartialEq)]
    enum Phase {
        Before,
        Away,
        Back,
    }
    let started = Instant::now();
    let mut seen: Vec<(Phase, u16, Duration)> = Vec::new();
    let mut killed = false;
    let mut restarted = false;
    for i in 0..350usize {
        let at = started.elapsed();
        if !killed && at >= Duration::from_secs(2) {
            c.redis.stop();
            killed = true;
        }
        if !restarted && at >= Duration::from_secs(4) {
            assert!(c.redis.start_again());
            restarted = true;
        }
        let phase = match (killed, restarted) {
            (false, _) => Phase::Before,
            (true, false) => Phase::Away,
            (true, true) => Phase::Back,
        };
        let t0 = Instant::now();
        let r = http.get(&urls[i % 2]).bearer_auth(&t).send().await.unwrap();
        seen.push((phase, r.status().as_u16(), t0.elapsed()));
        let next = started + Duration::from_millis(20 * (i as u64 + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    let refused: Vec<_> = seen.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(
        refused.is_empty(),
        "{} of {} calls refused: {:?}",
        refused.len(),
        seen.len(),
        refused.iter().map(|(_, s, _)| *s).collect::<Vec<_>>()
    );
    let p95 = |phase: Phase| {
        let mut v: Vec<Duration> = seen
            .iter()
            .filter(|(p, _, _)| *p == phase)
            .map(|(_, _, d)| *d)
            .collect();
        v.sort();
        v[v.len() * 95 / 100]
    };
    let (before, away, back) = (p95(Phase::Before), p95(Phase::Away), p95(Phase::Back));
    eprintln!("p95 latency: before {before:?}, Redis away {away:?}, back {back:?}");
    assert!(
        away <= before + Duration::from_millis(5),
        "while Redis is away calls decide at once: p95 {away:?} vs {before:?} before"
    );
    // Quotas are Redis's again once it is back.
    assert!(
        quota_store_errors_counted(&servers[0]).await,
        "the outage was noticed"
    );
    for s in servers {
        assert!(s.stop());
    }
}

/// Whether `/metrics` counts quota decisions made without Redis.
async fn quota_store_errors_counted(s: &Server) -> bool {
    let m = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .any(|l| l.starts_with("tollgate_quota_store_errors_total ") && !l.ends_with(" 0"))
}

/// Usage counted by two instances adds up in the shared database, and a
/// secret rotated with a grace period through one instance's admin API
/// works on the other until the period ends, then is refused there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_add_up_usage_and_share_a_secret_grace_period() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let config = c.config("usage.toml", "usage_flush_ms = 100");
    let servers = c.serve_many(2, &config);
    let (a, b) = (&servers[0], &servers[1]);
    let (id, secret) = c.client(&["--scope", "locations:read"]);
    let tok = access_token(a, &id, &secret).await;
    for (s, n) in [(a, 3), (b, 2)] {
        for _ in 0..n {
            assert_eq!(locations(s, &tok).await, 200);
        }
    }
    let (ops, ops_secret) = c.client(&["--scope", "tollgate:admin"]);
    let admin = admin_token(a, &ops, &ops_secret).await;
    let started = Instant::now();
    loop {
        let report = admin_get(b, &admin, &format!("/usage?client_id={id}")).await;
        let admitted: u64 = report["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["admitted"].as_u64().unwrap())
            .sum();
        if admitted == 5 {
            break;
        }
        assert!(admitted < 5, "{report}");
        assert!(started.elapsed() < Duration::from_secs(5), "{report}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let rotated: serde_json::Value = reqwest::Client::new()
        .post(a.url(&format!("/admin/v1/clients/{id}/secret")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "grace_secs": 2 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    let cc = "grant_type=client_credentials";
    assert_eq!(token(b, &id, &secret, cc).await.0, 200, "old, in its grace");
    assert_eq!(token(b, &id, &new_secret, cc).await.0, 200, "new, at once");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(token(b, &id, &secret, cc).await.0, 401, "old, after it");
    assert_eq!(token(a, &id, &secret, cc).await.0, 401);
    assert_eq!(token(b, &id, &new_secret, cc).await.0, 200);
    for s in servers {
        assert!(s.stop());
    }
}
