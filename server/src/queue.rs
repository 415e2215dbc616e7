//! The delivery queue: appends accepted events to the store's log, hands the deliveries the store
//! gives it to each webhook's workers, and leases due ones (retries, backlog, held deliveries of
//! re-enabled webhooks) from the store as room frees up.
//!
//! Each webhook has its own bounded in-memory queue and its own workers (see `worker`), so a slow
//! or dead receiver fills only its own. How events are numbered and where a delivery waits until
//! it is leased is the store's business (see `store`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::delivery::HttpSender;
use crate::event::Event;
use crate::store::{
    AttemptRecord, DeliveryIds, Millis, NewEvent, Room, Store, StoreError, WebhookRecord, now_ms,
};
use crate::webhook::Webhook;

/// The event of a job: already parsed when it comes from an ingest, stored JSON when leased.
#[derive(Debug, Clone)]
pub enum JobEvent {
    Parsed(Arc<Event>),
    Stored { id: String, body: String },
}

/// One delivery to attempt once.
#[derive(Debug, Clone)]
pub struct Job {
    pub event_seq: i64,
    pub event: JobEvent,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the event was accepted.
    pub created_at: Millis,
    /// When the store's lease of it ends (`None`: never): a job still waiting in memory then is
    /// dropped (the poller leases the delivery again), so a delivery is never sent twice at once.
    pub lease_until: Option<Millis>,
}

/// A webhook's queue as stats show it.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct QueueState {
    /// Deliveries waiting in memory for their turn (more may wait in the store: see
    /// `deliveries.pending`)
    pub in_memory: usize,
    /// Requests under way
    pub in_flight: usize,
    /// How long recent first attempts (the last 1024) waited between their event's arrival and
    /// their request's start, in milliseconds: rate and concurrency limits, a paused receiver and
    /// a full queue all show here
    pub waited_ms: crate::pacing::Waits,
}

/// A webhook as the queue and workers see it.
pub struct WebhookHandle {
    pub id: String,
    /// The store's number for it.
    pub seq: i64,
    pub app_id: String,
    /// Its deliveries' ids.
    pub ids: DeliveryIds,
    compiled: RwLock<Arc<Webhook>>,
    /// Its signing keys (`webhook-signature`).
    signer: RwLock<Arc<crate::signing::Signer>>,
    /// Its rate and concurrency limits' state.
    pub pacer: Arc<crate::pacing::Pacer>,
    /// How long a lease of its deliveries lasts (`delivery.lease`).
    lease: std::time::Duration,
    enabled: AtomicBool,
    jobs: mpsc::Sender<Job>,
    /// Deliveries may wait in the store: the poller should look when room frees up.
    backlog: AtomicBool,
    /// Times of recent failures, for the failure-rate disable rule.
    pub(crate) failures: Mutex<std::collections::VecDeque<Millis>>,
    /// Successes seen, for sampling them into logs.
    successes: AtomicU64,
    /// Successes logged in the current second: (unix second, count).
    logged_this_second: Mutex<(i64, u32)>,
    /// Cancelled when the webhook is deleted: workers drop its jobs and abandon its requests.
    pub(crate) deleted: CancellationToken,
    /// Each attempt holds a read guard from its check that the webhook is not deleted until its
    /// request is answered or abandoned; [`Queue::remove`] takes the write side, so it returns
    /// only once nothing of the webhook's is being sent.
    pub(crate) under_way: tokio::sync::RwLock<()>,
}

impl WebhookHandle {
    pub fn webhook(&self) -> Arc<Webhook> {
        self.compiled
            .read()
            .map(|w| w.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    pub fn signer(&self) -> Arc<crate::signing::Signer> {
        self.signer
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    /// New signing keys, for the attempts from now on.
    pub fn set_signer(&self, signer: crate::signing::Signer) {
        *self.signer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(signer);
    }
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }
    pub fn deleted(&self) -> bool {
        self.deleted.is_cancelled()
    }
    /// Jobs its queue can take now. Under a rate limit, no more than it can send in half a lease,
    /// so that jobs do not wait in memory past their lease.
    fn room(&self) -> usize {
        let free = self.jobs.capacity();
        let Some(interval) = self.webhook().spec().rate_limit.map(|r| r.interval()) else {
            return free;
        };
        let sendable = (self.lease.as_secs_f64() / 2.0 / interval.as_secs_f64()).max(1.0) as usize;
        let queued = self.jobs.max_capacity() - free;
        free.min(sendable.saturating_sub(queued))
    }

    /// Whether its deliveries go one at a time, first in, first out.
    pub fn in_order(&self) -> bool {
        self.webhook().spec().ordering == crate::webhook::Ordering::Fifo
    }

    /// Jobs waiting in its queue now.
    fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Its queue now: jobs waiting in memory, requests under way, and how long recent first
    /// attempts waited to start.
    pub fn queue_state(&self) -> QueueState {
        QueueState {
            in_memory: self.queued(),
            in_flight: self.pacer.in_flight(),
            waited_ms: self.pacer.waits(),
        }
    }
    /// Whether a successful attempt at `now` goes to the logs: one in `every` (0: none), at most
    /// `per_second` a second (0: no limit).
    pub(crate) fn log_success(&self, every: u32, per_second: u32, now: Millis) -> bool {
        if every == 0
            || !self
                .successes
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(every as u64)
        {
            return false;
        }
        if per_second == 0 {
            return true;
        }
        let mut window = self
            .logged_this_second
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        within_second_limit(&mut window, now, per_second)
    }
}

/// Counts one more in `window` (unix second, count so far) at `now`; whether it is within
/// `per_second`.
fn within_second_limit(window: &mut (i64, u32), now: Millis, per_second: u32) -> bool {
    let second = now.div_euclid(1000);
    if window.0 != second {
        *window = (second, 0);
    }
    window.1 = window.1.saturating_add(1);
    window.1 <= per_second
}

/// Events whose deliveries did not all fit in memory at ingest, kept parsed so that the poller,
/// leasing those deliveries from the store a moment later, does not parse their stored JSON
/// again. Bounded: the oldest go first (a delivery whose event has gone parses it, as before).
struct Spilled {
    /// By event sequence number.
    events: HashMap<i64, Arc<Event>>,
    order: std::collections::VecDeque<i64>,
    capacity: usize,
}

impl Spilled {
    fn insert(&mut self, seq: i64, event: &Arc<Event>) {
        if self.capacity == 0 || self.events.contains_key(&seq) {
            return;
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.events.remove(&old);
            }
        }
        self.order.push_back(seq);
        self.events.insert(seq, event.clone());
    }

    fn get(&self, seq: i64) -> Option<Arc<Event>> {
        self.events.get(&seq).cloned()
    }
}

/// Counts from one ingest call.
/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
#[schema(as = IngestResult)]
pub struct IngestSummary {
    /// New events stored.
    pub accepted: usize,
    /// Events whose id the app already had: accepted before, nothing new stored.
    pub duplicates: usize,
    /// Deliveries created (pending or skipped).
    pub deliveries: usize,
}

/// The queue shared by the API and the workers.
pub struct Queue {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) sender: HttpSender,
    pub(crate) recorder: crate::worker::Recorder,
    webhooks: RwLock<HashMap<String, Arc<WebhookHandle>>>,
    /// Ids of webhooks deleted since the start, taken with `webhooks` locked for writing: an
    /// update that read a webhook just before it was deleted cannot bring it back. Ids are random
    /// and never reused, so the set only grows, by one short string per delete.
    deleted_ids: Mutex<HashSet<String>>,
    wake: Notify,
    earliest: Mutex<Option<Millis>>,
    stopping: AtomicBool,
    /// Workers in flight, to wait for at shutdown.
    pub(crate) inflight: tokio::sync::Semaphore,
    /// Jobs waiting in the webhooks' in-memory queues, bounded by `queue_in_memory`.
    pub(crate) in_memory: std::sync::atomic::AtomicUsize,
    spilled: Mutex<Spilled>,
}

/// Permits of `inflight`: far more than workers can be in flight, so acquiring never waits.
const INFLIGHT_PERMITS: usize = 1 << 20;

impl Queue {
    /// Must be called inside a Tokio runtime (it starts the attempt recorder).
    pub fn new(config: Config, store: Arc<dyn Store>, sender: HttpSender) -> Arc<Queue> {
        Arc::new(Queue {
            recorder: crate::worker::Recorder::start(store.clone()),
            store,
            sender,
            webhooks: RwLock::new(HashMap::new()),
            deleted_ids: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            earliest: Mutex::new(None),
            stopping: AtomicBool::new(false),
            inflight: tokio::sync::Semaphore::new(INFLIGHT_PERMITS),
            in_memory: std::sync::atomic::AtomicUsize::new(0),
            spilled: Mutex::new(Spilled {
                events: HashMap::new(),
                order: Default::default(),
                capacity: config.delivery.queue_per_webhook,
            }),
            config,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<WebhookHandle>>> {
        self.webhooks.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<WebhookHandle>>> {
        self.webhooks.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a webhook (its compiled form, signing keys and enabled flag); starts its
    /// workers when new. A webhook deleted meanwhile stays deleted.
    pub fn upsert(
        self: &Arc<Self>,
        record: &WebhookRecord,
        webhook: Webhook,
        signer: crate::signing::Signer,
    ) {
        let mut webhooks = self.write();
        if self.deleted_ids().contains(&record.id) {
            return;
        }
        let existing = webhooks.get(&record.id).cloned();
        if let Some(handle) = existing {
            drop(webhooks);
            if let Ok(mut w) = handle.compiled.write() {
                *w = Arc::new(webhook);
            }
            handle.set_signer(signer);
            handle.enabled.store(record.enabled, Ordering::Release);
            if record.enabled {
                handle.backlog.store(true, Ordering::Release);
                self.wake_now();
            }
            return;
        }
        let (tx, rx) = mpsc::channel(self.config.delivery.queue_per_webhook);
        let handle = Arc::new(WebhookHandle {
            id: record.id.clone(),
            seq: record.seq,
            app_id: record.app_id.clone(),
            ids: DeliveryIds::new(&record.id),
            compiled: RwLock::new(Arc::new(webhook)),
            signer: RwLock::new(Arc::new(signer)),
            pacer: Arc::default(),
            lease: self.config.delivery.lease,
            enabled: AtomicBool::new(record.enabled),
            jobs: tx,
            backlog: AtomicBool::new(true),
            failures: Mutex::new(Default::default()),
            successes: AtomicU64::new(0),
            logged_this_second: Mutex::new((0, 0)),
            deleted: CancellationToken::new(),
            under_way: tokio::sync::RwLock::new(()),
        });
        webhooks.insert(record.id.clone(), handle.clone());
        drop(webhooks);
        crate::worker::spawn(self.clone(), handle, rx);
        self.wake_now();
    }

    /// Sets the enabled flag of a webhook in memory (the store has it already).
    pub fn set_enabled(&self, webhook_id: &str, enabled: bool) {
        if let Some(h) = self.read().get(webhook_id) {
            h.enabled.store(enabled, Ordering::Release);
            if enabled {
                h.backlog.store(true, Ordering::Release);
                if let Ok(mut f) = h.failures.lock() {
                    f.clear();
                }
            }
        }
        if enabled {
            self.wake_now();
        }
    }

    /// Forgets a deleted webhook (the store has deleted it): its queued jobs are dropped, requests
    /// in flight abandoned, and this returns once none of its attempts is under way, so nothing
    /// is sent for it afterwards. Attempts that end later record nothing (the store drops records
    /// of a webhook it no longer has).
    pub async fn remove(&self, webhook_id: &str) {
        let handle = {
            let mut webhooks = self.write();
            self.deleted_ids().insert(webhook_id.to_string());
            webhooks.remove(webhook_id)
        };
        if let Some(h) = handle {
            h.deleted.cancel();
            drop(h.under_way.write().await);
        }
    }

    fn deleted_ids(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.deleted_ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn handle(&self, webhook_id: &str) -> Option<Arc<WebhookHandle>> {
        self.read().get(webhook_id).cloned()
    }

    /// Deliveries may be due now (replay, re-enable): look at the store.
    pub fn mark_backlog(&self, webhook_id: &str) {
        if let Some(h) = self.read().get(webhook_id) {
            h.backlog.store(true, Ordering::Release);
        }
        self.wake_now();
    }

    pub fn wake_now(&self) {
        self.wake.notify_one();
    }

    /// Wakes the poller at `at` (a scheduled retry).
    pub fn wake_at(&self, at: Millis) {
        if let Ok(mut e) = self.earliest.lock() {
            *e = Some(e.map_or(at, |x| x.min(at)));
        }
        self.wake.notify_one();
    }

    /// Stores `events` (already validated, for `app_id`) with a delivery for each enabled webhook
    /// whose triggers match (skipped for disabled ones), then hands the deliveries the store gives
    /// back to their webhooks' workers. Returns when the events are durably stored. Runs to its
    /// end even when the caller stops waiting (a client that hung up): the store may have taken
    /// the events, and the deliveries it handed over must reach their workers.
    pub async fn ingest(
        self: &Arc<Self>,
        app_id: &str,
        events: Vec<Event>,
    ) -> Result<IngestSummary, StoreError> {
        let (queue, app_id) = (self.clone(), app_id.to_string());
        match tokio::spawn(async move { queue.ingest_to_end(&app_id, events).await }).await {
            Ok(summary) => summary,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    async fn ingest_to_end(
        self: &Arc<Self>,
        app_id: &str,
        events: Vec<Event>,
    ) -> Result<IngestSummary, StoreError> {
        let handles: Vec<Arc<WebhookHandle>> = self
            .read()
            .values()
            .filter(|h| h.app_id == app_id && !h.deleted())
            .cloned()
            .collect();
        let webhooks: Vec<Arc<Webhook>> = handles.iter().map(|h| h.webhook()).collect();
        let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        let new_events: Vec<NewEvent> = events
            .iter()
            .map(|event| NewEvent {
                id: event.id().to_string(),
                kind: event.kind().to_string(),
                body: event.to_json_string(),
                takers: handles
                    .iter()
                    .zip(&webhooks)
                    .filter(|(_, w)| w.matches(event.kind()))
                    .map(|(h, _)| (h.seq, h.enabled()))
                    .collect(),
            })
            .collect();
        let takers: Vec<Vec<(i64, bool)>> = new_events.iter().map(|e| e.takers.clone()).collect();
        // A webhook delivered in order takes its events through the store, behind what waits
        // there, never straight from here.
        let room = Room {
            per_webhook: handles
                .iter()
                .filter(|h| h.enabled() && !h.in_order())
                .map(|h| (h.seq, h.room()))
                .collect(),
            total: self.global_room(),
        };
        let now = now_ms();
        let appends = self
            .store
            .append_events(app_id, new_events, room, now)
            .await?;
        let mut summary = IngestSummary::default();
        let mut not_queued = Vec::new();
        let mut spilled = Vec::new();
        let mut waiting = false;
        for ((event, appended), takers) in events.iter().zip(appends.events).zip(takers) {
            if !appended.new {
                summary.duplicates += 1;
                continue;
            }
            summary.accepted += 1;
            summary.deliveries += takers.len();
            let seq = appended.seq;
            let mut spill = false;
            for (webhook_seq, enabled) in takers {
                let Some(h) = handles.iter().find(|h| h.seq == webhook_seq) else {
                    continue;
                };
                if !enabled {
                    continue;
                }
                if !appended.handed.contains(&webhook_seq) {
                    // Waits in the store for the poller.
                    h.backlog.store(true, Ordering::Release);
                    spill = true;
                    waiting = true;
                    continue;
                }
                let job = Job {
                    event_seq: seq,
                    event: JobEvent::Parsed(event.clone()),
                    attempts: 0,
                    created_at: now,
                    lease_until: appends.lease_until,
                };
                match h.jobs.try_send(job) {
                    Ok(()) => {
                        self.in_memory.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(_) => {
                        h.backlog.store(true, Ordering::Release);
                        not_queued.push((h.clone(), seq, now));
                        spill = true;
                    }
                }
            }
            if spill {
                spilled.push((seq, event));
            }
        }
        if !spilled.is_empty()
            && let Ok(mut cache) = self.spilled.lock()
        {
            for (seq, event) in spilled {
                cache.insert(seq, event);
            }
        }
        crate::metrics::EVENTS_ACCEPTED.add(summary.accepted as u64);
        crate::metrics::EVENTS_DUPLICATE.add(summary.duplicates as u64);
        if !not_queued.is_empty() {
            // A race filled a webhook's queue: these go back to the store for the poller. The
            // events are stored: the answer does not wait for this, nor fail with it.
            let queue = self.clone();
            tokio::spawn(async move { queue.hold(not_queued).await });
        }
        if waiting {
            self.wake_now();
        }
        Ok(summary)
    }

    /// Gives deliveries the store handed over or leased that no worker took back to the store,
    /// pending and due now, then wakes the poller to lease them. Through the recorder, which
    /// tries again until the store takes them.
    async fn hold(&self, deliveries: Vec<(Arc<WebhookHandle>, i64, Millis)>) {
        let at = now_ms();
        let records = deliveries
            .iter()
            .map(|(h, seq, created_at)| {
                let max_logs = self.config.logs.max_per_webhook;
                AttemptRecord::release(&h.id, h.seq, *seq, *created_at, 1, at, max_logs)
            })
            .collect();
        if self.recorder.record_all(records).await {
            for (h, _, _) in deliveries {
                h.backlog.store(true, Ordering::Release);
            }
            self.wake_now();
        }
    }

    /// How many more jobs may wait in memory, across all webhooks.
    fn global_room(&self) -> usize {
        self.config
            .delivery
            .queue_in_memory
            .saturating_sub(self.in_memory.load(Ordering::Acquire))
    }

    /// Called by a worker when a job is done: room may have freed up for waiting deliveries.
    pub(crate) fn job_done(&self, handle: &WebhookHandle) {
        // Refill at a quarter free, so the next lease is back before the queue runs dry; in
        // order, once the queue is empty (what is leased next depends on how the last ended).
        if (handle.backlog.load(Ordering::Acquire)
            && handle.room() * 4 >= self.config.delivery.queue_per_webhook)
            || (handle.in_order() && handle.queued() == 0)
        {
            self.wake_now();
        }
    }

    /// The poller: leases due deliveries into the webhooks' queues when woken (new backlog, a
    /// retry falling due, a re-enable) or every `poll_interval`.
    pub async fn poll(self: Arc<Self>) {
        let interval = self.config.delivery.poll_interval;
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            let now = now_ms();
            let wait = {
                let earliest = self.earliest.lock().ok().and_then(|e| *e);
                match earliest {
                    Some(at) if at <= now => Duration::ZERO,
                    Some(at) => Duration::from_millis((at - now) as u64).min(interval),
                    None => interval,
                }
            };
            if !wait.is_zero() {
                let _ = tokio::time::timeout(wait, self.wake.notified()).await;
            }
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            let now = now_ms();
            if let Ok(mut e) = self.earliest.lock()
                && e.is_some_and(|at| at <= now)
            {
                *e = None;
            }
            if let Err(e) = self.poll_once(now).await {
                tracing::error!(error = %e, "polling the delivery queue failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn poll_once(&self, now: Millis) -> Result<(), StoreError> {
        let handles: Vec<Arc<WebhookHandle>> = self
            .read()
            .values()
            .filter(|h| h.enabled() && !h.deleted())
            .cloned()
            .collect();
        let mut wants = Vec::new();
        let mut in_order = Vec::new();
        let mut global = self.global_room();
        for h in &handles {
            let take = h.room().min(1024).min(global);
            if take > 0 {
                if h.in_order() {
                    in_order.push((h.seq, take));
                } else {
                    wants.push((h.seq, take));
                }
                global -= take;
            }
        }
        if !wants.is_empty() || !in_order.is_empty() {
            let lease_until = now + self.config.delivery.lease.as_millis() as i64;
            let limits: HashMap<i64, usize> = wants.iter().chain(&in_order).cloned().collect();
            let mut leased = if wants.is_empty() {
                Vec::new()
            } else {
                self.store.lease(wants, now, lease_until).await?
            };
            for (seq, take) in in_order {
                leased.extend(
                    self.store
                        .lease_in_order(seq, take, now, lease_until)
                        .await?,
                );
            }
            let mut per_webhook: HashMap<i64, usize> = HashMap::new();
            let mut not_queued = Vec::new();
            for d in &leased {
                *per_webhook.entry(d.webhook_seq).or_default() += 1;
            }
            for h in &handles {
                let got = per_webhook.get(&h.seq).copied().unwrap_or(0);
                let limit = limits.get(&h.seq).copied().unwrap_or(0);
                // Fewer than asked: nothing more is due now.
                h.backlog
                    .store(limit > 0 && got >= limit, Ordering::Release);
            }
            let mut jobs = Vec::with_capacity(leased.len());
            {
                let spilled = self.spilled.lock().ok();
                for d in leased {
                    let lease_until = d.lease_until;
                    let Some(h) = handles.iter().find(|h| h.seq == d.webhook_seq) else {
                        continue;
                    };
                    let parsed = spilled.as_ref().and_then(|cache| cache.get(d.event_seq));
                    let event = match parsed {
                        Some(e) => JobEvent::Parsed(e),
                        None => JobEvent::Stored {
                            id: d.event_id,
                            body: d.event_body,
                        },
                    };
                    jobs.push((
                        h,
                        Job {
                            event_seq: d.event_seq,
                            event,
                            attempts: d.attempts,
                            created_at: d.created_at,
                            lease_until,
                        },
                    ));
                }
            }
            for (h, job) in jobs {
                match h.jobs.try_send(job) {
                    Ok(()) => {
                        self.in_memory.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(e) => {
                        let job = e.into_inner();
                        not_queued.push(((*h).clone(), job.event_seq, job.created_at));
                    }
                }
            }
            if !not_queued.is_empty() {
                self.hold(not_queued).await;
            }
        }
        if handles.iter().any(|h| h.backlog.load(Ordering::Acquire)) {
            // More is due than fitted: job_done wakes the poller when room frees up.
            return Ok(());
        }
        if let Some(next) = self.store.next_due().await? {
            let now = now_ms();
            if next <= now {
                // Due but not taken: queues are full; job_done wakes us when room frees up.
                if handles
                    .iter()
                    .any(|h| h.backlog.load(Ordering::Acquire) && h.room() > 0)
                {
                    self.wake_now();
                }
            } else if let Ok(mut e) = self.earliest.lock() {
                *e = Some(e.map_or(next, |x| x.min(next)));
            }
        }
        Ok(())
    }

    /// Stops taking deliveries; workers finish what is in flight (see `shutdown`).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits up to `grace` for attempts in flight, then releases every lease so the next start
    /// sends what is left (a single process owns an SQLite database).
    pub async fn shutdown(&self) {
        self.stop();
        let grace = self.config.delivery.shutdown_grace;
        let all =
            tokio::time::timeout(grace, self.inflight.acquire_many(INFLIGHT_PERMITS as u32)).await;
        if all.is_err() {
            tracing::warn!(
                "attempts still in flight after the shutdown grace; they will be sent again"
            );
        } else if let Err(e) = self.store.record_attempts(Arc::default()).await {
            // Every delivery handed over is recorded: the store saves its progress so that the
            // next start has nothing to read again.
            tracing::warn!(error = %e, "saving the delivery progress at shutdown failed");
        }
        if let Err(e) = self.store.release_leases().await {
            tracing::error!(error = %e, "releasing leases at shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::within_second_limit;

    #[test]
    fn the_success_log_limit_counts_per_second() {
        let mut window = (0, 0);
        let allowed = |w: &mut (i64, u32), now| within_second_limit(w, now, 3);
        assert!((0..3).all(|i| allowed(&mut window, 5_000 + i)));
        assert!(!allowed(&mut window, 5_999));
        assert!(allowed(&mut window, 6_000));
    }
}
