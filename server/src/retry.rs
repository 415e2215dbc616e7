//! Retry policy: whether an attempt's outcome is retried, and after how long (pure, no clock).

use std::time::Duration;

use crate::config::{Jitter, RetryConfig};

/// What happens to a delivery after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// The schedule is used up: the delivery is failed permanently.
    GiveUp,
}

/// The decision after attempt number `attempt` (1 for the first) failed.
///
/// The delay is the schedule's step for that attempt, with full jitter (uniform between 0 and the
/// step, drawn from `unit`, a number in `[0, 1)`) when configured. A receiver's `Retry-After` is
/// honoured: the retry never comes sooner than it asks, up to `max_retry_after`.
pub fn decide(
    config: &RetryConfig,
    attempt: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Decision {
    let Some(step) = config.schedule.get(attempt.saturating_sub(1) as usize) else {
        return Decision::GiveUp;
    };
    let base = match config.jitter {
        Jitter::None => *step,
        Jitter::Full => step.mul_f64(unit.clamp(0.0, 1.0)),
    };
    let delay = match retry_after {
        Some(asked) => base.max(asked.min(config.max_retry_after)),
        None => base,
    };
    Decision::Retry(delay)
}

/// The total number of attempts a delivery gets: the first and one per step of the schedule.
pub fn max_attempts(config: &RetryConfig) -> u32 {
    config.schedule.len() as u32 + 1
}

/// Parses a `Retry-After` header: delay-seconds, or an HTTP date (relative to `now_unix`).
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(Duration::from_secs(at.saturating_sub(now_unix)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, the form RFC 9110 says senders use).
fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jitter: Jitter) -> RetryConfig {
        RetryConfig {
            schedule: vec![Duration::from_secs(5), Duration::from_secs(300)],
            jitter,
            max_retry_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let c = config(Jitter::None);
        assert_eq!(
            decide(&c, 1, None, 0.3),
            Decision::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            decide(&c, 2, None, 0.3),
            Decision::Retry(Duration::from_secs(300))
        );
        assert_eq!(decide(&c, 3, None, 0.3), Decision::GiveUp);
        assert_eq!(max_attempts(&c), 3);
    }

    #[test]
    fn full_jitter_stays_within_the_step() {
        let c = config(Jitter::Full);
        assert_eq!(decide(&c, 1, None, 0.0), Decision::Retry(Duration::ZERO));
        assert_eq!(
            decide(&c, 1, None, 0.5),
            Decision::Retry(Duration::from_millis(2500))
        );
        for i in 0..100 {
            let Decision::Retry(d) = decide(&c, 2, None, i as f64 / 100.0) else {
                panic!()
            };
            assert!(d <= Duration::from_secs(300));
        }
    }

    #[test]
    fn retry_after_is_a_floor_with_a_cap() {
        let c = config(Jitter::Full);
        assert_eq!(
            decide(&c, 1, Some(Duration::from_secs(60)), 0.5),
            Decision::Retry(Duration::from_secs(60))
        );
        assert_eq!(
            decide(&c, 2, Some(Duration::from_secs(1)), 1.0),
            Decision::Retry(Duration::from_secs(300))
        );
        assert_eq!(
            decide(&c, 1, Some(Duration::from_secs(99_999)), 0.0),
            Decision::Retry(Duration::from_secs(3600))
        );
        // Retry-After does not add attempts.
        assert_eq!(
            decide(&c, 3, Some(Duration::from_secs(1)), 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn parses_retry_after() {
        assert_eq!(
            parse_retry_after(" 120 ", 0),
            Some(Duration::from_secs(120))
        );
        // 1994-11-06T08:49:37Z is 784111777.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700),
            Some(Duration::from_secs(77))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
