//! Consumer group requests mapped onto the broker's coordinator: join,
//! heartbeat, leave, commit and fetch offsets, and the operator's list,
//! describe, reset and delete. Assignments travel as `[TopicPartitions]`.
//!
//! As in KIP-848 the broker computes assignments and reconciles them with
//! per-member epochs: a heartbeat always answers with the member's current
//! epoch and partitions, and the epoch it carries acknowledges the
//! assignment the member runs. The `generation_id` fields of JoinGroup,
//! Heartbeat and OffsetCommit carry member epochs. Knows the broker's
//! public API and the protocol's messages.

use super::dispatch::{FirstError, partition_index};
use crate::broker::{
    self, AssignmentStrategy, Broker, BrokerError, CommitRequest, Subscription, TopicPartition,
};
use crate::protocol::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupRequest, DescribeGroupResponse,
    ErrorCode, GroupResult, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsResponse, ListedGroup,
    MemberDescription, OffsetCommitRequest, OffsetCommitResponse, OffsetCommitTopicResponse,
    OffsetFetchPartition, OffsetFetchRequest, OffsetFetchResponse, OffsetFetchTopic, PartitionLag,
    PartitionResult, ResetOffsetsPartition, ResetOffsetsRequest, ResetOffsetsResponse, ResetTarget,
    TopicLag, TopicPartitions,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Partitions grouped by topic, topics and partitions in order.
pub(super) fn wire_assignment(partitions: &[TopicPartition]) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(&tp.topic)
            .or_default()
            .push(i32::try_from(tp.partition).unwrap_or(i32::MAX));
    }
    by_topic
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            TopicPartitions {
                topic: topic.to_owned(),
                partitions,
            }
        })
        .collect()
}

fn strategy(name: &str) -> Option<AssignmentStrategy> {
    match name {
        "" | "sticky" => Some(AssignmentStrategy::Sticky),
        "range" => Some(AssignmentStrategy::Range),
        "roundrobin" | "round-robin" => Some(AssignmentStrategy::RoundRobin),
        _ => None,
    }
}

fn strategy_name(s: AssignmentStrategy) -> &'static str {
    match s {
        AssignmentStrategy::Sticky => "sticky",
        AssignmentStrategy::Range => "range",
        AssignmentStrategy::RoundRobin => "roundrobin",
    }
}

fn unknown_partition(topic: &str) -> BrokerError {
    BrokerError::UnknownTopic {
        topic: topic.to_owned(),
    }
}

/// Joins the member connected from `peer` (recorded as Kafka shows it,
/// `/127.0.0.1`, for `describe`); `pattern` is a regular expression over
/// whole topic names. `generation_id` in the answer is the member epoch.
pub(super) fn join(
    b: &Broker,
    req: JoinGroupRequest,
    peer: SocketAddr,
    first: &mut FirstError,
) -> JoinGroupResponse {
    let refused = |code| JoinGroupResponse {
        error_code: code,
        generation_id: -1,
        member_id: String::new(),
        assignor: String::new(),
        heartbeat_interval_ms: 0,
        assignment: Vec::new(),
    };
    let Some(strategy) = strategy(&req.assignor) else {
        return refused(first.note(ErrorCode::InconsistentGroupProtocol));
    };
    let subscription = match req.pattern {
        Some(p) => Subscription::Pattern(p),
        None => Subscription::Topics(req.topics),
    };
    let session_timeout_ms =
        (req.session_timeout_ms > 0).then_some(i64::from(req.session_timeout_ms));
    let session = session_timeout_ms.unwrap_or(b.config().group.default_session_timeout_ms);
    let request = broker::JoinGroupRequest {
        group: req.group_id,
        member_id: (!req.member_id.is_empty()).then_some(req.member_id),
        client_id: if req.client_id.is_empty() {
            "logbus".to_owned()
        } else {
            req.client_id
        },
        client_host: format!("/{}", peer.ip()),
        subscription,
        session_timeout_ms,
        rebalance_timeout_ms: (req.rebalance_timeout_ms > 0)
            .then_some(i64::from(req.rebalance_timeout_ms)),
        strategy,
    };
    match b.join_group(request) {
        Ok(m) => JoinGroupResponse {
            error_code: ErrorCode::None,
            generation_id: m.member_epoch,
            member_id: m.member_id,
            assignor: strategy_name(strategy).to_owned(),
            heartbeat_interval_ms: i32::try_from((session / 3).max(1)).unwrap_or(i32::MAX),
            assignment: wire_assignment(&m.partitions),
        },
        Err(e) => refused(first.broker(&e)),
    }
}

/// A heartbeat's `generation_id` is the member epoch the member runs:
/// when current, it acknowledges that epoch's assignment (releasing what
/// the epoch took away). The answer carries the member's current epoch and
/// partitions.
pub(super) fn heartbeat(
    b: &Broker,
    req: HeartbeatRequest,
    first: &mut FirstError,
) -> HeartbeatResponse {
    match b.heartbeat(&req.group_id, &req.member_id, req.generation_id) {
        Ok(m) => HeartbeatResponse {
            error_code: ErrorCode::None,
            generation_id: m.member_epoch,
            assignment: wire_assignment(&m.partitions),
        },
        Err(e) => HeartbeatResponse {
            error_code: first.broker(&e),
            generation_id: -1,
            assignment: Vec::new(),
        },
    }
}

pub(super) fn leave(
    b: &Broker,
    req: LeaveGroupRequest,
    first: &mut FirstError,
) -> LeaveGroupResponse {
    let r = b.leave_group(&req.group_id, &req.member_id);
    LeaveGroupResponse {
        error_code: first.result(&r),
    }
}

/// Commits atomically (the broker writes all offsets or none), so every
/// partition carries the request's outcome. The broker keeps one metadata
/// string per commit: the first partition's that has one.
pub(super) fn commit(
    b: &Broker,
    req: OffsetCommitRequest,
    first: &mut FirstError,
) -> OffsetCommitResponse {
    let mut offsets = Vec::new();
    let mut bad = None;
    let mut metadata = None;
    for t in &req.topics {
        for p in &t.partitions {
            match partition_index(p.partition) {
                Some(index) => offsets.push((TopicPartition::new(t.name.clone(), index), p.offset)),
                None => bad = Some(unknown_partition(&t.name)),
            }
            if metadata.is_none() {
                metadata.clone_from(&p.metadata);
            }
        }
    }
    let r = match bad {
        Some(e) => Err(e),
        None => b.commit_offsets(CommitRequest {
            group: req.group_id,
            member_id: (!req.member_id.is_empty()).then_some(req.member_id),
            generation: req.generation_id,
            offsets,
            metadata: metadata.unwrap_or_default(),
        }),
    };
    let code = first.result(&r);
    OffsetCommitResponse {
        error_code: code,
        topics: req
            .topics
            .into_iter()
            .map(|t| OffsetCommitTopicResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionResult {
                        partition: p.partition,
                        error_code: code,
                    })
                    .collect(),
                name: t.name,
            })
            .collect(),
    }
}

pub(super) fn fetch_offsets(
    b: &Broker,
    req: OffsetFetchRequest,
    _: &mut FirstError,
) -> OffsetFetchResponse {
    let committed = b.fetch_offsets(&req.group_id);
    let entry = |partition: i32, c: Option<&broker::CommittedOffset>| OffsetFetchPartition {
        partition,
        offset: c.map_or(-1, |c| c.offset),
        metadata: c.map(|c| c.metadata.clone()),
        error_code: ErrorCode::None,
    };
    let topics = match req.topics {
        Some(wanted) => wanted
            .into_iter()
            .map(|t| OffsetFetchTopic {
                partitions: t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let c = partition_index(p)
                            .and_then(|i| committed.get(&TopicPartition::new(t.topic.clone(), i)));
                        entry(p, c)
                    })
                    .collect(),
                name: t.topic,
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<&str, Vec<OffsetFetchPartition>> = BTreeMap::new();
            for (tp, c) in &committed {
                by_topic.entry(&tp.topic).or_default().push(entry(
                    i32::try_from(tp.partition).unwrap_or(i32::MAX),
                    Some(c),
                ));
            }
            by_topic
                .into_iter()
                .map(|(name, partitions)| OffsetFetchTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect()
        }
    };
    OffsetFetchResponse {
        error_code: ErrorCode::None,
        topics,
    }
}

pub(super) fn list(b: &Broker, _: &mut FirstError) -> ListGroupsResponse {
    ListGroupsResponse {
        error_code: ErrorCode::None,
        groups: b
            .list_groups()
            .into_iter()
            .map(|g| ListedGroup {
                group_id: g.group,
                state: g.state.name().to_owned(),
                members: i32::try_from(g.members).unwrap_or(i32::MAX),
            })
            .collect(),
    }
}

/// Describes a group; `lag` is -1 where nothing is committed.
pub(super) fn describe(
    b: &Broker,
    req: DescribeGroupRequest,
    first: &mut FirstError,
) -> DescribeGroupResponse {
    let d = match b.describe_group(&req.group_id) {
        Ok(d) => d,
        Err(e) => {
            return DescribeGroupResponse {
                error_code: first.broker(&e),
                group_id: req.group_id,
                state: String::new(),
                assignor: String::new(),
                generation_id: -1,
                members: Vec::new(),
                offsets: Vec::new(),
            };
        }
    };
    let mut offsets: Vec<TopicLag> = Vec::new();
    for p in &d.partitions {
        let lag = PartitionLag {
            partition: i32::try_from(p.partition.partition).unwrap_or(i32::MAX),
            committed_offset: p.committed.unwrap_or(-1),
            high_watermark: p.high_watermark,
            lag: p.lag.unwrap_or(-1),
        };
        match offsets.last_mut() {
            Some(t) if t.topic == p.partition.topic => t.partitions.push(lag),
            _ => offsets.push(TopicLag {
                topic: p.partition.topic.clone(),
                partitions: vec![lag],
            }),
        }
    }
    DescribeGroupResponse {
        error_code: ErrorCode::None,
        group_id: d.group,
        state: d.state.name().to_owned(),
        assignor: strategy_name(d.strategy).to_owned(),
        generation_id: d.generation,
        members: d
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                assignment: wire_assignment(&m.assignment),
            })
            .collect(),
        offsets,
    }
}

pub(super) fn reset(
    b: &Broker,
    req: ResetOffsetsRequest,
    first: &mut FirstError,
) -> ResetOffsetsResponse {
    let target = match req.target {
        ResetTarget::Earliest => broker::ResetTarget::Earliest,
        ResetTarget::Latest => broker::ResetTarget::Latest,
        ResetTarget::Timestamp(ms) => broker::ResetTarget::Timestamp(ms),
        ResetTarget::Offset(o) => broker::ResetTarget::Offset(o),
    };
    let partitions: Option<Option<Vec<u32>>> = req
        .partitions
        .as_ref()
        .map(|ps| ps.iter().map(|&p| partition_index(p)).collect());
    let r = match partitions {
        Some(None) => Err(unknown_partition(&req.topic)),
        Some(Some(ps)) => b.reset_offsets(&req.group_id, &req.topic, Some(&ps), target),
        None => b.reset_offsets(&req.group_id, &req.topic, None, target),
    };
    match r {
        Ok(done) => ResetOffsetsResponse {
            error_code: ErrorCode::None,
            partitions: done
                .into_iter()
                .map(|(tp, offset)| ResetOffsetsPartition {
                    partition: i32::try_from(tp.partition).unwrap_or(i32::MAX),
                    error_code: ErrorCode::None,
                    offset,
                })
                .collect(),
        },
        Err(e) => ResetOffsetsResponse {
            error_code: first.broker(&e),
            partitions: Vec::new(),
        },
    }
}

pub(super) fn delete(
    b: &Broker,
    req: DeleteGroupsRequest,
    first: &mut FirstError,
) -> DeleteGroupsResponse {
    DeleteGroupsResponse {
        groups: req
            .group_ids
            .into_iter()
            .map(|group_id| {
                let r = b.delete_group(&group_id);
                GroupResult {
                    error_code: first.result(&r),
                    group_id,
                }
            })
            .collect(),
    }
}
