//! Durable storage behind one trait: apps, webhooks, the event log and its deliveries, attempts,
//! stats and logs. Backends live in this folder (`sqlite/` now; `server/README.md` has the design
//! of a PostgreSQL one behind the same trait). Nothing outside `store/` sees SQL, nor how a backend
//! numbers events or keeps track of deliveries: the queue appends events, leases deliveries,
//! records attempts and releases what it cannot take.

#[cfg(test)]
pub(crate) mod conformance;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::config::DatabaseUrl;

/// Milliseconds since the Unix epoch: every time the store keeps.
pub type Millis = i64;

/// Now, in [`Millis`].
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(String),
    /// The store's thread is gone (shutting down).
    #[error("the store is closed")]
    Closed,
    /// A stored row could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Another process owns the database file (an SQLite database has one owner).
    #[error(
        "the database {path} is in use by another hookline process{holder}: one process owns an \
         SQLite database, so stop that one first or give this one another database"
    )]
    InUse {
        path: String,
        /// ` (pid N)` when the owner wrote its process id, else empty.
        holder: String,
    },
}

/// Opens the store a database URL names, creating and migrating it when needed; with
/// `sync_commits`, every commit is fsynced before it is acknowledged.
pub async fn open(url: &DatabaseUrl, sync_commits: bool) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(
            sqlite::SqliteStore::open(path, sync_commits).await?,
        )),
    }
}

/// An app.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = App)]
pub struct AppRecord {
    pub id: String,
    pub name: String,
    /// Unix milliseconds
    #[schema(value_type = i64)]
    pub created_at: Millis,
    /// The origins (`https://example.com`) whose pages may post to the app's browser bridge;
    /// empty: any.
    pub bridge_origins: Vec<String>,
}

/// A key that opens an app: its current one, or one it replaced that is valid until it expires.
#[derive(Debug, Clone)]
pub struct AppKey {
    /// sha256 of the key, hex.
    pub hash: String,
    pub app_id: String,
    /// `None` for the current key.
    pub expires_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub id: String,
    /// The store's number for the webhook (assigned by `create_webhook`; 0 before).
    pub seq: i64,
    pub app_id: String,
    /// The webhook's JSON form as saved (its `enabled` is overridden by the field below).
    pub spec: serde_json::Value,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Its signing keys as [`crate::signing::Signer::to_stored`] writes them (`[]`: none yet).
    pub signing: String,
}

/// A delivery's state in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be sent (or to be retried), or held while its webhook is disabled.
    Pending,
    /// A receiver answered 2xx.
    Succeeded,
    /// Every attempt of the retry schedule failed.
    Failed,
    /// The event arrived while the webhook was disabled; can be replayed.
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }
    pub fn parse(text: &str) -> Option<DeliveryState> {
        Some(match text {
            "pending" => DeliveryState::Pending,
            "succeeded" => DeliveryState::Succeeded,
            "failed" => DeliveryState::Failed,
            "skipped" => DeliveryState::Skipped,
            _ => return None,
        })
    }
}

/// One event to append to the log, with the webhooks whose triggers match its kind.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub body: String,
    /// The matching webhooks (number, enabled): an enabled one gets a pending delivery (or one
    /// handed to the caller, see [`Room`]), a disabled one a skipped delivery (replayable). A
    /// backend may match a pending delivery again, against its webhook's triggers when it is
    /// leased (SQLite does, for deliveries waiting in its log).
    pub takers: Vec<(i64, bool)>,
}

/// How many deliveries the caller can take into memory now: per webhook (by number), and in all.
/// The store hands at most that many of an append's new deliveries straight to the caller.
#[derive(Debug, Clone, Default)]
pub struct Room {
    pub per_webhook: Vec<(i64, usize)>,
    pub total: usize,
}

/// What the store made of an appended event.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Its number in the log, given by the store: increasing, never given twice (0 for a
    /// duplicate).
    pub seq: i64,
    /// False when the app already had an event with this id: nothing was stored.
    pub new: bool,
    /// The webhooks (by number) whose delivery of it is handed to the caller, as if leased to it
    /// (until [`Appends::lease_until`]); the other enabled takers' deliveries are pending, for
    /// [`Store::lease`].
    pub handed: Vec<i64>,
}

/// The answer to [`Store::append_events`].
#[derive(Debug, Clone)]
pub struct Appends {
    /// Per event, in the order given.
    pub events: Vec<Appended>,
    /// When the lease of the handed deliveries ends; `None`: never (a backend with one process
    /// per database, such as SQLite, keeps them until they are recorded or released).
    pub lease_until: Option<Millis>,
}

/// A delivery taken from the queue for one attempt.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    pub webhook_seq: i64,
    pub event_seq: i64,
    pub event_id: String,
    pub event_body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub created_at: Millis,
    /// When the lease ends (the delivery is due again then); `None`: never, as for
    /// [`Appends::lease_until`].
    pub lease_until: Option<Millis>,
}

/// The class of an attempt's outcome, as stats count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx.
    Success,
    /// Any other status below 500 (1xx, 3xx, 4xx).
    Client,
    /// 5xx.
    Server,
    /// No complete answer within the request timeout.
    Timeout,
    /// Connecting, TLS, a reset connection or another transport failure.
    Network,
    /// The webhook could not be rendered for this event (nothing was sent).
    Render,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Success,
        Outcome::Client,
        Outcome::Server,
        Outcome::Timeout,
        Outcome::Network,
        Outcome::Render,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "2xx",
            Outcome::Client => "4xx",
            Outcome::Server => "5xx",
            Outcome::Timeout => "timeout",
            Outcome::Network => "network_error",
            Outcome::Render => "render_error",
        }
    }
    pub fn index(self) -> usize {
        Outcome::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Pending again, due at this time.
    RetryAt(Millis),
    Failed,
    /// Pending, not counted as an attempt, due now (the webhook was disabled, or shutdown).
    Release,
}

/// One attempt, as the worker saw it: the single record stats, logs and the queue are updated
/// from, in one transaction. Creates the delivery's row when it has none yet.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub webhook_id: String,
    pub webhook_seq: i64,
    pub event_seq: i64,
    /// When the event was accepted (the delivery's creation time).
    pub created_at: Millis,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: Millis,
    /// From sending the request to the end of the response (0 when nothing was sent).
    pub duration_us: u64,
    pub outcome: Outcome,
    pub status: Option<u16>,
    /// Stable: `ok`, `http_status`, `timeout`, `connect_error`, `connection_reset`, ...
    pub error_code: &'static str,
    pub next: Next,
    /// Kept in the webhook's logs when set (already redacted and truncated).
    pub log: Option<LogDetail>,
    /// Logs kept per webhook.
    pub max_logs: u32,
}

impl AttemptRecord {
    /// A delivery given back to the queue uncounted (held, or not taken by a worker): pending,
    /// due at `at`. The base a worker fills in for an attempt it makes.
    pub fn release(
        webhook_id: &str,
        webhook_seq: i64,
        event_seq: i64,
        created_at: Millis,
        attempt: u32,
        at: Millis,
        max_logs: u32,
    ) -> AttemptRecord {
        AttemptRecord {
            webhook_id: webhook_id.to_string(),
            webhook_seq,
            event_seq,
            created_at,
            attempt,
            at,
            duration_us: 0,
            outcome: Outcome::Render,
            status: None,
            error_code: "",
            next: Next::Release,
            log: None,
            max_logs,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogDetail {
    pub delivery_id: String,
    pub event_id: String,
    pub request: serde_json::Value,
    pub response: serde_json::Value,
}

/// What an attempt changed that the worker acts on.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptEffects {
    /// Failed attempts in a row for the webhook, after this one.
    pub consecutive_failures: u32,
}

/// A minute of one webhook's attempts.
#[derive(Debug, Clone, Default)]
pub struct MinuteStats {
    /// Unix minute (seconds / 60).
    pub minute: i64,
    /// Counts by [`Outcome::index`].
    pub counts: [u64; 6],
    /// Latency histogram (see `stats::LATENCY_BOUNDS_MS`).
    pub latency: Vec<u64>,
}

/// A delivery: one event for one webhook, with its retries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryRecord {
    /// Also the `webhook-id` header, the same on every retry (see [`DeliveryIds`]).
    pub id: String,
    pub event_id: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Unix milliseconds
    #[schema(value_type = Option<i64>)]
    pub next_attempt_at: Option<Millis>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// Unix milliseconds
    #[schema(value_type = i64)]
    pub created_at: Millis,
    /// Unix milliseconds
    #[schema(value_type = i64)]
    pub updated_at: Millis,
}

/// A sampled attempt, as logs keep it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Log)]
pub struct LogRecord {
    pub id: i64,
    pub delivery_id: String,
    pub event_id: String,
    pub attempt: u32,
    /// Unix milliseconds
    #[schema(value_type = i64)]
    pub at: Millis,
    pub duration_ms: f64,
    pub outcome: String,
    pub status: Option<u16>,
    /// Stable: ok, http_status, timeout, connect_error, connection_reset, network_error,
    /// blocked_address (the address guard refused the receiver's address; nothing was sent),
    /// invalid_request, render_error
    pub error_code: String,
    /// Null when nothing was rendered
    #[schema(value_type = Option<crate::delivery::LoggedRequest>)]
    pub request: serde_json::Value,
    #[schema(value_type = Option<crate::delivery::LoggedResponse>)]
    pub response: serde_json::Value,
}

/// How many of the newest events [`Store::recent_events`] looks through at most.
pub const RECENT_EVENTS_SCANNED: i64 = 100_000;

/// An event as stored: its JSON form and when it arrived.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub body: String,
    pub received_at: Millis,
}

/// Counts of one webhook's deliveries by state.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// What a deleted app or webhook left in the store (see [`Store::purge_deleted`]).
#[derive(Debug, Clone, Default)]
pub struct Leftovers {
    /// The app whose events go too (none for a single webhook).
    pub app_id: Option<String>,
    /// The webhooks (id, number) whose deliveries, stats and logs go.
    pub webhooks: Vec<(String, i64)>,
}

/// One chunk of a deletion done in chunks.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct PurgeStep {
    pub events: u64,
    pub deliveries: u64,
    pub logs: u64,
    /// Other rows (per-minute stats).
    #[serde(skip)]
    pub other: u64,
    /// Where the next chunk starts (an event number).
    #[serde(skip)]
    pub next: i64,
    /// Nothing is left.
    #[serde(skip)]
    pub done: bool,
}

impl PurgeStep {
    pub fn rows(&self) -> u64 {
        self.events + self.deliveries + self.logs + self.other
    }
    pub fn add(&mut self, other: &PurgeStep) {
        self.events += other.events;
        self.deliveries += other.deliveries;
        self.logs += other.logs;
        self.other += other.other;
    }
}

/// A delivery's public id: a UUID (version 8) made of 60 bits derived from its webhook's id and
/// of its event's sequence number. The same for every attempt and after a restart, so it is the
/// `webhook-id` header receivers deduplicate on; unique across webhooks and databases in practice
/// (the webhook part is a hash of a random id); the store finds a delivery from it without an
/// index of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryIds {
    prefix: [u8; 8],
}

impl DeliveryIds {
    pub fn new(webhook_id: &str) -> DeliveryIds {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(webhook_id.as_bytes());
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&hash[..8]);
        // Version 8 (custom) in the high nibble of byte 6.
        prefix[6] = (prefix[6] & 0x0f) | 0x80;
        DeliveryIds { prefix }
    }

    /// The id of the delivery of event `event_seq`.
    pub fn id(&self, event_seq: i64) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.prefix);
        bytes[8..].copy_from_slice(&(event_seq as u64).to_be_bytes());
        // RFC 4122 variant in the top two bits of byte 8 (sequence numbers stay far below 2^62).
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(bytes)
    }

    /// The event sequence number of a delivery id of this webhook; `None` for any other text.
    pub fn event_seq(&self, id: &str) -> Option<i64> {
        let bytes = *uuid::Uuid::parse_str(id).ok()?.as_bytes();
        if bytes[..8] != self.prefix || bytes[8] & 0xc0 != 0x80 {
            return None;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[8..]);
        seq[0] &= 0x3f;
        Some(u64::from_be_bytes(seq) as i64)
    }
}

/// The store. A method's writes are one transaction; concurrent calls may share one commit.
#[async_trait]
pub trait Store: Send + Sync {
    /// Finishes the operations under way and lets go of the database (for SQLite, of the file's
    /// ownership too); later calls fail with [`StoreError::Closed`].
    async fn close(&self);

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    async fn create_app(&self, app: AppRecord, key_hash: String) -> Result<(), StoreError>;
    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError>;
    async fn get_app(&self, app_id: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Sets what is given; `None` when there is no such app.
    async fn update_app(
        &self,
        app_id: &str,
        name: Option<String>,
        bridge_origins: Option<Vec<String>>,
    ) -> Result<Option<AppRecord>, StoreError>;
    /// Every key that opens an app now (current ones, and replaced ones not yet expired), to
    /// authenticate without a query per request.
    async fn app_keys(&self) -> Result<Vec<AppKey>, StoreError>;
    /// Makes `key_hash` the app's key; the one it replaces stays valid until `old_until` (not at
    /// all when that is not in the future). False when there is no such app.
    async fn rotate_app_key(
        &self,
        app_id: &str,
        key_hash: String,
        old_until: Millis,
    ) -> Result<bool, StoreError>;

    /// Stores a new webhook, which takes the events appended from now on (its `seq` is
    /// ignored); returns its number, never given before.
    async fn create_webhook(&self, webhook: WebhookRecord) -> Result<i64, StoreError>;
    /// Replaces the spec; false when there is no such webhook in the app.
    async fn update_webhook(
        &self,
        app_id: &str,
        id: &str,
        spec: serde_json::Value,
        enabled: bool,
        at: Millis,
    ) -> Result<bool, StoreError>;
    /// Replaces the webhook's signing keys (see [`WebhookRecord::signing`]); false when there is
    /// no such webhook in the app.
    async fn set_webhook_signing(
        &self,
        app_id: &str,
        id: &str,
        signing: String,
    ) -> Result<bool, StoreError>;
    /// Enables or disables (with a reason); false when there is no such webhook in the app.
    async fn set_webhook_enabled(
        &self,
        app_id: &str,
        id: &str,
        enabled: bool,
        reason: Option<String>,
        at: Millis,
    ) -> Result<bool, StoreError>;
    /// Deletes the webhook (at once: nothing is leased or recorded for it after); returns its
    /// number, or `None` when the app has no such webhook. Its deliveries, stats and logs go
    /// with [`Store::purge_deleted`].
    async fn delete_webhook(&self, app_id: &str, id: &str) -> Result<Option<i64>, StoreError>;
    /// Deletes an app, its key and its webhooks at once; returns what is left of it (its
    /// events, and its webhooks' rows), or `None` when there is no such app.
    async fn delete_app(&self, app_id: &str) -> Result<Option<Leftovers>, StoreError>;
    /// Deletes a bounded chunk of what a deleted app or webhook left: up to `limit` deliveries,
    /// stats and logs of each webhook, and the app's events numbered in `(after, after + limit]`.
    /// Call again with the step's `next` until it is `done`.
    async fn purge_deleted(
        &self,
        leftovers: Leftovers,
        after: i64,
        limit: usize,
    ) -> Result<PurgeStep, StoreError>;
    /// Retention: deletes a bounded chunk (up to `limit` rows of each kind) of what is older than
    /// `before`: settled deliveries, events that no pending delivery needs (and that every webhook
    /// has passed), attempt logs and per-minute stats, and rows of webhooks that are gone.
    /// Returns the rows deleted: call again until it returns 0.
    async fn purge_before(&self, before: Millis, limit: usize) -> Result<u64, StoreError>;
    /// Erasure: deletes the app's events numbered in `(after, after + span]` whose `external_id`
    /// is `external_id`, with their deliveries and the logs that show them.
    async fn erase_external_id(
        &self,
        app_id: &str,
        external_id: &str,
        after: i64,
        span: i64,
    ) -> Result<PurgeStep, StoreError>;
    async fn get_webhook(
        &self,
        app_id: &str,
        id: &str,
    ) -> Result<Option<WebhookRecord>, StoreError>;
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<WebhookRecord>, StoreError>;
    async fn all_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError>;
    /// The app's newest events whose kind is one of `kinds`, newest first, up to `limit`, among
    /// the last [`RECENT_EVENTS_SCANNED`] events stored (a bounded read, for a dashboard).
    async fn recent_events(
        &self,
        app_id: &str,
        kinds: Vec<String>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Appends events to the app's log with their deliveries; an event id the app already has
    /// is skipped with its deliveries. New deliveries go to the caller at once within `room` (see
    /// [`Appended::handed`]), the rest wait for [`Store::lease`]. Durable when it returns; on an
    /// error nothing was stored.
    async fn append_events(
        &self,
        app_id: &str,
        events: Vec<NewEvent>,
        room: Room,
        now: Millis,
    ) -> Result<Appends, StoreError>;
    /// Leases up to `limit` due deliveries of each webhook (by number): pending ones until
    /// `lease_until`, oldest due first.
    async fn lease(
        &self,
        wants: Vec<(i64, usize)>,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError>;
    /// Leases, for a webhook delivered first in, first out, up to `limit` of its deliveries in
    /// the order of their events: pending ones up to the first that is not due (waiting for its
    /// retry, or leased already), which holds the rest; what its log holds next only when no
    /// pending one is left.
    async fn lease_in_order(
        &self,
        webhook_seq: i64,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError>;
    /// Gives back every lease, due now (at start and shutdown of the process that owns them). A
    /// delivery the caller leased or was handed and cannot take is given back one by one with a
    /// release record ([`AttemptRecord::release`]).
    async fn release_leases(&self) -> Result<(), StoreError>;
    /// The earliest time a pending, unleased delivery of an enabled webhook is due.
    async fn next_due(&self) -> Result<Option<Millis>, StoreError>;
    /// Records attempts (in the order they happened) and what becomes of their deliveries
    /// (created as they are for a delivery that has no row yet), stats, logs and each webhook's
    /// failures in a row. An attempt of a deleted webhook or an erased event records nothing.
    /// Returns each attempt's effects. The attempts are shared so that a caller can try again
    /// with the same ones after a failure; a call with none lets the backend save what it keeps
    /// in memory of the deliveries' progress (the recorder makes one after a quiet second).
    async fn record_attempts(
        &self,
        attempts: Arc<Vec<AttemptRecord>>,
    ) -> Result<Vec<AttemptEffects>, StoreError>;

    async fn deliveries(
        &self,
        app_id: &str,
        webhook_id: &str,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Counts of the webhook's deliveries by state (those handed out and not yet recorded are
    /// pending).
    async fn delivery_counts(
        &self,
        app_id: &str,
        webhook_id: &str,
    ) -> Result<DeliveryCounts, StoreError>;
    /// Makes failed and skipped deliveries (the one of event `event_seq`, or the webhook's) pending
    /// again with a fresh retry schedule, at most `limit` of them. Returns how many: call again
    /// until it is below `limit`.
    async fn replay(
        &self,
        app_id: &str,
        webhook_id: &str,
        event_seq: Option<i64>,
        now: Millis,
        limit: usize,
    ) -> Result<u64, StoreError>;

    /// Minutes in `[from_minute, to_minute)` that have attempts, in order. Minute `-1` holds
    /// the all-time totals.
    async fn stats(
        &self,
        webhook_id: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteStats>, StoreError>;
    /// The newest logs first, older than `before` when given.
    async fn logs(
        &self,
        webhook_id: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<LogRecord>, StoreError>;
}
