//! What a network face may hold across all its connections, so that no
//! client, however it behaves, can make the process grow or take every
//! slot: connections overall and per client address, request bytes being
//! read or queued (Kafka's `queued.max.request.bytes`), response bytes
//! waiting to be written, and the deadlines of reading a frame.
//!
//! Reusable by any listener that reads `u32`/`i32` big-endian
//! length-prefixed frames off tokio TCP sockets (the native server, the
//! Kafka listener): a face makes one [`Limits`] (or shares one with another
//! face to budget them together), asks it to [`Limits::admit`] each
//! accepted connection, reads frames with a [`FrameReader`], and registers
//! its queued responses in a [`ResponseShare`]. It knows no protocol beyond
//! the length prefix, nothing of the broker, and keeps no global state.
//!
//! Memory follows bytes received: a frame's buffer grows as its bytes
//! arrive, and every byte read is first reserved in the server-wide request
//! budget. A connection in the middle of a frame that finds the budget
//! spent may take the one *overdraft* (room for one more frame beyond the
//! budget), so frames that together fill the budget cannot wait on each
//! other for ever: the request bytes held stay under the budget plus one
//! frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bytes of a frame's length prefix.
const PREFIX: usize = 4;
/// Most bytes read in one go while a frame's length is unknown.
const FIRST_READ: usize = 4 * 1024;
/// Most bytes read in one go inside a frame.
const CHUNK: usize = 256 * 1024;
/// An empty read buffer larger than this is given back between frames.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The limits of a face; see the fields of `ServerConfig` of the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Most connections served at once from one client address.
    pub max_connections_per_ip: usize,
    /// Request bytes being read or waiting to be answered, server-wide.
    pub max_queued_request_bytes: usize,
    /// Response bytes waiting to be written, server-wide.
    pub max_queued_response_bytes: usize,
    /// Largest frame payload a reader accepts.
    pub max_frame: usize,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `max_connections` connections are open.
    TooManyConnections,
    /// `max_connections_per_ip` connections from this address are open.
    TooManyFromAddress,
}

impl Refusal {
    /// A short stable name, e.g. for a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "max_connections",
            Refusal::TooManyFromAddress => "max_connections_per_ip",
        }
    }
}

/// What a [`Limits`] holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitsSnapshot {
    /// Connections admitted and not yet closed.
    pub connections: usize,
    /// Request bytes reserved in the budget (read, or being read).
    pub queued_request_bytes: usize,
    /// Response bytes queued and not yet written.
    pub queued_response_bytes: usize,
    /// Connections refused at accept since the start.
    pub refused: u64,
    /// Connections closed because a frame took longer than the frame timeout.
    pub slow_frames: u64,
    /// Connections closed for completing no request within the first-request timeout.
    pub no_request: u64,
}

/// Something a face did to enforce its limits, counted by [`Limits::note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    /// A connection refused at accept.
    Refused(Refusal),
    /// A connection closed for a frame slower than the frame timeout.
    SlowFrame,
    /// A connection closed for completing no request in time.
    NoRequest,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Connection slots and the server-wide byte budgets of one face (or of
/// several faces sharing it). Share it as `Arc<Limits>`.
#[derive(Debug)]
pub struct Limits {
    config: LimitsConfig,
    open: Mutex<Open>,
    /// One permit per request byte the budget allows.
    requests: Arc<Semaphore>,
    /// One permit: the right to finish one frame beyond the budget.
    overdraft: Arc<Semaphore>,
    responses_queued: AtomicUsize,
    /// Connections with at least one response byte queued.
    responders: AtomicUsize,
    response_room: Notify,
    refused: AtomicU64,
    slow_frames: AtomicU64,
    no_request: AtomicU64,
}

impl Limits {
    /// Limits with `config`; budgets smaller than one frame are raised to one.
    pub fn new(config: LimitsConfig) -> Arc<Limits> {
        let config = LimitsConfig {
            max_queued_request_bytes: config
                .max_queued_request_bytes
                .max(config.max_frame + PREFIX),
            max_queued_response_bytes: config.max_queued_response_bytes.max(1),
            max_connections_per_ip: config.max_connections_per_ip.max(1),
            ..config
        };
        Arc::new(Limits {
            requests: Arc::new(Semaphore::new(
                config.max_queued_request_bytes.min(Semaphore::MAX_PERMITS),
            )),
            overdraft: Arc::new(Semaphore::new(1)),
            config,
            open: Mutex::new(Open::default()),
            responses_queued: AtomicUsize::new(0),
            responders: AtomicUsize::new(0),
            response_room: Notify::new(),
            refused: AtomicU64::new(0),
            slow_frames: AtomicU64::new(0),
            no_request: AtomicU64::new(0),
        })
    }

    /// The limits in force.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // Plain counters: a panic elsewhere cannot leave them half-updated.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a connection slot for a client at `ip`, held until the
    /// returned slot is dropped.
    ///
    /// # Errors
    /// The [`Refusal`] when a limit is reached; the caller closes the
    /// connection at once, so the client learns to back off.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let mut open = self.open();
        if open.total >= self.config.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        let from_ip = open.per_ip.entry(ip).or_default();
        if *from_ip >= self.config.max_connections_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        *from_ip += 1;
        open.total += 1;
        Ok(ConnectionSlot {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// What is held right now.
    pub fn snapshot(&self) -> LimitsSnapshot {
        LimitsSnapshot {
            connections: self.open().total,
            queued_request_bytes: self
                .config
                .max_queued_request_bytes
                .min(Semaphore::MAX_PERMITS)
                .saturating_sub(self.requests.available_permits()),
            queued_response_bytes: self.responses_queued.load(Ordering::Acquire),
            refused: self.refused.load(Ordering::Relaxed),
            slow_frames: self.slow_frames.load(Ordering::Relaxed),
            no_request: self.no_request.load(Ordering::Relaxed),
        }
    }

    /// Counts one enforcement and returns how many of its kind there have
    /// been, and whether this one is worth a log line: the 1st, 2nd, 4th,
    /// 8th… and every 1000th, so an attack cannot flood the log.
    pub fn note(&self, what: Enforced) -> (u64, bool) {
        let counter = match what {
            Enforced::Refused(_) => &self.refused,
            Enforced::SlowFrame => &self.slow_frames,
            Enforced::NoRequest => &self.no_request,
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        (n, n.is_power_of_two() || n.is_multiple_of(1000))
    }

    /// A reader of length-prefixed frames for one connection (`max_frame`
    /// from the config), charging this budget for what it reads.
    pub fn reader(self: &Arc<Self>, timeouts: ReadTimeouts) -> FrameReader {
        FrameReader {
            limits: Arc::clone(self),
            timeouts,
            buf: BytesMut::new(),
            held: None,
            overdraft: None,
            opened: Instant::now(),
            frame_deadline: None,
            completed: false,
        }
    }

    /// A connection's account of its queued responses.
    pub fn response_share(self: &Arc<Self>) -> ResponseShare {
        ResponseShare {
            limits: Arc::clone(self),
            own: AtomicUsize::new(0),
        }
    }
}

/// A connection slot; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open();
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// How long a [`FrameReader`] waits for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    /// Between the end of a frame and the first byte of the next.
    pub idle: Duration,
    /// From the connection's start to the end of its first frame.
    pub first_request: Duration,
    /// From a frame's first byte to its last, whatever holds it up.
    pub frame: Duration,
}

/// Why a [`FrameReader`] returned no frame.
#[derive(Debug, thiserror::Error)]
pub enum ReadEnd {
    /// The peer closed its side between frames.
    #[error("the peer closed the connection")]
    PeerClosed,
    /// The peer closed its side in the middle of a frame.
    #[error("the peer closed the connection in the middle of a frame ({left} bytes)")]
    Truncated {
        /// Bytes of the unfinished frame received.
        left: usize,
    },
    /// A length prefix over the maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The length announced.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// No byte arrived for the idle timeout between frames. Not fatal by
    /// itself: the caller may keep the connection (e.g. while requests are
    /// in flight) and read again.
    #[error("idle")]
    Idle,
    /// The connection completed no frame within the first-request timeout.
    #[error("no request within the first-request timeout")]
    NoRequest,
    /// A frame was not complete within the frame timeout.
    #[error("frame not complete within the frame timeout")]
    SlowFrame,
    /// Reading the socket failed.
    #[error("read failed")]
    Io(#[source] io::Error),
}

/// One frame's payload and the budget it holds until dropped: keep it
/// alive while the request is queued or running.
#[derive(Debug)]
pub struct Frame {
    /// The payload (the length prefix taken off).
    pub payload: Bytes,
    /// The budget the frame holds.
    pub charge: RequestCharge,
}

/// Request bytes reserved in the budget; dropping it gives them back.
#[derive(Debug)]
pub struct RequestCharge {
    _bytes: Option<OwnedSemaphorePermit>,
    _overdraft: Option<OwnedSemaphorePermit>,
}

/// Reads length-prefixed frames off one connection under the budget of its
/// [`Limits`] and the deadlines of its [`ReadTimeouts`]. Cancel-safe: a
/// `next_frame` dropped while waiting loses no byte.
#[derive(Debug)]
pub struct FrameReader {
    limits: Arc<Limits>,
    timeouts: ReadTimeouts,
    buf: BytesMut,
    /// Budget held for the bytes in `buf`.
    held: Option<OwnedSemaphorePermit>,
    /// Held while this connection finishes a frame beyond the budget.
    overdraft: Option<OwnedSemaphorePermit>,
    opened: Instant,
    /// When the frame whose first bytes are in `buf` must be complete.
    frame_deadline: Option<Instant>,
    /// A frame has been returned.
    completed: bool,
}

impl FrameReader {
    /// Whether a frame has begun arriving and is not complete yet.
    pub fn in_frame(&self) -> bool {
        !self.buf.is_empty()
    }

    fn deadline(&self) -> (Instant, ReadEnd) {
        match self.frame_deadline {
            Some(at) => (at, ReadEnd::SlowFrame),
            // The first-request timeout is the shorter one; an idle
            // timeout set below it still applies.
            None if !self.completed && self.timeouts.first_request < self.timeouts.idle => (
                self.opened + self.timeouts.first_request,
                ReadEnd::NoRequest,
            ),
            None => (Instant::now() + self.timeouts.idle, ReadEnd::Idle),
        }
    }

    /// Waits for the next complete frame.
    ///
    /// # Errors
    /// [`ReadEnd`]: why there is none; all but [`ReadEnd::Idle`] end the
    /// connection.
    pub async fn next_frame(&mut self, rd: &OwnedReadHalf) -> Result<Frame, ReadEnd> {
        let max_frame = self.limits.config.max_frame;
        loop {
            let total = match self.buf.first_chunk::<PREFIX>() {
                None => None,
                Some(prefix) => {
                    // An i32 prefix (Kafka's) that is negative reads as over the maximum.
                    let size = u32::from_be_bytes(*prefix) as usize;
                    if size > max_frame {
                        return Err(ReadEnd::TooLarge {
                            size,
                            max: max_frame,
                        });
                    }
                    Some(PREFIX + size)
                }
            };
            if let Some(total) = total
                && self.buf.len() >= total
            {
                return Ok(self.cut(total));
            }
            let want = match total {
                None => FIRST_READ,
                // At most as much again as has arrived: the buffer grows
                // by doubling with the bytes received, never to the claim.
                Some(total) => (total - self.buf.len())
                    .min(CHUNK)
                    .min(self.buf.len().max(FIRST_READ)),
            };
            let (deadline, late) = self.deadline();
            match tokio::time::timeout_at(deadline, rd.readable()).await {
                Err(_elapsed) => return Err(late),
                Ok(Err(e)) => return Err(ReadEnd::Io(e)),
                Ok(Ok(())) => {}
            }
            let extra = self.reserve(want).await?;
            if self.buf.capacity() - self.buf.len() < want {
                self.buf.reserve(want);
            }
            match rd.try_read_buf(&mut (&mut self.buf).limit(want)) {
                Ok(0) if self.buf.is_empty() => return Err(ReadEnd::PeerClosed),
                Ok(0) => {
                    return Err(ReadEnd::Truncated {
                        left: self.buf.len(),
                    });
                }
                Ok(n) => {
                    if let Some(mut extra) = extra {
                        // Keep the budget of what arrived, give back the rest.
                        drop(extra.split(want - n));
                        match &mut self.held {
                            Some(held) => held.merge(extra),
                            None => self.held = Some(extra),
                        }
                    }
                    if self.frame_deadline.is_none() {
                        self.frame_deadline = Some(Instant::now() + self.timeouts.frame);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(ReadEnd::Io(e)),
            }
        }
    }

    /// Reserves `want` more bytes of budget before reading them: `None`
    /// when this connection holds the overdraft and needs none.
    async fn reserve(&mut self, want: usize) -> Result<Option<OwnedSemaphorePermit>, ReadEnd> {
        if self.overdraft.is_some() {
            return Ok(None);
        }
        let want_u32 = u32::try_from(want).unwrap_or(u32::MAX);
        let requests = Arc::clone(&self.limits.requests);
        if let Ok(p) = Arc::clone(&requests).try_acquire_many_owned(want_u32) {
            return Ok(Some(p));
        }
        // The budget is spent: the server stops reading this socket. A
        // frame already started may instead take the overdraft, so frames
        // that fill the budget between them still finish.
        let mid_frame = !self.buf.is_empty();
        let overdraft = Arc::clone(&self.limits.overdraft);
        let (deadline, late) = self.deadline();
        let deadline = if mid_frame {
            deadline
        } else {
            // Waiting for the budget between frames is the server's doing,
            // not the client's: no client deadline runs.
            Instant::now() + Duration::from_secs(365 * 24 * 3600)
        };
        tokio::select! {
            p = requests.acquire_many_owned(want_u32) => {
                // The semaphore is never closed.
                Ok(p.ok())
            }
            o = overdraft.acquire_owned(), if mid_frame => {
                self.overdraft = o.ok();
                Ok(None)
            }
            () = tokio::time::sleep_until(deadline) => Err(late),
        }
    }

    /// Takes the complete frame of `total` bytes off the front of the buffer.
    fn cut(&mut self, total: usize) -> Frame {
        self.buf.advance(PREFIX);
        let payload = self.buf.split_to(total - PREFIX).freeze();
        let bytes = match &mut self.held {
            Some(held) if held.num_permits() > total => held.split(total),
            _ => self.held.take(),
        };
        let charge = RequestCharge {
            _bytes: bytes,
            _overdraft: self.overdraft.take(),
        };
        self.completed = true;
        self.frame_deadline = (!self.buf.is_empty()).then(|| Instant::now() + self.timeouts.frame);
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
        Frame { payload, charge }
    }
}

/// One connection's queued response bytes, counted server-wide. Past the
/// server-wide budget, a connection holding more than its fair share (the
/// budget over the connections holding any) should read no more requests
/// until its responses drain; the others go on being served.
#[derive(Debug)]
pub struct ResponseShare {
    limits: Arc<Limits>,
    own: AtomicUsize,
}

impl ResponseShare {
    /// Counts `n` bytes queued for writing.
    pub fn queued(&self, n: usize) {
        if n == 0 {
            return;
        }
        if self.own.fetch_add(n, Ordering::AcqRel) == 0 {
            self.limits.responders.fetch_add(1, Ordering::AcqRel);
        }
        self.limits.responses_queued.fetch_add(n, Ordering::AcqRel);
    }

    /// Counts `n` bytes written (or dropped); wakes readers waiting for room.
    pub fn written(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.limits.responses_queued.fetch_sub(n, Ordering::AcqRel);
        if self.own.fetch_sub(n, Ordering::AcqRel) == n {
            self.limits.responders.fetch_sub(1, Ordering::AcqRel);
        }
        self.limits.response_room.notify_waiters();
    }

    /// Whether this connection may read another request.
    pub fn may_read(&self) -> bool {
        let limit = self.limits.config.max_queued_response_bytes;
        if self.limits.responses_queued.load(Ordering::Acquire) <= limit {
            return true;
        }
        let holders = self.limits.responders.load(Ordering::Acquire).max(1);
        self.own.load(Ordering::Acquire) < limit / holders
    }

    /// Resolves at the next [`ResponseShare::written`] of any connection;
    /// create it (and `enable` it) before checking [`ResponseShare::may_read`].
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.limits.response_room.notified()
    }
}

impl Drop for ResponseShare {
    fn drop(&mut self) {
        let left = *self.own.get_mut();
        self.written(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LimitsConfig {
        LimitsConfig {
            max_connections: 3,
            max_connections_per_ip: 2,
            max_queued_request_bytes: 1 << 20,
            max_queued_response_bytes: 1000,
            max_frame: 1024,
        }
    }

    #[test]
    fn slots_are_limited_overall_and_per_address_and_freed_on_drop() {
        let limits = Limits::new(config());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refusal::TooManyFromAddress);
        let _b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refusal::TooManyConnections);
        drop(a1);
        assert_eq!(limits.snapshot().connections, 2);
        let _a3 = limits.admit(a).unwrap();
    }

    #[test]
    fn over_the_response_budget_only_connections_over_their_share_stop_reading() {
        let limits = Limits::new(config());
        let hog = limits.response_share();
        let polite = limits.response_share();
        hog.queued(1500);
        assert!(!hog.may_read(), "one holder over the budget");
        assert!(polite.may_read(), "holds nothing: under its share");
        polite.queued(100);
        assert!(polite.may_read(), "100 < 1000 / 2");
        assert!(!hog.may_read());
        hog.written(1500);
        assert!(hog.may_read());
        drop(polite);
        assert_eq!(limits.snapshot().queued_response_bytes, 0);
    }
}
