//! The admin face's JSON bodies: plain serde structs mapped one to one from
//! the broker's description types, so the wire shape documented in
//! `docs/admin.md` is written down in one place and cannot drift with the
//! broker's internals. No behaviour here: no broker calls, no HTTP.

use crate::broker::{
    AssignmentStrategy, CleanupPolicy, GroupDescription, GroupListing, MemberDescription,
    PartitionDescription, PartitionLag, Subscription, TopicDescription, TopicPartition,
};
use serde::Serialize;

/// `GET /v1/topics`.
#[derive(Debug, Serialize)]
pub(super) struct TopicList {
    pub topics: Vec<TopicSummary>,
}

/// One entry of `GET /v1/topics`.
#[derive(Debug, Serialize)]
pub(super) struct TopicSummary {
    pub name: String,
    pub partitions: u32,
    pub cleanup_policy: &'static str,
    pub internal: bool,
}

impl From<&TopicDescription> for TopicSummary {
    fn from(d: &TopicDescription) -> TopicSummary {
        TopicSummary {
            name: d.name.clone(),
            partitions: d.config.partitions,
            cleanup_policy: policy(d.config.cleanup_policy()),
            internal: d.internal,
        }
    }
}

/// `GET /v1/topics/NAME`.
#[derive(Debug, Serialize)]
pub(super) struct Topic {
    pub name: String,
    pub internal: bool,
    pub config: TopicSettings,
    pub partitions: Vec<Partition>,
}

/// A topic's settings as `GET /v1/topics/NAME` shows them.
#[derive(Debug, Serialize)]
pub(super) struct TopicSettings {
    pub partitions: u32,
    pub cleanup_policy: &'static str,
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<u64>,
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub max_batch_bytes: usize,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub delete_retention_ms: i64,
}

/// One partition of `GET /v1/topics/NAME`.
#[derive(Debug, Serialize)]
pub(super) struct Partition {
    pub partition: u32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
}

impl From<&PartitionDescription> for Partition {
    fn from(p: &PartitionDescription) -> Partition {
        Partition {
            partition: p.partition,
            log_start_offset: p.log_start_offset,
            high_watermark: p.high_watermark,
            size_bytes: p.size_bytes,
        }
    }
}

impl From<TopicDescription> for Topic {
    fn from(d: TopicDescription) -> Topic {
        let log = &d.config.log;
        Topic {
            config: TopicSettings {
                partitions: d.config.partitions,
                cleanup_policy: policy(log.cleanup_policy),
                retention_ms: log.retention_ms,
                retention_bytes: log.retention_bytes,
                segment_bytes: log.segment_bytes,
                segment_ms: log.segment_ms,
                max_batch_bytes: log.max_batch_bytes,
                min_cleanable_dirty_ratio: log.min_cleanable_dirty_ratio,
                min_compaction_lag_ms: log.min_compaction_lag_ms,
                max_compaction_lag_ms: log.max_compaction_lag_ms,
                delete_retention_ms: log.delete_retention_ms,
            },
            partitions: d.partitions.iter().map(Partition::from).collect(),
            internal: d.internal,
            name: d.name,
        }
    }
}

/// `GET /v1/groups`.
#[derive(Debug, Serialize)]
pub(super) struct GroupList {
    pub groups: Vec<GroupSummary>,
}

/// One entry of `GET /v1/groups`.
#[derive(Debug, Serialize)]
pub(super) struct GroupSummary {
    pub group: String,
    pub state: &'static str,
    pub members: usize,
}

impl From<GroupListing> for GroupSummary {
    fn from(g: GroupListing) -> GroupSummary {
        GroupSummary {
            group: g.group,
            state: g.state.name(),
            members: g.members,
        }
    }
}

/// `GET /v1/groups/NAME`.
#[derive(Debug, Serialize)]
pub(super) struct Group {
    pub group: String,
    pub state: &'static str,
    pub generation: i32,
    pub strategy: &'static str,
    pub members: Vec<Member>,
    pub partitions: Vec<GroupPartition>,
    pub total_lag: i64,
}

/// One member of `GET /v1/groups/NAME`.
#[derive(Debug, Serialize)]
pub(super) struct Member {
    pub member_id: String,
    pub client_id: String,
    pub subscription: SubscriptionJson,
    pub assignment: Vec<TopicPartitionJson>,
    pub last_heartbeat_ms: i64,
    pub session_timeout_ms: i64,
}

/// A member's subscription: exactly one of the two keys is present.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SubscriptionJson {
    Topics(Vec<String>),
    Pattern(String),
}

/// A topic and partition number.
#[derive(Debug, Serialize)]
pub(super) struct TopicPartitionJson {
    pub topic: String,
    pub partition: u32,
}

/// One partition of a group with its offsets and lag.
#[derive(Debug, Serialize)]
pub(super) struct GroupPartition {
    pub topic: String,
    pub partition: u32,
    pub owner: Option<String>,
    pub committed_offset: Option<i64>,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub lag: Option<i64>,
}

impl From<TopicPartition> for TopicPartitionJson {
    fn from(tp: TopicPartition) -> TopicPartitionJson {
        TopicPartitionJson {
            topic: tp.topic,
            partition: tp.partition,
        }
    }
}

impl From<MemberDescription> for Member {
    fn from(m: MemberDescription) -> Member {
        Member {
            member_id: m.member_id,
            client_id: m.client_id,
            subscription: match m.subscription {
                Subscription::Topics(topics) => SubscriptionJson::Topics(topics),
                Subscription::Pattern(pattern) => SubscriptionJson::Pattern(pattern),
            },
            assignment: m.assignment.into_iter().map(Into::into).collect(),
            last_heartbeat_ms: m.last_heartbeat_ms,
            session_timeout_ms: m.session_timeout_ms,
        }
    }
}

impl From<PartitionLag> for GroupPartition {
    fn from(p: PartitionLag) -> GroupPartition {
        GroupPartition {
            topic: p.partition.topic,
            partition: p.partition.partition,
            owner: p.owner,
            committed_offset: p.committed,
            log_start_offset: p.log_start_offset,
            high_watermark: p.high_watermark,
            lag: p.lag,
        }
    }
}

impl From<GroupDescription> for Group {
    fn from(d: GroupDescription) -> Group {
        Group {
            group: d.group,
            state: d.state.name(),
            generation: d.generation,
            strategy: match d.strategy {
                AssignmentStrategy::Range => "range",
                AssignmentStrategy::RoundRobin => "round_robin",
                AssignmentStrategy::Sticky => "sticky",
            },
            members: d.members.into_iter().map(Into::into).collect(),
            partitions: d.partitions.into_iter().map(Into::into).collect(),
            total_lag: d.total_lag,
        }
    }
}

/// The body of every 4xx/5xx answer.
#[derive(Debug, Serialize)]
pub(super) struct ErrorBody {
    /// Machine-readable code, e.g. `unknown_topic`.
    pub error: &'static str,
    /// Human-readable sentence.
    pub message: String,
}

/// Kafka's spelling of a cleanup policy, so operators see familiar values.
fn policy(p: CleanupPolicy) -> &'static str {
    match p {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactDelete => "compact,delete",
    }
}
