//! Auto-disable: `410 Gone`, failures in a row, the failure rate; pending deliveries held and
//! resumed on enable; events arriving while disabled recorded as skipped and replayable.

use std::time::Duration;

use serde_json::json;

use crate::harness::{TestServer, event};
use crate::receiver::{Mode, TestReceiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_holds_pending_skips_new_and_resumes_on_enable() {
    let s =
        TestServer::start_with(|c| c.retry.schedule = vec![Duration::from_millis(300); 2]).await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    r.script([Mode::Status(410)]);
    s.ingest(&a, event("e1", "message.push.sent")).await;
    r.wait_for(1, Duration::from_secs(3)).await;
    let v = s
        .eventually(&a, &format!("/webhooks/{w}"), |v| v["enabled"] == false)
        .await;
    assert_eq!(v["status"]["state"], "disabled");
    assert_eq!(v["status"]["reason"], "the receiver answered 410 Gone");
    assert!(v["status"]["disabled_at"].as_i64().is_some());
    // The retry is held: nothing more is sent, the delivery stays pending.
    s.ingest(&a, event("e2", "message.push.sent")).await;
    r.assert_stays_at(1, Duration::from_millis(700)).await;
    let d = s.get(&a, &format!("/webhooks/{w}/deliveries")).await;
    let states: Vec<(&str, &str)> = d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event_id"].as_str().unwrap(),
                d["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(states.contains(&("e1", "pending")), "{states:?}");
    assert!(states.contains(&("e2", "skipped")), "{states:?}");
    let stats = s.get(&a, &format!("/webhooks/{w}/stats")).await;
    assert_eq!(stats["status"]["state"], "disabled");
    assert_eq!(stats["deliveries"]["skipped"], 1);

    // Enable: the held delivery resumes (once); the skipped one waits for a replay.
    let (_, v) = s
        .app_call("POST", &a, &format!("/webhooks/{w}/enable"), None)
        .await;
    assert_eq!(v["enabled"], true);
    let got = r.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(got[1].json()["id"], "e1");
    r.assert_stays_at(2, Duration::from_millis(500)).await;
    let (_, v) = s
        .app_call(
            "POST",
            &a,
            &format!("/webhooks/{w}/deliveries/replay"),
            None,
        )
        .await;
    assert_eq!(v["replayed"], 1);
    let got = r.wait_for(3, Duration::from_secs(3)).await;
    assert_eq!(got[2].json()["id"], "e2");
    s.eventually(&a, &format!("/webhooks/{w}/stats"), |v| {
        v["deliveries"] == json!({"pending": 0, "succeeded": 2, "failed": 0, "skipped": 0})
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_in_a_row_disable() {
    let s = TestServer::start_with(|c| {
        c.disable.consecutive_failures = 3;
        c.retry.schedule = vec![Duration::from_secs(60)];
    })
    .await;
    let r = TestReceiver::start().await;
    r.set_default(Mode::Status(500));
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    for i in 0..2 {
        s.ingest(&a, event(&format!("e{i}"), "message.push.sent"))
            .await;
    }
    r.wait_for(2, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.get(&a, &format!("/webhooks/{w}")).await["enabled"], true);
    s.ingest(&a, event("e2", "message.push.sent")).await;
    let v = s
        .eventually(&a, &format!("/webhooks/{w}"), |v| v["enabled"] == false)
        .await;
    assert_eq!(v["status"]["reason"], "3 failed attempts in a row");
    // A success in between resets the count.
    let (_, _) = s
        .app_call("POST", &a, &format!("/webhooks/{w}/enable"), None)
        .await;
    r.script([
        Mode::Status(500),
        Mode::Status(500),
        Mode::Ok,
        Mode::Status(500),
        Mode::Status(500),
    ]);
    for i in 10..15 {
        s.ingest(&a, event(&format!("e{i}"), "message.push.sent"))
            .await;
        r.wait_for(4 + i - 10, Duration::from_secs(3)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.get(&a, &format!("/webhooks/{w}")).await["enabled"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_rate_disables() {
    let s = TestServer::start_with(|c| {
        c.disable.failure_threshold = 5;
        c.disable.failure_window = Duration::from_secs(300);
        c.retry.schedule = vec![Duration::from_secs(60)];
    })
    .await;
    let r = TestReceiver::start().await;
    // Successes in between do not reset a rate.
    r.script([
        Mode::Status(500),
        Mode::Ok,
        Mode::Status(502),
        Mode::Ok,
        Mode::Status(500),
        Mode::Status(500),
    ]);
    r.set_default(Mode::Status(500));
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    for i in 0..6 {
        s.ingest(&a, event(&format!("e{i}"), "message.push.sent"))
            .await;
        r.wait_for(i + 1, Duration::from_secs(3)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.get(&a, &format!("/webhooks/{w}")).await["enabled"], true);
    s.ingest(&a, event("e6", "message.push.sent")).await;
    let v = s
        .eventually(&a, &format!("/webhooks/{w}"), |v| v["enabled"] == false)
        .await;
    assert_eq!(v["status"]["reason"], "5 failed attempts within 300s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_while_catching_up_resumes_from_the_log_and_skips_what_came_meanwhile() {
    // Room for 2 jobs and one request at a time to a slow receiver: most of the first batch
    // waits in the event log when the webhook is disabled.
    let s = TestServer::start_with(|c| {
        c.delivery.queue_per_webhook = 2;
        c.delivery.concurrency_per_webhook = 1;
    })
    .await;
    let r = TestReceiver::start().await;
    r.set_default(Mode::Slow(Duration::from_millis(100)));
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    let batch = |prefix: &str, n: usize| {
        let events: Vec<_> = (0..n)
            .map(|i| event(&format!("{prefix}{i}"), "message.push.sent"))
            .collect();
        json!({ "events": events })
    };
    s.ingest(&a, batch("a", 10)).await;
    s.app_call("POST", &a, &format!("/webhooks/{w}/disable"), None)
        .await;
    s.ingest(&a, batch("b", 5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = r.received().len();
    assert!(
        before < 10,
        "all sent before the disable: the test proves nothing"
    );
    r.set_default(Mode::Ok);
    s.app_call("POST", &a, &format!("/webhooks/{w}/enable"), None)
        .await;
    r.wait_for(10, Duration::from_secs(5)).await;
    r.assert_stays_at(10, Duration::from_millis(500)).await;
    let ids = r.event_ids();
    let mut want: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    want.sort();
    assert_eq!(ids, want);
    let stats = s.get(&a, &format!("/webhooks/{w}/stats")).await;
    assert_eq!(stats["deliveries"]["skipped"], 5, "{stats}");
}
