//! Long store operations in small chunks, each one store operation, so that ingest never waits
//! behind them: retention (old data deleted in the background), what a deleted app or webhook
//! left, one user's events erased on request, and replaying all of a webhook's deliveries.

use std::sync::Arc;
use std::time::Duration;

use crate::config::RetentionConfig;
use crate::store::{Leftovers, PurgeStep, Store, StoreError, now_ms};

/// Rows of each kind per chunk: a chunk costs a few milliseconds inside a group commit.
pub const CHUNK: usize = 500;

/// Event numbers scanned per chunk of an erasure (a range of the log, read by its primary key).
const ERASE_SPAN: i64 = 5_000;

/// Deletes everything a deleted app or webhook left, a chunk at a time; returns what it deleted.
pub async fn purge_deleted(
    store: &dyn Store,
    leftovers: Leftovers,
) -> Result<PurgeStep, StoreError> {
    let mut total = PurgeStep::default();
    let mut after = 0;
    loop {
        let step = store.purge_deleted(leftovers.clone(), after, CHUNK).await?;
        total.add(&step);
        if step.done {
            return Ok(total);
        }
        after = step.next;
        tokio::task::yield_now().await;
    }
}

/// Deletes the app's events of one user (`external_id`), with their deliveries and the logs
/// that show them, a range of the log at a time; returns what it deleted.
pub async fn erase(
    store: &dyn Store,
    app_id: &str,
    external_id: &str,
) -> Result<PurgeStep, StoreError> {
    let mut total = PurgeStep::default();
    let mut after = 0;
    loop {
        let step = store
            .erase_external_id(app_id, external_id, after, ERASE_SPAN)
            .await?;
        total.add(&step);
        if step.done {
            return Ok(total);
        }
        after = step.next;
        tokio::task::yield_now().await;
    }
}

/// Makes every failed and skipped delivery of a webhook pending again, a chunk at a time;
/// returns how many.
pub async fn replay_all(
    store: &dyn Store,
    app_id: &str,
    webhook_id: &str,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = store
            .replay(app_id, webhook_id, None, now_ms(), CHUNK)
            .await?;
        total += n;
        if n < CHUNK as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The retention job: every `interval`, deletes what is older than `max_age`, a chunk at a time,
/// until nothing is left to delete. Runs until the task is aborted; `max_age` 0 keeps everything.
pub async fn run(store: Arc<dyn Store>, config: RetentionConfig) {
    if config.max_age.is_zero() {
        return;
    }
    loop {
        tokio::time::sleep(config.interval).await;
        let before = now_ms() - config.max_age.as_millis() as i64;
        let mut deleted = 0;
        loop {
            match store.purge_before(before, CHUNK).await {
                Ok(0) => break,
                Ok(rows) => {
                    deleted += rows;
                    // Leaves the store to the other callers between chunks.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention: deleting old data failed; trying at the next interval");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(rows = deleted, max_age = ?config.max_age, "retention: deleted data past its age");
        }
    }
}
