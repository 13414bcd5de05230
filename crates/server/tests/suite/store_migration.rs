//! A database made before a schema change reads the same after it: the
//! migrations up to the one under test are applied, rows are written as
//! that version wrote them, and the store then opens (applying the rest)
//! and must return the same records.

use std::borrow::Cow;
use std::path::Path;

use sqlx::migrate::Migrator;
use tollgate_proto::client::{AuthMethod, ClientSettings, TokenFormat};
use tollgate_proto::GrantType;
use tollgate_server::store::{self, Client, PreviousSecret};
use tollgate_server::testing::Postgres;

/// The migrations of `dialect` before `version`.
async fn before(dialect: &str, version: i64) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut m = Migrator::new(dir).await.unwrap();
    let older: Vec<_> = m
        .migrations
        .iter()
        .filter(|x| x.version < version)
        .cloned()
        .collect();
    m.migrations = Cow::Owned(older);
    m
}

/// Two clients as the columns before the settings document held them:
/// one with every setting (a redirect URI with a quote and a backslash, as
/// an app's own scheme allows), one with none.
const OLD_CLIENTS: &str = "INSERT INTO clients (client_id, name, secret_hash, scopes, grants, \
    auth_method, token_ttl, qps, per_day, introspect_any, enabled, created_at, updated_at, \
    token_format, audience, redirect_uris, public, first_party, previous_secret_hash, \
    previous_secret_until, owner, description, requested_scopes) VALUES \
    ('full', 'Full \"one\"', $1, 'a b', 'authorization_code client_credentials', 'post', 60, \
     5, 0, $2, $2, 1000, 1000, 'jwt', 'https://api.example', \
     'https://app.example/cb com.example.app:/cb\"x\\y', $3, $2, $1, 99, 'dev', 'for <tests>', 'c'), \
    ('bare', 'Bare', $1, '', '', 'any', NULL, NULL, NULL, $3, $3, 1000, 1000, NULL, NULL, '', \
     $3, $3, NULL, NULL, NULL, '', '')";

fn expected() -> [Client; 2] {
    let full = Client {
        client_id: "full".into(),
        settings: ClientSettings {
            client_name: "Full \"one\"".into(),
            description: "for <tests>".into(),
            scope: "a b".parse().unwrap(),
            grant_types: [GrantType::AuthorizationCode, GrantType::ClientCredentials].into(),
            auth_method: AuthMethod::Post,
            token_ttl: Some(60),
            qps: Some(5),
            per_day: Some(0),
            introspect_any: true,
            token_format: Some(TokenFormat::Jwt),
            audience: Some("https://api.example".into()),
            redirect_uris: vec![
                "https://app.example/cb".into(),
                "com.example.app:/cb\"x\\y".into(),
            ],
            public: false,
            first_party: true,
            // Settings added since read as their defaults.
            ..ClientSettings::default()
        },
        secret_hash: [7; 32],
        previous_secret: Some(PreviousSecret {
            hash: [7; 32],
            until: 99,
        }),
        enabled: true,
        created_at: 1000,
        owner: Some("dev".into()),
        requested_scopes: "c".parse().unwrap(),
        registration_hash: None,
    };
    let bare = Client {
        client_id: "bare".into(),
        settings: ClientSettings {
            client_name: "Bare".into(),
            ..ClientSettings::default()
        },
        previous_secret: None,
        enabled: false,
        owner: None,
        requested_scopes: Default::default(),
        registration_hash: None,
        ..full.clone()
    };
    [full, bare]
}

async fn reads_the_same(url: &str) {
    let s = store::open(url).await.unwrap();
    for want in expected() {
        let got = s.get_client(&want.client_id).await.unwrap();
        assert_eq!(got.as_ref(), Some(&want));
    }
    let listed = s.list_clients().await.unwrap();
    assert_eq!(listed.len(), 2);
    s.close().await;
}

#[tokio::test]
async fn sqlite_clients_survive_the_move_to_one_settings_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    before("sqlite", 9).await.run(&pool).await.unwrap();
    sqlx::query(OLD_CLIENTS)
        .bind(&[7u8; 32][..])
        .bind(true)
        .bind(false)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    reads_the_same(&format!("sqlite://{}", path.display())).await;
}

#[tokio::test]
async fn postgres_clients_survive_the_move_to_one_settings_document() {
    let Some(pg) = Postgres::shared() else { return };
    let url = pg.fresh_database().await.expect("create database");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    before("postgres", 8).await.run(&pool).await.unwrap();
    sqlx::query(OLD_CLIENTS)
        .bind(&[7u8; 32][..])
        .bind(true)
        .bind(false)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    reads_the_same(&url).await;
}
