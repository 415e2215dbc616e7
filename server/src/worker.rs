//! A webhook's workers: take its jobs, render, send, record the attempt, schedule the retry, and
//! disable the webhook when its receiver keeps failing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::delivery::{SendResult, request_log, response_log};
use crate::event::Event;
use crate::queue::{Job, JobEvent, Queue, WebhookHandle};
use crate::retry::{Decision, decide};
use crate::store::{
    AttemptEffects, AttemptRecord, LogDetail, Next, Outcome, Store, StoreError, now_ms,
};

/// Starts the loop that runs `handle`'s jobs, at most `concurrency_per_webhook` at once.
pub fn spawn(queue: Arc<Queue>, handle: Arc<WebhookHandle>, mut jobs: mpsc::Receiver<Job>) {
    let slots = Arc::new(Semaphore::new(
        queue.config.delivery.concurrency_per_webhook,
    ));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let job = tokio::select! {
                job = jobs.recv() => job,
                () = handle.deleted.cancelled() => None,
            };
            let job = match job {
                Some(job) if !handle.deleted() => job,
                other => {
                    // Deleted: forget what is queued (its deliveries are gone from the store).
                    let queued = usize::from(other.is_some())
                        + std::iter::from_fn(|| jobs.try_recv().ok()).count();
                    queue.in_memory.fetch_sub(queued, Ordering::AcqRel);
                    return;
                }
            };
            queue.in_memory.fetch_sub(1, Ordering::AcqRel);
            // The webhook's own limits: this waits, the job in hand and the rest in order.
            let concurrency = queue.config.delivery.concurrency_per_webhook;
            let limits = || handle.webhook().spec().limits(concurrency);
            let Some(under_limits) = handle.pacer.admit(limits, &handle.deleted).await else {
                let queued = std::iter::from_fn(|| jobs.try_recv().ok()).count();
                queue.in_memory.fetch_sub(queued, Ordering::AcqRel);
                return;
            };
            if job.attempts == 0 {
                handle
                    .pacer
                    .waited(now_ms().saturating_sub(job.created_at).max(0) as u64);
            }
            let slot = Slot {
                _worker: slot,
                _limits: under_limits,
            };
            let Ok(inflight) = queue.inflight.try_acquire() else {
                return;
            };
            if handle.in_order() {
                // One at a time, in order: the attempt ends here before the next starts, and when
                // its delivery stays pending (a retry, or held), the ones behind it go back to
                // the store, to be leased again after it.
                if attempt(&queue, &handle, job, slot).await == Pending::Yes {
                    let behind: Vec<Job> = std::iter::from_fn(|| jobs.try_recv().ok()).collect();
                    queue.in_memory.fetch_sub(behind.len(), Ordering::AcqRel);
                    for job in behind {
                        give_back(&queue, &handle, &job).await;
                    }
                    queue.job_done(&handle);
                }
                drop(inflight);
                continue;
            }
            inflight.forget();
            let (queue, handle) = (queue.clone(), handle.clone());
            // Boxed: the attempt's future is a few kilobytes, and spawning moves a future several
            // times (3% of the server's instructions were those copies); a box moves as a pointer.
            tokio::spawn(Box::pin(async move {
                attempt(&queue, &handle, job, slot).await;
                queue.inflight.add_permits(1);
            }));
        }
    });
}

/// Whether an attempt's delivery is still pending after it (its retry is scheduled, or it was
/// held or not sent): in order, the ones behind it wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Yes,
    No,
}

/// Gives a job back to the store unsent and uncounted: its delivery stays pending, due now, its
/// lease released.
async fn give_back(queue: &Queue, handle: &WebhookHandle, job: &Job) {
    let record = AttemptRecord::release(
        &handle.id,
        handle.seq,
        job.event_seq,
        job.created_at,
        job.attempts + 1,
        now_ms(),
        queue.config.logs.max_per_webhook,
    );
    queue.recorder.record(record).await;
}

/// A request's place among the webhook's: one of its workers, and one under its limits.
struct Slot {
    _worker: OwnedSemaphorePermit,
    _limits: crate::pacing::InFlight,
}

/// One attempt of one delivery. The webhook's `slot` is given back as soon as the receiver has
/// answered, before the attempt is recorded: the request rate to a receiver is bounded by the
/// concurrency, not by the store's commit latency.
async fn attempt(queue: &Queue, handle: &WebhookHandle, job: Job, slot: Slot) -> Pending {
    let under_way = handle.under_way.read().await;
    if handle.deleted() {
        return Pending::Yes;
    }
    let config = &queue.config;
    let number = job.attempts + 1;
    let base = AttemptRecord::release(
        &handle.id,
        handle.seq,
        job.event_seq,
        job.created_at,
        number,
        now_ms(),
        config.logs.max_per_webhook,
    );
    if let Some(lease_until) = job.lease_until
        && now_ms() + config.delivery.request_timeout.as_millis() as i64 >= lease_until
    {
        // Waited in memory until its lease (nearly) ran out: the poller takes it again.
        drop(slot);
        queue.job_done(handle);
        return Pending::Yes;
    }
    if !handle.enabled() || queue.stopping() {
        // Held: stays pending, not counted, sent when the webhook is enabled again (or on restart).
        // Nothing is sent: a delete need not wait for this record.
        drop(under_way);
        drop(slot);
        queue.recorder.record(base).await;
        queue.job_done(handle);
        return Pending::Yes;
    }
    let webhook = handle.webhook();
    let event = match &job.event {
        JobEvent::Parsed(e) => Ok(e.clone()),
        JobEvent::Stored { body, .. } => serde_json::from_str::<serde_json::Map<_, _>>(body)
            .map_err(|e| format!("stored event: {e}"))
            .and_then(|p| Event::from_props(p, None).map_err(|e| format!("stored event: {e}")))
            .map(Arc::new),
    };
    let event_id = match &job.event {
        JobEvent::Parsed(e) => e.id(),
        JobEvent::Stored { id, .. } => id.as_str(),
    };
    // The delivery's id, the same on every attempt: the `webhook-id` header.
    let mut id_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let delivery_id: &str = handle
        .ids
        .id(job.event_seq)
        .hyphenated()
        .encode_lower(&mut id_text);
    let rendered = match event {
        Ok(event) => webhook
            .clone()
            .render_async(event)
            .await
            .map_err(|e| e.to_string()),
        Err(message) => Err(message),
    };
    let (result, request) = match rendered {
        Ok(mut request) => {
            // Signed as it leaves: the timestamp is this attempt's.
            let now = crate::store::now_ms();
            handle
                .signer()
                .sign_request(&mut request, delivery_id, now.div_euclid(1000));
            let sent = tokio::select! {
                sent = queue.sender.send(&request, delivery_id) => sent,
                // Deleted meanwhile: abandoned, and recorded nowhere.
                () = handle.deleted.cancelled() => return Pending::Yes,
            };
            (sent, Some(request))
        }
        Err(message) => (
            SendResult {
                outcome: Outcome::Render,
                error_code: "render_error",
                message: Some(message),
                response: None,
                duration: std::time::Duration::ZERO,
                retry_after: None,
            },
            None,
        ),
    };
    drop(under_way);
    drop(slot);
    queue.job_done(handle);
    let status = result.response.as_ref().map(|r| r.status);
    if let (Some(429 | 503), Some(wait)) = (status, result.retry_after) {
        // The receiver asked for a pause: the whole webhook takes it, not only this delivery.
        handle.pacer.pause(wait);
    }
    let at = now_ms();
    let success = result.is_success();
    let next = if success {
        Next::Succeeded
    } else {
        match decide(&config.retry, number, result.retry_after, fastrand::f64()) {
            Decision::Retry(delay) => Next::RetryAt(at + delay.as_millis() as i64),
            Decision::GiveUp => Next::Failed,
        }
    };
    let keep_log = !success
        || handle.log_success(
            config.logs.success_sample_rate,
            config.logs.success_max_per_second,
            at,
        );
    let log = keep_log.then(|| LogDetail {
        delivery_id: delivery_id.to_string(),
        event_id: event_id.to_string(),
        request: request.as_ref().map_or(serde_json::Value::Null, |r| {
            json_of(&request_log(
                &r.masked(|n| webhook.is_secret_header(n)),
                delivery_id,
                config.logs.max_body_bytes,
            ))
        }),
        response: json_of(&response_log(&result, config.logs.max_body_bytes)),
    });
    crate::metrics::record_attempt(result.outcome, result.duration);
    if !success {
        tracing::debug!(webhook = %handle.id, delivery = %delivery_id, attempt = number,
            code = result.error_code, message = ?result.message, "attempt failed");
    }
    let effects = queue
        .recorder
        .record(AttemptRecord {
            at,
            duration_us: result.duration.as_micros() as u64,
            outcome: result.outcome,
            status,
            error_code: result.error_code,
            next,
            log,
            ..base
        })
        .await;
    if let Next::RetryAt(at) = next {
        queue.wake_at(at);
    }
    let pending = match next {
        Next::RetryAt(_) => Pending::Yes,
        _ => Pending::No,
    };
    if success {
        return pending;
    }
    // Auto-disable rules.
    let disable = &config.disable;
    let mut reason = None;
    if disable.on_gone && status == Some(410) {
        reason = Some("the receiver answered 410 Gone".to_string());
    }
    if reason.is_none()
        && disable.consecutive_failures > 0
        && effects.is_some_and(|e| e.consecutive_failures >= disable.consecutive_failures)
    {
        reason = Some(format!(
            "{} failed attempts in a row",
            disable.consecutive_failures
        ));
    }
    if reason.is_none() && disable.failure_threshold > 0 {
        let window = disable.failure_window.as_millis() as i64;
        if let Ok(mut failures) = handle.failures.lock() {
            failures.push_back(at);
            while failures.front().is_some_and(|t| *t <= at - window) {
                failures.pop_front();
            }
            if failures.len() >= disable.failure_threshold as usize {
                reason = Some(format!(
                    "{} failed attempts within {}s",
                    failures.len(),
                    disable.failure_window.as_secs()
                ));
                failures.clear();
            }
        }
    }
    if let Some(reason) = reason
        && handle.enabled()
    {
        tracing::warn!(webhook = %handle.id, app = %handle.app_id, %reason, "disabling webhook");
        crate::metrics::WEBHOOKS_AUTO_DISABLED.add(1);
        match queue
            .store
            .set_webhook_enabled(&handle.app_id, &handle.id, false, Some(reason), now_ms())
            .await
        {
            Ok(_) => queue.set_enabled(&handle.id, false),
            Err(e) => tracing::error!(error = %e, "disabling a webhook failed"),
        }
    }
    pending
}

type Recording = (AttemptRecord, oneshot::Sender<Option<AttemptEffects>>);

/// Records attempts in batches: while one batch is in the store, the next gathers, so many
/// attempts share one store operation (and one merge into each minute's stats). A batch the store
/// fails to take (a full disk, an I/O error) is tried again, with the records that came meanwhile,
/// until it is taken: its deliveries keep their place in the store, and delivery goes on by
/// itself once the fault clears.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Recording>,
}

/// Most attempts gathered for one store operation (a batch being retried may hold more).
const MAX_RECORD_BATCH: usize = 1024;

/// After this many failed tries of a batch, its records are tried one by one (see `isolate`).
const ISOLATE_AFTER: u32 = 10;

/// Tries each record alone: when some are taken and others fail, the failing ones are dropped
/// (their deliveries are sent again after a restart), so one record the store can never take
/// does not stop all recording; when every one fails, the store itself is failing, and all are
/// kept to try again. Gives back the records kept and their replies.
async fn isolate(
    store: &dyn Store,
    records: Vec<AttemptRecord>,
    replies: Vec<oneshot::Sender<Option<AttemptEffects>>>,
) -> (
    Vec<AttemptRecord>,
    Vec<oneshot::Sender<Option<AttemptEffects>>>,
) {
    let mut failed = Vec::new();
    let mut answered = Vec::new();
    for (record, reply) in records.into_iter().zip(replies) {
        match store.record_attempts(Arc::new(vec![record.clone()])).await {
            Ok(effects) => answered.push((reply, effects.into_iter().next())),
            Err(_) => failed.push((record, reply)),
        }
    }
    if answered.is_empty() {
        return failed.into_iter().unzip();
    }
    for (reply, effects) in answered {
        let _ = reply.send(effects);
    }
    for (record, reply) in failed {
        tracing::error!(webhook = %record.webhook_id, event_seq = record.event_seq,
            "an attempt record the store cannot take is dropped");
        let _ = reply.send(None);
    }
    (Vec::new(), Vec::new())
}

/// How long the recorder waits without records before letting the store save its progress.
const QUIET: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits between tries of a batch the store failed to take: doubling from the first to the last.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const RETRY_LAST: std::time::Duration = std::time::Duration::from_secs(2);

impl Recorder {
    pub fn start(store: Arc<dyn Store>) -> Recorder {
        let (tx, mut rx) = mpsc::unbounded_channel::<Recording>();
        tokio::spawn(async move {
            // Reused from batch to batch: a vector grown afresh for every batch (by doubling) cost
            // more in page faults on new allocator pages than the gathering itself.
            let mut records: Vec<AttemptRecord> = Vec::with_capacity(MAX_RECORD_BATCH);
            let mut replies = Vec::with_capacity(MAX_RECORD_BATCH);
            let mut wait = std::time::Duration::ZERO;
            // A backend saves its progress with a batch up to the batches before it (SQLite's
            // cursors): after a quiet second, an empty call saves it to the last recorded.
            let mut quiet_save_due = false;
            // Failed tries of the batch at hand.
            let mut failures = 0u32;
            loop {
                if records.is_empty() {
                    let next = if quiet_save_due {
                        match tokio::time::timeout(QUIET, rx.recv()).await {
                            Ok(next) => next,
                            Err(_) => {
                                quiet_save_due = false;
                                if let Err(e) = store.record_attempts(Arc::default()).await {
                                    tracing::warn!(error = %e, "saving the delivery progress failed");
                                }
                                continue;
                            }
                        }
                    } else {
                        rx.recv().await
                    };
                    let Some((record, reply)) = next else {
                        return;
                    };
                    records.push(record);
                    replies.push(reply);
                    // Records are not waited on by deliveries: gather a little longer for fewer,
                    // larger commits (each commit rewrites the pages it touches into the WAL).
                    wait = std::time::Duration::from_millis(2);
                }
                tokio::time::sleep(wait).await;
                let room = MAX_RECORD_BATCH.saturating_sub(records.len());
                for _ in 0..room {
                    match rx.try_recv() {
                        Ok((record, reply)) => {
                            records.push(record);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                let batch = Arc::new(std::mem::take(&mut records));
                match store.record_attempts(batch.clone()).await {
                    Ok(effects) => {
                        for (reply, e) in replies.drain(..).zip(effects) {
                            let _ = reply.send(Some(e));
                        }
                        // Any reply without an effect is dropped: its caller gets `None`.
                        replies.clear();
                        // The vector back for the next batch (the store has let go of it).
                        records = Arc::try_unwrap(batch).unwrap_or_default();
                        records.clear();
                        quiet_save_due = true;
                        failures = 0;
                    }
                    Err(StoreError::Closed) => {
                        // Shutting down: what was not recorded is sent again after the restart.
                        for reply in replies.drain(..) {
                            let _ = reply.send(None);
                        }
                        records.clear();
                    }
                    Err(e) => {
                        failures += 1;
                        wait = (wait * 2).clamp(RETRY_FIRST, RETRY_LAST);
                        tracing::error!(error = %e, attempts = batch.len(),
                            retry_in = ?wait, "recording attempts failed; trying again");
                        records = Arc::unwrap_or_clone(batch);
                        if failures.is_multiple_of(ISOLATE_AFTER) {
                            let (kept, kept_replies) =
                                isolate(store.as_ref(), records, std::mem::take(&mut replies))
                                    .await;
                            (records, replies) = (kept, kept_replies);
                        }
                    }
                }
            }
        });
        Recorder { tx }
    }

    /// Records one attempt; `None` when the store is closed.
    pub async fn record(&self, attempt: AttemptRecord) -> Option<AttemptEffects> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((attempt, tx)).ok()?;
        rx.await.ok().flatten()
    }

    /// Records attempts; false when the store is closed before all are recorded.
    pub async fn record_all(&self, attempts: Vec<AttemptRecord>) -> bool {
        let mut answers = Vec::with_capacity(attempts.len());
        for attempt in attempts {
            let (tx, rx) = oneshot::channel();
            if self.tx.send((attempt, tx)).is_err() {
                return false;
            }
            answers.push(rx);
        }
        for answer in answers {
            if !matches!(answer.await, Ok(Some(_))) {
                return false;
            }
        }
        true
    }
}

/// `value` as JSON, as the store keeps a log's request and response.
fn json_of(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
