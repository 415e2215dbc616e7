//! A webhook's own limits, seen from a receiver that counts its concurrency and its arrivals per
//! interval: a burst to a webhook limited to 100 requests a second arrives at that rate with
//! nothing lost, `max_in_flight: 2` never sees a third request at once, and a `503` with
//! `Retry-After` holds the whole webhook, not only the delivery it answered.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, event, webhook_body};

/// A receiver that counts: requests under way now and at most, arrival times and event ids. The
/// first `refuse` requests get `503` with `Retry-After: 2`; each answer takes `delay`.
#[derive(Default)]
struct Counter {
    now: AtomicUsize,
    most: AtomicUsize,
    arrivals: Mutex<Vec<(Instant, String)>>,
    refuse: AtomicUsize,
    delay: Duration,
}

async fn count(State(c): State<Arc<Counter>>, body: Bytes) -> (StatusCode, HeaderMap) {
    let under_way = c.now.fetch_add(1, Ordering::SeqCst) + 1;
    c.most.fetch_max(under_way, Ordering::SeqCst);
    let id = serde_json::from_slice::<Value>(&body).unwrap_or_default()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    c.arrivals.lock().unwrap().push((Instant::now(), id));
    tokio::time::sleep(c.delay).await;
    c.now.fetch_sub(1, Ordering::SeqCst);
    let refused = c
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let mut headers = HeaderMap::new();
    if refused {
        headers.insert("retry-after", "2".parse().unwrap());
        return (StatusCode::SERVICE_UNAVAILABLE, headers);
    }
    (StatusCode::OK, headers)
}

async fn counter(counter: Counter) -> (Arc<Counter>, String) {
    let counter = Arc::new(counter);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(count))
        .with_state(counter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (counter, url)
}

async fn arrived(c: &Counter, n: usize, within: Duration) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + within;
    loop {
        let got = c.arrivals.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A webhook to `url` with `limits` merged into the test definition; its id.
async fn limited(s: &TestServer, app: &(String, String), url: &str, limits: Value) -> String {
    let mut body = webhook_body(url, &["message.push.sent"]);
    for (k, v) in limits.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, created) = s.app_call("POST", app, "/webhooks", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for (k, v) in limits.as_object().unwrap() {
        assert_eq!(&created[k], v, "{k} is shown");
    }
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_arrives_at_the_rate_limit_with_nothing_lost() {
    let s = TestServer::start().await;
    let (c, url) = counter(Counter::default()).await;
    let app = s.app("paced").await;
    let id = limited(
        &s,
        &app,
        &url,
        json!({"rate_limit": {"requests": 100, "per": "1s"}}),
    )
    .await;
    for batch in 0..20 {
        let events: Vec<Value> = (0..100)
            .map(|i| event(&format!("e{}", batch * 100 + i), "message.push.sent"))
            .collect();
        s.ingest(&app, json!({ "events": events })).await;
    }
    let got = arrived(&c, 2000, Duration::from_secs(40)).await;
    let ids: HashSet<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!((got.len(), ids.len()), (2000, 2000), "each event once");
    // Arrivals per whole second from the first one: 100 ± 10%.
    let first = got[0].0;
    let mut per_second = [0usize; 25];
    for (at, _) in &got {
        per_second[at.duration_since(first).as_secs() as usize] += 1;
    }
    let whole = (got.last().unwrap().0.duration_since(first).as_secs()) as usize;
    assert!((18..=21).contains(&whole), "{whole} s for 2000 at 100/s");
    for (second, n) in per_second[..whole].iter().enumerate() {
        assert!((90..=110).contains(n), "second {second}: {n} requests");
    }
    // Stats show the wait: the last of the burst waited about 20 s.
    let stats = s.get(&app, &format!("/webhooks/{id}/stats")).await;
    let waited = &stats["queue"]["waited_ms"];
    assert!(waited["max"].as_u64().unwrap() > 15_000, "{stats:#}");
    assert_eq!(stats["queue"]["in_memory"], 0, "{stats:#}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_two_never_sees_a_third_request() {
    let s = TestServer::start().await;
    let (c, url) = counter(Counter {
        delay: Duration::from_millis(50),
        ..Counter::default()
    })
    .await;
    let app = s.app("narrow").await;
    limited(&s, &app, &url, json!({"max_in_flight": 2})).await;
    let events: Vec<Value> = (0..40)
        .map(|i| event(&format!("e{i}"), "message.push.sent"))
        .collect();
    s.ingest(&app, json!({ "events": events })).await;
    let got = arrived(&c, 40, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 40);
    assert_eq!(c.most.load(Ordering::SeqCst), 2, "two at once, never three");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_holds_the_whole_webhook() {
    let s = TestServer::start().await;
    let (c, url) = counter(Counter {
        refuse: AtomicUsize::new(1),
        ..Counter::default()
    })
    .await;
    let app = s.app("paused").await;
    limited(&s, &app, &url, json!({"max_in_flight": 1})).await;
    s.ingest(&app, event("e1", "message.push.sent")).await;
    let first = arrived(&c, 1, Duration::from_secs(5)).await[0].0;
    s.ingest(&app, event("e2", "message.push.sent")).await;
    let got = arrived(&c, 3, Duration::from_secs(8)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    for (at, id) in &got[1..] {
        let after = at.duration_since(first);
        assert!(
            after >= Duration::from_millis(1900),
            "{id} was sent {after:?} after the 503 asked for 2 s"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn limits_are_checked_shown_and_editable() {
    let s = TestServer::start().await;
    let app = s.app("checked").await;
    let url = "http://127.0.0.1:9/hook";
    for (limits, field) in [
        (
            json!({"rate_limit": {"requests": 0, "per": "1s"}}),
            "rate_limit.requests",
        ),
        (
            json!({"rate_limit": {"requests": 10, "per": "1h"}}),
            "rate_limit.per",
        ),
        (json!({"rate_limit": {"requests": 10}}), "rate_limit.per"),
        (
            json!({"rate_limit": {"requests": 10, "per": "1s", "burst": 5}}),
            "rate_limit.burst",
        ),
        (json!({"rate_limit": 100}), "rate_limit"),
        (json!({"max_in_flight": 0}), "max_in_flight"),
        (json!({"max_in_flight": 2.5}), "max_in_flight"),
        (json!({"max_in_flight": "2"}), "max_in_flight"),
    ] {
        let mut body = webhook_body(url, &["k"]);
        for (k, v) in limits.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, refused) = s.app_call("POST", &app, "/webhooks", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{limits}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{limits}: {message}"
        );
    }
    let (_, list) = s.app_call("GET", &app, "/webhooks", None).await;
    assert_eq!(list["webhooks"], json!([]), "nothing was saved");

    let id = limited(&s, &app, url, json!({"max_in_flight": 3})).await;
    let mut edited = webhook_body(url, &["k"]);
    edited["rate_limit"] = json!({"requests": 30, "per": "1m"});
    let (status, updated) = s
        .app_call("PUT", &app, &format!("/webhooks/{id}"), Some(edited))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["rate_limit"], json!({"requests": 30, "per": "1m"}));
    assert_eq!(updated["max_in_flight"], Value::Null);
    s.stop().await;
}
