//! `logbus bench produce|consume|e2e|loopback`: throughput (records/s, MB/s
//! of record values) and latency percentiles over the native protocol, with
//! a progress bar on a terminal and `--json` for one JSON object on stdout.
//!
//! - `produce`: P connections each send pre-built batches of `--batch`
//!   records to their own partition, `--in-flight` requests (8) at a time;
//!   latency is per produce request (send → acknowledgement).
//! - `consume`: fills a topic (untimed), then fetches it all from offset 0,
//!   checking every batch's CRC and walking its records as a consumer does;
//!   the next fetch is sent before a response's records are walked (one
//!   fetch in flight, as Kafka's consumer prefetches); latency is per fetch.
//! - `e2e`: one producer sends `--rate` records/s (every millisecond, what
//!   came due goes out as one batch, as a lingering producer would), one
//!   consumer long-polls; latency is a record's creation → the record in the
//!   consumer's hands, on one clock.
//! - `loopback`: the bandwidth reference: raw bytes through a loopback TCP
//!   socket (tokio sender into a sink), in 1 MiB writes.
//! - `rtt`: the latency reference for `e2e`: at `--rate` messages/s, each
//!   `--record-size` bytes goes through a tokio echo on loopback and back;
//!   latency is the round trip. `e2e` crosses the loopback twice (produce,
//!   then fetch) and wakes about as many tasks, so its floor is near this.
//!
//! Against a running broker, the topics a run creates are deleted at its
//! end. `--embedded` runs a broker (temp directory) and server in this process
//! on `127.0.0.1:0`; otherwise `--server` names a running broker.

use super::{DEFAULT_SERVER, parse_durability};
use anyhow::Context;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logbus::broker::{Broker, BrokerConfig};
use logbus::client::{Client, Durability, TopicConfig};
use logbus::protocol::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use logbus::record::{
    BatchBuilder, BatchHeader, Compression, RecordViews, record_bytes, verify_crc,
};
use std::io::IsTerminal;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(clap::Args)]
pub struct Args {
    /// What to measure.
    #[arg(value_parser = ["produce", "consume", "e2e", "loopback", "rtt"])]
    mode: String,
    /// Records to send (bytes for `loopback`: records × record size).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    /// Concurrent producers (connections), each to its own partition.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Records per produce request (one record batch).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Produce requests each producer keeps in flight (the protocol
    /// pipelines; Kafka's `max.in.flight.requests.per.connection` is 5).
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// When the broker acknowledges: none, written or fsync.
    #[arg(long, default_value = "written", value_parser = parse_durability)]
    durability: Durability,
    /// Records per second for `e2e`.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Run a broker and server in this process (temp directory, 127.0.0.1:0).
    #[arg(long)]
    embedded: bool,
    /// With --embedded: keep the broker's logs in memory (no disk), to see
    /// what the protocol and server cost without the page cache.
    #[arg(long, requires = "embedded")]
    in_memory: bool,
    /// Broker address (ignored with --embedded).
    #[arg(long, env = "LOGBUS_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
}

/// What one run measured.
struct Outcome {
    records: u64,
    bytes: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Runs `logbus bench`.
///
/// # Errors
/// The broker is unreachable or a request fails.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.producers > 0 && args.batch > 0 && args.records > 0 && args.in_flight > 0,
        "--producers, --batch, --in-flight and --records must be positive"
    );
    // Keep the embedded broker's directory and server alive for the whole run.
    let mut embedded = None;
    let server = if args.embedded && !matches!(args.mode.as_str(), "loopback" | "rtt") {
        let dir = tempfile::tempdir()?;
        let config = if args.in_memory {
            BrokerConfig::in_memory()
        } else {
            BrokerConfig::dir(dir.path())
        };
        let broker = Broker::open(config.auto_create_topics(true))?;
        let handle =
            logbus::server::start("127.0.0.1:0", broker.clone(), Default::default()).await?;
        let addr = handle.local_addr().to_string();
        embedded = Some((dir, broker, handle));
        addr
    } else {
        args.server.clone()
    };
    let outcome = match args.mode.as_str() {
        "produce" => produce(&args, &server).await,
        "consume" => consume(&args, &server).await,
        "e2e" => e2e(&args, &server).await,
        "rtt" => rtt(&args).await,
        _ => loopback(&args).await,
    };
    if let Some((_dir, broker, handle)) = embedded {
        handle.shutdown().await?;
        tokio::task::spawn_blocking(move || broker.close()).await??;
    } else if !matches!(args.mode.as_str(), "loopback" | "rtt") {
        // A benchmark against a running broker leaves nothing behind, also
        // when it failed.
        delete_topics(&server).await?;
    }
    report(&args, outcome?)
}

/// The prefix of the topics this process creates.
fn topic_prefix() -> String {
    format!("bench-{}-", std::process::id())
}

/// Deletes the topics this run created.
async fn delete_topics(server: &str) -> anyhow::Result<()> {
    let client = super::connect(server).await?;
    let prefix = topic_prefix();
    for t in client.list_topics(false).await? {
        if t.name.starts_with(&prefix) {
            client
                .delete_topic(&t.name)
                .await
                .with_context(|| format!("cannot delete the benchmark's topic {}", t.name))?;
        }
    }
    Ok(())
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A batch of `n` records with `size`-byte values.
fn batch(n: usize, size: usize) -> anyhow::Result<Bytes> {
    let mut builder = BatchBuilder::new(Compression::None);
    let value = vec![0x42u8; size];
    let now = logbus::clock::Clock::now_ms(&logbus::clock::SystemClock);
    for _ in 0..n {
        builder.append(now, None, Some(&value), &[])?;
    }
    Ok(Bytes::from(builder.build()?))
}

/// Creates a fresh topic for this run.
async fn topic(client: &Client, partitions: usize) -> anyhow::Result<String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let name = format!("{}{nanos}", topic_prefix());
    client
        .create_topic(&name, partitions as i32, TopicConfig::default())
        .await?;
    Ok(name)
}

/// Sends `args.records` records in `args.batch`-record requests over
/// `args.producers` connections; returns the per-request latencies.
async fn send_all(
    args: &Args,
    server: &str,
    topic: &str,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<Duration>> {
    let template = batch(args.batch, args.record_size)?;
    let requests = args.records.div_ceil(args.batch as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..args.producers {
        let client = super::connect(server).await?;
        let (template, topic, bar, durability) = (
            template.clone(),
            topic.to_owned(),
            bar.clone(),
            args.durability,
        );
        let mine = requests / args.producers as u64
            + u64::from((p as u64) < requests % args.producers as u64);
        let (batch, in_flight) = (args.batch as u64, args.in_flight);
        tasks.spawn(async move {
            let window = Arc::new(tokio::sync::Semaphore::new(in_flight));
            let mut inflight = tokio::task::JoinSet::new();
            for _ in 0..mine {
                let permit = Arc::clone(&window).acquire_owned().await?;
                let (client, template, topic, bar) =
                    (client.clone(), template.clone(), topic.clone(), bar.clone());
                inflight.spawn(async move {
                    let start = Instant::now();
                    client
                        .produce_batches(&topic, p as i32, template, durability)
                        .await?;
                    drop(permit);
                    bar.inc(batch);
                    anyhow::Ok(start.elapsed())
                });
            }
            let mut latencies = Vec::with_capacity(mine as usize);
            while let Some(r) = inflight.join_next().await {
                latencies.push(r??);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r??);
    }
    Ok(latencies)
}

async fn produce(args: &Args, server: &str) -> anyhow::Result<Outcome> {
    let client = super::connect(server).await?;
    let topic = topic(&client, args.producers).await?;
    let bar = progress(args.records);
    let start = Instant::now();
    let latencies = send_all(args, server, &topic, &bar).await?;
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let records = latencies.len() as u64 * args.batch as u64;
    Ok(Outcome {
        records,
        bytes: records * args.record_size as u64,
        elapsed,
        latencies,
    })
}

async fn consume(args: &Args, server: &str) -> anyhow::Result<Outcome> {
    let client = super::connect(server).await?;
    let topic = topic(&client, args.producers).await?;
    let hidden = ProgressBar::hidden();
    send_all(args, server, &topic, &hidden).await?;
    let bar = progress(args.records);
    let mut positions: Vec<(i32, i64)> = (0..args.producers as i32).map(|p| (p, 0)).collect();
    let (mut records, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
    let start = Instant::now();
    let mut next = Some(prefetch(&client, &topic, &positions));
    while let Some(fetch) = next.take() {
        let (response, latency) = fetch.await??;
        latencies.push(latency);
        let partitions: Vec<_> = response
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .collect();
        // As Kafka's consumer does, the next fetch goes out before this
        // response's records are handed over: only batch headers are read.
        for p in &partitions {
            if let Some(position) = positions.iter_mut().find(|(q, _)| *q == p.partition) {
                let mut at = 0;
                while let Ok(Some(h)) = BatchHeader::parse(&p.records[at..]) {
                    position.1 = h.next_offset();
                    at += h.total_len();
                }
            }
        }
        let fetched: i64 = positions.iter().map(|(_, o)| o).sum();
        if (fetched as u64) < args.records {
            next = Some(prefetch(&client, &topic, &positions));
        }
        for p in &partitions {
            let mut at = 0;
            while let Ok(Some(h)) = BatchHeader::parse(&p.records[at..]) {
                let whole = &p.records[at..at + h.total_len()];
                verify_crc(whole).context("a fetched batch failed its CRC")?;
                let run = record_bytes(whole, &h, 64 << 20)?;
                for r in RecordViews::new(&run, &h) {
                    let r = r?;
                    records += 1;
                    bytes += r.value.map_or(0, |v| v.len() as u64);
                }
                at += h.total_len();
            }
        }
        bar.set_position(records);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(Outcome {
        records,
        bytes,
        elapsed,
        latencies,
    })
}

/// Sends a fetch from `positions` on its own task; yields the response and
/// its latency.
fn prefetch(
    client: &Client,
    topic: &str,
    positions: &[(i32, i64)],
) -> tokio::task::JoinHandle<anyhow::Result<(logbus::protocol::FetchResponse, Duration)>> {
    let request = FetchRequest {
        max_wait_ms: 1_000,
        min_bytes: 1,
        max_bytes: 8 << 20,
        isolation_level: IsolationLevel::default(),
        group_id: None,
        topics: vec![FetchTopic {
            name: topic.to_owned(),
            partitions: positions
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: 4 << 20,
                })
                .collect(),
        }],
        member: Default::default(),
    };
    let client = client.clone();
    tokio::spawn(async move {
        let sent = Instant::now();
        let response = client.fetch(request).await?;
        Ok((response, sent.elapsed()))
    })
}

async fn e2e(args: &Args, server: &str) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.rate > 0, "--rate must be positive");
    anyhow::ensure!(
        args.record_size >= 8,
        "--record-size must hold the 8-byte send time"
    );
    let client = super::connect(server).await?;
    let topic = topic(&client, 1).await?;
    let base = Instant::now();
    let total = args.records;
    let consumer = {
        let (client, topic) = (super::connect(server).await?, topic.clone());
        tokio::spawn(async move {
            let (mut offset, mut latencies) = (0i64, Vec::with_capacity(total as usize));
            while (latencies.len() as u64) < total {
                let request = FetchRequest {
                    max_wait_ms: 500,
                    min_bytes: 1,
                    max_bytes: 1 << 20,
                    isolation_level: IsolationLevel::default(),
                    group_id: None,
                    topics: vec![FetchTopic {
                        name: topic.clone(),
                        partitions: vec![FetchPartition {
                            partition: 0,
                            fetch_offset: offset,
                            partition_max_bytes: 1 << 20,
                        }],
                    }],
                    member: Default::default(),
                };
                let response = client.fetch(request).await?;
                let now = base.elapsed();
                for p in response.topics.into_iter().flat_map(|t| t.partitions) {
                    for r in logbus::client::decode_batches(&p.records, offset)? {
                        let value = r.value.unwrap_or_default();
                        let sent = u64::from_be_bytes(value[..8].try_into()?);
                        let l = now.saturating_sub(Duration::from_nanos(sent));
                        latencies.push(l);
                        offset = r.offset + 1;
                    }
                }
            }
            anyhow::Ok(latencies)
        })
    };
    let bar = progress(total);
    let mut sent = 0u64;
    let mut acks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    let start = Instant::now();
    while sent < total {
        ticker.tick().await;
        let due = ((start.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        if sent == due {
            continue;
        }
        // What came due since the last tick goes out as one batch, as a
        // producer batches what accumulates while it waits (linger 0).
        let mut builder = BatchBuilder::new(Compression::None);
        while sent < due {
            let mut value = vec![0u8; args.record_size];
            value[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
            builder.append(0, None, Some(&value), &[])?;
            sent += 1;
        }
        let bytes = Bytes::from(builder.build()?);
        let (client, topic, durability) = (client.clone(), topic.clone(), args.durability);
        acks.spawn(async move { client.produce_batches(&topic, 0, bytes, durability).await });
        bar.set_position(sent);
        while let Some(r) = acks.try_join_next() {
            r??;
        }
    }
    while let Some(r) = acks.join_next().await {
        r??;
    }
    let latencies = consumer.await??;
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(Outcome {
        records: total,
        bytes: total * args.record_size as u64,
        elapsed,
        latencies,
    })
}

async fn loopback(args: &Args) -> anyhow::Result<Outcome> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let total = args.records * args.record_size as u64;
    let sink = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        while got < total {
            let n = socket.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "sender closed early");
            got += n as u64;
        }
        anyhow::Ok(())
    });
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    let chunk = vec![0x42u8; 1 << 20];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        socket.write_all(&chunk[..n]).await?;
        sent += n as u64;
    }
    sink.await??;
    Ok(Outcome {
        records: args.records,
        bytes: total,
        elapsed: start.elapsed(),
        latencies: Vec::new(),
    })
}

async fn rtt(args: &Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.rate > 0, "--rate must be positive");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    anyhow::ensure!(
        args.record_size >= 8,
        "--record-size must hold the 8-byte send time"
    );
    let size = args.record_size;
    let echo = tokio::spawn(async move {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let (mut rd, mut wr) = socket.into_split();
        tokio::io::copy(&mut rd, &mut wr).await?;
        anyhow::Ok(())
    });
    let socket = tokio::net::TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let (mut rd, mut wr) = socket.into_split();
    let total = args.records;
    // One clock for both ends, as in `e2e`.
    let base = Instant::now();
    // The reader times each message's return; the sender paces as `e2e` does.
    let reader = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(total as usize);
        let mut message = vec![0u8; size];
        for _ in 0..total {
            rd.read_exact(&mut message).await?;
            let sent = u64::from_be_bytes(message[..8].try_into()?);
            latencies.push(base.elapsed().saturating_sub(Duration::from_nanos(sent)));
        }
        anyhow::Ok(latencies)
    });
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    let mut message = vec![0u8; size];
    while sent < total {
        ticker.tick().await;
        let due = ((base.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        while sent < due {
            message[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
            wr.write_all(&message[..size]).await?;
            sent += 1;
        }
    }
    let latencies = reader.await??;
    drop(wr);
    echo.abort();
    Ok(Outcome {
        records: total,
        bytes: total * size as u64,
        elapsed: base.elapsed(),
        latencies,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn report(args: &Args, mut o: Outcome) -> anyhow::Result<()> {
    o.latencies.sort_unstable();
    let seconds = o.elapsed.as_secs_f64();
    let (p50, p99, p999, max) = (
        percentile(&o.latencies, 0.50),
        percentile(&o.latencies, 0.99),
        percentile(&o.latencies, 0.999),
        o.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    let records_per_sec = o.records as f64 / seconds;
    let mb_per_sec = o.bytes as f64 / seconds / 1e6;
    let mut out = std::io::stdout().lock();
    if args.json {
        let line = serde_json::json!({
            "mode": args.mode,
            "records": o.records,
            "bytes": o.bytes,
            "record_size": args.record_size,
            "producers": args.producers,
            "batch": args.batch,
            "durability": format!("{:?}", args.durability).to_lowercase(),
            "seconds": seconds,
            "records_per_sec": records_per_sec,
            "mb_per_sec": mb_per_sec,
            "p50_ms": p50,
            "p99_ms": p99,
            "p999_ms": p999,
            "max_ms": max,
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(
            out,
            "{}: {} records of {} B, {} producer(s), batch {}, durability {:?}",
            args.mode, o.records, args.record_size, args.producers, args.batch, args.durability
        )?;
        writeln!(
            out,
            "  {seconds:.3} s, {records_per_sec:.0} records/s, {mb_per_sec:.1} MB/s"
        )?;
        if !o.latencies.is_empty() {
            writeln!(
                out,
                "  latency ms: p50 {p50:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}"
            )?;
        }
    }
    Ok(())
}
