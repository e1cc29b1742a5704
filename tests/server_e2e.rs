//! End to end over TCP on 127.0.0.1:0 through the async client: every api,
//! a group of three consumers across a rebalance, long-poll fetches woken
//! by appends, and pipelining (a parked long poll does not hold back later
//! requests on the same connection).

mod server_common;

use bytes::Bytes;
use logbus::client::{
    Client, ClientError, Consumer, ConsumerConfig, OffsetQuery, Producer, ProducerConfig,
    ProducerRecord, ResetTarget, TopicConfig,
};
use logbus::protocol::{
    Durability, ErrorCode, FetchPartition, FetchRequest, FetchTopic, IsolationLevel,
};
use server_common::{DEADLINE, TestServer, batch, wait_for_fetches};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest {
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: IsolationLevel::ReadUncommitted,
        group_id: None,
        topics: vec![FetchTopic {
            name: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
            }],
        }],
        member: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_offset_and_group_admin_round_trip_through_the_client() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();

    client
        .create_topic("orders", 2, TopicConfig::default())
        .await
        .unwrap();
    let exists = client
        .create_topic("orders", 2, TopicConfig::default())
        .await;
    assert_eq!(
        exists.unwrap_err().code(),
        Some(ErrorCode::TopicAlreadyExists)
    );
    let bad = client
        .create_topic("bad name!", 1, TopicConfig::default())
        .await;
    assert_eq!(
        bad.unwrap_err().code(),
        Some(ErrorCode::InvalidTopicException)
    );
    client.create_partitions("orders", 3).await.unwrap();
    let listed = client.list_topics(false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].partitions),
        ("orders", 3)
    );
    assert!(client.list_topics(true).await.unwrap().len() >= 2);

    let base = client
        .produce_batches("orders", 1, Bytes::from(batch("a", 5)), Durability::Fsync)
        .await
        .unwrap();
    assert_eq!(base, 0);
    let described = client.describe_topic("orders").await.unwrap();
    assert_eq!(described.partitions.len(), 3);
    assert_eq!(described.partitions[1].high_watermark, 5);
    assert_eq!(described.config.retention_bytes, Some(-1));
    let missing = client.describe_topic("nope").await.unwrap_err();
    assert_eq!(missing.code(), Some(ErrorCode::UnknownTopicOrPartition));
    assert!(missing.is_retriable());

    assert_eq!(
        client
            .list_offset("orders", 1, OffsetQuery::Earliest)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        client
            .list_offset("orders", 1, OffsetQuery::Latest)
            .await
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        client
            .list_offset("orders", 1, OffsetQuery::Timestamp(1_000))
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        client
            .list_offset("orders", 1, OffsetQuery::Timestamp(9_999_999))
            .await
            .unwrap(),
        None
    );

    let (id, epoch) = client.init_producer_id(None).await.unwrap();
    let (id2, epoch2) = client.init_producer_id(Some((id, epoch))).await.unwrap();
    assert_eq!((id2, epoch2), (id, epoch + 1));

    // An empty group: reset, describe with lag, list, delete.
    let reset = client
        .reset_offsets("g", "orders", None, ResetTarget::Offset(2))
        .await
        .unwrap();
    assert_eq!(reset.len(), 3);
    assert_eq!(reset[1].offset, 2);
    let d = client.describe_group("g").await.unwrap();
    assert_eq!(d.state, "Empty");
    let p1 = &d.offsets[0].partitions[1];
    assert_eq!((p1.committed_offset, p1.high_watermark, p1.lag), (2, 5, 3));
    let offsets = client.fetch_offsets("g", None).await.unwrap();
    assert_eq!(offsets[0].partitions.len(), 3);
    assert_eq!(client.list_groups().await.unwrap()[0].group_id, "g");
    client.delete_group("g").await.unwrap();
    let gone = client.describe_group("g").await.unwrap_err();
    assert_eq!(gone.code(), Some(ErrorCode::GroupIdNotFound));

    client.delete_topic("orders").await.unwrap();
    assert!(client.list_topics(false).await.unwrap().is_empty());
    server.stop().await;
}

/// Polls `consumer` once and records what it returned, checking that each
/// partition's records come in consecutive offset order within the poll
/// and continue where the previous poll of the same generation stopped.
async fn poll_into(
    consumer: &mut Consumer,
    seen: &mut BTreeMap<(i32, i64), String>,
    last: &mut BTreeMap<i32, (i32, i64)>,
) {
    let generation = consumer.member_epoch();
    let records = consumer.poll(Duration::from_millis(20)).await.unwrap();
    let mut this_poll: BTreeMap<i32, i64> = BTreeMap::new();
    for r in records {
        if let Some(prev) = this_poll.insert(r.partition, r.offset) {
            assert_eq!(r.offset, prev + 1, "partition {} out of order", r.partition);
        } else if let Some(&(g, prev)) = last.get(&r.partition)
            && g == generation
            && g == consumer.member_epoch()
        {
            assert_eq!(
                r.offset,
                prev + 1,
                "partition {} skipped or went back",
                r.partition
            );
        }
        let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
        assert_eq!(value, format!("p{}-{}", r.partition, r.offset));
        seen.insert((r.partition, r.offset), value);
    }
    for (p, o) in this_poll {
        last.insert(p, (consumer.member_epoch(), o));
    }
    consumer.commit().await.unwrap();
}

async fn produce_round(producer: &Producer, partitions: i32, from: i64, n: i64) {
    let mut deliveries = Vec::new();
    for p in 0..partitions {
        for i in from..from + n {
            let record = ProducerRecord::new("events", format!("p{p}-{i}")).partition(p);
            deliveries.push(producer.send(record).await.unwrap());
        }
    }
    for d in deliveries {
        d.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_read_every_record_in_order_and_a_leaver_partitions_move() {
    const PARTITIONS: i32 = 6;
    const ROUND: i64 = 40;
    let server = TestServer::start().await;
    let admin = Client::connect(&server.addr).await.unwrap();
    admin
        .create_topic("events", PARTITIONS, TopicConfig::default())
        .await
        .unwrap();
    let producer = Producer::connect(&server.addr, ProducerConfig::default())
        .await
        .unwrap();
    produce_round(&producer, PARTITIONS, 0, ROUND).await;

    let mut consumers = Vec::new();
    for _ in 0..3 {
        let mut config = ConsumerConfig::new("readers", ["events"]);
        config.heartbeat_interval = Some(Duration::from_millis(10));
        let client = Client::connect(&server.addr).await.unwrap();
        consumers.push(Consumer::join(client, config).await.unwrap());
    }
    let mut seen = BTreeMap::new();
    let mut last: Vec<BTreeMap<i32, (i32, i64)>> = vec![BTreeMap::new(); 3];
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();

    // Phase 1: the three settle on disjoint shares and read round one.
    let deadline = Instant::now() + DEADLINE;
    loop {
        for (i, c) in consumers.iter_mut().enumerate() {
            poll_into(c, &mut seen, &mut last[i]).await;
        }
        let shares: Vec<BTreeSet<i32>> = consumers
            .iter()
            .map(|c| c.assignment().into_iter().map(|(_, p)| p).collect())
            .collect();
        let disjoint = shares.iter().map(BTreeSet::len).sum::<usize>() == all.len();
        let union: BTreeSet<i32> = shares.iter().flatten().copied().collect();
        let settled = disjoint && union == all && shares.iter().all(|s| !s.is_empty());
        if settled && seen.len() == (i64::from(PARTITIONS) * ROUND) as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phase 1 did not complete: {shares:?}, {} seen",
            seen.len()
        );
    }

    // Phase 2: the third leaves; its partitions move to the other two.
    let leaver = consumers.pop().unwrap();
    let moved: BTreeSet<i32> = leaver.assignment().into_iter().map(|(_, p)| p).collect();
    leaver.leave().await.unwrap();
    produce_round(&producer, PARTITIONS, ROUND, ROUND).await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        for (i, c) in consumers.iter_mut().enumerate() {
            poll_into(c, &mut seen, &mut last[i]).await;
        }
        let union: BTreeSet<i32> = consumers
            .iter()
            .flat_map(|c| c.assignment().into_iter().map(|(_, p)| p))
            .collect();
        if union == all && seen.len() == (i64::from(PARTITIONS) * 2 * ROUND) as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phase 2 did not complete: {} seen",
            seen.len()
        );
    }
    let remaining: BTreeSet<i32> = consumers
        .iter()
        .flat_map(|c| c.assignment().into_iter().map(|(_, p)| p))
        .collect();
    assert!(moved.is_subset(&remaining) && !moved.is_empty());
    for p in 0..PARTITIONS {
        for o in 0..2 * ROUND {
            assert!(seen.contains_key(&(p, o)), "record {p}@{o} never consumed");
        }
    }
    // Everything read was committed: lag 0 everywhere.
    let d = admin.describe_group("readers").await.unwrap();
    assert!(d.offsets[0].partitions.iter().all(|p| p.lag == 0), "{d:?}");
    // Each member is shown with the host it connected from, as Kafka shows it.
    assert!(!d.members.is_empty());
    assert!(
        d.members.iter().all(|m| m.client_host == "/127.0.0.1"),
        "{d:?}"
    );
    for c in consumers {
        c.leave().await.unwrap();
    }
    producer.close().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_fetch_returns_on_append_not_at_its_timeout() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("t", 1, TopicConfig::default())
        .await
        .unwrap();
    let waiting = client.clone();
    let started = Instant::now();
    let before = server.broker.metrics().fetch_requests;
    let fetch = tokio::spawn(async move { waiting.fetch(fetch_request("t", 0, 30_000)).await });
    // The fetch reached the broker and waits there.
    wait_for_fetches(&server.broker, before + 1).await;
    client.list_topics(false).await.unwrap();
    assert!(
        !fetch.is_finished(),
        "the fetch answered before anything was appended"
    );

    let other = Client::connect(&server.addr).await.unwrap();
    other
        .produce_batches("t", 0, Bytes::from(batch("x", 3)), Durability::Written)
        .await
        .unwrap();
    let response = tokio::time::timeout(DEADLINE, fetch)
        .await
        .expect("the fetch did not wake")
        .unwrap()
        .unwrap();
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None);
    assert_eq!(p.high_watermark, 3);
    let records = logbus::client::decode_batches(&p.records, 0).unwrap();
    assert_eq!(records.len(), 3, "woken by the append, with its records");
    assert!(started.elapsed() < Duration::from_secs(25));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pipelined_requests_on_one_connection_are_all_answered() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("p", 1, TopicConfig::default())
        .await
        .unwrap();
    // A parked long poll first, then 500 requests of mixed apis in flight at once.
    let parked = {
        let c = client.clone();
        tokio::spawn(async move { c.fetch(fetch_request("p", 0, 30_000)).await })
    };
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..500 {
        let c = client.clone();
        calls.spawn(async move {
            if i % 2 == 0 {
                c.list_topics(false).await.map(|t| t.len() as i64)
            } else {
                c.list_offset("p", 0, OffsetQuery::Latest)
                    .await
                    .map(|o| o.unwrap_or(-1))
            }
        });
    }
    let mut answered = 0;
    while let Some(r) = calls.join_next().await {
        r.unwrap().unwrap();
        answered += 1;
    }
    assert_eq!(answered, 500);
    assert!(!parked.is_finished(), "the long poll is still waiting");
    parked.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_on_the_murmur2_partition_and_read_back_in_order() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("keys", 4, TopicConfig::default())
        .await
        .unwrap();
    let producer = Producer::connect(&server.addr, ProducerConfig::default())
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..100 {
        let key = format!("user-{}", i % 10);
        let record = ProducerRecord::new("keys", format!("{i}")).key(key.clone());
        deliveries.push((key, producer.send(record).await.unwrap()));
    }
    for (key, d) in deliveries {
        let meta = d.await.unwrap();
        let want = logbus::partitioner::partition_for_key(key.as_bytes(), 4);
        assert_eq!(meta.partition as u32, want);
    }
    producer.close().await.unwrap();
    let mut config = ConsumerConfig::new("k", ["keys"]);
    config.heartbeat_interval = Some(Duration::from_millis(50));
    let mut consumer = Consumer::join(client.clone(), config).await.unwrap();
    let mut values: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut total = 0;
    let deadline = Instant::now() + DEADLINE;
    while total < 100 {
        assert!(Instant::now() < deadline, "only {total} records consumed");
        for r in consumer.poll(Duration::from_millis(20)).await.unwrap() {
            total += 1;
            let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let v: i64 = std::str::from_utf8(&r.value.unwrap())
                .unwrap()
                .parse()
                .unwrap();
            values.entry(key).or_default().push(v);
        }
    }
    // Per key, values come back in the order produced.
    for vs in values.values() {
        assert!(vs.windows(2).all(|w| w[0] < w[1]), "{vs:?}");
    }
    let unknown = Client::connect(&server.addr)
        .await
        .unwrap()
        .leave_group("k", "nobody")
        .await;
    assert!(matches!(
        unknown,
        Err(ClientError::Broker {
            code: ErrorCode::UnknownMemberId,
            ..
        })
    ));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_pipelined_on_one_connection_are_appended_in_the_order_sent() {
    use logbus::protocol::{
        ApiKey, ProducePartition, ProduceRequest, ProduceTopic, ResponseBody, decode_frame,
        decode_response,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    Client::connect(&server.addr)
        .await
        .unwrap()
        .create_topic("ordered", 1, TopicConfig::default())
        .await
        .unwrap();
    // 50 produces in one write, each of 2 records, with a long poll in between.
    let mut wire = Vec::new();
    for i in 0..50 {
        if i == 10 {
            wire.extend(server_common::frame(
                fetch_request("ordered", 0, 30_000).into(),
                1_000,
            ));
        }
        let request = ProduceRequest {
            durability: Durability::Written,
            timeout_ms: 1_000,
            topics: vec![ProduceTopic {
                name: "ordered".into(),
                partitions: vec![ProducePartition {
                    partition: 0,
                    records: Bytes::from(batch(&format!("r{i}"), 2)),
                }],
            }],
        };
        wire.extend(server_common::frame(request.into(), i));
    }
    let mut stream = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    stream.write_all(&wire).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    let mut bases = BTreeMap::new();
    while bases.len() < 50 {
        match decode_frame(&mut buf, 1 << 20).unwrap() {
            Some(frame) => {
                let id = i32::from_be_bytes(frame[..4].try_into().unwrap());
                if id == 1_000 {
                    continue; // the fetch
                }
                let (_, body) = decode_response(frame, ApiKey::Produce, 0).unwrap();
                let ResponseBody::Produce(r) = body else {
                    panic!("not a produce response")
                };
                bases.insert(id, r.topics[0].partitions[0].base_offset);
            }
            None => {
                let n = tokio::time::timeout(DEADLINE, stream.read_buf(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "server closed the connection");
            }
        }
    }
    for (id, base) in bases {
        assert_eq!(base, i64::from(id) * 2, "produce {id} applied out of order");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_topics_with_null_names_includes_internal_topics_flagged_internal() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("user", 1, TopicConfig::default())
        .await
        .unwrap();
    let all = client
        .send(logbus::protocol::DescribeTopicsRequest { names: None })
        .await
        .unwrap();
    let flags: BTreeMap<String, bool> = all
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.internal))
        .collect();
    assert_eq!(flags.get("user"), Some(&false));
    assert_eq!(flags.get("__consumer_offsets"), Some(&true));
    // ListTopics leaves internal topics out unless asked.
    let listed = client.list_topics(false).await.unwrap();
    assert!(listed.iter().all(|t| !t.internal));
    server.stop().await;
}
