//! The store's cases about what administrators read and remove: pages of
//! clients and users, deletion with what hangs off it, and the usage and
//! audit records. Run on every backend by the parent.

use super::*;

pub(super) async fn admin_pages_and_deletion(s: Arc<dyn Store>) {
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

pub(super) async fn usage_and_audit(s: Arc<dyn Store>) {
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
