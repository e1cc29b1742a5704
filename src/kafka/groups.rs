//! Consumer group requests: OffsetCommit and OffsetFetch through the
//! broker's committed offsets (one `__consumer_offsets` for every face;
//! an empty group takes "simple" commits with generation -1 and no member,
//! as Kafka does), and ListGroups, DescribeGroups and DeleteGroups over the
//! broker's groups. The classic membership calls (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) are answered with `COORDINATOR_NOT_AVAILABLE`
//! until the broker serves classic groups, so clients wait and retry.

use super::dispatch::{code, error_code};
use crate::broker::{Broker, BrokerError, CommitRequest, GroupState, TopicPartition};
use crate::kafka_codec::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember, HeartbeatResponse,
    JoinGroupResponse, KafkaRequest, KafkaResponse, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, ListedGroup, OffsetCommitRequest, OffsetCommitResponse,
    OffsetCommitResponsePartition, OffsetCommitResponseTopic, OffsetFetchRequest,
    OffsetFetchResponse, OffsetFetchResponsePartition, OffsetFetchResponseTopic, SyncGroupResponse,
};
use std::collections::BTreeMap;

/// Kafka's `GROUP_ID_NOT_FOUND`.
const GROUP_ID_NOT_FOUND: i16 = 69;

/// The answer to a classic membership call until the broker serves
/// classic groups: clients wait and retry.
pub(super) fn not_yet(request: &KafkaRequest) -> Option<KafkaResponse> {
    Some(match request {
        KafkaRequest::JoinGroup(_) => KafkaResponse::JoinGroup(JoinGroupResponse {
            error_code: code::COORDINATOR_NOT_AVAILABLE,
            generation_id: -1,
            ..JoinGroupResponse::default()
        }),
        KafkaRequest::SyncGroup(_) => KafkaResponse::SyncGroup(SyncGroupResponse {
            error_code: code::COORDINATOR_NOT_AVAILABLE,
            ..SyncGroupResponse::default()
        }),
        KafkaRequest::Heartbeat(_) => KafkaResponse::Heartbeat(HeartbeatResponse {
            error_code: code::COORDINATOR_NOT_AVAILABLE,
            ..HeartbeatResponse::default()
        }),
        KafkaRequest::LeaveGroup(_) => KafkaResponse::LeaveGroup(LeaveGroupResponse {
            error_code: code::COORDINATOR_NOT_AVAILABLE,
            ..LeaveGroupResponse::default()
        }),
        _ => return None,
    })
}

pub(super) async fn offset_commit(broker: &Broker, r: OffsetCommitRequest) -> OffsetCommitResponse {
    // A simple commit (generation -1, no member) is only taken by an empty group.
    let member_id = (!(r.member_id.is_empty() && r.generation_id_or_member_epoch < 0))
        .then(|| r.member_id.clone());
    // The broker stores one metadata string per commit: one commit per
    // distinct metadata of the request.
    let mut by_metadata: BTreeMap<String, Vec<(TopicPartition, i64)>> = BTreeMap::new();
    for t in &r.topics {
        for p in &t.partitions {
            if let Ok(partition) = u32::try_from(p.partition_index) {
                by_metadata
                    .entry(p.committed_metadata.clone().unwrap_or_default())
                    .or_default()
                    .push((
                        TopicPartition::new(t.name.clone(), partition),
                        p.committed_offset,
                    ));
            }
        }
    }
    let mut failed: Option<i16> = None;
    for (metadata, offsets) in by_metadata {
        let request = CommitRequest {
            group: r.group_id.clone(),
            member_id: member_id.clone(),
            generation: r.generation_id_or_member_epoch,
            offsets,
            metadata,
        };
        let b = broker.clone();
        let result = tokio::task::spawn_blocking(move || b.commit_offsets(request))
            .await
            .map_err(|source| BrokerError::TaskFailed { source })
            .and_then(|r| r);
        if let Err(e) = result {
            tracing::debug!(group = r.group_id, error = %e, "Kafka offset commit refused");
            failed = Some(error_code(&e));
            break;
        }
    }
    let topics = r
        .topics
        .into_iter()
        .map(|t| OffsetCommitResponseTopic {
            name: t.name,
            partitions: t
                .partitions
                .iter()
                .map(|p| OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: if p.partition_index < 0 {
                        code::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        failed.unwrap_or(0)
                    },
                })
                .collect(),
        })
        .collect();
    OffsetCommitResponse {
        throttle_time_ms: 0,
        topics,
    }
}

pub(super) fn offset_fetch(broker: &Broker, r: OffsetFetchRequest) -> OffsetFetchResponse {
    let committed = broker.fetch_offsets(&r.group_id);
    let partition = |index: i32, tp: Option<&TopicPartition>| {
        let c = tp.and_then(|tp| committed.get(tp));
        OffsetFetchResponsePartition {
            partition_index: index,
            committed_offset: c.map_or(-1, |c| c.offset),
            committed_leader_epoch: -1,
            metadata: Some(c.map(|c| c.metadata.clone()).unwrap_or_default()),
            error_code: 0,
        }
    };
    let topics = match r.topics {
        // Null: every partition with a committed offset.
        None => {
            let mut by_topic: BTreeMap<&str, Vec<OffsetFetchResponsePartition>> = BTreeMap::new();
            for tp in committed.keys() {
                by_topic
                    .entry(tp.topic.as_str())
                    .or_default()
                    .push(partition(tp.partition as i32, Some(tp)));
            }
            by_topic
                .into_iter()
                .map(|(name, partitions)| OffsetFetchResponseTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect()
        }
        Some(topics) => topics
            .into_iter()
            .map(|t| OffsetFetchResponseTopic {
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|&i| {
                        let tp = u32::try_from(i)
                            .ok()
                            .map(|p| TopicPartition::new(t.name.clone(), p));
                        partition(i, tp.as_ref())
                    })
                    .collect(),
                name: t.name,
            })
            .collect(),
    };
    OffsetFetchResponse {
        throttle_time_ms: 0,
        topics,
        error_code: 0,
    }
}

/// Kafka's name of a group state.
fn state_name(s: GroupState) -> &'static str {
    s.name()
}

pub(super) fn list_groups(broker: &Broker, r: &ListGroupsRequest) -> ListGroupsResponse {
    let groups = broker
        .list_groups()
        .into_iter()
        .map(|g| ListedGroup {
            group_id: g.group,
            protocol_type: "consumer".to_owned(),
            group_state: state_name(g.state).to_owned(),
        })
        .filter(|g| {
            r.states_filter.is_empty()
                || r.states_filter
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&g.group_state))
        })
        .collect();
    ListGroupsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        groups,
    }
}

pub(super) fn describe_groups(broker: &Broker, r: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = r
        .groups
        .into_iter()
        .map(|group_id| match broker.describe_group(&group_id) {
            Ok(d) => DescribedGroup {
                error_code: 0,
                group_state: state_name(d.state).to_owned(),
                protocol_type: "consumer".to_owned(),
                protocol_data: format!("{:?}", d.strategy).to_lowercase(),
                members: d
                    .members
                    .into_iter()
                    .map(|m| DescribedGroupMember {
                        member_id: m.member_id,
                        group_instance_id: None,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        ..DescribedGroupMember::default()
                    })
                    .collect(),
                group_id,
                ..DescribedGroup::default()
            },
            // Kafka describes an unknown group as a dead one, without error.
            Err(BrokerError::UnknownGroup { .. }) => DescribedGroup {
                error_code: 0,
                group_id,
                group_state: "Dead".to_owned(),
                ..DescribedGroup::default()
            },
            Err(e) => DescribedGroup {
                error_code: error_code(&e),
                group_id,
                ..DescribedGroup::default()
            },
        })
        .collect();
    DescribeGroupsResponse {
        throttle_time_ms: 0,
        groups,
    }
}

pub(super) async fn delete_groups(broker: &Broker, r: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(r.groups_names.len());
    for group_id in r.groups_names {
        let b = broker.clone();
        let g = group_id.clone();
        let result = tokio::task::spawn_blocking(move || b.delete_group(&g))
            .await
            .map_err(|source| BrokerError::TaskFailed { source })
            .and_then(|r| r);
        let error_code = match result {
            Ok(()) => 0,
            Err(BrokerError::UnknownGroup { .. }) => GROUP_ID_NOT_FOUND,
            Err(e) => error_code(&e),
        };
        results.push(DeletableGroupResult {
            group_id,
            error_code,
        });
    }
    DeleteGroupsResponse {
        throttle_time_ms: 0,
        results,
    }
}
