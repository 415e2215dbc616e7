//! The bridge: browser-half webhooks (text/plain and JSON with CORS) become events that flow to
//! the app's webhooks.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, header_contains};
use crate::receiver::TestReceiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_events_flow_to_the_apps_webhooks() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let b = s.app("b").await;
    let url = r.url("/push/{{ event.kind }}/{{ event.external_id }}");
    s.webhook(
        &a,
        &url,
        &[
            "message.push.clicked",
            "message.push.displayed",
            "message.push.dismissed",
        ],
    )
    .await;
    s.webhook(&b, &r.url("/b"), &["message.push.clicked"]).await;
    let path = format!("/v1/apps/{}/browser-events", a.0);

    // CORS preflight for `cors: true`.
    let pre = s
        .client
        .request(reqwest::Method::OPTIONS, format!("{}{}", s.base, path))
        .header("origin", "https://site.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-onesignal-event",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success());
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert!(header_contains(
        pre.headers(),
        "access-control-allow-headers",
        "X-OneSignal-Event"
    ));
    assert!(header_contains(
        pre.headers(),
        "access-control-allow-methods",
        "POST"
    ));

    // `cors: false`: a simple text/plain request, no key.
    let clicked = json!({
        "event": "notification.clicked", "id": "n-1", "userId": "u-9", "heading": "Sale",
        "content": "50% off", "url": "https://site.test/sale", "data": {"k": "v"}, "action": "buy"
    });
    let (st, v) = s
        .raw(
            &path,
            None,
            "text/plain;charset=UTF-8",
            clicked.to_string().into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["accepted"], 1);
    let got = r.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(got[0].path, "/push/message.push.clicked/u-9");
    let body = got[0].json();
    assert_eq!(body["kind"], "message.push.clicked");
    assert_eq!(body["external_user_id"], "u-9");
    // The browser sends the same webhook again (its retry): one event.
    let (st, v) = s
        .raw(&path, None, "text/plain", clicked.to_string().into_bytes())
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(v["duplicates"], 1);

    // `cors: true`: JSON, with the answer readable cross-origin.
    let shown =
        json!({"event": "notification.displayed", "id": "n-2", "userId": "u-9", "heading": "Hi"});
    let resp = s
        .client
        .post(format!("{}{}", s.base, path))
        .header("content-type", "application/json")
        .header("x-onesignal-event", "notification.displayed")
        .body(shown.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let got = r.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(got[1].path, "/push/message.push.displayed/u-9");
    r.assert_stays_at(2, Duration::from_millis(300)).await;

    // Bad input: 4xx with a reason, nothing stored.
    let (st, v) = s.raw(&path, None, "text/plain", b"not json".to_vec()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s
        .raw(
            &path,
            None,
            "text/plain",
            json!({"event": "push.opened"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("event"),
        "{v}"
    );
    let (st, _) = s
        .raw(
            &path,
            None,
            "text/plain",
            json!({"event": "notification.clicked", "id": 7})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let big = json!({"event": "notification.clicked", "data": "x".repeat(70_000)});
    let (st, _) = s
        .raw(&path, None, "text/plain", big.to_string().into_bytes())
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let (st, _) = s
        .raw(&path, None, "application/xml", b"<a/>".to_vec())
        .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (st, _) = s
        .raw(
            "/v1/apps/app_unknown/browser-events",
            None,
            "text/plain",
            clicked.to_string().into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    r.assert_stays_at(2, Duration::from_millis(200)).await;
}

fn bridge_path(app: &str) -> String {
    format!("/v1/apps/{app}/browser-events")
}

async fn post_browser(
    s: &TestServer,
    app: &str,
    origin: Option<&str>,
    body: String,
) -> reqwest::Response {
    let mut req = s
        .client
        .post(format!("{}{}", s.base, bridge_path(app)))
        .header("content-type", "text/plain")
        .body(body);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

fn displayed(id: &str) -> String {
    json!({"event": "notification.displayed", "id": id, "userId": "u1", "heading": "Hi"})
        .to_string()
}

#[tokio::test]
async fn an_app_with_bridge_origins_takes_posts_from_those_origins_only() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    let (status, v) = s
        .app_call(
            "PATCH",
            &a,
            "",
            Some(json!({"bridge_origins": ["https://site.test", "http://localhost:3000/"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["bridge_origins"],
        json!(["https://site.test", "http://localhost:3000"])
    );
    // Allowed: the answer names the origin, not `*`.
    let ok = post_browser(&s, &a.0, Some("https://site.test"), displayed("n1")).await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://site.test"
    );
    assert_eq!(ok.headers()["vary"], "Origin");
    for origin in [Some("https://evil.test"), None] {
        let refused = post_browser(&s, &a.0, origin, displayed("n2")).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{origin:?}");
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        let v: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(v["error"]["code"], "origin_not_allowed");
    }
    let pre = |origin: &'static str| {
        s.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}{}", s.base, bridge_path(&a.0)),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = pre("http://localhost:3000").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let refused = pre("https://evil.test").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // Bad origins are refused, naming them.
    let (status, v) = s
        .app_call(
            "PATCH",
            &a,
            "",
            Some(json!({"bridge_origins": ["https://x.test/path"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("bridge_origins[0]")
    );
    // Cleared: any origin again.
    s.app_call("PATCH", &a, "", Some(json!({"bridge_origins": []})))
        .await;
    let any = post_browser(&s, &a.0, Some("https://evil.test"), displayed("n3")).await;
    assert_eq!(any.status(), StatusCode::ACCEPTED);
    assert_eq!(any.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn the_bridge_limits_the_rate_per_client_and_per_app() {
    let s = TestServer::start_with(|c| {
        c.bridge.rate_per_client = 2;
        c.bridge.burst_per_client = 3;
        c.bridge.rate_per_app = 1;
        c.bridge.burst_per_app = 3;
    })
    .await;
    let a = s.app("a").await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = post_browser(&s, &a.0, None, displayed(&format!("c{i}"))).await;
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&wait), "{wait}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "rate_limited");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("bridge.rate_per_client")
            );
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // The client's bucket refills (2 a second); the app's (1 a second, 3 at once) runs out next.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut statuses = Vec::new();
    for i in 0..2 {
        let r = post_browser(&s, &a.0, None, displayed(&format!("d{i}"))).await;
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("bridge.rate_per_app"),
                "{v}"
            );
        }
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_bridge_stops_reading_a_body_past_its_cap_and_refuses_what_the_browser_never_sends() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    // A 4 MB body (more than max_body_bytes too) is refused at the bridge's own cap.
    let big = format!(
        "{{\"event\":\"notification.displayed\",\"heading\":\"{}\"}}",
        "x".repeat(4 << 20)
    );
    let r = post_browser(&s, &a.0, None, big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("65536"),
        "{v}"
    );
    for (body, says) in [
        (
            json!({"event": "notification.displayed", "extra": true}),
            "extra: unknown field",
        ),
        (json!({"event": "notification.sent"}), "event:"),
        (
            json!({"event": "notification.displayed", "data": ["x".repeat(9000)]}),
            "data: longer than",
        ),
        (
            json!({"event": "notification.displayed", "userId": 7}),
            "userId: expected a string",
        ),
    ] {
        let r = post_browser(&s, &a.0, None, body.to_string()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{v}"
        );
    }
}

#[tokio::test]
async fn a_forged_event_sent_first_does_not_make_the_real_one_a_duplicate() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    let forged =
        json!({"event": "notification.clicked", "id": "n1", "userId": "u1", "heading": "forged"});
    let real =
        json!({"event": "notification.clicked", "id": "n1", "userId": "u1", "heading": "real"});
    let answer = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        r.json::<serde_json::Value>().await.unwrap()
    };
    let v = answer(post_browser(&s, &a.0, None, forged.to_string()).await).await;
    assert_eq!(v["accepted"], 1);
    let v = answer(post_browser(&s, &a.0, None, real.to_string()).await).await;
    assert_eq!(v["accepted"], 1, "the real event was taken for a duplicate");
    // The browser's resend of the same bytes is one event.
    let v = answer(post_browser(&s, &a.0, None, real.to_string()).await).await;
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn the_app_lists_what_its_bridge_received_newest_first() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    let b = s.app("b").await;
    for id in ["n1", "n2"] {
        assert_eq!(
            post_browser(&s, &a.0, None, displayed(id)).await.status(),
            StatusCode::ACCEPTED
        );
    }
    post_browser(&s, &b.0, None, displayed("elsewhere")).await;
    // Not from the bridge: not listed.
    s.ingest(&a, crate::harness::event("e1", "message.push.sent"))
        .await;
    let listed = s.get(&a, "/browser-events?limit=10").await;
    let ids: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["message"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["n2", "n1"]);
    assert_eq!(
        listed["events"][0]["event"]["kind"],
        "message.push.displayed"
    );
    assert!(listed["events"][0]["received_at"].as_i64().unwrap() > 0);
    let one = s.get(&a, "/browser-events?limit=1").await;
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    // Reading needs the app's key, unlike posting.
    let path = bridge_path(&a.0);
    let (status, _) = s.call("GET", &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call("GET", &path, Some(&b.1), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.app_call("GET", &a, "/browser-events?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
