//! The real server on 127.0.0.1:0 with a temporary database and a fast retry schedule, and a
//! client that speaks its API.

use std::time::Duration;

use hookline::config::{Config, DatabaseUrl, Jitter};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const ADMIN_KEY: &str = "test-admin-key";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The test configuration: retries after 200 ms then 400 ms, no jitter, 2 s timeout, every
/// success logged, auto-disable rules off unless a test turns them on, and loopback allowed, where
/// the test receivers listen.
#[allow(clippy::field_reassign_with_default)] // reads as "defaults, except"
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.database = DatabaseUrl::Sqlite(dir.join("hookline.db"));
    c.admin_key = Some(ADMIN_KEY.into());
    c.retry.schedule = vec![Duration::from_millis(200), Duration::from_millis(400)];
    c.retry.jitter = Jitter::None;
    c.delivery.request_timeout = Duration::from_secs(2);
    c.delivery.poll_interval = Duration::from_millis(500);
    c.logs.success_sample_rate = 1;
    c.logs.success_max_per_second = 0;
    c.disable.failure_threshold = 0;
    c.disable.consecutive_failures = 0;
    c.delivery.allow_networks = vec!["127.0.0.0/8".parse().unwrap()];
    c
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        TestServer::start_config(dir, config).await
    }

    pub async fn start_config(dir: tempfile::TempDir, config: Config) -> TestServer {
        TestServer::start_on(dir, config, None).await
    }

    /// The server on a store the test opened (one that injects faults, say).
    pub async fn start_store(
        dir: tempfile::TempDir,
        config: Config,
        store: std::sync::Arc<dyn hookline::store::Store>,
    ) -> TestServer {
        TestServer::start_on(dir, config, Some(store)).await
    }

    async fn start_on(
        dir: tempfile::TempDir,
        config: Config,
        store: Option<std::sync::Arc<dyn hookline::store::Store>>,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            match store {
                Some(store) => hookline::server::serve(listener, config, store, shutdown).await,
                None => hookline::server::run(listener, config, shutdown).await,
            }
            .unwrap();
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let server = TestServer {
            base,
            client,
            dir,
            stop: Some(stop),
            task: Some(task),
        };
        // Ready when it answers.
        for _ in 0..100 {
            if let Ok(r) = server
                .client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                && r.status() == StatusCode::OK
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not start");
    }

    /// Stops the server gracefully, waits for it, and gives back its directory.
    pub async fn stop(self) -> tempfile::TempDir {
        let TestServer {
            dir, stop, task, ..
        } = self;
        if let Some(s) = stop {
            let _ = s.send(());
        }
        if let Some(t) = task {
            t.await.unwrap();
        }
        dir
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A new app: `(id, key)`.
    pub async fn app(&self, name: &str) -> (String, String) {
        let (s, v) = self
            .call(
                "POST",
                "/v1/apps",
                Some(ADMIN_KEY),
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().unwrap().to_string(),
            v["api_key"].as_str().unwrap().to_string(),
        )
    }

    /// A webhook posting the seed's example body to `url` for `events`; returns its id.
    pub async fn webhook(&self, app: &(String, String), url: &str, events: &[&str]) -> String {
        let (s, v) = self
            .call(
                "POST",
                &format!("/v1/apps/{}/webhooks", app.0),
                Some(&app.1),
                Some(webhook_body(url, events)),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Ingests events, asserting 202; returns the answer.
    pub async fn ingest(&self, app: &(String, String), body: Value) -> Value {
        let (s, v) = self
            .call(
                "POST",
                &format!("/v1/apps/{}/events", app.0),
                Some(&app.1),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        v
    }

    /// `call` on a route under `/v1/apps/{app}`, with the app's key.
    pub async fn app_call(
        &self,
        method: &str,
        app: &(String, String),
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(
            method,
            &format!("/v1/apps/{}{}", app.0, path),
            Some(&app.1),
            body,
        )
        .await
    }

    pub async fn get(&self, app: &(String, String), path: &str) -> Value {
        let (s, v) = self.app_call("GET", app, path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        v
    }

    /// Polls `path` until `check` holds (panics after 5 s).
    pub async fn eventually(
        &self,
        app: &(String, String),
        path: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let v = self.get(app, path).await;
            if check(&v) {
                return v;
            }
            if std::time::Instant::now() > deadline {
                panic!("{path} never matched: {v:#}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn webhook_body(url: &str, events: &[&str]) -> Value {
    json!({
        "name": "test hook",
        "events": events,
        "method": "POST",
        "url": url,
        "headers": {"Authorization": "Bearer s3cret-token", "X-Kind": "{{ event.kind }}"},
        "body": {"custom": SEED_BODY},
        "enabled": true
    })
}

/// The seed's example body.
pub const SEED_BODY: &str = r#"{
  "id": "{{ event.id }}",
  "kind": "{{ event.kind }}",
  "app_id": "{{ event.app_id }}",
  "subscription_id": "{{ event.subscription_id }}",
  "subscription_device_type": "{{ event.subscription_device_type }}",
  "external_user_id": "{{ event.external_user_id }}",
  "timestamp": {{ event.timestamp }},
  "datetime": "{{ event.datetime }}"
}"#;

/// An event of `kind` with a given id.
pub fn event(id: &str, kind: &str) -> Value {
    json!({
        "id": id,
        "kind": kind,
        "subscription_device_type": "iOS",
        "subscription_id": "d1eec82d-453a-4a6d-8d26-622cf18584e6",
        "external_id": "user-42",
        "timestamp": 1708559416,
        "message": {"id": "m1", "title": "Claim 50% Off Today", "contents": "Go to our website"}
    })
}

/// A port nothing listens on right now (for a process the test starts).
/// Whether the response header `name` is there and contains `needle`.
pub fn header_contains(headers: &reqwest::header::HeaderMap, name: &str, needle: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(needle))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
