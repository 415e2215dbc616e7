//! Stats of a webhook's attempts: all-time counts and a time series, from the per-minute records
//! the worker writes with each attempt (the same records the logs and the queue are updated from).

use serde::Serialize;

use crate::store::{MinuteStats, Outcome};

/// Latency histogram buckets: bucket `i < LATENCY_BUCKETS - 1` holds durations up to
/// `100 µs × 1.25^i` (about 60 s for the last bounded one); the last holds the rest. Percentiles
/// read from it are the bucket's upper bound, so they are at most 25% high.
pub const LATENCY_BUCKETS: usize = 64;

fn bound_us(i: usize) -> f64 {
    100.0 * 1.25f64.powi(i as i32)
}

/// The bucket a duration in microseconds falls into.
pub fn latency_bucket(us: u64) -> usize {
    if us <= 100 {
        return 0;
    }
    let i = ((us as f64 / 100.0).ln() / 1.25f64.ln()).ceil() as usize;
    // Float rounding can land one short; the bound must hold `us`.
    let i = if bound_us(i) < us as f64 { i + 1 } else { i };
    i.min(LATENCY_BUCKETS - 1)
}

/// Latency percentiles in milliseconds (`null` when there were no timed attempts); histogram
/// buckets are 25% wide, so a percentile is at most 25% high.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

pub fn percentiles(hist: &[u64]) -> Percentiles {
    let total: u64 = hist.iter().sum();
    let at = |q: f64| -> Option<f64> {
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in hist.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let ms = bound_us(i.min(LATENCY_BUCKETS - 2)) / 1000.0;
                return Some((ms * 1000.0).round() / 1000.0);
            }
        }
        None
    };
    Percentiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
    }
}

/// Attempts by outcome; `4xx` holds every non-2xx status below 500.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Counts {
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
    pub timeout: u64,
    pub network_error: u64,
    pub render_error: u64,
}

impl Counts {
    fn add(&mut self, counts: &[u64; 6]) {
        self.success += counts[Outcome::Success.index()];
        self.client_error += counts[Outcome::Client.index()];
        self.server_error += counts[Outcome::Server.index()];
        self.timeout += counts[Outcome::Timeout.index()];
        self.network_error += counts[Outcome::Network.index()];
        self.render_error += counts[Outcome::Render.index()];
    }
    pub fn total(&self) -> u64 {
        self.success
            + self.client_error
            + self.server_error
            + self.timeout
            + self.network_error
            + self.render_error
    }
}

/// One point of the time series: the attempts of `step` seconds from `t`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Point {
    /// Unix seconds
    pub t: i64,
    #[serde(flatten)]
    pub counts: Counts,
    pub latency_ms: Percentiles,
}

/// All-time counts and latency.
pub fn totals(minutes: &[MinuteStats]) -> (Counts, Percentiles) {
    let mut counts = Counts::default();
    let mut hist = vec![0u64; LATENCY_BUCKETS];
    for m in minutes {
        counts.add(&m.counts);
        merge(&mut hist, &m.latency);
    }
    (counts, percentiles(&hist))
}

/// The series over `[from, to)` (unix seconds, multiples of `step`), one point per step, empty
/// steps included with zero counts.
pub fn series(minutes: &[MinuteStats], from: i64, to: i64, step: i64) -> Vec<Point> {
    let n = ((to - from) / step).max(0) as usize;
    let mut points: Vec<(Counts, Vec<u64>)> =
        vec![(Counts::default(), vec![0; LATENCY_BUCKETS]); n];
    for m in minutes {
        let t = m.minute * 60;
        if t < from || t >= to {
            continue;
        }
        let i = ((t - from) / step) as usize;
        if let Some((c, h)) = points.get_mut(i) {
            c.add(&m.counts);
            merge(h, &m.latency);
        }
    }
    points
        .into_iter()
        .enumerate()
        .map(|(i, (counts, hist))| Point {
            t: from + i as i64 * step,
            counts,
            latency_ms: percentiles(&hist),
        })
        .collect()
}

/// A step for a range: one minute up to 6 hours, then coarser so a series has at most 360 points.
pub fn default_step(range_secs: i64) -> i64 {
    let minutes = (range_secs + 59) / 60;
    let per_point = (minutes + 359) / 360;
    per_point.max(1) * 60
}

fn merge(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values() {
        for us in [
            0u64,
            1,
            100,
            101,
            125,
            126,
            1_000,
            4_999,
            1_000_000,
            59_000_000,
            u64::MAX / 2,
        ] {
            let i = latency_bucket(us);
            assert!(i < LATENCY_BUCKETS);
            if i < LATENCY_BUCKETS - 1 {
                assert!(bound_us(i) >= us as f64, "{us} in {i}");
                assert!(i == 0 || bound_us(i - 1) < us as f64, "{us} in {i}");
            }
        }
    }

    #[test]
    fn percentiles_within_a_bucket() {
        let mut hist = vec![0u64; LATENCY_BUCKETS];
        for us in 1..=1000u64 {
            hist[latency_bucket(us * 10)] += 1; // 10 µs .. 10 ms, uniform
        }
        let p = percentiles(&hist);
        let p50 = p.p50.unwrap();
        let p99 = p.p99.unwrap();
        assert!((5.0..=6.25).contains(&p50), "{p50}");
        assert!((9.9..=12.5).contains(&p99), "{p99}");
        assert_eq!(percentiles(&[0; LATENCY_BUCKETS]), Percentiles::default());
    }

    #[test]
    fn series_buckets_minutes_into_steps() {
        let mut m = MinuteStats {
            minute: 2,
            counts: [1, 0, 2, 0, 0, 0],
            latency: vec![0; LATENCY_BUCKETS],
        };
        m.latency[3] = 3;
        let m2 = MinuteStats {
            minute: 3,
            counts: [0, 1, 0, 1, 1, 0],
            latency: vec![0; LATENCY_BUCKETS],
        };
        let s = series(&[m.clone(), m2.clone()], 0, 300, 120);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].t, 120);
        assert_eq!(s[1].counts.success, 1);
        assert_eq!(s[1].counts.server_error, 2);
        assert_eq!(s[1].counts.network_error, 1);
        assert_eq!(s[0].counts.total(), 0);
        let (t, _) = totals(&[m, m2]);
        assert_eq!(t.total(), 6);
        assert_eq!(default_step(3600), 60);
        assert_eq!(default_step(7 * 86_400), 1680);
    }
}
