//! Retention and erasure: old data goes in the background while pending deliveries stay; deleting
//! an app removes all it owns and nothing of another's; erasing a user removes their events and
//! the logs that show them, in that app only.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, TestServer};
use crate::receiver::{Mode, TestReceiver};

fn user_event(id: &str, kind: &str, user: &str) -> Value {
    json!({"id": id, "kind": kind, "external_id": user, "timestamp": 1708559416})
}

fn batch(events: Vec<Value>) -> Value {
    json!({ "events": events })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_data_goes_in_the_background_while_pending_deliveries_and_their_events_stay() {
    let s = TestServer::start_with(|c| {
        c.retention.max_age = Duration::from_secs(1);
        c.retention.interval = Duration::from_millis(200);
        // A failed first attempt stays pending for a minute.
        c.retry.schedule = vec![Duration::from_secs(60)];
    })
    .await;
    let ok = TestReceiver::start().await;
    let failing = TestReceiver::start().await;
    failing.set_default(Mode::Status(500));
    let a = s.app("a").await;
    let sent = s.webhook(&a, &ok.url("/ok"), &["message.push.sent"]).await;
    let clicked = s
        .webhook(&a, &failing.url("/failing"), &["message.push.clicked"])
        .await;
    let sent_ids: Vec<String> = (0..5).map(|i| format!("sent-{i}")).collect();
    let clicked_ids: Vec<String> = (0..5).map(|i| format!("clicked-{i}")).collect();
    let events = sent_ids
        .iter()
        .map(|id| user_event(id, "message.push.sent", "u"))
        .chain(
            clicked_ids
                .iter()
                .map(|id| user_event(id, "message.push.clicked", "u")),
        )
        .collect();
    s.ingest(&a, batch(events)).await;
    ok.wait_for(5, Duration::from_secs(3)).await;
    failing.wait_for(5, Duration::from_secs(3)).await;
    // Recorded first (else the checks below would pass before there is anything to delete).
    s.eventually(&a, &format!("/webhooks/{sent}/logs"), |v| {
        v["logs"].as_array().unwrap().len() == 5
    })
    .await;

    // Past the age, the delivered ones go: deliveries, logs and events (per-minute stats go by
    // the minute: the store's tests cover them).
    let stats_path = format!("/webhooks/{sent}/stats");
    s.eventually(&a, &format!("/webhooks/{sent}/deliveries"), |v| {
        v["deliveries"].as_array().unwrap().is_empty()
    })
    .await;
    s.eventually(&a, &format!("/webhooks/{sent}/logs"), |v| {
        v["logs"].as_array().unwrap().is_empty()
    })
    .await;
    let stats = s.get(&a, &stats_path).await;
    assert_eq!(
        stats["all_time"]["attempts"], 5,
        "all-time totals stay: {stats}"
    );
    // The pending ones stay, with their events.
    let pending = s.get(&a, &format!("/webhooks/{clicked}/deliveries")).await;
    let pending = pending["deliveries"].as_array().unwrap();
    assert_eq!(pending.len(), 5);
    assert!(pending.iter().all(
        |d| d["state"] == "pending" && d["event_id"].as_str().unwrap().starts_with("clicked-")
    ));
    // An event that is gone is new again; one that is kept is still a duplicate. (Events go once
    // every webhook's saved cursor has passed them: after a quiet second, then a retention pass.)
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let again = sent_ids
        .iter()
        .map(|id| user_event(id, "message.push.sent", "u"))
        .chain(
            clicked_ids
                .iter()
                .map(|id| user_event(id, "message.push.clicked", "u")),
        )
        .collect();
    let v = s.ingest(&a, batch(again)).await;
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(5), Some(5)),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_removes_all_it_owns_and_nothing_of_another() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let b = s.app("b").await;
    let wa = s.webhook(&a, &r.url("/a"), &["message.push.sent"]).await;
    let wb = s.webhook(&b, &r.url("/b"), &["message.push.sent"]).await;
    s.ingest(&a, batch(vec![user_event("e1", "message.push.sent", "u")]))
        .await;
    s.ingest(&b, batch(vec![user_event("e1", "message.push.sent", "u")]))
        .await;
    r.wait_for(2, Duration::from_secs(3)).await;

    // An app key cannot delete an app: nothing changes.
    let (status, _) = s
        .call("DELETE", &format!("/v1/apps/{}", a.0), Some(&b.1), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.get(&a, &format!("/webhooks/{wa}")).await;

    let (status, v) = s
        .call(
            "DELETE",
            &format!("/v1/apps/{}", a.0),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    // Its key no longer works, it is no longer listed, its routes and bridge are gone.
    let (status, _) = s.app_call("GET", &a, "/webhooks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .call(
            "GET",
            &format!("/v1/apps/{}/webhooks/{wa}", a.0),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, apps) = s.call("GET", "/v1/apps", Some(ADMIN_KEY), None).await;
    let ids: Vec<&str> = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.0.as_str()]);
    let (status, _) = s
        .raw(
            &format!("/v1/apps/{}/browser-events", a.0),
            None,
            "text/plain",
            br#"{"event":"notification.clicked","id":"n1","userId":"u1","action":""}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/v1/apps/{}", a.0),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The other app is untouched and goes on delivering.
    let d = s.get(&b, &format!("/webhooks/{wb}/deliveries")).await;
    assert_eq!(d["deliveries"].as_array().unwrap().len(), 1);
    s.ingest(&b, batch(vec![user_event("e2", "message.push.sent", "u")]))
        .await;
    let got = r.wait_for(3, Duration::from_secs(3)).await;
    assert_eq!(got.iter().filter(|q| q.path == "/a").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_user_removes_their_events_and_logs_in_that_app_only() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let b = s.app("b").await;
    let wa = s.webhook(&a, &r.url("/a"), &["message.push.sent"]).await;
    let wb = s.webhook(&b, &r.url("/b"), &["message.push.sent"]).await;
    let kind = "message.push.sent";
    s.ingest(
        &a,
        batch(vec![
            user_event("a1", kind, "u1"),
            user_event("a2", kind, "u1"),
            user_event("a3", kind, "u1"),
            user_event("a4", kind, "u2"),
            user_event("a5", kind, "u2"),
        ]),
    )
    .await;
    s.ingest(
        &b,
        batch(vec![
            user_event("b1", kind, "u1"),
            user_event("b2", kind, "u1"),
        ]),
    )
    .await;
    r.wait_for(7, Duration::from_secs(3)).await;
    s.eventually(&a, &format!("/webhooks/{wa}/logs"), |v| {
        v["logs"].as_array().unwrap().len() == 5
    })
    .await;
    s.eventually(&b, &format!("/webhooks/{wb}/logs"), |v| {
        v["logs"].as_array().unwrap().len() == 2
    })
    .await;

    for (body, message) in [
        (json!({}), "external_id: missing"),
        (json!({"external_id": ""}), "external_id: must not be empty"),
        (json!({"external_id": 5}), "external_id: expected a string"),
        (
            json!({"external_id": "u1", "also": 1}),
            "also: unknown field",
        ),
    ] {
        let (status, v) = s.app_call("POST", &a, "/erase", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(message),
            "{v}"
        );
    }
    let (status, v) = s
        .app_call("POST", &a, "/erase", Some(json!({"external_id": "u1"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"erased": {"events": 3, "deliveries": 3, "logs": 3}})
    );

    let ids = |v: &Value, list: &str| -> Vec<String> {
        let mut ids: Vec<String> = v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["event_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&s.get(&a, &format!("/webhooks/{wa}/logs")).await, "logs"),
        ["a4", "a5"]
    );
    assert_eq!(
        ids(
            &s.get(&a, &format!("/webhooks/{wa}/deliveries")).await,
            "deliveries"
        ),
        ["a4", "a5"]
    );
    // The other app's events of a user with the same external id stay.
    assert_eq!(
        ids(&s.get(&b, &format!("/webhooks/{wb}/logs")).await, "logs"),
        ["b1", "b2"]
    );
    // An erased event is gone: its id is new again.
    let v = s
        .ingest(&a, batch(vec![user_event("a1", kind, "u1")]))
        .await;
    assert_eq!(v["accepted"], 1);
}
