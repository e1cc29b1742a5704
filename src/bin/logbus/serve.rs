//! `logbus serve`: opens the broker (topics auto-create, design §10), starts
//! the native TCP server and the admin HTTP endpoint, prints
//! `ready native=HOST:PORT http=HOST:PORT` once both listen, and on SIGINT or
//! SIGTERM shuts both down and closes the broker cleanly (so the next start
//! skips recovery).

use anyhow::Context;
use logbus::admin::{self, RequestMetrics};
use logbus::broker::{Broker, BrokerConfig};
use logbus::server::{self, RequestEvent, ServerConfig, ServerObserver};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, env = "LOGBUS_DATA", default_value = "./logbus-data")]
    data: PathBuf,
    /// Native protocol address; port 0 picks a free port.
    #[arg(long, env = "LOGBUS_LISTEN", default_value = "127.0.0.1:7171")]
    listen: String,
    /// Admin HTTP address; port 0 picks a free port.
    #[arg(long, env = "LOGBUS_HTTP", default_value = "127.0.0.1:7172")]
    http: String,
    /// Keep everything in memory (nothing survives the process).
    #[arg(long)]
    in_memory: bool,
    /// Partitions of auto-created topics.
    #[arg(long, default_value_t = 1)]
    default_partitions: u32,
    /// Refuse produces to unknown topics instead of creating them.
    #[arg(long)]
    no_auto_create: bool,
}

/// Feeds the server's per-request timings to the admin endpoint's histograms.
struct Timings(Arc<RequestMetrics>);

impl ServerObserver for Timings {
    fn on_request(&self, event: &RequestEvent) {
        self.0.observe(
            event.api_key.name(),
            event.elapsed.as_secs_f64(),
            event.error.is_some(),
        );
    }
}

/// Runs the broker until SIGINT or SIGTERM, on `workers` runtime threads
/// (default one per core).
///
/// # Errors
/// The data directory is locked or unreadable, or an address cannot be bound.
pub fn run(args: Args, workers: Option<u16>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = if args.in_memory {
        BrokerConfig::in_memory()
    } else {
        BrokerConfig::dir(&args.data)
    };
    let config = config
        .auto_create_topics(!args.no_auto_create)
        .default_partitions(args.default_partitions);
    // The broker's errors name the directory or file at fault.
    let broker = Broker::open(config).context("cannot open the broker")?;
    let runtime = super::runtime(workers)?;
    let result = runtime.block_on(serve(&args, broker.clone()));
    // Closing writes the clean-shutdown markers; it fsyncs, so off the runtime.
    let closed = broker.close().context("closing the broker");
    result.and(closed)
}

async fn serve(args: &Args, broker: Broker) -> anyhow::Result<()> {
    let metrics = Arc::new(RequestMetrics::new());
    let config = ServerConfig {
        observer: Some(Arc::new(Timings(Arc::clone(&metrics)))),
        ..ServerConfig::default()
    };
    // Its error names the address already.
    let server = server::start(&args.listen, broker.clone(), config).await?;
    let http = tokio::net::TcpListener::bind(&args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    let http_addr = http.local_addr()?;
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(admin::run(http, broker, metrics, async {
        let _ = admin_stopped.await;
    }));
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "ready native={} http={}",
            server.local_addr(),
            http_addr
        )?;
        out.flush()?;
    }
    tracing::info!(native = %server.local_addr(), http = %http_addr, "logbus is serving");
    shutdown_signal().await?;
    tracing::info!("shutting down");
    let _ = stop_admin.send(());
    server
        .shutdown()
        .await
        .context("stopping the native server")?;
    admin
        .await
        .context("admin task")?
        .context("stopping the admin server")?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
