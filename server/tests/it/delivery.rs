//! Delivery: the rendered request arrives, retries follow the schedule exactly, `Retry-After` is
//! honoured, timeouts and resets are retried and classified, failed deliveries are listed and
//! replayed, stats and logs tell what happened, and a slow receiver delays no one else.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, event};
use crate::receiver::{Mode, TestReceiver};

fn gap_ms(a: &crate::receiver::Received, b: &crate::receiver::Received) -> u128 {
    b.at.duration_since(a.at).as_millis()
}

/// A gap between two attempts: at least the delay, and not much more (the suite runs its tests
/// side by side on a small machine, some of them heavy, so a wake-up may come late).
fn assert_gap(got: u128, want: u128) {
    assert!(
        got + 5 >= want && got <= want + 600,
        "retry gap {got} ms, expected about {want} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_the_rendered_request_once_per_event_id() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s
        .webhook(
            &a,
            &r.url("/webhook/user/{{event.external_id}}"),
            &["message.push.sent"],
        )
        .await;
    let other = s
        .webhook(&a, &r.url("/other"), &["message.push.clicked"])
        .await;
    let v = s
        .ingest(
            &a,
            event("6f24fcf2-0467-4d4f-9d62-567f8ed0deb9", "message.push.sent"),
        )
        .await;
    assert_eq!(v, json!({"accepted": 1, "duplicates": 0, "deliveries": 1}));
    let got = r.wait_for(1, Duration::from_secs(3)).await;
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/webhook/user/user-42");
    assert_eq!(req.header("authorization"), Some("Bearer s3cret-token"));
    assert_eq!(req.header("x-kind"), Some("message.push.sent"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(
        req.header("user-agent")
            .is_some_and(|ua| ua.starts_with("hookline/")),
        "{:?}",
        req.headers
    );
    let body = req.json();
    assert_eq!(body["id"], "6f24fcf2-0467-4d4f-9d62-567f8ed0deb9");
    assert_eq!(body["kind"], "message.push.sent");
    assert_eq!(body["app_id"], a.0);
    assert_eq!(body["external_user_id"], "user-42");
    assert_eq!(body["timestamp"], 1708559416);
    assert!(
        body["datetime"]
            .as_str()
            .unwrap()
            .starts_with("2024-02-21T23:50:16"),
        "{body}"
    );
    // webhook-id is the delivery's id.
    let d = s
        .eventually(&a, &format!("/webhooks/{w}/deliveries"), |v| {
            v["deliveries"][0]["state"] == "succeeded"
        })
        .await;
    assert_eq!(req.header("webhook-id"), d["deliveries"][0]["id"].as_str());
    assert_eq!(d["deliveries"][0]["attempts"], 1);
    // The same id again: accepted, not stored twice, not sent twice; a batch counts each.
    let v = s
        .ingest(&a, json!({"events": [event("6f24fcf2-0467-4d4f-9d62-567f8ed0deb9", "message.push.sent"), event("e2", "message.push.sent")]}))
        .await;
    assert_eq!(v, json!({"accepted": 1, "duplicates": 1, "deliveries": 1}));
    r.wait_for(2, Duration::from_secs(3)).await;
    r.assert_stays_at(2, Duration::from_millis(300)).await;
    // The webhook for another kind got nothing.
    assert_eq!(
        s.get(&a, &format!("/webhooks/{other}/deliveries")).await["deliveries"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_the_schedule_with_the_same_webhook_id_then_succeeds() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    r.script([Mode::Status(500), Mode::Status(503)]);
    s.ingest(&a, event("e1", "message.push.sent")).await;
    let got = r.wait_for(3, Duration::from_secs(3)).await;
    r.assert_stays_at(3, Duration::from_millis(700)).await;
    assert_gap(gap_ms(&got[0], &got[1]), 200);
    assert_gap(gap_ms(&got[1], &got[2]), 400);
    let id = got[0].header("webhook-id").unwrap();
    assert!(got.iter().all(|g| g.header("webhook-id") == Some(id)));
    assert_eq!(got[0].body, got[2].body);

    let d = s
        .eventually(&a, &format!("/webhooks/{w}/deliveries"), |v| {
            v["deliveries"][0]["state"] == "succeeded"
        })
        .await;
    assert_eq!(d["deliveries"][0]["attempts"], 3);
    assert_eq!(d["deliveries"][0]["last_status"], 200);
    let stats = s
        .eventually(&a, &format!("/webhooks/{w}/stats?range=1h"), |v| {
            v["all_time"]["attempts"] == 3
        })
        .await;
    assert_eq!(stats["all_time"]["counts"]["2xx"], 1);
    assert_eq!(stats["all_time"]["counts"]["5xx"], 2);
    assert_eq!(stats["all_time"]["counts"]["4xx"], 0);
    assert_eq!(
        stats["deliveries"],
        json!({"pending": 0, "succeeded": 1, "failed": 0, "skipped": 0})
    );
    assert!(stats["all_time"]["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    let points = stats["series"]["points"].as_array().unwrap();
    assert_eq!(stats["series"]["step"], 60);
    let sum = |k: &str| points.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("2xx"), sum("5xx")), (1, 2));

    // Logs: newest first, every attempt here (failures always, successes sampled at 1 in 1).
    let logs = s.get(&a, &format!("/webhooks/{w}/logs")).await;
    let logs = logs["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[0]["status"], 200);
    assert_eq!(logs[0]["attempt"], 3);
    assert_eq!(logs[2]["status"], 500);
    assert_eq!(logs[2]["error_code"], "http_status");
    assert_eq!(logs[2]["outcome"], "5xx");
    assert_eq!(logs[2]["response"]["status"], 500);
    assert_eq!(logs[2]["response"]["body"], "{\"ok\":true}");
    let headers = logs[2]["request"]["headers"].as_array().unwrap();
    let auth = headers
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("authorization"))
        .unwrap();
    assert_eq!(auth[1], "********");
    assert!(!logs[2].to_string().contains("s3cret-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_permanently_after_the_last_retry_and_replays() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    r.set_default(Mode::Status(404));
    s.ingest(&a, event("e1", "message.push.sent")).await;
    s.ingest(&a, event("e2", "message.push.sent")).await;
    r.wait_for(6, Duration::from_secs(3)).await;
    r.assert_stays_at(6, Duration::from_millis(800)).await;
    let failed = s
        .eventually(&a, &format!("/webhooks/{w}/deliveries?state=failed"), |v| {
            v["deliveries"].as_array().unwrap().len() == 2
        })
        .await;
    let one = failed["deliveries"][0].clone();
    assert_eq!(one["attempts"], 3);
    assert_eq!(one["last_status"], 404);
    assert_eq!(one["last_error"], "http_status");
    assert_eq!(
        s.get(&a, &format!("/webhooks/{w}/deliveries?state=pending"))
            .await["deliveries"],
        json!([])
    );
    let (st, _) = s
        .app_call(
            "GET",
            &a,
            &format!("/webhooks/{w}/deliveries?state=lost"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Replay one: a fresh schedule, the same webhook-id.
    r.set_default(Mode::Ok);
    let (st, v) = s
        .call(
            "POST",
            &format!(
                "/v1/apps/{}/webhooks/{w}/deliveries/{}/replay",
                a.0,
                one["id"].as_str().unwrap()
            ),
            Some(&a.1),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["replayed"], 1);
    let got = r.wait_for(7, Duration::from_secs(3)).await;
    assert_eq!(got[6].header("webhook-id"), one["id"].as_str());
    // Replaying a delivery that is not failed: 404.
    let (st, _) = s
        .call(
            "POST",
            &format!(
                "/v1/apps/{}/webhooks/{w}/deliveries/{}/replay",
                a.0,
                one["id"].as_str().unwrap()
            ),
            Some(&a.1),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Replay all: the other one.
    let (_, v) = s
        .app_call(
            "POST",
            &a,
            &format!("/webhooks/{w}/deliveries/replay"),
            None,
        )
        .await;
    assert_eq!(v["replayed"], 1);
    r.wait_for(8, Duration::from_secs(3)).await;
    s.eventually(&a, &format!("/webhooks/{w}/stats"), |v| {
        v["deliveries"]["succeeded"] == 2 && v["deliveries"]["failed"] == 0
    })
    .await;
    let stats = s.get(&a, &format!("/webhooks/{w}/stats")).await;
    assert_eq!(stats["all_time"]["counts"]["4xx"], 6);
    assert_eq!(stats["all_time"]["counts"]["2xx"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_retry_after() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    r.script([Mode::TooMany(1)]);
    s.ingest(&a, event("e1", "message.push.sent")).await;
    let got = r.wait_for(2, Duration::from_secs(4)).await;
    // The schedule says 200 ms; the receiver asked for 1 s.
    let gap = gap_ms(&got[0], &got[1]);
    assert!((1000..1400).contains(&gap), "gap {gap} ms");
    let stats = s
        .eventually(&a, &format!("/webhooks/{w}/stats"), |v| {
            v["all_time"]["attempts"] == 2
        })
        .await;
    assert_eq!(stats["all_time"]["counts"]["4xx"], 1);
    assert_eq!(stats["all_time"]["counts"]["2xx"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_resets_are_retried_and_classified() {
    let s =
        TestServer::start_with(|c| c.delivery.request_timeout = Duration::from_millis(300)).await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    r.script([Mode::Slow(Duration::from_millis(800)), Mode::Reset]);
    s.ingest(&a, event("e1", "message.push.sent")).await;
    let got = r.wait_for(3, Duration::from_secs(4)).await;
    // 300 ms timeout, then 200 ms; the reset is immediate, then 400 ms.
    assert_gap(gap_ms(&got[0], &got[1]), 500);
    assert_gap(gap_ms(&got[1], &got[2]), 400);
    // Attempts reach the stats when they are recorded, which may follow the delivery's state.
    let stats = s
        .eventually(&a, &format!("/webhooks/{w}/stats"), |v| {
            v["deliveries"]["succeeded"] == 1 && v["all_time"]["attempts"] == 3
        })
        .await;
    let counts = &stats["all_time"]["counts"];
    assert_eq!(
        (
            counts["timeout"].as_u64(),
            counts["network_error"].as_u64(),
            counts["2xx"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let logs = s.get(&a, &format!("/webhooks/{w}/logs")).await;
    let codes: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["ok", "connection_reset", "timeout"]);
    assert!(logs["logs"][2]["response"]["error"].as_str().is_some());
    assert_eq!(logs["logs"][2]["response"]["status"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_delay_other_webhooks() {
    let s = TestServer::start_with(|c| {
        c.delivery.request_timeout = Duration::from_secs(5);
        c.delivery.concurrency_per_webhook = 2;
    })
    .await;
    let slow = TestReceiver::start().await;
    let fast = TestReceiver::start().await;
    slow.set_default(Mode::Slow(Duration::from_secs(3)));
    let a = s.app("a").await;
    s.webhook(&a, &slow.url("/slow"), &["message.push.sent"])
        .await;
    s.webhook(&a, &fast.url("/fast"), &["message.push.sent"])
        .await;
    let started = std::time::Instant::now();
    for i in 0..20 {
        s.ingest(&a, event(&format!("e{i}"), "message.push.sent"))
            .await;
    }
    fast.wait_for(20, Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    // The slow one holds only its own workers.
    assert_eq!(slow.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_memory_queue_is_delivered_in_full() {
    // Room for 4 jobs in memory: the rest of the batch waits in the store and is leased by the
    // poller, some with their event still parsed in memory, most parsed again from the store.
    let s = TestServer::start_with(|c| c.delivery.queue_per_webhook = 4).await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    s.webhook(&a, &r.url("/hook"), &["message.push.sent"]).await;
    let events: Vec<Value> = (0..40)
        .map(|i| {
            let mut e = event(&format!("burst-{i}"), "message.push.sent");
            e["external_id"] = json!(format!("user-{i}"));
            e
        })
        .collect();
    let v = s.ingest(&a, json!({ "events": events })).await;
    assert_eq!(
        v,
        json!({"accepted": 40, "duplicates": 0, "deliveries": 40})
    );
    let got = r.wait_for(40, Duration::from_secs(10)).await;
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|req| {
            let body = req.json();
            (
                body["id"].as_str().unwrap().to_string(),
                body["external_user_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    // Each once: none is sent twice (from memory and from the store).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.received().len(), 40);
    let mut want: Vec<(String, String)> = (0..40)
        .map(|i| (format!("burst-{i}"), format!("user-{i}")))
        .collect();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bursts_catch_up_from_the_log_once_per_webhook() {
    // Room for 4 jobs per webhook: batches from four producers at once mostly wait in the event
    // log while earlier ones are sent, and ingest hands deliveries straight over again once a
    // webhook has caught up. One webhook takes both kinds, the other one kind.
    let s = std::sync::Arc::new(TestServer::start_with(|c| c.delivery.queue_per_webhook = 4).await);
    let both = TestReceiver::start().await;
    let sent_only = TestReceiver::start().await;
    let a = s.app("a").await;
    s.webhook(
        &a,
        &both.url("/both"),
        &["message.push.sent", "message.push.clicked"],
    )
    .await;
    s.webhook(&a, &sent_only.url("/sent"), &["message.push.sent"])
        .await;
    let mut producers = Vec::new();
    for p in 0..4 {
        let s = s.clone();
        let a = a.clone();
        producers.push(tokio::spawn(async move {
            for b in 0..5 {
                let events: Vec<Value> = (0..20)
                    .map(|i| {
                        let kind = if i % 2 == 0 {
                            "message.push.sent"
                        } else {
                            "message.push.clicked"
                        };
                        event(&format!("p{p}-b{b}-e{i}"), kind)
                    })
                    .collect();
                s.ingest(&a, json!({ "events": events })).await;
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    both.wait_for(400, Duration::from_secs(15)).await;
    sent_only.wait_for(200, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = both.event_ids();
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!((got.len(), unique.len()), (400, 400));
    let got = sent_only.event_ids();
    assert_eq!(got.len(), 200);
    assert!(
        got.iter()
            .all(|id| id.ends_with(&['0', '2', '4', '6', '8'][..])),
        "{got:?}"
    );
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), 200);
}
