//! Round-trips every advertised Kafka api and version against an
//! independent codec, the `kafka-protocol` crate (a dev-dependency only): a
//! random value encoded by logbus must decode with the oracle and re-encode
//! to the same bytes, which logbus decodes back to the same value; and the
//! oracle's own default messages must decode with logbus and re-encode
//! byte for byte.

mod kafka_codec;

use std::fmt::Debug;

use bytes::BytesMut;
use kafka_codec::{Rng, Sample};
use kafka_protocol::protocol::{Decodable as OracleDecode, Encodable as OracleEncode};
use logbus::kafka_codec::{self as ours, ApiKey, Decode, Encode, SUPPORTED_APIS};
use proptest::prelude::*;

/// Our encode → oracle decode → oracle encode (same bytes) → our decode
/// (same value), for one sample.
fn ours_through_oracle<O, T>(version: i16, seed: u64)
where
    O: Sample + Decode + Encode + PartialEq + Debug,
    T: OracleDecode + OracleEncode,
{
    let value = O::sample(&mut Rng::new(seed), version);
    let mut ours_bytes = BytesMut::new();
    value
        .encode(&mut ours_bytes, version)
        .expect("logbus encodes its sample");
    let ours_bytes = ours_bytes.freeze();

    let mut read = ours_bytes.clone();
    let theirs = T::decode(&mut read, version)
        .unwrap_or_else(|e| panic!("oracle decodes logbus's v{version} {value:?}: {e}"));
    assert!(
        read.is_empty(),
        "oracle left {} bytes of v{version} {value:?}",
        read.len()
    );
    let mut oracle_bytes = BytesMut::new();
    theirs
        .encode(&mut oracle_bytes, version)
        .expect("oracle re-encodes");
    assert_eq!(
        ours_bytes,
        oracle_bytes.freeze(),
        "oracle re-encodes v{version} {value:?} differently"
    );

    let mut read = ours_bytes.clone();
    let back = O::decode(&mut read, version).expect("logbus decodes the oracle's bytes");
    assert!(read.is_empty());
    assert_eq!(back, value, "v{version}");
}

/// Oracle's default message → oracle encode → our decode → our encode (same bytes).
fn oracle_through_ours<O, T>(version: i16)
where
    O: Decode + Encode + Debug,
    T: OracleDecode + OracleEncode + Default,
{
    let mut oracle_bytes = BytesMut::new();
    if T::default().encode(&mut oracle_bytes, version).is_err() {
        // The oracle's defaults are not valid at every version (a null
        // where the version forbids it); the samples above cover those.
        return;
    }
    let oracle_bytes = oracle_bytes.freeze();
    let mut read = oracle_bytes.clone();
    let value = O::decode(&mut read, version)
        .unwrap_or_else(|e| panic!("logbus decodes the oracle's default v{version}: {e}"));
    assert!(
        read.is_empty(),
        "logbus left bytes of the oracle's v{version}"
    );
    let mut ours_bytes = BytesMut::new();
    value
        .encode(&mut ours_bytes, version)
        .expect("logbus re-encodes");
    assert_eq!(oracle_bytes, ours_bytes.freeze(), "v{version} {value:?}");
}

fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = api.codec_versions();
    min..=max
}

macro_rules! oracle_tests {
    ($($module:ident: $api:ident, $req:ident, $resp:ident;)*) => {
        /// The apis this file tests.
        const TESTED: &[ApiKey] = &[$(ApiKey::$api),*];

        $(
            mod $module {
                use super::*;

                #[test]
                fn every_version_round_trips_both_ways() {
                    for version in versions(ApiKey::$api) {
                        for seed in 0..64 {
                            ours_through_oracle::<ours::$req, kafka_protocol::messages::$req>(version, seed);
                            ours_through_oracle::<ours::$resp, kafka_protocol::messages::$resp>(version, seed);
                        }
                        oracle_through_ours::<ours::$req, kafka_protocol::messages::$req>(version);
                        oracle_through_ours::<ours::$resp, kafka_protocol::messages::$resp>(version);
                    }
                }

                proptest! {
                    #![proptest_config(ProptestConfig::with_cases(64))]
                    #[test]
                    fn random_samples_round_trip(seed: u64, version in versions(ApiKey::$api)) {
                        ours_through_oracle::<ours::$req, kafka_protocol::messages::$req>(version, seed);
                        ours_through_oracle::<ours::$resp, kafka_protocol::messages::$resp>(version, seed);
                    }
                }
            }
        )*
    };
}

oracle_tests! {
    produce: Produce, ProduceRequest, ProduceResponse;
    fetch: Fetch, FetchRequest, FetchResponse;
    list_offsets: ListOffsets, ListOffsetsRequest, ListOffsetsResponse;
    metadata: Metadata, MetadataRequest, MetadataResponse;
    offset_commit: OffsetCommit, OffsetCommitRequest, OffsetCommitResponse;
    offset_fetch: OffsetFetch, OffsetFetchRequest, OffsetFetchResponse;
    find_coordinator: FindCoordinator, FindCoordinatorRequest, FindCoordinatorResponse;
    join_group: JoinGroup, JoinGroupRequest, JoinGroupResponse;
    heartbeat: Heartbeat, HeartbeatRequest, HeartbeatResponse;
    leave_group: LeaveGroup, LeaveGroupRequest, LeaveGroupResponse;
    sync_group: SyncGroup, SyncGroupRequest, SyncGroupResponse;
    describe_groups: DescribeGroups, DescribeGroupsRequest, DescribeGroupsResponse;
    list_groups: ListGroups, ListGroupsRequest, ListGroupsResponse;
    api_versions: ApiVersions, ApiVersionsRequest, ApiVersionsResponse;
    create_topics: CreateTopics, CreateTopicsRequest, CreateTopicsResponse;
    delete_topics: DeleteTopics, DeleteTopicsRequest, DeleteTopicsResponse;
    init_producer_id: InitProducerId, InitProducerIdRequest, InitProducerIdResponse;
    describe_configs: DescribeConfigs, DescribeConfigsRequest, DescribeConfigsResponse;
    create_partitions: CreatePartitions, CreatePartitionsRequest, CreatePartitionsResponse;
    delete_groups: DeleteGroups, DeleteGroupsRequest, DeleteGroupsResponse;
    incremental_alter_configs: IncrementalAlterConfigs, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
}

#[test]
fn every_advertised_api_is_tested_against_the_oracle() {
    let mut advertised: Vec<i16> = SUPPORTED_APIS
        .iter()
        .map(|(api, _, _)| *api as i16)
        .collect();
    let mut tested: Vec<i16> = TESTED.iter().map(|api| *api as i16).collect();
    advertised.sort();
    tested.sort();
    assert_eq!(advertised, tested);
}

#[test]
fn header_versions_agree_with_the_oracle() {
    use kafka_protocol::messages::ApiKey as OracleKey;
    for (api, min, max) in SUPPORTED_APIS {
        let oracle = OracleKey::try_from(*api as i16).expect("oracle knows the api");
        let (cmin, _) = api.codec_versions();
        for version in (*min).max(cmin)..=*max {
            assert_eq!(
                ours::request_header_version(*api as i16, version),
                oracle.request_header_version(version),
                "{api:?} v{version} request header"
            );
            assert_eq!(
                ours::response_header_version(*api as i16, version),
                oracle.response_header_version(version),
                "{api:?} v{version} response header"
            );
        }
    }
}
