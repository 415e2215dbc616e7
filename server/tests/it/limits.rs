//! `[limits]`: what one client can make the server hold or do. Each limit set low, then met.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{TestServer, event, webhook_body};

fn addr(s: &TestServer) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes or `within` passes; what was read, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), false),
        }
    }
}

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    let s = TestServer::start_with(|c| c.limits.header_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(addr(&s)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the connection is still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A client that sends its headers in time is answered.
    let (status, _) = s.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_client_slow_to_send_its_body_gets_408() {
    let s = TestServer::start_with(|c| c.limits.body_timeout = Duration::from_millis(300)).await;
    let app = s.app("a").await;
    let mut stream = TcpStream::connect(addr(&s)).await.unwrap();
    let head = format!(
        "POST /v1/apps/{}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"kind\":",
        app.0, app.1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("limits.body_timeout"), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let s = TestServer::start_with(|c| c.limits.max_connections = 2).await;
    // The harness's client may keep a connection of its own open: two idle ones fill the slots
    // either way (the second waits in the accept queue when the harness holds one).
    let idle_a = TcpStream::connect(addr(&s)).await.unwrap();
    let idle_b = TcpStream::connect(addr(&s)).await.unwrap();
    // The slots are taken: a third client's request waits.
    let mut third = TcpStream::connect(addr(&s)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut third, Duration::from_millis(500)).await;
    assert!(answer.is_empty(), "answered past the cap: {answer}");
    drop((idle_a, idle_b));
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed);
}

#[tokio::test]
async fn a_batch_past_the_limit_is_refused_whole() {
    let s = TestServer::start_with(|c| c.limits.max_batch_events = 3).await;
    let app = s.app("a").await;
    let batch = |n: usize| json!({"events": (0..n).map(|i| event(&format!("e{i}"), "k")).collect::<Vec<_>>()});
    let (status, v) = s.app_call("POST", &app, "/events", Some(batch(4))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "too_many_events");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.max_batch_events"),
        "{v}"
    );
    assert_eq!(s.ingest(&app, batch(3)).await["accepted"], 3);
}

#[tokio::test]
async fn ids_and_kinds_past_their_lengths_are_refused() {
    let s = TestServer::start_with(|c| {
        c.limits.max_id_chars = 10;
        c.limits.max_kind_chars = 12;
    })
    .await;
    let app = s.app("a").await;
    let refused = |body: Value, says: &'static str| {
        let (s, app) = (&s, &app);
        async move {
            let (status, v) = s.app_call("POST", app, "/events", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
            let message = v["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains(says), "{message}");
        }
    };
    refused(
        event("12345678901", "k"),
        "id: 11 characters, longer than 10 (limits.max_id_chars)",
    )
    .await;
    refused(
        json!({"events": [event("ok", "k"), event("ok2", "message.push2")]}),
        "events[1].kind: 13 characters",
    )
    .await;
    refused(event("ok", "message.push.x"), "limits.max_kind_chars").await;
    s.ingest(&app, event("1234567890", "message.push")).await;
    // Characters, not bytes: ten of them in 30 bytes fit.
    s.ingest(&app, event("一二三四五六七八九十", "message.push"))
        .await;
}

#[tokio::test]
async fn an_app_may_not_have_more_webhooks_than_the_limit() {
    let s = TestServer::start_with(|c| c.limits.max_webhooks_per_app = 2).await;
    let (a, b) = (s.app("a").await, s.app("b").await);
    let url = "http://127.0.0.1:9/hook";
    let first = s.webhook(&a, url, &["k"]).await;
    s.webhook(&a, url, &["k"]).await;
    let (status, v) = s
        .app_call("POST", &a, "/webhooks", Some(webhook_body(url, &["k"])))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "too_many_webhooks");
    // Per app; and a deleted one frees its place.
    s.webhook(&b, url, &["k"]).await;
    let (status, _) = s
        .app_call("DELETE", &a, &format!("/webhooks/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.webhook(&a, url, &["k"]).await;
}

#[tokio::test]
async fn a_template_past_the_size_limit_is_refused_naming_it() {
    let s = TestServer::start_with(|c| c.limits.max_template_bytes = 400).await;
    let app = s.app("a").await;
    let mut body = webhook_body("http://127.0.0.1:9/hook", &["k"]);
    body["headers"] = json!({"X-Big": "x".repeat(401)});
    for path in ["/webhooks", "/webhooks/preview"] {
        let payload = if path.ends_with("preview") {
            json!({ "webhook": body })
        } else {
            body.clone()
        };
        let (status, v) = s.app_call("POST", &app, path, Some(payload)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("headers.X-Big: the template is 401 bytes")
                && message.contains("limits.max_template_bytes"),
            "{message}"
        );
    }
}
