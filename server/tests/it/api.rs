//! Apps and keys, isolation between apps, webhook CRUD, bad input, preview, and the system routes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, TestServer, event, webhook_body};
use crate::receiver::TestReceiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_key_creates_apps_and_app_keys_are_isolated() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    // No key, a wrong admin key, an app key on the admin route.
    assert_eq!(
        s.call("POST", "/v1/apps", None, Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.call("POST", "/v1/apps", Some("nope"), Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let a = s.app("a").await;
    let b = s.app("b").await;
    assert_ne!(a.1, b.1);
    assert_eq!(
        s.call("POST", "/v1/apps", Some(&a.1), Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (st, apps) = s.call("GET", "/v1/apps", Some(ADMIN_KEY), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(apps["apps"].as_array().unwrap().len(), 2);
    assert!(
        apps.to_string().find("api_key").is_none(),
        "keys are shown only at creation"
    );

    let wa = s.webhook(&a, &r.url("/a"), &["message.push.sent"]).await;
    let a_path = format!("/v1/apps/{}", a.0);
    let b_path = format!("/v1/apps/{}", b.0);
    // B's key on A's routes: refused, whatever the route.
    for (method, path, body) in [
        ("GET", format!("{a_path}/webhooks"), None),
        ("GET", format!("{a_path}/webhooks/{wa}"), None),
        (
            "PUT",
            format!("{a_path}/webhooks/{wa}"),
            Some(webhook_body(&r.url("/evil"), &["message.push.sent"])),
        ),
        ("DELETE", format!("{a_path}/webhooks/{wa}"), None),
        ("POST", format!("{a_path}/webhooks/{wa}/disable"), None),
        ("GET", format!("{a_path}/webhooks/{wa}/stats"), None),
        ("GET", format!("{a_path}/webhooks/{wa}/logs"), None),
        ("GET", format!("{a_path}/webhooks/{wa}/deliveries"), None),
        (
            "POST",
            format!("{a_path}/webhooks/{wa}/deliveries/replay"),
            None,
        ),
        ("POST", format!("{a_path}/webhooks/{wa}/test"), None),
        (
            "POST",
            format!("{a_path}/events"),
            Some(event("e-b", "message.push.sent")),
        ),
    ] {
        let (st, v) = s.call(method, &path, Some(&b.1), body).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], "forbidden");
    }
    // A's webhook through B's own path does not exist for B.
    for (method, path) in [
        ("GET", format!("{b_path}/webhooks/{wa}")),
        ("DELETE", format!("{b_path}/webhooks/{wa}")),
        ("POST", format!("{b_path}/webhooks/{wa}/enable")),
        ("GET", format!("{b_path}/webhooks/{wa}/stats")),
        ("GET", format!("{b_path}/webhooks/{wa}/logs")),
    ] {
        let (st, v) = s.call(method, &path, Some(&b.1), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {v}");
    }
    assert_eq!(s.get(&b, "/webhooks").await["webhooks"], json!([]));
    // B's events never reach A's webhooks.
    s.ingest(&b, event("e-1", "message.push.sent")).await;
    r.assert_stays_at(0, Duration::from_millis(300)).await;
    // A's webhook is unchanged and still delivers.
    let got = s.get(&a, &format!("/webhooks/{wa}")).await;
    assert_eq!(got["url"], r.url("/a"));
    assert_eq!(got["enabled"], true);
    s.ingest(&a, event("e-1", "message.push.sent")).await;
    r.wait_for(1, Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_crud_and_enable_disable() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    let base = format!("/v1/apps/{}/webhooks", a.0);
    let id = s
        .webhook(
            &a,
            "https://example.com/webhook/user/{{event.external_id}}",
            &["message.push.sent"],
        )
        .await;
    let got = s.get(&a, &format!("/webhooks/{id}")).await;
    assert_eq!(got["name"], "test hook");
    assert_eq!(got["events"], json!(["message.push.sent"]));
    assert_eq!(got["status"]["state"], "enabled");
    let list = s.get(&a, "/webhooks").await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);

    let mut changed = webhook_body("https://example.com/other", &["message.push.clicked"]);
    changed["name"] = json!("renamed");
    let (st, v) = s
        .call("PUT", &format!("{base}/{id}"), Some(&a.1), Some(changed))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["url"], "https://example.com/other");

    let (st, v) = s
        .call("POST", &format!("{base}/{id}/disable"), Some(&a.1), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["status"]["state"], "disabled");
    assert_eq!(v["status"]["reason"], "disabled by a user");
    assert!(v["status"]["disabled_at"].as_i64().unwrap() > 0);
    let (_, v) = s
        .call("POST", &format!("{base}/{id}/enable"), Some(&a.1), None)
        .await;
    assert_eq!(v["status"]["state"], "enabled");
    assert_eq!(v["status"]["reason"], Value::Null);

    let (st, _) = s
        .call("DELETE", &format!("{base}/{id}"), Some(&a.1), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s
        .call("GET", &format!("{base}/{id}"), Some(&a.1), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_naming_the_problem_and_stores_nothing() {
    let s = TestServer::start_with(|c| c.max_body_bytes = 64 * 1024).await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let events = format!("/v1/apps/{}/events", a.0);
    let hooks = format!("/v1/apps/{}/webhooks", a.0);
    let w = s.webhook(&a, &r.url("/hook"), &["message.push.sent"]).await;

    let (st, v) = s
        .raw(
            &events,
            Some(&a.1),
            "application/json",
            b"{\"kind\": ".to_vec(),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_json");

    let (st, v) = s
        .call(
            "POST",
            &events,
            Some(&a.1),
            Some(json!({"id": "x1", "timestamp": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_event");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("kind"),
        "{v}"
    );

    let (st, v) = s
        .call(
            "POST",
            &events,
            Some(&a.1),
            Some(json!({"id": "x2", "kind": 5})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("kind"),
        "{v}"
    );

    let (st, v) = s
        .call(
            "POST",
            &events,
            Some(&a.1),
            Some(json!({"id": "x3", "kind": "message.push.sent", "timestamp": "soon"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timestamp"),
        "{v}"
    );

    // One bad event in a batch refuses the batch, naming it.
    let batch = json!({"events": [event("ok-1", "message.push.sent"), {"id": "bad"}]});
    let (st, v) = s.call("POST", &events, Some(&a.1), Some(batch)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("events[1]"),
        "{v}"
    );

    let (st, v) = s
        .call("POST", &events, Some(&a.1), Some(json!([1, 2])))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    let mut big = event("big", "message.push.sent");
    big["padding"] = json!("x".repeat(70 * 1024));
    let (st, v) = s.call("POST", &events, Some(&a.1), Some(big)).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "payload_too_large");

    // Webhooks: an invalid template names its field; a bad URL; an unknown webhook.
    let mut broken = webhook_body(&r.url("/x"), &["message.push.sent"]);
    broken["body"] = json!({"custom": "{\"a\": \"{{ event.id \"}"});
    let (st, v) = s.call("POST", &hooks, Some(&a.1), Some(broken)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_webhook");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("body"),
        "{v}"
    );
    // A custom body that can never be JSON (a stray comma) is refused at save, not at each attempt.
    let mut broken = webhook_body(&r.url("/x"), &["message.push.sent"]);
    broken["body"] = json!({"custom": "{\"a\": {{ event.id }},, \"b\": 1}"});
    let (st, v) = s.call("POST", &hooks, Some(&a.1), Some(broken)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_webhook");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("body.custom: the rendered body is not valid JSON"),
        "{v}"
    );
    let mut broken = webhook_body("ftp://example.com/x", &["message.push.sent"]);
    let (st, v) = s
        .call("POST", &hooks, Some(&a.1), Some(broken.clone()))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("url"),
        "{v}"
    );
    broken["url"] = json!(r.url("/x"));
    broken["headers"] = json!({"X-Bad": "{% if %}"});
    let (st, v) = s.call("POST", &hooks, Some(&a.1), Some(broken)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("headers"),
        "{v}"
    );
    let (st, v) = s
        .call("GET", &format!("{hooks}/wh_nope"), Some(&a.1), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, _) = s
        .call(
            "PUT",
            &format!("{hooks}/{w}"),
            Some(&a.1),
            Some(json!({"name": 3})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Nothing of it was stored or sent.
    assert_eq!(
        s.get(&a, "/webhooks").await["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get(&a, &format!("/webhooks/{w}")).await["url"],
        r.url("/hook")
    );
    assert_eq!(
        s.get(&a, &format!("/webhooks/{w}/deliveries")).await["deliveries"],
        json!([])
    );
    r.assert_stays_at(0, Duration::from_millis(300)).await;
    // And the good event of the refused batch can still be sent as new.
    let v = s.ingest(&a, event("ok-1", "message.push.sent")).await;
    assert_eq!(v["accepted"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_renders_the_exact_request_and_curl() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    let w = s
        .webhook(
            &a,
            "https://example.com/webhook/user/{{event.external_id}}",
            &["message.push.sent"],
        )
        .await;
    let path = format!("/v1/apps/{}/webhooks/{w}/preview", a.0);
    let (st, v) = s
        .call(
            "POST",
            &path,
            Some(&a.1),
            Some(json!({"event": event("p1", "message.push.sent")})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["request"]["method"], "POST");
    assert_eq!(
        v["request"]["url"],
        "https://example.com/webhook/user/user-42"
    );
    let body: Value = serde_json::from_str(v["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], "p1");
    assert_eq!(body["timestamp"], 1708559416);
    let curl = v["curl"].as_str().unwrap();
    // The definition has a secret header: a note on the mask first, then the command.
    assert!(
        curl.starts_with("# secret values are shown as ********"),
        "{curl}"
    );
    assert!(curl.lines().nth(1).unwrap().starts_with("curl"), "{curl}");
    assert!(curl.contains("-H 'Authorization: ********'"), "{curl}");
    assert!(
        curl.contains("https://example.com/webhook/user/user-42"),
        "{curl}"
    );
    // A sample event when none is given.
    let (st, v) = s.call("POST", &path, Some(&a.1), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["event"]["kind"], "message.push.sent");
    // An unsaved definition.
    let (st, v) = s
        .app_call("POST", &a, "/webhooks/preview", Some(json!({"webhook": webhook_body("https://example.com/{{ event.kind }}", &["message.push.clicked"]), "kind": "message.push.clicked"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["request"]["url"],
        "https://example.com/message.push.clicked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_returns_request_and_response_without_counting() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s
        .webhook(
            &a,
            &r.url("/t/{{ event.external_id }}"),
            &["message.push.sent"],
        )
        .await;
    r.script([crate::receiver::Mode::Status(503)]);
    let (st, v) = s
        .app_call(
            "POST",
            &a,
            &format!("/webhooks/{w}/test"),
            Some(json!({"event": event("t1", "message.push.sent")})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["status"], 503);
    assert_eq!(v["success"], false);
    assert_eq!(v["outcome"], "5xx");
    assert_eq!(v["request"]["url"], r.url("/t/user-42"));
    let got = r.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(got[0].path, "/t/user-42");
    assert!(got[0].header("webhook-id").unwrap().starts_with("test_"));
    let stats = s.get(&a, &format!("/webhooks/{w}/stats")).await;
    assert_eq!(stats["all_time"]["attempts"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_routes_and_static_site() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(site.path().join("worker.js"), "self.x = 1;").unwrap();
    std::fs::write(site.path().join("m.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let site_path = site.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.site = Some(site_path)).await;
    let get = |p: &str| s.client.get(format!("{}{}", s.base, p)).send();
    let r = get("/healthz").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get("/metrics").await.unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("hookline_attempts_total{outcome=\"2xx\"}")
    );
    let r = get("/openapi.json").await.unwrap();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/apps/{app_id}/events"].is_object());
    let r = get("/").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("demo"));
    let r = get("/worker.js").await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/javascript");
    let r = get("/m.wasm").await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/wasm");
    // The API still answers JSON errors under the site, and a missing file is the same 404.
    let (st, v) = s.call("GET", "/v1/apps", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "unauthorized");
    let r = get("/no-such-file.html").await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
}

/// Every 4xx is `{"error": {"code", "message"}}` in `application/json`: the extractors' rejections
/// (query, path), unknown paths, wrong methods, bodies of the wrong kind, values out of range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_one_json_shape() {
    let s = TestServer::start().await;
    let app = s.app("shape").await;
    let w = s.webhook(&app, "http://127.0.0.1:9/x", &["a.b"]).await;
    let base = format!("/v1/apps/{}/webhooks/{w}", app.0);
    let cases: &[(&str, String, Option<Value>, u16, &str)] = &[
        (
            "GET",
            format!("{base}/logs?limit=-1"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/logs?limit=0"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/logs?limit=501"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/logs?before=99999999999999999999"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/deliveries?limit=1001"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/deliveries?state=a&state=a"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/deliveries?state="),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/stats?from=abc"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}/stats?from=-5&to=10"),
            None,
            400,
            "invalid_query",
        ),
        ("GET", "/v1/nothing/here".to_owned(), None, 404, "not_found"),
        (
            "DELETE",
            "/v1/apps".to_owned(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            "PUT",
            "/healthz".to_owned(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            format!("{base}/preview"),
            Some(json!([null, null])),
            400,
            "invalid_body",
        ),
        (
            "POST",
            format!("{base}/preview"),
            Some(json!(5)),
            400,
            "invalid_body",
        ),
        (
            "POST",
            format!("{base}/test"),
            Some(json!("x")),
            400,
            "invalid_body",
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, status, code) in cases {
        let mut req = s
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", s.base),
            )
            .bearer_auth(&app.1);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let got_status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if got_status != *status
            || content_type != "application/json"
            || v["error"]["code"] != *code
            || v["error"]["message"].as_str().is_none_or(str::is_empty)
        {
            failures.push(format!(
                "{method} {path}: {got_status} {content_type} {text}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // The message names what is wrong.
    let (_, v) = s
        .app_call("GET", &app, &format!("/webhooks/{w}/logs?limit=501"), None)
        .await;
    assert_eq!(
        v["error"]["message"],
        "limit: must be from 1 to 500 (got 501)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_keys_and_webhooks_survive_a_restart() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s
        .webhook(&a, &r.url("/after"), &["message.push.sent"])
        .await;
    let dir = s.stop().await;
    let config = crate::harness::test_config(dir.path());
    let s = TestServer::start_config(dir, config).await;
    assert_eq!(
        s.get(&a, &format!("/webhooks/{w}")).await["url"],
        r.url("/after")
    );
    s.ingest(&a, event("after-restart", "message.push.sent"))
        .await;
    let got = r.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(got[0].path, "/after");
}

/// Each documented path answers exactly its documented methods: any other is `405` (so a method
/// served but not documented, or documented but not served, fails here; `api::tests` holds the
/// paths themselves against the routes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_path_serves_exactly_its_documented_methods() {
    let s = TestServer::start().await;
    let app = s.app("methods").await;
    let w = s.webhook(&app, "http://127.0.0.1:9/x", &["a.b"]).await;
    let (_, doc) = s.call("GET", "/openapi.json", None, None).await;
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = path
            .replace("{app_id}", &app.0)
            .replace("{id}", &w)
            .replace("{delivery_id}", "no-such-delivery");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let documented = item.get(method.to_lowercase()).is_some();
            let (status, _) = s.call(method, &url, Some(ADMIN_KEY), None).await;
            if documented == (status == StatusCode::METHOD_NOT_ALLOWED) {
                failures.push(format!(
                    "{method} {path}: {status}, documented: {documented}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
