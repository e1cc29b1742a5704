//! The cleaner's I/O rate limit: a [`Throttler`] is told how many bytes
//! were read or written and answers how long to pause so that the rate
//! since its window began stays at or under the limit (as Kafka's
//! `Throttler`). It only decides, from the injectable [`Clock`]; the caller
//! sleeps, so tests check every decision without sleeping.
//!
//! Knows nothing of logs or files.

use crate::clock::Clock;
use std::sync::Arc;
use std::time::Duration;

/// A window shorter than this is not judged yet: rates over a few
/// milliseconds are noise (Kafka checks every 100 ms too).
const CHECK_INTERVAL_MS: i64 = 100;

/// Decides pauses that keep an I/O rate under a limit.
#[derive(Debug, Clone)]
pub struct Throttler {
    bytes_per_sec: u64,
    clock: Arc<dyn Clock>,
    window_start_ms: i64,
    window_bytes: u64,
}

impl Throttler {
    /// A throttler allowing `bytes_per_sec` (0 means unlimited).
    pub fn new(bytes_per_sec: u64, clock: Arc<dyn Clock>) -> Throttler {
        let now = clock.now_ms();
        Throttler {
            bytes_per_sec,
            clock,
            window_start_ms: now,
            window_bytes: 0,
        }
    }

    /// The limit in bytes per second (0: unlimited).
    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Notes `bytes` of I/O and returns how long the caller must pause
    /// (zero when under the limit). The window restarts after each judged
    /// interval, counting the pause as part of the elapsed time.
    pub fn record(&mut self, bytes: u64) -> Duration {
        if self.bytes_per_sec == 0 {
            return Duration::ZERO;
        }
        self.window_bytes = self.window_bytes.saturating_add(bytes);
        let now = self.clock.now_ms();
        let elapsed = now.saturating_sub(self.window_start_ms).max(0);
        // Time these bytes should have taken at the limit, in ms.
        let due_ms = (u128::from(self.window_bytes) * 1000 / u128::from(self.bytes_per_sec))
            .min(i64::MAX as u128) as i64;
        if elapsed < CHECK_INTERVAL_MS && due_ms < CHECK_INTERVAL_MS {
            return Duration::ZERO;
        }
        let pause_ms = due_ms.saturating_sub(elapsed).max(0);
        // The next window starts once this pause is over.
        self.window_start_ms = now.saturating_add(pause_ms);
        self.window_bytes = 0;
        Duration::from_millis(pause_ms as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn pauses_keep_the_rate_at_the_limit_by_the_clock() {
        let clock = ManualClock::new(1_000);
        let mut t = Throttler::new(1_000_000, Arc::new(clock.clone()));
        // 10 KB in no time: below the check interval, no pause yet.
        assert_eq!(t.record(10_000), Duration::ZERO);
        // 2 MB at once, no time passed: 2 s are due (2.01 s in all).
        assert_eq!(t.record(2_000_000), Duration::from_millis(2_010));
        clock.advance(2_010);
        // After the pause, 0.5 MB over 1 s of clock is under the limit.
        clock.advance(1_000);
        assert_eq!(t.record(500_000), Duration::ZERO);
        // Unlimited never pauses.
        let mut free = Throttler::new(0, Arc::new(clock.clone()));
        assert_eq!(free.record(u64::MAX), Duration::ZERO);
    }

    #[test]
    fn a_slow_producer_of_bytes_is_never_paused() {
        let clock = ManualClock::new(0);
        let mut t = Throttler::new(1_000, Arc::new(clock.clone()));
        for _ in 0..100 {
            clock.advance(1_000);
            assert_eq!(t.record(900), Duration::ZERO);
        }
    }
}
