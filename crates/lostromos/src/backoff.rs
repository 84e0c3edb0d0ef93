//! Per-CR retry delays: exponential, capped, so a failing CR costs little and
//! never delays the others.

use std::time::Duration;

pub const BASE: Duration = Duration::from_secs(5);
pub const CAP: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1 = first failure).
pub fn delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BASE.saturating_mul(1 << exp).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

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
