//! `logbus serve`: opens the broker (topics auto-create, docs/design.md §10), starts
//! the native TCP server, the admin HTTP endpoint and the Kafka listener,
//! prints `ready native=HOST:PORT http=HOST:PORT kafka=HOST:PORT` once all
//! listen (`kafka=off` when it is turned off), and on SIGINT or SIGTERM
//! shuts them down and closes the broker cleanly (so the next start skips
//! recovery).

use anyhow::Context;
use logbus::admin::{self, RequestMetrics};
use logbus::broker::{Broker, BrokerConfig};
use logbus::kafka::{self, KafkaConfig};
use logbus::server::{self, CloseReason, Refusal, RequestEvent, ServerConfig, ServerObserver};
use std::io::Write;
use std::net::SocketAddr;
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
    /// Kafka listener address for Kafka clients (`bootstrap.servers`); port
    /// 0 picks a free port, `off` turns the listener off.
    #[arg(long, env = "LOGBUS_KAFKA", default_value = "127.0.0.1:9092")]
    kafka: String,
    /// The `HOST:PORT` Kafka clients are told to connect to (Metadata),
    /// when they reach the broker under another name than `--kafka`.
    #[arg(long, env = "LOGBUS_KAFKA_ADVERTISE", value_parser = parse_host_port)]
    kafka_advertise: Option<(String, u16)>,
    /// Keep everything in memory (nothing survives the process).
    #[arg(long)]
    in_memory: bool,
    /// Partitions of auto-created topics.
    #[arg(long, default_value_t = 1)]
    default_partitions: u32,
    /// Refuse produces to unknown topics instead of creating them.
    #[arg(long)]
    no_auto_create: bool,
    /// Most native connections at once.
    #[arg(long, env = "LOGBUS_MAX_CONNECTIONS", default_value_t = ServerConfig::default().max_connections)]
    max_connections: usize,
    /// Most native connections at once from one client address.
    #[arg(long, env = "LOGBUS_MAX_CONNECTIONS_PER_IP", default_value_t = ServerConfig::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Request bytes being read or queued, server-wide, before the server stops reading.
    #[arg(long, env = "LOGBUS_MAX_QUEUED_REQUEST_BYTES", default_value_t = ServerConfig::default().max_queued_request_bytes)]
    max_queued_request_bytes: usize,
    /// Response bytes waiting to be written, server-wide, before clients over their share stop being read.
    #[arg(long, env = "LOGBUS_MAX_QUEUED_RESPONSE_BYTES", default_value_t = ServerConfig::default().max_queued_response_bytes)]
    max_queued_response_bytes: usize,
    /// Seconds a disk operation may run before /readyz reports the disk stuck.
    #[arg(long, env = "LOGBUS_DISK_STUCK_SECS", default_value_t = 10.0)]
    disk_stuck_secs: f64,
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

    fn on_connection_refused(&self, _peer: SocketAddr, reason: Refusal) {
        self.0.connection_refused("native", reason.name());
    }

    fn on_connection_closed(&self, _peer: SocketAddr, reason: CloseReason) {
        self.0.connection_closed("native", reason.name());
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
    let stuck_after = std::time::Duration::try_from_secs_f64(args.disk_stuck_secs)
        .context("--disk-stuck-secs must be a non-negative number of seconds")?;
    let metrics = Arc::new(RequestMetrics::with_disk_watch(Arc::new(
        logbus::observe::DiskWatch::new(stuck_after),
    )));
    let mut config = ServerConfig {
        observer: Some(Arc::new(Timings(Arc::clone(&metrics)))),
        disk_watch: metrics.disk_watch(),
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_queued_request_bytes: args.max_queued_request_bytes,
        max_queued_response_bytes: args.max_queued_response_bytes,
        ..ServerConfig::default()
    };
    // One set of connection slots and byte budgets for both network faces.
    let limits = server::Limits::new(config.limits_config());
    config.limits = Some(Arc::clone(&limits));
    // Its error names the address already.
    let server = server::start(&args.listen, broker.clone(), config).await?;
    let http = tokio::net::TcpListener::bind(&args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    let http_addr = http.local_addr()?;
    let kafka = if args.kafka == "off" {
        None
    } else {
        let config = KafkaConfig {
            advertised: args.kafka_advertise.clone(),
            limits: Some(limits),
            observer: Some(Arc::clone(&metrics) as Arc<dyn logbus::observe::RequestObserver>),
            ..KafkaConfig::default()
        };
        // Its error names the address already.
        Some(kafka::start(&args.kafka, broker.clone(), config).await?)
    };
    let kafka_addr = kafka
        .as_ref()
        .map_or_else(|| "off".to_owned(), |k| k.local_addr().to_string());
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(admin::run(http, broker, metrics, async {
        let _ = admin_stopped.await;
    }));
    let mut signals = ShutdownSignals::install()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "ready native={} http={} kafka={}",
            server.local_addr(),
            http_addr,
            kafka_addr
        )?;
        out.flush()?;
    }
    tracing::info!(native = %server.local_addr(), http = %http_addr, kafka = %kafka_addr, "logbus is serving");
    signals.recv().await;
    tracing::info!("shutting down");
    let _ = stop_admin.send(());
    if let Some(kafka) = kafka {
        kafka
            .shutdown()
            .await
            .context("stopping the Kafka listener")?;
    }
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

/// `HOST:PORT` with a port from 1 to 65535.
fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {s:?}"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("expected a port from 1 to 65535 in {s:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("expected HOST:PORT, got {s:?}"));
    }
    Ok((host.to_owned(), port))
}

/// SIGINT and SIGTERM, caught from the moment this returns.
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Installs the handlers at once: a signal sent as soon as the ready
    /// line is out must already be caught, not kill the process.
    fn install() -> anyhow::Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves on SIGINT or SIGTERM.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
