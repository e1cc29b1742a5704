//! The injectable source of time. Every timer in logbus (segment rolling,
//! retention, session timeouts) reads a [`Clock`], so tests advance a
//! [`ManualClock`] instead of sleeping. Knows nothing of the layers above.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Calls `wake` after every change of this clock's time made by hand
    /// (a [`ManualClock`] advanced or set), so a thread waiting for a time
    /// on this clock looks again at once. A clock that moves on its own
    /// needs nothing: the default ignores `wake`.
    fn on_change(&self, wake: Weak<dyn Fn() + Send + Sync>) {
        drop(wake);
    }
}

/// Functions called when a manual clock moves; dead ones are dropped.
type Wakers = Arc<Mutex<Vec<Weak<dyn Fn() + Send + Sync>>>>;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that only moves when a test moves it. Clones share the same
/// time; threads waiting on it (the broker's periodic work) wake when it moves.
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
    wakers: Wakers,
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl ManualClock {
    /// A manual clock reading `start_ms`.
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicI64::new(start_ms)),
            wakers: Wakers::default(),
        }
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
        self.wake();
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        // Called outside the lock: a waker may take locks of its own.
        let live: Vec<Arc<dyn Fn() + Send + Sync>> = {
            let mut wakers = self
                .wakers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            wakers.retain(|w| w.strong_count() > 0);
            wakers.iter().filter_map(Weak::upgrade).collect()
        };
        for wake in live {
            wake();
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn on_change(&self, wake: Weak<dyn Fn() + Send + Sync>) {
        self.wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::new(1_000);
        let other = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(250);
        assert_eq!(other.now_ms(), 1_250);
        other.set(5);
        assert_eq!(clock.now_ms(), 5);
    }

    #[test]
    fn a_manual_clock_calls_its_live_wakers_when_it_moves() {
        let clock = ManualClock::new(0);
        let calls = Arc::new(AtomicI64::new(0));
        let counter = Arc::clone(&calls);
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        clock.on_change(Arc::downgrade(&wake));
        clock.advance(5);
        clock.set(10);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        drop(wake);
        clock.advance(1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
