//! The wall clock in epoch seconds, for JWTs and webhook timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch seconds of `t`; negative before 1970.
pub(crate) fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn before_and_after_1970() {
        assert_eq!(
            epoch_secs(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            1_700_000_000
        );
        assert_eq!(epoch_secs(UNIX_EPOCH - Duration::from_secs(5)), -5);
        assert_eq!(epoch_secs(UNIX_EPOCH), 0);
    }
}
