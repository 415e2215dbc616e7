//! Delivery benchmark: the real `hookline serve` binary (release) with its durable SQLite queue,
//! a receiver on loopback in this process, and in the same run the plain-HTTP ceiling (the same
//! requests sent straight to the receiver with the same client settings).
//!
//! Three delivery rounds, each between two ceiling runs; medians. Prints ingest rate, delivery
//! rate and its ratio to the ceiling, in batches and one event per request, CPU per event, the
//! bytes stored per event, p50/p99 ingest→arrival latency at a steady 1,000 events/s, the time to
//! answer an ingest while reads and a delete of 100,000 deliveries run beside it, and the server's
//! peak RSS. Bounded in count and time; loopback only.
//!
//! `scripts/bench-server.sh` (or `cargo bench -p hookline-server --bench delivery`).
//! Sizes: `HOOKLINE_BENCH_EVENTS` (default 20000), `HOOKLINE_BENCH_RATE` (1000/s),
//! `HOOKLINE_BENCH_SECONDS` (5). `HOOKLINE_BENCH_BIN` runs another `hookline` binary than the one
//! built with the bench (to compare two builds against the same load generator).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

const ADMIN_KEY: &str = "bench-admin-key";
/// Concurrent requests, for the ceiling and per webhook in the server (its default).
const CONCURRENCY: usize = 16;
/// Concurrent producers posting one event per request (the common way producers call an ingest
/// API), each event about `SINGLE_EVENT_BYTES` long.
const PRODUCERS: usize = 64;
const SINGLE_EVENT_BYTES: usize = 512;
/// Deliveries of the webhook deleted while ingest latency is measured.
const BULK_DELIVERIES: usize = 100_000;
/// Events per request in the throughput run.
const BATCH: usize = 100;
/// Throughput rounds, each followed by a ceiling run.
const ROUNDS: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[derive(Default)]
struct Arrivals {
    count: AtomicUsize,
    latencies_us: Mutex<Vec<u64>>,
    done: Notify,
    target: AtomicUsize,
}

async fn receive(State(a): State<Arc<Arrivals>>, body: Bytes) -> StatusCode {
    let now = now_us();
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(sent) = v.get("sent").and_then(Value::as_u64)
        && sent > 0
    {
        a.latencies_us
            .lock()
            .unwrap()
            .push(now.saturating_sub(sent));
    }
    let n = a.count.fetch_add(1, Ordering::AcqRel) + 1;
    if n >= a.target.load(Ordering::Acquire) {
        a.done.notify_waiters();
    }
    StatusCode::OK
}

async fn wait_for(a: &Arrivals, n: usize, limit: Duration) -> bool {
    a.target.store(n, Ordering::Release);
    let deadline = Instant::now() + limit;
    while a.count.load(Ordering::Acquire) < n {
        if Instant::now() > deadline {
            return false;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), a.done.notified()).await;
    }
    true
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    /// Stops the server as a user would (SIGTERM: it finishes and exits; a profiler wrapping it
    /// writes its report), killing it only if it is still running after 30 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// CPU time (user + system) the server has used so far.
    fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10))
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

async fn start_server(db: &std::path::Path, sync_commits: bool) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::env::var_os("HOOKLINE_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_hookline").into());
    let child = Command::new(bin)
        .arg("serve")
        .env("HOOKLINE_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKLINE_DATABASE", format!("sqlite://{}", db.display()))
        .env("HOOKLINE_ADMIN_KEY", ADMIN_KEY)
        .env("HOOKLINE_LOG", "warn")
        .env("HOOKLINE_SYNC_COMMITS", sync_commits.to_string())
        // The receiver is on loopback, which the address guard blocks unless allowed.
        .env("HOOKLINE_DELIVERY_ALLOW_NETWORKS", "127.0.0.0/8")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run the hookline binary");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let c = client();
    for _ in 0..500 {
        if c.get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("hookline serve did not start");
}

/// The median, and the values sorted.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// Sends `n` requests from `workers` concurrent tasks; `make(i)` builds request `i`.
async fn blast(
    n: usize,
    workers: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> Duration {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let resp = make(i).send().await.expect("request failed");
                assert!(resp.status().is_success(), "status {}", resp.status());
                let _ = resp.bytes().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

/// GETs a JSON answer with a key.
async fn get_json(c: &reqwest::Client, url: &str, key: &str) -> Value {
    c.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Posts every body (JSON) to an events URL from `workers` concurrent tasks; the time it took.
async fn post_all(
    c: &reqwest::Client,
    url: &str,
    key: &str,
    bodies: Arc<Vec<Bytes>>,
    workers: usize,
) -> Duration {
    let (c, u, k) = (c.clone(), url.to_string(), key.to_string());
    blast(bodies.len(), workers, move |i| {
        c.post(&u)
            .bearer_auth(&k)
            .header("content-type", "application/json")
            .body(bodies[i].clone())
    })
    .await
}

fn event(id: String) -> Value {
    json!({"id": id, "kind": "message.push.sent", "external_id": "user-1", "subscription_device_type": "Chrome",
           "timestamp": 1708559416, "message": {"title": "Hello", "contents": "World"}, "sent": now_us()})
}

/// An event padded to `SINGLE_EVENT_BYTES` of JSON.
fn padded_event(id: String) -> Bytes {
    let mut e = event(id);
    let len = e.to_string().len() + r#","pad":"""#.len();
    e["pad"] = Value::String("x".repeat(SINGLE_EVENT_BYTES.saturating_sub(len)));
    Bytes::from(e.to_string())
}

/// Posts one event per request at `rate` for `seconds`; the time each took to be answered (µs),
/// sorted.
async fn ingest_latencies(
    c: &reqwest::Client,
    url: &str,
    key: &str,
    rate: usize,
    seconds: usize,
    tag: &str,
) -> Vec<u64> {
    let mut out = at_rate(rate, seconds, |i| {
        let (c, u, k) = (c.clone(), url.to_string(), key.to_string());
        let body = padded_event(format!("{tag}-{i}"));
        async move {
            let started = Instant::now();
            let r = c
                .post(&u)
                .bearer_auth(&k)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("ingest failed");
            assert_eq!(r.status(), 202);
            started.elapsed().as_micros() as u64
        }
    })
    .await;
    out.sort_unstable();
    out
}

/// Between phases: what the last one left for the disk to write is written, so that a phase's
/// latencies are not the previous one's write-back.
fn settle() {
    let _ = Command::new("sync").status();
}

/// Bytes of the database and its WAL.
fn store_bytes(db: &std::path::Path) -> (u64, u64) {
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (size(db.to_path_buf()), size(wal.into()))
}

fn reset(a: &Arrivals) {
    a.count.store(0, Ordering::Release);
    a.latencies_us.lock().unwrap().clear();
}

fn latencies(a: &Arrivals) -> Vec<u64> {
    let mut l = a.latencies_us.lock().unwrap().clone();
    l.sort_unstable();
    l
}

/// An app and a webhook to the receiver: `(events URL, app key)`.
async fn setup(c: &reqwest::Client, server: &Server, receiver: &str) -> (String, String) {
    let created: Value = c
        .post(format!("{}/v1/apps", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (app_id, key) = (
        created["id"].as_str().unwrap().to_string(),
        created["api_key"].as_str().unwrap().to_string(),
    );
    let webhook = json!({
        "name": "bench",
        "events": ["message.push.sent"],
        "method": "POST",
        "url": format!("{receiver}/hook"),
        "headers": {},
        "body": {"custom": "{\"id\": \"{{ event.id }}\", \"kind\": \"{{ event.kind }}\", \"user\": \"{{ event.external_id }}\", \"sent\": {{ event.sent }}}"},
        "enabled": true
    });
    let resp = c
        .post(format!("{}/v1/apps/{app_id}/webhooks", server.base))
        .bearer_auth(&key)
        .json(&webhook)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    (format!("{}/v1/apps/{app_id}/events", server.base), key)
}

/// Starts `make(i)` every 1/rate s for `seconds` (each on its own task, so a slow answer delays
/// no later send); their outputs, in order.
async fn at_rate<F, Fut>(rate: usize, seconds: usize, make: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        tasks.push(tokio::spawn(make(i)));
    }
    let mut out = Vec::with_capacity(total);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// One event every 1/rate s for `seconds`, each stamped when sent: ingest→arrival latencies.
async fn steady(
    c: &reqwest::Client,
    arrivals: &Arrivals,
    url: &str,
    key: &str,
    rate: usize,
    seconds: usize,
) -> (Vec<u64>, bool) {
    reset(arrivals);
    at_rate(rate, seconds, |i| {
        let (c, u, k) = (c.clone(), url.to_string(), key.to_string());
        let body = event(format!("s-{i}"));
        async move {
            let r = c
                .post(&u)
                .bearer_auth(&k)
                .json(&body)
                .send()
                .await
                .expect("ingest failed");
            assert_eq!(r.status(), 202);
        }
    })
    .await;
    let ok = wait_for(arrivals, rate * seconds, Duration::from_secs(60)).await;
    (latencies(arrivals), ok)
}

/// What signing a request costs the server, per scheme: microseconds per signature (the median
/// of three runs) of a delivery body of the benchmark's size, as the worker signs it.
fn signing_cost() -> Vec<(&'static str, f64)> {
    use hookline::signing::{Scheme, Signer, new_key};
    let body = br#"{"id": "5c1e0f9e-6a0a-4a53-9d6a-7d9d5c8a1f00", "kind": "message.push.sent", "user": "user-42", "sent": 1708559416}"#;
    [
        ("HMAC-SHA256 (v1)", Scheme::Symmetric, 200_000),
        ("ed25519 (v1a)", Scheme::Ed25519, 20_000),
    ]
    .into_iter()
    .map(|(name, scheme, n)| {
        let signer = Signer::with_secret(&new_key(scheme)).unwrap();
        let mut runs: Vec<f64> = (0..3)
            .map(|_| {
                let started = Instant::now();
                for i in 0..n {
                    std::hint::black_box(signer.sign(
                        "0ee8d1ea-8569-82ce-8000-000000000001",
                        i,
                        body,
                        0,
                    ));
                }
                started.elapsed().as_secs_f64() * 1e6 / n as f64
            })
            .collect();
        (name, median(&mut runs))
    })
    .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let n = env_usize("HOOKLINE_BENCH_EVENTS", 20_000);
    let rate = env_usize("HOOKLINE_BENCH_RATE", 1_000);
    let seconds = env_usize("HOOKLINE_BENCH_SECONDS", 5);

    let arrivals = Arc::new(Arrivals::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route(
            "/bulk/hook",
            axum::routing::post(|| async { StatusCode::OK }),
        )
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The ceiling: the same number of requests straight to the receiver, same client settings.
    let c = client();
    let url = format!("{receiver}/hook");
    let plain = {
        let (c, url) = (c.clone(), url.clone());
        let body = json!({"id": "x", "kind": "message.push.sent", "sent": 0}).to_string();
        move |n: usize| {
            let (c, url, body) = (c.clone(), url.clone(), body.clone());
            blast(n, CONCURRENCY, move |_| {
                c.post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
        }
    };
    plain(1000).await;
    // The ceiling swings from run to run on this machine (how the load lands on the two cores):
    // it is measured before and after every delivery round, and medians are compared.
    let mut ceilings = vec![n as f64 / plain(n).await.as_secs_f64()];

    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("bench.db"), true).await;
    let (events_url, key) = setup(&c, &server, &receiver).await;

    // Throughput: ROUNDS × n events posted in batches of BATCH by 8 producers. The bodies are built
    // first, so the load generator's own JSON work does not compete with the server for the CPU.
    let batches = n.div_ceil(BATCH);
    let (mut ingest_rates, mut delivery_rates) = (Vec::new(), Vec::new());
    let mut delivered = true;
    let cpu_before = server.cpu_time();
    for round in 0..ROUNDS {
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            (0..batches)
                .map(|b| {
                    let events: Vec<Value> = (b * BATCH..((b + 1) * BATCH).min(n))
                        .map(|i| event(format!("t-{round}-{i}")))
                        .collect();
                    Bytes::from(json!({ "events": events }).to_string())
                })
                .collect(),
        );
        reset(&arrivals);
        let started = Instant::now();
        let ingest_time = post_all(&c, &events_url, &key, bodies, 8).await;
        delivered &= wait_for(&arrivals, n, Duration::from_secs(120)).await;
        let delivery_time = started.elapsed();
        ingest_rates.push(n as f64 / ingest_time.as_secs_f64());
        delivery_rates.push(n as f64 / delivery_time.as_secs_f64());
        ceilings.push(n as f64 / plain(n).await.as_secs_f64());
    }
    let cpu_per_event = match (cpu_before, server.cpu_time()) {
        (Some(a), Some(b)) => Some((b - a).as_micros() as f64 / (ROUNDS * n) as f64),
        _ => None,
    };
    let (ceiling, delivery_rate, ingest_rate) = (
        median(&mut ceilings),
        median(&mut delivery_rates),
        median(&mut ingest_rates),
    );

    // One event per request: ROUNDS rounds of n/2 events from PRODUCERS producers, each between
    // two ceiling runs; the server's CPU per event over them.
    let single = n / 2;
    let (mut single_rates, mut single_ceilings) = (Vec::new(), vec![ceilings[ceilings.len() - 1]]);
    let mut single_delivered = true;
    let single_cpu_before = server.cpu_time();
    for round in 0..ROUNDS {
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            (0..single)
                .map(|i| padded_event(format!("o-{round}-{i}")))
                .collect(),
        );
        reset(&arrivals);
        let single_time = post_all(&c, &events_url, &key, bodies, PRODUCERS).await;
        single_delivered &= wait_for(&arrivals, single, Duration::from_secs(120)).await;
        single_rates.push(single as f64 / single_time.as_secs_f64());
        single_ceilings.push(n as f64 / plain(n).await.as_secs_f64());
    }
    let single_cpu = match (single_cpu_before, server.cpu_time()) {
        (Some(a), Some(b)) => Some((b - a).as_micros() as f64 / (ROUNDS * single) as f64),
        _ => None,
    };
    let (single_rate, single_ceiling) = (median(&mut single_rates), median(&mut single_ceilings));
    let stored_events = ROUNDS * n + ROUNDS * single + 1;
    let (db_bytes, wal_bytes) = store_bytes(&dir.path().join("bench.db"));

    let rss = server.peak_rss_kib();
    drop(server);
    drop(dir);
    settle();

    // Latency at a steady rate, with fsynced commits and without, each on a fresh server (not
    // behind the checkpoint of the runs above).
    let mut steady_runs = Vec::new();
    for sync in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_server(&dir.path().join("bench.db"), sync).await;
        let (events_url, key) = setup(&c, &server, &receiver).await;
        steady_runs.push(steady(&c, &arrivals, &events_url, &key, rate, seconds).await);
        drop(server);
        drop(dir);
        settle();
    }
    let (steady_full, steady_normal) = (&steady_runs[0], &steady_runs[1]);

    // Reads and long operations beside ingest: one event per request at `rate`, the time to
    // answer each, on a fresh server holding a second webhook with BULK_DELIVERIES deliveries;
    // quiet, then while its stats, deliveries and logs are read in a loop, then while it is
    // deleted.
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("bench.db"), true).await;
    let (events_url, key) = setup(&c, &server, &receiver).await;
    let (bulk_url, bulk_key) = setup(&c, &server, &format!("{receiver}/bulk")).await;
    let bulk_webhook = get_json(&c, &bulk_url.replace("/events", "/webhooks"), &bulk_key).await;
    let bulk_webhook = format!(
        "{}/{}",
        bulk_url.replace("/events", "/webhooks"),
        bulk_webhook["webhooks"][0]["id"].as_str().unwrap()
    );
    {
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            (0..BULK_DELIVERIES.div_ceil(BATCH))
                .map(|b| {
                    let events: Vec<Value> = (b * BATCH..(b + 1) * BATCH)
                        .map(|i| event(format!("bulk-{i}")))
                        .collect();
                    Bytes::from(json!({ "events": events }).to_string())
                })
                .collect(),
        );
        post_all(&c, &bulk_url, &bulk_key, bodies, 8).await;
    }
    // Every bulk delivery recorded (its row exists) before the phases start.
    let mut recorded = false;
    for _ in 0..600 {
        let v = get_json(&c, &format!("{bulk_webhook}/stats"), &bulk_key).await;
        if v["deliveries"]["succeeded"].as_u64() == Some(BULK_DELIVERIES as u64) {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let quiet = ingest_latencies(&c, &events_url, &key, rate, seconds, "quiet").await;
    let reading = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reads = {
        let (c, w, k, reading) = (
            c.clone(),
            bulk_webhook.clone(),
            bulk_key.clone(),
            reading.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while reading.load(Ordering::Acquire) {
                for path in ["stats?range=1h", "deliveries?limit=100", "logs?limit=50"] {
                    let r = c
                        .get(format!("{w}/{path}"))
                        .bearer_auth(&k)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                    n += 1;
                }
            }
            n
        })
    };
    let while_reading = ingest_latencies(&c, &events_url, &key, rate, seconds, "reading").await;
    reading.store(false, Ordering::Release);
    let reads_done = reads.await.unwrap();
    let delete = {
        let (c, w, k) = (c.clone(), bulk_webhook.clone(), bulk_key.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let started = Instant::now();
            let r = c.delete(&w).bearer_auth(&k).send().await.unwrap();
            assert_eq!(r.status(), 204);
            started.elapsed()
        })
    };
    let while_deleting = ingest_latencies(&c, &events_url, &key, rate, seconds, "deleting").await;
    let delete_time = delete.await.unwrap();
    drop(server);

    let flag = |ok: bool| if ok { "" } else { "  [NOT ALL DELIVERED]" };
    println!(
        "hookline delivery benchmark (loopback; durable SQLite queue; 2-core machine shared with its load)"
    );
    let range = |v: &[f64]| format!("{:.0}–{:.0}", v[0], v[v.len() - 1]);
    println!(
        "  events                      {ROUNDS} rounds of {n} in batches of {BATCH}; {CONCURRENCY} workers per webhook (the default)"
    );
    println!(
        "  plain-HTTP ceiling          {ceiling:>9.0} req/s  (median of {} runs around the rounds, {}; {CONCURRENCY} concurrent, same client settings)",
        ceilings.len(),
        range(&ceilings)
    );
    println!(
        "  ingest rate, batched        {ingest_rate:>9.0} events/s  (median, {}; 202 = fsynced to disk)",
        range(&ingest_rates)
    );
    println!(
        "  delivery rate               {delivery_rate:>9.0} events/s  (median, {}; {:.0}% of the ceiling; bar 70%){}",
        range(&delivery_rates),
        100.0 * delivery_rate / ceiling,
        flag(delivered)
    );
    if let Some(us) = cpu_per_event {
        println!(
            "  server CPU per event        {us:>9.1} µs  (ingest + queue + delivery + records; less noisy than rates)"
        );
    }
    println!(
        "  ingest rate, 1 per request  {single_rate:>9.0} events/s  (median of {ROUNDS} rounds of {single}, {}; {PRODUCERS} producers, {SINGLE_EVENT_BYTES}-byte events; {:.0}% of a {single_ceiling:.0} req/s ceiling; bar 35%){}",
        range(&single_rates),
        100.0 * single_rate / single_ceiling,
        flag(single_delivered)
    );
    if let Some(us) = single_cpu {
        println!(
            "  server CPU per event, 1/req {us:>9.1} µs  (ingest + delivery, one event per request)"
        );
    }
    println!(
        "  stored                      {:.1} MB database + {:.1} MB WAL for {stored_events} events: {:.0} bytes per event",
        db_bytes as f64 / 1e6,
        wal_bytes as f64 / 1e6,
        (db_bytes + wal_bytes) as f64 / stored_events as f64
    );
    for (name, (lat, ok)) in [
        ("sync_commits=true ", &steady_full),
        ("sync_commits=false", &steady_normal),
    ] {
        println!(
            "  steady {rate}/s {seconds}s {name} p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms  (bar p99 ≤ 2 ms){}",
            percentile(lat, 0.5),
            percentile(lat, 0.9),
            percentile(lat, 0.99),
            flag(*ok)
        );
    }
    for (name, lat) in [
        ("quiet", &quiet),
        ("stats, deliveries, logs read in a loop", &while_reading),
        ("a webhook with 100,000 deliveries deleted", &while_deleting),
    ] {
        println!(
            "  ingest 1/req {rate}/s, answer time p50 {:.2} ms, p99 {:.2} ms  ({name})",
            percentile(lat, 0.5),
            percentile(lat, 0.99)
        );
    }
    println!(
        "  the reads: {reads_done} requests; the delete: {:.2} s{}",
        delete_time.as_secs_f64(),
        if recorded {
            ""
        } else {
            "  [BULK DELIVERIES NOT ALL RECORDED]"
        }
    );
    match rss {
        Some(kib) => println!(
            "  server peak RSS             {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  server peak RSS             unknown (no /proc)"),
    }
    for (name, us) in signing_cost() {
        println!(
            "  signing, {name:<17} {us:>9.2} µs per request  (one key; in the CPU per event above)"
        );
    }
}
