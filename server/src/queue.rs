//! The delivery queue: turns accepted events into deliveries, hands them to each webhook's
//! workers, and takes due ones (retries, backlog, held deliveries of re-enabled webhooks) from the
//! store.
//!
//! Each webhook has its own bounded in-memory queue and its own workers (see `worker`), so a slow
//! or dead receiver fills only its own. A delivery created by an ingest is stored already leased
//! and handed straight to its webhook's queue when there is room (no second database round trip
//! before sending); otherwise it waits in the store and the poller leases it when room frees up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::config::Config;
use crate::delivery::HttpSender;
use crate::event::Event;
use crate::store::{
    DeliveryState, Millis, NewDelivery, NewEvent, Store, StoreError, WebhookRecord, now_ms,
};
use crate::webhook::Webhook;

/// The event of a job: already parsed when it comes from an ingest, stored JSON when leased.
#[derive(Debug, Clone)]
pub enum JobEvent {
    Parsed(Arc<Event>),
    Stored(String),
}

/// One delivery to attempt once.
#[derive(Debug, Clone)]
pub struct Job {
    pub delivery_id: String,
    pub event_id: String,
    pub event: JobEvent,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the lease ends: a job still waiting in memory then is dropped (the poller leases the
    /// delivery again), so one process never sends a delivery twice at once.
    pub lease_until: Millis,
}

/// A webhook as the queue and workers see it.
pub struct WebhookHandle {
    pub id: String,
    pub app_id: String,
    compiled: RwLock<Arc<Webhook>>,
    enabled: AtomicBool,
    jobs: mpsc::Sender<Job>,
    /// Deliveries may wait in the store: the poller should look when room frees up.
    backlog: AtomicBool,
    /// Times of recent failures, for the failure-rate disable rule.
    pub(crate) failures: Mutex<std::collections::VecDeque<Millis>>,
    /// Successes seen, for sampling them into logs.
    pub(crate) successes: AtomicU64,
    /// Deleted: workers drop its jobs.
    deleted: AtomicBool,
    /// Wakes the worker loop when the webhook is deleted.
    pub(crate) on_delete: Notify,
}

impl WebhookHandle {
    pub fn webhook(&self) -> Arc<Webhook> {
        self.compiled
            .read()
            .map(|w| w.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }
    pub fn deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }
    fn room(&self) -> usize {
        self.jobs.capacity()
    }
}

/// Events whose deliveries did not all fit in memory at ingest, kept parsed so that the poller,
/// leasing those deliveries from the store a moment later, does not parse their stored JSON
/// again. Bounded: the oldest go first (a delivery whose event has gone parses it, as before).
struct Spilled {
    /// By event id: the owning app's id and the event (ids are unique per app only: an id two
    /// apps use keeps the first, and the other's lease parses its event).
    events: HashMap<String, (String, Arc<Event>)>,
    order: std::collections::VecDeque<String>,
    capacity: usize,
}

impl Spilled {
    fn insert(&mut self, app_id: &str, event: &Arc<Event>) {
        if self.capacity == 0 || self.events.contains_key(event.id()) {
            return;
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.events.remove(&old);
            }
        }
        self.order.push_back(event.id().to_string());
        self.events
            .insert(event.id().to_string(), (app_id.to_string(), event.clone()));
    }

    /// The event `event_id` of app `app_id`, when kept.
    fn get(&self, app_id: &str, event_id: &str) -> Option<Arc<Event>> {
        self.events
            .get(event_id)
            .filter(|(owner, _)| owner == app_id)
            .map(|(_, event)| event.clone())
    }
}

/// Counts from one ingest call.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
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

    /// Adds or replaces a webhook (its compiled form and enabled flag); starts its workers when new.
    pub fn upsert(self: &Arc<Self>, record: &WebhookRecord, webhook: Webhook) {
        let existing = self.read().get(&record.id).cloned();
        if let Some(handle) = existing {
            if let Ok(mut w) = handle.compiled.write() {
                *w = Arc::new(webhook);
            }
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
            app_id: record.app_id.clone(),
            compiled: RwLock::new(Arc::new(webhook)),
            enabled: AtomicBool::new(record.enabled),
            jobs: tx,
            backlog: AtomicBool::new(true),
            failures: Mutex::new(Default::default()),
            successes: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
            on_delete: Notify::new(),
        });
        self.write().insert(record.id.clone(), handle.clone());
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

    pub fn remove(&self, webhook_id: &str) {
        if let Some(h) = self.write().remove(webhook_id) {
            h.deleted.store(true, Ordering::Release);
            h.on_delete.notify_one();
        }
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
    /// whose triggers match (skipped for disabled ones), then hands the new deliveries to their
    /// webhooks' workers. Returns when the events are durably stored.
    pub async fn ingest(
        &self,
        app_id: &str,
        events: Vec<Event>,
    ) -> Result<IngestSummary, StoreError> {
        let handles: Vec<Arc<WebhookHandle>> = self
            .read()
            .values()
            .filter(|h| h.app_id == app_id && !h.deleted())
            .cloned()
            .collect();
        let mut room: Vec<usize> = handles.iter().map(|h| h.room()).collect();
        let mut global = self.global_room();
        let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        let mut new_events = Vec::with_capacity(events.len());
        let mut hot: Vec<Vec<(usize, String)>> = Vec::with_capacity(events.len());
        // Per event: a delivery of it waits in the store (no room in memory).
        let mut spills = Vec::with_capacity(events.len());
        let mut waiting = false;
        let mut deliveries = 0;
        for event in &events {
            let mut ds = Vec::new();
            let mut event_hot = Vec::new();
            let mut spill = false;
            for (i, h) in handles.iter().enumerate() {
                if !h.webhook().matches(event.kind()) {
                    continue;
                }
                // Time-ordered, so the store appends rather than writes at random places.
                let id = uuid::Uuid::now_v7().to_string();
                let enabled = h.enabled();
                let leased = enabled && room[i] > 0 && global > 0;
                if leased {
                    room[i] -= 1;
                    global -= 1;
                    event_hot.push((i, id.clone()));
                } else if enabled {
                    waiting = true;
                    spill = true;
                    h.backlog.store(true, Ordering::Release);
                }
                ds.push(NewDelivery {
                    id,
                    webhook_id: h.id.clone(),
                    state: if enabled {
                        DeliveryState::Pending
                    } else {
                        DeliveryState::Skipped
                    },
                    leased,
                });
            }
            new_events.push(NewEvent {
                id: event.id().to_string(),
                kind: event.kind().to_string(),
                body: event.to_json_string(),
                deliveries: ds,
            });
            hot.push(event_hot);
            spills.push(spill);
        }
        let now = now_ms();
        let lease_until = now + self.config.delivery.lease.as_millis() as i64;
        let fresh = self
            .store
            .ingest(app_id, new_events, now, lease_until)
            .await?;
        let mut summary = IngestSummary::default();
        let mut not_queued = Vec::new();
        let mut spilled = Vec::new();
        for (((event, event_hot), is_new), spill) in events.iter().zip(hot).zip(&fresh).zip(spills)
        {
            if !*is_new {
                summary.duplicates += 1;
                continue;
            }
            summary.accepted += 1;
            let mut spill = spill;
            for (i, delivery_id) in event_hot {
                let job = Job {
                    delivery_id,
                    event_id: event.id().to_string(),
                    event: JobEvent::Parsed(event.clone()),
                    attempts: 0,
                    lease_until,
                };
                match handles[i].jobs.try_send(job) {
                    Ok(()) => {
                        self.in_memory.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(e) => {
                        handles[i].backlog.store(true, Ordering::Release);
                        not_queued.push(e.into_inner().delivery_id);
                        spill = true;
                    }
                }
            }
            if spill {
                spilled.push(event);
            }
        }
        if !spilled.is_empty()
            && let Ok(mut cache) = self.spilled.lock()
        {
            for event in spilled {
                cache.insert(app_id, event);
            }
        }
        for (event_fresh, new) in fresh.iter().zip(&events) {
            if *event_fresh {
                deliveries += handles
                    .iter()
                    .filter(|h| h.webhook().matches(new.kind()))
                    .count();
            }
        }
        summary.deliveries = deliveries;
        crate::metrics::EVENTS_ACCEPTED.add(summary.accepted as u64);
        crate::metrics::EVENTS_DUPLICATE.add(summary.duplicates as u64);
        if !not_queued.is_empty() {
            // A race filled a webhook's queue: let the poller take these.
            self.store.release(Some(not_queued)).await?;
            waiting = true;
        }
        if waiting {
            self.wake_now();
        }
        Ok(summary)
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
        // Refill at a quarter free, so the next lease is back before the queue runs dry.
        if handle.backlog.load(Ordering::Acquire)
            && handle.room() * 4 >= self.config.delivery.queue_per_webhook
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
        let mut global = self.global_room();
        for h in &handles {
            let take = h.room().min(1024).min(global);
            if take > 0 {
                wants.push((h.id.clone(), take));
                global -= take;
            }
        }
        if !wants.is_empty() {
            let lease_until = now + self.config.delivery.lease.as_millis() as i64;
            let limits: HashMap<String, usize> = wants.iter().cloned().collect();
            let leased = self.store.lease(wants, now, lease_until).await?;
            let mut per_webhook: HashMap<&str, usize> = HashMap::new();
            let mut not_queued = Vec::new();
            for d in &leased {
                *per_webhook.entry(d.webhook_id.as_str()).or_default() += 1;
            }
            for h in &handles {
                let got = per_webhook.get(h.id.as_str()).copied().unwrap_or(0);
                let limit = limits.get(&h.id).copied().unwrap_or(0);
                // Fewer than asked: nothing more is due now.
                h.backlog
                    .store(limit > 0 && got >= limit, Ordering::Release);
            }
            let mut jobs = Vec::with_capacity(leased.len());
            {
                let spilled = self.spilled.lock().ok();
                for d in leased {
                    let Some(h) = handles.iter().find(|h| h.id == d.webhook_id) else {
                        continue;
                    };
                    let parsed = spilled
                        .as_ref()
                        .and_then(|cache| cache.get(&h.app_id, &d.event_id));
                    let event = match parsed {
                        Some(e) => JobEvent::Parsed(e),
                        None => JobEvent::Stored(d.event_body),
                    };
                    jobs.push((h, d.id, d.event_id, event, d.attempts));
                }
            }
            for (h, delivery_id, event_id, event, attempts) in jobs {
                let job = Job {
                    delivery_id,
                    event_id,
                    event,
                    attempts,
                    lease_until,
                };
                match h.jobs.try_send(job) {
                    Ok(()) => {
                        self.in_memory.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(e) => not_queued.push(e.into_inner().delivery_id),
                }
            }
            if !not_queued.is_empty() {
                self.store.release(Some(not_queued)).await?;
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
        }
        if let Err(e) = self.store.release(None).await {
            tracing::error!(error = %e, "releasing leases at shutdown failed");
        }
    }
}
