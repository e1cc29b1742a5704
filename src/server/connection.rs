//! One client connection: a reader loop that cuts frames off the socket and
//! starts their requests, a writer task that serialises responses back, and
//! a produce task that applies this connection's produces one after another.
//!
//! Ordering: every request but produce runs on its own task, so responses
//! may leave out of order and a long-poll fetch never holds back a later
//! request; produces go through one queue per connection, so batches sent
//! to a partition over one connection are appended in the order they
//! arrived (the simplest rule that keeps an idempotent producer's sequences
//! in order; parallelism comes from more connections and larger batches).
//! A produce answered `REQUEST_TIMED_OUT` while its append goes on still
//! holds the queue until the append ends.
//!
//! Backpressure: a [`Budget`] counts the bytes a connection holds — each
//! request's frame plus room for its response (a fetch reserves its
//! `max_bytes`), then the real response until the writer has written it —
//! and the requests in flight. While either is over its limit the reader
//! does not read the socket, so the peer's writes stall in the kernel
//! instead of the server buffering without bound. Server-wide, the frames
//! are read by a [`FrameReader`] under the request budget and deadlines of
//! [`super::limits`], and queued responses are counted in a
//! [`ResponseShare`]: past the response budget a connection over its fair
//! share stops reading too, while the others go on.
//!
//! Knows the protocol's framing and headers, and `dispatch`; not the broker.

use super::dispatch::{self, Outcome};
use super::limits::{Enforced, Frame, ReadEnd, ReadTimeouts, RequestCharge, ResponseShare};
use super::{CloseReason, RequestEvent, Shared};
use crate::protocol::{
    ApiKey, ErrorCode, LENGTH_PREFIX, ProtocolError, RequestBody, RequestHeader, decode_request,
    encode_refusal, encode_response_parts, frame_parts,
};
use bytes::{BufMut, Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc, watch};

/// What one connection holds in flight, and a wake-up for its reader. Its
/// bytes are mirrored in the connection's [`ResponseShare`], so the server
/// sees every connection's load at once.
struct Budget {
    load: Mutex<Load>,
    room: Notify,
    share: ResponseShare,
}

#[derive(Default)]
struct Load {
    bytes: usize,
    requests: usize,
    /// The writer is gone: nothing more can be answered.
    closed: bool,
}

impl Budget {
    fn new(share: ResponseShare) -> Budget {
        Budget {
            load: Mutex::default(),
            room: Notify::new(),
            share,
        }
    }

    fn load(&self) -> MutexGuard<'_, Load> {
        // Plain counters: a panic elsewhere cannot leave them half-updated.
        self.load
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn charge(&self, bytes: usize) {
        self.share.queued(bytes);
        let mut l = self.load();
        l.bytes += bytes;
        l.requests += 1;
    }

    /// Replaces a request's reservation by what it really holds now.
    fn recharge(&self, from: usize, to: usize) {
        self.share.queued(to);
        self.share.written(from);
        let mut l = self.load();
        l.bytes = l.bytes - from + to;
    }

    fn release(&self, bytes: usize, requests: usize) {
        {
            let mut l = self.load();
            l.bytes -= bytes;
            l.requests -= requests;
        }
        self.share.written(bytes);
        // `notify_one` keeps a permit when the reader is not waiting yet.
        self.room.notify_one();
    }

    fn close(&self) {
        self.load().closed = true;
        self.room.notify_one();
    }
}

/// A response frame (its parts in order: fetched batches are shared with
/// the log's read, not copied) and the bytes its request was charged.
struct Outgoing {
    frame: Vec<Bytes>,
    charge: usize,
}

/// What a connection's request tasks share.
struct Ctx {
    shared: Arc<Shared>,
    budget: Arc<Budget>,
    out: mpsc::UnboundedSender<Outgoing>,
    /// Turns true when the connection stops reading: long polls end early.
    closing: watch::Receiver<bool>,
    /// The client's address (group members record its host).
    peer: SocketAddr,
}

/// A decoded request waiting to run.
struct Job {
    header: RequestHeader,
    body: RequestBody,
    request_len: usize,
    charge: usize,
    received: Instant,
    /// The request's bytes in the server-wide budget, held until answered.
    _held: RequestCharge,
}

/// Serves one accepted connection until the peer leaves, the connection
/// fails or idles out, or the server stops; answers what was already read.
pub(super) async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    // Responses are written whole by a buffered writer: Nagle only delays them.
    let _ = stream.set_nodelay(true);
    if let Some(o) = &shared.config.observer {
        o.on_connection_opened(peer);
    }
    let (rd, wr) = stream.into_split();
    let budget = Arc::new(Budget::new(shared.limits.response_share()));
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(
        wr,
        out_rx,
        Arc::clone(&budget),
        shared.config.idle_timeout,
    ));
    let (closing_tx, closing_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(&shared),
        budget,
        out: out_tx,
        closing: closing_rx,
        peer,
    });
    let (produce_tx, produce_rx) = mpsc::unbounded_channel();
    let producer = tokio::spawn(produce_loop(Arc::clone(&ctx), produce_rx));
    let reason = read_loop(&rd, &ctx, &produce_tx, peer).await;
    let _ = closing_tx.send(true);
    drop(produce_tx);
    let _ = producer.await;
    // The writer ends once every request task has sent its response and
    // dropped its handle on the queue.
    drop(ctx);
    let _ = writer.await;
    tracing::debug!(%peer, ?reason, "connection closed");
    if let Some(o) = &shared.config.observer {
        o.on_connection_closed(peer, reason);
    }
}

async fn read_loop(
    rd: &OwnedReadHalf,
    ctx: &Arc<Ctx>,
    produce: &mpsc::UnboundedSender<Job>,
    peer: SocketAddr,
) -> CloseReason {
    let config = &ctx.shared.config;
    let limits = &ctx.shared.limits;
    let mut stop = ctx.shared.stop.clone();
    let mut reader = limits.reader(ReadTimeouts {
        idle: config.idle_timeout,
        first_request: config.first_request_timeout,
        frame: config.frame_timeout,
    });
    loop {
        // Backpressure: read nothing more while the connection is over its
        // budget, or over its share of the server's response budget.
        loop {
            let changed = ctx.budget.share.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (room, closed) = {
                let l = ctx.budget.load();
                (
                    l.bytes < config.max_in_flight_bytes
                        && l.requests < config.max_in_flight_requests,
                    l.closed,
                )
            };
            if closed {
                return CloseReason::Io;
            }
            if room && ctx.budget.share.may_read() {
                break;
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return CloseReason::Shutdown,
                () = ctx.budget.room.notified() => {}
                () = changed => {}
            }
        }
        let next = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return CloseReason::Shutdown,
            next = reader.next_frame(rd) => next,
        };
        let end = match next {
            Ok(frame) => {
                if let Err(e) = start(frame, ctx, produce) {
                    tracing::warn!(%peer, error = %e, "closing connection: malformed request");
                    return CloseReason::Malformed;
                }
                continue;
            }
            Err(end) => end,
        };
        match end {
            ReadEnd::Idle if ctx.budget.load().requests > 0 => {}
            ReadEnd::Idle => {
                tracing::debug!(%peer, "closing idle connection");
                return CloseReason::Idle;
            }
            ReadEnd::PeerClosed => return CloseReason::PeerClosed,
            ReadEnd::Truncated { left } => {
                tracing::warn!(%peer, left, "peer closed in the middle of a frame");
                return CloseReason::Malformed;
            }
            e @ ReadEnd::TooLarge { .. } => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                return CloseReason::Malformed;
            }
            ReadEnd::SlowFrame => {
                let (total, log) = limits.note(Enforced::SlowFrame);
                if log {
                    tracing::warn!(%peer, timeout = ?config.frame_timeout, closed_so_far = total, "closing connection: frame not complete within the frame timeout");
                }
                return CloseReason::SlowFrame;
            }
            ReadEnd::NoRequest => {
                let (total, log) = limits.note(Enforced::NoRequest);
                if log {
                    tracing::warn!(%peer, timeout = ?config.first_request_timeout, closed_so_far = total, "closing connection: no request within the first-request timeout");
                }
                return CloseReason::NoRequest;
            }
            ReadEnd::Io(e) => {
                tracing::debug!(%peer, error = %e, "read failed");
                return CloseReason::Io;
            }
        }
    }
}

/// Decodes one frame and starts its request (or answers its refusal).
///
/// # Errors
/// A fatal [`ProtocolError`]: the connection must close.
fn start(
    frame: Frame,
    ctx: &Arc<Ctx>,
    produce: &mpsc::UnboundedSender<Job>,
) -> Result<(), ProtocolError> {
    let Frame {
        payload: frame,
        charge: held,
    } = frame;
    let request_len = frame.len();
    match decode_request(frame) {
        Ok((header, body)) => {
            let charge =
                request_len + dispatch::response_reserve(&body, ctx.shared.config.max_frame);
            ctx.budget.charge(charge);
            let job = Job {
                header,
                body,
                request_len,
                charge,
                received: Instant::now(),
                _held: held,
            };
            if job.header.api_key == ApiKey::Produce {
                // The produce task outlives the reader, so this cannot fail.
                let _ = produce.send(job);
            } else {
                let ctx = Arc::clone(ctx);
                tokio::spawn(async move { execute(&ctx, job).await });
            }
            Ok(())
        }
        Err(e) => {
            let (key, version) = match &e {
                ProtocolError::UnsupportedApi { key, .. } => (*key, -1),
                ProtocolError::UnsupportedVersion { key, version, .. } => (*key, *version),
                _ => return Err(e),
            };
            let Some(correlation_id) = e.correlation_id() else {
                return Err(e);
            };
            let mut out = BytesMut::new();
            encode_refusal(correlation_id, key, &mut out);
            ctx.budget.charge(out.len());
            if let Some(o) = &ctx.shared.config.observer {
                o.on_refusal(key, version);
            }
            let charge = out.len();
            let _ = ctx.out.send(Outgoing {
                frame: vec![out.freeze()],
                charge,
            });
            Ok(())
        }
    }
}

async fn produce_loop(ctx: Arc<Ctx>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        execute(&ctx, job).await;
    }
}

/// Runs a request and queues its response for the writer.
async fn execute(ctx: &Ctx, job: Job) {
    let Outcome {
        body,
        error,
        unfinished,
    } = dispatch::handle(
        &ctx.shared,
        &ctx.closing,
        ctx.peer,
        job.header.api_version,
        job.body,
    )
    .await;
    let id = job.header.correlation_id;
    let header_only = |code: ErrorCode| {
        frame_parts(|o| {
            o.put_i32(id);
            o.put_i16(code.to_i16());
        })
    };
    let mut error = error;
    let mut frame = match body {
        Ok(body) => encode_response_parts(id, job.header.api_version, &body),
        // The handler failed or refused: a header-level error, empty body.
        Err(code) => header_only(code),
    };
    let mut len: usize = frame.iter().map(Bytes::len).sum();
    if len > ctx.shared.config.max_frame + LENGTH_PREFIX {
        // Handlers keep responses within a frame (fetches are cut, request
        // sizes bounded); should one still outgrow it, the client gets an
        // error instead of a frame it would refuse.
        tracing::error!(
            api = job.header.api_key.name(),
            len,
            "response over the frame limit"
        );
        frame = header_only(ErrorCode::UnknownServerError);
        len = frame.iter().map(Bytes::len).sum();
        error = Some(ErrorCode::UnknownServerError);
    }
    if let Some(o) = &ctx.shared.config.observer {
        o.on_request(&RequestEvent {
            api_key: job.header.api_key,
            api_version: job.header.api_version,
            elapsed: job.received.elapsed(),
            error: error.filter(|c| *c != ErrorCode::None),
        });
    }
    let charge = job.request_len + len;
    ctx.budget.recharge(job.charge, charge);
    let _ = ctx.out.send(Outgoing { frame, charge });
    // The request's bytes leave the budget once it is answered.
    drop(job._held);
    if let Some(work) = unfinished {
        // Answered already (timed out); the next produce waits for it.
        work.await;
    }
}

/// Writes responses in arrival order, batching whatever is queued into one
/// flush. A peer that takes no bytes for `stall` is dropped.
async fn write_loop(
    wr: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    budget: Arc<Budget>,
    stall: Duration,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(first) = queue.recv().await {
        let (mut charge, mut count) = (0, 0);
        let mut next = Some(first);
        let mut written = 0;
        let mut failed = false;
        while let Some(o) = next.take() {
            charge += o.charge;
            count += 1;
            // Small parts gather in the buffer; a part as large as the
            // buffer is written straight from where it lies.
            for part in &o.frame {
                written += part.len();
                if !matches!(
                    tokio::time::timeout(stall, w.write_all(part)).await,
                    Ok(Ok(()))
                ) {
                    failed = true;
                    break;
                }
            }
            if failed {
                break;
            }
            // Coalesce what is already queued, up to ~1 MiB per flush.
            if written < (1 << 20) {
                next = queue.try_recv().ok();
            }
        }
        if failed || !matches!(tokio::time::timeout(stall, w.flush()).await, Ok(Ok(()))) {
            break;
        }
        budget.release(charge, count);
    }
    // What is still queued is given back when the connection's share drops.
    budget.close();
    let _ = w.shutdown().await;
}
