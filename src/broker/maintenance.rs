//! The broker's own periodic work: every `maintenance_interval_ms` on the
//! broker's [`Clock`], one std thread runs [`Broker::tick`] (retention,
//! fsync of rolled segments, producer snapshots, session expiry), so an
//! embedded broker needs no caller to drive it. On a [`ManualClock`] it runs
//! when a test advances the clock past the next due time: the clock wakes
//! the thread, no test sleeps.
//!
//! A std thread, not a tokio task: the work fsyncs and deletes files, and
//! the broker must not need a runtime. It holds the broker weakly, so a
//! dropped broker ends it; [`Broker::close`] stops and joins it first.
//!
//! [`ManualClock`]: crate::clock::ManualClock

use super::{Broker, Shared, lock, warn_with_cause};
use crate::clock::Clock;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    stop: bool,
    /// Set by the clock when a test moves it.
    clock_moved: bool,
    /// Completed runs of the periodic work.
    runs: u64,
}

#[derive(Default)]
struct Signal {
    state: Mutex<State>,
    changed: Condvar,
}

/// The running periodic-work thread.
pub(crate) struct Maintenance {
    signal: Arc<Signal>,
    /// Keeps the clock's waker alive as long as the thread runs.
    _waker: Arc<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl Maintenance {
    /// Starts the thread running the work of `broker` every `interval_ms`.
    ///
    /// # Errors
    /// The OS refused a thread.
    pub fn start(
        broker: Weak<Shared>,
        clock: Arc<dyn Clock>,
        interval_ms: i64,
    ) -> std::io::Result<Maintenance> {
        let signal = Arc::new(Signal::default());
        let woken = Arc::clone(&signal);
        let waker: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            lock(&woken.state).clock_moved = true;
            woken.changed.notify_all();
        });
        clock.on_change(Arc::downgrade(&waker));
        let worker = Arc::clone(&signal);
        let interval_ms = interval_ms.max(1);
        // Read now, not when the thread first runs: a clock moved in between
        // must count.
        let first_due = clock.now_ms().saturating_add(interval_ms);
        let thread = std::thread::Builder::new()
            .name("logbus-maintenance".to_owned())
            .spawn(move || run(&worker, &broker, &*clock, interval_ms, first_due))?;
        Ok(Maintenance {
            signal,
            _waker: waker,
            thread_id: thread.thread().id(),
            thread: Some(thread),
        })
    }

    /// Runs completed so far.
    pub fn runs(&self) -> u64 {
        lock(&self.signal.state).runs
    }

    /// A handle to wait on runs without holding this one.
    pub fn waiter(&self) -> Waiter {
        Waiter(Arc::clone(&self.signal))
    }

    /// Stops the thread and waits for it (a run under way finishes first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        lock(&self.signal.state).stop = true;
        self.signal.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // The last handle to the broker may be dropped by the thread
            // itself at the end of a run: it cannot join itself.
            if std::thread::current().id() != self.thread_id {
                // A panic in the thread has already been reported.
                let _ = thread.join();
            }
        }
    }
}

/// Waits for runs of the periodic work.
pub(crate) struct Waiter(Arc<Signal>);

impl Waiter {
    /// Blocks until `runs` runs are complete or `timeout` of real time
    /// passes; returns whether they are.
    pub fn wait_for_runs(&self, runs: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.0.state);
        while state.runs < runs {
            let now = Instant::now();
            if now >= deadline || state.stop {
                return state.runs >= runs;
            }
            state = self
                .0
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    signal: &Signal,
    broker: &Weak<Shared>,
    clock: &dyn Clock,
    interval_ms: i64,
    first_due: i64,
) {
    let mut due = first_due;
    loop {
        {
            let mut state = lock(&signal.state);
            loop {
                if state.stop {
                    return;
                }
                state.clock_moved = false;
                let now = clock.now_ms();
                if now >= due {
                    break;
                }
                // A system clock reaches `due` as real time passes; a
                // manual one only when moved, which wakes this wait.
                let wait = Duration::from_millis((due - now).min(interval_ms) as u64);
                state = signal
                    .changed
                    .wait_timeout_while(state, wait, |s| !s.stop && !s.clock_moved)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        let Some(shared) = broker.upgrade() else {
            return;
        };
        let broker = Broker { shared };
        if broker.is_open()
            && let Err(e) = broker.tick()
        {
            warn_with_cause("periodic work failed", &e);
        }
        drop(broker);
        due = clock.now_ms().saturating_add(interval_ms);
        lock(&signal.state).runs += 1;
        signal.changed.notify_all();
    }
}
