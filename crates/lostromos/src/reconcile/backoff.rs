//! Per-CR retry delays: exponential, capped, so a failing CR costs little and
//! never delays the others.

use std::time::{Duration, Instant};

pub const BASE: Duration = Duration::from_secs(5);
pub const CAP: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1 = first failure).
pub fn delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BASE.saturating_mul(1 << exp).min(CAP)
}

/// A CR's failing streak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub retry_at: Instant,
    /// The CR's decision inputs when it failed (see `cr::decision_hash`).
    pub cr_hash: Option<u64>,
}

impl Failures {
    /// The streak after one more failure at `now`.
    pub fn record(prev: Option<&Failures>, now: Instant, cr_hash: Option<u64>) -> Failures {
        let count = prev.map_or(0, |p| p.count).saturating_add(1);
        Failures {
            count,
            retry_at: now + delay(count),
            cr_hash,
        }
    }

    /// How long to hold off a reconcile that was woken early (e.g. by helm's own
    /// writes to the release): `None` once the delay is over, or when the CR
    /// itself changed, since a fix should be tried at once.
    pub fn hold(&self, now: Instant, cr_hash: Option<u64>) -> Option<Duration> {
        (cr_hash == self.cr_hash && now < self.retry_at).then(|| self.retry_at - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_wake_ups_are_held_until_the_retry_time() {
        let t0 = Instant::now();
        let f = Failures::record(None, t0, Some(7));
        assert_eq!(f.count, 1);
        assert_eq!(
            f.hold(t0 + Duration::from_secs(1), Some(7)),
            Some(Duration::from_secs(4))
        );
        assert_eq!(f.hold(t0 + Duration::from_secs(5), Some(7)), None);
        // a changed CR is tried at once
        assert_eq!(f.hold(t0 + Duration::from_secs(1), Some(8)), None);
        let f2 = Failures::record(Some(&f), t0, Some(7));
        assert_eq!(f2.count, 2);
        assert_eq!(f2.retry_at, t0 + Duration::from_secs(10));
    }

    #[test]
    fn doubles_up_to_the_cap() {
        assert_eq!(delay(1), Duration::from_secs(5));
        assert_eq!(delay(2), Duration::from_secs(10));
        assert_eq!(delay(3), Duration::from_secs(20));
        assert_eq!(delay(7), CAP);
        assert_eq!(delay(u32::MAX), CAP);
        assert_eq!(delay(0), BASE);
    }
}
