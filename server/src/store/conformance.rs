//! The store's conformance suite: what every backend must do, written against the trait only.
//! Each backend's tests run every function here on a fresh store of its own (see
//! `store::sqlite`'s tests); tests of a backend's own mechanisms stay with it.

use std::sync::Arc;

use super::*;

/// The all-time row of the per-minute stats.
const ALL_TIME_MINUTE: i64 = -1;

pub fn webhook(id: &str, app: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        seq: 0,
        app_id: app.into(),
        spec: serde_json::json!({"name": id}),
        enabled: true,
        disabled_reason: None,
        disabled_at: None,
        created_at: 1,
        updated_at: 1,
        cursor: 0,
    }
}

/// Event `seq` with id `e<seq>`, and a pending row for each webhook seq given.
pub fn event(seq: i64, rows: &[i64]) -> NewEvent {
    NewEvent {
        seq,
        id: format!("e{seq}"),
        kind: "k".into(),
        body: format!("{{\"id\":\"e{seq}\"}}"),
        deliveries: rows
            .iter()
            .map(|w| NewDelivery {
                webhook_seq: *w,
                state: DeliveryState::Pending,
            })
            .collect(),
    }
}

pub fn attempt(webhook_id: &str, webhook_seq: i64, event_seq: i64, next: Next) -> AttemptRecord {
    AttemptRecord {
        webhook_id: webhook_id.into(),
        webhook_seq,
        event_seq,
        created_at: 1_000,
        attempt: 1,
        at: 120_000,
        duration_us: 3000,
        outcome: Outcome::Server,
        status: Some(500),
        error_code: "http_status",
        next,
        log: Some(LogDetail {
            delivery_id: "d".into(),
            event_id: format!("e{event_seq}"),
            request: serde_json::json!({}),
            response: serde_json::json!({"status": 500}),
        }),
        max_logs: 10,
    }
}

pub async fn ingest_is_idempotent_and_lease_takes_stored_rows_once(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    // e2's delivery went to a worker: no row.
    let fresh = s
        .ingest("a", vec![event(1, &[w1]), event(2, &[])], 100)
        .await
        .unwrap();
    assert_eq!(fresh, vec![true, true]);
    assert_eq!(s.last_event_seq().await.unwrap(), 2);
    let fresh = s.ingest("a", vec![event(3, &[w1])], 100).await.unwrap();
    assert_eq!(fresh, vec![true]);
    // The same id again (e1 under another seq): skipped with its rows.
    let mut again = event(4, &[w1]);
    again.id = "e1".into();
    assert_eq!(s.ingest("a", vec![again], 100).await.unwrap(), vec![false]);
    // Another app may use the same event id.
    let mut other = event(5, &[]);
    other.id = "e1".into();
    assert_eq!(s.ingest("b", vec![other], 100).await.unwrap(), vec![true]);
    // The same id twice in one call: the first is new.
    let (mut x, mut y) = (event(6, &[]), event(7, &[w1]));
    (x.id, y.id) = ("x".into(), "x".into());
    assert_eq!(
        s.ingest("b", vec![x, y], 100).await.unwrap(),
        vec![true, false]
    );
    let leased = s.lease(vec![(w1, 10)], 200, 5_000).await.unwrap();
    assert_eq!(
        leased
            .iter()
            .map(|l| (l.event_seq, l.event_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "e1"), (3, "e3")]
    );
    assert!(
        s.lease(vec![(w1, 10)], 300, 5_000)
            .await
            .unwrap()
            .is_empty()
    );
    s.release(None).await.unwrap();
    assert_eq!(
        s.lease(vec![(w1, 10)], now_ms() + 1, 5_000)
            .await
            .unwrap()
            .len(),
        2
    );
    let heads = s.events_after("a", 1, 10).await.unwrap();
    assert_eq!(heads.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
}

pub async fn a_first_attempt_creates_the_row_and_later_ones_update_it(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    s.ingest("a", vec![event(1, &[])], 1_000).await.unwrap();
    let ids = DeliveryIds::new("w1");
    assert_eq!(
        s.record_attempts(
            Arc::new(vec![attempt("w1", w1, 1, Next::RetryAt(130_000))]),
            vec![(w1, 1)]
        )
        .await
        .unwrap()[0]
            .consecutive_failures,
        1
    );
    assert_eq!(s.get_webhook("a", "w1").await.unwrap().unwrap().cursor, 1);
    assert_eq!(s.next_due().await.unwrap(), Some(130_000));
    let pending = s.deliveries("a", "w1", None, 10).await.unwrap();
    assert_eq!(pending[0].id, ids.id(1).to_string());
    assert_eq!(pending[0].event_id, "e1");
    assert_eq!(pending[0].created_at, 1_000);
    let e = s
        .record_attempts(
            Arc::new(vec![AttemptRecord {
                attempt: 2,
                ..attempt("w1", w1, 1, Next::Failed)
            }]),
            // A cursor never moves back.
            vec![(w1, 0)],
        )
        .await
        .unwrap();
    assert_eq!(e[0].consecutive_failures, 2);
    assert_eq!(s.get_webhook("a", "w1").await.unwrap().unwrap().cursor, 1);
    let failed = s
        .deliveries("a", "w1", Some(DeliveryState::Failed), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(failed[0].last_error.as_deref(), Some("http_status"));
    assert_eq!(s.deliveries("b", "w1", None, 10).await.unwrap().len(), 0);
    let all_time = s.stats("w1", ALL_TIME_MINUTE, 0).await.unwrap();
    assert_eq!(all_time[0].counts[Outcome::Server.index()], 2);
    let stats = s.stats("w1", 0, 10).await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].minute, 2);
    assert_eq!(stats[0].counts[Outcome::Server.index()], 2);
    assert_eq!(s.logs("w1", 10, None).await.unwrap().len(), 2);
    // A success at the first attempt: one row, counted as succeeded.
    s.ingest("a", vec![event(2, &[])], 1_000).await.unwrap();
    s.record_attempts(
        Arc::new(vec![AttemptRecord {
            outcome: Outcome::Success,
            status: Some(200),
            ..attempt("w1", w1, 2, Next::Succeeded)
        }]),
        vec![],
    )
    .await
    .unwrap();
    let counts = s.delivery_counts("a", "w1").await.unwrap();
    assert_eq!((counts.succeeded, counts.failed, counts.pending), (1, 1, 0));
    assert_eq!(s.replay("a", "w1", Some(2), 200_000, 10).await.unwrap(), 0);
    assert_eq!(s.replay("b", "w1", None, 200_000, 10).await.unwrap(), 0);
    assert_eq!(s.replay("a", "w1", Some(1), 200_000, 10).await.unwrap(), 1);
    assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 1);
}

pub async fn a_deleted_webhook_keeps_its_number_and_late_attempts_record_nothing(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    s.ingest("a", vec![event(1, &[]), event(2, &[])], 1_000)
        .await
        .unwrap();
    s.record_attempts(
        Arc::new(vec![attempt("w1", w1, 1, Next::RetryAt(130_000))]),
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(s.delete_webhook("a", "w1").await.unwrap(), Some(w1));
    let leftovers = Leftovers {
        app_id: None,
        webhooks: vec![("w1".into(), w1)],
    };
    while !s.purge_deleted(leftovers.clone(), 0, 1).await.unwrap().done {}
    // Attempts that were under way when it was deleted end now: nothing is written.
    let effects = s
        .record_attempts(
            Arc::new(vec![
                attempt("w1", w1, 1, Next::RetryAt(140_000)),
                attempt("w1", w1, 2, Next::Failed),
            ]),
            vec![(w1, 2)],
        )
        .await
        .unwrap();
    assert_eq!(effects.len(), 2);
    assert!(effects.iter().all(|e| e.consecutive_failures == 0));
    assert!(s.stats("w1", ALL_TIME_MINUTE, 0).await.unwrap().is_empty());
    assert!(s.logs("w1", 10, None).await.unwrap().is_empty());
    // The next webhook, of another app, gets a new number and nothing of w1's.
    let w2 = s.create_webhook(webhook("w2", "b")).await.unwrap();
    assert!(w2 > w1, "{w2} reuses a deleted webhook's number");
    assert!(
        s.lease(vec![(w1, 10), (w2, 10)], i64::MAX / 2, i64::MAX / 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.next_due().await.unwrap(), None);
    // Ingest rows and restored rows only go to a live webhook of the event's app.
    s.ingest("b", vec![event(3, &[w1, w2])], 1_000)
        .await
        .unwrap();
    s.ingest("a", vec![event(4, &[w2])], 1_000).await.unwrap();
    s.restore(w1, vec![(3, 1_000)], 3).await.unwrap();
    let leased = s
        .lease(vec![(w1, 10), (w2, 10)], i64::MAX / 2, i64::MAX / 2)
        .await
        .unwrap();
    assert_eq!(
        leased
            .iter()
            .map(|l| (l.webhook_seq, l.event_seq))
            .collect::<Vec<_>>(),
        vec![(w2, 3)]
    );
}

pub async fn retention_deletes_what_is_old_and_settled_and_keeps_pending_deliveries(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    // Events 1-4 arrive at minute 1, event 5 at minute 20.
    s.ingest("a", (1..=4).map(|n| event(n, &[])).collect(), 60_000)
        .await
        .unwrap();
    s.ingest("a", vec![event(5, &[])], 20 * 60_000)
        .await
        .unwrap();
    let succeeded = |n| AttemptRecord {
        outcome: Outcome::Success,
        status: Some(200),
        ..attempt("w1", w1, n, Next::Succeeded)
    };
    // 1, 2 and 5 delivered, 3 failed for good, 4 waiting for a retry.
    s.record_attempts(
        Arc::new(vec![
            succeeded(1),
            succeeded(2),
            attempt("w1", w1, 3, Next::Failed),
            attempt("w1", w1, 4, Next::RetryAt(30 * 60_000)),
            AttemptRecord {
                at: 20 * 60_000,
                ..succeeded(5)
            },
        ]),
        vec![(w1, 5)],
    )
    .await
    .unwrap();
    // Everything before minute 10 that is settled goes, a chunk of 2 rows of a kind at a time.
    let mut rounds = 0;
    while s.purge_before(10 * 60_000, 2).await.unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 10);
    }
    assert!(rounds >= 2, "{rounds} rounds");
    let left = s.deliveries("a", "w1", None, 10).await.unwrap();
    let states: Vec<(String, DeliveryState)> =
        left.iter().map(|d| (d.event_id.clone(), d.state)).collect();
    assert_eq!(
        states,
        vec![
            ("e5".into(), DeliveryState::Succeeded),
            ("e4".into(), DeliveryState::Pending)
        ]
    );
    // The pending delivery is still leased with its event.
    let leased = s
        .lease(vec![(w1, 10)], 40 * 60_000, 50 * 60_000)
        .await
        .unwrap();
    assert_eq!(
        leased
            .iter()
            .map(|l| l.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e4"]
    );
    // Per-minute stats of minute 2 are gone, minute 20's and the all-time totals stay; logs
    // before minute 10 are gone.
    assert_eq!(
        s.stats("w1", 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| m.minute)
            .collect::<Vec<_>>(),
        [20]
    );
    assert_eq!(
        s.stats("w1", ALL_TIME_MINUTE, 0).await.unwrap()[0]
            .counts
            .iter()
            .sum::<u64>(),
        5
    );
    assert_eq!(s.logs("w1", 10, None).await.unwrap().len(), 1);
    // Deleted events 1-3 are new again; 4 (pending) and 5 (young) are duplicates.
    assert_eq!(
        s.ingest(
            "a",
            (6..=10)
                .map(|n| NewEvent {
                    id: format!("e{}", n - 5),
                    ..event(n, &[])
                })
                .collect(),
            1
        )
        .await
        .unwrap(),
        vec![true, true, true, false, false]
    );
    // Numbers of stored events are never given again, even when the newest events go (9 and
    // 10 were duplicates: never stored).
    s.record_attempts(
        Arc::new(vec![AttemptRecord {
            at: 20 * 60_000,
            ..succeeded(4)
        }]),
        vec![(w1, 10)],
    )
    .await
    .unwrap();
    while s.purge_before(i64::MAX, 100).await.unwrap() > 0 {}
    assert_eq!(s.last_event_seq().await.unwrap(), 8);
}

pub async fn replay_goes_in_chunks_of_failed_and_skipped_deliveries(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    s.ingest("a", (1..=3).map(|n| event(n, &[])).collect(), 1_000)
        .await
        .unwrap();
    let failed: Vec<AttemptRecord> = (1..=3)
        .map(|n| attempt("w1", w1, n, Next::Failed))
        .collect();
    s.record_attempts(Arc::new(failed), vec![]).await.unwrap();
    assert_eq!(s.replay("a", "w1", None, 2_000, 2).await.unwrap(), 2);
    assert_eq!(s.replay("a", "w1", None, 2_000, 2).await.unwrap(), 1);
    assert_eq!(s.replay("a", "w1", None, 2_000, 2).await.unwrap(), 0);
    assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 3);
}

pub async fn erasure_keeps_numbers_and_late_attempts_of_erased_events_record_nothing(
    s: &dyn Store,
) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    let of_user = |seq: i64, user: &str| NewEvent {
        body: serde_json::json!({"id": format!("e{seq}"), "external_id": user}).to_string(),
        ..event(seq, &[])
    };
    s.ingest(
        "a",
        vec![of_user(1, "u2"), of_user(2, "u1"), of_user(3, "u1")],
        1_000,
    )
    .await
    .unwrap();
    let mut erased = PurgeStep::default();
    let mut after = 0;
    loop {
        let step = s.erase_external_id("a", "u1", after, 2).await.unwrap();
        erased.add(&step);
        if step.done {
            break;
        }
        after = step.next;
    }
    assert_eq!(erased.events, 2);
    // The newest events are gone, their numbers are not given again.
    assert_eq!(s.last_event_seq().await.unwrap(), 3);
    // An attempt under way for an erased event ends: nothing of it is written.
    s.record_attempts(
        Arc::new(vec![
            attempt("w1", w1, 3, Next::RetryAt(5_000)),
            attempt("w1", w1, 1, Next::RetryAt(5_000)),
        ]),
        vec![],
    )
    .await
    .unwrap();
    let logs = s.logs("w1", 10, None).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.event_id.as_str()).collect::<Vec<_>>(),
        ["e1"]
    );
    let rows = s.deliveries("a", "w1", None, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        ["e1"]
    );
}
