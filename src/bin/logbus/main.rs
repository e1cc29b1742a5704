//! The `logbus` command line: a thin shell over the library. `serve` runs
//! the broker with its native TCP and admin HTTP faces; the other commands
//! are clients of a running broker (`--server`, default `127.0.0.1:7171`),
//! except `dump` and `verify`, which read data directories directly.
//!
//! Errors print one line to stderr and exit 1. A closed stdout (`| head`)
//! ends the command quietly with exit status 1. `produce` and `consume`
//! stop cleanly on SIGINT or SIGTERM and exit 130 or 143 (the shell's
//! 128 + signal number), after saying what they finished.

// Request-sized buffers come and go by the thousand per second: an allocator
// that keeps freed pages spares the page faults (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod config;
mod consume;
mod dump;
mod groups;
mod produce;
mod serve;
mod time;
mod topics;
mod values;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Where client commands connect by default.
const DEFAULT_SERVER: &str = "127.0.0.1:7171";

#[derive(Parser)]
#[command(
    name = "logbus",
    version,
    about = "Kafka's model in one binary: an event broker with a segmented, crash-safe log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Async runtime threads (default: one per core). One thread keeps a
    /// request's tasks together: the lowest latency at moderate load (see
    /// `bench e2e` in the README); more give more throughput.
    #[arg(long, global = true, env = "LOGBUS_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker: native protocol and admin HTTP, until SIGINT/SIGTERM.
    Serve(serve::Args),
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topics(topics::Command),
    /// Produce one record per stdin line.
    Produce(produce::Args),
    /// Print records of a topic, optionally as a consumer group member.
    Consume(consume::Args),
    /// List, describe, reset and delete consumer groups.
    #[command(subcommand)]
    Groups(groups::Command),
    /// Measure produce, consume or end-to-end throughput and latency.
    Bench(bench::Args),
    /// Print every batch of a partition directory (offsets, counts,
    /// timestamps, CRC status); reads only, never repairs.
    Dump {
        /// A partition directory (`DATA/TOPIC-PARTITION`).
        dir: PathBuf,
    },
    /// Check every batch (CRC, header, offsets) and segment of a stopped
    /// broker's data directory; exit non-zero on damage. `--skip-damaged`
    /// gives damaged ranges up on purpose.
    Verify(verify::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump { dir } => dump::dump(&dir),
        Command::Verify(args) => verify::run(&args),
        Command::Serve(args) => serve::run(args, cli.workers),
        other => runtime(cli.workers).and_then(|rt| {
            rt.block_on(async {
                match other {
                    Command::Topics(cmd) => topics::run(cmd).await,
                    Command::Produce(args) => produce::run(args).await,
                    Command::Consume(args) => consume::run(args).await,
                    Command::Groups(cmd) => groups::run(cmd).await,
                    Command::Bench(args) => bench::run(args).await,
                    Command::Dump { .. } | Command::Serve(_) | Command::Verify(_) => {
                        unreachable!("handled above")
                    }
                }
            })
        }),
    };
    if let Err(e) = result {
        std::process::exit(exit_status(&e));
    }
}

/// Reports `e` on stderr (unless stdout was closed under us, which needs no
/// words) and returns the exit status.
fn exit_status(e: &anyhow::Error) -> i32 {
    if let Some(Interrupted(signal)) = e.downcast_ref::<Interrupted>() {
        eprintln!("logbus: {e}");
        return 128 + signal.number();
    }
    let broken_pipe = e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if !broken_pipe {
        eprintln!("logbus: {e:#}");
    }
    1
}

/// The signals that stop a command cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn number(self) -> i32 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// A command stopped by a signal after finishing what it had started.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {0}")]
struct Interrupted(Signal);

/// SIGINT and SIGTERM, listened to from creation on (a signal that arrives
/// before the first `recv` is kept).
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the next SIGINT or SIGTERM.
    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}

/// The runtime every command but `dump` runs on, with `workers` threads
/// (default: tokio's, one per core).
fn runtime(workers: Option<u16>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(usize::from(n));
    }
    Ok(builder.enable_all().build()?)
}

/// Connects to a broker once, without retrying: a command typed by hand
/// should say at once that nothing listens there (the error names the
/// address).
async fn connect(server: &str) -> anyhow::Result<logbus::client::Client> {
    Ok(logbus::client::Client::connect(server).await?)
}

/// A `--from`/`--to` position: earliest, latest, an offset, `@TIMESTAMP_MS`
/// or an ISO-8601 time (`2026-12-02T10:00:00Z`, `@` optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

/// Milliseconds below this (1973-03-03) are almost surely seconds.
const SECONDS_LOOK: i64 = 100_000_000_000;

impl Position {
    /// Warns on stderr about a timestamp that looks like seconds rather
    /// than milliseconds: read as milliseconds it lies in early 1970, so
    /// every record would match.
    fn warn_if_seconds(self) {
        if let Position::Timestamp(ms) = self
            && (1..SECONDS_LOOK).contains(&ms)
        {
            eprintln!(
                "logbus: warning: @{ms} is read as milliseconds ({}); if you meant seconds, write @{}000 or {}",
                time::format_ms(ms),
                ms,
                time::format_ms(ms.saturating_mul(1000)),
            );
        }
    }
}

impl std::str::FromStr for Position {
    type Err = String;

    fn from_str(s: &str) -> Result<Position, String> {
        let expected = "expected earliest, latest, OFFSET, @TIMESTAMP_MS or an ISO-8601 time";
        match s {
            "earliest" => Ok(Position::Earliest),
            "latest" => Ok(Position::Latest),
            _ => {
                let (text, at) = match s.strip_prefix('@') {
                    Some(ts) => (ts, true),
                    None => (s, false),
                };
                if text.contains('-') && !text.starts_with('-') {
                    return time::parse_iso8601(text)
                        .map(Position::Timestamp)
                        .map_err(|e| format!("{expected}, got {s:?}: {e}"));
                }
                let n: i64 = text
                    .parse()
                    .map_err(|e| format!("{expected}, got {s:?}: {e}"))?;
                if n < 0 {
                    return Err(format!("{s:?} is negative"));
                }
                Ok(if at {
                    Position::Timestamp(n)
                } else {
                    Position::Offset(n)
                })
            }
        }
    }
}

/// `1 partition`, `2 partitions`.
fn count(n: impl Into<i64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `none|written|fsync`.
fn parse_durability(s: &str) -> Result<logbus::client::Durability, String> {
    use logbus::client::Durability;
    match s {
        "none" => Ok(Durability::None),
        "written" => Ok(Durability::Written),
        "fsync" => Ok(Durability::Fsync),
        _ => Err(format!("expected none, written or fsync, got {s:?}")),
    }
}
