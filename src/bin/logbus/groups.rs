//! `logbus groups list|describe|reset`.

use super::topics::Server;
use super::{Position, connect};
use logbus::client::ResetTarget;

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
        /// earliest, latest, OFFSET or @TIMESTAMP_MS.
        #[arg(long)]
        to: Position,
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
    match command {
        Command::List { server } => {
            let client = connect(&server.addr).await?;
            for g in client.list_groups().await? {
                println!("{}\t{}\t{} members", g.group_id, g.state, g.members);
            }
        }
        Command::Describe { group, server } => {
            let client = connect(&server.addr).await?;
            let g = client.describe_group(&group).await?;
            println!(
                "group {} state={} generation={} assignor={}",
                g.group_id, g.state, g.generation_id, g.assignor
            );
            for m in &g.members {
                let assigned: Vec<String> = m
                    .assignment
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.topic)))
                    .collect();
                println!(
                    "  member {} client={} host={} partitions=[{}]",
                    m.member_id,
                    m.client_id,
                    m.client_host,
                    assigned.join(", ")
                );
            }
            println!(
                "  {:<24} {:>9} {:>12} {:>12} {:>10}",
                "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"
            );
            for t in &g.offsets {
                for p in &t.partitions {
                    let committed = if p.committed_offset < 0 {
                        "-".to_owned()
                    } else {
                        p.committed_offset.to_string()
                    };
                    println!(
                        "  {:<24} {:>9} {:>12} {:>12} {:>10}",
                        t.topic, p.partition, committed, p.high_watermark, p.lag
                    );
                }
            }
        }
        Command::Reset {
            group,
            topic,
            to,
            server,
        } => {
            let client = connect(&server.addr).await?;
            let target = match to {
                Position::Earliest => ResetTarget::Earliest,
                Position::Latest => ResetTarget::Latest,
                Position::Offset(o) => ResetTarget::Offset(o),
                Position::Timestamp(ts) => ResetTarget::Timestamp(ts),
            };
            for p in client.reset_offsets(&group, &topic, None, target).await? {
                println!("{topic}-{}\t{}", p.partition, p.offset);
            }
        }
    }
    Ok(())
}
