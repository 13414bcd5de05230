//! The store's cases about tokens: issue, lookup and revocation, refresh
//! rotation (also racing), batched and concurrent inserts, writes under
//! token load, and the JWT denylist. Run on every backend by the parent.

use super::*;

pub(super) async fn tokens(s: Arc<dyn Store>) {
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

pub(super) async fn rotation(s: Arc<dyn Store>) {
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

pub(super) async fn concurrent_rotation(s: Arc<dyn Store>) {
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

pub(super) async fn concurrent_inserts(s: Arc<dyn Store>) {
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
pub(super) async fn large_batches(s: Arc<dyn Store>) {
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
pub(super) async fn writes_during_token_load(s: Arc<dyn Store>) {
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

pub(super) async fn jwt_denylist(s: Arc<dyn Store>) {
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
