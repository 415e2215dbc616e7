//! Process-wide counters, rendered in the Prometheus text format at `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::Outcome;

/// A monotonically increasing counter.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Counter {
        Counter::new()
    }
}

pub static EVENTS_ACCEPTED: Counter = Counter::new();
pub static EVENTS_DUPLICATE: Counter = Counter::new();
pub static EVENTS_REJECTED: Counter = Counter::new();
pub static BROWSER_EVENTS: Counter = Counter::new();
pub static WEBHOOKS_AUTO_DISABLED: Counter = Counter::new();
static ATTEMPTS: [Counter; 6] = [const { Counter::new() }; 6];

/// Attempt duration buckets, in seconds (upper bounds).
const DURATION_BOUNDS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 15.0];
static DURATION_BUCKETS: [Counter; 11] = [const { Counter::new() }; 11];
static DURATION_SUM_US: Counter = Counter::new();

pub fn record_attempt(outcome: Outcome, duration: Duration) {
    ATTEMPTS[outcome.index()].add(1);
    if outcome == Outcome::Render {
        return;
    }
    let secs = duration.as_secs_f64();
    let i = DURATION_BOUNDS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(DURATION_BOUNDS.len());
    DURATION_BUCKETS[i].add(1);
    DURATION_SUM_US.add(duration.as_micros() as u64);
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "hookline_events_accepted_total",
        "Events stored (new ids).",
        EVENTS_ACCEPTED.get(),
    );
    counter(
        "hookline_events_duplicate_total",
        "Events whose id was already stored.",
        EVENTS_DUPLICATE.get(),
    );
    counter(
        "hookline_events_rejected_total",
        "Event requests refused as invalid.",
        EVENTS_REJECTED.get(),
    );
    counter(
        "hookline_browser_events_total",
        "Browser-half webhooks received by the bridge.",
        BROWSER_EVENTS.get(),
    );
    counter(
        "hookline_webhooks_auto_disabled_total",
        "Webhooks disabled by a failure rule.",
        WEBHOOKS_AUTO_DISABLED.get(),
    );
    let _ = writeln!(
        out,
        "# HELP hookline_attempts_total Delivery attempts by outcome."
    );
    let _ = writeln!(out, "# TYPE hookline_attempts_total counter");
    for o in Outcome::ALL {
        let _ = writeln!(
            out,
            "hookline_attempts_total{{outcome=\"{}\"}} {}",
            o.as_str(),
            ATTEMPTS[o.index()].get()
        );
    }
    let _ = writeln!(
        out,
        "# HELP hookline_attempt_duration_seconds Time from sending a request to the end of its response."
    );
    let _ = writeln!(out, "# TYPE hookline_attempt_duration_seconds histogram");
    let mut cumulative = 0;
    for (i, bound) in DURATION_BOUNDS.iter().enumerate() {
        cumulative += DURATION_BUCKETS[i].get();
        let _ = writeln!(
            out,
            "hookline_attempt_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += DURATION_BUCKETS[DURATION_BOUNDS.len()].get();
    let _ = writeln!(
        out,
        "hookline_attempt_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        out,
        "hookline_attempt_duration_seconds_sum {}",
        DURATION_SUM_US.get() as f64 / 1e6
    );
    let _ = writeln!(out, "hookline_attempt_duration_seconds_count {cumulative}");
    out
}
