//! One Kafka client connection: a reader that cuts frames off the socket
//! and starts their requests, a produce task that applies this connection's
//! produces one after another, and a writer that sends the responses back
//! strictly in request order.
//!
//! Order: for every request the reader queues a slot (a oneshot receiver)
//! before starting it; requests run concurrently, and the writer takes the
//! slots in queue order, waiting on each in turn. So a response never
//! overtakes an earlier one, while later requests still run meanwhile (a
//! long-poll fetch delays only what is written after it, as in Kafka). A
//! produce with `acks=0` fills its slot with nothing: no response is sent.
//!
//! Budget: as the native server does, a connection's held bytes (each
//! request's frame plus room for its response, a fetch's `max_bytes` from
//! the start, then the real response until it is written) and its requests
//! in flight are counted; over either limit the reader stops reading, so a
//! client that pipelines without reading its responses stalls in the
//! kernel instead of growing the broker's memory. Frames are read with the
//! server's `limits::FrameReader` (memory follows bytes received; the frame
//! and first-request deadlines; the shared request budget) and responses
//! count in the shared response budget.
//!
//! Knows framing and `dispatch`; not the codec's messages or the broker.

use super::Shared;
use super::dispatch::{self, Decoded, Job};
use crate::server::limits::{Enforced, Frame, ReadEnd, ReadTimeouts, ResponseShare};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// What one connection holds in flight, and a wake-up for its reader. Its
/// bytes are mirrored in the connection's [`ResponseShare`], so the limits
/// shared by every connection see each one's load.
pub(super) struct Budget {
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
    pub(super) fn recharge(&self, from: usize, to: usize) {
        self.share.queued(to);
        self.share.written(from);
        let mut l = self.load();
        l.bytes = l.bytes - from + to;
    }

    fn release(&self, bytes: usize) {
        {
            let mut l = self.load();
            l.bytes -= bytes;
            l.requests -= 1;
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

/// What fills a request's slot.
pub(super) enum Reply {
    /// A whole response frame (length prefix included), in parts, and the
    /// bytes its request is charged until it is written.
    Frame { parts: Vec<Bytes>, charge: usize },
    /// No response (a produce with `acks=0`); frees the request's charge.
    Nothing { charge: usize },
    /// The request cannot be answered: close the connection after the
    /// responses before it.
    Close,
}

/// What a connection's request tasks share.
pub(super) struct Ctx {
    pub shared: Arc<Shared>,
    pub budget: Arc<Budget>,
    /// Turns true when the connection stops reading: long polls end early.
    pub closing: watch::Receiver<bool>,
    /// The client's address (group members record its host).
    pub peer: SocketAddr,
}

type Slot = oneshot::Receiver<Reply>;

/// Serves one accepted connection until the peer leaves, a request cannot
/// be read, the connection idles out, or the listener stops.
pub(super) async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let budget = Arc::new(Budget::new(shared.limits.response_share()));
    let (slots_tx, slots_rx) = mpsc::unbounded_channel::<Slot>();
    let writer = tokio::spawn(write_loop(
        wr,
        slots_rx,
        Arc::clone(&budget),
        shared.config.idle_timeout,
    ));
    let (closing_tx, closing_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(&shared),
        budget,
        closing: closing_rx,
        peer,
    });
    let (produce_tx, produce_rx) = mpsc::unbounded_channel();
    let producer = tokio::spawn(produce_loop(Arc::clone(&ctx), produce_rx));
    let why = read_loop(&mut rd, &ctx, &slots_tx, &produce_tx).await;
    let _ = closing_tx.send(true);
    drop(produce_tx);
    drop(slots_tx);
    let _ = producer.await;
    let _ = writer.await;
    tracing::debug!(%peer, why, "Kafka connection closed");
}

async fn read_loop(
    rd: &mut OwnedReadHalf,
    ctx: &Arc<Ctx>,
    slots: &mpsc::UnboundedSender<Slot>,
    produce: &mpsc::UnboundedSender<(Box<Job>, oneshot::Sender<Reply>)>,
) -> &'static str {
    let config = &ctx.shared.config;
    let limits = &ctx.shared.limits;
    let peer = ctx.peer;
    let mut stop = ctx.shared.stop.clone();
    let mut reader = limits.reader(ReadTimeouts {
        idle: config.idle_timeout,
        first_request: config.first_request_timeout,
        frame: config.frame_timeout,
    });
    loop {
        // Backpressure: read nothing more while the connection is over its
        // budget, or over its share of the shared response budget.
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
                return "the writer stopped";
            }
            if room && ctx.budget.share.may_read() {
                break;
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return "shutdown",
                () = ctx.budget.room.notified() => {}
                () = changed => {}
            }
        }
        let next = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return "shutdown",
            next = reader.next_frame(rd) => next,
        };
        match next {
            Ok(frame) => {
                if !start(frame, ctx, slots, produce) {
                    return "a request could not be read";
                }
            }
            Err(ReadEnd::Idle) if ctx.budget.load().requests > 0 => {}
            Err(ReadEnd::Idle) => return "idle",
            Err(ReadEnd::PeerClosed) => return "peer closed",
            Err(ReadEnd::Truncated { left }) => {
                tracing::warn!(%peer, left, "Kafka client closed in the middle of a frame");
                return "peer closed in the middle of a frame";
            }
            Err(e @ ReadEnd::TooLarge { .. }) => {
                tracing::warn!(%peer, error = %e, "closing Kafka connection: bad frame");
                return "frame too large";
            }
            Err(ReadEnd::SlowFrame) => {
                let (total, log) = limits.note(Enforced::SlowFrame);
                if log {
                    tracing::warn!(%peer, timeout = ?config.frame_timeout, closed_so_far = total, "closing Kafka connection: frame not complete within the frame timeout");
                }
                return "slow frame";
            }
            Err(ReadEnd::NoRequest) => {
                let (total, log) = limits.note(Enforced::NoRequest);
                if log {
                    tracing::warn!(%peer, timeout = ?config.first_request_timeout, closed_so_far = total, "closing Kafka connection: no request within the first-request timeout");
                }
                return "no request";
            }
            Err(ReadEnd::Io(_)) => return "read failed",
        }
    }
}

/// Decodes one frame, queues its slot and starts it. `false` when the
/// connection must close (the slot then says so to the writer).
fn start(
    frame: Frame,
    ctx: &Arc<Ctx>,
    slots: &mpsc::UnboundedSender<Slot>,
    produce: &mpsc::UnboundedSender<(Box<Job>, oneshot::Sender<Reply>)>,
) -> bool {
    let (tx, rx) = oneshot::channel();
    // The writer lives until the slots sender is dropped: this cannot fail.
    let _ = slots.send(rx);
    let Frame {
        payload,
        charge: held,
    } = frame;
    match dispatch::decode(payload, &ctx.shared) {
        Decoded::Run(mut job) => {
            // The frame's bytes stay reserved in the shared request budget
            // until the request is done.
            job.held = Some(held);
            ctx.budget.charge(job.charge);
            if job.is_produce() {
                let _ = produce.send((job, tx));
            } else {
                let ctx = Arc::clone(ctx);
                tokio::spawn(async move {
                    let reply = dispatch::run(&ctx, *job).await;
                    let _ = tx.send(reply);
                });
            }
            true
        }
        Decoded::Answer(parts) => {
            let charge = parts.iter().map(Bytes::len).sum();
            ctx.budget.charge(charge);
            let _ = tx.send(Reply::Frame { parts, charge });
            true
        }
        Decoded::Close(why) => {
            tracing::warn!(peer = %ctx.peer, why, "closing Kafka connection: request refused");
            let _ = tx.send(Reply::Close);
            false
        }
    }
}

async fn produce_loop(
    ctx: Arc<Ctx>,
    mut jobs: mpsc::UnboundedReceiver<(Box<Job>, oneshot::Sender<Reply>)>,
) {
    while let Some((job, tx)) = jobs.recv().await {
        let reply = dispatch::run(&ctx, *job).await;
        let _ = tx.send(reply);
    }
}

/// Writes the replies in slot order, flushing whenever the next one is not
/// ready yet. A peer that takes no bytes for `stall` is dropped.
async fn write_loop(
    wr: OwnedWriteHalf,
    mut slots: mpsc::UnboundedReceiver<Slot>,
    budget: Arc<Budget>,
    stall: Duration,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    let mut unflushed: Vec<usize> = Vec::new();
    'outer: loop {
        let mut slot = match slots.try_recv() {
            Ok(s) => s,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                if !flush(&mut w, stall).await {
                    break;
                }
                unflushed.drain(..).for_each(|c| budget.release(c));
                match slots.recv().await {
                    Some(s) => s,
                    None => break,
                }
            }
        };
        let reply = match slot.try_recv() {
            Ok(r) => Ok(r),
            Err(oneshot::error::TryRecvError::Empty) => {
                if !flush(&mut w, stall).await {
                    break;
                }
                unflushed.drain(..).for_each(|c| budget.release(c));
                slot.await.map_err(|_| ())
            }
            Err(oneshot::error::TryRecvError::Closed) => Err(()),
        };
        match reply {
            Ok(Reply::Frame { parts, charge }) => {
                for part in &parts {
                    if !matches!(
                        tokio::time::timeout(stall, w.write_all(part)).await,
                        Ok(Ok(()))
                    ) {
                        break 'outer;
                    }
                }
                unflushed.push(charge);
            }
            Ok(Reply::Nothing { charge }) => budget.release(charge),
            // A request task that died (it never should) leaves the
            // connection unanswerable: close it as for a malformed request.
            Ok(Reply::Close) | Err(_) => break,
        }
    }
    if flush(&mut w, stall).await {
        unflushed.drain(..).for_each(|c| budget.release(c));
    }
    budget.close();
    let _ = w.shutdown().await;
}

/// Flushes `w`; `false` if that fails or takes longer than `stall`.
async fn flush(w: &mut BufWriter<OwnedWriteHalf>, stall: Duration) -> bool {
    matches!(tokio::time::timeout(stall, w.flush()).await, Ok(Ok(())))
}
