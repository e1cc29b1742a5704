//! `logbus topics create|list|describe|alter|delete`.

use super::{DEFAULT_SERVER, config, connect, count};
use logbus::client::TopicConfig;
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
        /// A topic setting by Kafka's name, e.g. `--config retention.ms=86400000`
        /// (repeatable): cleanup.policy, retention.ms, retention.bytes,
        /// segment.bytes, segment.ms, max.message.bytes,
        /// min.compaction.lag.ms, delete.retention.ms.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = config::parse_pair)]
        configs: Vec<(String, String)>,
        /// Shorthand for --config cleanup.policy=compact.
        #[arg(long)]
        compact: bool,
        /// Shorthand for --config retention.ms=MS.
        #[arg(long, allow_negative_numbers = true)]
        retention_ms: Option<String>,
        /// Shorthand for --config retention.bytes=BYTES.
        #[arg(long, allow_negative_numbers = true)]
        retention_bytes: Option<String>,
        /// Shorthand for --config segment.bytes=BYTES.
        #[arg(long, allow_negative_numbers = true)]
        segment_bytes: Option<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Change a topic: add partitions (settings cannot change yet: the
    /// native protocol has no request for it).
    Alter {
        /// Topic name.
        name: String,
        /// The new partition count, above the current one. Records already
        /// stored stay where they are; new keyed records may map elsewhere.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        partitions: i32,
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
            configs,
            compact,
            retention_ms,
            retention_bytes,
            segment_bytes,
            server,
        } => {
            let mut config = TopicConfig::default();
            let shorthands = [
                compact.then(|| ("cleanup.policy", "compact".to_owned())),
                retention_ms.map(|v| ("retention.ms", v)),
                retention_bytes.map(|v| ("retention.bytes", v)),
                segment_bytes.map(|v| ("segment.bytes", v)),
            ];
            let pairs = shorthands
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_owned(), v))
                .chain(configs);
            for (key, value) in pairs {
                config::apply(&mut config, &key, &value).map_err(anyhow::Error::msg)?;
            }
            let client = connect(&server.addr).await?;
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
            writeln!(out, "  {}", config::describe(c).join(" "))?;
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
        Command::Alter {
            name,
            partitions,
            server,
        } => {
            let client = connect(&server.addr).await?;
            client.create_partitions(&name, partitions).await?;
            writeln!(
                out,
                "topic {name} now has {}",
                count(partitions, "partition")
            )?;
        }
        Command::Delete { name, server } => {
            let client = connect(&server.addr).await?;
            client.delete_topic(&name).await?;
            writeln!(out, "deleted topic {name}")?;
        }
    }
    Ok(())
}
