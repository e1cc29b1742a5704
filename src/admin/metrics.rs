//! Prometheus exposition for the admin face: [`RequestMetrics`], the
//! recorder a network face feeds through [`RequestObserver`], and
//! [`render`], which turns a fresh [`MetricsSnapshot`] plus those request
//! metrics into OpenMetrics text.
//!
//! No global state: the broker's counters are snapshots, so every scrape
//! builds its own `Registry` from the snapshot of that moment (handles of
//! the request families are shared in, not copied), which keeps many
//! brokers in one process apart. It knows the broker's snapshot types only,
//! never how a request reached the broker.

use crate::broker::MetricsSnapshot;
use crate::observe::{DiskWatch, RequestObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Upper bounds (seconds) of the latency buckets: from 100 µs (a produce at
/// `written` on loopback) to 30 s (a long-poll fetch waiting out its time).
const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    api: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabels {
    face: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GroupPartitionLabels {
    group: String,
    topic: String,
    partition: u32,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Per-api request latency and outcome counts, fed by a network face.
///
/// Thread-safe and cheap to call: one hash lookup under a read lock and a
/// few atomic adds per observation. Share it as `Arc<RequestMetrics>`.
#[derive(Debug)]
pub struct RequestMetrics {
    durations: Family<ApiLabels, Histogram, fn() -> Histogram>,
    requests: Family<RequestLabels, Counter>,
    refused: Family<LimitLabels, Counter>,
    closed: Family<LimitLabels, Counter>,
    disk: Arc<DiskWatch>,
}

impl Default for RequestMetrics {
    fn default() -> RequestMetrics {
        RequestMetrics::new()
    }
}

impl RequestMetrics {
    /// An empty recorder.
    pub fn new() -> RequestMetrics {
        RequestMetrics::with_disk_watch(Arc::default())
    }

    /// An empty recorder whose `/readyz` and disk gauges read `disk`.
    pub fn with_disk_watch(disk: Arc<DiskWatch>) -> RequestMetrics {
        RequestMetrics {
            durations: Family::new_with_constructor(latency_histogram),
            requests: Family::default(),
            refused: Family::default(),
            closed: Family::default(),
            disk,
        }
    }

    /// The watch of blocking disk work the faces feed (give it to the
    /// server's config), read by `/readyz`.
    pub fn disk_watch(&self) -> Arc<DiskWatch> {
        Arc::clone(&self.disk)
    }

    /// Counts a connection `face` refused at accept because of the limit `reason`.
    pub fn connection_refused(&self, face: &'static str, reason: &'static str) {
        self.refused
            .get_or_create(&LimitLabels { face, reason })
            .inc();
    }

    /// Counts a connection of `face` that ended for `reason`.
    pub fn connection_closed(&self, face: &'static str, reason: &'static str) {
        self.closed
            .get_or_create(&LimitLabels { face, reason })
            .inc();
    }

    /// Records one request to `api` that took `seconds` and failed if `error`.
    pub fn observe(&self, api: &'static str, seconds: f64, error: bool) {
        self.durations
            .get_or_create(&ApiLabels { api })
            .observe(seconds);
        let outcome = if error { "error" } else { "ok" };
        self.requests
            .get_or_create(&RequestLabels { api, outcome })
            .inc();
    }
}

impl RequestObserver for RequestMetrics {
    fn observe(&self, api: &'static str, seconds: f64, error: bool) {
        RequestMetrics::observe(self, api, seconds, error);
    }
}

/// Renders `snapshot` and `requests` as OpenMetrics text ending in `# EOF`.
/// Every metric is prefixed `logbus_`; counters get `_total` appended by
/// the encoder. The error is whatever the encoder reports writing into a
/// `String` (in practice nothing), kept so a failure never yields cut text.
pub(super) fn render(
    snapshot: &MetricsSnapshot,
    requests: &RequestMetrics,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("logbus");
    register_broker(&mut registry, snapshot);
    registry.register(
        "request_duration_seconds",
        "Time to serve a request, by api",
        requests.durations.clone(),
    );
    registry.register(
        "requests",
        "Requests served, by api and outcome (ok or error)",
        requests.requests.clone(),
    );
    registry.register(
        "connections_refused",
        "Connections refused at accept, by face and the limit they met",
        requests.refused.clone(),
    );
    registry.register(
        "connections_closed",
        "Connections ended, by face and reason (peer_closed, idle, slow_frame, no_request, ...)",
        requests.closed.clone(),
    );
    let (running, oldest) = requests.disk.in_flight();
    let running_gauge = Gauge::<i64>::default();
    running_gauge.set(i64::try_from(running).unwrap_or(i64::MAX));
    registry.register(
        "disk_operations_in_flight",
        "Blocking operations that may wait on the disk, running now",
        running_gauge,
    );
    let oldest_gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    oldest_gauge.set(oldest.map_or(0.0, |d| d.as_secs_f64()));
    registry.register(
        "disk_oldest_operation_seconds",
        "How long the oldest running disk operation has run (0 when none)",
        oldest_gauge,
    );
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

/// A counter family with one series per `(labels, value)`.
fn counters<S>(series: impl IntoIterator<Item = (S, u64)>) -> Family<S, Counter>
where
    S: Clone + std::hash::Hash + Eq,
{
    let family = Family::<S, Counter>::default();
    for (labels, value) in series {
        family.get_or_create(&labels).inc_by(value);
    }
    family
}

/// A gauge family with one series per `(labels, value)`.
fn gauges<S>(series: impl IntoIterator<Item = (S, i64)>) -> Family<S, Gauge>
where
    S: Clone + std::hash::Hash + Eq,
{
    let family = Family::<S, Gauge>::default();
    for (labels, value) in series {
        family.get_or_create(&labels).set(value);
    }
    family
}

/// A counter without labels holding `value`.
fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn register_broker(registry: &mut Registry, s: &MetricsSnapshot) {
    let topic = |name: &String| TopicLabels {
        topic: name.clone(),
    };
    let per_topic = |f: fn(&crate::broker::TopicCounters) -> u64| {
        counters(s.topics.iter().map(|(name, t)| (topic(name), f(t))))
    };
    registry.register(
        "topic_records_in",
        "Records appended to a topic (idempotent duplicates excluded)",
        per_topic(|t| t.records_in),
    );
    registry.register(
        "topic_bytes_in",
        "Batch bytes appended to a topic",
        per_topic(|t| t.bytes_in),
    );
    registry.register(
        "topic_records_out",
        "Records returned by fetches from a topic",
        per_topic(|t| t.records_out),
    );
    registry.register(
        "topic_bytes_out",
        "Batch bytes returned by fetches from a topic",
        per_topic(|t| t.bytes_out),
    );
    let damage = [
        (
            "topic_damaged_reads",
            "Reads refused because they met damaged stored data (CRC, header, offsets or a hole)",
            (|t| t.damage.damaged_reads) as fn(&crate::broker::TopicCounters) -> u64,
        ),
        (
            "topic_damage_found_on_open",
            "Damaged ranges found when the topic's partitions were opened",
            |t| t.damage.found_on_open,
        ),
        (
            "topic_recovery_truncations",
            "Torn or damaged tails cut, and segments removed after them, by crash recovery",
            |t| t.damage.truncations,
        ),
        (
            "topic_recovery_truncated_bytes",
            "Bytes crash recovery cut from the topic's partitions",
            |t| t.damage.truncated_bytes,
        ),
        (
            "topic_skipped_ranges",
            "Damaged ranges skipped on purpose",
            |t| t.damage.skipped_ranges,
        ),
        (
            "topic_skipped_offsets",
            "Offsets inside the damaged ranges skipped on purpose",
            |t| t.damage.skipped_offsets,
        ),
    ];
    for (name, help, f) in damage {
        registry.register(name, help, per_topic(f));
    }
    registry.register(
        "produce_requests",
        "Produce calls received by the broker",
        counter(s.produce_requests),
    );
    registry.register(
        "produce_errors",
        "Produce calls that failed",
        counter(s.produce_errors),
    );
    registry.register(
        "fetch_requests",
        "Fetch calls received by the broker",
        counter(s.fetch_requests),
    );
    registry.register(
        "fetch_errors",
        "Partition fetches that failed",
        counter(s.fetch_errors),
    );
    registry.register(
        "duplicate_batches",
        "Idempotent retries answered without appending",
        counter(s.duplicate_batches),
    );
    if let Some(bytes) = s.storage_memory_bytes {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        registry.register(
            "storage_memory_bytes",
            "Bytes of memory the in-memory storage holds (absent on disk)",
            gauge,
        );
    }
    registry.register(
        "group_rebalances",
        "Rebalances of all consumer groups since the broker opened",
        counter(s.rebalances),
    );
    let per_partition = |f: fn(&crate::broker::TopicCounters) -> &Vec<i64>| {
        gauges(s.topics.iter().flat_map(|(name, t)| {
            f(t).iter().zip(0u32..).map(|(&v, partition)| {
                (
                    PartitionLabels {
                        topic: name.clone(),
                        partition,
                    },
                    v,
                )
            })
        }))
    };
    registry.register(
        "partition_high_watermark",
        "Offset the next record appended to the partition will get",
        per_partition(|t| &t.high_watermarks),
    );
    registry.register(
        "partition_log_start_offset",
        "First readable offset of the partition",
        per_partition(|t| &t.log_start_offsets),
    );
    registry.register(
        "group_lag",
        "High watermark minus committed offset, per group partition with a commit",
        gauges(s.groups.iter().flat_map(|(group, g)| {
            g.partitions.iter().filter_map(|p| {
                Some((
                    GroupPartitionLabels {
                        group: group.clone(),
                        topic: p.partition.topic.clone(),
                        partition: p.partition.partition,
                    },
                    p.lag?,
                ))
            })
        })),
    );
    registry.register(
        "group_members",
        "Members of the consumer group",
        gauges(s.groups.iter().map(|(group, g)| {
            (
                GroupLabels {
                    group: group.clone(),
                },
                i64::try_from(g.members).unwrap_or(i64::MAX),
            )
        })),
    );
    registry.register(
        "group_generation",
        "Current generation of the consumer group",
        gauges(s.groups.iter().map(|(group, g)| {
            (
                GroupLabels {
                    group: group.clone(),
                },
                i64::from(g.generation),
            )
        })),
    );
}
