//! The admin HTTP face over real sockets on `127.0.0.1:0`: probes, the JSON
//! of topics and groups (shapes of docs/admin.md), error answers, the
//! OpenMetrics text checked line by line and by value, and graceful
//! shutdown. A hand-written HTTP/1.1 client keeps the test free of new
//! dependencies. Deterministic: a manual clock, no sleeps.

use logbus::admin::{self, AdminError, RequestMetrics};
use logbus::broker::client::{Consumer, ConsumerConfig};
use logbus::broker::{
    Broker, BrokerConfig, CommitRequest, ProduceRecord, StorageConfig, Subscription, TopicConfig,
    TopicPartition,
};
use logbus::clock::ManualClock;
use logbus::log::Durability;
use logbus::log::storage::{MemoryStorage, Storage};
use logbus::observe::RequestObserver;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn broker() -> Broker {
    let config = BrokerConfig::with_storage(StorageConfig::Custom {
        storage: Arc::new(MemoryStorage::new()) as Arc<dyn Storage>,
        dir: "/data".into(),
    })
    .clock(Arc::new(ManualClock::new(1_000)));
    Broker::open(config).unwrap()
}

/// A running admin server and the means to stop it.
struct Admin {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), AdminError>>,
}

async fn start(broker: &Broker, metrics: Arc<RequestMetrics>) -> Admin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(admin::run(listener, broker.clone(), metrics, async {
        let _ = stopped.await;
    }));
    Admin { addr, stop, task }
}

/// One answer: status, lower-cased header lines, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Sends `METHOD path` with `Connection: close` and reads the whole answer.
async fn request(addr: SocketAddr, method: &str, path: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Answer {
        status: status.parse().unwrap(),
        headers,
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path).await
}

fn produce(broker: &Broker, topic: &str, partition: u32, n: usize) {
    let records = (0..n)
        .map(|i| ProduceRecord::new(format!("v{i}")).partition(partition))
        .collect();
    broker.produce(topic, records, Durability::Written).unwrap();
}

/// Topic `t` with 2 partitions holding 5 and 3 records; group `g` with one
/// member owning both, committed at 2 and 3, so its lag is 3 and 0.
fn broker_with_lagging_group() -> (Broker, Consumer) {
    let broker = broker();
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    produce(&broker, "t", 0, 5);
    produce(&broker, "t", 1, 3);
    let mut consumer =
        Consumer::join(&broker, ConsumerConfig::new("g", Subscription::topic("t"))).unwrap();
    consumer.heartbeat().unwrap();
    broker
        .commit_offsets(CommitRequest {
            group: "g".into(),
            member_id: Some(consumer.member_id().to_owned()),
            generation: consumer.member_epoch(),
            offsets: vec![
                (TopicPartition::new("t", 0), 2),
                (TopicPartition::new("t", 1), 3),
            ],
            metadata: String::new(),
        })
        .unwrap();
    (broker, consumer)
}

async fn stop(admin: Admin) {
    admin.stop.send(()).unwrap();
    admin.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn healthz_answers_ok_also_to_head_while_readyz_and_json_turn_503_once_the_broker_closes() {
    let broker = broker();
    let admin = start(&broker, Arc::default()).await;
    let health = get(admin.addr, "/healthz").await;
    assert_eq!((health.status, health.body.trim()), (200, "ok"));
    assert_eq!(get(admin.addr, "/readyz").await.status, 200);
    let head = request(admin.addr, "HEAD", "/healthz").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    broker.close().unwrap();
    assert_eq!(get(admin.addr, "/readyz").await.status, 503);
    assert_eq!(get(admin.addr, "/healthz").await.status, 200);
    for path in ["/v1/topics", "/v1/groups", "/v1/topics/t", "/v1/groups/g"] {
        let closed = get(admin.addr, path).await;
        assert_eq!(closed.status, 503, "{path}");
        assert_eq!(closed.json()["error"], "broker_closed");
    }
    stop(admin).await;
}

#[tokio::test]
async fn topics_lists_created_topics_with_their_partition_counts() {
    let broker = broker();
    broker
        .create_topic("orders", TopicConfig::with_partitions(3))
        .unwrap();
    broker
        .create_topic("state", TopicConfig::compacted(1))
        .unwrap();
    let admin = start(&broker, Arc::default()).await;
    let list = get(admin.addr, "/v1/topics").await;
    assert_eq!(list.status, 200);
    let list = list.json();
    let topics: Vec<(&str, u64, &str, bool)> = list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["partitions"].as_u64().unwrap(),
                t["cleanup_policy"].as_str().unwrap(),
                t["internal"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        topics,
        vec![
            ("orders", 3, "delete", false),
            ("state", 1, "compact", false)
        ]
    );
    stop(admin).await;
}

#[tokio::test]
async fn a_topic_shows_log_start_high_watermark_and_size_per_partition() {
    let broker = broker();
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    produce(&broker, "t", 1, 4);
    let admin = start(&broker, Arc::default()).await;
    let topic = get(admin.addr, "/v1/topics/t").await.json();
    assert_eq!(topic["name"], "t");
    assert_eq!(topic["internal"], false);
    assert_eq!(topic["config"]["partitions"], 2);
    assert_eq!(topic["config"]["cleanup_policy"], "delete");
    let partitions = topic["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    let described = broker.describe_topic("t").unwrap();
    for (json, d) in partitions.iter().zip(&described.partitions) {
        assert_eq!(json["partition"], d.partition);
        assert_eq!(json["log_start_offset"], d.log_start_offset);
        assert_eq!(json["high_watermark"], d.high_watermark);
        assert_eq!(json["size_bytes"], d.size_bytes);
    }
    assert_eq!(partitions[0]["high_watermark"], 0);
    assert_eq!(partitions[1]["high_watermark"], 4);
    assert!(partitions[1]["size_bytes"].as_u64().unwrap() > 0);
    stop(admin).await;
}

#[tokio::test]
async fn unknown_names_and_paths_are_404_json_and_writes_are_405() {
    let broker = broker();
    let admin = start(&broker, Arc::default()).await;
    let topic = get(admin.addr, "/v1/topics/nope").await;
    assert_eq!(topic.status, 404);
    assert_eq!(topic.json()["error"], "unknown_topic");
    assert!(topic.json()["message"].as_str().unwrap().contains("nope"));
    let group = get(admin.addr, "/v1/groups/nope").await;
    assert_eq!(group.status, 404);
    assert_eq!(group.json()["error"], "unknown_group");
    let path = get(admin.addr, "/v2/everything").await;
    assert_eq!(path.status, 404);
    assert_eq!(path.json()["error"], "not_found");
    let post = request(admin.addr, "POST", "/v1/topics").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.json()["error"], "method_not_allowed");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let delete = request(admin.addr, "DELETE", "/v1/topics/nope").await;
    assert_eq!(delete.status, 405);
    stop(admin).await;
}

#[tokio::test]
async fn groups_show_members_assignment_committed_offsets_and_lag() {
    let (broker, consumer) = broker_with_lagging_group();
    let admin = start(&broker, Arc::default()).await;

    let list = get(admin.addr, "/v1/groups").await.json();
    assert_eq!(
        list["groups"],
        serde_json::json!([{"group": "g", "state": "Stable", "members": 1}])
    );

    let group = get(admin.addr, "/v1/groups/g").await.json();
    assert_eq!(group["group"], "g");
    assert_eq!(group["state"], "Stable");
    assert_eq!(
        group["generation"],
        broker.describe_group("g").unwrap().generation
    );
    let members = group["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["member_id"], consumer.member_id());
    assert_eq!(
        members[0]["subscription"],
        serde_json::json!({"topics": ["t"]})
    );
    assert_eq!(
        members[0]["assignment"],
        serde_json::json!([{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}])
    );
    let partitions: Vec<(u64, i64, i64, i64, &str)> = group["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["topic"], "t");
            (
                p["partition"].as_u64().unwrap(),
                p["committed_offset"].as_i64().unwrap(),
                p["high_watermark"].as_i64().unwrap(),
                p["lag"].as_i64().unwrap(),
                p["owner"].as_str().unwrap(),
            )
        })
        .collect();
    let owner = consumer.member_id();
    assert_eq!(partitions, vec![(0, 2, 5, 3, owner), (1, 3, 3, 0, owner)]);
    assert_eq!(group["total_lag"], 3);
    stop(admin).await;
}

#[tokio::test]
async fn a_group_id_with_reserved_characters_is_reachable_percent_encoded() {
    let broker = broker();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let _member = Consumer::join(
        &broker,
        ConsumerConfig::new("team a/b", Subscription::topic("t")),
    )
    .unwrap();
    let admin = start(&broker, Arc::default()).await;
    let group = get(admin.addr, "/v1/groups/team%20a%2Fb").await;
    assert_eq!(group.status, 200);
    assert_eq!(group.json()["group"], "team a/b");
    stop(admin).await;
}

/// One parsed sample: family-member name and labels.
type Series = (String, BTreeMap<String, String>);

/// Checks OpenMetrics text line by line and returns its samples. Panics
/// with the offending line if anything is malformed.
fn parse_metrics(text: &str) -> BTreeMap<Series, f64> {
    assert!(text.ends_with("# EOF\n"), "must end with # EOF");
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.iter().filter(|l| **l == "# EOF").count(), 1);
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, what) = (parts.next(), parts.next(), parts.next());
            let (Some(kind), Some(name), Some(what)) = (kind, name, what) else {
                panic!("malformed comment line {line:?}");
            };
            assert!(valid_name(name), "bad metric name in {line:?}");
            match kind {
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "info", "unknown"].contains(&what),
                        "bad type in {line:?}"
                    );
                    assert!(families.insert(name.into(), what.into()).is_none());
                }
                "HELP" | "UNIT" => {}
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = parse_sample(line);
        let family = families
            .keys()
            .filter(|f| series.0.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample of an undeclared family: {line:?}"));
        let suffix = &series.0[family.len()..];
        let allowed: &[&str] = match families[family].as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            _ => &[""],
        };
        assert!(allowed.contains(&suffix), "bad suffix in {line:?}");
        assert!(
            samples.insert(series, value).is_none(),
            "duplicate {line:?}"
        );
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{k="v",...} value` or `name value`.
fn parse_sample(line: &str) -> (Series, f64) {
    let (series, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            (name, parse_labels(body, line))
        }
    };
    assert!(valid_name(name), "bad sample name in {line:?}");
    ((name.to_owned(), labels), value)
}

fn parse_labels(mut body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {line:?}"));
        assert!(valid_name(key), "bad label name in {line:?}");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        labels.insert(key.to_owned(), value);
        body = &rest[end + 1..];
        body = body.strip_prefix(',').unwrap_or(body);
    }
    labels
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[tokio::test]
async fn metrics_are_valid_openmetrics_with_the_brokers_counters_and_lag() {
    let (broker, _consumer) = broker_with_lagging_group();
    let admin = start(&broker, Arc::default()).await;
    let answer = get(admin.addr, "/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let m = parse_metrics(&answer.body);
    let snapshot = broker.metrics();
    let t = [("topic", "t")];
    assert_eq!(m[&series("logbus_topic_records_in_total", &t)], 8.0);
    assert_eq!(
        m[&series("logbus_topic_bytes_in_total", &t)],
        snapshot.topics["t"].bytes_in as f64
    );
    assert_eq!(m[&series("logbus_topic_records_out_total", &t)], 0.0);
    assert_eq!(m[&series("logbus_produce_requests_total", &[])], 2.0);
    assert_eq!(m[&series("logbus_produce_errors_total", &[])], 0.0);
    assert!(m.contains_key(&series("logbus_fetch_requests_total", &[])));
    assert!(m.contains_key(&series("logbus_fetch_errors_total", &[])));
    assert_eq!(
        m[&series("logbus_group_rebalances_total", &[])],
        snapshot.rebalances as f64
    );
    for (partition, hw) in [("0", 5.0), ("1", 3.0)] {
        let labels = [("topic", "t"), ("partition", partition)];
        assert_eq!(m[&series("logbus_partition_high_watermark", &labels)], hw);
        assert_eq!(
            m[&series("logbus_partition_log_start_offset", &labels)],
            0.0
        );
    }
    // lag = high watermark − committed.
    for (partition, lag) in [("0", 3.0), ("1", 0.0)] {
        let labels = [("group", "g"), ("topic", "t"), ("partition", partition)];
        assert_eq!(m[&series("logbus_group_lag", &labels)], lag);
    }
    assert_eq!(m[&series("logbus_group_members", &[("group", "g")])], 1.0);
    stop(admin).await;
}

#[tokio::test]
async fn request_observations_show_up_in_the_latency_histogram_and_outcome_counters() {
    let broker = broker();
    let metrics = Arc::new(RequestMetrics::new());
    let observer: Arc<dyn RequestObserver> = metrics.clone();
    observer.observe("produce", 0.002, false);
    observer.observe("produce", 0.002, false);
    observer.observe("produce", 0.2, true);
    observer.observe("fetch", 0.00005, false);
    let admin = start(&broker, metrics).await;
    let m = parse_metrics(&get(admin.addr, "/metrics").await.body);
    let produce = [("api", "produce")];
    assert_eq!(
        m[&series("logbus_request_duration_seconds_count", &produce)],
        3.0
    );
    let sum = m[&series("logbus_request_duration_seconds_sum", &produce)];
    assert!((sum - 0.204).abs() < 1e-9, "{sum}");
    let bucket = |api: &str, le: &str| {
        m[&series(
            "logbus_request_duration_seconds_bucket",
            &[("api", api), ("le", le)],
        )]
    };
    assert_eq!(bucket("produce", "0.001"), 0.0);
    assert_eq!(bucket("produce", "0.0025"), 2.0);
    assert_eq!(bucket("produce", "0.25"), 3.0);
    assert_eq!(bucket("produce", "+Inf"), 3.0);
    assert_eq!(bucket("fetch", "0.0001"), 1.0);
    let requests = |api: &str, outcome: &str| {
        m.get(&series(
            "logbus_requests_total",
            &[("api", api), ("outcome", outcome)],
        ))
        .copied()
    };
    assert_eq!(requests("produce", "ok"), Some(2.0));
    assert_eq!(requests("produce", "error"), Some(1.0));
    assert_eq!(requests("fetch", "ok"), Some(1.0));
    assert_eq!(requests("fetch", "error"), None);
    stop(admin).await;
}

#[tokio::test]
async fn two_brokers_in_one_process_render_only_their_own_metrics() {
    let a = broker();
    let b = broker();
    a.create_topic("only-a", TopicConfig::default()).unwrap();
    b.create_topic("only-b", TopicConfig::default()).unwrap();
    let text = admin::render_metrics(&a, &RequestMetrics::new()).unwrap();
    let topics: BTreeSet<String> = parse_metrics(&text)
        .keys()
        .filter_map(|(_, labels)| labels.get("topic").cloned())
        .collect();
    assert!(topics.contains("only-a"));
    assert!(!topics.contains("only-b"));
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_and_run_returns() {
    let broker = broker();
    let admin = start(&broker, Arc::default()).await;
    // One connection that has sent nothing, one kept alive after an answer.
    let mut silent = TcpStream::connect(admin.addr).await.unwrap();
    let mut kept = TcpStream::connect(admin.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"ok\n") {
        let mut buf = [0u8; 256];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the answer");
        answer.extend_from_slice(&buf[..n]);
    }
    assert_eq!(parse_answer(&answer).status, 200);
    let addr = admin.addr;
    stop(admin).await;
    // Both connections were closed by the server, and nothing listens.
    let mut rest = Vec::new();
    assert_eq!(kept.read_to_end(&mut rest).await.unwrap(), 0);
    assert_eq!(silent.read_to_end(&mut rest).await.unwrap(), 0);
    assert!(TcpStream::connect(addr).await.is_err());
}
