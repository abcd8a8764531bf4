//! [`Backoff`]: exponential backoff with full jitter.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// Bounds of the retry delays: exponential growth from `initial`, capped at
/// `max`, with full jitter (each delay is uniform in `[0, bound]`), so that
/// many clients that lost the same server do not come back in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// Bound of the first delay. Default 250 ms.
    pub initial: Duration,
    /// Cap of every delay. Default 30 s.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Delays growing from `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The upper bound of the delay before retry number `attempt` (0-based):
    /// `min(max, initial * 2^attempt)`.
    pub fn bound(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// A delay for retry number `attempt`: uniform in `[0, bound(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.bound(attempt).mul_f64(random_unit())
    }
}

/// A uniform random number in `[0, 1]`.
pub(crate) fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    // SystemRandom only fails if the OS has no randomness at all; half the
    // bound is a fine fallback for jitter.
    if SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.bound(0), Duration::from_millis(100));
        assert_eq!(b.bound(3), Duration::from_millis(800));
        assert_eq!(b.bound(4), Duration::from_secs(1));
        assert_eq!(b.bound(1000), Duration::from_secs(1));
        for attempt in 0..10 {
            assert!(b.delay(attempt) <= b.bound(attempt));
        }
    }

    #[test]
    fn jitter_varies() {
        let draws: Vec<u64> = (0..8).map(|_| (random_unit() * 1e9) as u64).collect();
        assert!(draws.iter().any(|d| *d != draws[0]), "{draws:?}");
        assert!(draws.iter().all(|d| *d <= 1_000_000_000));
    }
}
