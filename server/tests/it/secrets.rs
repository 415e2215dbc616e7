//! Secrets kept secret: a unique value planted in every place a secret can go (an
//! `Authorization`, a `Cookie`, a header named like a key, a header marked secret, a URL's
//! password, the admin key) never comes out of a full run of the real binary (HTTP answers,
//! stderr at debug level, metrics, the database's files), while the receiver gets every one.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{event, free_port};
use crate::receiver::{Mode, TestReceiver};

const ADMIN: &str = "planted-admin-3f9a1c";
const AUTH: &str = "planted-auth-8b21e4";
const COOKIE: &str = "planted-cookie-5d7c02";
const API_KEY: &str = "planted-apikey-91aa3e";
const CUSTOM: &str = "planted-custom-c44f18";
const URL_PASSWORD: &str = "planted-urlpw-0e6b77";

const PLANTED: [&str; 6] = [ADMIN, AUTH, COOKIE, API_KEY, CUSTOM, URL_PASSWORD];

/// Every HTTP answer of the run, as text (status, headers and body).
struct Seen(Vec<String>);

impl Seen {
    async fn call(
        &mut self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: String,
        key: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = client.request(method, url).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let head = format!("{} {:?}", resp.status(), resp.headers());
        let text = resp.text().await.unwrap();
        self.0.push(format!("{head}\n{text}"));
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_secret_never_comes_out_of_a_full_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secrets.db");
    let stderr_path = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env("HOOKLINE_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKLINE_DATABASE", format!("sqlite://{}", db.display()))
        .env("HOOKLINE_ADMIN_KEY", ADMIN)
        .env("HOOKLINE_RETRY_SCHEDULE", "100ms,100ms")
        .env("HOOKLINE_RETRY_JITTER", "none")
        .env("HOOKLINE_DELIVERY_ALLOW_NETWORKS", "127.0.0.0/8")
        .env("HOOKLINE_LOGS_SUCCESS_SAMPLE_RATE", "1")
        .env("HOOKLINE_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = TestReceiver::start().await;
    // The test send and the first attempt fail (the attempt's log keeps the request); the rest
    // succeed.
    r.script([Mode::Status(500), Mode::Status(500)]);
    let mut seen = Seen(Vec::new());
    use reqwest::Method;
    let app = seen
        .call(
            &client,
            Method::POST,
            format!("{base}/v1/apps"),
            ADMIN,
            Some(json!({"name": "a"})),
        )
        .await;
    let (app_id, key) = (
        app["id"].as_str().unwrap(),
        app["api_key"].as_str().unwrap(),
    );
    let hooks = format!("{base}/v1/apps/{app_id}/webhooks");
    // A URL with credentials is refused (use a header), without echoing them.
    let with_password = r
        .url("/hook")
        .replace("http://", &format!("http://user:{URL_PASSWORD}@"));
    let refused = seen
        .call(
            &client,
            Method::POST,
            hooks.clone(),
            key,
            Some(json!({"name": "pw", "events": ["k"], "url": with_password})),
        )
        .await;
    assert_eq!(refused["error"]["code"], "invalid_webhook", "{refused}");
    let definition = json!({
        "name": "secrets", "events": ["message.push.sent"], "url": r.url("/hook"),
        "headers": {
            "Authorization": format!("Bearer {AUTH}"), "Cookie": format!("s={COOKIE}"),
            "X-Api-Key": API_KEY, "X-Custom": CUSTOM, "X-Plain": "shown",
        },
        "secret_headers": ["X-Custom"],
    });
    let created = seen
        .call(
            &client,
            Method::POST,
            hooks.clone(),
            key,
            Some(definition.clone()),
        )
        .await;
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    assert_eq!(created["headers"]["X-Plain"], "shown");
    assert_eq!(created["headers"]["X-Custom"], "********");
    // Read, changed and sent back as read: the masks keep the stored secrets.
    let mut read = seen
        .call(&client, Method::GET, format!("{hooks}/{id}"), key, None)
        .await;
    read["name"] = "secrets, renamed".into();
    seen.call(
        &client,
        Method::PUT,
        format!("{hooks}/{id}"),
        key,
        Some(read),
    )
    .await;
    seen.call(&client, Method::GET, hooks.clone(), key, None)
        .await;
    seen.call(
        &client,
        Method::GET,
        format!("{hooks}/{id}/preview"),
        key,
        None,
    )
    .await;
    let unsaved = seen
        .call(
            &client,
            Method::POST,
            format!("{hooks}/preview"),
            key,
            Some(json!({ "webhook": definition })),
        )
        .await;
    assert!(
        unsaved["curl"]
            .as_str()
            .unwrap()
            .starts_with("# secret values"),
        "{unsaved}"
    );
    let test = seen
        .call(
            &client,
            Method::POST,
            format!("{hooks}/{id}/test"),
            key,
            None,
        )
        .await;
    assert_eq!(test["response"]["status"], 500, "{test}");
    for i in 0..3 {
        seen.call(
            &client,
            Method::POST,
            format!("{base}/v1/apps/{app_id}/events"),
            key,
            Some(event(&format!("e{i}"), "message.push.sent")),
        )
        .await;
    }
    // The test send and three events, one of them retried.
    let got = r.wait_for(5, Duration::from_secs(10)).await;
    for request in &got {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {AUTH}").as_str())
        );
        assert_eq!(request.header("x-custom"), Some(CUSTOM));
        assert_eq!(request.header("x-api-key"), Some(API_KEY));
        assert_eq!(
            request.header("cookie"),
            Some(format!("s={COOKIE}").as_str())
        );
    }
    let logs = seen
        .call(
            &client,
            Method::GET,
            format!("{hooks}/{id}/logs"),
            key,
            None,
        )
        .await;
    assert!(logs["logs"].as_array().unwrap().len() >= 2, "{logs}");
    seen.call(
        &client,
        Method::GET,
        format!("{hooks}/{id}/stats"),
        key,
        None,
    )
    .await;
    seen.call(
        &client,
        Method::GET,
        format!("{hooks}/{id}/deliveries"),
        key,
        None,
    )
    .await;
    seen.call(&client, Method::GET, format!("{base}/metrics"), key, None)
        .await;
    // An error that could echo a value: a header value with a control character.
    let mut bad = definition.clone();
    bad["headers"]["Authorization"] = format!("Bearer {AUTH}\u{1}").into();
    seen.call(&client, Method::POST, hooks.clone(), key, Some(bad))
        .await;
    // Stopped, so that the database's files are complete.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut outputs: Vec<(String, Vec<u8>)> = seen
        .0
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("HTTP answer {i}"), t.clone().into_bytes()))
        .collect();
    let stderr = std::fs::read(&stderr_path).unwrap();
    assert!(
        String::from_utf8_lossy(&stderr).contains("DEBUG"),
        "stderr is not at debug level"
    );
    outputs.push(("stderr".into(), stderr));
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("secrets.db") && !name.ends_with(".key") {
            outputs.push((name, std::fs::read(&path).unwrap()));
        }
    }
    assert!(outputs.iter().any(|(n, _)| n == "secrets.db"));
    for (place, bytes) in &outputs {
        for secret in PLANTED {
            let found = bytes
                .windows(secret.len())
                .position(|w| w == secret.as_bytes());
            if let Some(at) = found {
                let text = String::from_utf8_lossy(bytes);
                let start = at.saturating_sub(200);
                panic!(
                    "{secret} is in {place}: …{}…",
                    &text[text.floor_char_boundary(start)..text.ceil_char_boundary(at + 60)]
                );
            }
        }
    }
}
