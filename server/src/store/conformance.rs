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
        spec: serde_json::json!({"name": id, "events": ["k"]}),
        enabled: true,
        disabled_reason: None,
        disabled_at: None,
        created_at: 1,
        updated_at: 1,
        signing: "[]".into(),
    }
}

/// Event `e<n>` of kind `k`, taken by the webhooks given (number, enabled).
pub fn event(n: i64, takers: &[(i64, bool)]) -> NewEvent {
    NewEvent {
        id: format!("e{n}"),
        kind: "k".into(),
        body: format!("{{\"id\":\"e{n}\"}}"),
        takers: takers.to_vec(),
    }
}

/// Room for `n` deliveries of each webhook given.
pub fn room(webhooks: &[i64], n: usize) -> Room {
    Room {
        per_webhook: webhooks.iter().map(|w| (*w, n)).collect(),
        total: n * webhooks.len(),
    }
}

/// Appends with no room: every delivery waits for a lease. Returns the events' numbers.
pub async fn append(s: &dyn Store, app: &str, events: Vec<NewEvent>, now: Millis) -> Vec<i64> {
    s.append_events(app, events, Room::default(), now)
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.seq)
        .collect()
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

fn keys(leased: &[LeasedDelivery]) -> Vec<(i64, &str)> {
    leased
        .iter()
        .map(|l| (l.webhook_seq, l.event_id.as_str()))
        .collect()
}

pub async fn append_numbers_events_once_per_id_and_lease_takes_each_delivery_once(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    let taken = [(w1, true)];
    // e2 triggers no webhook.
    let untaken = NewEvent {
        kind: "other".into(),
        ..event(2, &[])
    };
    let appended = s
        .append_events("a", vec![event(1, &taken), untaken], Room::default(), 100)
        .await
        .unwrap();
    assert!(appended.events.iter().all(|e| e.new && e.handed.is_empty()));
    let (e1, e2) = (appended.events[0].seq, appended.events[1].seq);
    assert!(0 < e1 && e1 < e2, "{e1} {e2}");
    let e3 = append(s, "a", vec![event(3, &taken)], 100).await[0];
    assert!(e3 > e2);
    // The same id again: skipped with its deliveries.
    let again = s
        .append_events("a", vec![event(1, &taken)], room(&[w1], 10), 100)
        .await
        .unwrap();
    assert!(!again.events[0].new && again.events[0].handed.is_empty());
    // Another app may use the same event id; the same id twice in one call: the first is new.
    let other = s
        .append_events(
            "b",
            vec![event(1, &[]), event(6, &[]), event(6, &[])],
            Room::default(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        other.events.iter().map(|e| e.new).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 2);
    let leased = s.lease(vec![(w1, 10)], 200, 5_000).await.unwrap();
    assert_eq!(keys(&leased), [(w1, "e1"), (w1, "e3")]);
    assert_eq!(leased[0].event_seq, e1);
    assert_eq!((leased[0].attempts, leased[0].created_at), (0, 100));
    // Leased: not leased again, by anyone, until given back.
    assert!(
        s.lease(vec![(w1, 10)], 300, 5_000)
            .await
            .unwrap()
            .is_empty()
    );
    // One is given back; the other's lease ends (if it has one) or is given back at a restart.
    s.record_attempts(Arc::new(vec![AttemptRecord::release(
        "w1", w1, e1, 100, 1, 400, 10,
    )]))
    .await
    .unwrap();
    let again = s.lease(vec![(w1, 10)], 400, 5_000).await.unwrap();
    assert_eq!(keys(&again), [(w1, "e1")]);
    s.release_leases().await.unwrap();
    let all = s
        .lease(vec![(w1, 1)], now_ms() + 10_000, now_ms() + 20_000)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "a limit of 1");
}

pub async fn deliveries_go_to_the_caller_within_its_room_and_the_rest_wait(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    let w2 = s.create_webhook(webhook("w2", "a")).await.unwrap();
    let off = s.create_webhook(webhook("off", "a")).await.unwrap();
    let takers = [(w1, true), (w2, true), (off, false)];
    let appended = s
        .append_events(
            "a",
            (1..=3).map(|n| event(n, &takers)).collect(),
            Room {
                per_webhook: vec![(w1, 2), (w2, 5)],
                total: 3,
            },
            100,
        )
        .await
        .unwrap();
    let handed: Vec<Vec<i64>> = appended.events.iter().map(|e| e.handed.clone()).collect();
    // Three in all: two for w1 (its room), one for w2; none for the disabled webhook.
    assert_eq!(handed.iter().map(Vec::len).sum::<usize>(), 3);
    assert!(handed.iter().flatten().filter(|w| **w == w1).count() <= 2);
    assert!(handed.iter().flatten().all(|w| *w != off));
    // Handed deliveries are pending (not leased again); the disabled webhook's are skipped.
    for (id, seq) in [("w1", w1), ("w2", w2)] {
        let counts = s.delivery_counts("a", id).await.unwrap();
        assert_eq!(counts.pending, 3, "{id}");
        let leased = s.lease(vec![(seq, 10)], 200, 5_000).await.unwrap();
        let handed_to_it = handed.iter().filter(|h| h.contains(&seq)).count();
        assert_eq!(leased.len(), 3 - handed_to_it, "{id}");
    }
    assert_eq!(s.delivery_counts("a", "off").await.unwrap().skipped, 3);
    // Another app's event is never handed to, nor leased for, a webhook of this one.
    let foreign = s
        .append_events("b", vec![event(9, &[(w1, true)])], room(&[w1], 5), 100)
        .await
        .unwrap();
    assert!(foreign.events[0].handed.is_empty());
    assert!(
        s.lease(vec![(off, 10)], 200, 5_000)
            .await
            .unwrap()
            .is_empty()
    );
    // A handed delivery's first attempt makes it a retry, leased when due, with its attempt.
    let (k, first) = handed
        .iter()
        .enumerate()
        .find(|(_, h)| h.contains(&w1))
        .unwrap();
    let seq = appended.events[k].seq;
    let _ = first;
    s.record_attempts(Arc::new(vec![AttemptRecord {
        created_at: 100,
        ..attempt("w1", w1, seq, Next::RetryAt(10_000))
    }]))
    .await
    .unwrap();
    assert!(
        s.lease(vec![(w1, 10)], 9_999, 20_000)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = s.lease(vec![(w1, 10)], 10_000, 20_000).await.unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].event_seq, retry[0].attempts), (seq, 1));
    assert_eq!(retry[0].created_at, 100);
    // Replaying the skipped ones makes them pending.
    assert_eq!(s.replay("a", "off", None, 300, 10).await.unwrap(), 3);
    s.set_webhook_enabled("a", "off", true, None, 300)
        .await
        .unwrap();
    assert_eq!(s.lease(vec![(off, 10)], 300, 5_000).await.unwrap().len(), 3);
}

pub async fn a_first_attempt_creates_the_row_and_later_ones_update_it(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    // Handed to the caller (the only way a delivery has no row in every backend).
    let appended = s
        .append_events("a", vec![event(1, &[(w1, true)])], room(&[w1], 1), 1_000)
        .await
        .unwrap();
    assert_eq!(appended.events[0].handed, [w1]);
    let e1 = appended.events[0].seq;
    let ids = DeliveryIds::new("w1");
    assert_eq!(
        s.record_attempts(Arc::new(vec![attempt(
            "w1",
            w1,
            e1,
            Next::RetryAt(130_000)
        )]))
        .await
        .unwrap()[0]
            .consecutive_failures,
        1
    );
    assert_eq!(s.next_due().await.unwrap(), Some(130_000));
    let pending = s.deliveries("a", "w1", None, 10).await.unwrap();
    assert_eq!(pending[0].id, ids.id(e1).to_string());
    assert_eq!(pending[0].event_id, "e1");
    assert_eq!(pending[0].created_at, 1_000);
    let e = s
        .record_attempts(Arc::new(vec![AttemptRecord {
            attempt: 2,
            ..attempt("w1", w1, e1, Next::Failed)
        }]))
        .await
        .unwrap();
    assert_eq!(e[0].consecutive_failures, 2);
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
    let e2 = s
        .append_events("a", vec![event(2, &[(w1, true)])], room(&[w1], 1), 1_000)
        .await
        .unwrap()
        .events[0]
        .seq;
    assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 1);
    s.record_attempts(Arc::new(vec![AttemptRecord {
        outcome: Outcome::Success,
        status: Some(200),
        ..attempt("w1", w1, e2, Next::Succeeded)
    }]))
    .await
    .unwrap();
    let counts = s.delivery_counts("a", "w1").await.unwrap();
    assert_eq!((counts.succeeded, counts.failed, counts.pending), (1, 1, 0));
    assert_eq!(s.replay("a", "w1", Some(e2), 200_000, 10).await.unwrap(), 0);
    assert_eq!(s.replay("b", "w1", None, 200_000, 10).await.unwrap(), 0);
    assert_eq!(s.replay("a", "w1", Some(e1), 200_000, 10).await.unwrap(), 1);
    assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 1);
}

pub async fn a_deleted_webhook_keeps_its_number_and_late_attempts_record_nothing(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    let taken = [(w1, true)];
    let appended = s
        .append_events(
            "a",
            vec![event(1, &taken), event(2, &taken)],
            room(&[w1], 2),
            1_000,
        )
        .await
        .unwrap();
    let (e1, e2) = (appended.events[0].seq, appended.events[1].seq);
    s.record_attempts(Arc::new(vec![attempt(
        "w1",
        w1,
        e1,
        Next::RetryAt(130_000),
    )]))
    .await
    .unwrap();
    // e3 waits to be leased.
    append(s, "a", vec![event(3, &taken)], 1_000).await;
    assert_eq!(s.delete_webhook("a", "w1").await.unwrap(), Some(w1));
    let leftovers = Leftovers {
        app_id: None,
        webhooks: vec![("w1".into(), w1)],
    };
    while !s.purge_deleted(leftovers.clone(), 0, 1).await.unwrap().done {}
    // Attempts that were under way when it was deleted end now: nothing is written.
    let effects = s
        .record_attempts(Arc::new(vec![
            attempt("w1", w1, e1, Next::RetryAt(140_000)),
            attempt("w1", w1, e2, Next::Failed),
        ]))
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
    // Deliveries only go to a live webhook of the event's app.
    let both = [(w1, true), (w2, true), (w1, false)];
    let appended = s
        .append_events("b", vec![event(4, &both)], room(&[w1, w2], 1), 1_000)
        .await
        .unwrap();
    assert!(appended.events[0].handed.iter().all(|w| *w == w2));
    s.append_events("a", vec![event(5, &[(w2, true)])], Room::default(), 1_000)
        .await
        .unwrap();
    let leased = s
        .lease(vec![(w1, 10), (w2, 10)], i64::MAX / 2, i64::MAX / 2)
        .await
        .unwrap();
    assert!(
        keys(&leased).iter().all(|k| *k == (w2, "e4")),
        "{:?}",
        keys(&leased)
    );
    assert!(s.deliveries("a", "w2", None, 10).await.unwrap().is_empty());
}

pub async fn retention_deletes_what_is_old_and_settled_and_keeps_pending_deliveries(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    // Events e1-e4 arrive at minute 1, e5 at minute 20.
    let mut e = vec![0];
    e.extend(append(s, "a", (1..=4).map(|n| event(n, &[])).collect(), 60_000).await);
    e.extend(append(s, "a", vec![event(5, &[])], 20 * 60_000).await);
    let succeeded = |n| AttemptRecord {
        outcome: Outcome::Success,
        status: Some(200),
        ..attempt("w1", w1, n, Next::Succeeded)
    };
    // 1, 2 and 5 delivered, 3 failed for good, 4 waiting for a retry.
    s.record_attempts(Arc::new(vec![
        succeeded(e[1]),
        succeeded(e[2]),
        attempt("w1", w1, e[3], Next::Failed),
        attempt("w1", w1, e[4], Next::RetryAt(30 * 60_000)),
        AttemptRecord {
            at: 20 * 60_000,
            ..succeeded(e[5])
        },
    ]))
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
    // Deleted events e1-e3 are new again; e4 (pending) and e5 (young) are duplicates.
    let again = s
        .append_events(
            "a",
            (1..=5).map(|n| event(n, &[])).collect(),
            Room::default(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        again.events.iter().map(|e| e.new).collect::<Vec<_>>(),
        [true, true, true, false, false]
    );
    let highest = again.events.iter().map(|e| e.seq).max().unwrap();
    assert!(highest > e[5]);
    // Numbers of stored events are never given again, even when the newest events go.
    s.record_attempts(Arc::new(vec![AttemptRecord {
        at: 20 * 60_000,
        ..succeeded(e[4])
    }]))
    .await
    .unwrap();
    while s.purge_before(i64::MAX, 100).await.unwrap() > 0 {}
    assert!(s.deliveries("a", "w1", None, 10).await.unwrap().is_empty());
    let next = append(s, "a", vec![event(9, &[])], 1).await[0];
    assert!(next > highest, "{next} after {highest}");
}

pub async fn replay_goes_in_chunks_of_failed_and_skipped_deliveries(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    let seqs = append(s, "a", (1..=3).map(|n| event(n, &[])).collect(), 1_000).await;
    let failed: Vec<AttemptRecord> = seqs
        .iter()
        .map(|n| attempt("w1", w1, *n, Next::Failed))
        .collect();
    s.record_attempts(Arc::new(failed)).await.unwrap();
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
    let e = append(
        s,
        "a",
        vec![of_user(1, "u2"), of_user(2, "u1"), of_user(3, "u1")],
        1_000,
    )
    .await;
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
    let next = append(s, "a", vec![event(4, &[])], 1).await[0];
    assert!(next > e[2]);
    // An attempt under way for an erased event ends: nothing of it is written.
    s.record_attempts(Arc::new(vec![
        attempt("w1", w1, e[2], Next::RetryAt(5_000)),
        attempt("w1", w1, e[0], Next::RetryAt(5_000)),
    ]))
    .await
    .unwrap();
    assert_eq!(s.logs("w1", 10, None).await.unwrap().len(), 1);
    let rows = s.deliveries("a", "w1", None, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        ["e1"]
    );
}

pub async fn apps_keep_their_origins_and_replaced_keys_expire(s: &dyn Store) {
    let app = AppRecord {
        id: "a".into(),
        name: "A".into(),
        created_at: 1,
        bridge_origins: vec!["https://a.test".into()],
    };
    s.create_app(app, "k1".into()).await.unwrap();
    let got = s.get_app("a").await.unwrap().unwrap();
    assert_eq!(got.bridge_origins, ["https://a.test"]);
    let renamed = s
        .update_app("a", Some("B".into()), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.bridge_origins.len()),
        ("B", 1)
    );
    let cleared = s
        .update_app("a", None, Some(vec![]))
        .await
        .unwrap()
        .unwrap();
    assert!(cleared.bridge_origins.is_empty());
    assert!(s.update_app("nope", None, None).await.unwrap().is_none());
    // A new key; the old one stays valid until its expiry, then is gone.
    let until = now_ms() + 60_000;
    assert!(s.rotate_app_key("a", "k2".into(), until).await.unwrap());
    let mut keys: Vec<(String, Option<Millis>)> = s
        .app_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.hash, k.expires_at))
        .collect();
    keys.sort();
    assert_eq!(keys, [("k1".into(), Some(until)), ("k2".into(), None)]);
    // Revoked at once: only the newest opens the app.
    assert!(s.rotate_app_key("a", "k3".into(), 0).await.unwrap());
    let mut hashes: Vec<String> = s
        .app_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.hash)
        .collect();
    hashes.sort();
    assert_eq!(hashes, ["k1", "k3"], "k2 was revoked; k1 keeps its grace");
    assert!(!s.rotate_app_key("nope", "k4".into(), 0).await.unwrap());
    // Deleting the app takes every key of it.
    s.delete_app("a").await.unwrap();
    assert!(s.app_keys().await.unwrap().is_empty());
}

pub async fn in_order_leases_stop_at_the_first_delivery_not_due(s: &dyn Store) {
    let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
    let seqs = append(
        s,
        "a",
        (1..=4).map(|n| event(n, &[(w1, true)])).collect(),
        100,
    )
    .await;
    let first = s.lease_in_order(w1, 2, 100, 5_000).await.unwrap();
    assert_eq!(keys(&first), [(w1, "e1"), (w1, "e2")]);
    // e1 fails and waits for its retry; e2, behind it, is given back unsent.
    s.record_attempts(Arc::new(vec![
        attempt("w1", w1, seqs[0], Next::RetryAt(10_000)),
        AttemptRecord::release("w1", w1, seqs[1], 100, 1, 200, 10),
    ]))
    .await
    .unwrap();
    // e1 holds e2 (due) and what the log has behind them.
    assert!(
        s.lease_in_order(w1, 10, 300, 5_000)
            .await
            .unwrap()
            .is_empty()
    );
    let due = s.lease_in_order(w1, 10, 10_000, 20_000).await.unwrap();
    assert_eq!(keys(&due), [(w1, "e1"), (w1, "e2"), (w1, "e3"), (w1, "e4")]);
    // Leased: they hold what comes after until they are recorded.
    assert!(
        s.lease_in_order(w1, 10, 10_001, 20_000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn recent_events_are_the_apps_of_those_kinds_newest_first(s: &dyn Store) {
    let of_kind = |n: i64, kind: &str| NewEvent {
        kind: kind.into(),
        ..event(n, &[])
    };
    append(
        s,
        "a",
        vec![of_kind(1, "x"), of_kind(2, "y"), of_kind(3, "x")],
        100,
    )
    .await;
    append(s, "b", vec![of_kind(4, "x")], 200).await;
    let bodies =
        |events: Vec<StoredEvent>| -> Vec<String> { events.into_iter().map(|e| e.body).collect() };
    let recent = s.recent_events("a", vec!["x".into()], 10).await.unwrap();
    assert_eq!(bodies(recent), [r#"{"id":"e3"}"#, r#"{"id":"e1"}"#]);
    let both = s
        .recent_events("a", vec!["x".into(), "y".into()], 2)
        .await
        .unwrap();
    assert_eq!(bodies(both), [r#"{"id":"e3"}"#, r#"{"id":"e2"}"#]);
    assert!(
        s.recent_events("c", vec!["x".into()], 10)
            .await
            .unwrap()
            .is_empty()
    );
}
