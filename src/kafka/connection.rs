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
//! kernel instead of growing the broker's memory.
//!
//! Knows framing and `dispatch`; not the codec's messages or the broker.

use super::Shared;
use super::dispatch::{self, Decoded, Job};
use bytes::{Buf, Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// What one connection holds in flight, and a wake-up for its reader.
#[derive(Default)]
pub(super) struct Budget {
    load: Mutex<Load>,
    room: Notify,
}

#[derive(Default)]
struct Load {
    bytes: usize,
    requests: usize,
    /// The writer is gone: nothing more can be answered.
    closed: bool,
}

impl Budget {
    fn load(&self) -> MutexGuard<'_, Load> {
        // Plain counters: a panic elsewhere cannot leave them half-updated.
        self.load
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn charge(&self, bytes: usize) {
        let mut l = self.load();
        l.bytes += bytes;
        l.requests += 1;
    }

    /// Replaces a request's reservation by what it really holds now.
    pub(super) fn recharge(&self, from: usize, to: usize) {
        let mut l = self.load();
        l.bytes = l.bytes - from + to;
    }

    fn release(&self, bytes: usize) {
        {
            let mut l = self.load();
            l.bytes -= bytes;
            l.requests -= 1;
        }
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
    let budget = Arc::new(Budget::default());
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
    produce: &mpsc::UnboundedSender<(Job, oneshot::Sender<Reply>)>,
) -> &'static str {
    let config = &ctx.shared.config;
    let mut stop = ctx.shared.stop.clone();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        // Backpressure: read nothing more while the connection is over budget.
        loop {
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
            if room {
                break;
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return "shutdown",
                () = ctx.budget.room.notified() => {}
            }
        }
        match cut_frame(&mut buf, config.max_frame) {
            Ok(Some(frame)) => {
                if !start(frame, ctx, slots, produce) {
                    return "a request could not be read";
                }
                continue;
            }
            Ok(None) => {}
            Err(len) => {
                tracing::warn!(peer = %ctx.peer, len, max = config.max_frame, "closing Kafka connection: frame size out of bounds");
                return "frame size out of bounds";
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let read = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return "shutdown",
            r = tokio::time::timeout(config.idle_timeout, rd.read_buf(&mut buf)) => r,
        };
        match read {
            Err(_elapsed) => {
                if ctx.budget.load().requests == 0 {
                    return "idle";
                }
            }
            Ok(Ok(0)) => {
                return if buf.is_empty() {
                    "peer closed"
                } else {
                    "peer closed in the middle of a frame"
                };
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return "read failed",
        }
    }
}

/// Cuts one frame (Kafka's int32 size prefix, then that many bytes) off
/// `buf`; `Ok(None)` until it is all there. Memory grows with the bytes
/// received, never with the size a prefix claims.
///
/// # Errors
/// The claimed size, when it is negative or over `max`.
fn cut_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, i64> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let Ok(n) = usize::try_from(len) else {
        return Err(i64::from(len));
    };
    if n > max {
        return Err(i64::from(len));
    }
    if buf.len() < 4 + n {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(n).freeze()))
}

/// Decodes one frame, queues its slot and starts it. `false` when the
/// connection must close (the slot then says so to the writer).
fn start(
    frame: Bytes,
    ctx: &Arc<Ctx>,
    slots: &mpsc::UnboundedSender<Slot>,
    produce: &mpsc::UnboundedSender<(Job, oneshot::Sender<Reply>)>,
) -> bool {
    let (tx, rx) = oneshot::channel();
    // The writer lives until the slots sender is dropped: this cannot fail.
    let _ = slots.send(rx);
    match dispatch::decode(frame, &ctx.shared) {
        Decoded::Run(job) => {
            ctx.budget.charge(job.charge);
            if job.is_produce() {
                let _ = produce.send((job, tx));
            } else {
                let ctx = Arc::clone(ctx);
                tokio::spawn(async move {
                    let reply = dispatch::run(&ctx, job).await;
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
    mut jobs: mpsc::UnboundedReceiver<(Job, oneshot::Sender<Reply>)>,
) {
    while let Some((job, tx)) = jobs.recv().await {
        let reply = dispatch::run(&ctx, job).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_whole_and_bounded_by_the_limit() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&5i32.to_be_bytes());
        buf.extend_from_slice(b"abc");
        assert_eq!(cut_frame(&mut buf, 10), Ok(None));
        buf.extend_from_slice(b"de");
        buf.extend_from_slice(&[0, 0]);
        assert_eq!(
            cut_frame(&mut buf, 10),
            Ok(Some(Bytes::from_static(b"abcde")))
        );
        assert_eq!(cut_frame(&mut buf, 10), Ok(None));
        let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert_eq!(cut_frame(&mut huge, 10), Err(i64::from(i32::MAX)));
        let mut negative = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(cut_frame(&mut negative, 10), Err(-1));
    }
}
