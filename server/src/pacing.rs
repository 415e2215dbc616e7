//! A webhook's own limits on what it sends: at most `rate_limit.requests` requests a second or a
//! minute (evenly spaced), at most `max_in_flight` at once, and a pause when its receiver answers
//! `429` or `503` with `Retry-After`. They hold across all of the webhook's work (new deliveries,
//! retries, replays, catch-up after a re-enable), because all of it leaves through the webhook's
//! one dispatch loop (see `worker::spawn`): what exceeds them waits there, in order, and is
//! neither dropped nor counted as a failure. Test sends are outside the queue and not limited.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A webhook's limits, as its definition sets them (see `WebhookSpec::rate_limit`,
/// `max_in_flight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The least time between two requests' starts (none: no rate limit).
    pub interval: Option<Duration>,
    /// Requests under way at most.
    pub max_in_flight: usize,
}

/// Waits of first attempts kept for stats.
const WAITS_KEPT: usize = 1024;

/// A webhook's pacing state.
#[derive(Debug, Default)]
pub struct Pacer {
    in_flight: AtomicUsize,
    freed: Notify,
    /// When the next request may start under the rate limit.
    next_start: Mutex<Option<Instant>>,
    /// Until when the receiver asked for nothing more (`Retry-After` on a 429 or 503).
    paused_until: Mutex<Option<Instant>>,
    /// How long recent first attempts waited between their event's arrival and their start,
    /// in milliseconds, oldest first.
    waits: Mutex<VecDeque<u64>>,
}

/// A request under way: counts against `max_in_flight` until dropped (when the receiver has
/// answered).
pub struct InFlight(Arc<Pacer>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify_one();
    }
}

/// Recent waits: how many, and their median, 99th percentile and longest, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Waits {
    pub count: usize,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

impl Pacer {
    /// Waits until one more request may start under `limits()` (read again after each wait, so
    /// an edit applies at once), then counts it in flight. `None` when `cancelled` first. One
    /// caller at a time: the webhook's dispatch loop.
    pub async fn admit(
        self: &Arc<Self>,
        limits: impl Fn() -> Limits,
        cancelled: &CancellationToken,
    ) -> Option<InFlight> {
        loop {
            let paused = *lock(&self.paused_until);
            if let Some(until) = paused.filter(|u| *u > Instant::now()) {
                if !sleep_until(until, cancelled).await {
                    return None;
                }
                continue;
            }
            let limits = limits();
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) >= limits.max_in_flight.max(1) {
                tokio::select! {
                    () = freed => continue,
                    () = cancelled.cancelled() => return None,
                }
            }
            if let Some(interval) = limits.interval {
                let now = Instant::now();
                let start = {
                    let mut next = lock(&self.next_start);
                    // Anchored to the schedule, not to when this loop woke (a timer fires a little
                    // late, which would slow every interval), with at most one interval of
                    // catch-up after a pause: any window of the period holds at most the rate and
                    // two more.
                    let start =
                        next.map_or(now, |n| n.max(now.checked_sub(interval).unwrap_or(now)));
                    if start <= now {
                        *next = Some(start + interval);
                    }
                    start
                };
                if start > now {
                    if !sleep_until(start, cancelled).await {
                        return None;
                    }
                    continue;
                }
            }
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            return Some(InFlight(self.clone()));
        }
    }

    /// The receiver asked for nothing more for `wait`: no request of the webhook starts before.
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = lock(&self.paused_until);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Requests under way now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Notes how long a first attempt waited to start.
    pub fn waited(&self, millis: u64) {
        let mut waits = lock(&self.waits);
        if waits.len() == WAITS_KEPT {
            waits.pop_front();
        }
        waits.push_back(millis);
    }

    /// The recent waits of first attempts (see [`Pacer::waited`]).
    pub fn waits(&self) -> Waits {
        let mut sorted: Vec<u64> = lock(&self.waits).iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| {
            (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize])
        };
        Waits {
            count: sorted.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: sorted.last().copied(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sleeps until `at`; false when `cancelled` first.
async fn sleep_until(at: Instant, cancelled: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(at) => true,
        () = cancelled.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(interval_ms: Option<u64>, max_in_flight: usize) -> impl Fn() -> Limits {
        move || Limits {
            interval: interval_ms.map(Duration::from_millis),
            max_in_flight,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_rate() {
        let pacer = Arc::new(Pacer::default());
        let never = CancellationToken::new();
        let started = Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            drop(pacer.admit(limits(Some(100), 10), &never).await.unwrap());
            at.push(started.elapsed().as_millis());
        }
        assert_eq!(at, [0, 100, 200, 300, 400]);
        // Late to its turn: the schedule holds (no drift), and after a long pause at most one
        // request more goes at once.
        tokio::time::sleep(Duration::from_millis(1130)).await;
        for _ in 0..3 {
            drop(pacer.admit(limits(Some(100), 10), &never).await.unwrap());
            at.push(started.elapsed().as_millis());
        }
        assert_eq!(at[5..], [1530, 1530, 1630]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_in_flight_start() {
        let pacer = Arc::new(Pacer::default());
        let never = CancellationToken::new();
        let a = pacer.admit(limits(None, 2), &never).await.unwrap();
        let _b = pacer.admit(limits(None, 2), &never).await.unwrap();
        assert_eq!(pacer.in_flight(), 2);
        let third = pacer.admit(limits(None, 2), &never);
        tokio::pin!(third);
        assert!(
            tokio::time::timeout(Duration::from_secs(60), third.as_mut())
                .await
                .is_err()
        );
        drop(a);
        let c = third.await;
        assert!(c.is_some());
        assert_eq!(pacer.in_flight(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_start_and_cancelling_ends_the_wait() {
        let pacer = Arc::new(Pacer::default());
        let never = CancellationToken::new();
        pacer.pause(Duration::from_secs(3));
        let started = Instant::now();
        drop(pacer.admit(limits(None, 10), &never).await.unwrap());
        assert_eq!(started.elapsed().as_secs(), 3);
        pacer.pause(Duration::from_secs(30));
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        assert!(pacer.admit(limits(None, 10), &cancelled).await.is_none());
    }

    #[test]
    fn waits_summarize_the_recent_ones() {
        let pacer = Pacer::default();
        assert_eq!(pacer.waits(), Waits::default());
        for ms in 1..=100 {
            pacer.waited(ms);
        }
        let w = pacer.waits();
        assert_eq!(
            (w.count, w.p50, w.p99, w.max),
            (100, Some(51), Some(99), Some(100))
        );
    }
}
