//! One pipelined connection: a writer task sends request frames in order, a
//! reader task matches response frames to their requests by correlation id
//! (responses may come back out of order) and completes each caller's
//! oneshot. The first exchange negotiates api versions (docs/protocol.md §8).
//!
//! When the connection drops, every request in flight fails with the
//! retriable [`ClientError::Closed`] and later calls fail at once; a caller
//! that wants to go on connects a new [`Client`] (the producer does).
//! Knows the protocol codec; nothing of records or the broker.

use super::error::ClientError;
use crate::protocol::{
    ApiKey, ApiVersionsRequest, DEFAULT_MAX_FRAME, ProtocolError, RequestBody, RequestHeader,
    ResponseBody, decode_frame, decode_response, encode_request_parts, peek_correlation_id,
};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How a [`Client`] connects and waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent in every request header (shown in logs and group descriptions).
    pub client_id: Option<String>,
    /// Largest frame sent or accepted. Default 8 MiB, as the server's.
    pub max_frame: usize,
    /// How long a call waits for its response (a fetch adds its own wait).
    pub request_timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            client_id: Some("logbus-client".to_owned()),
            max_frame: DEFAULT_MAX_FRAME,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

type Reply = Result<ResponseBody, ClientError>;

struct Waiter {
    api: ApiKey,
    version: i16,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Pending {
    waiters: HashMap<i32, Waiter>,
    /// The connection is gone: no new request may wait.
    closed: bool,
}

struct Inner {
    addr: String,
    config: ClientConfig,
    /// Negotiated version per api; empty until the ApiVersions exchange.
    versions: HashMap<ApiKey, i16>,
    next_id: AtomicI32,
    pending: Arc<Mutex<Pending>>,
    /// Request frames, each as the parts [`encode_request_parts`] made.
    out: mpsc::UnboundedSender<Vec<Bytes>>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone is gone: nobody can wait for a response any more.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A pipelined connection to a logbus server; clones share it, and any
/// number of calls may be in flight at once.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

fn lock(p: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // A map of senders: a panic elsewhere cannot leave it half-updated.
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Fails every waiter and refuses new ones.
fn close_all(pending: &Mutex<Pending>) {
    let waiters = {
        let mut p = lock(pending);
        p.closed = true;
        std::mem::take(&mut p.waiters)
    };
    for (_, w) in waiters {
        let _ = w.reply.send(Err(ClientError::Closed));
    }
}

impl Client {
    /// Connects to `addr` (`host:port`) with default settings and negotiates versions.
    ///
    /// # Errors
    /// [`ClientError::Connect`], or the ApiVersions exchange's error.
    pub async fn connect(addr: &str) -> Result<Client, ClientError> {
        Client::connect_with(addr, ClientConfig::default()).await
    }

    /// Connects to `addr` with `config` and negotiates versions.
    ///
    /// # Errors
    /// [`ClientError::Connect`] (also on the connect timeout), or the
    /// ApiVersions exchange's error.
    pub async fn connect_with(addr: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: addr.to_owned(),
            source,
        };
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(r) => r.map_err(connect_err)?,
                Err(elapsed) => return Err(connect_err(elapsed.into())),
            };
        // Requests are written whole: Nagle would only delay them.
        stream.set_nodelay(true).map_err(connect_err)?;
        let (rd, wr) = stream.into_split();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (out, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(wr, queue, Arc::clone(&pending)));
        let reader = tokio::spawn(read_loop(rd, Arc::clone(&pending), config.max_frame));
        let mut client = Client {
            inner: Arc::new(Inner {
                addr: addr.to_owned(),
                config,
                versions: HashMap::new(),
                next_id: AtomicI32::new(0),
                pending,
                out,
                tasks: [writer, reader],
            }),
        };
        let ResponseBody::ApiVersions(v) = client
            .call_at(RequestBody::ApiVersions(ApiVersionsRequest {}), 0, None)
            .await?
        else {
            return Err(ClientError::UnexpectedResponse {
                api: ApiKey::ApiVersions,
            });
        };
        let versions = ApiKey::ALL
            .iter()
            .filter_map(|&api| v.negotiate(api).map(|ver| (api, ver)))
            .collect();
        match Arc::get_mut(&mut client.inner) {
            Some(inner) => inner.versions = versions,
            None => unreachable!("no clone of a client exists before connect returns"),
        }
        Ok(client)
    }

    /// The address this client dialled.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// The settings this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The version of `api` negotiated with the server, if both speak one.
    pub fn version(&self, api: ApiKey) -> Option<i16> {
        self.inner.versions.get(&api).copied()
    }

    /// Whether the connection is gone (calls would fail with [`ClientError::Closed`]).
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.pending).closed
    }

    /// Sends `body` at the negotiated version and waits for its response,
    /// for `timeout` or the configured request timeout.
    ///
    /// # Errors
    /// [`ClientError::Unsupported`], [`ClientError::RequestTooLarge`],
    /// [`ClientError::Closed`], [`ClientError::Timeout`],
    /// [`ClientError::Protocol`], or a refusal as [`ClientError::Broker`].
    pub async fn call(
        &self,
        body: RequestBody,
        timeout: Option<Duration>,
    ) -> Result<ResponseBody, ClientError> {
        let api = body.api_key();
        let version = self.version(api).ok_or(ClientError::Unsupported { api })?;
        self.call_at(body, version, timeout).await
    }

    async fn call_at(
        &self,
        body: RequestBody,
        version: i16,
        timeout: Option<Duration>,
    ) -> Result<ResponseBody, ClientError> {
        let inner = &*self.inner;
        let api = body.api_key();
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader {
            api_key: api,
            api_version: version,
            correlation_id: id,
            client_id: inner.config.client_id.clone(),
        };
        // Produced batches stay shared with the caller's `Bytes`: not copied.
        let frame = encode_request_parts(&header, &body);
        let size =
            frame.iter().map(Bytes::len).sum::<usize>() - crate::protocol::frame::LENGTH_PREFIX;
        if size > inner.config.max_frame {
            return Err(ClientError::RequestTooLarge {
                api,
                size,
                max: inner.config.max_frame,
            });
        }
        let (reply, response) = oneshot::channel();
        {
            let mut p = lock(&inner.pending);
            if p.closed {
                return Err(ClientError::Closed);
            }
            p.waiters.insert(
                id,
                Waiter {
                    api,
                    version,
                    reply,
                },
            );
        }
        if inner.out.send(frame).is_err() {
            lock(&inner.pending).waiters.remove(&id);
            return Err(ClientError::Closed);
        }
        let after = timeout.unwrap_or(inner.config.request_timeout);
        match tokio::time::timeout(after, response).await {
            Ok(Ok(reply)) => reply,
            // The reader dropped the waiter without answering: the connection closed.
            Ok(Err(_closed)) => Err(ClientError::Closed),
            Err(_elapsed) => {
                lock(&inner.pending).waiters.remove(&id);
                Err(ClientError::Timeout { api, after })
            }
        }
    }
}

async fn write_loop(
    wr: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Vec<Bytes>>,
    pending: Arc<Mutex<Pending>>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    'out: while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(frame) = next.take() {
            // Small parts gather in the buffer; a part as large as the
            // buffer is written straight from where it lies.
            for part in &frame {
                written += part.len();
                if w.write_all(part).await.is_err() {
                    break 'out;
                }
            }
            // Coalesce queued requests into one flush, up to ~1 MiB.
            if written < (1 << 20) {
                next = queue.try_recv().ok();
            }
        }
        if w.flush().await.is_err() {
            break;
        }
    }
    close_all(&pending);
}

async fn read_loop(mut rd: OwnedReadHalf, pending: Arc<Mutex<Pending>>, max_frame: usize) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        match decode_frame(&mut buf, max_frame) {
            Ok(Some(frame)) => {
                if !deliver(frame, &pending) {
                    break;
                }
                continue;
            }
            Ok(None) => {}
            Err(_too_large) => break,
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    close_all(&pending);
}

/// Hands one response frame to its waiter; `false` if the stream is unusable.
fn deliver(frame: Bytes, pending: &Mutex<Pending>) -> bool {
    let Ok(id) = peek_correlation_id(&frame) else {
        return false;
    };
    // A response to a request that timed out has no waiter: dropped.
    let Some(w) = lock(pending).waiters.remove(&id) else {
        return true;
    };
    let reply = match decode_response(frame, w.api, w.version) {
        Ok((_, body)) => Ok(body),
        Err(ProtocolError::Refused { error_code, .. }) => Err(ClientError::Broker {
            api: w.api,
            code: error_code.into(),
            message: None,
        }),
        Err(source) => Err(ClientError::Protocol { source }),
    };
    let _ = w.reply.send(reply);
    true
}
