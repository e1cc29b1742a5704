//! The Kafka listener as a Kafka client meets it: `kafka::start` on a free
//! port, and a small client built on the codec that speaks the wire
//! (frames, headers, bodies). Covers version negotiation (KIP-511),
//! Metadata, Produce (acks=0 included), Fetch (whole batches, long-poll,
//! order of responses), ListOffsets, InitProducerId with the epoch bump,
//! admin (create with configs and validate-only, describe and alter
//! configs, partitions, delete), simple offset commits, and bad input.

use bytes::{Buf, Bytes, BytesMut};
use logbus::broker::{Broker, BrokerConfig, TopicConfig};
use logbus::kafka::{self, KafkaConfig, KafkaHandle};
use logbus::kafka_codec::*;
use logbus::record::{BatchBuilder, Compression, RecordBatch};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A Kafka client connection: pipelined requests, responses read in turn.
struct Conn {
    stream: TcpStream,
    next_id: i32,
}

impl Conn {
    async fn connect(kafka: &KafkaHandle) -> Conn {
        Conn {
            stream: TcpStream::connect(kafka.local_addr()).await.unwrap(),
            next_id: 1,
        }
    }

    /// Sends a request; returns its correlation id.
    async fn send(&mut self, version: i16, body: KafkaRequest) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        let header = RequestHeader {
            request_api_key: body.api_key() as i16,
            request_api_version: version,
            correlation_id: id,
            client_id: Some("kafka-listener-test".into()),
        };
        let frame = encode_request(&header, &body).unwrap();
        self.stream.write_all(&frame).await.unwrap();
        id
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    async fn frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        let read = tokio::time::timeout(Duration::from_secs(20), self.stream.read_exact(&mut len))
            .await
            .expect("a response within 20 s");
        read.ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).await.unwrap();
        Some(Bytes::from(buf))
    }

    /// Reads the next response, decoding it as `api` at `version`.
    async fn recv(&mut self, api: ApiKey, version: i16) -> (i32, KafkaResponse) {
        let mut frame = self
            .frame()
            .await
            .expect("a response, not a closed connection");
        let header =
            ResponseHeader::decode(&mut frame, response_header_version(api as i16, version))
                .unwrap();
        let body = KafkaResponse::decode(api, &mut frame, version).unwrap();
        assert!(
            !frame.has_remaining(),
            "trailing bytes in {api:?} v{version}"
        );
        (header.correlation_id, body)
    }

    async fn call(&mut self, version: i16, body: KafkaRequest) -> KafkaResponse {
        let api = body.api_key();
        let id = self.send(version, body).await;
        let (got, response) = self.recv(api, version).await;
        assert_eq!(got, id, "correlation id");
        response
    }
}

async fn serve(config: BrokerConfig) -> (Broker, KafkaHandle) {
    let broker = Broker::open(config).unwrap();
    let kafka = kafka::start("127.0.0.1:0", broker.clone(), KafkaConfig::default())
        .await
        .unwrap();
    (broker, kafka)
}

fn batch(records: &[(Option<&str>, &str)], timestamp: i64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None);
    for (key, value) in records {
        b.append(
            timestamp,
            key.map(str::as_bytes),
            Some(value.as_bytes()),
            &[],
        )
        .unwrap();
    }
    Bytes::from(b.build().unwrap())
}

fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> KafkaRequest {
    KafkaRequest::Produce(ProduceRequest {
        acks,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
            }],
        }],
        ..ProduceRequest::default()
    })
}

fn produced(r: KafkaResponse) -> PartitionProduceResponse {
    let KafkaResponse::Produce(r) = r else {
        panic!("not a produce response: {r:?}")
    };
    r.responses[0].partition_responses[0].clone()
}

fn fetch_request(topic: &str, offset: i64, max_bytes: i32, max_wait_ms: i32) -> KafkaRequest {
    KafkaRequest::Fetch(FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: max_bytes,
                ..FetchPartition::default()
            }],
        }],
        ..FetchRequest::default()
    })
}

fn fetched(r: KafkaResponse) -> (FetchResponse, PartitionData) {
    let KafkaResponse::Fetch(r) = r else {
        panic!("not a fetch response: {r:?}")
    };
    let p = r.responses[0].partitions[0].clone();
    (r, p)
}

/// Offsets and values of every record in `bytes` (whole batches).
fn records(bytes: &Bytes) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut rest = bytes.clone();
    while rest.len() >= 12 {
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize + 12;
        let batch = RecordBatch::new(rest.split_to(len)).unwrap();
        for r in batch.records().unwrap() {
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}

fn metadata_request(topics: Option<&[&str]>, allow_auto_topic_creation: bool) -> KafkaRequest {
    KafkaRequest::Metadata(MetadataRequest {
        topics: topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic {
                    name: Some((*n).into()),
                    ..MetadataRequestTopic::default()
                })
                .collect()
        }),
        allow_auto_topic_creation,
        ..MetadataRequest::default()
    })
}

#[tokio::test]
async fn api_versions_lists_every_api_and_a_too_new_version_gets_the_kip_511_fallback() {
    let (_broker, kafka) = serve(BrokerConfig::in_memory()).await;
    let mut c = Conn::connect(&kafka).await;
    let r = c
        .call(
            3,
            KafkaRequest::ApiVersions(ApiVersionsRequest {
                client_software_name: "logbus-test".into(),
                client_software_version: "1.0".into(),
            }),
        )
        .await;
    let KafkaResponse::ApiVersions(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.error_code, 0);
    let listed: Vec<(i16, i16, i16)> = r
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    let expected: Vec<(i16, i16, i16)> = SUPPORTED_APIS
        .iter()
        .map(|&(a, min, max)| (a as i16, min, max))
        .collect();
    assert_eq!(listed, expected);
    // Produce is advertised from v0 (old librdkafka checks v0 for compression).
    assert!(listed.contains(&(0, 0, 12)));

    // A version from the future: the header is read, the body is not, and
    // the answer is a v0 body with UNSUPPORTED_VERSION and the ranges.
    let mut frame = BytesMut::new();
    let body = [18i16.to_be_bytes(), 99i16.to_be_bytes()].concat();
    let rest = [&body[..], &77i32.to_be_bytes(), &[0xff, 0xff], &[0, 0, 0]].concat();
    frame.extend_from_slice(&(rest.len() as i32).to_be_bytes());
    frame.extend_from_slice(&rest);
    c.stream.write_all(&frame).await.unwrap();
    let (id, r) = c.recv(ApiKey::ApiVersions, 0).await;
    assert_eq!(id, 77);
    let KafkaResponse::ApiVersions(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.error_code, 35);
    assert!(
        r.api_keys
            .iter()
            .any(|k| k.api_key == 18 && k.max_version == 4)
    );
    // A v3 request with a client software name Kafka refuses: INVALID_REQUEST.
    let r = c
        .call(
            3,
            KafkaRequest::ApiVersions(ApiVersionsRequest {
                client_software_name: "bad name!".into(),
                client_software_version: "1".into(),
            }),
        )
        .await;
    let KafkaResponse::ApiVersions(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.error_code, 42);
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn metadata_names_this_broker_as_leader_and_controller_with_topic_ids_and_honours_auto_creation()
 {
    let (broker, kafka) = serve(
        BrokerConfig::in_memory()
            .auto_create_topics(true)
            .default_partitions(3),
    )
    .await;
    broker
        .create_topic("orders", TopicConfig::with_partitions(2))
        .unwrap();
    let mut c = Conn::connect(&kafka).await;
    let KafkaResponse::Metadata(m) = c.call(12, metadata_request(Some(&["orders"]), false)).await
    else {
        panic!()
    };
    assert_eq!(m.controller_id, 0);
    assert_eq!(m.brokers.len(), 1);
    assert_eq!(m.brokers[0].port, i32::from(kafka.local_addr().port()));
    let t = &m.topics[0];
    assert_eq!((t.error_code, t.name.as_deref()), (0, Some("orders")));
    assert_eq!(t.topic_id.0, broker.topic_id("orders").unwrap().0);
    assert_eq!(t.partitions.len(), 2);
    assert!(
        t.partitions
            .iter()
            .all(|p| p.leader_id == 0 && p.leader_epoch == -1)
    );

    // Not allowed to create: unknown; allowed: created with the default count.
    let KafkaResponse::Metadata(m) = c.call(12, metadata_request(Some(&["new"]), false)).await
    else {
        panic!()
    };
    assert_eq!(m.topics[0].error_code, 3);
    assert!(broker.topic_id("new").is_err());
    let KafkaResponse::Metadata(m) = c.call(12, metadata_request(Some(&["new"]), true)).await
    else {
        panic!()
    };
    assert_eq!(
        (m.topics[0].error_code, m.topics[0].partitions.len()),
        (0, 3)
    );
    // v0's empty list and v1+'s null both mean every topic.
    for (version, topics) in [(0, Some(&[][..])), (1, None)] {
        let KafkaResponse::Metadata(m) = c.call(version, metadata_request(topics, false)).await
        else {
            panic!()
        };
        let mut names: Vec<_> = m.topics.iter().filter_map(|t| t.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["__consumer_offsets", "new", "orders"], "v{version}");
        // Marked internal where the version can say so (v1+).
        assert_eq!(
            m.topics.iter().any(|t| t.is_internal),
            version >= 1,
            "v{version}"
        );
    }
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn bytes_after_a_request_body_are_ignored_as_kafka_does() {
    // librdkafka 2.16's Metadata v12 "all topics" request, byte for byte:
    // a null compact topic array, then 3 bytes the spec does not have.
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut c = Conn::connect(&kafka).await;
    let mut frame = Vec::new();
    frame.extend_from_slice(&[0, 3, 0, 12, 0, 0, 0, 4, 0, 7]);
    frame.extend_from_slice(b"rdkafka");
    frame.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0]);
    let mut bytes = (frame.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&frame);
    c.stream.write_all(&bytes).await.unwrap();
    let (id, r) = c.recv(ApiKey::Metadata, 12).await;
    assert_eq!(id, 4);
    let KafkaResponse::Metadata(m) = r else {
        panic!("{r:?}")
    };
    assert!(m.topics.iter().any(|t| t.name.as_deref() == Some("t")));
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn produced_batches_are_fetched_whole_and_acks_0_gets_no_response() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut c = Conn::connect(&kafka).await;
    for version in [3, 9, 12] {
        let p = produced(
            c.call(
                version,
                produce_request("t", 0, -1, batch(&[(None, "a"), (None, "b")], 10)),
            )
            .await,
        );
        assert_eq!(p.error_code, 0, "v{version}");
    }
    // acks=0: no response; the next response is the next request's.
    c.send(9, produce_request("t", 0, 0, batch(&[(None, "quiet")], 10)))
        .await;
    let KafkaResponse::ListOffsets(l) = c
        .call(
            7,
            KafkaRequest::ListOffsets(ListOffsetsRequest {
                replica_id: -1,
                topics: vec![ListOffsetsTopic {
                    name: "t".into(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        timestamp: -1,
                        ..ListOffsetsPartition::default()
                    }],
                }],
                ..ListOffsetsRequest::default()
            }),
        )
        .await
    else {
        panic!()
    };
    assert_eq!(l.topics[0].partitions[0].offset, 7);
    // A fetch from inside the second batch returns it whole, then the rest.
    let (r, p) = fetched(c.call(12, fetch_request("t", 3, 1 << 20, 0)).await);
    assert_eq!((r.session_id, p.error_code, p.high_watermark), (0, 0, 7));
    let got = records(p.records.as_ref().unwrap());
    assert_eq!(got.first(), Some(&(2, "a".to_owned())));
    assert_eq!(got.last(), Some(&(6, "quiet".to_owned())));
    // At least one batch even when it is larger than max_bytes.
    let (_, p) = fetched(c.call(12, fetch_request("t", 0, 1, 0)).await);
    assert_eq!(records(p.records.as_ref().unwrap()).len(), 2);
    // Past the end: OFFSET_OUT_OF_RANGE with the valid range.
    let (_, p) = fetched(c.call(12, fetch_request("t", 100, 1 << 20, 0)).await);
    assert_eq!(
        (p.error_code, p.log_start_offset, p.high_watermark),
        (1, 0, 7)
    );
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn responses_leave_in_request_order_even_behind_a_long_poll() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut c = Conn::connect(&kafka).await;
    // A fetch at the end waits; the ApiVersions behind it is done at once
    // but must not overtake it.
    let fetch = c.send(12, fetch_request("t", 0, 1 << 20, 60_000)).await;
    let versions = c
        .send(0, KafkaRequest::ApiVersions(ApiVersionsRequest::default()))
        .await;
    // A produce on another connection ends the long poll.
    let mut other = Conn::connect(&kafka).await;
    let p = produced(
        other
            .call(9, produce_request("t", 0, 1, batch(&[(None, "wake")], 10)))
            .await,
    );
    assert_eq!(p.error_code, 0);
    let (first, r) = c.recv(ApiKey::Fetch, 12).await;
    assert_eq!(first, fetch);
    let (_, p) = fetched(r);
    assert_eq!(
        records(p.records.as_ref().unwrap()),
        [(0, "wake".to_owned())]
    );
    let (second, _) = c.recv(ApiKey::ApiVersions, 0).await;
    assert_eq!(second, versions);
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_offsets_finds_earliest_latest_by_timestamp_and_max_timestamp() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut c = Conn::connect(&kafka).await;
    for (ts, v) in [(1000, "a"), (3000, "b"), (2000, "c")] {
        let p = produced(
            c.call(9, produce_request("t", 0, 1, batch(&[(None, v)], ts)))
                .await,
        );
        assert_eq!(p.error_code, 0);
    }
    let mut ask = async |timestamp: i64| {
        let KafkaResponse::ListOffsets(l) = c
            .call(
                7,
                KafkaRequest::ListOffsets(ListOffsetsRequest {
                    replica_id: -1,
                    topics: vec![ListOffsetsTopic {
                        name: "t".into(),
                        partitions: vec![ListOffsetsPartition {
                            partition_index: 0,
                            timestamp,
                            ..ListOffsetsPartition::default()
                        }],
                    }],
                    ..ListOffsetsRequest::default()
                }),
            )
            .await
        else {
            panic!()
        };
        let p = &l.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(ask(-2).await, (0, 0, -1));
    assert_eq!(ask(-1).await, (0, 3, -1));
    assert_eq!(ask(1500).await, (0, 1, 3000));
    assert_eq!(ask(-3).await, (0, 1, 3000));
    assert_eq!(ask(9999).await, (0, -1, -1));
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotent_producers_get_ids_epoch_bumps_fence_the_old_epoch() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut c = Conn::connect(&kafka).await;
    let init = |producer_id: i64, producer_epoch: i16| {
        KafkaRequest::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id,
            producer_epoch,
        })
    };
    let KafkaResponse::InitProducerId(first) = c.call(4, init(-1, -1)).await else {
        panic!()
    };
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    let idem = |epoch: i16, seq: i32, v: &str| {
        let mut b = BatchBuilder::new(Compression::None).producer(first.producer_id, epoch, seq);
        b.append(5, None, Some(v.as_bytes()), &[]).unwrap();
        Bytes::from(b.build().unwrap())
    };
    let a = produced(
        c.call(9, produce_request("t", 0, -1, idem(0, 0, "a")))
            .await,
    );
    // A retry of the same batch is answered with its offset, not stored twice.
    let again = produced(
        c.call(9, produce_request("t", 0, -1, idem(0, 0, "a")))
            .await,
    );
    assert_eq!((a.error_code, again.error_code), (0, 0));
    assert_eq!(again.base_offset, a.base_offset);
    // A gap in sequences: OUT_OF_ORDER_SEQUENCE_NUMBER.
    let gap = produced(
        c.call(9, produce_request("t", 0, -1, idem(0, 5, "x")))
            .await,
    );
    assert_eq!(gap.error_code, 45);
    // KIP-360: the same id with the next epoch; the old epoch is fenced.
    let KafkaResponse::InitProducerId(bumped) = c.call(4, init(first.producer_id, 0)).await else {
        panic!()
    };
    assert_eq!(
        (bumped.error_code, bumped.producer_id, bumped.producer_epoch),
        (0, first.producer_id, 1)
    );
    let b = produced(
        c.call(9, produce_request("t", 0, -1, idem(1, 0, "b")))
            .await,
    );
    assert_eq!(b.error_code, 0);
    let old = produced(
        c.call(9, produce_request("t", 0, -1, idem(0, 1, "c")))
            .await,
    );
    assert_eq!(old.error_code, 47);
    // Transactions are not served.
    let KafkaResponse::InitProducerId(txn) = c
        .call(
            4,
            KafkaRequest::InitProducerId(InitProducerIdRequest {
                transactional_id: Some("tx".into()),
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
            }),
        )
        .await
    else {
        panic!()
    };
    assert_ne!(txn.error_code, 0);
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_creates_with_configs_validates_describes_alters_grows_and_deletes_topics() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    let mut c = Conn::connect(&kafka).await;
    let create = |name: &str, partitions: i32, configs: &[(&str, &str)], validate_only: bool| {
        KafkaRequest::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: -1,
                assignments: vec![],
                configs: configs
                    .iter()
                    .map(|(k, v)| CreatableTopicConfig {
                        name: (*k).into(),
                        value: Some((*v).into()),
                    })
                    .collect(),
            }],
            timeout_ms: 5000,
            validate_only,
        })
    };
    let KafkaResponse::CreateTopics(r) = c
        .call(7, create("c", 2, &[("cleanup.policy", "compact")], true))
        .await
    else {
        panic!()
    };
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 2));
    assert!(
        broker.topic_id("c").is_err(),
        "validate_only creates nothing"
    );
    let KafkaResponse::CreateTopics(r) = c
        .call(
            7,
            create(
                "c",
                2,
                &[("cleanup.policy", "compact"), ("retention.ms", "1000")],
                false,
            ),
        )
        .await
    else {
        panic!()
    };
    let t = &r.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.topic_id.0, broker.topic_id("c").unwrap().0);
    let configs = t.configs.as_ref().unwrap();
    assert!(configs.iter().any(|e| e.name == "cleanup.policy"
        && e.value.as_deref() == Some("compact")
        && e.config_source == 1));
    // Bad configs, an existing name, a replication factor above 1.
    for (req, code) in [
        (create("d", 1, &[("retention.ms", "-5")], false), 40),
        (create("d", 1, &[("no.such", "1")], false), 40),
        (create("c", 1, &[], false), 36),
    ] {
        let KafkaResponse::CreateTopics(r) = c.call(4, req).await else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, code);
    }
    // A keyless record on the compacted topic: INVALID_RECORD.
    let p = produced(
        c.call(9, produce_request("c", 0, -1, batch(&[(None, "v")], 1)))
            .await,
    );
    assert_eq!(p.error_code, 87);
    let p = produced(
        c.call(
            9,
            produce_request("c", 0, -1, batch(&[(Some("k"), "v")], 1)),
        )
        .await,
    );
    assert_eq!(p.error_code, 0);

    let describe = KafkaRequest::DescribeConfigs(DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: "c".into(),
            configuration_keys: None,
        }],
        include_synonyms: true,
        include_documentation: true,
    });
    let KafkaResponse::DescribeConfigs(d) = c.call(4, describe.clone()).await else {
        panic!()
    };
    let entries = &d.results[0].configs;
    let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
    assert_eq!(get("retention.ms").value.as_deref(), Some("1000"));
    assert_eq!(get("retention.ms").config_source, 1);
    assert_eq!(get("segment.bytes").config_source, 5);
    assert_eq!(get("retention.ms").synonyms.len(), 2);
    assert!(entries.len() >= 12);

    let KafkaResponse::IncrementalAlterConfigs(a) = c
        .call(
            1,
            KafkaRequest::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: 2,
                    resource_name: "c".into(),
                    configs: vec![
                        AlterableConfig {
                            name: "retention.ms".into(),
                            config_operation: 1,
                            value: None,
                        },
                        AlterableConfig {
                            name: "max.message.bytes".into(),
                            config_operation: 0,
                            value: Some("2048".into()),
                        },
                    ],
                }],
                validate_only: false,
            }),
        )
        .await
    else {
        panic!()
    };
    assert_eq!(a.responses[0].error_code, 0);
    let KafkaResponse::DescribeConfigs(d) = c.call(4, describe).await else {
        panic!()
    };
    let entries = &d.results[0].configs;
    let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
    assert_eq!(get("retention.ms").config_source, 5);
    assert_eq!(get("max.message.bytes").value.as_deref(), Some("2048"));
    // The new limit applies at once: MESSAGE_TOO_LARGE.
    let big = "x".repeat(4096);
    let p = produced(
        c.call(
            9,
            produce_request("c", 0, -1, batch(&[(Some("k"), big.as_str())], 1)),
        )
        .await,
    );
    assert_eq!(p.error_code, 10);

    let grow = |count: i32, validate_only: bool| {
        KafkaRequest::CreatePartitions(CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: "c".into(),
                count,
                assignments: None,
            }],
            timeout_ms: 5000,
            validate_only,
        })
    };
    for (count, validate_only, code, after) in
        [(4, true, 0, 2), (1, false, 37, 2), (4, false, 0, 4)]
    {
        let KafkaResponse::CreatePartitions(r) = c.call(3, grow(count, validate_only)).await else {
            panic!()
        };
        assert_eq!(r.results[0].error_code, code);
        assert_eq!(broker.partition_count("c").unwrap(), after);
    }
    let KafkaResponse::DeleteTopics(r) = c
        .call(
            4,
            KafkaRequest::DeleteTopics(DeleteTopicsRequest {
                topic_names: vec!["c".into(), "missing".into()],
                timeout_ms: 5000,
                ..DeleteTopicsRequest::default()
            }),
        )
        .await
    else {
        panic!()
    };
    let codes: Vec<i16> = r.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, 3]);
    assert!(broker.topic_id("c").is_err());
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_group_takes_simple_commits_and_returns_them() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    let mut c = Conn::connect(&kafka).await;
    let KafkaResponse::FindCoordinator(f) = c
        .call(
            3,
            KafkaRequest::FindCoordinator(FindCoordinatorRequest {
                key: "g".into(),
                key_type: 0,
            }),
        )
        .await
    else {
        panic!()
    };
    assert_eq!((f.error_code, f.node_id), (0, 0));
    assert_eq!(f.port, i32::from(kafka.local_addr().port()));
    let KafkaResponse::OffsetCommit(r) = c
        .call(
            8,
            KafkaRequest::OffsetCommit(OffsetCommitRequest {
                group_id: "g".into(),
                generation_id_or_member_epoch: -1,
                member_id: String::new(),
                topics: vec![OffsetCommitRequestTopic {
                    name: "t".into(),
                    partitions: vec![OffsetCommitRequestPartition {
                        partition_index: 1,
                        committed_offset: 42,
                        committed_leader_epoch: -1,
                        committed_metadata: Some("meta".into()),
                    }],
                }],
                ..OffsetCommitRequest::default()
            }),
        )
        .await
    else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let KafkaResponse::OffsetFetch(r) = c
        .call(
            7,
            KafkaRequest::OffsetFetch(OffsetFetchRequest {
                group_id: "g".into(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t".into(),
                    partition_indexes: vec![0, 1],
                }]),
                require_stable: false,
            }),
        )
        .await
    else {
        panic!()
    };
    let got: Vec<(i32, i64, Option<String>)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset, p.metadata.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (0, -1, Some(String::new())),
            (1, 42, Some("meta".to_owned()))
        ]
    );
    let KafkaResponse::ListGroups(l) = c
        .call(4, KafkaRequest::ListGroups(ListGroupsRequest::default()))
        .await
    else {
        panic!()
    };
    assert_eq!(l.groups.len(), 1);
    assert_eq!(
        (
            l.groups[0].group_id.as_str(),
            l.groups[0].group_state.as_str()
        ),
        ("g", "Empty")
    );
    let KafkaResponse::DeleteGroups(d) = c
        .call(
            2,
            KafkaRequest::DeleteGroups(DeleteGroupsRequest {
                groups_names: vec!["g".into(), "nope".into()],
            }),
        )
        .await
    else {
        panic!()
    };
    let codes: Vec<i16> = d.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 69]);
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut good = Conn::connect(&kafka).await;
    // An oversized frame claim, a header too short to read, a known api
    // with a garbage body, an unknown api key.
    let bodies: Vec<Vec<u8>> = vec![
        i32::MAX.to_be_bytes().to_vec(),
        [&3i32.to_be_bytes()[..], &[0, 3, 0]].concat(),
        [
            &10i32.to_be_bytes()[..],
            &[0, 3, 0, 1, 0, 0, 0, 9, 0xff, 0x00],
        ]
        .concat(),
        [
            &10i32.to_be_bytes()[..],
            &[0x7f, 0x00, 0, 0, 0, 0, 0, 9, 0xff, 0xff],
        ]
        .concat(),
        // Produce v2 (message format 0/1): advertised, refused as Kafka 4 does.
        [
            &10i32.to_be_bytes()[..],
            &[0, 0, 0, 2, 0, 0, 0, 9, 0xff, 0xff],
        ]
        .concat(),
    ];
    for bytes in bodies {
        let mut bad = Conn::connect(&kafka).await;
        bad.stream.write_all(&bytes).await.unwrap();
        assert!(bad.frame().await.is_none(), "closed after {bytes:?}");
        let KafkaResponse::Metadata(m) = good.call(9, metadata_request(Some(&["t"]), false)).await
        else {
            panic!()
        };
        assert_eq!(m.topics[0].error_code, 0);
    }
    // An ApiVersions v3 body that does not decode gets the KIP-511 answer.
    let mut bad = Conn::connect(&kafka).await;
    let frame = [&[0u8, 18, 0, 3, 0, 0, 0, 5, 0xff, 0xff, 0][..], &[0x7f]].concat();
    let mut bytes = (frame.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&frame);
    bad.stream.write_all(&bytes).await.unwrap();
    let (id, r) = bad.recv(ApiKey::ApiVersions, 0).await;
    let KafkaResponse::ApiVersions(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!((id, r.error_code), (5, 35));
    assert!(!r.api_keys.is_empty());
    kafka.shutdown().await.unwrap();
}

#[tokio::test]
async fn large_batches_are_fetched_intact_behind_and_before_small_responses() {
    // Batches of 16 KiB or more leave as shared parts of the response frame.
    let (broker, kafka) = serve(BrokerConfig::in_memory()).await;
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut c = Conn::connect(&kafka).await;
    let big: String = (0..40_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for v in [big.as_str(), "small", big.as_str()] {
        let p = produced(
            c.call(9, produce_request("t", 0, 1, batch(&[(None, v)], 10)))
                .await,
        );
        assert_eq!(p.error_code, 0);
    }
    // Pipelined: two fetches and an ApiVersions, answered in order.
    let f1 = c.send(12, fetch_request("t", 0, 1 << 20, 0)).await;
    let v = c
        .send(0, KafkaRequest::ApiVersions(ApiVersionsRequest::default()))
        .await;
    let f2 = c.send(12, fetch_request("t", 2, 1 << 20, 0)).await;
    let (id, r) = c.recv(ApiKey::Fetch, 12).await;
    assert_eq!(id, f1);
    let (_, p) = fetched(r);
    let values: Vec<String> = records(p.records.as_ref().unwrap())
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, [big.clone(), "small".to_owned(), big.clone()]);
    let (id, _) = c.recv(ApiKey::ApiVersions, 0).await;
    assert_eq!(id, v);
    let (id, r) = c.recv(ApiKey::Fetch, 12).await;
    assert_eq!(id, f2);
    let (_, p) = fetched(r);
    assert_eq!(records(p.records.as_ref().unwrap()), [(2, big)]);
    kafka.shutdown().await.unwrap();
}
