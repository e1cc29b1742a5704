//! `logbus consume TOPIC`: prints records as `key<TAB>value` lines (value
//! only when there is no key) or as JSON lines. With `--group` it joins the
//! group, starts from the group's committed offsets (`--from` applies only
//! where none exist) and commits exactly what it printed; on SIGINT or
//! SIGTERM it leaves the group, so its partitions move to the other members
//! at once instead of after the session timeout.
//!
//! JSON: one object per record with `topic`, `partition`, `offset`,
//! `timestamp`, `key`, `value` (strings, `null` when absent; the value in
//! `--value-format`) and `headers`, a list of `{"key", "value"}` objects in
//! record order (Kafka's headers are a list: a key may repeat). Text that is
//! not UTF-8 is printed with U+FFFD in place of each invalid sequence, and
//! the exact bytes are added in hex as `key_hex`/`value_hex` (in a header:
//! `value_hex`), so nothing is lost.

use super::values::{ValueFormat, hex};
use super::{DEFAULT_SERVER, Interrupted, Position, Signals, connect};
use logbus::client::{
    Client, ConsumedRecord, Consumer, ConsumerConfig, OffsetQuery, StartFrom, decode_batches,
};
use logbus::protocol::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use logbus::record::Header;
use serde_json::{Map, Value};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Topic to read.
    topic: String,
    /// Consume as a member of this group, from its committed offsets, committing what is printed.
    #[arg(long, conflicts_with = "partition")]
    group: Option<String>,
    /// Read only this partition (without --group).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Option<i32>,
    /// Where to start: earliest, latest, OFFSET, @TIMESTAMP_MS or an
    /// ISO-8601 time such as 2026-12-02T10:00:00Z (with --group: only where
    /// nothing is committed).
    #[arg(long, default_value = "earliest")]
    from: Position,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
    /// Stop once this long passes with nothing new (default: never).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// How values are written: text (bytes that are not UTF-8 show as
    /// U+FFFD), base64 or hex. Applies to the text and the JSON output.
    #[arg(long, value_enum, default_value_t = ValueFormat::Text)]
    value_format: ValueFormat,
    /// Print a null value (a tombstone) as TEXT in the text output (JSON
    /// shows `null`).
    #[arg(long, value_name = "TEXT")]
    null_marker: Option<String>,
    /// Start each text line with the record's timestamp (ms) and a TAB.
    #[arg(long)]
    print_timestamp: bool,
    /// Broker address.
    #[arg(long, env = "LOGBUS_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
}

/// One record, whichever way it was read.
struct Out<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [Header],
}

/// Runs `logbus consume`.
///
/// # Errors
/// The broker is unreachable, the topic unknown, or a batch corrupt.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    args.from.warn_if_seconds();
    let client = connect(&args.server).await?;
    match args.group.clone() {
        Some(group) => consume_group(&args, client, group, &mut signals).await,
        None => consume_plain(&args, client, &mut signals).await,
    }
}

/// Time left before `--timeout-ms` of silence ends the command.
struct Idle {
    timeout: Option<Duration>,
    since: Instant,
}

impl Idle {
    fn new(timeout_ms: Option<u64>) -> Idle {
        Idle {
            timeout: timeout_ms.map(Duration::from_millis),
            since: Instant::now(),
        }
    }

    /// How long the next wait may last; `None` once the timeout passed.
    fn next_wait(&self) -> Option<Duration> {
        match self.timeout {
            None => Some(Duration::from_secs(1)),
            Some(t) => t.checked_sub(self.since.elapsed()).filter(|d| !d.is_zero()),
        }
    }

    fn saw_records(&mut self) {
        self.since = Instant::now();
    }
}

async fn consume_plain(args: &Args, client: Client, signals: &mut Signals) -> anyhow::Result<()> {
    let topic = client.describe_topic(&args.topic).await?;
    if let Some(wanted) = args.partition
        && !topic.partitions.iter().any(|p| p.partition == wanted)
    {
        anyhow::bail!(
            "topic {} has no partition {wanted} (it has {})",
            args.topic,
            super::count(topic.partitions.len() as i64, "partition")
        );
    }
    let mut positions = Vec::new();
    for p in topic
        .partitions
        .iter()
        .filter(|p| args.partition.is_none_or(|w| w == p.partition))
    {
        let start = match args.from {
            Position::Offset(o) => {
                let start = o.clamp(p.log_start_offset, p.high_watermark);
                if o > p.high_watermark {
                    eprintln!(
                        "logbus: offset {o} is past the end of {}-{} (end offset {}); reading from {start}",
                        args.topic, p.partition, p.high_watermark
                    );
                } else if o < p.log_start_offset {
                    eprintln!(
                        "logbus: offset {o} is before the start of {}-{} (start offset {}); reading from {start}",
                        args.topic, p.partition, p.log_start_offset
                    );
                }
                start
            }
            Position::Earliest => p.log_start_offset,
            Position::Latest => p.high_watermark,
            Position::Timestamp(ts) => client
                .list_offset(&args.topic, p.partition, OffsetQuery::Timestamp(ts))
                .await?
                .unwrap_or(p.high_watermark),
        };
        positions.push((p.partition, start));
    }
    let mut printed = 0u64;
    let mut idle = Idle::new(args.timeout_ms);
    let mut stdout = std::io::stdout().lock();
    while let Some(wait) = idle.next_wait() {
        let request = FetchRequest {
            max_wait_ms: wait.as_millis().min(i32::MAX as u128) as i32,
            min_bytes: 1,
            max_bytes: 4 << 20,
            isolation_level: IsolationLevel::default(),
            group_id: None,
            topics: vec![FetchTopic {
                name: args.topic.clone(),
                partitions: positions
                    .iter()
                    .map(|&(partition, fetch_offset)| FetchPartition {
                        partition,
                        fetch_offset,
                        partition_max_bytes: 1 << 20,
                    })
                    .collect(),
            }],
            member: Default::default(),
        };
        let response = tokio::select! {
            response = client.fetch(request) => response?,
            signal = signals.recv() => return Err(Interrupted(signal).into()),
        };
        let mut any = false;
        for t in response.topics {
            for p in t.partitions {
                logbus::client::ClientError::check(
                    logbus::protocol::ApiKey::Fetch,
                    p.error_code,
                    None,
                )?;
                let Some(position) = positions.iter_mut().find(|(q, _)| *q == p.partition) else {
                    continue;
                };
                for r in decode_batches(&p.records, position.1)? {
                    any = true;
                    print(
                        &mut stdout,
                        args,
                        &Out {
                            topic: &args.topic,
                            partition: p.partition,
                            offset: r.offset,
                            timestamp: r.timestamp,
                            key: r.key.as_deref(),
                            value: r.value.as_deref(),
                            headers: &r.headers,
                        },
                    )?;
                    position.1 = r.offset + 1;
                    printed += 1;
                    if args.max.is_some_and(|m| printed >= m) {
                        return Ok(());
                    }
                }
            }
        }
        if any {
            stdout.flush()?;
            idle.saw_records();
        }
    }
    Ok(())
}

async fn consume_group(
    args: &Args,
    client: Client,
    group: String,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let mut config = ConsumerConfig::new(group.clone(), [args.topic.clone()]);
    config.start_from = match args.from {
        Position::Earliest | Position::Offset(_) => StartFrom::Earliest,
        Position::Latest => StartFrom::Latest,
        Position::Timestamp(ts) => StartFrom::Timestamp(ts),
    };
    let committed = client.fetch_offsets(&group, None).await?;
    let mut consumer = tokio::select! {
        consumer = Consumer::join(client, config) => consumer?,
        signal = signals.recv() => return Err(Interrupted(signal).into()),
    };
    let mut sought = std::collections::BTreeSet::new();
    let mut printed = 0u64;
    let mut idle = Idle::new(args.timeout_ms);
    let mut stdout = std::io::stdout().lock();
    let result = async {
        while let Some(wait) = idle.next_wait() {
            if let Position::Offset(offset) = args.from {
                // An explicit offset applies where the group committed nothing.
                for (topic, partition) in consumer.assignment() {
                    let has_commit = committed.iter().any(|t| {
                        t.name == topic
                            && t.partitions
                                .iter()
                                .any(|p| p.partition == partition && p.offset >= 0)
                    });
                    if !has_commit && sought.insert((topic.clone(), partition)) {
                        consumer.seek(&topic, partition, offset);
                    }
                }
            }
            // Everything printed so far is committed, so a signal needs no
            // more than leaving the group (below), which hands its
            // partitions to the other members at once.
            let records = tokio::select! {
                records = consumer.poll(wait) => records?,
                signal = signals.recv() => return Err(Interrupted(signal).into()),
            };
            if records.is_empty() {
                continue;
            }
            idle.saw_records();
            let take = args.max.map_or(records.len(), |m| {
                (m - printed).min(records.len() as u64) as usize
            });
            for r in &records[..take] {
                print(&mut stdout, args, &out(r))?;
            }
            stdout.flush()?;
            printed += take as u64;
            // Unprinted records must not be committed: rewind to the first of each partition.
            for r in &records[take..] {
                if consumer
                    .position(&r.topic, r.partition)
                    .is_some_and(|p| p > r.offset)
                {
                    consumer.seek(&r.topic, r.partition, r.offset);
                }
            }
            consumer.commit().await?;
            if args.max.is_some_and(|m| printed >= m) {
                break;
            }
        }
        anyhow::Ok(())
    }
    .await;
    let left = consumer.leave().await;
    result?;
    Ok(left?)
}

fn out(r: &ConsumedRecord) -> Out<'_> {
    Out {
        topic: &r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key.as_deref(),
        value: r.value.as_deref(),
        headers: &r.headers,
    }
}

fn print(out: &mut impl Write, args: &Args, r: &Out<'_>) -> std::io::Result<()> {
    if args.format == "json" {
        return writeln!(out, "{}", json(r, args.value_format));
    }
    if args.print_timestamp {
        write!(out, "{}\t", r.timestamp)?;
    }
    if let Some(key) = r.key {
        write!(out, "{}\t", String::from_utf8_lossy(key))?;
    }
    match (r.value, &args.null_marker) {
        (Some(v), _) => writeln!(out, "{}", args.value_format.encode(v)),
        (None, Some(marker)) => writeln!(out, "{marker}"),
        (None, None) => writeln!(out),
    }
}

/// The JSON line of one record (see the module docs).
fn json(r: &Out<'_>, format: ValueFormat) -> Value {
    let mut o = Map::new();
    o.insert("topic".into(), r.topic.into());
    o.insert("partition".into(), r.partition.into());
    o.insert("offset".into(), r.offset.into());
    o.insert("timestamp".into(), r.timestamp.into());
    bytes_field(&mut o, "key", r.key, ValueFormat::Text);
    bytes_field(&mut o, "value", r.value, format);
    let headers: Vec<Value> = r
        .headers
        .iter()
        .map(|h| {
            let mut entry = Map::new();
            entry.insert("key".into(), h.key.clone().into());
            bytes_field(&mut entry, "value", h.value.as_deref(), ValueFormat::Text);
            entry.into()
        })
        .collect();
    o.insert("headers".into(), headers.into());
    o.into()
}

/// `name` as a string in `format` (`null` when absent); text that is not
/// UTF-8 also gets the exact bytes as `NAME_hex`.
fn bytes_field(o: &mut Map<String, Value>, name: &str, bytes: Option<&[u8]>, format: ValueFormat) {
    match bytes {
        None => {
            o.insert(name.into(), Value::Null);
        }
        Some(b) => {
            o.insert(name.into(), format.encode(b).into());
            if format == ValueFormat::Text && std::str::from_utf8(b).is_err() {
                o.insert(format!("{name}_hex"), hex(b).into());
            }
        }
    }
}
