//! `logbus topics create|list|describe|delete`.

use super::{DEFAULT_SERVER, connect, count};
use logbus::client::TopicConfig;
use logbus::protocol::CleanupPolicy;
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a topic.
    Create {
        /// Topic name: [a-zA-Z0-9._-], 1 to 249 characters.
        name: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
        partitions: i32,
        /// Keep only the latest record per key (cleanup.policy=compact).
        #[arg(long)]
        compact: bool,
        /// Delete segments older than this (retention.ms; -1 keeps forever).
        #[arg(long, allow_negative_numbers = true)]
        retention_ms: Option<i64>,
        /// Delete the oldest segments beyond this size per partition (retention.bytes).
        #[arg(long, allow_negative_numbers = true)]
        retention_bytes: Option<i64>,
        /// Roll segments at this size (segment.bytes).
        #[arg(long)]
        segment_bytes: Option<i64>,
        #[command(flatten)]
        server: Server,
    },
    /// List topics.
    List {
        /// Include `__consumer_offsets`.
        #[arg(long)]
        internal: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Show a topic's settings and, per partition, start offset, end offset and size.
    Describe {
        /// Topic name.
        name: String,
        #[command(flatten)]
        server: Server,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
        #[command(flatten)]
        server: Server,
    },
}

/// The broker to talk to.
#[derive(clap::Args)]
pub struct Server {
    /// Broker address.
    #[arg(long = "server", env = "LOGBUS_SERVER", default_value = DEFAULT_SERVER)]
    pub addr: String,
}

/// Runs a `topics` subcommand.
///
/// # Errors
/// The broker is unreachable or refuses the request.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Create {
            name,
            partitions,
            compact,
            retention_ms,
            retention_bytes,
            segment_bytes,
            server,
        } => {
            let client = connect(&server.addr).await?;
            let config = TopicConfig {
                cleanup_policy: compact.then_some(CleanupPolicy::Compact),
                retention_ms,
                retention_bytes,
                segment_bytes,
                ..TopicConfig::default()
            };
            client.create_topic(&name, partitions, config).await?;
            writeln!(
                out,
                "created topic {name} with {}",
                count(partitions, "partition")
            )?;
        }
        Command::List { internal, server } => {
            let client = connect(&server.addr).await?;
            for topic in client.list_topics(internal).await? {
                writeln!(
                    out,
                    "{}\t{}{}",
                    topic.name,
                    count(topic.partitions, "partition"),
                    if topic.internal { "\tinternal" } else { "" }
                )?;
            }
        }
        Command::Describe { name, server } => {
            let client = connect(&server.addr).await?;
            let topic = client.describe_topic(&name).await?;
            let c = &topic.config;
            writeln!(
                out,
                "topic {}{}",
                topic.name,
                if topic.internal { " (internal)" } else { "" }
            )?;
            let show = |v: Option<i64>| v.map_or("default".to_owned(), |v| v.to_string());
            writeln!(
                out,
                "  cleanup.policy={} retention.ms={} retention.bytes={} segment.bytes={}",
                match c.cleanup_policy {
                    Some(CleanupPolicy::Compact) => "compact",
                    Some(CleanupPolicy::CompactDelete) => "compact,delete",
                    Some(CleanupPolicy::Delete) | None => "delete",
                },
                show(c.retention_ms),
                show(c.retention_bytes),
                show(c.segment_bytes),
            )?;
            writeln!(
                out,
                "  {:>9}  {:>12}  {:>12}  {:>12}",
                "PARTITION", "START", "END", "BYTES"
            )?;
            for p in &topic.partitions {
                writeln!(
                    out,
                    "  {:>9}  {:>12}  {:>12}  {:>12}",
                    p.partition, p.log_start_offset, p.high_watermark, p.size_bytes
                )?;
            }
        }
        Command::Delete { name, server } => {
            let client = connect(&server.addr).await?;
            client.delete_topic(&name).await?;
            writeln!(out, "deleted topic {name}")?;
        }
    }
    Ok(())
}
