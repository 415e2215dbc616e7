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

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::*;
use crate::stats::{LATENCY_BUCKETS, latency_bucket};

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Op = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// The `stats_minute` row that holds a webhook's all-time totals.
pub const ALL_TIME_MINUTE: i64 = -1;

/// Most operations committed together.
const MAX_GROUP: usize = 512;

/// WAL pages (4 KiB) after which a checkpoint is asked for: rarely enough that the checkpoint's
/// fsync of the database file seldom lands next to a commit's.
const CHECKPOINT_PAGES: i32 = 8192;

pub struct SqliteStore {
    ops: mpsc::Sender<Op>,
    checkpoint: Arc<CheckpointSignal>,
}

/// Wakes the checkpoint thread: `(due, closed)`.
#[derive(Default)]
struct CheckpointSignal {
    state: Mutex<(bool, bool)>,
    wake: Condvar,
}

impl CheckpointSignal {
    fn set(&self, due: bool, closed: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.0 |= due;
            s.1 |= closed;
        }
        self.wake.notify_one();
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpoint.set(false, true);
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, spec TEXT NOT NULL, enabled INTEGER NOT NULL,
    disabled_reason TEXT, disabled_at INTEGER, consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS webhooks_app ON webhooks (app_id);
-- Events are appended in arrival order (rowid); producers' ids are often random, so only the
-- small unique index is written at random places, not the bodies.
CREATE TABLE IF NOT EXISTS events (
    app_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
    received_at INTEGER NOT NULL, UNIQUE (app_id, id));
-- Delivery ids are time-ordered (UUID v7), so a burst of inserts and updates touches few pages.
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, webhook_id TEXT NOT NULL, event_id TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries (webhook_id, state, next_at);
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

impl SqliteStore {
    pub async fn open(path: &Path, sync_commits: bool) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        let checkpoint_path = path.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (ops, rx) = mpsc::channel::<Op>();
        let checkpoint = Arc::new(CheckpointSignal::default());
        let signal = checkpoint.clone();
        std::thread::Builder::new()
            .name("hookline-store".into())
            .spawn(move || {
                let opened = open_connection(&path, sync_commits).and_then(|mut conn| {
                    // Called after each commit with the WAL's size; asks for a checkpoint.
                    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                        if pages >= CHECKPOINT_PAGES {
                            signal.set(true, false);
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
                run(conn, rx);
            })
            .map_err(|e| StoreError::Database(format!("cannot start the store thread: {e}")))?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        let signal = checkpoint.clone();
        std::thread::Builder::new()
            .name("hookline-checkpoint".into())
            .spawn(move || checkpoints(&checkpoint_path, &signal))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(SqliteStore { ops, checkpoint })
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let _ = tx.send(result.and_then(|value| commit.map(|()| value)));
            });
            (ok, reply)
        });
        self.ops.send(op).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn open_connection(path: &Path, sync_commits: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    let synchronous = if sync_commits { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF;
         PRAGMA busy_timeout = 5000; PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = 0;"
    ))
    .map_err(db)?;
    conn.execute_batch(SCHEMA).map_err(db)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The checkpoint thread: a passive checkpoint (it never blocks the writer) when the WAL has
/// grown past `CHECKPOINT_PAGES`, or after a minute of quiet, until the store is dropped.
fn checkpoints(path: &Path, signal: &CheckpointSignal) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    let _ = conn.execute_batch("PRAGMA busy_timeout = 1000;");
    loop {
        let Ok(state) = signal.state.lock() else {
            return;
        };
        let Ok((mut state, _)) =
            signal
                .wake
                .wait_timeout_while(state, std::time::Duration::from_secs(60), |s| !s.0 && !s.1)
        else {
            return;
        };
        if state.1 {
            return;
        }
        state.0 = false;
        drop(state);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// Runs a statement without parameters through the statement cache (no parse per call).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The store thread: group commit until every sender is gone.
fn run(conn: Connection, rx: mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            // Not run: dropping an operation answers its caller with `Closed`.
            tracing::error!(error = %e, "cannot begin a transaction");
            drop(batch);
            continue;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut failed = false;
        for op in batch {
            let (ok, reply) = op(&conn);
            failed |= !ok;
            replies.push(reply);
        }
        // No savepoint per operation (SQLite would copy every page an operation first touches):
        // an operation that fails (an I/O error, a full disk; none fails on valid input) rolls the
        // whole group back, and every caller of the group gets an error, so nothing is
        // acknowledged that is not on disk.
        let commit = if failed {
            Err(StoreError::Database(
                "an operation in the same commit failed; nothing was stored".into(),
            ))
        } else {
            exec(&conn, "COMMIT").map_err(db)
        };
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Database(e.to_string())),
            });
        }
    }
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
    })
}

const WEBHOOK_COLUMNS: &str =
    "id, app_id, spec, enabled, disabled_reason, disabled_at, created_at, updated_at";

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
    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.call(move |c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
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
                [key, value],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn create_app(&self, app: AppRecord, key_hash: String) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO apps (id, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![app.id, app.name, key_hash, app.created_at],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.call(|c| {
            let mut s = c
                .prepare_cached("SELECT id, name, created_at FROM apps ORDER BY created_at, id")
                .map_err(db)?;
            s.query_map([], |r| {
                Ok(AppRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)
        })
        .await
    }

    async fn app_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.call(|c| {
            let mut s = c
                .prepare_cached("SELECT key_hash, id FROM apps")
                .map_err(db)?;
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)
        })
        .await
    }

    async fn create_webhook(&self, w: WebhookRecord) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO webhooks (id, app_id, spec, enabled, disabled_reason, disabled_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    w.id,
                    w.app_id,
                    w.spec.to_string(),
                    w.enabled,
                    w.disabled_reason,
                    w.disabled_at,
                    w.created_at,
                    w.updated_at
                ],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
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
        self.call(move |c| {
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

    async fn delete_webhook(&self, app_id: &str, id: &str) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.call(move |c| {
            let n = c
                .execute(
                    "DELETE FROM webhooks WHERE app_id = ?1 AND id = ?2",
                    [&app_id, &id],
                )
                .map_err(db)?;
            if n == 1 {
                c.execute("DELETE FROM deliveries WHERE webhook_id = ?1", [&id])
                    .map_err(db)?;
                c.execute("DELETE FROM stats_minute WHERE webhook_id = ?1", [&id])
                    .map_err(db)?;
                c.execute("DELETE FROM attempt_logs WHERE webhook_id = ?1", [&id])
                    .map_err(db)?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn get_webhook(
        &self,
        app_id: &str,
        id: &str,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let (app_id, id) = (app_id.to_string(), id.to_string());
        self.call(move |c| {
            c.query_row(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = ?1 AND id = ?2"),
                [app_id, id],
                webhook_from_row,
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let app_id = app_id.to_string();
        self.call(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = ?1 ORDER BY created_at, id"
                ))
                .map_err(db)?;
            s.query_map([app_id], webhook_from_row).map_err(db)?.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn all_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        self.call(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
                ))
                .map_err(db)?;
            s.query_map([], webhook_from_row)
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)
        })
        .await
    }

    async fn ingest(
        &self,
        app_id: &str,
        events: Vec<NewEvent>,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<bool>, StoreError> {
        let app_id = app_id.to_string();
        self.call(move |c| {
            let mut event_stmt = c
                .prepare_cached(
                    "INSERT INTO events (app_id, id, kind, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                )
                .map_err(db)?;
            let mut delivery_stmt = c
                .prepare_cached(
                    "INSERT INTO deliveries (id, app_id, webhook_id, event_id, state, next_at, locked_until, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, MAX(?6, ?7), ?7, ?6, ?6)",
                )
                .map_err(db)?;
            let mut fresh = Vec::with_capacity(events.len());
            for e in events {
                let n = event_stmt.execute(params![app_id, e.id, e.kind, e.body, now]).map_err(db)?;
                fresh.push(n == 1);
                if n == 0 {
                    continue;
                }
                for d in e.deliveries {
                    let locked = if d.leased { lease_until } else { 0 };
                    delivery_stmt
                        .execute(params![d.id, app_id, d.webhook_id, e.id, d.state.as_str(), now, locked])
                        .map_err(db)?;
                }
            }
            Ok(fresh)
        })
        .await
    }

    async fn lease(
        &self,
        wants: Vec<(String, usize)>,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        self.call(move |c| {
            let mut select = c
                .prepare_cached(
                    "SELECT d.id, d.event_id, d.attempts, e.body FROM deliveries d
                     JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id
                     WHERE d.webhook_id = ?1 AND d.state = 'pending' AND d.next_at <= ?2
                     ORDER BY d.next_at LIMIT ?3",
                )
                .map_err(db)?;
            let mut lock = c
                .prepare_cached(
                    "UPDATE deliveries SET locked_until = ?2, next_at = ?2 WHERE id = ?1",
                )
                .map_err(db)?;
            let mut out = Vec::new();
            for (webhook_id, limit) in wants {
                let rows: Vec<(String, String, u32, String)> = select
                    .query_map(params![webhook_id, now, limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .map_err(db)?
                    .collect::<Result<_, _>>()
                    .map_err(db)?;
                for (id, event_id, attempts, event_body) in rows {
                    lock.execute(params![id, lease_until]).map_err(db)?;
                    out.push(LeasedDelivery {
                        id,
                        webhook_id: webhook_id.clone(),
                        event_id,
                        event_body,
                        attempts,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn release(&self, ids: Option<Vec<String>>) -> Result<(), StoreError> {
        self.call(move |c| {
            match ids {
                None => {
                    c.execute(
                        "UPDATE deliveries SET locked_until = 0, next_at = ?1 WHERE state = 'pending' AND locked_until > 0",
                        [now_ms()],
                    )
                    .map_err(db)?;
                }
                Some(ids) => {
                    let mut s = c
                        .prepare_cached("UPDATE deliveries SET locked_until = 0, next_at = ?2 WHERE id = ?1")
                        .map_err(db)?;
                    let now = now_ms();
                    for id in ids {
                        s.execute(params![id, now]).map_err(db)?;
                    }
                }
            }
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
                              WHERE d.webhook_id = w.id AND d.state = 'pending'))
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
        attempts: Vec<AttemptRecord>,
    ) -> Result<Vec<AttemptEffects>, StoreError> {
        self.call(move |c| {
            let mut update = c
                .prepare_cached(
                    "UPDATE deliveries SET state = ?2, attempts = attempts + ?3, next_at = COALESCE(?4, next_at),
                       locked_until = 0, last_status = COALESCE(?5, last_status),
                       last_error = CASE WHEN ?3 = 1 THEN ?6 ELSE last_error END, updated_at = ?7
                     WHERE id = ?1",
                )
                .map_err(db)?;
            // Per (webhook, minute): counts and latency, merged into the stored minute once.
            let mut minutes: HashMap<(&str, i64), (Vec<u64>, Vec<u64>)> = HashMap::new();
            // Per webhook: failures in a row so far, read once.
            let mut streaks: HashMap<&str, u32> = HashMap::new();
            let mut effects = Vec::with_capacity(attempts.len());
            let mut logged: Vec<&str> = Vec::new();
            for a in &attempts {
                let (state, next_at, attempts_delta) = match a.next {
                    Next::Succeeded => ("succeeded", None, 1),
                    Next::RetryAt(at) => ("pending", Some(at), 1),
                    Next::Failed => ("failed", None, 1),
                    Next::Release => ("pending", Some(a.at), 0),
                };
                update
                    .execute(params![a.delivery_id, state, attempts_delta, next_at, a.status, a.error_code, a.at])
                    .map_err(db)?;
                if a.next == Next::Release {
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
                        a.delivery_id,
                        a.event_id,
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
        .await
    }

    async fn deliveries(
        &self,
        app_id: &str,
        webhook_id: &str,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (app_id, webhook_id) = (app_id.to_string(), webhook_id.to_string());
        self.call(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT id, event_id, state, attempts, next_at, last_status, last_error, created_at, updated_at
                     FROM deliveries WHERE app_id = ?1 AND webhook_id = ?2 AND (?3 IS NULL OR state = ?3)
                     ORDER BY created_at DESC, id LIMIT ?4",
                )
                .map_err(db)?;
            let rows = s
                .query_map(params![app_id, webhook_id, state.map(|s| s.as_str()), limit as i64], |r| {
                    let state: String = r.get(2)?;
                    let state = DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending);
                    let next_at: i64 = r.get(4)?;
                    Ok(DeliveryRecord {
                        id: r.get(0)?,
                        event_id: r.get(1)?,
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
        let (app_id, webhook_id) = (app_id.to_string(), webhook_id.to_string());
        self.call(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT state, COUNT(*) FROM deliveries WHERE app_id = ?1 AND webhook_id = ?2 GROUP BY state",
                )
                .map_err(db)?;
            let mut counts = DeliveryCounts::default();
            let rows = s.query_map([app_id, webhook_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(db)?;
            for row in rows {
                let (state, n) = row.map_err(db)?;
                match DeliveryState::parse(&state) {
                    Some(DeliveryState::Pending) => counts.pending = n,
                    Some(DeliveryState::Succeeded) => counts.succeeded = n,
                    Some(DeliveryState::Failed) => counts.failed = n,
                    Some(DeliveryState::Skipped) => counts.skipped = n,
                    None => {}
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn replay(
        &self,
        app_id: &str,
        webhook_id: &str,
        delivery_id: Option<&str>,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let (app_id, webhook_id, delivery_id) = (
            app_id.to_string(),
            webhook_id.to_string(),
            delivery_id.map(String::from),
        );
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?4, locked_until = 0, updated_at = ?4
                     WHERE app_id = ?1 AND webhook_id = ?2 AND (?3 IS NULL OR id = ?3) AND state IN ('failed', 'skipped')",
                    params![app_id, webhook_id, delivery_id, now],
                )
                .map_err(db)?;
            Ok(n as u64)
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
        self.call(move |c| {
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
        self.call(move |c| {
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

    fn webhook(id: &str, app: &str) -> WebhookRecord {
        WebhookRecord {
            id: id.into(),
            app_id: app.into(),
            spec: serde_json::json!({"name": id}),
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn event(id: &str, deliveries: &[(&str, &str, bool)]) -> NewEvent {
        NewEvent {
            id: id.into(),
            kind: "k".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            deliveries: deliveries
                .iter()
                .map(|(d, w, leased)| NewDelivery {
                    id: d.to_string(),
                    webhook_id: w.to_string(),
                    state: DeliveryState::Pending,
                    leased: *leased,
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn ingest_is_idempotent_and_lease_skips_leased() {
        let (_d, s) = store().await;
        s.create_webhook(webhook("w1", "a")).await.unwrap();
        let fresh = s
            .ingest(
                "a",
                vec![
                    event("e1", &[("d1", "w1", false)]),
                    event("e2", &[("d2", "w1", true)]),
                ],
                100,
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(fresh, vec![true, true]);
        let fresh = s
            .ingest("a", vec![event("e1", &[("d3", "w1", false)])], 100, 10_000)
            .await
            .unwrap();
        assert_eq!(fresh, vec![false]);
        // Another app may use the same event id.
        assert_eq!(
            s.ingest("b", vec![event("e1", &[])], 100, 0).await.unwrap(),
            vec![true]
        );
        let leased = s.lease(vec![("w1".into(), 10)], 200, 5_000).await.unwrap();
        assert_eq!(
            leased.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            vec!["d1"]
        );
        assert!(
            s.lease(vec![("w1".into(), 10)], 300, 5_000)
                .await
                .unwrap()
                .is_empty()
        );
        s.release(None).await.unwrap();
        assert_eq!(
            s.lease(vec![("w1".into(), 10)], now_ms() + 1, 5_000)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn attempts_move_deliveries_and_count() {
        let (_d, s) = store().await;
        s.create_webhook(webhook("w1", "a")).await.unwrap();
        s.ingest("a", vec![event("e1", &[("d1", "w1", true)])], 1_000, 10_000)
            .await
            .unwrap();
        let base = AttemptRecord {
            delivery_id: "d1".into(),
            webhook_id: "w1".into(),
            event_id: "e1".into(),
            attempt: 1,
            at: 120_000,
            duration_us: 3000,
            outcome: Outcome::Server,
            status: Some(500),
            error_code: "http_status".into(),
            next: Next::RetryAt(130_000),
            log: Some(LogDetail {
                request: serde_json::json!({}),
                response: serde_json::json!({"status": 500}),
            }),
            max_logs: 10,
        };
        assert_eq!(
            s.record_attempts(vec![base.clone()]).await.unwrap()[0].consecutive_failures,
            1
        );
        assert_eq!(s.next_due().await.unwrap(), Some(130_000));
        let e = s
            .record_attempts(vec![AttemptRecord {
                attempt: 2,
                next: Next::Failed,
                ..base.clone()
            }])
            .await
            .unwrap();
        assert_eq!(e[0].consecutive_failures, 2);
        let failed = s
            .deliveries("a", "w1", Some(DeliveryState::Failed), 10)
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].attempts, 2);
        assert_eq!(s.deliveries("b", "w1", None, 10).await.unwrap().len(), 0);
        let all_time = s.stats("w1", ALL_TIME_MINUTE, 0).await.unwrap();
        assert_eq!(all_time[0].counts[Outcome::Server.index()], 2);
        let stats = s.stats("w1", 0, 10).await.unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].minute, 2);
        assert_eq!(stats[0].counts[Outcome::Server.index()], 2);
        assert_eq!(s.logs("w1", 10, None).await.unwrap().len(), 2);
        assert_eq!(s.replay("a", "w1", None, 200_000).await.unwrap(), 1);
        assert_eq!(s.delivery_counts("a", "w1").await.unwrap().pending, 1);
    }
}
