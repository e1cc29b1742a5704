//! `logbus produce TOPIC`: one record per stdin line, in order, through the
//! idempotent client producer (a retried batch is stored once). Its last
//! stderr line on success is `acknowledged N`, the number of records the
//! broker stored; when it fails midway that line comes before the error.
//! SIGINT or SIGTERM stop the reading; the records already handed over are
//! waited for and counted.

use super::values::ValueFormat;
use super::{DEFAULT_SERVER, Interrupted, Signals, connect, parse_durability, time};
use anyhow::Context;
use logbus::client::{ClientError, Delivery, Durability, Producer, ProducerConfig, ProducerRecord};
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[derive(clap::Args)]
pub struct Args {
    /// Topic to produce to (auto-created by `logbus serve` unless disabled).
    topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Each line starts with the record's timestamp (milliseconds since the
    /// epoch, or ISO-8601 such as 2026-12-02T10:00:00Z) and SEP; without it
    /// records take the time they are sent.
    #[arg(long, value_name = "SEP")]
    timestamp_separator: Option<String>,
    /// How a line's value is written: text, base64 or hex (for bytes that
    /// are not text).
    #[arg(long, value_enum, default_value_t = ValueFormat::Text)]
    value_format: ValueFormat,
    /// A value equal to TEXT is sent as null: a tombstone, which compaction
    /// keeps only for delete.retention.ms.
    #[arg(long, value_name = "TEXT")]
    null_marker: Option<String>,
    /// A header added to every record, as KEY=VALUE (repeatable; a key given
    /// twice gives two headers, in order, as Kafka's headers are a list).
    #[arg(long = "header", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Send every record to this partition instead of partitioning by key.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Option<i32>,
    /// When the broker acknowledges: none, written (page cache) or fsync (disk).
    #[arg(long, default_value = "written", value_parser = parse_durability)]
    durability: Durability,
    /// Give up on a record (and on connecting) after this long.
    #[arg(long, default_value_t = 30_000)]
    delivery_timeout_ms: u64,
    /// Broker address.
    #[arg(long, env = "LOGBUS_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
}

/// Milliseconds since the epoch, or an ISO-8601 time.
fn parse_timestamp(s: &str) -> Result<i64, String> {
    if s.contains('-') && !s.starts_with('-') {
        return time::parse_iso8601(s);
    }
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Runs `logbus produce`.
///
/// # Errors
/// The broker is unreachable, refuses a record, or stdin holds a line that
/// is not a record; also after SIGINT/SIGTERM ([`Interrupted`]).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let acknowledged = Arc::new(AtomicU64::new(0));
    let result = produce(&args, &acknowledged).await;
    eprintln!("acknowledged {}", acknowledged.load(Ordering::SeqCst));
    result
}

async fn produce(args: &Args, acknowledged: &Arc<AtomicU64>) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let config = ProducerConfig {
        durability: args.durability,
        delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
        ..ProducerConfig::default()
    };
    // One plain dial first: a wrong address fails now, where the producer
    // would keep retrying it for the whole delivery timeout.
    let producer = tokio::select! {
        p = async {
            drop(connect(&args.server).await?);
            anyhow::Ok(Producer::connect(&args.server, config).await?)
        } => p?,
        signal = signals.recv() => return Err(Interrupted(signal).into()),
    };
    let mut lines = stdin_lines();
    let (track, tracked) = mpsc::unbounded_channel();
    let (failed, mut failure) = oneshot::channel();
    let acks = tokio::spawn(count_acks(tracked, Arc::clone(acknowledged), failed));
    let mut number = 0u64;
    let stopped: anyhow::Result<()> = loop {
        let line = tokio::select! {
            line = lines.recv() => line,
            signal = signals.recv() => break Err(Interrupted(signal).into()),
            // The first refused record ends the reading: later lines would
            // most likely fail the same way.
            _ = &mut failure => break Ok(()),
        };
        let Some(line) = line else { break Ok(()) };
        number += 1;
        let record = match line
            .context("cannot read stdin")
            .and_then(|line| record(args, line, number))
        {
            Ok(record) => record,
            Err(e) => break Err(e),
        };
        match producer.send(record).await {
            Ok(delivery) => {
                let _ = track.send(delivery);
            }
            Err(e) => break Err(e.into()),
        }
    };
    drop(track);
    // What was handed to the producer is waited for in every case, so the
    // count printed is the count stored.
    let closed = producer.close().await;
    let delivered = acks.await.context("the acknowledgement counter failed")?;
    stopped?;
    delivered?;
    closed?;
    Ok(())
}

/// Counts acknowledged records; returns the first failure (later records
/// are still waited for and counted) and signals it on `failed` at once.
async fn count_acks(
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
    acknowledged: Arc<AtomicU64>,
    failed: oneshot::Sender<()>,
) -> Result<(), ClientError> {
    let mut failed = Some(failed);
    let mut first_error = None;
    while let Some(delivery) = deliveries.recv().await {
        match delivery.await {
            Ok(_) => {
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                if let Some(failed) = failed.take() {
                    let _ = failed.send(());
                }
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Stdin's lines (without `\n` or `\r\n`), read on a thread of their own: a
/// blocking read must not hold a runtime worker, and must not keep a
/// signal from being handled.
fn stdin_lines() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(1024);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    if tx.blocking_send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// The record of stdin's line `number`: `[TIMESTAMP SEP][KEY SEP]VALUE`.
fn record(args: &Args, line: Vec<u8>, number: u64) -> anyhow::Result<ProducerRecord> {
    let line = String::from_utf8(line).with_context(|| {
        format!("line {number} of stdin is not UTF-8 text (--value-format base64 or hex carry any bytes)")
    })?;
    let mut rest = line.as_str();
    let mut timestamp = None;
    if let Some(sep) = &args.timestamp_separator {
        let (ts, after) = rest
            .split_once(sep.as_str())
            .with_context(|| format!("line {number} has no timestamp separator {sep:?}"))?;
        timestamp = Some(
            parse_timestamp(ts.trim())
                .map_err(|e| anyhow::anyhow!("line {number}: bad timestamp {ts:?}: {e}"))?,
        );
        rest = after;
    }
    let (key, value) = match &args.key_separator {
        Some(sep) => match rest.split_once(sep.as_str()) {
            Some((k, v)) => (Some(k), v),
            None => (None, rest),
        },
        None => (None, rest),
    };
    let mut record = ProducerRecord {
        topic: args.topic.clone(),
        timestamp,
        ..ProducerRecord::default()
    };
    if args.null_marker.as_deref() != Some(value) {
        let bytes = args
            .value_format
            .decode(value)
            .map_err(|e| anyhow::anyhow!("line {number}: {e}"))?;
        record.value = Some(bytes.into());
    }
    if let Some(key) = key {
        record = record.key(key.to_owned());
    }
    if let Some(p) = args.partition {
        record = record.partition(p);
    }
    for (k, v) in &args.headers {
        record = record.header(k.clone(), v.clone());
    }
    Ok(record)
}
