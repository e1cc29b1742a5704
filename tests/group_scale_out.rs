//! Scaling a consumer group out while records flow: no record is read by
//! two members, none is lost, and each key's records are read in order.
//! Partitions move only after their old owner released them (revoke before
//! assign), both in process and through `logbus serve` with the network
//! client; the one exception, a member that stops answering, is driven by a
//! manual clock: only its uncommitted records come again after its session
//! expired.

use logbus::broker::client as local;
use logbus::broker::{
    Broker, BrokerConfig, GroupState, ProduceRecord, StorageConfig, Subscription, TopicConfig,
};
use logbus::client::{self as net, Client};
use logbus::clock::ManualClock;
use logbus::log::storage::MemoryStorage;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const BIN: &str = env!("CARGO_BIN_EXE_logbus");
const PARTITIONS: u32 = 6;
const KEYS: usize = 40;
const RECORDS: usize = 1_200;
const DEADLINE: Duration = Duration::from_secs(60);

/// One record as a member read it.
#[derive(Debug, Clone)]
struct Read {
    member: usize,
    partition: u32,
    offset: i64,
    key: String,
    seq: usize,
}

/// Everything the members read, in the order they read it, and a count to wait on.
#[derive(Clone)]
struct Reads {
    log: Arc<Mutex<Vec<Read>>>,
    count: Arc<watch::Sender<usize>>,
}

impl Reads {
    fn new() -> Reads {
        Reads {
            log: Arc::default(),
            count: Arc::new(watch::channel(0).0),
        }
    }

    fn push(&self, member: usize, partition: u32, offset: i64, value: &[u8]) {
        let value = std::str::from_utf8(value).unwrap();
        let (key, seq) = value.split_once(':').unwrap();
        let mut log = self.log.lock().unwrap();
        log.push(Read {
            member,
            partition,
            offset,
            key: key.to_owned(),
            seq: seq.parse().unwrap(),
        });
        self.count.send_replace(log.len());
    }

    async fn wait_for(&self, n: usize) {
        let mut rx = self.count.subscribe();
        let got = tokio::time::timeout(DEADLINE, rx.wait_for(|c| *c >= n)).await;
        assert!(got.is_ok(), "timed out waiting for {n} records read");
    }

    fn snapshot(&self) -> Vec<Read> {
        self.log.lock().unwrap().clone()
    }
}

/// The `i`th record: key `k{i % KEYS}`, value `key:seq` with `seq` counting
/// that key's records.
fn record(i: usize) -> (String, String) {
    let key = format!("k{}", i % KEYS);
    let value = format!("{key}:{}", i / KEYS);
    (key, value)
}

/// Checks the promises: every record read exactly once, except those in
/// `may_repeat` (partition, offset) which may be read twice; per key in
/// order of sequence numbers.
fn check(reads: &[Read], may_repeat: &BTreeSet<(u32, i64)>, members: usize) {
    let mut times: BTreeMap<(u32, i64), Vec<usize>> = BTreeMap::new();
    for r in reads {
        times
            .entry((r.partition, r.offset))
            .or_default()
            .push(r.member);
    }
    assert_eq!(times.len(), RECORDS, "every record read, none lost");
    for (at, by) in &times {
        if by.len() > 1 {
            assert!(
                may_repeat.contains(at),
                "record {at:?} read by members {by:?}"
            );
        }
    }
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reads
        .iter()
        .filter(|r| !may_repeat.contains(&(r.partition, r.offset)))
    {
        if let Some(prev) = last.insert(&r.key, r.seq) {
            assert!(
                r.seq > prev,
                "key {} read out of order: {} after {prev}",
                r.key,
                r.seq
            );
        }
    }
    let readers: BTreeSet<usize> = reads.iter().map(|r| r.member).collect();
    assert_eq!(readers.len(), members, "every member read some records");
}

fn broker(clock: &ManualClock) -> Broker {
    let mut config = BrokerConfig::with_storage(StorageConfig::Custom {
        storage: Arc::new(MemoryStorage::new()),
        dir: "/data".into(),
    })
    .clock(Arc::new(clock.clone()));
    // The tests expire sessions themselves, at the moment they choose.
    config.maintenance_interval_ms = None;
    let broker = Broker::open(config).unwrap();
    broker
        .create_topic("events", TopicConfig::with_partitions(PARTITIONS))
        .unwrap();
    broker
}

fn produce_local(broker: &Broker, range: std::ops::Range<usize>) {
    for chunk in range.collect::<Vec<_>>().chunks(20) {
        let records = chunk
            .iter()
            .map(|&i| {
                let (k, v) = record(i);
                ProduceRecord::keyed(k, v)
            })
            .collect();
        broker
            .produce("events", records, logbus::log::Durability::Written)
            .unwrap();
    }
}

/// An in-process member: polls, records, commits, until told to stop.
fn spawn_local_member(
    broker: &Broker,
    member: usize,
    reads: &Reads,
    stop: &watch::Receiver<bool>,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let (joined_tx, joined) = tokio::sync::oneshot::channel();
    let (broker, reads, mut stop) = (broker.clone(), reads.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let config = local::ConsumerConfig::new("readers", Subscription::topic("events"));
        let mut c = local::Consumer::join(&broker, config).unwrap();
        joined_tx.send(()).unwrap();
        while !*stop.borrow_and_update() {
            tokio::select! {
                polled = c.poll_wait(Duration::from_millis(200)) => {
                    for r in polled.unwrap() {
                        reads.push(member, r.partition, r.offset, r.value.as_deref().unwrap());
                    }
                    c.commit().unwrap();
                }
                _ = stop.changed() => {}
            }
        }
        c.close().unwrap();
    });
    (task, joined)
}

async fn wait_members_stable(broker: &Broker, members: usize) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        broker.wait_group_stable("readers", DEADLINE).await.unwrap();
        if broker.describe_group("readers").unwrap().members.len() == members {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group never settled"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_out_in_process_from_one_to_three_members_reads_every_record_once_in_key_order() {
    let clock = ManualClock::new(0);
    let broker = broker(&clock);
    let reads = Reads::new();
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();

    produce_local(&broker, 0..300);
    let (task, joined) = spawn_local_member(&broker, 0, &reads, &stop);
    tasks.push(task);
    joined.await.unwrap();
    reads.wait_for(150).await;
    // The second member joins while the first is mid-stream.
    let (task, joined) = spawn_local_member(&broker, 1, &reads, &stop);
    tasks.push(task);
    joined.await.unwrap();
    produce_local(&broker, 300..700);
    wait_members_stable(&broker, 2).await;
    reads.wait_for(500).await;
    let (task, joined) = spawn_local_member(&broker, 2, &reads, &stop);
    tasks.push(task);
    joined.await.unwrap();
    produce_local(&broker, 700..900);
    wait_members_stable(&broker, 3).await;
    produce_local(&broker, 900..RECORDS);
    reads.wait_for(RECORDS).await;
    broker
        .wait_group_caught_up("readers", DEADLINE)
        .await
        .unwrap();
    stop_tx.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    check(&reads.snapshot(), &BTreeSet::new(), 3);
    assert!(broker.metrics().rebalances >= 3);
}

#[test]
fn a_member_that_stops_answering_keeps_its_partitions_until_its_session_expires() {
    const SESSION_MS: i64 = 10_000;
    let clock = ManualClock::new(0);
    let broker = broker(&clock);
    produce_local(&broker, 0..600);
    let config = |client: &str| {
        let mut c = local::ConsumerConfig::new("readers", Subscription::topic("events"));
        c.client_id = client.into();
        c.session_timeout_ms = Some(SESSION_MS);
        c.max_poll_records = 50;
        c
    };
    let reads = Reads::new();
    let mut a = local::Consumer::join(&broker, config("a")).unwrap();
    let mut b = local::Consumer::join(&broker, config("b")).unwrap();
    let poll = |c: &mut local::Consumer, member: usize, commit: bool| {
        let got = c.poll().unwrap();
        for r in &got {
            reads.push(member, r.partition, r.offset, r.value.as_deref().unwrap());
        }
        if commit {
            c.commit().unwrap();
        }
        got.len()
    };
    // Both settle; `a` reads 50 records and stops answering without a commit.
    poll(&mut a, 0, true);
    poll(&mut b, 1, true);
    a.heartbeat().unwrap();
    let lost_reads = poll(&mut a, 0, false);
    assert!(lost_reads > 0);
    let a_partitions: BTreeSet<u32> = a.assignment().iter().map(|tp| tp.partition).collect();
    // Until its session runs out, nobody else reads its partitions.
    for _ in 0..5 {
        clock.advance(SESSION_MS / 5);
        poll(&mut b, 1, true);
        assert!(
            b.assignment()
                .iter()
                .all(|tp| !a_partitions.contains(&tp.partition))
        );
    }
    clock.advance(1);
    assert_eq!(broker.expire_sessions(), 1);
    let mut rounds = 0;
    while *reads.count.borrow() < RECORDS / 2 + lost_reads {
        poll(&mut b, 1, true);
        rounds += 1;
        assert!(rounds < 100, "b never caught up");
    }
    produce_local(&broker, 600..RECORDS);
    while broker.describe_group("readers").unwrap().total_lag > 0 {
        poll(&mut b, 1, true);
        rounds += 1;
        assert!(rounds < 200, "b never caught up");
    }
    // Only what `a` read and never committed came again.
    let may_repeat: BTreeSet<(u32, i64)> = reads
        .snapshot()
        .iter()
        .filter(|r| r.member == 0)
        .map(|r| (r.partition, r.offset))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let reads = reads.snapshot();
    let repeated: BTreeSet<(u32, i64)> = {
        let mut seen = BTreeSet::new();
        reads
            .iter()
            .filter(|r| !seen.insert((r.partition, r.offset)))
            .map(|r| (r.partition, r.offset))
            .collect()
    };
    assert_eq!(
        repeated.len(),
        lost_reads,
        "a's uncommitted reads came again"
    );
    check(&reads, &may_repeat, 2);
    assert_eq!(
        broker.describe_group("readers").unwrap().state,
        GroupState::Stable
    );
}

/// A running `logbus serve` on port 0.
struct Serve {
    child: Child,
    native: String,
}

impl Serve {
    fn start(dir: &std::path::Path) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--data")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready "), "{line:?}");
        let native = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("native="))
            .unwrap()
            .to_owned();
        Serve { child, native }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn produce_net(producer: &net::Producer, range: std::ops::Range<usize>) {
    let mut deliveries = Vec::new();
    for i in range {
        let (k, v) = record(i);
        let r = net::ProducerRecord::new("events", v).key(k);
        deliveries.push(producer.send(r).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
}

/// A network member with the default heartbeat period (15 s): partitions
/// move at once because fetches are woken, not because of heartbeats.
fn spawn_net_member(
    addr: &str,
    member: usize,
    reads: &Reads,
    stop: &watch::Receiver<bool>,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let (joined_tx, joined) = tokio::sync::oneshot::channel();
    let (addr, reads, mut stop) = (addr.to_owned(), reads.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let client = Client::connect(&addr).await.unwrap();
        let config = net::ConsumerConfig::new("readers", ["events"]);
        let mut c = net::Consumer::join(client, config).await.unwrap();
        joined_tx.send(()).unwrap();
        while !*stop.borrow_and_update() {
            tokio::select! {
                polled = c.poll(Duration::from_millis(500)) => {
                    for r in polled.unwrap() {
                        let p = u32::try_from(r.partition).unwrap();
                        reads.push(member, p, r.offset, r.value.as_deref().unwrap());
                    }
                    c.commit().await.unwrap();
                }
                _ = stop.changed() => {}
            }
        }
        c.leave().await.unwrap();
    });
    (task, joined)
}

async fn wait_net_stable(client: &Client, members: usize) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let d = client.describe_group("readers").await.unwrap();
        if d.state == "Stable" && d.members.len() == members {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group never settled: {} with {} members",
            d.state,
            d.members.len()
        );
        // Yield to the consumers between checks (not to make time pass).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_out_through_logbus_serve_from_one_to_three_members_reads_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let admin = Client::connect(&serve.native).await.unwrap();
    admin
        .create_topic(
            "events",
            i32::try_from(PARTITIONS).unwrap(),
            logbus::protocol::TopicConfig::default(),
        )
        .await
        .unwrap();
    let producer = net::Producer::connect(&serve.native, net::ProducerConfig::default())
        .await
        .unwrap();
    let reads = Reads::new();
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();

    produce_net(&producer, 0..300).await;
    let (task, joined) = spawn_net_member(&serve.native, 0, &reads, &stop);
    tasks.push(task);
    joined.await.unwrap();
    reads.wait_for(150).await;
    let (task, joined) = spawn_net_member(&serve.native, 1, &reads, &stop);
    tasks.push(task);
    joined.await.unwrap();
    produce_net(&producer, 300..700).await;
    wait_net_stable(&admin, 2).await;
    reads.wait_for(500).await;
    let (task, joined) = spawn_net_member(&serve.native, 2, &reads, &stop);
    tasks.push(task);
    joined.await.unwrap();
    produce_net(&producer, 700..900).await;
    wait_net_stable(&admin, 3).await;
    produce_net(&producer, 900..RECORDS).await;
    reads.wait_for(RECORDS).await;
    stop_tx.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    check(&reads.snapshot(), &BTreeSet::new(), 3);
    drop(serve);
}
