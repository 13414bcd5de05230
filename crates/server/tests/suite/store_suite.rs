//! The store's test suite, one suite run against every backend: SQLite in
//! a temp file, and PostgreSQL in a throwaway cluster started from the
//! installed binaries (skipped, loudly, only where they are absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use tollgate_proto::admin::Role;
use tollgate_proto::client::{AuthMethod, ClientSettings, TokenFormat};
use tollgate_proto::jose::SigningAlg;
use tollgate_proto::{GrantType, Scope};
use tollgate_server::store::{
    self, AuditQuery, AuditRecord, AuthCode, CallUsage, Client, ClientFilter, ClientState, CodeUse,
    JwtState, PreviousSecret, Rotation, Session, SigningKey, Store, StoreError, TokenKind,
    TokenRecord, TokenUsage, UsageQuery, User, UserUpdate,
};
use tollgate_server::testing::Postgres;

use crate::common::enabled;

/// Each case as a test of its own on each backend: `sqlite::clients`,
/// `postgres::clients`, ...
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_sqlite(super::$case).await;
                }
            )*
        }
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_sqlite_memory(super::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_postgres(super::$case).await;
                }
            )*
        }
    };
}

on_every_backend!(
    clients,
    users,
    tokens,
    rotation,
    concurrent_rotation,
    concurrent_inserts,
    large_batches,
    writes_during_token_load,
    revision,
    signing_keys,
    jwt_denylist,
    codes_consents_sessions,
    admin_pages_and_deletion,
    usage_and_audit,
);

/// Runs `case` on a new SQLite database in a temp file.
async fn on_sqlite<F: std::future::Future<Output = ()>>(case: fn(Arc<dyn Store>) -> F) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    case(store.clone()).await;
    store.close().await;
}

/// Runs `case` on a new in-memory SQLite database (one connection for
/// everything, token inserts included).
async fn on_sqlite_memory<F: std::future::Future<Output = ()>>(case: fn(Arc<dyn Store>) -> F) {
    let store = store::open("sqlite::memory:").await.unwrap();
    case(store.clone()).await;
    store.close().await;
}

/// Runs `case` on a new database of the PostgreSQL cluster the tests share.
async fn on_postgres<F: std::future::Future<Output = ()>>(case: fn(Arc<dyn Store>) -> F) {
    let Some(pg) = Postgres::shared() else { return };
    let url = pg.fresh_database().await.expect("create database");
    let store = store::open(&url).await.unwrap();
    case(store.clone()).await;
    store.close().await;
}

/// A server starting while `tollgate admin` runs: both open (and migrate)
/// a new SQLite database at the same moment, and both must get it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_opened_by_several_at_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let (a, b, c) = tokio::join!(store::open(&url), store::open(&url), store::open(&url));
        for s in [a, b, c] {
            let s = s.unwrap();
            assert!(s.list_clients().await.unwrap().is_empty());
            s.close().await;
        }
    }
}

fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        settings: ClientSettings {
            client_name: format!("client {id}"),
            scope: "a b".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials, GrantType::Password]
                .into_iter()
                .collect(),
            auth_method: AuthMethod::Basic,
            token_ttl: Some(60),
            qps: Some(5),
            per_day: None,
            introspect_any: false,
            token_format: Some(TokenFormat::Jwt),
            audience: Some("https://api.example".into()),
            redirect_uris: vec![
                "http://127.0.0.1/cb".into(),
                "https://app.example/cb".into(),
            ],
            public: false,
            first_party: true,
            default_max_age: Some(300),
            id_token_signed_response_alg: Some(tollgate_proto::jose::SigningAlg::EdDSA),
            userinfo_signed_response_alg: Some(tollgate_proto::jose::SigningAlg::ES256),
            allowed_cors_origins: vec!["https://spa.example".into()],
            description: "for <tests>".into(),
        },
        secret_hash: [7; 32],
        enabled: true,
        created_at: 1000,
        previous_secret: None,
        owner: Some("dev".into()),
        requested_scopes: "c".parse().unwrap(),
    }
}

/// `update_client` with an edit that always applies.
async fn edit(s: &dyn Store, id: &str, now: i64, f: impl Fn(&mut Client) + Send + Sync) {
    let stored = s
        .update_client(id, now, &mut |c: &mut Client| {
            f(c);
            true
        })
        .await
        .unwrap();
    assert!(stored.is_some());
}

fn user(name: &str) -> User {
    User {
        username: name.into(),
        password_hash: "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$aGFzaA".into(),
        full_name: Some("Zoë".into()),
        email: None,
        enabled: true,
        created_at: 1000,
        roles: vec![Role::Developer],
    }
}

fn token(
    n: u8,
    client: &str,
    user: Option<&str>,
    family: &str,
    kind: TokenKind,
    exp: i64,
) -> TokenRecord {
    TokenRecord {
        hash: [n; 32],
        kind,
        client_id: client.into(),
        username: user.map(str::to_owned),
        scope: "a".parse().unwrap(),
        grant_type: if user.is_some() {
            GrantType::Password
        } else {
            GrantType::ClientCredentials
        },
        issued_at: 1000,
        expires_at: exp,
        family_id: family.into(),
        rotated_at: None,
        revoked_at: None,
    }
}

async fn clients(s: Arc<dyn Store>) {
    s.create_client(&client("c1")).await.unwrap();
    s.create_client(&client("c2")).await.unwrap();
    assert!(matches!(
        s.create_client(&client("c1")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_client("c1").await.unwrap(), Some(client("c1")));
    assert_eq!(s.get_client("nope").await.unwrap(), None);
    let ids: Vec<String> = s
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    let change = |c: &mut Client| {
        c.settings.scope = "x".parse().unwrap();
        c.enabled = false;
        c.secret_hash = [9; 32];
        c.settings.qps = None;
        c.settings.grant_types = BTreeSet::from([GrantType::RefreshToken]);
    };
    edit(s.as_ref(), "c1", 2000, change).await;
    let c = s.get_client("c1").await.unwrap().unwrap();
    assert_eq!(
        (
            c.settings.scope.to_string(),
            c.enabled,
            c.secret_hash,
            c.settings.qps
        ),
        ("x".into(), false, [9; 32], None)
    );
    assert_eq!(
        c.settings.grant_types,
        BTreeSet::from([GrantType::RefreshToken])
    );
    assert_eq!(c.settings.token_ttl, Some(60), "untouched fields stay");
    assert_eq!(c.settings.token_format, Some(TokenFormat::Jwt));
    edit(s.as_ref(), "c1", 2001, |c| {
        c.settings.token_format = None;
        c.settings.audience = None;
    })
    .await;
    let c = s.get_client("c1").await.unwrap().unwrap();
    assert_eq!((c.settings.token_format, c.settings.audience), (None, None));
    let mut decline = |c: &mut Client| {
        c.enabled = true;
        false
    };
    let declined = s.update_client("c1", 2002, &mut decline).await;
    assert_eq!(declined.unwrap(), None, "an edit that declines");
    assert!(
        !s.get_client("c1").await.unwrap().unwrap().enabled,
        "stores nothing"
    );
    assert!(matches!(
        s.update_client("nope", 0, &mut |_| true).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn users(s: Arc<dyn Store>) {
    s.create_user(&user("bob")).await.unwrap();
    s.create_user(&user("alice")).await.unwrap();
    assert!(matches!(
        s.create_user(&user("bob")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.get_user("bob").await.unwrap().map(|u| u.full_name),
        Some(Some("Zoë".into()))
    );
    let names: Vec<String> = s
        .list_users_page(None, 100, None)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    s.update_user("bob", &enabled(false), 1).await.unwrap();
    s.set_user_password("bob", "new-hash", 1).await.unwrap();
    let bob = s.get_user("bob").await.unwrap().unwrap();
    assert_eq!(
        (bob.enabled, bob.password_hash.as_str()),
        (false, "new-hash")
    );
    assert!(matches!(
        s.update_user("ghost", &enabled(true), 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.set_user_password("ghost", "h", 1).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn tokens(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    s.create_user(&user("u")).await.unwrap();
    s.insert_tokens(vec![
        token(1, "c", None, "f1", TokenKind::Access, 5000),
        token(2, "c", Some("u"), "f2", TokenKind::Access, 5000),
        token(3, "c", Some("u"), "f2", TokenKind::Refresh, 9000),
        token(4, "c", None, "f3", TokenKind::Access, 100),
    ])
    .await
    .unwrap();
    let l = s.find_token(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(
        l.token,
        token(2, "c", Some("u"), "f2", TokenKind::Access, 5000)
    );
    assert_eq!(
        (
            l.client_enabled,
            l.user_enabled,
            l.client_qps,
            l.client_per_day
        ),
        (true, Some(true), Some(5), None)
    );
    assert_eq!(
        s.find_token(&[1; 32]).await.unwrap().unwrap().user_enabled,
        None
    );
    assert!(s.find_token(&[99; 32]).await.unwrap().is_none());
    // A duplicate digest is refused, and nothing of that batch is stored.
    assert!(s
        .insert_tokens(vec![
            token(5, "c", None, "f5", TokenKind::Access, 5000),
            token(1, "c", None, "f1", TokenKind::Access, 5000)
        ])
        .await
        .is_err());
    assert!(
        s.find_token(&[5; 32]).await.unwrap().is_none(),
        "batch is atomic"
    );
    // A token of a client that does not exist is refused (foreign key).
    assert!(s
        .insert_tokens(vec![token(6, "ghost", None, "f6", TokenKind::Access, 5000)])
        .await
        .is_err());
    s.update_user("u", &enabled(false), 1).await.unwrap();
    assert_eq!(
        s.find_token(&[2; 32]).await.unwrap().unwrap().user_enabled,
        Some(false)
    );
    assert!(s.revoke_token(&[1; 32], 7).await.unwrap());
    assert!(
        !s.revoke_token(&[1; 32], 8).await.unwrap(),
        "already revoked"
    );
    assert_eq!(
        s.find_token(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .token
            .revoked_at,
        Some(7)
    );
    assert_eq!(s.revoke_family("f2", 9).await.unwrap(), 2);
    assert_eq!(s.sweep_expired(4000).await.unwrap(), 1);
    assert!(s.find_token(&[4; 32]).await.unwrap().is_none());
}

async fn rotation(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    s.insert_tokens(vec![token(1, "c", None, "f", TokenKind::Refresh, 9000)])
        .await
        .unwrap();
    let next = vec![
        token(2, "c", None, "f", TokenKind::Access, 5000),
        token(3, "c", None, "f", TokenKind::Refresh, 9000),
    ];
    assert_eq!(
        s.rotate_refresh(&[1; 32], 10, next.clone()).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        s.find_token(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .token
            .rotated_at,
        Some(10)
    );
    assert!(s.find_token(&[3; 32]).await.unwrap().is_some());
    let again = vec![token(4, "c", None, "f", TokenKind::Access, 5000)];
    assert_eq!(
        s.rotate_refresh(&[1; 32], 11, again).await.unwrap(),
        Rotation::AlreadyUsed
    );
    assert!(
        s.find_token(&[4; 32]).await.unwrap().is_none(),
        "nothing stored on reuse"
    );
    s.revoke_token(&[3; 32], 12).await.unwrap();
    let after_revoke = vec![token(5, "c", None, "f", TokenKind::Access, 5000)];
    assert_eq!(
        s.rotate_refresh(&[3; 32], 13, after_revoke).await.unwrap(),
        Rotation::AlreadyUsed
    );
}

async fn concurrent_rotation(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    s.insert_tokens(vec![token(1, "c", None, "f", TokenKind::Refresh, 9000)])
        .await
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8u8 {
        let s = s.clone();
        set.spawn(async move {
            s.rotate_refresh(
                &[1; 32],
                10,
                vec![token(10 + i, "c", None, "f", TokenKind::Refresh, 9000)],
            )
            .await
        });
    }
    let outcomes = set.join_all().await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Rotation::Rotated)))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
}

async fn concurrent_inserts(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200u16 {
        let s = s.clone();
        set.spawn(async move {
            let mut t = token(0, "c", None, "f", TokenKind::Access, 5000);
            t.hash[..2].copy_from_slice(&i.to_be_bytes());
            t.hash[31] = 1;
            s.insert_tokens(vec![t]).await
        });
    }
    assert!(set.join_all().await.iter().all(Result::is_ok));
    for i in 0..200u16 {
        let mut h = [0u8; 32];
        h[..2].copy_from_slice(&i.to_be_bytes());
        h[31] = 1;
        assert!(s.find_token(&h).await.unwrap().is_some(), "token {i} lost");
    }
}

/// A batch past what one statement carries (1,000 rows) is stored whole,
/// by an insert and by a rotation's successors.
async fn large_batches(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    let numbered = |i: u16, kind| {
        let mut t = token(0, "c", None, "f", kind, 5000);
        t.hash[..2].copy_from_slice(&i.to_be_bytes());
        t.hash[31] = 2;
        t
    };
    s.insert_tokens((0..2500).map(|i| numbered(i, TokenKind::Refresh)).collect())
        .await
        .unwrap();
    let successors = (2500..4000)
        .map(|i| numbered(i, TokenKind::Access))
        .collect();
    let old = numbered(0, TokenKind::Refresh).hash;
    assert_eq!(
        s.rotate_refresh(&old, 2000, successors).await.unwrap(),
        Rotation::Rotated
    );
    for i in 0..4000u16 {
        let found = s
            .find_token(&numbered(i, TokenKind::Access).hash)
            .await
            .unwrap();
        assert!(found.is_some(), "token {i} lost");
    }
}

/// Token inserts back to back (the hot write, group-committed) do not keep
/// the other writes out: each of those succeeds while the inserts run, and
/// every row of both kinds is there afterwards.
async fn writes_during_token_load(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    s.create_user(&user("u")).await.unwrap();
    let loaders: Vec<_> = (0..8u8)
        .map(|worker| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..150u16 {
                    let mut t = token(0, "c", None, "load", TokenKind::Access, 5000);
                    t.hash[0] = worker;
                    t.hash[1..3].copy_from_slice(&i.to_be_bytes());
                    t.hash[31] = 2;
                    s.insert_tokens(vec![t]).await.unwrap();
                }
            })
        })
        .collect();
    for i in 0..40i64 {
        let mut t = token(0, "c", Some("u"), "other", TokenKind::Refresh, 9000);
        t.hash[0] = 200;
        t.hash[1..9].copy_from_slice(&i.to_be_bytes());
        s.insert_tokens(vec![t.clone()]).await.unwrap();
        assert!(s.revoke_token(&t.hash, 10 + i).await.unwrap());
        s.update_user("u", &enabled(i % 2 == 0), 10 + i)
            .await
            .unwrap();
        s.append_audit(&AuditRecord {
            id: 0,
            at: i,
            actor: "test".into(),
            action: "write".into(),
            target: format!("t{i}"),
            detail: String::new(),
        })
        .await
        .unwrap();
    }
    for l in loaders {
        l.await.unwrap();
    }
    for worker in 0..8u8 {
        for i in 0..150u16 {
            let mut h = [0u8; 32];
            h[0] = worker;
            h[1..3].copy_from_slice(&i.to_be_bytes());
            h[31] = 2;
            assert!(
                s.find_token(&h).await.unwrap().is_some(),
                "token {worker}/{i} lost"
            );
        }
    }
    let page = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let audit = s.audit_log(&page).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.actor == "test").count(), 40);
}

async fn revision(s: Arc<dyn Store>) {
    let r0 = s.revision().await.unwrap();
    s.create_client(&client("c")).await.unwrap();
    s.create_user(&user("u")).await.unwrap();
    s.insert_tokens(vec![token(1, "c", None, "f", TokenKind::Access, 5000)])
        .await
        .unwrap();
    assert_eq!(
        s.revision().await.unwrap(),
        r0,
        "creating and issuing do not invalidate caches"
    );
    edit(s.as_ref(), "c", 1, |c| c.enabled = false).await;
    let r1 = s.revision().await.unwrap();
    assert!(r1 > r0);
    s.update_user("u", &enabled(false), 1).await.unwrap();
    let r2 = s.revision().await.unwrap();
    assert!(r2 > r1);
    s.revoke_token(&[1; 32], 2).await.unwrap();
    assert!(s.revision().await.unwrap() > r2);
}

fn key(kid: &str, created_at: i64) -> SigningKey {
    SigningKey {
        kid: kid.into(),
        alg: SigningAlg::ES256,
        private_der: vec![1, 2, 3],
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at,
        signs_from: created_at + 10,
        retired_at: None,
        published_until: None,
    }
}

async fn signing_keys(s: Arc<dyn Store>) {
    assert!(s.signing_keys().await.unwrap().is_empty());
    let r0 = s.revision().await.unwrap();
    s.insert_signing_key(&key("k2", 200), Some(0))
        .await
        .unwrap();
    s.insert_signing_key(&key("k1", 100), None).await.unwrap();
    assert!(matches!(
        s.insert_signing_key(&key("k1", 300), None).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        matches!(
            s.insert_signing_key(&key("k3", 300), Some(0)).await,
            Err(StoreError::Conflict(_))
        ),
        "one automatic key per slot"
    );
    let r1 = s.revision().await.unwrap();
    assert!(r1 > r0, "other instances reload their keys");
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(
        keys,
        [key("k1", 100), key("k2", 200)],
        "oldest first, intact"
    );
    s.retire_signing_key("k1", 500, 4100).await.unwrap();
    assert!(s.revision().await.unwrap() > r1);
    let k1 = &s.signing_keys().await.unwrap()[0];
    assert_eq!((k1.retired_at, k1.published_until), (Some(500), Some(4100)));
    assert!(matches!(
        s.retire_signing_key("k1", 600, 4200).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.retire_signing_key("nope", 600, 4200).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        !format!("{k1:?}").contains("private_der"),
        "Debug hides the key"
    );
}

async fn jwt_denylist(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    s.create_user(&user("u")).await.unwrap();
    let state = |user: Option<&'static str>, ids: [&'static str; 2]| {
        let s = s.clone();
        async move { s.jwt_state("c", user, ids).await.unwrap() }
    };
    let live = JwtState {
        client: Some(ClientState {
            enabled: true,
            qps: Some(5),
            per_day: None,
        }),
        user_enabled: Some(true),
        denied: false,
    };
    assert_eq!(state(Some("u"), ["jti:1", "sid:f"]).await, live);
    assert_eq!(
        state(None, ["jti:1", "sid:f"]).await.user_enabled,
        None,
        "no user asked"
    );
    assert_eq!(
        s.jwt_state("nope", None, ["jti:1", "sid:f"])
            .await
            .unwrap()
            .client,
        None
    );
    let r0 = s.revision().await.unwrap();
    s.deny_jwt("jti:1", 5000).await.unwrap();
    s.deny_jwt("jti:1", 5000).await.unwrap();
    assert!(
        s.revision().await.unwrap() > r0,
        "other instances drop caches"
    );
    assert!(state(Some("u"), ["jti:1", "sid:f"]).await.denied);
    assert!(!state(Some("u"), ["jti:2", "sid:f"]).await.denied);
    s.deny_jwt("sid:f", 9000).await.unwrap();
    assert!(state(Some("u"), ["jti:2", "sid:f"]).await.denied);
    s.update_user("u", &enabled(false), 1).await.unwrap();
    assert_eq!(
        state(Some("u"), ["jti:3", "sid:g"]).await.user_enabled,
        Some(false)
    );
    assert_eq!(s.sweep_expired(6000).await.unwrap(), 1, "jti:1 swept");
    assert!(!state(Some("u"), ["jti:1", "sid:x"]).await.denied);
    assert!(state(Some("u"), ["jti:9", "sid:f"]).await.denied);
}

async fn codes_consents_sessions(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    let c = s.get_client("c").await.unwrap().unwrap();
    assert_eq!(
        c.settings.redirect_uris,
        ["http://127.0.0.1/cb", "https://app.example/cb"]
    );
    assert!(c.settings.first_party && !c.settings.public);
    let code = AuthCode {
        hash: [4; 32],
        client_id: "c".into(),
        username: "u".into(),
        redirect_uri: "http://127.0.0.1:5000/cb".into(),
        redirect_given: true,
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        scope: "a openid".parse().unwrap(),
        nonce: Some("n-1".into()),
        auth_time: 900,
        family_id: "fam".into(),
        expires_at: 1060,
        used_at: None,
    };
    s.insert_code(&code).await.unwrap();
    let used = AuthCode {
        used_at: Some(1001),
        ..code.clone()
    };
    assert_eq!(
        s.use_code(&[4; 32], 1001).await.unwrap(),
        CodeUse::Fresh(used.clone())
    );
    assert_eq!(
        s.use_code(&[4; 32], 1002).await.unwrap(),
        CodeUse::Replayed(used)
    );
    assert_eq!(s.use_code(&[5; 32], 1002).await.unwrap(), CodeUse::Unknown);

    assert_eq!(s.consent("u", "c").await.unwrap(), None);
    s.save_consent("u", "c", &"a".parse().unwrap(), 1)
        .await
        .unwrap();
    s.save_consent("u", "c", &"a b".parse().unwrap(), 2)
        .await
        .unwrap();
    assert_eq!(
        s.consent("u", "c").await.unwrap(),
        Some("a b".parse().unwrap())
    );

    let session = Session {
        username: "u".into(),
        auth_time: 1000,
        expires_at: 5000,
    };
    s.create_session(&[6; 32], &session).await.unwrap();
    assert_eq!(s.get_session(&[6; 32]).await.unwrap(), Some(session));
    s.sweep_expired(6000).await.unwrap();
    assert_eq!(
        s.get_session(&[6; 32]).await.unwrap(),
        None,
        "swept after expiry"
    );
    assert_eq!(
        s.use_code(&[4; 32], 7000).await.unwrap(),
        CodeUse::Unknown,
        "swept"
    );
    let later = Session {
        username: "u".into(),
        auth_time: 8000,
        expires_at: 9000,
    };
    s.create_session(&[7; 32], &later).await.unwrap();
    s.create_session(&[8; 32], &later).await.unwrap();
    assert_eq!(s.delete_user_sessions("u").await.unwrap(), 2);
    assert_eq!(s.get_session(&[7; 32]).await.unwrap(), None);
    assert_eq!(s.get_session(&[8; 32]).await.unwrap(), None);
    assert_eq!(s.delete_user_sessions("u").await.unwrap(), 0);
}

async fn admin_pages_and_deletion(s: Arc<dyn Store>) {
    for (id, name, enabled) in [
        ("a1", "Ann's 100%_app", true),
        ("b2", "Bob", false),
        ("c3", "bobcat", true),
    ] {
        let mut c = client(id);
        c.settings.client_name = name.into();
        c.enabled = enabled;
        c.settings.grant_types = BTreeSet::from([if id == "c3" {
            GrantType::Password
        } else {
            GrantType::ClientCredentials
        }]);
        if id == "b2" {
            c.owner = None;
            c.requested_scopes = Scope::empty();
        }
        s.create_client(&c).await.unwrap();
    }
    fn ids(v: Vec<Client>) -> Vec<String> {
        v.into_iter().map(|c| c.client_id).collect()
    }
    let page = |after: Option<&str>, limit| ClientFilter {
        after: after.map(str::to_owned),
        limit,
        ..ClientFilter::default()
    };
    assert_eq!(
        ids(s.list_clients_page(&page(None, 2)).await.unwrap()),
        ["a1", "b2"]
    );
    assert_eq!(
        ids(s.list_clients_page(&page(Some("b2"), 2)).await.unwrap()),
        ["c3"]
    );
    let by = |f: ClientFilter| {
        let s = s.clone();
        async move { ids(s.list_clients_page(&f).await.unwrap()) }
    };
    let name = |n: &str| ClientFilter {
        name: Some(n.into()),
        limit: 10,
        ..ClientFilter::default()
    };
    assert_eq!(by(name("BOB")).await, ["b2", "c3"], "any case");
    assert_eq!(by(name("100%_")).await, ["a1"], "wildcards are literal");
    assert!(by(name("1000")).await.is_empty());
    let off = ClientFilter {
        enabled: Some(false),
        limit: 10,
        ..ClientFilter::default()
    };
    assert_eq!(by(off).await, ["b2"]);
    let grant = ClientFilter {
        grant: Some(GrantType::Password),
        limit: 10,
        ..ClientFilter::default()
    };
    assert_eq!(by(grant).await, ["c3"]);
    let owned = |o: &str| ClientFilter {
        owner: Some(o.into()),
        limit: 10,
        ..ClientFilter::default()
    };
    assert_eq!(by(owned("dev")).await, ["a1", "c3"], "a developer's own");
    assert!(by(owned("de")).await.is_empty(), "the whole name");
    let pending = ClientFilter {
        pending: true,
        limit: 10,
        ..ClientFilter::default()
    };
    assert_eq!(by(pending).await, ["a1", "c3"], "scopes awaiting approval");
    // The portal's fields round-trip and can be changed.
    let a1 = s.get_client("a1").await.unwrap().unwrap();
    assert_eq!(
        (a1.owner.as_deref(), a1.settings.description.as_str()),
        (Some("dev"), "for <tests>")
    );
    assert_eq!(a1.requested_scopes.to_string(), "c");
    edit(s.as_ref(), "a1", 5, |c| {
        c.requested_scopes = Scope::empty();
        c.settings.description = String::new();
        c.owner = Some("other".into());
    })
    .await;
    let a1 = s.get_client("a1").await.unwrap().unwrap();
    assert_eq!(
        (a1.owner.as_deref(), a1.settings.description.as_str()),
        (Some("other"), "")
    );
    assert!(a1.requested_scopes.is_empty());

    // A previous secret round-trips; deletion takes the client's tokens too.
    edit(s.as_ref(), "a1", 5, |c| {
        c.previous_secret = Some(PreviousSecret {
            hash: [7; 32],
            until: 99,
        });
    })
    .await;
    let a1 = s.get_client("a1").await.unwrap().unwrap();
    assert_eq!(
        a1.previous_secret,
        Some(PreviousSecret {
            hash: [7; 32],
            until: 99
        })
    );
    s.insert_tokens(vec![token(4, "a1", None, "f", TokenKind::Access, 9999)])
        .await
        .unwrap();
    let before = s.revision().await.unwrap();
    s.delete_client("a1").await.unwrap();
    assert!(
        s.revision().await.unwrap() > before,
        "a deletion bumps the revision"
    );
    assert_eq!(s.get_client("a1").await.unwrap(), None);
    assert_eq!(s.find_token(&[4; 32]).await.unwrap(), None);
    assert!(matches!(
        s.delete_client("a1").await,
        Err(StoreError::NotFound(_))
    ));

    // Users: pages and partial updates.
    for name in ["u1", "u2", "u3"] {
        s.create_user(&user(name)).await.unwrap();
    }
    let names = |v: Vec<User>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_users_page(None, 2, None).await.unwrap()),
        ["u1", "u2"]
    );
    assert_eq!(
        names(s.list_users_page(Some("u2"), 2, None).await.unwrap()),
        ["u3"]
    );
    assert_eq!(
        names(s.list_users_page(None, 10, Some("U2")).await.unwrap()),
        ["u2"],
        "by username, any case"
    );
    assert_eq!(
        names(s.list_users_page(None, 10, Some("zo")).await.unwrap()),
        ["u1", "u2", "u3"],
        "by full name"
    );
    assert!(
        s.list_users_page(None, 10, Some("%"))
            .await
            .unwrap()
            .is_empty(),
        "wildcards are literal"
    );
    assert_eq!(
        s.get_user("u1").await.unwrap().unwrap().roles,
        [Role::Developer]
    );
    let update = UserUpdate {
        email: Some(Some("u1@example.com".into())),
        full_name: Some(None),
        enabled: None,
        roles: None,
    };
    s.update_user("u1", &update, 7).await.unwrap();
    let u1 = s.get_user("u1").await.unwrap().unwrap();
    assert_eq!(u1.roles, [Role::Developer], "untouched roles stay");
    let promote = UserUpdate {
        roles: Some(vec![Role::Admin, Role::Developer]),
        ..UserUpdate::default()
    };
    s.update_user("u2", &promote, 8).await.unwrap();
    assert_eq!(
        s.get_user("u2").await.unwrap().unwrap().roles,
        [Role::Admin, Role::Developer]
    );
    assert_eq!(
        (u1.email.as_deref(), u1.full_name, u1.enabled),
        (Some("u1@example.com"), None, true)
    );
    assert!(matches!(
        s.update_user("ghost", &update, 7).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn usage_and_audit(s: Arc<dyn Store>) {
    let call = |client: &str, day: &str, admitted| CallUsage {
        client_id: client.into(),
        day: day.into(),
        route: "/locations".into(),
        admitted,
        rejected_per_second: 1,
        rejected_per_day: 0,
    };
    let tok = TokenUsage {
        client_id: "a".into(),
        day: "2026-11-23".into(),
        grant_type: "client_credentials".into(),
        outcome: "issued".into(),
        count: 2,
    };
    // Two flushes of the same rows (two instances) add up.
    for _ in 0..2 {
        s.add_usage(
            &[
                call("a", "2026-11-23", 5),
                call("b", "2026-11-23", 1),
                call("a", "2026-11-24", 3),
            ],
            std::slice::from_ref(&tok),
        )
        .await
        .unwrap();
    }
    let q = |client: Option<&str>, from: &str, to: &str| UsageQuery {
        client_id: client.map(str::to_owned),
        from: from.into(),
        to: to.into(),
    };
    let (calls, tokens) = s
        .usage(&q(Some("a"), "2026-11-23", "2026-11-23"))
        .await
        .unwrap();
    assert_eq!(
        calls,
        [CallUsage {
            admitted: 10,
            rejected_per_second: 2,
            ..call("a", "2026-11-23", 0)
        }]
    );
    assert_eq!(tokens[0].count, 4);
    let (calls, _) = s.usage(&q(None, "2026-11-01", "2026-11-30")).await.unwrap();
    assert_eq!(calls.len(), 3);
    let (calls, tokens) = s.usage(&q(None, "2026-11-25", "2026-11-30")).await.unwrap();
    assert!(calls.is_empty() && tokens.is_empty());

    for i in 0..5 {
        let r = AuditRecord {
            id: 0,
            at: 100 + i,
            actor: "client:ops".into(),
            action: "client.update".into(),
            target: if i % 2 == 0 { "even" } else { "odd" }.into(),
            detail: format!("{{\"n\":{i}}}"),
        };
        s.append_audit(&r).await.unwrap();
    }
    let page = s
        .audit_log(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.at).collect::<Vec<_>>(),
        [104, 103],
        "newest first"
    );
    let next = s
        .audit_log(&AuditQuery {
            limit: 10,
            before: Some(page[1].id),
            target: None,
        })
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|r| r.at).collect::<Vec<_>>(),
        [102, 101, 100]
    );
    let odd = s
        .audit_log(&AuditQuery {
            limit: 10,
            before: None,
            target: Some("odd".into()),
        })
        .await
        .unwrap();
    assert_eq!(odd.len(), 2);
    assert_eq!(odd[0].detail, "{\"n\":3}");
}
