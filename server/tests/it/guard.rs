//! The address guard, as an app key holder meets it: a webhook URL whose host is a blocked address
//! (in any spelling) is refused when saved; a host name that resolves to one fails each attempt,
//! test sends included, with a reason in the logs, and is counted and retried like any failure;
//! `delivery.allow_networks` lets a network through.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, event, webhook_body};
use crate::receiver::TestReceiver;

/// The server with nothing allowed, as it starts by default.
async fn guarded_server() -> TestServer {
    TestServer::start_with(|c| c.delivery.allow_networks.clear()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_address_in_any_spelling_is_refused_at_save_naming_url() {
    let s = guarded_server().await;
    let a = s.app("a").await;
    for url in [
        "http://127.0.0.1:8080/h",
        "http://10.0.0.5/h",
        "https://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1/",
        "http://0.0.0.0:8080/",
        "http://[::1]:8080/h",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/h",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::10.0.0.1]/",
        // Numeric spellings of 127.0.0.1: one number, hexadecimal, octal, a short form.
        "http://2130706433/h",
        "http://0x7f.1/h",
        "http://017700000001/h",
        "http://127.1/h",
        "http://0177.0.0.1/h",
        "http://0/h",
    ] {
        let (st, v) = s
            .app_call(
                "POST",
                &a,
                "/webhooks",
                Some(webhook_body(url, &["message.push.sent"])),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {v}");
        assert_eq!(v["error"]["code"], "blocked_address", "{url}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("url: address ") && message.contains("is in a blocked network"),
            "{url}: {message}"
        );
    }
    assert_eq!(s.get(&a, "/webhooks").await["webhooks"], json!([]));

    // Public addresses and host names are saved (a name is checked when an attempt resolves it).
    let mut saved = None;
    for url in [
        "https://8.8.8.8/h",
        "https://[2606:4700::1111]/h",
        "https://hooks.example.com/h",
        "http://localhost:8080/h",
    ] {
        let (st, v) = s
            .app_call(
                "POST",
                &a,
                "/webhooks",
                Some(webhook_body(url, &["message.push.sent"])),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{url}: {v}");
        saved = v["id"].as_str().map(String::from);
    }
    // An update is checked too, and leaves the webhook as it was.
    let w = saved.unwrap();
    let (st, v) = s
        .app_call(
            "PUT",
            &a,
            &format!("/webhooks/{w}"),
            Some(webhook_body("http://0x0a000001/h", &["message.push.sent"])),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"]["message"],
        "url: address 10.0.0.1 is in a blocked network (private, 10.0.0.0/8); \
         the server's delivery.allow_networks can allow it"
    );
    assert_eq!(
        s.get(&a, &format!("/webhooks/{w}")).await["url"],
        "http://localhost:8080/h"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_blocked_address_fails_every_attempt_with_the_reason() {
    let s = guarded_server().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    // `localhost` is a name: it passes the save, and resolves to loopback at each attempt.
    let url = format!("http://localhost:{}/h", r.addr.port());
    let w = s.webhook(&a, &url, &["message.push.sent"]).await;
    s.ingest(&a, event("e1", "message.push.sent")).await;
    // The first attempt and both retries fail: a failure like any other.
    let d = s
        .eventually(&a, &format!("/webhooks/{w}/deliveries"), |v| {
            v["deliveries"][0]["state"] == "failed"
        })
        .await;
    assert_eq!(d["deliveries"][0]["attempts"], 3);
    assert_eq!(d["deliveries"][0]["last_error"], "blocked_address");
    let stats = s.get(&a, &format!("/webhooks/{w}/stats")).await;
    assert_eq!(stats["all_time"]["counts"]["network_error"], 3, "{stats}");
    assert_eq!(stats["all_time"]["counts"]["2xx"], 0, "{stats}");
    let logs = s.get(&a, &format!("/webhooks/{w}/logs")).await;
    let logs = logs["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3);
    for log in logs {
        assert_eq!(log["error_code"], "blocked_address", "{log}");
        assert_eq!(log["outcome"], "network_error", "{log}");
        let reason = log["response"]["error"].as_str().unwrap();
        assert!(
            reason.starts_with("address ") && reason.contains("is in a blocked network"),
            "{reason}"
        );
    }
    // Nothing reached the receiver.
    r.assert_stays_at(0, Duration::from_millis(100)).await;

    // A test send is refused the same way, and says why.
    let (st, v) = s
        .app_call("POST", &a, &format!("/webhooks/{w}/test"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["success"], false);
    assert_eq!(v["outcome"], "network_error");
    assert_eq!(v["error_code"], "blocked_address");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("is in a blocked network")),
        "{v}"
    );
    assert_eq!(v["response"], json!(null));
    r.assert_stays_at(0, Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_network_is_saved_and_delivered_to() {
    let s = TestServer::start_with(|c| {
        c.delivery.allow_networks = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/h"), &["message.push.sent"]).await;
    s.ingest(&a, event("e1", "message.push.sent")).await;
    r.wait_for(1, Duration::from_secs(3)).await;
    let stats = s
        .eventually(&a, &format!("/webhooks/{w}/stats"), |v| {
            v["deliveries"]["succeeded"] == 1
        })
        .await;
    assert_eq!(stats["all_time"]["counts"]["network_error"], 0, "{stats}");
    // Other blocked networks stay blocked.
    let (st, v) = s
        .app_call(
            "POST",
            &a,
            "/webhooks",
            Some(webhook_body("http://[::1]:8080/h", &["message.push.sent"])),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}
