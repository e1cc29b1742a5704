//! The background cleaner: one std thread that runs [`Log::clean_once_paced`]
//! over its registered logs, pausing as its [`Throttler`] decides so the
//! cleaner's I/O stays under `max_bytes_per_sec`, and backing off when a
//! pass found nothing to clean. No async runtime: the log layer must not
//! know tokio (docs/design.md §8); a stop flag and a condvar end it promptly.
//!
//! Knows only the [`Log`] API and the clock.

use super::{CleanerConfig, Throttler};
use crate::clock::Clock;
use crate::log::{Log, LogError, lock};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    logs: Vec<Arc<Log>>,
    stop: bool,
    /// Set by [`Cleaner::wake`]: run another pass without backing off.
    poked: bool,
    passes: u64,
    rounds: u64,
    errors: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    /// Waits until `deadline`, a stop, or (if `wake_on_poke`) a poke.
    /// Returns whether a stop was asked.
    fn pause_until(&self, deadline: Instant, wake_on_poke: bool) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.stop {
                return true;
            }
            if wake_on_poke && state.poked {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// A background thread compacting the logs registered with it.
pub struct Cleaner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Cleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cleaner").finish_non_exhaustive()
    }
}

impl Cleaner {
    /// Starts the cleaner thread; it cleans nothing until logs are added.
    ///
    /// # Errors
    /// [`LogError::Spawn`] if the thread cannot be started.
    pub fn start(config: CleanerConfig, clock: Arc<dyn Clock>) -> Result<Cleaner, LogError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("logbus-cleaner".to_owned())
            .spawn(move || run(&worker, &config, clock))
            .map_err(|source| LogError::Spawn { source })?;
        Ok(Cleaner {
            shared,
            thread: Some(thread),
        })
    }

    /// Adds a log to clean (a log whose policy does not compact is skipped
    /// at each pass, so its policy may change later).
    pub fn add_log(&self, log: Arc<Log>) {
        lock(&self.shared.state).logs.push(log);
        self.wake();
    }

    /// Stops cleaning the log in `dir`; a round under way finishes first.
    pub fn remove_log(&self, dir: &Path) {
        lock(&self.shared.state).logs.retain(|l| l.dir() != dir);
    }

    /// Starts another pass now instead of waiting out the backoff.
    pub fn wake(&self) {
        lock(&self.shared.state).poked = true;
        self.shared.changed.notify_all();
    }

    /// Passes over all logs completed so far.
    pub fn passes(&self) -> u64 {
        lock(&self.shared.state).passes
    }

    /// Rounds that cleaned something, over all logs.
    pub fn rounds(&self) -> u64 {
        lock(&self.shared.state).rounds
    }

    /// Rounds that failed, over all logs (each log's error stays with it:
    /// a poisoned log reports it on its next write).
    pub fn errors(&self) -> u64 {
        lock(&self.shared.state).errors
    }

    /// Blocks until at least `passes` passes are complete or `timeout`
    /// passes; returns whether they are.
    pub fn wait_for_passes(&self, passes: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        while state.passes < passes {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }

    /// Stops the thread (a round under way stops at its next pause point,
    /// its half-written files removed) and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread has already been reported by the runtime.
            let _ = thread.join();
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, config: &CleanerConfig, clock: Arc<dyn Clock>) {
    let mut throttler = Throttler::new(config.max_bytes_per_sec, clock);
    loop {
        let logs = {
            let mut state = lock(&shared.state);
            if state.stop {
                return;
            }
            state.poked = false;
            state.logs.clone()
        };
        let mut cleaned = false;
        for log in logs {
            let mut pace = |bytes: u64| {
                let pause = throttler.record(bytes);
                if pause.is_zero() {
                    return ControlFlow::Continue(());
                }
                if shared.pause_until(Instant::now() + pause, false) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            let result = log.clean_once_paced(config, &mut pace);
            let mut state = lock(&shared.state);
            match result {
                Ok(Some(_)) => {
                    cleaned = true;
                    state.rounds += 1;
                }
                Ok(None) => {}
                Err(_) => state.errors += 1,
            }
            if state.stop {
                return;
            }
        }
        {
            let mut state = lock(&shared.state);
            state.passes += 1;
        }
        shared.changed.notify_all();
        if !cleaned && shared.pause_until(Instant::now() + config.backoff, true) {
            return;
        }
    }
}
