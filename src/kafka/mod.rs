//! The Kafka listener: a thin async shell that serves the broker to Kafka
//! clients (librdkafka, the Java client, kafka-python, franz-go, ...). It
//! reads Kafka frames off sockets, decodes them with the pure `kafka_codec`,
//! maps each request onto broker calls, and writes the responses back. It
//! owns sockets, connection limits, per-connection budgets, response order
//! and shutdown; every semantic (topics, offsets, producers, groups) is the
//! broker's, and this module keeps no state beyond a connection.
//!
//! Kafka's connection rules it follows (docs/kafka.md):
//! - responses leave strictly in request order on each connection, though
//!   requests run concurrently (a long-poll fetch holds back the responses
//!   behind it, as in Kafka); produces are applied in arrival order;
//! - a produce with `acks=0` gets no response at all;
//! - an ApiVersions request of a version too new is answered with a v0 body
//!   listing what is supported (KIP-511);
//! - a request whose header can be read but whose api, version or body is
//!   not supported gets Kafka's error; anything else closes the connection.
//!
//! ```no_run
//! # async fn demo(broker: logbus::broker::Broker) -> Result<(), logbus::kafka::KafkaError> {
//! use logbus::kafka::{KafkaConfig, start};
//! let kafka = start("127.0.0.1:0", broker, KafkaConfig::default()).await?;
//! println!("bootstrap.servers={}", kafka.local_addr());
//! kafka.shutdown().await?;
//! # Ok(()) }
//! ```

mod admin;
mod connection;
mod dispatch;
mod fetch;
mod groups;
mod produce;

use crate::broker::Broker;
use crate::observe::RequestObserver;
use crate::server::limits::{self, Limits, LimitsConfig};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Limits and identity of a Kafka listener; the default suits a dev broker.
#[derive(Clone)]
pub struct KafkaConfig {
    /// Largest request frame accepted (Kafka's `socket.request.max.bytes`);
    /// a larger one closes the connection. Default 8 MiB.
    pub max_frame: usize,
    /// Most connections served at once; one accepted over the limit is
    /// closed at once. Default 1024.
    pub max_connections: usize,
    /// Most connections served at once from one client address. Default 256.
    pub max_connections_per_ip: usize,
    /// Request bytes being read or waiting to be answered, over all
    /// connections (Kafka's `queued.max.request.bytes`); past it no socket
    /// is read. Default 256 MiB.
    pub max_queued_request_bytes: usize,
    /// Response bytes waiting to be written, over all connections; past it
    /// connections over their fair share stop reading. Default 256 MiB.
    pub max_queued_response_bytes: usize,
    /// A frame must arrive whole within this time of its first byte.
    /// Default 30 s.
    pub frame_timeout: Duration,
    /// A connection must complete its first request within this time.
    /// Default 10 s.
    pub first_request_timeout: Duration,
    /// Limits shared with another face (the native server of `logbus
    /// serve`), so both are budgeted together; `None` makes the listener
    /// its own from the fields above.
    pub limits: Option<Arc<Limits>>,
    /// Bytes one connection may hold in requests being processed and
    /// responses not yet written (a fetch counts its `max_bytes` from the
    /// start); past it the listener stops reading that socket. Default 64 MiB.
    pub max_in_flight_bytes: usize,
    /// Most requests one connection may have in flight. Default 1024.
    pub max_in_flight_requests: usize,
    /// A connection with nothing in flight and nothing received for this
    /// long is closed (Kafka's `connections.max.idle.ms`). Default 10 minutes.
    pub idle_timeout: Duration,
    /// After shutdown begins, how long in-flight requests get to finish.
    /// Default 10 s.
    pub shutdown_timeout: Duration,
    /// Longest long-poll a fetch may ask for. Default 5 minutes.
    pub max_fetch_wait: Duration,
    /// The host and port Metadata gives clients for this broker; `None`
    /// gives the address the listener is bound to.
    pub advertised: Option<(String, u16)>,
    /// This broker's node id in Metadata and FindCoordinator. Default 0.
    pub node_id: i32,
    /// The cluster id Metadata reports.
    pub cluster_id: String,
    /// Told about every answered request (e.g. latency histograms).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            max_frame: 8 << 20,
            max_connections: 1024,
            max_connections_per_ip: 256,
            max_queued_request_bytes: 256 << 20,
            max_queued_response_bytes: 256 << 20,
            frame_timeout: Duration::from_secs(30),
            first_request_timeout: Duration::from_secs(10),
            limits: None,
            max_in_flight_bytes: 64 << 20,
            max_in_flight_requests: 1024,
            idle_timeout: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(10),
            max_fetch_wait: Duration::from_secs(300),
            advertised: None,
            node_id: 0,
            cluster_id: "logbus-cluster".to_owned(),
            observer: None,
        }
    }
}

impl KafkaConfig {
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

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("max_frame", &self.max_frame)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("max_queued_request_bytes", &self.max_queued_request_bytes)
            .field("max_queued_response_bytes", &self.max_queued_response_bytes)
            .field("frame_timeout", &self.frame_timeout)
            .field("first_request_timeout", &self.first_request_timeout)
            .field("limits", &self.limits.is_some())
            .field("max_in_flight_bytes", &self.max_in_flight_bytes)
            .field("max_in_flight_requests", &self.max_in_flight_requests)
            .field("idle_timeout", &self.idle_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("max_fetch_wait", &self.max_fetch_wait)
            .field("advertised", &self.advertised)
            .field("node_id", &self.node_id)
            .field("cluster_id", &self.cluster_id)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Why the listener could not start or ended abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// Binding the listening socket failed.
    #[error("cannot listen for Kafka clients on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The listener's local address could not be read.
    #[error("cannot read the Kafka listener's address")]
    LocalAddr {
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The listener task panicked or was cancelled.
    #[error("the Kafka listener task failed")]
    Task {
        /// The runtime's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Binds a listener on `addr` (`host:port`; port 0 picks a free port).
///
/// # Errors
/// [`KafkaError::Bind`] if the address cannot be resolved or bound.
pub async fn bind(addr: &str) -> Result<TcpListener, KafkaError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| KafkaError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub broker: Broker,
    pub config: KafkaConfig,
    /// The host and port Metadata advertises.
    pub advertised: (String, u16),
    /// Connection slots and byte budgets (maybe shared with another face).
    pub limits: Arc<Limits>,
    /// Turns true once shutdown starts.
    pub stop: watch::Receiver<bool>,
}

/// Serves `broker` to Kafka clients on `listener` until `shutdown`
/// resolves: one task per connection. On shutdown it stops accepting, ends
/// long polls early, lets in-flight requests finish for at most
/// `shutdown_timeout`, and returns. The caller closes the broker.
///
/// # Errors
/// [`KafkaError::LocalAddr`] if the listener's address cannot be read.
pub async fn run(
    listener: TcpListener,
    broker: Broker,
    config: KafkaConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), KafkaError> {
    let local = listener
        .local_addr()
        .map_err(|source| KafkaError::LocalAddr { source })?;
    let advertised = config
        .advertised
        .clone()
        .unwrap_or_else(|| (local.ip().to_string(), local.port()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = config
        .limits
        .clone()
        .unwrap_or_else(|| Limits::new(config.limits_config()));
    let shared = Arc::new(Shared {
        broker: broker.clone(),
        config: config.clone(),
        advertised,
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
                                tracing::warn!(%peer, limit = refusal.name(), refused_so_far = total, "Kafka connection refused");
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
                    tracing::warn!(error = %e, "Kafka accept failed");
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
            "shutdown timeout: dropping Kafka connections with requests in flight"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// A listener running on its own task, as [`start`] returns it.
#[derive(Debug)]
pub struct KafkaHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), KafkaError>>,
}

impl KafkaHandle {
    /// The address the listener is bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts the listener down gracefully and waits for [`run`] to return.
    ///
    /// # Errors
    /// [`KafkaError::Task`] if the listener task panicked.
    pub async fn shutdown(mut self) -> Result<(), KafkaError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|source| KafkaError::Task { source })?
    }
}

/// Binds `addr` and spawns [`run`] on the current runtime, serving `broker`
/// to Kafka clients; shut it down with [`KafkaHandle::shutdown`] (dropping
/// the handle shuts it down too). Without an advertised address, Metadata
/// names the bound one.
///
/// # Errors
/// [`KafkaError::Bind`] or [`KafkaError::LocalAddr`].
pub async fn start(
    addr: &str,
    broker: Broker,
    config: KafkaConfig,
) -> Result<KafkaHandle, KafkaError> {
    let listener = bind(addr).await?;
    let local = listener
        .local_addr()
        .map_err(|source| KafkaError::LocalAddr { source })?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, broker, config, async move {
        let _ = stop_rx.await;
    }));
    Ok(KafkaHandle {
        addr: local,
        stop: Some(stop_tx),
        task,
    })
}
