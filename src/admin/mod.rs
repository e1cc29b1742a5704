//! The admin face: a small read-only HTTP/1.1 server (hyper 1) for
//! operators and probes. `GET /healthz`, `/readyz`, `/metrics`
//! (OpenMetrics text), and JSON under `/v1/topics` and `/v1/groups`; the
//! shapes are documented in `docs/admin.md`.
//!
//! It owns the listener's accept loop, one task per connection and their
//! graceful shutdown, and the Prometheus rendering of the broker's counters
//! plus [`RequestMetrics`]. It uses only the broker's public read API and
//! the [`crate::observe`] seam: it must not know the native server, the
//! client or the protocol, and it never changes broker state.

mod error;
mod json;
mod metrics;
mod routes;

pub use error::AdminError;
pub use metrics::RequestMetrics;

use crate::broker::Broker;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A client that has not sent its request headers by then is dropped, so a
/// silent connection can hold neither a task forever nor shutdown up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop rests after an accept failure that is not
/// about one connection (e.g. out of file descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Limits of the admin face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminConfig {
    /// Most connections served at once; one accepted over it is closed at
    /// once (and counted in `logbus_connections_refused_total{face="admin"}`),
    /// so keep-alive clients cannot hold the process's descriptors.
    /// Default 64: probes and scrapers need a handful.
    pub max_connections: usize,
}

impl Default for AdminConfig {
    fn default() -> AdminConfig {
        AdminConfig {
            max_connections: 64,
        }
    }
}

/// Serves the admin endpoints on `listener` until `shutdown` completes,
/// with the default [`AdminConfig`]; see [`run_with`].
///
/// # Errors
/// As [`run_with`].
pub async fn run(
    listener: TcpListener,
    broker: Broker,
    metrics: Arc<RequestMetrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    run_with(listener, broker, metrics, AdminConfig::default(), shutdown).await
}

/// Serves the admin endpoints on `listener` until `shutdown` completes.
///
/// Each connection runs on its own task, at most `config.max_connections`
/// at once. When `shutdown` resolves, the listener is closed, idle
/// keep-alive connections are closed, requests in flight are answered, and
/// then this returns.
///
/// # Errors
/// None at present: accept failures are per connection or transient
/// (resource pressure) and are retried, and a failing connection only ends
/// itself. The `Result` leaves room for start-up checks.
///
/// # Panics
/// If called outside a tokio runtime (it spawns a task per connection).
pub async fn run_with(
    listener: TcpListener,
    broker: Broker,
    metrics: Arc<RequestMetrics>,
    config: AdminConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let mut refused: u64 = 0;
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, slot) = match accepted {
            Ok((stream, peer)) => match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => (stream, slot),
                Err(_) => {
                    refused += 1;
                    if refused.is_power_of_two() || refused.is_multiple_of(1000) {
                        tracing::warn!(%peer, max = config.max_connections, refused_so_far = refused, "admin connection refused: too many connections");
                    }
                    metrics.connection_refused("admin", "max_connections");
                    drop(stream);
                    continue;
                }
            },
            Err(e) if per_connection(&e) => continue,
            Err(_) => {
                // Out of descriptors or buffers: the cause is outside this
                // loop and passes; rest a little, still heeding shutdown.
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let broker = broker.clone();
        let metrics = Arc::clone(&metrics);
        let service = service_fn(move |request: Request<Incoming>| {
            let response =
                routes::respond(&broker, &metrics, request.method(), request.uri().path());
            async move { Ok::<Response<_>, Infallible>(response) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's error (reset by the peer, header timeout,
            // malformed request) concerns that client only; hyper has
            // already answered what it could.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The OpenMetrics text `GET /metrics` answers: the broker's counters from a
/// fresh [`Broker::metrics`] snapshot and the request histograms of
/// `requests`, ending in `# EOF`. Names are listed in `docs/admin.md`.
///
/// # Errors
/// [`AdminError::Metrics`] if the encoder fails (it writes into a `String`,
/// so in practice never).
pub fn render_metrics(broker: &Broker, requests: &RequestMetrics) -> Result<String, AdminError> {
    metrics::render(&broker.metrics(), requests).map_err(|source| AdminError::Metrics { source })
}

/// The status the admin face answers `method` on `path` with, without a
/// socket: the routing the `admin_route` fuzz target drives. Not part of
/// the stable API.
#[doc(hidden)]
pub fn route_status(broker: &Broker, metrics: &RequestMetrics, method: &str, path: &str) -> u16 {
    let Ok(method) = hyper::Method::from_bytes(method.as_bytes()) else {
        return 400;
    };
    routes::respond(broker, metrics, &method, path)
        .status()
        .as_u16()
}

/// Accept errors that are about one connection that died before it was
/// accepted; the next accept is unaffected.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
