//! The outbox's claim, lease and ordering rules, driven with a hand-set clock (every store
//! function takes `now`): no sleeps.

use cic_bridge::store::Origin;
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
        .create(
            ResourceKind::User,
            "t",
            doc(json!({"userName": "a"})),
            None,
            &Origin::system("test"),
        )
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
        .create(
            ResourceKind::User,
            "t",
            doc(json!({"userName": "a"})),
            None,
            &Origin::system("test"),
        )
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
    assert_eq!(store.release_claims("w", at).await.unwrap(), 1);
    let s = store.op_status(op).await.unwrap().unwrap();
    assert_eq!((s.state, s.attempts), (OpState::Pending, 1));
}

#[tokio::test]
async fn one_operation_per_resource_at_a_time_in_order_and_newer_updates_coalesce() {
    let (store, _d) = store().await;
    let (u, create) = store
        .create(
            ResourceKind::User,
            "t",
            doc(json!({"userName": "a"})),
            None,
            &Origin::system("test"),
        )
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
            &Origin::system("test"),
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
            &Origin::system("test"),
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
    store
        .delete(ResourceKind::User, "t", &u.id, None, &Origin::system("test"))
        .await
        .unwrap();
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

/// Claimers with pools of their own (as replicas have) race for one backlog: every operation
/// is claimed exactly once. On PostgreSQL this is `FOR UPDATE SKIP LOCKED` at work; on SQLite
/// the single writer per file serialises the claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_take_one_operation_twice() {
    let (store, db) = store().await;
    let mut created = std::collections::BTreeSet::new();
    for i in 0..300 {
        let (_, op) = store
            .create(
                ResourceKind::User,
                "t",
                doc(json!({"userName": format!("u{i:03}")})),
                None,
                &Origin::system("test"),
            )
            .await
            .unwrap();
        created.insert(op);
    }
    let mut claimers = Vec::new();
    for w in 0..8 {
        let s = Store::connect(&db.url, 2, false).await.unwrap();
        claimers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut empty = 0;
            // SKIP LOCKED may answer nothing while the others hold every remaining row; stop
            // only after several empty answers in a row.
            while empty < 5 {
                let ops = s.claim(&format!("w{w}"), &tenants(), T0, LEASE, 7, &[]).await.unwrap();
                if ops.is_empty() {
                    empty += 1;
                    tokio::task::yield_now().await;
                } else {
                    empty = 0;
                    got.extend(ops.into_iter().map(|o| (o.id, o.attempts)));
                }
            }
            s.close().await;
            got
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    assert!(all.iter().all(|(_, attempts)| *attempts == 1), "each claimed once");
    let ids: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
    let unique: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no operation claimed twice");
    assert_eq!(unique, created, "every operation claimed");
    assert!(
        store
            .claim("late", &tenants(), T0, LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two claimers race for operations of ONE key: never both run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_run_one_operation_per_key_at_a_time() {
    let (store, db) = store().await;
    let (u, _) = store
        .create(
            ResourceKind::User,
            "t",
            doc(json!({"userName": "k"})),
            None,
            &Origin::system("test"),
        )
        .await
        .unwrap();
    let other = Store::connect(&db.url, 2, false).await.unwrap();
    for round in 0..20 {
        // One running, one queued behind it: a delete after the sync.
        let a = store.clone();
        let b = other.clone();
        let (x, y) = tokio::join!(
            async move { a.claim("wa", &tenants(), T0, LEASE, 10, &[]).await.unwrap() },
            async move { b.claim("wb", &tenants(), T0, LEASE, 10, &[]).await.unwrap() }
        );
        let claimed: Vec<_> = x.iter().chain(y.iter()).collect();
        assert!(claimed.len() <= 1, "round {round}: {claimed:?}");
        for op in &claimed {
            let owner = if x.iter().any(|o| o.id == op.id) { "wa" } else { "wb" };
            store
                .finish(op.id, owner, &Finish::Done { result: "ok".into() }, T0, &[])
                .await
                .unwrap();
        }
        store
            .replace(
                ResourceKind::User,
                "t",
                &u.id,
                None,
                cic_bridge::store::Replacement {
                    doc: doc(json!({"userName": "k", "title": format!("t{round}")})),
                    members: None,
                },
                &Origin::system("test"),
            )
            .await
            .unwrap();
    }
    other.close().await;
}

/// PostgreSQL: one engine leader per database; a leader whose lock session dies notices at its
/// next check, and another process takes over.
#[tokio::test]
async fn one_engine_leader_per_database_and_a_lost_lock_is_noticed() {
    let (store, db) = store().await;
    if !crate::db::is_postgres() {
        eprintln!("skipped on SQLite: its one process always leads (tested by every engine test)");
        return;
    }
    let other = Store::connect(&db.url, 2, false).await.unwrap();
    let mut leader = store.try_lead().await.unwrap().expect("the first process leads");
    assert!(other.try_lead().await.unwrap().is_none(), "a second process follows");
    leader.check().await.unwrap();
    // The database ends the lock's session (a failover, an operator, a network cut).
    let n = crate::db::count(
        &db.url,
        "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objid = 1667851106",
    )
    .await;
    assert_eq!(n, 1);
    assert!(leader.check().await.is_err(), "the old leader notices");
    let mut next = None;
    for _ in 0..50 {
        next = other.try_lead().await.unwrap();
        if next.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut next = next.expect("the follower takes over");
    next.check().await.unwrap();
    next.release().await;
    other.close().await;
}

/// One clock (issue 14): what SCIM writes store is timed by the store's clock, which the
/// engine shares, not by the wall clock behind everyone's back. A store set to 2030 stamps a
/// create, a patch and the outbox row with 2030, and the claim at 2030 finds the operation due.
#[tokio::test]
async fn scim_writes_are_timed_by_the_stores_clock() {
    let (store, _d) = store().await;
    let store = store.with_clock(std::sync::Arc::new(cic_bridge::tencent::clock::ManualClock::pinned(T0)));
    let (row, op) = store
        .create(
            ResourceKind::User,
            "t",
            doc(json!({"userName": "clocked"})),
            None,
            &Origin::system("test"),
        )
        .await
        .unwrap();
    assert_eq!(row.created, "2030-01-01T00:00:00.000000Z");
    let patched = store
        .patch(
            ResourceKind::User,
            "t",
            &row.id,
            None,
            false,
            (&Origin::system("test"), "patch"),
            |r: &cic_bridge::store::Row, _| {
                let mut d = r.doc.clone();
                d.insert("displayName".into(), json!("Clocked"));
                Ok::<_, std::convert::Infallible>(cic_bridge::scim::patch::PatchOutcome {
                    doc: d,
                    member_edits: Vec::new(),
                })
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.last_modified, "2030-01-01T00:00:00.000000Z");
    let s = store.op_status(op).await.unwrap().unwrap();
    assert_eq!(s.created_at, "2030-01-01T00:00:00.000000Z");
    assert_eq!(s.next_attempt_at, "2030-01-01T00:00:00.000000Z");
    // Due at 2030, not before: the wall clock (years earlier) played no part.
    assert!(
        store
            .claim("w", &tenants(), T0 - time::Duration::seconds(1), LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.claim("w", &tenants(), T0, LEASE, 10, &[]).await.unwrap().len(), 1);
}

/// Two processes writing one SQLite file (the daemon and `cic-bridge provision` or `jobs
/// retry`, or a test's second connection): a write transaction that read before another
/// process committed used to fail at once with SQLITE_BUSY (its snapshot was stale, which no
/// busy timeout waits out). Write transactions take the write lock when they begin, so they
/// wait their turn instead.
#[tokio::test]
async fn two_processes_writing_one_sqlite_file_wait_for_each_other_instead_of_failing() {
    if crate::db::is_postgres() {
        return;
    }
    let db = crate::db::fresh().await;
    let a = Store::connect(&db.url, 1, false).await.unwrap();
    let b = Store::connect(&db.url, 1, false).await.unwrap();
    let writer = |store: Store, name: &'static str| {
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..300 {
                let id = format!("{name}-{i}");
                if let Err(e) = store
                    .enqueue_op("a", OpKind::AssignSync, &id, None, OffsetDateTime::now_utc())
                    .await
                {
                    failures.push(e.to_string());
                }
            }
            failures
        })
    };
    let (fa, fb) = tokio::join!(writer(a, "a"), writer(b, "b"));
    let failures: Vec<String> = fa.unwrap().into_iter().chain(fb.unwrap()).collect();
    assert!(
        failures.is_empty(),
        "{} failed writes, e.g. {:?}",
        failures.len(),
        failures.first()
    );
}
