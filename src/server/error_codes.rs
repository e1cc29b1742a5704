//! Every code `BrokerError::kafka_code` can return is one the protocol's
//! `ErrorCode` table knows, so a client never sees `Unknown(n)` (which it
//! treats as non-retriable) for an error the broker reports on purpose.

use crate::broker::{BrokerError, TopicNameProblem};
use crate::log::LogError;
use crate::protocol::ErrorCode;
use crate::record::RecordError;
use std::io;
use std::path::PathBuf;

/// The position of `e`'s variant in the list below. The match is
/// exhaustive, so a new variant fails to compile here until it is added.
fn variant(e: &BrokerError) -> usize {
    use BrokerError::*;
    match e {
        InvalidTopicName { .. } => 0,
        TopicExists { .. } => 1,
        UnknownTopic { .. } => 2,
        UnknownPartition { .. } => 3,
        InvalidPartitions { .. } => 4,
        InvalidConfig { .. } => 5,
        InternalTopic { .. } => 6,
        OffsetOutOfRange { .. } => 7,
        InvalidRecord { .. } => 8,
        EmptyProduce { .. } => 9,
        Log { .. } => 10,
        OutOfOrderSequence { .. } => 11,
        ProducerFenced { .. } => 12,
        UnknownProducerId { .. } => 13,
        InvalidGroupId { .. } => 14,
        UnknownGroup { .. } => 15,
        UnknownMember { .. } => 16,
        IllegalGeneration { .. } => 17,
        NotAssigned { .. } => 18,
        GroupNotEmpty { .. } => 19,
        InvalidSessionTimeout { .. } => 20,
        Timeout { .. } => 21,
        Locked { .. } => 22,
        CorruptMetadata { .. } => 23,
        Metadata { .. } => 24,
        Io { .. } => 25,
        KeyRequired { .. } => 26,
        Cleaner { .. } => 27,
        Closed => 28,
        TaskFailed { .. } => 29,
        TopicConfigRefused { .. } => 30,
        Damaged { .. } => 31,
        StaleMemberEpoch { .. } => 32,
        RebalanceInProgress { .. } => 33,
        InvalidPattern { .. } => 34,
        InconsistentGroupProtocol { .. } => 35,
        MemberIdRequired { .. } => 36,
        FencedInstanceId { .. } => 37,
    }
}

const VARIANTS: usize = 38;

fn io_error() -> io::Error {
    io::Error::other("disk on fire")
}

fn log_error() -> LogError {
    LogError::Poisoned {
        dir: PathBuf::from("/d/t-0"),
    }
}

/// One value of every variant.
async fn every_broker_error() -> Vec<BrokerError> {
    let t = || "t".to_owned();
    let join_error = tokio::spawn(async { panic!("a task failing on purpose") })
        .await
        .expect_err("the task panicked");
    vec![
        BrokerError::InvalidTopicName {
            name: "a b".into(),
            problem: TopicNameProblem::InvalidChar(' '),
        },
        BrokerError::TopicExists { topic: t() },
        BrokerError::UnknownTopic { topic: t() },
        BrokerError::UnknownPartition {
            topic: t(),
            partition: 3,
            partitions: 1,
        },
        BrokerError::InvalidPartitions {
            requested: 0,
            current: 0,
            max: 10,
        },
        BrokerError::InvalidConfig {
            setting: "segment.bytes",
            value: -1,
        },
        BrokerError::TopicConfigRefused {
            name: "retention.ms".into(),
            value: Some("-2".into()),
            problem: "must be -1 or more",
        },
        BrokerError::InternalTopic {
            topic: "__consumer_offsets".into(),
        },
        BrokerError::OffsetOutOfRange {
            topic: t(),
            partition: 0,
            offset: 9,
            log_start_offset: 0,
            log_end_offset: 2,
        },
        BrokerError::InvalidRecord {
            topic: t(),
            partition: 0,
            source: RecordError::NegativeLength { length: -5 },
        },
        BrokerError::EmptyProduce { topic: t() },
        BrokerError::Log {
            topic: t(),
            partition: 0,
            source: log_error(),
        },
        BrokerError::OutOfOrderSequence {
            topic: t(),
            partition: 0,
            producer_id: 1,
            expected: 2,
            received: 5,
        },
        BrokerError::ProducerFenced {
            producer_id: 1,
            epoch: 0,
            current_epoch: 1,
        },
        BrokerError::UnknownProducerId { producer_id: 77 },
        BrokerError::InvalidGroupId {
            group: String::new(),
        },
        BrokerError::UnknownGroup { group: "g".into() },
        BrokerError::UnknownMember {
            group: "g".into(),
            member_id: "m".into(),
        },
        BrokerError::IllegalGeneration {
            group: "g".into(),
            generation: 1,
            current: 2,
        },
        BrokerError::NotAssigned {
            group: "g".into(),
            member_id: "m".into(),
            topic: t(),
            partition: 0,
        },
        BrokerError::GroupNotEmpty {
            group: "g".into(),
            members: 1,
        },
        BrokerError::InvalidSessionTimeout {
            requested_ms: 1,
            min_ms: 6_000,
            max_ms: 300_000,
        },
        BrokerError::Timeout {
            what: "a stable group",
            waited_ms: 10,
        },
        BrokerError::Locked {
            dir: PathBuf::from("/d"),
            source: LogError::Locked {
                dir: PathBuf::from("/d"),
                source: io_error(),
            },
        },
        BrokerError::CorruptMetadata {
            path: PathBuf::from("/d/t/meta"),
            problem: "bad crc",
        },
        BrokerError::Metadata {
            path: PathBuf::from("/d/t/meta"),
            source: log_error(),
        },
        BrokerError::Io {
            action: "list topics",
            path: PathBuf::from("/d"),
            source: io_error(),
        },
        BrokerError::KeyRequired {
            topic: t(),
            partition: 0,
            record: 0,
        },
        BrokerError::Cleaner {
            source: LogError::Spawn { source: io_error() },
        },
        BrokerError::Closed,
        BrokerError::TaskFailed { source: join_error },
        BrokerError::Damaged {
            topic: t(),
            partition: 0,
            first_offset: 5,
            end_offset: 70,
            source: log_error(),
        },
        BrokerError::StaleMemberEpoch {
            group: "g".into(),
            member_id: "m".into(),
            epoch: 1,
            current: 2,
        },
        BrokerError::RebalanceInProgress { group: "g".into() },
        BrokerError::InvalidPattern {
            pattern: "(".into(),
            reason: "unclosed group".into(),
        },
        BrokerError::InconsistentGroupProtocol {
            group: "g".into(),
            reason: "native join to a classic group",
        },
        BrokerError::MemberIdRequired {
            group: "g".into(),
            member_id: "m".into(),
        },
        BrokerError::FencedInstanceId {
            group: "g".into(),
            instance_id: "i".into(),
        },
    ]
}

#[tokio::test]
async fn every_code_a_broker_error_maps_to_is_in_the_protocol_table() {
    let errors = every_broker_error().await;
    let mut seen = [false; VARIANTS];
    for e in &errors {
        seen[variant(e)] = true;
        let code = e.kafka_code();
        let known = ErrorCode::from_i16(code);
        assert!(
            !matches!(known, ErrorCode::Unknown(_)),
            "{e:?} maps to {code}, which ErrorCode does not know"
        );
        assert!(!known.is_ok(), "{e:?} maps to NONE");
    }
    let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !seen[i]).collect();
    assert!(
        missing.is_empty(),
        "no value built for variants {missing:?}"
    );
}

#[test]
fn a_closed_broker_reads_as_retriable_broker_not_available() {
    let code = ErrorCode::from_i16(BrokerError::Closed.kafka_code());
    assert_eq!(code, ErrorCode::BrokerNotAvailable);
    assert!(code.is_retriable());
}
