//! The seam through which a network face reports each request it served:
//! a one-method trait the TCP server calls and the admin face implements
//! (as a Prometheus histogram). A leaf so that the server can depend on it
//! without knowing the admin face, and the admin face without the server.
//! Also [`DiskWatch`], which the faces feed and `/readyz` reads.

/// Receives one observation per request a face has served.
///
/// Implementations must be cheap and non-blocking: the server calls this on
/// its request path, once per request.
pub trait RequestObserver: Send + Sync {
    /// Records that a request to `api` took `seconds` and whether it failed.
    fn observe(&self, api: &'static str, seconds: f64, error: bool);
}

/// An observer that drops every observation, for a server run without metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl RequestObserver for NoopObserver {
    fn observe(&self, _api: &'static str, _seconds: f64, _error: bool) {}
}

/// Blocking operations a face has handed to threads that may wait on the
/// disk (writes, fsyncs, anything under a lock such work holds), and how
/// long the oldest has been running: what `/readyz` reads to report a
/// stuck disk. Real time, like a request's deadline: it is about the
/// machine, not the broker's clock. Share it as `Arc<DiskWatch>`.
#[derive(Debug)]
pub struct DiskWatch {
    stuck_after: std::time::Duration,
    running: std::sync::Mutex<RunningOps>,
}

#[derive(Debug, Default)]
struct RunningOps {
    next_id: u64,
    started: std::collections::BTreeMap<u64, std::time::Instant>,
}

/// One operation in a [`DiskWatch`]; dropping it ends the operation.
#[derive(Debug)]
pub struct DiskOp {
    watch: std::sync::Arc<DiskWatch>,
    id: u64,
}

impl Default for DiskWatch {
    fn default() -> DiskWatch {
        DiskWatch::new(std::time::Duration::from_secs(10))
    }
}

impl DiskWatch {
    /// A watch that calls an operation stuck once it has run `stuck_after`.
    pub fn new(stuck_after: std::time::Duration) -> DiskWatch {
        DiskWatch {
            stuck_after,
            running: std::sync::Mutex::default(),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, RunningOps> {
        // Plain bookkeeping: a panic elsewhere cannot leave it half-updated.
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes the start of an operation; it ends when the guard drops.
    pub fn start(self: &std::sync::Arc<Self>) -> DiskOp {
        let id = {
            let mut r = self.running();
            let id = r.next_id;
            r.next_id += 1;
            r.started.insert(id, std::time::Instant::now());
            id
        };
        DiskOp {
            watch: std::sync::Arc::clone(self),
            id,
        }
    }

    /// Operations running now, and how long the oldest has run.
    pub fn in_flight(&self) -> (usize, Option<std::time::Duration>) {
        let r = self.running();
        // Ids grow with time: the first entry is the oldest.
        let oldest = r.started.values().next().map(std::time::Instant::elapsed);
        (r.started.len(), oldest)
    }

    /// How long the oldest operation has run, when that is past the
    /// threshold: the disk (or something holding it) is stuck.
    pub fn stuck(&self) -> Option<std::time::Duration> {
        self.in_flight().1.filter(|age| *age >= self.stuck_after)
    }

    /// The threshold past which an operation counts as stuck.
    pub fn stuck_after(&self) -> std::time::Duration {
        self.stuck_after
    }
}

impl Drop for DiskOp {
    fn drop(&mut self) {
        self.watch.running().started.remove(&self.id);
    }
}
