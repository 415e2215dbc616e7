//! Write faults never stall delivery: attempt records and ingests that the store fails (a wrapper
//! that fails chosen calls, and a real full filesystem) are retried or refused cleanly, and
//! everything accepted is delivered once the fault clears, without a restart.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookline::store::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, event, test_config};
use crate::receiver::{Mode, TestReceiver};

/// A store that fails the calls named in `failing` with a database error, and passes the rest on.
struct FaultyStore {
    inner: Arc<dyn Store>,
    failing: Mutex<HashSet<&'static str>>,
}

impl FaultyStore {
    fn fail(&self, call: &'static str) {
        self.failing.lock().unwrap().insert(call);
    }
    fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }
    fn check(&self, call: &'static str) -> Result<(), StoreError> {
        if self.failing.lock().unwrap().contains(call) {
            return Err(StoreError::Database(format!("{call}: injected fault")));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn close(&self) {
        self.inner.close().await
    }
    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.get_meta(key).await
    }
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.set_meta(key, value).await
    }
    async fn create_app(&self, app: AppRecord, key_hash: String) -> Result<(), StoreError> {
        self.inner.create_app(app, key_hash).await
    }
    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.inner.list_apps().await
    }
    async fn get_app(&self, app_id: &str) -> Result<Option<AppRecord>, StoreError> {
        self.inner.get_app(app_id).await
    }
    async fn update_app(
        &self,
        app_id: &str,
        name: Option<String>,
        bridge_origins: Option<Vec<String>>,
    ) -> Result<Option<AppRecord>, StoreError> {
        self.inner.update_app(app_id, name, bridge_origins).await
    }
    async fn app_keys(&self) -> Result<Vec<AppKey>, StoreError> {
        self.inner.app_keys().await
    }
    async fn rotate_app_key(
        &self,
        app_id: &str,
        key_hash: String,
        old_until: Millis,
    ) -> Result<bool, StoreError> {
        self.inner.rotate_app_key(app_id, key_hash, old_until).await
    }
    async fn create_webhook(&self, webhook: WebhookRecord) -> Result<i64, StoreError> {
        self.inner.create_webhook(webhook).await
    }
    async fn update_webhook(
        &self,
        app_id: &str,
        id: &str,
        spec: Value,
        enabled: bool,
        at: Millis,
    ) -> Result<bool, StoreError> {
        self.inner
            .update_webhook(app_id, id, spec, enabled, at)
            .await
    }
    async fn set_webhook_signing(
        &self,
        app_id: &str,
        id: &str,
        signing: String,
    ) -> Result<bool, StoreError> {
        self.inner.set_webhook_signing(app_id, id, signing).await
    }
    async fn set_webhook_enabled(
        &self,
        app_id: &str,
        id: &str,
        enabled: bool,
        reason: Option<String>,
        at: Millis,
    ) -> Result<bool, StoreError> {
        self.inner
            .set_webhook_enabled(app_id, id, enabled, reason, at)
            .await
    }
    async fn delete_webhook(&self, app_id: &str, id: &str) -> Result<Option<i64>, StoreError> {
        self.inner.delete_webhook(app_id, id).await
    }
    async fn delete_app(&self, app_id: &str) -> Result<Option<Leftovers>, StoreError> {
        self.inner.delete_app(app_id).await
    }
    async fn purge_deleted(
        &self,
        leftovers: Leftovers,
        after: i64,
        limit: usize,
    ) -> Result<PurgeStep, StoreError> {
        self.inner.purge_deleted(leftovers, after, limit).await
    }
    async fn purge_before(&self, before: Millis, limit: usize) -> Result<u64, StoreError> {
        self.inner.purge_before(before, limit).await
    }
    async fn erase_external_id(
        &self,
        app_id: &str,
        external_id: &str,
        after: i64,
        span: i64,
    ) -> Result<PurgeStep, StoreError> {
        self.inner
            .erase_external_id(app_id, external_id, after, span)
            .await
    }
    async fn get_webhook(
        &self,
        app_id: &str,
        id: &str,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        self.inner.get_webhook(app_id, id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        self.inner.list_webhooks(app_id).await
    }
    async fn recent_events(
        &self,
        app_id: &str,
        kinds: Vec<String>,
        limit: usize,
    ) -> Result<Vec<hookline::store::StoredEvent>, StoreError> {
        self.inner.recent_events(app_id, kinds, limit).await
    }
    async fn all_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        self.inner.all_webhooks().await
    }
    async fn append_events(
        &self,
        app_id: &str,
        events: Vec<NewEvent>,
        room: Room,
        now: Millis,
    ) -> Result<Appends, StoreError> {
        self.check("append_events")?;
        self.inner.append_events(app_id, events, room, now).await
    }
    async fn lease(
        &self,
        wants: Vec<(i64, usize)>,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        self.check("lease")?;
        self.inner.lease(wants, now, lease_until).await
    }
    async fn lease_in_order(
        &self,
        webhook_seq: i64,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        self.inner
            .lease_in_order(webhook_seq, limit, now, lease_until)
            .await
    }
    async fn release_leases(&self) -> Result<(), StoreError> {
        self.inner.release_leases().await
    }
    async fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        self.inner.next_due().await
    }
    async fn record_attempts(
        &self,
        attempts: Arc<Vec<AttemptRecord>>,
    ) -> Result<Vec<AttemptEffects>, StoreError> {
        self.check("record_attempts")?;
        self.inner.record_attempts(attempts).await
    }
    async fn deliveries(
        &self,
        app_id: &str,
        webhook_id: &str,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.inner
            .deliveries(app_id, webhook_id, state, limit)
            .await
    }
    async fn delivery_counts(
        &self,
        app_id: &str,
        webhook_id: &str,
    ) -> Result<DeliveryCounts, StoreError> {
        self.inner.delivery_counts(app_id, webhook_id).await
    }
    async fn replay(
        &self,
        app_id: &str,
        webhook_id: &str,
        event_seq: Option<i64>,
        now: Millis,
        limit: usize,
    ) -> Result<u64, StoreError> {
        self.inner
            .replay(app_id, webhook_id, event_seq, now, limit)
            .await
    }
    async fn stats(
        &self,
        webhook_id: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteStats>, StoreError> {
        self.inner.stats(webhook_id, from_minute, to_minute).await
    }
    async fn logs(
        &self,
        webhook_id: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<LogRecord>, StoreError> {
        self.inner.logs(webhook_id, limit, before).await
    }
}

/// The server on a [`FaultyStore`] over its usual SQLite store.
async fn faulty_server(queue_per_webhook: usize) -> (TestServer, Arc<FaultyStore>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.delivery.queue_per_webhook = queue_per_webhook;
    let hookline::config::DatabaseUrl::Sqlite(path) = &config.database;
    let sqlite = hookline::store::sqlite::SqliteStore::open(path, true)
        .await
        .unwrap();
    let faulty = Arc::new(FaultyStore {
        inner: Arc::new(sqlite),
        failing: Mutex::default(),
    });
    let server = TestServer::start_store(dir, config, faulty.clone()).await;
    (server, faulty)
}

/// Events `prefix-0` .. `prefix-{n-1}`.
fn events(prefix: &str, n: usize) -> Value {
    json!({"events": (0..n).map(|i| event(&format!("{prefix}-{i}"), "message.push.sent")).collect::<Vec<_>>()})
}

/// Waits until the webhook's deliveries are all settled: `succeeded` of them and none pending.
async fn settled(s: &TestServer, app: &(String, String), webhook: &str, succeeded: u64) {
    s.eventually(app, &format!("/webhooks/{webhook}/stats"), |v| {
        v["deliveries"]["succeeded"] == succeeded && v["deliveries"]["pending"] == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_records_that_fail_are_kept_and_delivery_resumes_when_the_store_heals() {
    let (s, faults) = faulty_server(10_000).await;
    let r = TestReceiver::start().await;
    // The first 30 requests fail: their retries can only be scheduled through the records.
    r.script(std::iter::repeat_n(Mode::Status(500), 30));
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/hook"), &["message.push.sent"]).await;
    faults.fail("record_attempts");
    s.ingest(&a, events("e", 100)).await;
    r.wait_for(100, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    faults.heal();
    // Every event gets its 2xx (the 30 failures retried), and every delivery is settled in the
    // store, with no restart.
    settled(&s, &a, &w, 100).await;
    let got = r.received();
    let ok: HashSet<String> = got[30..]
        .iter()
        .map(|q| q.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ok.len(), 100, "events with a 2xx answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ingests_store_nothing_and_accepted_events_all_arrive() {
    // Room for 4 in memory: most deliveries go through the store (catching up, pending rows).
    let (s, faults) = faulty_server(4).await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/hook"), &["message.push.sent"]).await;
    s.ingest(&a, events("before", 20)).await;
    faults.fail("append_events");
    faults.fail("record_attempts");
    let (status, v) = s
        .app_call("POST", &a, "/events", Some(events("during", 10)))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "storage_unavailable");
    tokio::time::sleep(Duration::from_millis(300)).await;
    faults.heal();
    // The refused batch was not stored: sent again, it is accepted in full.
    let v = s.ingest(&a, events("during", 10)).await;
    assert_eq!(v["accepted"], 10);
    settled(&s, &a, &w, 30).await;
    let mut ids = r.event_ids();
    ids.dedup();
    assert_eq!(ids.len(), 30);
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A size-limited tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs failed");
        SmallDisk { dir }
    }

    /// Fills the disk to the last byte; returns the filler file.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        while f.write_all(&small[..1]).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_events_cleanly_and_delivery_resumes_when_space_is_back() {
    // Mounting needs root, which CI and the test command have on this kind of machine.
    assert!(
        is_root(),
        "this test mounts a small tmpfs to fill a real disk: run it as root"
    );
    let disk = SmallDisk::mount("16m");
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database = hookline::config::DatabaseUrl::Sqlite(disk.dir.path().join("hookline.db"));
    let s = TestServer::start_config(dir, config).await;
    let r = TestReceiver::start().await;
    let a = s.app("a").await;
    let w = s.webhook(&a, &r.url("/hook"), &["message.push.sent"]).await;
    s.ingest(&a, events("warm", 20)).await;
    settled(&s, &a, &w, 20).await;

    // Attempts under way when the disk fills: their records fail until there is space again.
    r.set_default(Mode::Slow(Duration::from_millis(400)));
    s.ingest(&a, events("inflight", 20)).await;
    let filler = disk.fill();
    // Producers keep sending while the disk is full: every batch is either accepted (stored) or
    // refused with a 503 (nothing stored).
    let mut accepted: HashSet<String> = (0..20)
        .flat_map(|i| [format!("warm-{i}"), format!("inflight-{i}")])
        .collect();
    let mut refused = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let mut batch = 0;
    while Instant::now() < deadline {
        let prefix = format!("full{batch}");
        let (status, v) = s
            .app_call("POST", &a, "/events", Some(events(&prefix, 20)))
            .await;
        match status {
            StatusCode::ACCEPTED => accepted.extend((0..20).map(|i| format!("{prefix}-{i}"))),
            StatusCode::SERVICE_UNAVAILABLE => refused.push(prefix),
            other => panic!("{other}: {v}"),
        }
        batch += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!refused.is_empty(), "the full disk refused nothing");
    r.set_default(Mode::Ok);
    std::fs::remove_file(filler).unwrap();
    // Space is back: the refused batches are sent again and accepted.
    for prefix in refused {
        let v = s.ingest(&a, events(&prefix, 20)).await;
        assert_eq!(v["accepted"], 20);
        accepted.extend((0..20).map(|i| format!("{prefix}-{i}")));
    }
    settled(&s, &a, &w, accepted.len() as u64).await;
    let got: HashSet<String> = r.event_ids().into_iter().collect();
    assert_eq!(got, accepted);
    let dir = s.stop().await;
    drop(dir);
    drop(disk);
}
