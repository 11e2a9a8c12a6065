//! The outbox's claim, lease and ordering rules, driven with a hand-set clock (every store
//! function takes `now`): no sleeps.

use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use cic_bridge::scim::schema::ResourceKind;
use cic_bridge::store::{Finish, OpError, OpKind, OpState, Store};

const T0: OffsetDateTime = datetime!(2030-01-01 00:00:00 UTC);
const LEASE: Duration = Duration::from_secs(30);

fn doc(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn store() -> (Store, crate::db::TestDb) {
    let db = crate::db::fresh().await;
    (Store::connect(&db.url, 2, false).await.unwrap(), db)
}

fn tenants() -> Vec<String> {
    vec!["t".to_owned()]
}

fn err() -> OpError {
    OpError {
        code: Some("InternalError".into()),
        message: "boom".into(),
        request_id: Some("r-1".into()),
    }
}

#[tokio::test]
async fn an_expired_lease_gives_the_operation_to_another_worker() {
    let (store, _d) = store().await;
    let (_, op) = store
        .create(ResourceKind::User, "t", doc(json!({"userName": "a"})), None)
        .await
        .unwrap();
    let claimed = store.claim("w1", &tenants(), T0, LEASE, 10, &[]).await.unwrap();
    assert_eq!(claimed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![op]);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        store
            .claim("w2", &tenants(), T0, LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    // Before expiry nothing is reaped; after it, the operation is back and w2 takes it.
    assert_eq!(store.reap_expired(T0 + Duration::from_secs(29)).await.unwrap(), 0);
    assert_eq!(store.reap_expired(T0 + Duration::from_secs(31)).await.unwrap(), 1);
    let again = store
        .claim("w2", &tenants(), T0 + Duration::from_secs(31), LEASE, 10, &[])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2, "the crashed attempt counts");
    // w1 comes back from the dead: its outcome is dropped.
    let done = Finish::Done { result: "late".into() };
    assert!(
        !store
            .finish(op, "w1", &done, T0 + Duration::from_secs(32), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .finish(op, "w2", &done, T0 + Duration::from_secs(32), &[])
            .await
            .unwrap()
    );
    assert_eq!(store.op_status(op).await.unwrap().unwrap().state, OpState::Done);
}

#[tokio::test]
async fn retries_wait_for_their_stored_time_and_keep_the_error() {
    let (store, _d) = store().await;
    let (_, op) = store
        .create(ResourceKind::User, "t", doc(json!({"userName": "a"})), None)
        .await
        .unwrap();
    store.claim("w", &tenants(), T0, LEASE, 10, &[]).await.unwrap();
    let at = T0 + Duration::from_secs(8);
    assert!(
        store
            .finish(op, "w", &Finish::Retry { at, error: err() }, T0, &[])
            .await
            .unwrap()
    );
    let s = store.op_status(op).await.unwrap().unwrap();
    assert_eq!(s.state, OpState::Pending);
    assert_eq!(
        (s.error_code.as_deref(), s.error_request_id.as_deref()),
        (Some("InternalError"), Some("r-1"))
    );
    assert!(
        store
            .claim("w", &tenants(), T0 + Duration::from_secs(7), LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.claim("w", &tenants(), at, LEASE, 10, &[]).await.unwrap().len(), 1);
    // Graceful shutdown hands the claim back without counting the attempt.
    assert_eq!(store.release_claims("w").await.unwrap(), 1);
    let s = store.op_status(op).await.unwrap().unwrap();
    assert_eq!((s.state, s.attempts), (OpState::Pending, 1));
}

#[tokio::test]
async fn one_operation_per_resource_at_a_time_in_order_and_newer_updates_coalesce() {
    let (store, _d) = store().await;
    let (u, create) = store
        .create(ResourceKind::User, "t", doc(json!({"userName": "a"})), None)
        .await
        .unwrap();
    // An update while the create is queued is carried by it.
    store
        .replace(
            ResourceKind::User,
            "t",
            &u.id,
            None,
            cic_bridge::store::Replacement {
                doc: doc(json!({"userName": "a", "title": "x"})),
                members: None,
            },
        )
        .await
        .unwrap();
    let first = store.claim("w", &tenants(), T0, LEASE, 10, &[]).await.unwrap();
    assert_eq!(first.iter().map(|o| o.id).collect::<Vec<_>>(), vec![create]);
    // While it runs, a further update queues behind it and is not claimable.
    store
        .replace(
            ResourceKind::User,
            "t",
            &u.id,
            None,
            cic_bridge::store::Replacement {
                doc: doc(json!({"userName": "a", "title": "y"})),
                members: None,
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .claim("w", &tenants(), T0, LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "same key waits"
    );
    store
        .finish(create, "w", &Finish::Done { result: "ok".into() }, T0, &[])
        .await
        .unwrap();
    let next = store.claim("w", &tenants(), T0, LEASE, 10, &[]).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].kind, OpKind::UserSync);
    assert!(next[0].id > create);
    // A parked operation also blocks its successors; other tenants are not claimed.
    store
        .finish(
            next[0].id,
            "w",
            &Finish::Parked {
                at: T0 + Duration::from_secs(600),
                error: err(),
            },
            T0,
            &[],
        )
        .await
        .unwrap();
    store.delete(ResourceKind::User, "t", &u.id, None).await.unwrap();
    assert!(
        store
            .claim("w", &tenants(), T0, LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "delete waits behind the parked sync"
    );
    assert!(
        store
            .claim(
                "w",
                &["other".to_owned()],
                T0 + Duration::from_secs(601),
                LEASE,
                10,
                &[]
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim("w", &tenants(), T0 + Duration::from_secs(601), LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "parked operations are queued again by the recheck, not claimed directly"
    );
    store.reap_expired(T0 + Duration::from_secs(601)).await.unwrap();
    let rechecked = store
        .claim("w", &tenants(), T0 + Duration::from_secs(601), LEASE, 10, &[])
        .await
        .unwrap();
    assert_eq!(rechecked.len(), 1, "the parked sync is tried again at its recheck time");
    assert_eq!(rechecked[0].kind, OpKind::UserSync);
}
