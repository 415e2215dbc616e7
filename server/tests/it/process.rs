//! The real binary: SIGKILL in the middle of a load loses no accepted event; SIGTERM stops
//! intake and lets the attempt in flight finish.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{ADMIN_KEY, event, free_port, webhook_body};
use crate::receiver::{Mode, TestReceiver};

pub struct Process {
    pub child: Child,
    pub base: String,
}

async fn spawn(db: &std::path::Path, port: u16) -> Process {
    spawn_with(db, port, &[]).await
}

/// Like `spawn`, with more environment (config) variables, which win over its own.
pub async fn spawn_with(db: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env("HOOKLINE_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKLINE_DATABASE", format!("sqlite://{}", db.display()))
        .env("HOOKLINE_ADMIN_KEY", ADMIN_KEY)
        .env("HOOKLINE_RETRY_SCHEDULE", "100ms,100ms,100ms")
        .env("HOOKLINE_RETRY_JITTER", "none")
        .env("HOOKLINE_DELIVERY_POLL_INTERVAL", "100ms")
        .env("HOOKLINE_DELIVERY_ALLOW_NETWORKS", "127.0.0.0/8")
        .env("HOOKLINE_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Process { child, base };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("hookline serve did not start");
}

async fn setup(p: &Process, r: &TestReceiver) -> (String, String) {
    setup_with(p, webhook_body(&r.url("/crash"), &["message.push.sent"])).await
}

/// An app with one webhook of `definition`: the app's `(id, key)`.
pub async fn setup_with(p: &Process, definition: serde_json::Value) -> (String, String) {
    let c = reqwest::Client::new();
    let app: serde_json::Value = c
        .post(format!("{}/v1/apps", p.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "crash"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, key) = (
        app["id"].as_str().unwrap().to_string(),
        app["api_key"].as_str().unwrap().to_string(),
    );
    let resp = c
        .post(format!("{}/v1/apps/{id}/webhooks", p.base))
        .bearer_auth(&key)
        .json(&definition)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    (id, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_accepted_event() {
    sigkill_mid_load(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_catching_up_from_the_log_loses_no_accepted_event() {
    // Room for 8 jobs in memory: nearly every accepted delivery waits in the event log, with no
    // row, when the process dies.
    sigkill_mid_load(&[("HOOKLINE_DELIVERY_QUEUE_PER_WEBHOOK", "8")]).await;
}

async fn sigkill_mid_load(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let r = TestReceiver::start().await;
    // Slower than intake, so deliveries are queued and in flight when the process dies.
    r.set_default(Mode::Slow(Duration::from_millis(100)));
    let port = free_port();
    let mut p = spawn_with(&db, port, env).await;
    let (app, key) = setup(&p, &r).await;

    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (base, app, key, accepted) =
            (p.base.clone(), app.clone(), key.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            for i in 0..2000 {
                let id = format!("t{t}-{i}");
                let sent = c
                    .post(format!("{base}/v1/apps/{app}/events"))
                    .bearer_auth(&key)
                    .json(&event(&id, "message.push.sent"))
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status() == 202 => accepted.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    // Kill once a few hundred events are in.
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted.lock().unwrap().len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(
        accepted.len() >= 300,
        "only {} accepted before the kill",
        accepted.len()
    );
    let before = r.received().len();
    assert!(
        before < accepted.len(),
        "every event was delivered before the kill: the test proves nothing"
    );

    r.set_default(Mode::Ok);
    let mut p = spawn_with(&db, free_port(), env).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: HashSet<String> = r
            .received()
            .iter()
            .filter_map(|q| q.json()["id"].as_str().map(String::from))
            .collect();
        let missing: Vec<&String> = accepted.iter().filter(|id| !got.contains(*id)).collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "{} accepted events never arrived, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_intake_and_finishes_the_attempt_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let r = TestReceiver::start().await;
    r.set_default(Mode::Slow(Duration::from_millis(600)));
    let port = free_port();
    let mut p = spawn(&db, port).await;
    let (app, key) = setup(&p, &r).await;
    let c = reqwest::Client::new();
    let resp = c
        .post(format!("{}/v1/apps/{app}/events", p.base))
        .bearer_auth(&key)
        .json(&event("in-flight", "message.push.sent"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    r.wait_for(1, Duration::from_secs(3)).await;
    let started = Instant::now();
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    // Exits once the attempt is done (600 ms receiver), well within the grace.
    let deadline = Instant::now() + Duration::from_secs(8);
    let code = loop {
        if let Some(code) = p.child.try_wait().unwrap() {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "hookline did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(code.success(), "{code:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "exited before the attempt finished"
    );
    assert!(
        c.get(format!("{}/healthz", p.base)).send().await.is_err(),
        "still accepting after exit"
    );

    // The attempt was recorded: a restart does not send it again.
    r.set_default(Mode::Ok);
    let mut p = spawn(&db, free_port()).await;
    let d: serde_json::Value = c
        .get(format!("{}/v1/apps/{app}/webhooks", p.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let w = d["webhooks"][0]["id"].as_str().unwrap().to_string();
    let d: serde_json::Value = c
        .get(format!("{}/v1/apps/{app}/webhooks/{w}/deliveries", p.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["deliveries"][0]["state"], "succeeded", "{d}");
    r.assert_stays_at(1, Duration::from_millis(400)).await;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_database_is_refused_naming_the_file_and_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("owned.db");
    let mut first = spawn(&db, free_port()).await;
    let started = Instant::now();
    let mut second = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env("HOOKLINE_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("HOOKLINE_DATABASE", format!("sqlite://{}", db.display()))
        .env("HOOKLINE_ADMIN_KEY", ADMIN_KEY)
        .env("HOOKLINE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = second.kill();
            let _ = second.wait();
            let _ = first.child.kill();
            panic!("a second hookline serve on the same database was still running after 5 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())),
        "{stderr}"
    );
    // The first one goes on serving.
    let health = reqwest::get(format!("{}/healthz", first.base))
        .await
        .unwrap();
    assert!(health.status().is_success());
    // Killed, it leaves no stale lock: the next process starts.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let mut next = spawn(&db, free_port()).await;
    next.child.kill().unwrap();
    next.child.wait().unwrap();
}
