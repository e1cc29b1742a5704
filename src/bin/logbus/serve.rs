//! `logbus serve`: opens the broker (topics auto-create, design §10), starts
//! the native TCP server, the admin HTTP endpoint and the Kafka listener,
//! prints `ready native=HOST:PORT http=HOST:PORT kafka=HOST:PORT` once all
//! listen (`kafka=off` when it is turned off), and on SIGINT or SIGTERM
//! shuts them down and closes the broker cleanly (so the next start skips
//! recovery).

use anyhow::Context;
use logbus::admin::{self, RequestMetrics};
use logbus::broker::{Broker, BrokerConfig};
use logbus::kafka::{self, KafkaConfig};
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
    let mut config = ServerConfig {
        observer: Some(Arc::new(Timings(Arc::clone(&metrics)))),
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
