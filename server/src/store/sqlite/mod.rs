//! The embedded SQLite store: one connection on its own thread, with group commit.
//!
//! Every call becomes an operation sent to the store's thread. The thread takes all the
//! operations waiting, runs them in one transaction, commits once, and only then answers each
//! caller. Many concurrent ingests
//! thus share one `fsync`, and "accepted" still means "on disk".
//!
//! Durability: WAL journal. With `sync_commits` (the default), `synchronous = FULL`: a commit is
//! fsynced before it is acknowledged, so an accepted event survives a crash of the process and of
//! the machine. Without, `synchronous = NORMAL`: it survives a crash of the process (the WAL is in
//! the OS's cache), not of the machine.
//!
//! Checkpoints (copying the WAL into the database file, with its own fsyncs) run on a second
//! connection and thread when the WAL passes 32 MiB, never inside a commit that a caller waits on.
//!
//! Events are numbered, and deliveries handed out without a row, in memory (see `tracker`).

mod tracker;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, ToSql, params, params_from_iter};
use tokio::sync::oneshot;

use super::*;
use crate::stats::{LATENCY_BUCKETS, latency_bucket};
use tracker::{Tracker, triggers};

/// One call's work on the store thread. It can be applied more than once: when another operation
/// of its group fails, the group is rolled back and each operation runs again on its own.
trait Operation: Send {
    /// Runs inside the open transaction; false when it failed (its error is kept for `answer`).
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: its result if the commit succeeded, else the commit's error.
    fn answer(self: Box<Self>, commit: Result<(), StoreError>);
}

type Op = Box<dyn Operation>;

/// A read on the reader thread.
type ReadOp = Box<dyn FnOnce(&Connection) + Send>;

/// A [`SqliteStore::call`]: the closure and, once applied, its result.
struct Call<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send, F: FnMut(&Connection) -> Result<T, StoreError> + Send> Operation for Call<T, F> {
    fn apply(&mut self, conn: &Connection) -> bool {
        let result = (self.f)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), StoreError>) {
        let result = match self.result {
            // Its own error first: it tells why better than the commit's.
            Some(result) => result.and_then(|value| commit.map(|()| value)),
            // Never applied: the transaction could not begin.
            None => Err(commit.err().unwrap_or(StoreError::Closed)),
        };
        let _ = self.reply.send(result);
    }
}

/// Wakes the store thread (see `shut`).
struct Wake;

impl Operation for Wake {
    fn apply(&mut self, _: &Connection) -> bool {
        true
    }
    fn answer(self: Box<Self>, _: Result<(), StoreError>) {}
}

/// The `stats_minute` row that holds a webhook's all-time totals.
pub const ALL_TIME_MINUTE: i64 = -1;

/// Most operations committed together.
const MAX_GROUP: usize = 512;

/// When the WAL is checkpointed (copied into the database file, on a thread of its own).
#[derive(Debug, Clone, Copy)]
pub struct Checkpoints {
    /// WAL pages (4 KiB) after which a passive checkpoint (which never blocks the writer) runs:
    /// rarely enough that its fsync of the database file seldom lands next to a commit's.
    pub pages: i32,
    /// Under sustained writes a checkpoint on another connection never catches up with the
    /// writer, and the WAL only starts over from its beginning once one has: at this many times
    /// `pages`, the writer's own thread checkpoints between two commits (the frames the other
    /// thread has not copied yet), and its next commit starts the WAL over.
    pub restart_factor: i32,
    /// After this long without a checkpoint, a TRUNCATE one empties the WAL file.
    pub idle: std::time::Duration,
}

impl Default for Checkpoints {
    fn default() -> Checkpoints {
        Checkpoints {
            pages: 8192,
            restart_factor: 2,
            idle: std::time::Duration::from_secs(60),
        }
    }
}

pub struct SqliteStore {
    ops: mpsc::Sender<Op>,
    /// Reads for the API (listings, stats, logs, health) on a connection and thread of their own:
    /// they never wait in, nor delay, a group commit (WAL lets them read while the writer writes).
    reads: mpsc::Sender<ReadOp>,
    checkpoint: Arc<CheckpointSignal>,
    /// Set by `close`: the store thread ends after the operations already sent.
    closing: Arc<std::sync::atomic::AtomicBool>,
    /// The store thread, joined by `close`.
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    tracker: Tracker,
}

/// Makes this process the one owner of the database file, or says which process is: an exclusive
/// lock (flock) on `FILE.lock` beside it, with the owner's process id written inside. The kernel
/// releases the lock when the process ends, however it ends, so a crash leaves no stale lock.
/// (A second process would number events from its own memory and overwrite the first's.)
fn lock_owner(path: &Path) -> Result<std::fs::File, StoreError> {
    use std::io::{Read, Seek, Write};
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let cannot = |e: std::io::Error| {
        StoreError::Database(format!(
            "cannot open the lock file {}: {e}",
            lock_path.display()
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(cannot)?;
            file.rewind().map_err(cannot)?;
            writeln!(file, "{}", std::process::id()).map_err(cannot)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!(" (pid {pid})"),
                Err(_) => String::new(),
            };
            Err(StoreError::InUse {
                path: path.display().to_string(),
                holder,
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
    }
}

/// What the checkpoint thread is woken for.
#[derive(Default)]
struct CheckpointState {
    /// The WAL has grown past the threshold: its size in pages after the last commit.
    due: Option<i32>,
    closed: bool,
}

/// Wakes the checkpoint thread.
#[derive(Default)]
struct CheckpointSignal {
    state: Mutex<CheckpointState>,
    wake: Condvar,
    /// When the writer last committed (`Millis`), so that only a WAL without writes is truncated.
    last_commit: std::sync::atomic::AtomicI64,
}

impl CheckpointSignal {
    /// After every commit.
    fn committed(&self) {
        self.last_commit
            .store(now_ms(), std::sync::atomic::Ordering::Release);
    }

    /// No commit for `idle`.
    fn quiet_for(&self, idle: std::time::Duration) -> bool {
        now_ms() - self.last_commit.load(std::sync::atomic::Ordering::Acquire)
            >= idle.as_millis() as i64
    }

    fn due(&self, pages: i32) {
        if let Ok(mut s) = self.state.lock() {
            s.due = Some(pages);
        }
        self.wake.notify_one();
    }
    fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.closed = true;
        }
        self.wake.notify_one();
    }
}

impl SqliteStore {
    /// Asks the store thread to end after its current group (operations still queued behind it
    /// are answered `Closed`), and the checkpoint thread to end; gives back the store thread to
    /// join. The database file's
    /// lock goes with the store thread.
    fn shut(&self) -> Option<std::thread::JoinHandle<()>> {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
        // An empty operation wakes the thread if it waits.
        let _ = self.ops.send(Box::new(Wake));
        let _ = self.reads.send(Box::new(|_| {}));
        self.checkpoint.close();
        self.thread.lock().ok().and_then(|mut t| t.take())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Joined, so that the file is free again once the store is gone (a commit at most).
        if let Some(thread) = self.shut() {
            let _ = thread.join();
        }
    }
}

/// A webhook as the store is opened.
struct Loaded {
    seq: i64,
    id: String,
    app_id: String,
    triggers: Vec<String>,
    cursor: i64,
    enabled: bool,
}

/// An SQL condition: event `e`'s kind matches one of the triggers in the JSON array bound to
/// `param` (as `webhook::trigger_matches` does: `*`, an exact kind, or `prefix.*`).
fn matches_triggers(param: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM json_each({param}) t WHERE t.value = '*' OR t.value = e.kind
           OR (substr(t.value, -1) = '*' AND length(e.kind) >= length(t.value)
               AND substr(e.kind, 1, length(t.value) - 1) = substr(t.value, 1, length(t.value) - 1)))"
    )
}

/// Events read from the log at once for a webhook catching up (more when its room is larger).
const LOG_READ: usize = 512;

/// Events one lease reads from the log for a webhook, at most.
const MAX_LOG_SCAN: usize = 16_384;

/// An event read back from the log for a webhook catching up.
struct LoggedEvent {
    seq: i64,
    id: String,
    kind: String,
    body: String,
    received_at: Millis,
}

/// The highest event number given, even when the newest events were deleted since (the
/// high-water mark retention and erasure keep).
fn last_event_seq(c: &Connection) -> Result<i64, StoreError> {
    c.query_row(
        "SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM events),
            COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'event_seq_high'), 0))",
        [],
        |r| r.get(0),
    )
    .map_err(db)
}

/// Every row `sql` (a cached statement) gives for `params`, each made by `row`.
fn all_rows<T, C: FromIterator<T>>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<C, StoreError> {
    c.prepare_cached(sql)
        .map_err(db)?
        .query_map(params, row)
        .map_err(db)?
        .collect::<Result<C, _>>()
        .map_err(db)
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 5;

/// Every table and index of the current schema.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
    bridge_origins TEXT NOT NULL DEFAULT '[]');
-- An app's keys replaced by a newer one, valid until they expire.
CREATE TABLE IF NOT EXISTS retired_keys (
    key_hash TEXT PRIMARY KEY, app_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
-- AUTOINCREMENT: a webhook's number is never given again after it is deleted, so nothing keyed
-- by it (a delivery row written by an attempt that ended after the delete) can reach a newer one.
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL, spec TEXT NOT NULL,
    enabled INTEGER NOT NULL, disabled_reason TEXT, disabled_at INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0, cursor INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, signing TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS webhooks_app ON webhooks (app_id);
-- The event log, in arrival order (seq, given by the queue). Producers' ids are often random, so
-- only the small unique index is written at random places, not the bodies. The id leads in it:
-- ids tell entries apart at their first bytes, the app id (the same for most) only at its end.
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, app_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
    body TEXT NOT NULL, received_at INTEGER NOT NULL, UNIQUE (id, app_id));
-- One row per (webhook, event) once the delivery waits in the store or has been attempted. Keyed
-- by two integers that mostly grow, so rows are appended; a delivery that succeeds at its first
-- attempt costs one row and no index entry.
CREATE TABLE IF NOT EXISTS deliveries (
    webhook_seq INTEGER NOT NULL, event_seq INTEGER NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, locked_until INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER, last_error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (webhook_seq, event_seq)) WITHOUT ROWID;
-- The queue: pending deliveries by due time. Queries name `state = 'pending'` to use it.
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (webhook_seq, next_at) WHERE state = 'pending';
-- Listing and counting the few deliveries that are not succeeded. Queries name
-- `state != 'succeeded'` to use it.
CREATE INDEX IF NOT EXISTS deliveries_unsettled ON deliveries (webhook_seq, state, event_seq)
    WHERE state != 'succeeded';
CREATE TABLE IF NOT EXISTS stats_minute (
    webhook_id TEXT NOT NULL, minute INTEGER NOT NULL, counts TEXT NOT NULL, latency TEXT NOT NULL,
    PRIMARY KEY (webhook_id, minute)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempt_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, delivery_id TEXT NOT NULL,
    event_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL, duration_us INTEGER NOT NULL,
    outcome TEXT NOT NULL, status INTEGER, error_code TEXT NOT NULL, request TEXT NOT NULL,
    response TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attempt_logs_webhook ON attempt_logs (webhook_id, id);
"#;

/// From schema 1 (text keys, a row per delivery written at ingest) to the current one: the tables
/// are renamed, created anew and copied. Delivery ids (and so `webhook-id` headers of retries still pending)
/// change to the new derived form.
const MIGRATE_1_TO_2_BEFORE: &str = r#"
ALTER TABLE webhooks RENAME TO webhooks_v1;
ALTER TABLE events RENAME TO events_v1;
ALTER TABLE deliveries RENAME TO deliveries_v1;
DROP INDEX IF EXISTS webhooks_app;
DROP INDEX IF EXISTS deliveries_queue;
"#;

const MIGRATE_1_TO_2_AFTER: &str = r#"
INSERT INTO events (seq, app_id, id, kind, body, received_at)
    SELECT rowid, app_id, id, kind, body, received_at FROM events_v1;
INSERT INTO webhooks (seq, id, app_id, spec, enabled, disabled_reason, disabled_at,
        consecutive_failures, cursor, created_at, updated_at)
    SELECT rowid, id, app_id, spec, enabled, disabled_reason, disabled_at, consecutive_failures,
        (SELECT COALESCE(MAX(seq), 0) FROM events), created_at, updated_at FROM webhooks_v1;
INSERT INTO deliveries (webhook_seq, event_seq, state, attempts, next_at, locked_until,
        last_status, last_error, created_at, updated_at)
    SELECT w.seq, e.seq, d.state, d.attempts, d.next_at, d.locked_until, d.last_status,
        d.last_error, d.created_at, d.updated_at
    FROM deliveries_v1 d JOIN webhooks w ON w.id = d.webhook_id
    JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id;
DROP TABLE deliveries_v1;
DROP TABLE events_v1;
DROP TABLE webhooks_v1;
"#;

/// From schema 2 to 3: webhook numbers are never reused (AUTOINCREMENT). The table is created
/// anew and copied; the counter starts past every number a row still names, and rows left by
/// deleted webhooks go.
const MIGRATE_2_TO_3_BEFORE: &str = r#"
ALTER TABLE webhooks RENAME TO webhooks_v2;
DROP INDEX IF EXISTS webhooks_app;
"#;

const MIGRATE_2_TO_3_AFTER: &str = r#"
INSERT INTO webhooks (seq, id, app_id, spec, enabled, disabled_reason, disabled_at,
        consecutive_failures, cursor, created_at, updated_at)
    SELECT seq, id, app_id, spec, enabled, disabled_reason, disabled_at, consecutive_failures,
        cursor, created_at, updated_at FROM webhooks_v2;
INSERT INTO sqlite_sequence (name, seq) SELECT 'webhooks', 0
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'webhooks');
UPDATE sqlite_sequence SET seq = MAX(seq,
        (SELECT COALESCE(MAX(seq), 0) FROM webhooks_v2),
        (SELECT COALESCE(MAX(webhook_seq), 0) FROM deliveries))
    WHERE name = 'webhooks';
DROP TABLE webhooks_v2;
DELETE FROM deliveries WHERE webhook_seq NOT IN (SELECT seq FROM webhooks);
DELETE FROM stats_minute WHERE webhook_id NOT IN (SELECT id FROM webhooks);
DELETE FROM attempt_logs WHERE webhook_id NOT IN (SELECT id FROM webhooks);
"#;

/// From schema 3 (and, after their own steps, 1 and 2) to 4: apps get the origins their bridge
/// accepts (none set: any). Keys that rotate get a table of their own, created by the schema.
const MIGRATE_TO_4_AFTER: &str = r#"
ALTER TABLE apps ADD COLUMN bridge_origins TEXT NOT NULL DEFAULT '[]';
"#;

/// From schema 3 or 4 to 5: webhooks get their signing keys (none yet: the server makes one for
/// each at start). Schemas 1 and 2 get the column when their webhooks table is made anew.
const MIGRATE_TO_5_AFTER: &str = r#"
ALTER TABLE webhooks ADD COLUMN signing TEXT NOT NULL DEFAULT '[]';
"#;

/// Creates the schema, or brings an older one up to date, in one transaction.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database has schema version {version}, written by a newer hookline; this one \
             knows up to {SCHEMA_VERSION}"
        )));
    }
    if version == SCHEMA_VERSION {
        return conn.execute_batch(SCHEMA).map_err(db);
    }
    // Schema 1 did not set user_version: it is there when its events table is.
    let v1: bool = version == 0
        && conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
    // Each older schema is taken to the current one in one step: its own "before" statements,
    // the current schema, then its "after" statements.
    let steps = match version {
        4 => format!("{SCHEMA}{MIGRATE_TO_5_AFTER}"),
        3 => format!("{SCHEMA}{MIGRATE_TO_4_AFTER}{MIGRATE_TO_5_AFTER}"),
        2 => format!("{MIGRATE_2_TO_3_BEFORE}{SCHEMA}{MIGRATE_2_TO_3_AFTER}{MIGRATE_TO_4_AFTER}"),
        _ if v1 => {
            format!("{MIGRATE_1_TO_2_BEFORE}{SCHEMA}{MIGRATE_1_TO_2_AFTER}{MIGRATE_TO_4_AFTER}")
        }
        _ => SCHEMA.to_string(),
    };
    let migrated = version >= 2 || v1;
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {steps} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        StoreError::Database(format!(
            "migrating the schema to version {SCHEMA_VERSION}: {e}"
        ))
    })?;
    if migrated {
        tracing::info!("migrated the database to schema version {SCHEMA_VERSION}");
    }
    Ok(())
}

impl SqliteStore {
    /// Leases up to each webhook's limit: pending deliveries that are due, oldest due first,
    /// then what its log holds next. `in_order` (one webhook delivered first in, first out):
    /// pending deliveries in the order of their events, up to the first that is not due (waiting
    /// for its retry, or leased already), and the log only when none is left before it.
    async fn lease_by(
        &self,
        wants: Vec<(i64, usize)>,
        now: Millis,
        lease_until: Millis,
        in_order: bool,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let rows_wanted = wants.clone();
        let (mut leased, blocked) = self.call(move |c| {
            let mut select = c
                .prepare_cached(if in_order {
                    "SELECT d.event_seq, e.id, d.attempts, e.body, d.created_at, d.next_at FROM deliveries d
                     JOIN webhooks w ON w.seq = d.webhook_seq
                     JOIN events e ON e.seq = d.event_seq AND e.app_id = w.app_id
                     WHERE d.webhook_seq = ?1 AND d.state = 'pending'
                     ORDER BY d.event_seq LIMIT ?3"
                } else {
                    "SELECT d.event_seq, e.id, d.attempts, e.body, d.created_at, d.next_at FROM deliveries d
                     JOIN webhooks w ON w.seq = d.webhook_seq
                     JOIN events e ON e.seq = d.event_seq AND e.app_id = w.app_id
                     WHERE d.webhook_seq = ?1 AND d.state = 'pending' AND d.next_at <= ?2
                     ORDER BY d.next_at LIMIT ?3"
                })
                .map_err(db)?;

            let mut lock = c
                .prepare_cached(
                    "UPDATE deliveries SET locked_until = ?3, next_at = ?3 WHERE webhook_seq = ?1 AND event_seq = ?2",
                )
                .map_err(db)?;
            let mut out = Vec::new();
            let mut blocked = Vec::new();
            for (webhook_seq, limit) in rows_wanted.iter().copied() {
                let rows = select
                    .query_map(params![webhook_seq, now, limit as i64], |r| {
                        let due = r.get::<_, i64>(5)? <= now;
                        Ok((
                            due,
                            LeasedDelivery {
                                webhook_seq,
                                event_seq: r.get(0)?,
                                event_id: r.get(1)?,
                                attempts: r.get(2)?,
                                event_body: r.get(3)?,
                                created_at: r.get(4)?,
                                lease_until: Some(lease_until),
                            },
                        ))
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                // In order, a delivery not due holds the ones behind it (and the log).
                if rows.iter().any(|(due, _)| !due) {
                    blocked.push(webhook_seq);
                }
                for d in rows.into_iter().map_while(|(due, d)| due.then_some(d)) {
                    lock.execute(params![webhook_seq, d.event_seq, lease_until])
                        .map_err(db)?;
                    out.push(d);
                }
            }
            Ok((out, blocked))
        })
        .await?;
        // Then what webhooks catching up have in the log, as room allows: window after window
        // (a webhook whose triggers match few events reads many to fill its room), up to a bound
        // per call. Deliveries read are handed out, so a failed read keeps what came before it.
        for (webhook_seq, limit) in wants {
            if blocked.contains(&webhook_seq) {
                continue;
            }
            let mut take = limit.saturating_sub(
                leased
                    .iter()
                    .filter(|d| d.webhook_seq == webhook_seq)
                    .count(),
            );
            let mut scanned = 0;
            while take > 0 && scanned < MAX_LOG_SCAN {
                let Some(window) = self.tracker.window(webhook_seq) else {
                    break;
                };
                let want = LOG_READ.max(take);
                let logged = match self.log_after(webhook_seq, &window, want).await {
                    Ok(logged) => logged,
                    Err(e) if leased.is_empty() => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the event log failed; trying again later");
                        return Ok(leased);
                    }
                };
                scanned += logged.len().max(1);
                let full = logged.len() == want;
                let heads: Vec<(i64, &str)> =
                    logged.iter().map(|e| (e.seq, e.kind.as_str())).collect();
                let handed = self.tracker.read(webhook_seq, &window, &heads, full, take);
                let read_all = handed.read_all;
                let mut handed = handed.events.into_iter().peekable();
                for e in logged {
                    if handed.next_if_eq(&e.seq).is_none() {
                        continue;
                    }
                    take -= 1;
                    leased.push(LeasedDelivery {
                        webhook_seq,
                        event_seq: e.seq,
                        event_id: e.id,
                        event_body: e.body,
                        attempts: 0,
                        created_at: e.received_at,
                        lease_until: None,
                    });
                }
                if read_all {
                    break;
                }
            }
        }
        Ok(leased)
    }

    pub async fn open(path: &Path, sync_commits: bool) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, sync_commits, Checkpoints::default()).await
    }

    /// [`SqliteStore::open`] with other checkpoint settings (tests use small ones).
    pub async fn open_with(
        path: &Path,
        sync_commits: bool,
        checkpoints: Checkpoints,
    ) -> Result<SqliteStore, StoreError> {
        // Held by the store thread, which lets go of it after closing its connection.
        let owner = lock_owner(path)?;
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread_closing = closing.clone();
        let path = path.to_path_buf();
        let checkpoint_path = path.clone();
        let path_for_reader = path.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (ops, rx) = mpsc::channel::<Op>();
        let checkpoint = Arc::new(CheckpointSignal::default());
        let signal = checkpoint.clone();
        // The WAL's pages, set by the WAL hook when the writer must checkpoint itself (see
        // `restart_factor`); 0 otherwise.
        let catch_up = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let writer_catch_up = catch_up.clone();
        let thread = std::thread::Builder::new()
            .name("hookline-store".into())
            .spawn(move || {
                let _owner = owner;
                let opened = open_connection(&path, sync_commits).and_then(|mut conn| {
                    // A WAL started over is cut back to this size (SQLite only reuses it).
                    conn.execute_batch(&format!(
                        "PRAGMA journal_size_limit = {};",
                        i64::from(checkpoints.pages) * 4096
                    ))
                    .map_err(db)?;
                    // Called after each commit with the WAL's size; asks for a checkpoint.
                    // Past the restart level the writer checkpoints itself, alone (a second
                    // checkpointer would make it give up: checkpoints never wait for each other).
                    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                        signal.committed();
                        if pages >= checkpoints.pages.saturating_mul(checkpoints.restart_factor) {
                            catch_up.store(pages, std::sync::atomic::Ordering::Release);
                        } else if pages >= checkpoints.pages {
                            signal.due(pages);
                        }
                        Ok(())
                    }))
                    .map_err(db)?;
                    Ok(conn)
                });
                let conn = match opened {
                    Ok(conn) => {
                        let _ = ready_tx.send(Ok(()));
                        conn
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let hard_limit = checkpoints
                    .pages
                    .saturating_mul(checkpoints.restart_factor)
                    .saturating_mul(2);
                run(conn, rx, &thread_closing, &writer_catch_up, hard_limit);
            })
            .map_err(|e| StoreError::Database(format!("cannot start the store thread: {e}")))?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        let reads = start_reader(&path_for_reader, closing.clone())?;
        let signal = checkpoint.clone();
        std::thread::Builder::new()
            .name("hookline-checkpoint".into())
            .spawn(move || run_checkpoints(&checkpoint_path, &signal, checkpoints))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        let mut store = SqliteStore {
            ops,
            reads,
            checkpoint,
            closing,
            thread: Mutex::new(Some(thread)),
            tracker: Tracker::default(),
        };
        store.tracker = store.load_tracker().await?;
        Ok(store)
    }

    /// The tracker of a database as it was left: numbering after its last event, every webhook
    /// from its saved cursor. An enabled webhook behind the log catches up from it (deliveries
    /// that were in memory when the last process stopped); a disabled one gets pending rows for
    /// them now, held until it is enabled, so that its cursor does not keep its app's events
    /// from retention meanwhile.
    async fn load_tracker(&self) -> Result<Tracker, StoreError> {
        let (last, webhooks) = self
            .call(|c| {
                let last = last_event_seq(c)?;
                let mut s = c
                    .prepare_cached("SELECT seq, id, app_id, spec, cursor, enabled FROM webhooks")
                    .map_err(db)?;
                let webhooks = s
                    .query_map([], |r| {
                        let spec: String = r.get(3)?;
                        let spec = serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null);
                        Ok(Loaded {
                            seq: r.get(0)?,
                            id: r.get(1)?,
                            app_id: r.get(2)?,
                            triggers: triggers(&spec),
                            cursor: r.get(4)?,
                            enabled: r.get(5)?,
                        })
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok((last, webhooks))
            })
            .await?;
        let tracker = Tracker::new(last);
        for mut w in webhooks {
            if !w.enabled && w.cursor < last {
                w.cursor = self.hold_log(&w, last).await?;
            }
            tracker.track(w.seq, &w.id, &w.app_id, w.triggers, w.cursor, true);
        }
        Ok(tracker)
    }

    /// Gives webhook `w` a pending row for each matching event of its app past its cursor, up to
    /// `last`, in chunks, moving its cursor along; returns the cursor.
    async fn hold_log(&self, w: &Loaded, last: i64) -> Result<i64, StoreError> {
        const CHUNK: i64 = 10_000;
        let triggers = serde_json::to_string(&w.triggers).unwrap_or_default();
        let mut cursor = w.cursor;
        while cursor < last {
            let (seq, app_id, triggers) = (w.seq, w.app_id.clone(), triggers.clone());
            let upto = (cursor + CHUNK).min(last);
            self.call(move |c| {
                let now = now_ms();
                c.prepare_cached(&format!(
                    "INSERT INTO deliveries (webhook_seq, event_seq, state, next_at, created_at, updated_at)
                     SELECT ?1, e.seq, 'pending', ?5, e.received_at, ?5 FROM events e
                     WHERE e.app_id = ?2 AND e.seq > ?3 AND e.seq <= ?4 AND {}
                     ON CONFLICT DO NOTHING",
                    matches_triggers("?6")
                ))
                .map_err(db)?
                .execute(params![seq, app_id, cursor, upto, now, triggers])
                .map_err(db)?;
                c.prepare_cached("UPDATE webhooks SET cursor = ?2 WHERE seq = ?1 AND cursor < ?2")
                    .map_err(db)?
                    .execute(params![seq, upto])
                    .map_err(db)?;
                Ok(())
            })
            .await?;
            cursor = upto;
        }
        Ok(cursor)
    }

    /// The events of `window` that have no delivery row for webhook `webhook_seq`, oldest first,
    /// at most `limit`. On the reader thread: the window is committed.
    async fn log_after(
        &self,
        webhook_seq: i64,
        window: &tracker::Window,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let (app_id, after, upto) = (window.app_id.clone(), window.after, window.upto);
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT e.seq, e.id, e.kind, e.body, e.received_at FROM events e
                     WHERE e.seq > ?3 AND e.seq <= ?4 AND e.app_id = ?1
                       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_seq = ?2 AND d.event_seq = e.seq)
                     ORDER BY e.seq LIMIT ?5",
                )
                .map_err(db)?;
            s.query_map(params![app_id, webhook_seq, after, upto, limit as i64], |r| {
                Ok(LoggedEvent {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    body: r.get(3)?,
                    received_at: r.get(4)?,
                })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)
        })
        .await
    }

    /// The highest event number given (0 when none).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        self.call(last_event_seq).await
    }

    /// Runs a read on the reader thread, in one read transaction (a consistent snapshot of what
    /// is committed).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op: ReadOp = Box::new(move |conn| {
            let result = exec(conn, "BEGIN").map_err(db).and_then(|()| f(conn));
            let _ = conn.execute_batch("COMMIT");
            let _ = reply.send(result);
        });
        self.reads.send(op).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the store thread in a group commit; answers once the commit is durable. `f`
    /// may run twice (see [`Operation`]), each time from the state before it.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op: Op = Box::new(Call {
            f,
            result: None,
            reply,
        });
        self.ops.send(op).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// The reader thread, with a connection that only reads, until the store closes.
fn start_reader(
    path: &Path,
    closing: Arc<std::sync::atomic::AtomicBool>,
) -> Result<mpsc::Sender<ReadOp>, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.execute_batch(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -8000;",
    )
    .map_err(db)?;
    conn.set_prepared_statement_cache_capacity(64);
    let (tx, rx) = mpsc::channel::<ReadOp>();
    std::thread::Builder::new()
        .name("hookline-reader".into())
        .spawn(move || {
            while let Ok(op) = rx.recv() {
                op(&conn);
                if closing.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the reader thread: {e}")))?;
    Ok(tx)
}

fn open_connection(path: &Path, sync_commits: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    let synchronous = if sync_commits { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF;
         PRAGMA busy_timeout = 5000; PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = 0;"
    ))
    .map_err(db)?;
    migrate(&conn)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The checkpoint thread, until the store is dropped: a passive checkpoint (it never blocks the
/// writer) when the WAL has grown past `pages`; a TRUNCATE one after `idle` without any.
fn run_checkpoints(path: &Path, signal: &CheckpointSignal, settings: Checkpoints) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    let _ = conn.execute_batch("PRAGMA busy_timeout = 1000;");
    loop {
        let Ok(state) = signal.state.lock() else {
            return;
        };
        let Ok((mut state, _)) = signal
            .wake
            .wait_timeout_while(state, settings.idle, |s| s.due.is_none() && !s.closed)
        else {
            return;
        };
        if state.closed {
            return;
        }
        let mode = if state.due.take().is_some() {
            "PASSIVE"
        } else if signal.quiet_for(settings.idle) {
            "TRUNCATE"
        } else {
            // Writes came meanwhile (too few to ask for a checkpoint): not idle.
            continue;
        };
        drop(state);
        // A busy database (the writer in a transaction past the busy timeout) is no error: the
        // next checkpoint will do.
        match conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, mode, "WAL checkpoint failed"),
        }
    }
}

/// Rows per multi-row statement: a statement's fixed cost (its program run, its cursors opened
/// and closed) is shared by many rows.
const ROWS_PER_STATEMENT: usize = 32;

/// `items` in chunks of `ROWS_PER_STATEMENT`, then the rest in chunks of falling powers of two:
/// few distinct statements, all kept in the statement cache.
fn row_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// `head` then `rows` copies of `row` separated by commas, then `tail`.
fn multi_row_sql(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 1) + tail.len());
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql.push_str(tail);
    sql
}

/// A delivery row as an attempt leaves it (the values of the multi-row upsert).
struct DeliveryRow<'a> {
    webhook_seq: i64,
    event_seq: i64,
    state: &'static str,
    /// Attempts to add: 0 for a release.
    attempts: u32,
    next_at: Millis,
    last_status: Option<u16>,
    last_error: Option<&'a str>,
    created_at: Millis,
    updated_at: Millis,
}

impl<'a> DeliveryRow<'a> {
    fn of(a: &'a AttemptRecord) -> DeliveryRow<'a> {
        let (state, next_at, attempts) = match a.next {
            Next::Succeeded => ("succeeded", a.at, 1),
            Next::RetryAt(at) => ("pending", at, 1),
            Next::Failed => ("failed", a.at, 1),
            Next::Release => ("pending", a.at, 0),
        };
        DeliveryRow {
            webhook_seq: a.webhook_seq,
            event_seq: a.event_seq,
            state,
            attempts,
            next_at,
            last_status: a.status,
            last_error: (attempts == 1).then_some(a.error_code),
            created_at: a.created_at,
            updated_at: a.at,
        }
    }

    fn values(&self) -> [&dyn ToSql; 9] {
        [
            &self.webhook_seq,
            &self.event_seq,
            &self.state,
            &self.attempts,
            &self.next_at,
            &self.last_status,
            &self.last_error,
            &self.created_at,
            &self.updated_at,
        ]
    }
}

/// The lowest and highest numbers of the stored events (`(1, 0)` when there are none).
fn log_span(c: &Connection) -> Result<(i64, i64), StoreError> {
    // Two subqueries: SQLite reads a min() or a max() off the index end only when it stands
    // alone; together in one SELECT they cost a scan of the whole log.
    c.prepare_cached(
        "SELECT COALESCE((SELECT MIN(seq) FROM events), 1), COALESCE((SELECT MAX(seq) FROM events), 0)",
    )
        .map_err(db)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)
}

/// Before events are deleted: the highest number stored is kept in `meta`, so numbers (and with
/// them delivery ids) are never given again once the newest events are gone.
fn keep_event_seq_high(c: &Connection) -> Result<(), StoreError> {
    changed(
        c,
        "INSERT INTO meta (key, value) SELECT 'event_seq_high', COALESCE(MAX(seq), 0) FROM events WHERE true
         ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
        [],
    )
    .map(|_| ())
}

/// Runs a cached statement; the rows it changed.
fn changed(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(sql)
        .map_err(db)?
        .execute(params)
        .map_err(db)? as u64)
}

/// Runs a statement without parameters through the statement cache (no parse per call).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The store thread: group commit until every sender is gone or the store is closed.
fn run(
    conn: Connection,
    rx: mpsc::Receiver<Op>,
    closing: &std::sync::atomic::AtomicBool,
    checkpoint_due: &std::sync::atomic::AtomicI32,
    hard_limit: i32,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // No savepoint per operation (SQLite would copy every page an operation first touches):
        // the group runs in one transaction and, only when something fails, each operation runs
        // again alone, so one operation's failure (a constraint, or a fault that has passed)
        // fails no other. Nothing is acknowledged that is not committed.
        match in_transaction(&conn, &mut batch) {
            Ok(()) => batch.into_iter().for_each(|op| op.answer(Ok(()))),
            Err(e) if batch.len() == 1 => {
                batch.into_iter().for_each(|op| op.answer(Err(e.clone())))
            }
            Err(_) => {
                for mut op in batch {
                    let alone = in_transaction(&conn, std::slice::from_mut(&mut op));
                    op.answer(alone);
                }
            }
        }
        // Operations sent after `close` are dropped with the channel: their callers get `Closed`.
        if closing.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let pages = checkpoint_due.swap(0, std::sync::atomic::Ordering::AcqRel);
        if pages > 0 {
            restart_wal(&conn, pages >= hard_limit);
        }
    }
}

/// The writer's own checkpoint, between two commits, when the WAL outgrew what checkpoints
/// beside it keep up with: it copies every frame left and waits for readers to move on to the
/// database file, so that the next commit starts the WAL over. It gives up at once when the
/// checkpoint thread is at work (checkpoints never wait for each other) and is tried again after
/// the next commit; past the hard limit it waits for it, holding writes back, so that the WAL
/// stays bounded under any load.
fn restart_wal(conn: &Connection, must: bool) {
    // Each try waits a moment for readers at most (the connection's own timeout is 5 s).
    let _ = conn.busy_timeout(std::time::Duration::from_millis(10));
    let started = std::time::Instant::now();
    let restore = || {
        let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    };
    loop {
        match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
            Ok(0) => return restore(),
            Ok(_busy) if must && started.elapsed() < std::time::Duration::from_secs(5) => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(_busy) => return restore(),
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
                return restore();
            }
        }
    }
}

/// Applies `ops` in one transaction and commits; rolls back at the first that fails.
fn in_transaction(conn: &Connection, ops: &mut [Op]) -> Result<(), StoreError> {
    exec(conn, "BEGIN IMMEDIATE").map_err(db)?;
    let result = if ops.iter_mut().all(|op| op.apply(conn)) {
        exec(conn, "COMMIT").map_err(db)
    } else {
        Err(StoreError::Database(
            "an operation failed; the transaction was rolled back".into(),
        ))
    };
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// The highest event number received before `before` (0 when none): a binary search over the
/// log, whose numbers follow arrival, by a few primary-key seeks.
fn last_seq_before(c: &Connection, before: Millis) -> Result<i64, StoreError> {
    let (first, mut high) = log_span(c)?;
    let mut low = first - 1;
    // Invariant: every event numbered up to `low` is older than `before`; none above `high` is.
    let mut probe = c
        .prepare_cached("SELECT seq, received_at FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1")
        .map_err(db)?;
    while low < high {
        let mid = low + (high - low + 1) / 2;
        let found: Option<(i64, i64)> = probe
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db)?;
        match found {
            Some((seq, at)) if at < before => low = seq.max(mid),
            _ => high = mid - 1,
        }
    }
    Ok(low.max(0))
}

const APP_COLUMNS: &str = "id, name, created_at, bridge_origins";

fn app_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AppRecord> {
    let origins: String = row.get(3)?;
    Ok(AppRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
        bridge_origins: serde_json::from_str(&origins).unwrap_or_default(),
    })
}

fn webhook_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<WebhookRecord> {
    let spec: String = row.get(2)?;
    let enabled: bool = row.get(3)?;
    let mut spec: serde_json::Value =
        serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null);
    if let Some(map) = spec.as_object_mut() {
        map.insert("enabled".into(), enabled.into());
    }
    Ok(WebhookRecord {
        id: row.get(0)?,
        app_id: row.get(1)?,
        spec,
        enabled,
        disabled_reason: row.get(4)?,
        disabled_at: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        seq: row.get(8)?,
        signing: row.get(9)?,
    })
}

const WEBHOOK_COLUMNS: &str =
    "id, app_id, spec, enabled, disabled_reason, disabled_at, created_at, updated_at, seq, signing";

fn parse_counts(text: &str, len: usize) -> Vec<u64> {
    let mut out: Vec<u64> = text.split(',').map(|n| n.parse().unwrap_or(0)).collect();
    out.resize(len, 0);
    out
}

fn join_counts(counts: &[u64]) -> String {
    counts
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        if let Some(thread) = self.shut() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.read(move |c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                [&key, &value],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn create_app(&self, app: AppRecord, key_hash: String) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO apps (id, name, key_hash, created_at, bridge_origins) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    app.id,
                    app.name,
                    key_hash,
                    app.created_at,
                    serde_json::to_string(&app.bridge_origins).unwrap_or_default()
                ],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.read(|c| {
            let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, id");
            all_rows(c, &sql, [], app_from_row)
        })
        .await
    }

    async fn get_app(&self, app_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let app_id = app_id.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ?1"))
                .map_err(db)?
                .query_row([&app_id], app_from_row)
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn update_app(
        &self,
        app_id: &str,
        name: Option<String>,
        bridge_origins: Option<Vec<String>>,
    ) -> Result<Option<AppRecord>, StoreError> {
        let app_id = app_id.to_string();
        let origins = bridge_origins.map(|o| serde_json::to_string(&o).unwrap_or_default());
        self.call(move |c| {
            c.prepare_cached(&format!(
                "UPDATE apps SET name = COALESCE(?2, name), bridge_origins = COALESCE(?3, bridge_origins)
                 WHERE id = ?1 RETURNING {APP_COLUMNS}"
            ))
            .map_err(db)?
            .query_row(params![app_id, name, origins], app_from_row)
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn app_keys(&self) -> Result<Vec<AppKey>, StoreError> {
        self.call(|c| {
            all_rows(
                c,
                "SELECT key_hash, id, NULL FROM apps
                 UNION ALL SELECT key_hash, app_id, expires_at FROM retired_keys WHERE expires_at > ?1",
                [now_ms()],
                |r| {
                    Ok(AppKey {
                        hash: r.get(0)?,
                        app_id: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
        })
        .await
    }

    async fn rotate_app_key(
        &self,
        app_id: &str,
        key_hash: String,
        old_until: Millis,
    ) -> Result<bool, StoreError> {
        let app_id = app_id.to_string();
        self.call(move |c| {
            let now = now_ms();
            changed(c, "DELETE FROM retired_keys WHERE expires_at <= ?1", [now])?;
            if old_until > now {
                c.execute(
                    "INSERT INTO retired_keys (key_hash, app_id, expires_at)
                     SELECT key_hash, id, ?2 FROM apps WHERE id = ?1",
                    params![app_id, old_until],
                )
                .map_err(db)?;
            }
            Ok(changed(
                c,
                "UPDATE apps SET key_hash = ?2 WHERE id = ?1",
                params![app_id, key_hash],
            )? == 1)
        })
        .await
    }

    async fn create_webhook(&self, w: WebhookRecord) -> Result<i64, StoreError> {
        // Events from now on.
        let cursor = self.tracker.last();
        let (id, app_id, kinds) = (w.id.clone(), w.app_id.clone(), triggers(&w.spec));
        let seq = self.call(move |c| {
            c.execute(
                "INSERT INTO webhooks (id, app_id, spec, enabled, disabled_reason, disabled_at, created_at, updated_at, cursor, signing)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    w.id,
                    w.app_id,
                    w.spec.to_string(),
                    w.enabled,
                    w.disabled_reason,
                    w.disabled_at,
                    w.created_at,
                    w.updated_at,
                    cursor,
                    w.signing
                ],
            )
            .map_err(db)?;
            Ok(c.last_insert_rowid())
        })
        .await?;
        self.tracker.track(seq, &id, &app_id, kinds, cursor, false);
        Ok(seq)
    }

    async fn update_webhook(
        &self,
        app_id: &str,
        id: &str,
        spec: serde_json::Value,
        enabled: bool,
        at: Millis,
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        let kinds = triggers(&spec);
        let (app, webhook) = (app_id.clone(), id.clone());
        let updated = self.call(move |c| {
            // Enabling through an update clears a disable reason, like `enable` does.
            let n = c
                .execute(
                    "UPDATE webhooks SET spec = ?3, updated_at = ?5,
                       disabled_reason = CASE WHEN ?4 THEN NULL WHEN enabled THEN 'disabled by a user' ELSE disabled_reason END,
                       disabled_at = CASE WHEN ?4 THEN NULL WHEN enabled THEN ?5 ELSE disabled_at END,
                       consecutive_failures = CASE WHEN ?4 AND NOT enabled THEN 0 ELSE consecutive_failures END,
                       enabled = ?4
                     WHERE app_id = ?1 AND id = ?2",
                    params![app_id, id, spec.to_string(), enabled, at],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
        .await?;
        if updated {
            self.tracker.set_triggers(&app, &webhook, kinds);
        }
        Ok(updated)
    }

    async fn set_webhook_signing(
        &self,
        app_id: &str,
        id: &str,
        signing: String,
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE webhooks SET signing = ?3 WHERE app_id = ?1 AND id = ?2",
                    params![app_id, id, signing],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn set_webhook_enabled(
        &self,
        app_id: &str,
        id: &str,
        enabled: bool,
        reason: Option<String>,
        at: Millis,
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.call(move |c| {
            let n = if enabled {
                c.execute(
                    "UPDATE webhooks SET enabled = 1, disabled_reason = NULL, disabled_at = NULL,
                       consecutive_failures = 0, updated_at = ?3 WHERE app_id = ?1 AND id = ?2",
                    params![app_id, id, at],
                )
            } else {
                // Keep the first reason when it is already disabled.
                c.execute(
                    "UPDATE webhooks SET
                       disabled_reason = CASE WHEN enabled THEN ?3 ELSE disabled_reason END,
                       disabled_at = CASE WHEN enabled THEN ?4 ELSE disabled_at END,
                       enabled = 0, updated_at = ?4 WHERE app_id = ?1 AND id = ?2",
                    params![app_id, id, reason, at],
                )
            }
            .map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_webhook(&self, app_id: &str, id: &str) -> Result<Option<i64>, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        let seq = self
            .call(move |c| {
                c.query_row(
                    "DELETE FROM webhooks WHERE app_id = ?1 AND id = ?2 RETURNING seq",
                    [&app_id, &id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        self.tracker.forget(seq);
        Ok(seq)
    }

    async fn delete_app(&self, app_id: &str) -> Result<Option<Leftovers>, StoreError> {
        let app_id = app_id.to_string();
        let leftovers = self
            .call(move |c| {
                let gone = c
                    .execute("DELETE FROM apps WHERE id = ?1", [&app_id])
                    .map_err(db)?;
                if gone == 0 {
                    return Ok(None);
                }
                c.execute("DELETE FROM retired_keys WHERE app_id = ?1", [&app_id])
                    .map_err(db)?;
                let webhooks = all_rows(
                    c,
                    "DELETE FROM webhooks WHERE app_id = ?1 RETURNING id, seq",
                    [&app_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok(Some(Leftovers {
                    app_id: Some(app_id.clone()),
                    webhooks,
                }))
            })
            .await?;
        if let Some(l) = &leftovers {
            self.tracker.forget(l.webhooks.iter().map(|(_, seq)| *seq));
        }
        Ok(leftovers)
    }

    async fn purge_deleted(
        &self,
        leftovers: Leftovers,
        after: i64,
        limit: usize,
    ) -> Result<PurgeStep, StoreError> {
        self.call(move |c| {
            let mut step = PurgeStep::default();
            let limit = limit as i64;
            for (id, seq) in &leftovers.webhooks {
                step.deliveries += changed(
                    c,
                    "DELETE FROM deliveries WHERE webhook_seq = ?1 AND event_seq IN
                           (SELECT event_seq FROM deliveries WHERE webhook_seq = ?1 LIMIT ?2)",
                    params![seq, limit],
                )?;
                step.other += changed(
                    c,
                    "DELETE FROM stats_minute WHERE webhook_id = ?1 AND minute IN
                           (SELECT minute FROM stats_minute WHERE webhook_id = ?1 LIMIT ?2)",
                    params![id, limit],
                )?;
                step.logs += changed(
                    c,
                    "DELETE FROM attempt_logs WHERE id IN
                           (SELECT id FROM attempt_logs WHERE webhook_id = ?1 LIMIT ?2)",
                    params![id, limit],
                )?;
            }
            let (first, last) = log_span(c)?;
            // Numbers below the oldest stored event hold nothing.
            let after = after.max(first - 1);
            step.next = after;
            if let Some(app_id) = &leftovers.app_id
                && after < last
            {
                // A range of the log at a time: the events have no index by app.
                keep_event_seq_high(c)?;
                step.next = after + limit;
                step.events = changed(
                    c,
                    "DELETE FROM events WHERE seq > ?2 AND seq <= ?3 AND app_id = ?1",
                    params![app_id, after, step.next],
                )?;
            }
            let events_left = leftovers.app_id.is_some() && step.next < last;
            step.done = !events_left && step.deliveries + step.other + step.logs == 0;
            Ok(step)
        })
        .await
    }

    async fn purge_before(&self, before: Millis, limit: usize) -> Result<u64, StoreError> {
        self.call(move |c| {
            let limit = limit as i64;
            let mut rows = 0u64;
            keep_event_seq_high(c)?;
            let old_seq = last_seq_before(c, before)?;
            let webhooks: Vec<(String, i64, i64)> =
                all_rows(c, "SELECT id, seq, cursor FROM webhooks", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            for (id, seq, cursor) in &webhooks {
                // Not past the cursor: a settled row there is what keeps its delivery from being
                // read from the log again (see `tracker`).
                rows += changed(
                    c,
                    "DELETE FROM deliveries WHERE webhook_seq = ?1 AND event_seq IN
                           (SELECT event_seq FROM deliveries WHERE webhook_seq = ?1 AND event_seq <= ?2
                              AND state != 'pending' LIMIT ?3)",
                    params![seq, old_seq.min(*cursor), limit],
                )?;
                rows += changed(
                    c,
                    "DELETE FROM stats_minute WHERE webhook_id = ?1 AND minute IN
                           (SELECT minute FROM stats_minute WHERE webhook_id = ?1 AND minute >= 0
                              AND minute < ?2 LIMIT ?3)",
                    params![id, before.div_euclid(60_000), limit],
                )?;
            }
            // Rows of webhooks that are gone (a deletion cut short by a crash).
            rows += changed(
                c,
                "DELETE FROM deliveries WHERE (webhook_seq, event_seq) IN
                       (SELECT webhook_seq, event_seq FROM deliveries
                        WHERE webhook_seq NOT IN (SELECT seq FROM webhooks) LIMIT ?1)",
                [limit],
            )?;
            // Events: old, passed by the cursor of every webhook of their app, and with no
            // pending delivery.
            rows += changed(
                c,
                "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e
                       WHERE e.seq <= ?1
                         AND e.seq <= (SELECT COALESCE(MIN(w.cursor), ?1) FROM webhooks w WHERE w.app_id = e.app_id)
                         AND NOT EXISTS (SELECT 1 FROM webhooks w JOIN deliveries d
                           ON d.webhook_seq = w.seq AND d.event_seq = e.seq AND d.state = 'pending')
                       ORDER BY e.seq LIMIT ?2)",
                params![old_seq, limit],
            )?;
            rows += changed(
                c,
                "DELETE FROM attempt_logs WHERE id IN
                       (SELECT id FROM attempt_logs WHERE at < ?1 ORDER BY id LIMIT ?2)",
                params![before, limit],
            )?;
            Ok(rows)
        })
        .await
    }

    async fn erase_external_id(
        &self,
        app_id: &str,
        external_id: &str,
        after: i64,
        span: i64,
    ) -> Result<PurgeStep, StoreError> {
        let (app_id, external_id) = (app_id.to_string(), external_id.to_string());
        self.call(move |c| {
            // Numbers below the oldest stored event hold nothing.
            let after = after.max(log_span(c)?.0 - 1);
            let mut step = PurgeStep {
                next: after + span,
                ..PurgeStep::default()
            };
            let matched: Vec<(i64, String)> = all_rows(
                c,
                "SELECT seq, id FROM events WHERE seq > ?2 AND seq <= ?3 AND app_id = ?1
                   AND json_extract(body, '$.external_id') = ?4",
                params![app_id, after, step.next, external_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if !matched.is_empty() {
                keep_event_seq_high(c)?;
                // The chunk's events as JSON arrays: one statement each, not one per event (the
                // logs have no index by event).
                let seqs = serde_json::to_string(&matched.iter().map(|m| m.0).collect::<Vec<_>>())
                    .unwrap_or_default();
                let ids = serde_json::to_string(&matched.iter().map(|m| &m.1).collect::<Vec<_>>())
                    .unwrap_or_default();
                step.events = changed(
                    c,
                    "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1))",
                    [&seqs],
                )?;
                step.deliveries = changed(
                    c,
                    "DELETE FROM deliveries WHERE event_seq IN (SELECT value FROM json_each(?2))
                       AND webhook_seq IN (SELECT seq FROM webhooks WHERE app_id = ?1)",
                    params![app_id, seqs],
                )?;
                step.logs = changed(
                    c,
                    "DELETE FROM attempt_logs WHERE event_id IN (SELECT value FROM json_each(?2))
                       AND webhook_id IN (SELECT id FROM webhooks WHERE app_id = ?1)",
                    params![app_id, ids],
                )?;
            }
            let (_, last) = log_span(c)?;
            step.done = step.next >= last;
            Ok(step)
        })
        .await
    }

    async fn get_webhook(
        &self,
        app_id: &str,
        id: &str,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = ?1 AND id = ?2"),
                [&app_id, &id],
                webhook_from_row,
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let app_id = app_id.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = ?1 ORDER BY created_at, id"
            );
            all_rows(c, &sql, [&app_id], webhook_from_row)
        })
        .await
    }

    async fn recent_events(
        &self,
        app_id: &str,
        kinds: Vec<String>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let app_id = app_id.to_string();
        self.read(move |c| {
            // Newest first along the log, within its last stretch: no index by kind is needed.
            let marks = vec!["?"; kinds.len().max(1)].join(", ");
            let sql = format!(
                "SELECT body, received_at FROM events
                 WHERE app_id = ? AND kind IN ({marks})
                   AND seq > (SELECT COALESCE(MAX(seq), 0) FROM events) - {RECENT_EVENTS_SCANNED}
                 ORDER BY seq DESC LIMIT {limit}"
            );
            let mut values: Vec<String> = vec![app_id];
            values.extend(if kinds.is_empty() {
                vec![String::new()]
            } else {
                kinds
            });
            all_rows(c, &sql, rusqlite::params_from_iter(values), |r| {
                Ok(StoredEvent {
                    body: r.get(0)?,
                    received_at: r.get(1)?,
                })
            })
        })
        .await
    }

    async fn all_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        self.call(|c| {
            let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id");
            all_rows(c, &sql, [], webhook_from_row)
        })
        .await
    }

    async fn append_events(
        &self,
        app_id: &str,
        events: Vec<NewEvent>,
        room: Room,
        now: Millis,
    ) -> Result<Appends, StoreError> {
        let numbered = self.tracker.number(
            app_id,
            events.iter().map(|e| e.takers.as_slice()),
            events.len(),
            &room,
        );
        let first = numbered.first;
        let app = app_id.to_string();
        let stored = self
            .call(move |c| {
                // One statement per event: a multi-row one would need RETURNING to tell the new
                // events, which costs more (a temporary b-tree per statement) than it saves.
                let mut event_stmt = c
                    .prepare_cached(
                        "INSERT INTO events (seq, app_id, id, kind, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(db)?;
                let mut fresh = Vec::with_capacity(events.len());
                for (k, e) in events.iter().enumerate() {
                    let n = event_stmt
                        .execute(params![first + k as i64, app, e.id, e.kind, e.body, now])
                        .map_err(db)?;
                    fresh.push(n == 1);
                }
                // Rows only for disabled webhooks' (skipped) deliveries: the others are handed
                // out or wait in the log (see `tracker`). Only for a webhook of the event's app
                // that still exists (one deleted while the append was under way gets none).
                let mut skipped = c
                    .prepare_cached(
                        "INSERT INTO deliveries (webhook_seq, event_seq, state, next_at, created_at, updated_at)
                         SELECT ?1, ?2, 'skipped', ?3, ?3, ?3 WHERE EXISTS
                           (SELECT 1 FROM webhooks WHERE seq = ?1 AND app_id = ?4)",
                    )
                    .map_err(db)?;
                for (k, e) in events.iter().enumerate().filter(|(k, _)| fresh[*k]) {
                    for (webhook_seq, _) in e.takers.iter().filter(|(_, enabled)| !enabled) {
                        skipped
                            .execute(params![webhook_seq, first + k as i64, now, app])
                            .map_err(db)?;
                    }
                }
                Ok(fresh)
            })
            .await;
        let fresh = match stored {
            Ok(fresh) => fresh,
            Err(e) => {
                self.tracker.stored(&numbered, None);
                return Err(e);
            }
        };
        self.tracker.stored(&numbered, Some(&fresh));
        let events = numbered
            .handed
            .into_iter()
            .zip(fresh)
            .enumerate()
            .map(|(k, (handed, new))| Appended {
                seq: if new { first + k as i64 } else { 0 },
                new,
                handed: if new { handed } else { Vec::new() },
            })
            .collect();
        Ok(Appends {
            events,
            lease_until: None,
        })
    }

    async fn lease(
        &self,
        wants: Vec<(i64, usize)>,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        self.lease_by(wants, now, lease_until, false).await
    }

    async fn lease_in_order(
        &self,
        webhook_seq: i64,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        self.lease_by(vec![(webhook_seq, limit)], now, lease_until, true)
            .await
    }

    async fn release_leases(&self) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE deliveries SET locked_until = 0, next_at = ?1 WHERE state = 'pending' AND locked_until > 0",
                [now_ms()],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        self.call(|c| {
            // One index seek per enabled webhook. A leased delivery's next_at is the end of its
            // lease, so "due" is only ever `next_at <= now`.
            c.query_row(
                "SELECT MIN((SELECT MIN(d.next_at) FROM deliveries d
                              WHERE d.webhook_seq = w.seq AND d.state = 'pending'))
                 FROM webhooks w WHERE w.enabled",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map_err(db)
        })
        .await
    }

    async fn record_attempts(
        &self,
        attempts: Arc<Vec<AttemptRecord>>,
    ) -> Result<Vec<AttemptEffects>, StoreError> {
        // Read before the attempts are stored: a cursor only passes deliveries recorded before.
        let cursors = self.tracker.cursors();
        let saved = cursors.clone();
        let recorded = attempts.clone();
        let effects = self.call(move |c| {
            // An attempt whose webhook is gone (deleted while the attempt was under way) records
            // nothing: no row, no stats, no log.
            let mut live: HashMap<i64, bool> = HashMap::new();
            for a in attempts.iter() {
                if let std::collections::hash_map::Entry::Vacant(entry) = live.entry(a.webhook_seq) {
                    let exists = c
                        .prepare_cached("SELECT EXISTS (SELECT 1 FROM webhooks WHERE seq = ?1)")
                        .map_err(db)?
                        .query_row([a.webhook_seq], |r| r.get(0))
                        .map_err(db)?;
                    entry.insert(exists);
                }
            }
            // ... nor one whose event is gone (erased while the attempt was under way): its log
            // would hold the erased data again.
            let seqs = serde_json::to_string(&attempts.iter().map(|a| a.event_seq).collect::<Vec<_>>())
                .unwrap_or_default();
            let gone: std::collections::HashSet<i64> = all_rows(
                c,
                "SELECT j.value FROM json_each(?1) j WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = j.value)",
                [&seqs],
                |r| r.get(0),
            )?;
            let recorded = |a: &AttemptRecord| live[&a.webhook_seq] && !gone.contains(&a.event_seq);
            let kept: Vec<&AttemptRecord> = attempts.iter().filter(|a| recorded(a)).collect();
            // A first attempt creates the row; later ones (and leased deliveries) update it. Many
            // rows per statement, in the order the attempts happened.
            for chunk in row_chunks(&kept) {
                let rows: Vec<DeliveryRow> = chunk.iter().map(|a| DeliveryRow::of(a)).collect();
                c.prepare_cached(&multi_row_sql(
                    "INSERT INTO deliveries (webhook_seq, event_seq, state, attempts, next_at, locked_until,
                       last_status, last_error, created_at, updated_at) VALUES ",
                    "(?,?,?,?,?,0,?,?,?,?)",
                    rows.len(),
                    " ON CONFLICT (webhook_seq, event_seq) DO UPDATE SET state = excluded.state,
                       attempts = attempts + excluded.attempts, next_at = excluded.next_at, locked_until = 0,
                       last_status = COALESCE(excluded.last_status, last_status),
                       last_error = CASE WHEN excluded.attempts = 1 THEN excluded.last_error ELSE last_error END,
                       updated_at = excluded.updated_at",
                ))
                .map_err(db)?
                .execute(params_from_iter(rows.iter().flat_map(DeliveryRow::values)))
                .map_err(db)?;
            }
            // Per (webhook, minute): counts and latency, merged into the stored minute once.
            let mut minutes: HashMap<(&str, i64), (Vec<u64>, Vec<u64>)> = HashMap::new();
            // Per webhook: failures in a row so far, read once.
            let mut streaks: HashMap<&str, u32> = HashMap::new();
            let mut effects = Vec::with_capacity(attempts.len());
            let mut logged: Vec<&str> = Vec::new();
            for a in attempts.iter() {
                if a.next == Next::Release || !recorded(a) {
                    effects.push(AttemptEffects::default());
                    continue;
                }
                let (counts, latency) = minutes
                    .entry((a.webhook_id.as_str(), a.at.div_euclid(60_000)))
                    .or_insert_with(|| (vec![0; Outcome::ALL.len()], vec![0; LATENCY_BUCKETS]));
                counts[a.outcome.index()] += 1;
                if a.outcome != Outcome::Render {
                    latency[latency_bucket(a.duration_us)] += 1;
                }
                let streak = match streaks.get(a.webhook_id.as_str()) {
                    Some(n) => *n,
                    None => c
                        .prepare_cached("SELECT consecutive_failures FROM webhooks WHERE id = ?1")
                        .map_err(db)?
                        .query_row([&a.webhook_id], |r| r.get(0))
                        .optional()
                        .map_err(db)?
                        .unwrap_or(0),
                };
                let streak = if a.outcome == Outcome::Success { 0 } else { streak + 1 };
                streaks.insert(a.webhook_id.as_str(), streak);
                effects.push(AttemptEffects { consecutive_failures: streak });
                if let Some(log) = &a.log {
                    c.prepare_cached(
                        "INSERT INTO attempt_logs (webhook_id, delivery_id, event_id, attempt, at, duration_us, outcome,
                           status, error_code, request, response)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .map_err(db)?
                    .execute(params![
                        a.webhook_id,
                        log.delivery_id,
                        log.event_id,
                        a.attempt,
                        a.at,
                        a.duration_us as i64,
                        a.outcome.as_str(),
                        a.status,
                        a.error_code,
                        log.request.to_string(),
                        log.response.to_string()
                    ])
                    .map_err(db)?;
                    if !logged.contains(&a.webhook_id.as_str()) {
                        logged.push(a.webhook_id.as_str());
                    }
                }
            }
            // The all-time row, so reading totals never scans a webhook's whole history.
            let mut all_time: HashMap<&str, (Vec<u64>, Vec<u64>)> = HashMap::new();
            for ((webhook_id, _), (counts, latency)) in &minutes {
                let (c, l) = all_time
                    .entry(webhook_id)
                    .or_insert_with(|| (vec![0; Outcome::ALL.len()], vec![0; LATENCY_BUCKETS]));
                c.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
                l.iter_mut().zip(latency).for_each(|(a, b)| *a += b);
            }
            let rows = minutes
                .into_iter()
                .chain(all_time.into_iter().map(|(w, v)| ((w, ALL_TIME_MINUTE), v)));
            for ((webhook_id, minute), (counts, latency)) in rows {
                let row: Option<(String, String)> = c
                    .prepare_cached("SELECT counts, latency FROM stats_minute WHERE webhook_id = ?1 AND minute = ?2")
                    .map_err(db)?
                    .query_row(params![webhook_id, minute], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(db)?;
                let (mut all, mut hist) = match row {
                    Some((cs, ls)) => (parse_counts(&cs, Outcome::ALL.len()), parse_counts(&ls, LATENCY_BUCKETS)),
                    None => (vec![0; Outcome::ALL.len()], vec![0; LATENCY_BUCKETS]),
                };
                all.iter_mut().zip(&counts).for_each(|(a, b)| *a += b);
                hist.iter_mut().zip(&latency).for_each(|(a, b)| *a += b);
                c.prepare_cached(
                    "INSERT INTO stats_minute (webhook_id, minute, counts, latency) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (webhook_id, minute) DO UPDATE SET counts = ?3, latency = ?4",
                )
                .map_err(db)?
                .execute(params![webhook_id, minute, join_counts(&all), join_counts(&hist)])
                .map_err(db)?;
            }
            for (webhook_seq, cursor) in &cursors {
                c.prepare_cached("UPDATE webhooks SET cursor = ?2 WHERE seq = ?1 AND cursor < ?2")
                    .map_err(db)?
                    .execute(params![webhook_seq, cursor])
                    .map_err(db)?;
            }
            for (webhook_id, streak) in streaks {
                c.prepare_cached("UPDATE webhooks SET consecutive_failures = ?2 WHERE id = ?1 AND consecutive_failures != ?2")
                    .map_err(db)?
                    .execute(params![webhook_id, streak])
                    .map_err(db)?;
            }
            // Keep each webhook's logs to the bound (the oldest go first).
            let max_logs = attempts.first().map(|a| a.max_logs).unwrap_or(0);
            for webhook_id in logged {
                c.prepare_cached(
                    "DELETE FROM attempt_logs WHERE webhook_id = ?1 AND id <= (
                       SELECT id FROM attempt_logs WHERE webhook_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                )
                .map_err(db)?
                .execute(params![webhook_id, max_logs])
                .map_err(db)?;
            }
            Ok(effects)
        })
        .await?;
        self.tracker.saved(&saved);
        // Recorded, or never will be (the webhook or the event is gone).
        self.tracker
            .recorded(recorded.iter().map(|a| (a.webhook_seq, a.event_seq)));
        Ok(effects)
    }

    async fn deliveries(
        &self,
        app_id: &str,
        webhook_id: &str,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (app_id, webhook_id) = (app_id.to_string(), webhook_id.to_string());
        self.read(move |c| {
            let ids = DeliveryIds::new(&webhook_id);
            // The state is written into the statement (one of four fixed words) so that the
            // partial index of unsettled deliveries can serve it.
            let filter = match state {
                None => String::new(),
                Some(DeliveryState::Succeeded) => "AND d.state = 'succeeded'".to_string(),
                Some(s) => format!("AND d.state != 'succeeded' AND d.state = '{}'", s.as_str()),
            };
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT d.event_seq, e.id, d.state, d.attempts, d.next_at, d.last_status, d.last_error,
                       d.created_at, d.updated_at
                     FROM webhooks w JOIN deliveries d ON d.webhook_seq = w.seq
                     LEFT JOIN events e ON e.seq = d.event_seq AND e.app_id = w.app_id
                     WHERE w.app_id = ?1 AND w.id = ?2 {filter}
                     ORDER BY d.event_seq DESC LIMIT ?3"
                ))
                .map_err(db)?;
            let rows = s
                .query_map(params![app_id, webhook_id, limit as i64], |r| {
                    let state: String = r.get(2)?;
                    let state = DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending);
                    let next_at: i64 = r.get(4)?;
                    Ok(DeliveryRecord {
                        id: ids.id(r.get(0)?).to_string(),
                        event_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        state,
                        attempts: r.get(3)?,
                        next_attempt_at: (state == DeliveryState::Pending).then_some(next_at),
                        last_status: r.get(5)?,
                        last_error: r.get(6)?,
                        created_at: r.get(7)?,
                        updated_at: r.get(8)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            Ok(rows)
        })
        .await
    }

    async fn delivery_counts(
        &self,
        app_id: &str,
        webhook_id: &str,
    ) -> Result<DeliveryCounts, StoreError> {
        let (unrecorded, waiting) = self.tracker.without_rows(app_id, webhook_id);
        let (app_id, webhook_id) = (app_id.to_string(), webhook_id.to_string());
        self.read(move |c| {
            let Some(seq) = c
                .prepare_cached("SELECT seq FROM webhooks WHERE app_id = ?1 AND id = ?2")
                .map_err(db)?
                .query_row([&app_id, &webhook_id], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?
            else {
                return Ok(DeliveryCounts::default());
            };
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM deliveries WHERE webhook_seq = ?1")
                .map_err(db)?
                .query_row([seq], |r| r.get(0))
                .map_err(db)?;
            let mut s = c
                .prepare_cached(
                    "SELECT state, COUNT(*) FROM deliveries WHERE webhook_seq = ?1 AND state != 'succeeded' GROUP BY state",
                )
                .map_err(db)?;
            // Deliveries handed out without a row yet are pending too, and so are those still
            // waiting in the log of a webhook catching up (its matching events with no row).
            let in_log: i64 = match &waiting {
                None => 0,
                Some((after, triggers)) => c
                    .prepare_cached(&format!(
                        "SELECT COUNT(*) FROM events e WHERE e.seq > ?2 AND e.app_id = ?1
                           AND {}
                           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_seq = ?3 AND d.event_seq = e.seq)",
                        matches_triggers("?4")
                    ))
                    .map_err(db)?
                    .query_row(
                        params![app_id, after, seq, serde_json::to_string(triggers).unwrap_or_default()],
                        |r| r.get(0),
                    )
                    .map_err(db)?,
            };
            let mut counts = DeliveryCounts {
                pending: unrecorded as u64 + in_log as u64,
                ..DeliveryCounts::default()
            };
            let rows = s
                .query_map([seq], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
                .map_err(db)?;
            let mut unsettled = 0;
            for row in rows {
                let (state, n) = row.map_err(db)?;
                unsettled += n;
                match DeliveryState::parse(&state) {
                    Some(DeliveryState::Pending) => counts.pending += n,
                    Some(DeliveryState::Failed) => counts.failed = n,
                    Some(DeliveryState::Skipped) => counts.skipped = n,
                    Some(DeliveryState::Succeeded) | None => {}
                }
            }
            counts.succeeded = (total as u64).saturating_sub(unsettled);
            Ok(counts)
        })
        .await
    }

    async fn replay(
        &self,
        app_id: &str,
        webhook_id: &str,
        event_seq: Option<i64>,
        now: Millis,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let (app_id, webhook_id) = (app_id.to_string(), webhook_id.to_string());
        self.call(move |c| {
            changed(
                c,
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?4, locked_until = 0, updated_at = ?4
                 WHERE (webhook_seq, event_seq) IN (SELECT webhook_seq, event_seq FROM deliveries
                   WHERE webhook_seq = (SELECT seq FROM webhooks WHERE app_id = ?1 AND id = ?2)
                     AND (?3 IS NULL OR event_seq = ?3)
                     AND state != 'succeeded' AND state IN ('failed', 'skipped') LIMIT ?5)",
                params![app_id, webhook_id, event_seq, now, limit as i64],
            )
        })
        .await
    }

    async fn stats(
        &self,
        webhook_id: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteStats>, StoreError> {
        let webhook_id = webhook_id.to_string();
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT minute, counts, latency FROM stats_minute
                     WHERE webhook_id = ?1 AND minute >= ?2 AND minute < ?3 ORDER BY minute",
                )
                .map_err(db)?;
            let rows = s
                .query_map(params![webhook_id, from_minute, to_minute], |r| {
                    let counts: String = r.get(1)?;
                    let latency: String = r.get(2)?;
                    let parsed = parse_counts(&counts, Outcome::ALL.len());
                    let mut arr = [0u64; 6];
                    arr.copy_from_slice(&parsed[..6]);
                    Ok(MinuteStats {
                        minute: r.get(0)?,
                        counts: arr,
                        latency: parse_counts(&latency, LATENCY_BUCKETS),
                    })
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            Ok(rows)
        })
        .await
    }

    async fn logs(
        &self,
        webhook_id: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let webhook_id = webhook_id.to_string();
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT id, delivery_id, event_id, attempt, at, duration_us, outcome, status, error_code, request, response
                     FROM attempt_logs WHERE webhook_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                )
                .map_err(db)?;
            let rows = s
                .query_map(params![webhook_id, before, limit as i64], |r| {
                    let request: String = r.get(9)?;
                    let response: String = r.get(10)?;
                    Ok(LogRecord {
                        id: r.get(0)?,
                        delivery_id: r.get(1)?,
                        event_id: r.get(2)?,
                        attempt: r.get(3)?,
                        at: r.get(4)?,
                        duration_ms: r.get::<_, i64>(5)? as f64 / 1000.0,
                        outcome: r.get(6)?,
                        status: r.get(7)?,
                        error_code: r.get(8)?,
                        request: serde_json::from_str(&request).unwrap_or_default(),
                        response: serde_json::from_str(&response).unwrap_or_default(),
                    })
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            Ok(rows)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.db"), true)
            .await
            .unwrap();
        (dir, s)
    }

    use crate::store::conformance::{self, append, event, room, webhook};

    /// The conformance suite (`store::conformance`), each test on a fresh store.
    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                let (_d, s) = store().await;
                conformance::$name(&s).await;
            }
        )*};
    }

    conformance!(
        append_numbers_events_once_per_id_and_lease_takes_each_delivery_once,
        deliveries_go_to_the_caller_within_its_room_and_the_rest_wait,
        a_first_attempt_creates_the_row_and_later_ones_update_it,
        a_deleted_webhook_keeps_its_number_and_late_attempts_record_nothing,
        retention_deletes_what_is_old_and_settled_and_keeps_pending_deliveries,
        replay_goes_in_chunks_of_failed_and_skipped_deliveries,
        erasure_keeps_numbers_and_late_attempts_of_erased_events_record_nothing,
        apps_keep_their_origins_and_replaced_keys_expire,
        in_order_leases_stop_at_the_first_delivery_not_due,
        recent_events_are_the_apps_of_those_kinds_newest_first,
    );

    #[tokio::test]
    async fn the_age_cut_off_is_found_by_a_search_over_the_log() {
        let (_d, s) = store().await;
        append(&s, "a", (1..=4).map(|n| event(n, &[])).collect(), 60_000).await;
        append(&s, "a", vec![event(5, &[])], 20 * 60_000).await;
        assert_eq!(last_seq_before_of(&s, 60_000).await, 0);
        assert_eq!(last_seq_before_of(&s, 60_001).await, 4);
        assert_eq!(last_seq_before_of(&s, 20 * 60_000).await, 4);
        assert_eq!(last_seq_before_of(&s, i64::MAX).await, 5);
    }

    async fn cursor_of(s: &SqliteStore, seq: i64) -> i64 {
        s.call(move |c| {
            c.query_row("SELECT cursor FROM webhooks WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .map_err(db)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn deliveries_handed_out_at_a_crash_are_read_from_the_log_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.db");
        let s = SqliteStore::open(&path, true).await.unwrap();
        let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
        let taken = [(w1, true)];
        let appended = s
            .append_events(
                "a",
                (1..=3).map(|n| event(n, &taken)).collect(),
                room(&[w1], 3),
                10,
            )
            .await
            .unwrap();
        assert!(appended.events.iter().all(|e| e.handed == [w1]));
        // Handed out without rows; the first one's attempt is recorded, then the process stops.
        let first = crate::store::AttemptRecord {
            outcome: Outcome::Success,
            ..conformance::attempt("w1", w1, 1, Next::Succeeded)
        };
        s.record_attempts(Arc::new(vec![first])).await.unwrap();
        assert_eq!(cursor_of(&s, w1).await, 0);
        assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 2);
        drop(s);
        let s = SqliteStore::open(&path, true).await.unwrap();
        // Counted pending again only once read (they have no row).
        let leased = s.lease(vec![(w1, 10)], 20, 5_000).await.unwrap();
        assert_eq!(
            leased
                .iter()
                .map(|l| (l.event_seq, l.lease_until, l.created_at))
                .collect::<Vec<_>>(),
            [(2, None, 10), (3, None, 10)]
        );
        assert!(s.lease(vec![(w1, 10)], 20, 5_000).await.unwrap().is_empty());
        let done: Vec<_> = [2, 3]
            .into_iter()
            .map(|n| crate::store::AttemptRecord {
                outcome: Outcome::Success,
                ..conformance::attempt("w1", w1, n, Next::Succeeded)
            })
            .collect();
        s.record_attempts(Arc::new(done)).await.unwrap();
        // The quiet call saves the cursor past them: the next start reads nothing again.
        s.record_attempts(Arc::default()).await.unwrap();
        assert_eq!(cursor_of(&s, w1).await, 3);
        drop(s);
        let s = SqliteStore::open(&path, true).await.unwrap();
        assert!(s.lease(vec![(w1, 10)], 20, 5_000).await.unwrap().is_empty());
        assert_eq!(s.delivery_counts("a", "w1").await.unwrap().succeeded, 3);
    }

    #[tokio::test]
    async fn retention_keeps_settled_rows_past_a_cursor_so_nothing_is_sent_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.db");
        let s = SqliteStore::open(&path, true).await.unwrap();
        let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
        let taken = [(w1, true)];
        s.append_events(
            "a",
            (1..=3).map(|n| event(n, &taken)).collect(),
            room(&[w1], 3),
            10,
        )
        .await
        .unwrap();
        // e2 is delivered long ago; e1 and e3 are still in memory when the process stops.
        let e2 = crate::store::AttemptRecord {
            outcome: Outcome::Success,
            at: 60_000,
            ..conformance::attempt("w1", w1, 2, Next::Succeeded)
        };
        s.record_attempts(Arc::new(vec![e2])).await.unwrap();
        while s.purge_before(i64::MAX, 100).await.unwrap() > 0 {}
        drop(s);
        let s = SqliteStore::open(&path, true).await.unwrap();
        let leased = s.lease(vec![(w1, 10)], 20, 5_000).await.unwrap();
        let seqs: Vec<i64> = leased.iter().map(|l| l.event_seq).collect();
        assert_eq!(seqs, [1, 3], "a delivered event is read from the log again");
    }

    #[tokio::test]
    async fn a_disabled_webhook_behind_the_log_gets_held_rows_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.db");
        let s = SqliteStore::open(&path, true).await.unwrap();
        let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
        s.append_events(
            "a",
            (1..=2).map(|n| event(n, &[(w1, true)])).collect(),
            room(&[w1], 2),
            10,
        )
        .await
        .unwrap();
        s.set_webhook_enabled("a", "w1", false, Some("test".into()), 20)
            .await
            .unwrap();
        drop(s);
        let s = SqliteStore::open(&path, true).await.unwrap();
        let rows = s
            .deliveries("a", "w1", Some(DeliveryState::Pending), 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        // Its cursor is past them: retention of its app's events is not held back.
        assert_eq!(cursor_of(&s, w1).await, 2);
        s.set_webhook_enabled("a", "w1", true, None, 30)
            .await
            .unwrap();
        assert_eq!(
            s.lease(vec![(w1, 10)], now_ms(), now_ms() + 5_000)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn a_webhook_whose_triggers_match_few_events_catches_up_in_one_lease() {
        let (_d, s) = store().await;
        let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
        let other = |n| NewEvent {
            kind: "other".into(),
            ..event(n, &[])
        };
        append(&s, "a", vec![event(1, &[(w1, true)])], 10).await;
        append(&s, "a", (2..=3_000).map(other).collect(), 10).await;
        append(&s, "a", vec![event(3_001, &[(w1, true)])], 10).await;
        let leased = s.lease(vec![(w1, 10)], 20, 5_000).await.unwrap();
        assert_eq!(leased.len(), 2);
        // Read to the end: the next delivery is handed out at once.
        let next = s
            .append_events("a", vec![event(3_002, &[(w1, true)])], room(&[w1], 5), 10)
            .await
            .unwrap();
        assert_eq!(next.events[0].handed, [w1]);
    }

    #[tokio::test]
    async fn a_webhook_catching_up_reads_matching_events_of_its_app_in_order() {
        let (_d, s) = store().await;
        let w1 = s.create_webhook(webhook("w1", "a")).await.unwrap();
        let taken = [(w1, true)];
        // No room: w1 catches up from the log, and keeps doing so while there is more to read.
        append(&s, "a", vec![event(1, &taken), event(2, &taken)], 10).await;
        let mut other = event(3, &[]);
        other.kind = "other".into();
        append(&s, "a", vec![other], 10).await;
        append(&s, "b", vec![event(4, &taken)], 10).await;
        let more = s
            .append_events("a", vec![event(5, &taken)], room(&[w1], 5), 10)
            .await
            .unwrap();
        assert!(
            more.events[0].handed.is_empty(),
            "behind the log: not handed"
        );
        let first = s.lease(vec![(w1, 2)], 20, 5_000).await.unwrap();
        let rest = s.lease(vec![(w1, 10)], 20, 5_000).await.unwrap();
        let ids = |l: &[LeasedDelivery]| l.iter().map(|d| d.event_id.clone()).collect::<Vec<_>>();
        assert_eq!(
            (ids(&first), ids(&rest)),
            (vec!["e1".into(), "e2".into()], vec!["e5".to_string()])
        );
        // Caught up: the next delivery is handed out at once.
        let next = s
            .append_events("a", vec![event(6, &taken)], room(&[w1], 5), 10)
            .await
            .unwrap();
        assert_eq!(next.events[0].handed, [w1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_failing_operation_fails_no_other_of_its_group() {
        let (_d, s) = store().await;
        let s = Arc::new(s);
        let app = |id: &str| AppRecord {
            id: id.into(),
            name: id.into(),
            created_at: 1,
            bridge_origins: Vec::new(),
        };
        s.create_app(app("a"), "hash-a".into()).await.unwrap();
        // Holds the store thread while the rest queue up, so that they form one group.
        let plug = {
            let s = s.clone();
            tokio::spawn(async move {
                s.call(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let ingests: Vec<_> = (1..=40)
            .map(|seq| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.append_events("a", vec![event(seq, &[])], Room::default(), 1_000)
                        .await
                })
            })
            .collect();
        // The same key hash again: refused by the unique index.
        let clash = s.create_app(app("b"), "hash-a".into()).await;
        plug.await.unwrap().unwrap();
        assert!(
            matches!(&clash, Err(StoreError::Database(m)) if m.contains("UNIQUE")),
            "{clash:?}"
        );
        for ingest in ingests {
            assert!(ingest.await.unwrap().unwrap().events[0].new);
        }
        assert_eq!(s.last_event_seq().await.unwrap(), 40);
        assert_eq!(s.list_apps().await.unwrap().len(), 1);
    }

    async fn last_seq_before_of(s: &SqliteStore, before: Millis) -> i64 {
        s.call(move |c| last_seq_before(c, before)).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_sustained_writes_and_is_emptied_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let settings = Checkpoints {
            pages: 64,
            restart_factor: 2,
            idle: std::time::Duration::from_millis(500),
        };
        let s = Arc::new(
            SqliteStore::open_with(&path, false, settings)
                .await
                .unwrap(),
        );
        let wal = dir.path().join("wal.db-wal");
        let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        // Four writers without a pause, each event 1 kB, until the events would fill the bound
        // four times over (a count, not a time: the machine may be busy).
        let bound = 16 * 64 * 4096;
        let target = 4 * bound as i64 / 1000;
        let next = Arc::new(std::sync::atomic::AtomicI64::new(1));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (s, next) = (s.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let seq = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seq > target {
                            return;
                        }
                        let mut e = event(seq, &[]);
                        e.body = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
                        s.append_events("a", vec![e], Room::default(), 1)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut largest = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            largest = largest.max(wal_size());
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for w in writers {
            w.await.unwrap();
        }
        // Bounded near the restart level (128 pages), plus what is written while a checkpoint
        // beside the writer finishes; without the writer's own checkpoints the WAL grows by some
        // 4 kB per event here (80 MB for a two-second run, measured).
        assert!(
            largest <= bound,
            "the WAL reached {largest} bytes (bound {bound}) after {target} events"
        );
        // Idle: emptied.
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        assert_eq!(wal_size(), 0);
    }

    #[test]
    fn rows_go_in_few_statement_sizes() {
        let sizes = |n: usize| {
            row_chunks(&vec![0; n])
                .map(<[i32]>::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(100), vec![32, 32, 32, 4]);
        assert_eq!(sizes(31), vec![16, 8, 4, 2, 1]);
    }

    #[test]
    fn delivery_ids_round_trip_and_belong_to_one_webhook() {
        let a = DeliveryIds::new("wh_a");
        let id = a.id(1_234_567).to_string();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 8);
        assert_eq!(a.event_seq(&id), Some(1_234_567));
        assert_eq!(a.id(1_234_567).to_string(), id);
        assert_eq!(DeliveryIds::new("wh_b").event_seq(&id), None);
        assert_eq!(a.event_seq("not-an-id"), None);
        assert_ne!(a.id(1), a.id(2));
    }

    /// Schema 1, as the first release wrote it.
    const SCHEMA_V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE apps (id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE webhooks (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, spec TEXT NOT NULL, enabled INTEGER NOT NULL,
    disabled_reason TEXT, disabled_at INTEGER, consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX webhooks_app ON webhooks (app_id);
CREATE TABLE events (app_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
    received_at INTEGER NOT NULL, UNIQUE (app_id, id));
CREATE TABLE deliveries (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, webhook_id TEXT NOT NULL, event_id TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX deliveries_queue ON deliveries (webhook_id, state, next_at);
CREATE TABLE stats_minute (webhook_id TEXT NOT NULL, minute INTEGER NOT NULL, counts TEXT NOT NULL, latency TEXT NOT NULL,
    PRIMARY KEY (webhook_id, minute)) WITHOUT ROWID;
CREATE TABLE attempt_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, delivery_id TEXT NOT NULL,
    event_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL, duration_us INTEGER NOT NULL,
    outcome TEXT NOT NULL, status INTEGER, error_code TEXT NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL);
INSERT INTO webhooks VALUES ('w1', 'a', '{"name":"w1"}', 1, NULL, NULL, 0, 1, 1);
INSERT INTO events VALUES ('a', 'e1', 'k', '{"id":"e1"}', 10);
INSERT INTO events VALUES ('a', 'e2', 'k', '{"id":"e2"}', 20);
INSERT INTO deliveries VALUES ('d1', 'a', 'w1', 'e1', 'succeeded', 1, 10, 0, 200, 'ok', 10, 11);
INSERT INTO deliveries VALUES ('d2', 'a', 'w1', 'e2', 'pending', 1, 500, 0, 500, 'http_status', 20, 21);
"#;

    /// Schema 2: webhook numbers could be reused. Webhook 3 was deleted, but a late attempt left a
    /// row of it.
    const SCHEMA_V2_TAIL: &str = r#"
PRAGMA user_version = 2;
INSERT INTO webhooks (seq, id, app_id, spec, enabled, cursor, created_at, updated_at)
    VALUES (1, 'w1', 'a', '{"name":"w1"}', 1, 2, 1, 1), (2, 'w2', 'a', '{"name":"w2"}', 1, 2, 1, 1);
INSERT INTO events VALUES (1, 'a', 'e1', 'k', '{"id":"e1"}', 10), (2, 'a', 'e2', 'k', '{"id":"e2"}', 20);
INSERT INTO deliveries (webhook_seq, event_seq, state, attempts, next_at, created_at, updated_at)
    VALUES (1, 1, 'pending', 1, 500, 10, 10), (3, 2, 'pending', 1, 500, 20, 20);
INSERT INTO stats_minute VALUES ('w3', 1, '0,0,1,0,0,0', '');
"#;

    /// Schema 4 is schema 5 without the webhooks' signing keys.
    fn schema_4() -> String {
        let v4 = SCHEMA.replace(", signing TEXT NOT NULL DEFAULT '[]')", ")");
        assert_ne!(v4, SCHEMA);
        v4
    }

    /// Schema 3 is schema 4 without the bridge origins of apps (and the retired keys' table,
    /// which the migration creates anyway).
    fn schema_3() -> String {
        let v4 = schema_4();
        let v3 = v4.replace(",\n    bridge_origins TEXT NOT NULL DEFAULT '[]')", ")");
        assert_ne!(v3, v4);
        v3
    }

    #[tokio::test]
    async fn a_schema_4_database_is_migrated_and_its_webhooks_get_signing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "{}PRAGMA user_version = 4;
                 INSERT INTO webhooks (id, app_id, spec, enabled, created_at, updated_at)
                     VALUES ('w1', 'a', '{{\"name\":\"w1\"}}', 1, 1, 1);",
                schema_4()
            ))
            .unwrap();
        let s = SqliteStore::open(&path, true).await.unwrap();
        let w = s.get_webhook("a", "w1").await.unwrap().unwrap();
        assert_eq!(w.signing, "[]", "none yet: the server makes one at start");
        assert!(
            s.set_webhook_signing("a", "w1", "[1]".into())
                .await
                .unwrap()
        );
        assert!(
            !s.set_webhook_signing("b", "w1", "[2]".into())
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_webhook("a", "w1").await.unwrap().unwrap().signing,
            "[1]"
        );
    }

    #[tokio::test]
    async fn a_schema_3_database_is_migrated_with_its_apps_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "{}PRAGMA user_version = 3;
                 INSERT INTO apps (id, name, key_hash, created_at) VALUES ('a', 'A', 'hash-a', 1);",
                schema_3()
            ))
            .unwrap();
        let s = SqliteStore::open(&path, true).await.unwrap();
        let app = s.get_app("a").await.unwrap().unwrap();
        assert!(app.bridge_origins.is_empty());
        let keys = s.app_keys().await.unwrap();
        assert_eq!(
            (keys[0].hash.as_str(), keys[0].expires_at),
            ("hash-a", None)
        );
        s.update_app("a", None, Some(vec!["https://a.test".into()]))
            .await
            .unwrap();
        assert_eq!(
            s.list_apps().await.unwrap()[0].bridge_origins,
            ["https://a.test"]
        );
    }

    #[tokio::test]
    async fn a_schema_2_database_is_migrated_and_never_reuses_a_webhook_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        // Schema 2 is schema 3 but for AUTOINCREMENT on webhooks.
        let v2 = schema_3().replace(
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT",
            "seq INTEGER PRIMARY KEY, id TEXT",
        );
        assert_ne!(v2, schema_3());
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("{v2}{SCHEMA_V2_TAIL}"))
            .unwrap();
        let s = SqliteStore::open(&path, true).await.unwrap();
        let w = s.get_webhook("a", "w1").await.unwrap().unwrap();
        assert_eq!((w.seq, cursor_of(&s, 1).await), (1, 2));
        // The deleted webhook's row is gone, and its number is not given again.
        assert_eq!(s.create_webhook(webhook("w4", "b")).await.unwrap(), 4);
        let leased = s
            .lease(vec![(1, 10), (3, 10), (4, 10)], 1_000, 5_000)
            .await
            .unwrap();
        assert_eq!(
            leased
                .iter()
                .map(|l| (l.webhook_seq, l.event_seq))
                .collect::<Vec<_>>(),
            vec![(1, 1)]
        );
        assert!(s.stats("w3", 0, 10).await.unwrap().is_empty());
        drop(s);
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn a_schema_1_database_is_migrated_with_its_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(SCHEMA_V1)
            .unwrap();
        let s = SqliteStore::open(&path, true).await.unwrap();
        let w = s.get_webhook("a", "w1").await.unwrap().unwrap();
        assert_eq!((w.seq, cursor_of(&s, 1).await), (1, 2));
        assert_eq!(s.last_event_seq().await.unwrap(), 2);
        let rows = s.deliveries("a", "w1", None, 10).await.unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.event_id.as_str(), r.state))
                .collect::<Vec<_>>(),
            vec![
                ("e2", DeliveryState::Pending),
                ("e1", DeliveryState::Succeeded)
            ]
        );
        let leased = s.lease(vec![(w.seq, 10)], 1_000, 5_000).await.unwrap();
        assert_eq!(leased.len(), 1);
        assert_eq!((leased[0].event_id.as_str(), leased[0].attempts), ("e2", 1));
        drop(s);
        // Opening it again changes nothing.
        let s = SqliteStore::open(&path, true).await.unwrap();
        assert_eq!(s.deliveries("a", "w1", None, 10).await.unwrap().len(), 2);
    }
}
