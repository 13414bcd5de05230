//! Device authorizations (RFC 8628) in the store: one decision, polls
//! counted at the interval, one use, the sweep.

use std::sync::Arc;

use tollgate_server::store::{DeviceGrant, DevicePoll, DeviceStatus, Store, StoreError};

use super::client;

fn grant(device: u8, user: u8) -> DeviceGrant {
    DeviceGrant {
        device_hash: [device; 32],
        user_code_hash: [user; 32],
        client_id: "c".into(),
        scope: "a openid".parse().unwrap(),
        expires_at: 1600,
        interval_secs: 5,
        polled_at_ms: None,
        status: DeviceStatus::Pending,
    }
}

pub(super) async fn device_grants(s: Arc<dyn Store>) {
    s.create_client(&client("c")).await.unwrap();
    let g = grant(1, 2);
    s.insert_device_grant(&g).await.unwrap();
    assert_eq!(
        s.device_grant_by_user_code(&[2; 32]).await.unwrap(),
        Some(g.clone())
    );
    assert_eq!(s.device_grant_by_user_code(&[9; 32]).await.unwrap(), None);
    // A user code is one grant's only.
    let taken = s.insert_device_grant(&grant(3, 2)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

    // The first poll counts; one within the interval does not, and grows it.
    let polled = s.poll_device_grant(&[1; 32], 1_000_000).await.unwrap();
    assert!(
        matches!(&polled, DevicePoll::Polled(p) if p.polled_at_ms == Some(1_000_000)),
        "{polled:?}"
    );
    match s.poll_device_grant(&[1; 32], 1_004_999).await.unwrap() {
        DevicePoll::TooSoon(p) => assert_eq!(p.interval_secs, 10),
        other => panic!("{other:?}"),
    }
    let later = s.poll_device_grant(&[1; 32], 1_010_000).await.unwrap();
    assert!(matches!(later, DevicePoll::Polled(_)), "{later:?}");
    assert_eq!(
        s.poll_device_grant(&[7; 32], 1).await.unwrap(),
        DevicePoll::Unknown
    );

    // One decision, and only before the grant expires.
    let allowed = DeviceStatus::Allowed {
        username: "u".into(),
        auth_time: 900,
    };
    assert!(
        !s.decide_device_grant(&[2; 32], &allowed, 1600)
            .await
            .unwrap(),
        "expired"
    );
    assert!(s
        .decide_device_grant(&[2; 32], &allowed, 1000)
        .await
        .unwrap());
    assert!(!s
        .decide_device_grant(&[2; 32], &DeviceStatus::Denied, 1000)
        .await
        .unwrap());
    let found = s
        .device_grant_by_user_code(&[2; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, allowed);

    // Used once, however many race for it.
    let uses = futures_util::future::join_all((0..8).map(|_| s.use_device_grant(&[1; 32]))).await;
    assert_eq!(uses.into_iter().filter(|u| *u.as_ref().unwrap()).count(), 1);
    let used = s
        .device_grant_by_user_code(&[2; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.status, DeviceStatus::Used);

    s.insert_device_grant(&grant(4, 5)).await.unwrap();
    assert!(s
        .decide_device_grant(&[5; 32], &DeviceStatus::Denied, 1000)
        .await
        .unwrap());
    assert!(
        !s.use_device_grant(&[4; 32]).await.unwrap(),
        "a denied grant is never used"
    );
    s.sweep_expired(1601).await.unwrap();
    assert_eq!(
        s.device_grant_by_user_code(&[5; 32]).await.unwrap(),
        None,
        "swept"
    );
}
