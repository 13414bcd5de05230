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

mod devices;
mod listings;
mod tokens;
use devices::device_grants;
use listings::{admin_pages_and_deletion, usage_and_audit};
use tokens::{
    concurrent_inserts, concurrent_rotation, jwt_denylist, large_batches, rotation, tokens,
    writes_during_token_load,
};

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
    device_grants,
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
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            backchannel_logout_uri: Some("https://app.example/backchannel".into()),
            backchannel_logout_session_required: true,
            description: "for <tests>".into(),
            contacts: vec!["ops@app.example".into()],
            client_uri: Some("https://app.example".into()),
            logo_uri: Some("https://app.example/logo.png".into()),
            tos_uri: Some("https://app.example/tos".into()),
            policy_uri: Some("https://app.example/privacy".into()),
            software_id: Some("4NRB1-0XZABZI9E6-5SM3R".into()),
            software_version: Some("2.1".into()),
            jwks_uri: None,
            jwks: Some(
                serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qY"}]}),
            ),
        },
        secret_hash: [7; 32],
        enabled: true,
        created_at: 1000,
        previous_secret: None,
        owner: Some("dev".into()),
        requested_scopes: "c".parse().unwrap(),
        registration_hash: Some([9; 32]),
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
        sid: Some("sid-1".into()),
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
        sid: "sid-1".into(),
    };
    s.create_session(&[6; 32], &session).await.unwrap();
    assert_eq!(s.get_session(&[6; 32]).await.unwrap(), Some(session));
    s.record_session_client("sid-1", "c").await.unwrap();
    s.record_session_client("sid-1", "c").await.unwrap();
    let told = vec![("sid-1".to_owned(), "c".to_owned())];
    assert_eq!(s.session_clients("u").await.unwrap(), told, "once each");
    assert_eq!(s.session_clients("v").await.unwrap(), vec![]);
    s.sweep_expired(6000).await.unwrap();
    assert_eq!(
        s.session_clients("u").await.unwrap(),
        vec![],
        "swept with it"
    );
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
        sid: "sid-2".into(),
    };
    s.create_session(&[7; 32], &later).await.unwrap();
    s.create_session(&[8; 32], &later).await.unwrap();
    assert_eq!(s.delete_user_sessions("u").await.unwrap(), 2);
    assert_eq!(s.get_session(&[7; 32]).await.unwrap(), None);
    assert_eq!(s.get_session(&[8; 32]).await.unwrap(), None);
    assert_eq!(s.delete_user_sessions("u").await.unwrap(), 0);
}
