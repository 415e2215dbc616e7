//! Templates under the render budget, through the API: a definition over the budget for its sample
//! event is refused when saved, naming the field; an event that blows it fails its attempts with
//! `render_error`, and nothing is sent for it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{SEED_BODY, TestServer, event, webhook_body};
use crate::receiver::TestReceiver;

const LOOPS: &str = "the template ran more than 10000 loop iterations (the render budget)";

/// Three nested loops over `over`, then `{}` (a JSON body).
fn loops(over: &str) -> String {
    format!(
        "{{% for a in {over} %}}{{% for b in {over} %}}{{% for c in {over} %}}{{% endfor %}}{{% endfor %}}{{% endfor %}}{{}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_over_the_budget_is_refused_when_saved() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let hooks = format!("/v1/apps/{}/webhooks", a.0);
    let mut bomb = webhook_body(&r.url("/hook"), &["message.push.sent"]);
    bomb["body"] = json!({"custom": loops("(1..10000)")});
    let refused = |st: StatusCode, v: &Value, field: &str| {
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["code"], "invalid_webhook", "{v}");
        assert_eq!(v["error"]["message"], format!("{field}: {LOOPS}"), "{v}");
    };

    let (st, v) = s.call("POST", &hooks, Some(&a.1), Some(bomb.clone())).await;
    refused(st, &v, "body.custom");
    let mut in_header = webhook_body(&r.url("/hook"), &["message.push.sent"]);
    in_header["headers"] = json!({"X-Loop": loops("(1..10000)").trim_end_matches("{}")});
    let (st, v) = s.call("POST", &hooks, Some(&a.1), Some(in_header)).await;
    refused(st, &v, "headers.X-Loop");
    // An update too, and the webhook keeps its definition.
    let w = s.webhook(&a, &r.url("/hook"), &["message.push.sent"]).await;
    let (st, v) = s
        .call(
            "PUT",
            &format!("{hooks}/{w}"),
            Some(&a.1),
            Some(bomb.clone()),
        )
        .await;
    refused(st, &v, "body.custom");
    assert_eq!(
        s.get(&a, &format!("/webhooks/{w}")).await["body"]["custom"],
        SEED_BODY
    );
    // The preview of an unsaved definition checks it the same way.
    let (st, v) = s
        .app_call(
            "POST",
            &a,
            "/webhooks/preview",
            Some(json!({"webhook": bomb})),
        )
        .await;
    refused(st, &v, "body.custom");
    assert_eq!(
        s.get(&a, "/webhooks").await["webhooks"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_budget_fails_its_attempts_with_render_error() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    // Within the budget for the sample event (no `items`), and for a list of 50 (2,550
    // iterations); 200 items make 40,200.
    let mut definition = webhook_body(&r.url("/hook"), &["message.push.sent"]);
    definition["body"] = json!({"custom": "{\"id\": \"{{ event.id }}\", \"pairs\": \"{% for a in event.items %}{% for b in event.items %}x{% endfor %}{% endfor %}\"}"});
    let (st, v) = s.app_call("POST", &a, "/webhooks", Some(definition)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let w = v["id"].as_str().unwrap().to_owned();

    // A preview with such an event answers the render error.
    let mut big = event("big", "message.push.sent");
    big["items"] = json!(vec![1; 200]);
    let (st, v) = s
        .app_call(
            "POST",
            &a,
            &format!("/webhooks/{w}/preview"),
            Some(json!({"event": big})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "render_error");
    assert_eq!(v["error"]["message"], format!("body.custom: {LOOPS}"));

    let mut small = event("small", "message.push.sent");
    small["items"] = json!(vec![1; 50]);
    s.ingest(&a, json!({"events": [big, small]})).await;
    let got = r.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["id"], "small");
    assert_eq!(got[0].json()["pairs"].as_str().map(str::len), Some(2500));
    // Every attempt of the big one (three, on the test schedule) fails without sending.
    s.eventually(&a, &format!("/webhooks/{w}/stats"), |v| {
        v["deliveries"]["failed"] == 1
    })
    .await;
    let logs = s.get(&a, &format!("/webhooks/{w}/logs")).await;
    let failed: Vec<&Value> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["outcome"] == "render_error")
        .collect();
    assert_eq!(failed.len(), 3, "{logs:#}");
    for log in failed {
        assert_eq!(log["error_code"], "render_error");
        assert_eq!(log["request"], Value::Null);
        assert_eq!(
            log["response"]["error"],
            format!("body.custom: {LOOPS}"),
            "{log:#}"
        );
    }
    let stats = s.get(&a, &format!("/webhooks/{w}/stats")).await;
    assert_eq!(stats["all_time"]["counts"]["render_error"], 3, "{stats:#}");
    r.assert_stays_at(1, Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_is_the_configured_one() {
    let s = TestServer::start_with(|c| c.templates.max_loop_iterations = 100).await;
    let a = s.app("a").await;
    let mut definition = webhook_body("https://example.com/hook", &["message.push.sent"]);
    definition["body"] = json!({"custom": "[{% for i in (1..101) %}{{ i }},{% endfor %}0]"});
    let (st, v) = s
        .app_call("POST", &a, "/webhooks", Some(definition.clone()))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        v["error"]["message"],
        "body.custom: the template ran more than 100 loop iterations (the render budget)"
    );
    definition["body"] = json!({"custom": "[{% for i in (1..100) %}{{ i }},{% endfor %}0]"});
    let (st, v) = s.app_call("POST", &a, "/webhooks", Some(definition)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}
