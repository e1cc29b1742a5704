//! `logbus groups list|describe|reset|delete`.

use super::topics::Server;
use super::{Position, connect, count};
use logbus::client::ResetTarget;
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List consumer groups with their state and member count.
    List {
        #[command(flatten)]
        server: Server,
    },
    /// Show a group's members and assignment, and per partition the
    /// committed offset, end offset and lag.
    Describe {
        /// Group id.
        group: String,
        #[command(flatten)]
        server: Server,
    },
    /// Move an empty group's committed offsets of a topic.
    Reset {
        /// Group id.
        group: String,
        /// Topic whose offsets move.
        #[arg(long)]
        topic: String,
        /// earliest, latest, OFFSET, @TIMESTAMP_MS or an ISO-8601 time.
        #[arg(long)]
        to: Position,
        #[command(flatten)]
        server: Server,
    },
    /// Delete an empty group and its committed offsets.
    Delete {
        /// Group id.
        group: String,
        #[command(flatten)]
        server: Server,
    },
}

/// Runs a `groups` subcommand.
///
/// # Errors
/// The broker is unreachable or refuses the request (e.g. a reset of a
/// group that still has members).
pub async fn run(command: Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::List { server } => {
            let client = connect(&server.addr).await?;
            for g in client.list_groups().await? {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    g.group_id,
                    g.state,
                    count(g.members, "member")
                )?;
            }
        }
        Command::Describe { group, server } => {
            let client = connect(&server.addr).await?;
            let g = client.describe_group(&group).await?;
            writeln!(
                out,
                "group {} state={} generation={} assignor={}",
                g.group_id, g.state, g.generation_id, g.assignor
            )?;
            for m in &g.members {
                let assigned: Vec<String> = m
                    .assignment
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.topic)))
                    .collect();
                writeln!(
                    out,
                    "  member {} client={} host={} partitions=[{}]",
                    m.member_id,
                    m.client_id,
                    m.client_host,
                    assigned.join(", ")
                )?;
            }
            writeln!(
                out,
                "  {:<24} {:>9} {:>12} {:>12} {:>10}",
                "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"
            )?;
            for t in &g.offsets {
                for p in &t.partitions {
                    // Kafka's lag: end − committed; nothing committed, no lag ("-").
                    let known = |v: i64| if v < 0 { "-".to_owned() } else { v.to_string() };
                    let committed = known(p.committed_offset);
                    let lag = known(p.lag);
                    writeln!(
                        out,
                        "  {:<24} {:>9} {:>12} {:>12} {:>10}",
                        t.topic, p.partition, committed, p.high_watermark, lag
                    )?;
                }
            }
        }
        Command::Delete { group, server } => {
            let client = connect(&server.addr).await?;
            client.delete_group(&group).await?;
            writeln!(out, "deleted group {group}")?;
        }
        Command::Reset {
            group,
            topic,
            to,
            server,
        } => {
            to.warn_if_seconds();
            let client = connect(&server.addr).await?;
            let target = match to {
                Position::Earliest => ResetTarget::Earliest,
                Position::Latest => ResetTarget::Latest,
                Position::Offset(o) => ResetTarget::Offset(o),
                Position::Timestamp(ts) => ResetTarget::Timestamp(ts),
            };
            for p in client.reset_offsets(&group, &topic, None, target).await? {
                writeln!(out, "{topic}-{}\t{}", p.partition, p.offset)?;
            }
        }
    }
    Ok(())
}
