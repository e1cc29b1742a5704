//! `logbus produce TOPIC`: one record per stdin line, in order, through the
//! idempotent client producer (a retried batch is stored once). Its last
//! stderr line is always `acknowledged N`, also when it fails midway.

use super::{DEFAULT_SERVER, parse_durability};
use anyhow::Context;
use logbus::client::{Durability, Producer, ProducerConfig, ProducerRecord};
use std::io::BufRead;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Topic to produce to (auto-created by `logbus serve` unless disabled).
    topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(long)]
    key_separator: Option<String>,
    /// A header added to every record, as KEY=VALUE (repeatable).
    #[arg(long = "header", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Send every record to this partition instead of partitioning by key.
    #[arg(long)]
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

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Runs `logbus produce`.
///
/// # Errors
/// The broker stays unreachable past the delivery timeout, or refuses a record.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut acknowledged = 0u64;
    let result = produce(&args, &mut acknowledged).await;
    eprintln!("acknowledged {acknowledged}");
    result
}

async fn produce(args: &Args, acknowledged: &mut u64) -> anyhow::Result<()> {
    let config = ProducerConfig {
        durability: args.durability,
        delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
        ..ProducerConfig::default()
    };
    let producer = Producer::connect(&args.server, config)
        .await
        .with_context(|| format!("cannot connect to {}", args.server))?;
    let mut deliveries = Vec::new();
    // Reading stdin blocks, but each line is handed to the producer at once,
    // and its queue applies backpressure.
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_owned()), v.to_owned()),
                None => (None, line),
            },
            None => (None, line),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        for (k, v) in &args.headers {
            record = record.header(k.clone(), v.clone());
        }
        deliveries.push(producer.send(record).await?);
    }
    for delivery in deliveries {
        delivery.await.context("record not acknowledged")?;
        *acknowledged += 1;
    }
    producer.close().await?;
    Ok(())
}
