//! The native TCP server: a thin async shell that reads protocol frames off
//! sockets, maps each request one to one onto a broker call, and writes the
//! responses back (docs/design.md §§1, 8–9). It owns sockets, connection limits,
//! backpressure, timeouts and shutdown; it knows the broker's public API and
//! the `protocol` codec, and nothing of how either works inside.
//!
//! Serving, mini-redis style:
//! ```no_run
//! # async fn demo(broker: logbus::broker::Broker) -> Result<(), logbus::server::ServerError> {
//! use logbus::server::{ServerConfig, bind, run};
//! let listener = bind("127.0.0.1:0").await?;          // port 0: a free port
//! println!("native={}", listener.local_addr().unwrap()); // the address chosen
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // e.g. fired on SIGTERM
//! run(listener, broker.clone(), ServerConfig::default(), async {
//!     let _ = stopped.await;
//! })
//! .await?;
//! # drop(stop);
//! broker.close().ok(); // the caller closes the broker (clean-shutdown markers)
//! # Ok(()) }
//! ```
//! or [`start`], which spawns [`run`] and hands back a [`ServerHandle`].
//!
//! Per connection (see `connection.rs`): requests are pipelined and may be
//! answered out of order; produces are applied one after another in arrival
//! order; a writer task serialises responses. The limits of [`ServerConfig`]
//! bound what one connection may hold: past `max_in_flight_bytes` the server
//! stops reading from that socket until responses drain. Server-wide limits
//! (connections overall and per address, the request and response byte
//! budgets, the frame and first-request deadlines) live in [`limits`], a
//! piece any listener of length-prefixed frames can share.

mod bounds;
mod connection;
mod dispatch;
#[cfg(test)]
mod error_codes;
mod groups;
pub mod limits;
mod topics;

pub use limits::{Limits, LimitsConfig, LimitsSnapshot, Refusal};

use crate::broker::Broker;
use crate::observe::DiskWatch;
use crate::protocol::{ApiKey, DEFAULT_MAX_FRAME, ErrorCode};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Limits and timers of a server; `ServerConfig::default()` suits a dev broker.
#[derive(Clone)]
pub struct ServerConfig {
    /// Largest frame payload accepted (requests) and produced (fetch
    /// responses are cut to fit it at whole batches; a partition whose next
    /// batch alone is larger gets `MESSAGE_TOO_LARGE`). Default 8 MiB.
    pub max_frame: usize,
    /// Most connections served at once. A connection accepted over the limit
    /// is closed at once (the peer sees EOF) rather than left waiting, so a
    /// client learns promptly that it should back off. Default 1024.
    pub max_connections: usize,
    /// Bytes one connection may hold in requests being processed and
    /// responses not yet written (a fetch counts its `max_bytes` from the
    /// start). Past it the server stops reading from that socket, so a
    /// client that pipelines without reading its responses stalls instead of
    /// growing the server's memory. Default 64 MiB.
    pub max_in_flight_bytes: usize,
    /// Most requests one connection may have in flight. Default 1024.
    pub max_in_flight_requests: usize,
    /// A connection with nothing in flight and nothing received for this long
    /// is closed. Default 10 minutes (real time: a socket timer, not a broker timer).
    pub idle_timeout: Duration,
    /// After the shutdown future resolves, how long in-flight requests get
    /// to finish before their connections are dropped. Default 10 s.
    pub shutdown_timeout: Duration,
    /// Longest long-poll a fetch may ask for; longer waits are cut to it.
    /// Default 5 minutes.
    pub max_fetch_wait: Duration,
    /// Most connections served at once from one client address (Kafka's
    /// `max.connections.per.ip`), so one host cannot take every slot;
    /// refused like connections over `max_connections`. Default 512.
    pub max_connections_per_ip: usize,
    /// Request bytes being read or waiting to be answered, server-wide
    /// (Kafka's `queued.max.request.bytes`). Every byte is reserved before
    /// it is read; past the budget the server stops reading sockets instead
    /// of growing (one frame already started may still finish). Raised to
    /// at least one frame. Default 100 MiB.
    pub max_queued_request_bytes: usize,
    /// Response bytes waiting to be written, server-wide, counting the
    /// room reserved for responses being prepared (a fetch reserves its
    /// `max_bytes`) and the requests they answer. Past it, a
    /// connection holding more than its fair share (this budget over the
    /// connections with responses queued) reads no more requests until its
    /// peer takes them; the other connections go on being served.
    /// Default 100 MiB.
    pub max_queued_response_bytes: usize,
    /// A frame must be complete this long after its first byte arrived, or
    /// the connection is closed (a client that trickles a frame cannot hold
    /// its buffer and slot for ever). Default 30 s.
    pub frame_timeout: Duration,
    /// A connection must complete its first request within this long of
    /// being accepted, or it is closed: connections that never speak give
    /// their slot back well before `idle_timeout`. Default 10 s.
    pub first_request_timeout: Duration,
    /// Most partitions (or topic or group names) one request may list; a
    /// request over it, or listing one twice, is refused whole with a
    /// header-level `INVALID_REQUEST`, which keeps every response small
    /// enough for a frame. Default 10,000.
    pub max_request_partitions: usize,
    /// Limits to share with another face (e.g. the Kafka listener), so the
    /// budgets and slots above hold for both together; `None` builds them
    /// from the fields above. When set, its own config is what counts.
    pub limits: Option<Arc<Limits>>,
    /// Where the blocking work that may wait on the disk (produces,
    /// commits, topic changes) is noted while it runs; share it with the
    /// admin face (`RequestMetrics::disk_watch`) so `/readyz` reports a
    /// stuck disk. Default: a watch of its own (stuck after 10 s).
    pub disk_watch: Arc<DiskWatch>,
    /// Told about every request and connection (e.g. for latency histograms).
    pub observer: Option<Arc<dyn ServerObserver>>,
}

impl ServerConfig {
    /// The connection and budget limits of this config.
    pub fn limits_config(&self) -> LimitsConfig {
        LimitsConfig {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_queued_request_bytes: self.max_queued_request_bytes,
            max_queued_response_bytes: self.max_queued_response_bytes,
            max_frame: self.max_frame,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_frame: DEFAULT_MAX_FRAME,
            max_connections: 1024,
            max_in_flight_bytes: 64 << 20,
            max_in_flight_requests: 1024,
            idle_timeout: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(10),
            max_fetch_wait: Duration::from_secs(300),
            max_connections_per_ip: 512,
            max_queued_request_bytes: 100 << 20,
            max_queued_response_bytes: 100 << 20,
            frame_timeout: Duration::from_secs(30),
            first_request_timeout: Duration::from_secs(10),
            max_request_partitions: 10_000,
            limits: None,
            disk_watch: Arc::default(),
            observer: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("max_frame", &self.max_frame)
            .field("max_connections", &self.max_connections)
            .field("max_in_flight_bytes", &self.max_in_flight_bytes)
            .field("max_in_flight_requests", &self.max_in_flight_requests)
            .field("idle_timeout", &self.idle_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("max_fetch_wait", &self.max_fetch_wait)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("max_queued_request_bytes", &self.max_queued_request_bytes)
            .field("max_queued_response_bytes", &self.max_queued_response_bytes)
            .field("frame_timeout", &self.frame_timeout)
            .field("first_request_timeout", &self.first_request_timeout)
            .field("max_request_partitions", &self.max_request_partitions)
            .field("limits", &self.limits.is_some())
            .field("disk_watch", &self.disk_watch)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// One answered request, as a [`ServerObserver`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestEvent {
    /// The api.
    pub api_key: ApiKey,
    /// Its version.
    pub api_version: i16,
    /// From decoding the request to handing its response to the writer.
    pub elapsed: Duration,
    /// The first error code the response carries (top level or per
    /// partition/topic/group), `None` when everything succeeded.
    pub error: Option<ErrorCode>,
}

/// Why a connection ended, as a [`ServerObserver`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// A frame over `max_frame`, or a header or body that does not follow the protocol.
    Malformed,
    /// Reading or writing the socket failed.
    Io,
    /// Nothing happened for `idle_timeout`.
    Idle,
    /// A frame was not complete within `frame_timeout`.
    SlowFrame,
    /// No request was complete within `first_request_timeout`.
    NoRequest,
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// A short stable name, e.g. for a metric label.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Malformed => "malformed",
            CloseReason::Io => "io",
            CloseReason::Idle => "idle",
            CloseReason::SlowFrame => "slow_frame",
            CloseReason::NoRequest => "no_request",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// A hook told about requests and connections, e.g. to export request
/// latency histograms; keep it cheap, it runs on the connection's tasks.
pub trait ServerObserver: Send + Sync {
    /// Called once per answered request (refusals included, as no api).
    fn on_request(&self, event: &RequestEvent);

    /// Called when a connection is accepted and served.
    fn on_connection_opened(&self, _peer: SocketAddr) {}

    /// Called when a served connection ends.
    fn on_connection_closed(&self, _peer: SocketAddr, _reason: CloseReason) {}

    /// Called when a connection is refused at accept, with the limit it met.
    fn on_connection_refused(&self, _peer: SocketAddr, _reason: Refusal) {}

    /// Called when a request with an unknown api key or version is refused.
    fn on_refusal(&self, _api_key: i16, _api_version: i16) {}
}

/// Why the server could not start or ended abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The listener's local address could not be read.
    #[error("cannot read the listener's address")]
    LocalAddr {
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The server task panicked or was cancelled.
    #[error("the server task failed")]
    Task {
        /// The runtime's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Binds a listener on `addr` (`host:port`; port 0 picks a free port, which
/// `listener.local_addr()` then reports).
///
/// # Errors
/// [`ServerError::Bind`] if the address cannot be resolved or bound.
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub broker: Broker,
    pub config: ServerConfig,
    /// Connection slots and byte budgets.
    pub limits: Arc<Limits>,
    /// Turns true once shutdown starts.
    pub stop: watch::Receiver<bool>,
}

/// Serves `broker` on `listener` until `shutdown` resolves: one task per
/// connection (the broker runs its periodic work on its own). On shutdown
/// it stops accepting,
/// ends long-poll waits early (they answer with what is there), lets
/// in-flight requests finish for at most `shutdown_timeout`, and returns.
/// The caller then closes the broker.
///
/// Must run on a multi-threaded tokio runtime or one with a blocking pool
/// (every runtime has one).
///
/// # Errors
/// None today (accept errors such as running out of file descriptors are
/// logged and retried after a short pause); the `Result` leaves room.
pub async fn run(
    listener: TcpListener,
    broker: Broker,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = config
        .limits
        .clone()
        .unwrap_or_else(|| Limits::new(config.limits_config()));
    let shared = Arc::new(Shared {
        broker: broker.clone(),
        config: config.clone(),
        limits: Arc::clone(&limits),
        stop: stop_rx.clone(),
    });
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = match limits.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(refusal) => {
                            let (total, log) = limits.note(limits::Enforced::Refused(refusal));
                            if log {
                                tracing::warn!(%peer, limit = refusal.name(), refused_so_far = total, "connection refused");
                            }
                            if let Some(o) = &config.observer {
                                o.on_connection_refused(peer, refusal);
                            }
                            drop(stream);
                            continue;
                        }
                    };
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        connection::serve(stream, peer, shared).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // EMFILE and friends pass; pausing keeps the loop from spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "shutdown timeout: dropping connections with requests in flight"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// A server running on its own task, as [`start`] returns it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl ServerHandle {
    /// The address the server listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts the server down gracefully and waits for [`run`] to return.
    ///
    /// # Errors
    /// [`ServerError::Task`] if the server task panicked.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|source| ServerError::Task { source })?
    }
}

/// Binds `addr` and spawns [`run`] on the current runtime; shut it down
/// with [`ServerHandle::shutdown`] (dropping the handle shuts it down too).
///
/// # Errors
/// [`ServerError::Bind`] or [`ServerError::LocalAddr`].
pub async fn start(
    addr: &str,
    broker: Broker,
    config: ServerConfig,
) -> Result<ServerHandle, ServerError> {
    let listener = bind(addr).await?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::LocalAddr { source })?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, broker, config, async move {
        // A dropped handle counts as a shutdown request.
        let _ = stop_rx.await;
    }));
    Ok(ServerHandle {
        addr: local,
        stop: Some(stop_tx),
        task,
    })
}
