//! Drives a Kafka-protocol broker with librdkafka for `scripts/bench-kafka`:
//! produce and consume throughput, end-to-end latency at a fixed rate, and the
//! time until a freshly started broker answers its first request. It knows
//! nothing of logbus or Kafka: both are just a bootstrap address.

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Cli {
    /// Broker address, host:port.
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a topic with one partition.
    CreateTopic { topic: String },
    /// Produces COUNT records of SIZE bytes as fast as the producer allows.
    Produce {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        count: u64,
        #[arg(long)]
        size: usize,
    },
    /// Reads COUNT records from the start of partition 0.
    Consume {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        count: u64,
    },
    /// Produces RATE records/s for SECS seconds and measures produce-to-consume latency.
    Latency {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// Waits until the broker answers an ApiVersions request; prints the
    /// milliseconds since SINCE_NS (nanoseconds since the Unix epoch).
    Ready {
        #[arg(long)]
        since_ns: u128,
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CreateTopic { topic } => create_topic(&cli.bootstrap, &topic),
        Command::Produce { topic, count, size } => produce(&cli.bootstrap, &topic, count, size),
        Command::Consume { topic, count } => consume(&cli.bootstrap, &topic, count),
        Command::Latency { topic, rate, secs } => latency(&cli.bootstrap, &topic, rate, secs),
        Command::Ready {
            since_ns,
            timeout_secs,
        } => ready(&cli.bootstrap, since_ns, timeout_secs),
    };
    if let Err(e) = result {
        eprintln!("kafka-bench: {e}");
        std::process::exit(1);
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn create_topic(bootstrap: &str, topic: &str) -> Res {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let rt = futures::executor::block_on(admin.create_topics(
        &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))?;
    for r in rt {
        r.map_err(|(t, e)| format!("create {t}: {e}"))?;
    }
    Ok(())
}

fn producer(bootstrap: &str, linger_ms: &str) -> Result<BaseProducer, rdkafka::error::KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", linger_ms)
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
}

fn produce(bootstrap: &str, topic: &str, count: u64, size: usize) -> Res {
    let p = producer(bootstrap, "5")?;
    let payload = vec![b'x'; size];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < count {
        match p.send(
            BaseRecord::<(), [u8]>::to(topic)
                .payload(&payload)
                .partition(0),
        ) {
            Ok(()) => sent += 1,
            Err((e, _))
                if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
            {
                p.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
    p.flush(Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    let bytes = count as f64 * size as f64;
    println!(
        "produce size={size} count={count} secs={secs:.3} records_per_s={:.0} mb_per_s={:.1}",
        count as f64 / secs,
        bytes / secs / 1e6
    );
    Ok(())
}

fn reader(
    bootstrap: &str,
    topic: &str,
    offset: Offset,
) -> Result<BaseConsumer, Box<dyn std::error::Error>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kafka-bench-unused")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, offset)?;
    c.assign(&tpl)?;
    Ok(c)
}

fn consume(bootstrap: &str, topic: &str, count: u64) -> Res {
    let c = reader(bootstrap, topic, Offset::Beginning)?;
    let mut got = 0u64;
    let mut bytes = 0u64;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(300);
    while got < count {
        if Instant::now() > deadline {
            return Err(format!("read {got} of {count} records").into());
        }
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            bytes += m.payload_len() as u64;
            got += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "consume count={count} secs={secs:.3} records_per_s={:.0} mb_per_s={:.1}",
        count as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

/// Payload byte 8: a warm-up record (not measured) or a measured one.
const WARMUP: u8 = 0;
const MEASURED: u8 = 1;

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn latency(bootstrap: &str, topic: &str, rate: u64, secs: u64) -> Res {
    let total = rate * secs;
    let c = reader(bootstrap, topic, Offset::End)?;
    // Let the consumer resolve the end offset before anything is sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    while c
        .position()?
        .elements()
        .iter()
        .all(|e| e.offset() == Offset::End)
        && Instant::now() < deadline
    {
        let _ = c.poll(Duration::from_millis(50));
        if c.fetch_watermarks(topic, 0, Duration::from_secs(5)).is_ok() {
            break;
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let warmed = Arc::new(AtomicBool::new(false));
    let consumer = {
        let done = done.clone();
        let received = received.clone();
        let warmed = warmed.clone();
        std::thread::spawn(move || -> Result<Histogram<u64>, String> {
            let mut h =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
            while received.load(Ordering::Relaxed) < total && !done.load(Ordering::Relaxed) {
                if let Some(m) = c.poll(Duration::from_millis(50)) {
                    let m = m.map_err(|e| e.to_string())?;
                    let payload = m.payload().unwrap_or_default();
                    if payload.len() >= 9 && payload[8] == MEASURED {
                        let sent = u64::from_le_bytes(payload[..8].try_into().unwrap_or_default());
                        h.saturating_record(now_micros().saturating_sub(sent).max(1));
                        received.fetch_add(1, Ordering::Relaxed);
                    } else {
                        warmed.store(true, Ordering::Relaxed);
                    }
                }
            }
            Ok(h)
        })
    };
    let p = producer(bootstrap, "0")?;
    let mut payload = vec![b'x'; 100];
    // Warm-up: unmeasured records until the consumer has read one, so the
    // consumer's and producer's start-up is not counted as latency.
    let warm_deadline = Instant::now() + Duration::from_secs(30);
    while !warmed.load(Ordering::Relaxed) {
        if Instant::now() > warm_deadline {
            return Err("the consumer read nothing during warm-up".into());
        }
        payload[8] = WARMUP;
        let _ = p.send(
            BaseRecord::<(), [u8]>::to(topic)
                .payload(&payload)
                .partition(0),
        );
        p.poll(Duration::from_millis(10));
    }
    payload[8] = MEASURED;
    let start = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    for i in 0..total {
        let due = start + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        payload[..8].copy_from_slice(&now_micros().to_le_bytes());
        loop {
            match p.send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(&payload)
                    .partition(0),
            ) {
                Ok(()) => break,
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60))?;
    let wait_until = Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Relaxed) < total && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let h = consumer.join().map_err(|_| "consumer thread panicked")??;
    let got = received.load(Ordering::Relaxed);
    if got < total {
        return Err(format!("received {got} of {total} records").into());
    }
    println!(
        "latency rate={rate} count={total} p50_us={} p99_us={} p999_us={} max_us={}",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
    Ok(())
}

/// Connects until the port accepts, then sends ApiVersions v0 until a whole
/// response comes back: the first moment a client can use the broker.
fn ready(bootstrap: &str, since_ns: u128, timeout_secs: u64) -> Res {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let request: Vec<u8> = {
        let client = b"kafka-bench";
        let mut body = Vec::new();
        body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
        body.extend_from_slice(&0i16.to_be_bytes()); // v0
        body.extend_from_slice(&1i32.to_be_bytes()); // correlation id
        body.extend_from_slice(&(client.len() as i16).to_be_bytes());
        body.extend_from_slice(client);
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    };
    loop {
        if Instant::now() > deadline {
            return Err("the broker did not answer ApiVersions in time".into());
        }
        if let Ok(mut s) = TcpStream::connect(bootstrap) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut len = [0u8; 4];
            if s.write_all(&request).is_ok() && s.read_exact(&mut len).is_ok() {
                let mut body = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
                if s.read_exact(&mut body).is_ok() && body.len() >= 6 && body[4..6] == [0, 0] {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
                    println!(
                        "ready_ms={:.1}",
                        (now.saturating_sub(since_ns)) as f64 / 1e6
                    );
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
