//! The bridge: browser-half webhooks (text/plain and JSON with CORS) become events that flow to
//! the app's webhooks.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;
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
    assert!(
        pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("X-OneSignal-Event")
    );
    assert!(
        pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

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
    let big = json!({"event": "notification.clicked", "data": "x".repeat(20_000)});
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
