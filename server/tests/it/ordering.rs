//! `"ordering": "fifo"`: one request at a time in the order the events were accepted; a failing
//! delivery holds the ones behind it until it succeeds or fails permanently, across a disable and
//! re-enable and a SIGKILL in the middle of a retry.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, event, free_port, webhook_body};
use crate::process::{setup_with, spawn_with};
use crate::receiver::{Mode, Received, TestReceiver};

fn ids(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect()
}

fn events(n: usize) -> Value {
    let events: Vec<Value> = (1..=n)
        .map(|i| event(&format!("e{i}"), "message.push.sent"))
        .collect();
    json!({ "events": events })
}

fn fifo(url: &str) -> Value {
    let mut body = webhook_body(url, &["message.push.sent"]);
    body["ordering"] = json!("fifo");
    body
}

async fn fifo_webhook(s: &TestServer, app: &(String, String), url: &str) -> String {
    let (status, created) = s.app_call("POST", app, "/webhooks", Some(fifo(url))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["ordering"], "fifo");
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_failing_delivery_holds_the_ones_behind_it_until_it_succeeds() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    r.script([Mode::Status(500), Mode::Status(500)]);
    let app = s.app("fifo").await;
    fifo_webhook(&s, &app, &r.url("/hook")).await;
    s.ingest(&app, events(5)).await;
    let got = r.wait_for(7, Duration::from_secs(10)).await;
    assert_eq!(ids(&got), ["e1", "e1", "e1", "e2", "e3", "e4", "e5"]);
    r.assert_stays_at(7, Duration::from_millis(300)).await;
    s.stop().await;
}

#[tokio::test]
async fn a_delivery_that_fails_permanently_lets_the_next_go() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    // The test schedule: the first attempt and two retries.
    r.script([Mode::Status(500), Mode::Status(500), Mode::Status(500)]);
    let app = s.app("fifo").await;
    let id = fifo_webhook(&s, &app, &r.url("/hook")).await;
    s.ingest(&app, events(3)).await;
    let got = r.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(ids(&got), ["e1", "e1", "e1", "e2", "e3"]);
    let failed = s
        .eventually(
            &app,
            &format!("/webhooks/{id}/deliveries?state=failed"),
            |v| v["deliveries"].as_array().is_some_and(|d| d.len() == 1),
        )
        .await;
    assert_eq!(failed["deliveries"][0]["event_id"], "e1");
    s.stop().await;
}

#[tokio::test]
async fn order_survives_a_disable_and_re_enable() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    r.script([Mode::Status(500)]);
    let app = s.app("fifo").await;
    let id = fifo_webhook(&s, &app, &r.url("/hook")).await;
    s.ingest(&app, events(3)).await;
    r.wait_for(1, Duration::from_secs(5)).await;
    let (status, _) = s
        .app_call("POST", &app, &format!("/webhooks/{id}/disable"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Held: the retry of e1 falls due meanwhile, and nothing goes.
    r.assert_stays_at(1, Duration::from_millis(800)).await;
    let (status, _) = s
        .app_call("POST", &app, &format!("/webhooks/{id}/enable"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = r.wait_for(4, Duration::from_secs(5)).await;
    assert_eq!(ids(&got), ["e1", "e1", "e2", "e3"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_survives_a_sigkill_in_the_middle_of_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fifo.db");
    let r = TestReceiver::start().await;
    r.script([Mode::Status(500)]);
    let env = [("HOOKLINE_RETRY_SCHEDULE", "2s,2s")];
    let p = spawn_with(&db, free_port(), &env).await;
    let (app_id, key) = setup_with(&p, fifo(&r.url("/hook"))).await;
    let c = reqwest::Client::new();
    let ingested = c
        .post(format!("{}/v1/apps/{app_id}/events", p.base))
        .bearer_auth(&key)
        .json(&events(3))
        .send()
        .await
        .unwrap();
    assert_eq!(ingested.status(), 202);
    let first = r.wait_for(1, Duration::from_secs(5)).await[0].at;
    // e1 failed and waits 2 s for its retry, e2 and e3 behind it: kill now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut p = p;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert_eq!(r.received().len(), 1, "nothing else went before the kill");
    let mut p = spawn_with(&db, free_port(), &env).await;
    let got = r.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(ids(&got), ["e1", "e1", "e2", "e3"]);
    assert!(
        got[1].at.duration_since(first) >= Duration::from_millis(1900),
        "the retry kept its time across the restart: {:?}",
        got[1].at.duration_since(first)
    );
    r.assert_stays_at(4, Duration::from_millis(300)).await;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}
