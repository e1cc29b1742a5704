//! The consumer group API's plain data: requests, answers and
//! descriptions, and subscription matching. No state, no locks; the
//! coordinator in `mod.rs` owns the behaviour.

use super::super::offsets::OFFSETS_TOPIC;
use std::collections::{BTreeMap, BTreeSet};

/// Longest group id accepted.
pub const MAX_GROUP_ID_LEN: usize = 255;

/// A topic and a partition number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// What a member consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// These topics (those that exist).
    Topics(Vec<String>),
    /// Every non-internal topic whose name matches a glob (`*` any run,
    /// `?` one character); topics created later join when they appear.
    Pattern(String),
}

impl Subscription {
    /// Subscribes to one topic.
    pub fn topic(topic: impl Into<String>) -> Subscription {
        Subscription::Topics(vec![topic.into()])
    }

    pub(super) fn resolve(&self, existing: &BTreeMap<String, u32>) -> BTreeSet<String> {
        match self {
            Subscription::Topics(ts) => ts
                .iter()
                .filter(|t| existing.contains_key(*t))
                .cloned()
                .collect(),
            Subscription::Pattern(p) => existing
                .keys()
                .filter(|t| t.as_str() != OFFSETS_TOPIC && glob(p.as_bytes(), t.as_bytes()))
                .cloned()
                .collect(),
        }
    }
}

fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(a), Some(b)) if a == b => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// How the broker assigns partitions to a group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentStrategy {
    /// Kafka's range assignor.
    Range,
    /// Kafka's round-robin assignor.
    RoundRobin,
    /// Balanced, keeping partitions with their owners where possible.
    #[default]
    Sticky,
}

/// A member's request to join (or rejoin) a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// Group id.
    pub group: String,
    /// `None` to join as a new member; a member id to rejoin (e.g. with a new subscription).
    pub member_id: Option<String>,
    /// The client's name, prefixed to new member ids.
    pub client_id: String,
    /// Where the client connects from, in Kafka's form (`/127.0.0.1`);
    /// empty for an in-process member.
    pub client_host: String,
    /// Topics to consume.
    pub subscription: Subscription,
    /// Session timeout; `None` takes the broker's default.
    pub session_timeout_ms: Option<i64>,
    /// Assignment strategy; the latest join decides the group's.
    pub strategy: AssignmentStrategy,
}

impl JoinGroupRequest {
    /// A new member of `group` subscribing to `subscription`, with defaults.
    pub fn new(group: impl Into<String>, subscription: Subscription) -> JoinGroupRequest {
        JoinGroupRequest {
            group: group.into(),
            member_id: None,
            client_id: "logbus".into(),
            client_host: String::new(),
            subscription,
            session_timeout_ms: None,
            strategy: AssignmentStrategy::default(),
        }
    }
}

/// A member's identity and partitions in the current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    /// The member id to use in later calls.
    pub member_id: String,
    /// The group's generation.
    pub generation: i32,
    /// The member's partitions, sorted.
    pub partitions: Vec<TopicPartition>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to read.
    pub offset: i64,
    /// Free-form metadata.
    pub metadata: String,
    /// When it was committed (broker clock, ms).
    pub commit_timestamp_ms: i64,
    /// The generation that committed it (-1 for admin resets).
    pub generation: i32,
}

/// Offsets to commit for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    /// Group id.
    pub group: String,
    /// The committing member; `None` for a standalone consumer (group must be empty).
    pub member_id: Option<String>,
    /// The member's generation (ignored without a member id).
    pub generation: i32,
    /// Partition → next offset to read.
    pub offsets: Vec<(TopicPartition, i64)>,
    /// Metadata stored with every offset.
    pub metadata: String,
}

/// Where a group stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets only).
    Empty,
    /// Every member has seen the current generation.
    Stable,
    /// Some member has not yet heartbeated since the last rebalance.
    Rebalancing,
}

impl GroupState {
    /// Kafka's name of the state (`Empty`, `Stable`, `PreparingRebalance`),
    /// the one name every face (CLI, admin JSON, metrics) shows.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Stable => "Stable",
            GroupState::Rebalancing => "PreparingRebalance",
        }
    }
}

/// A group as `list_groups` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group: String,
    /// State.
    pub state: GroupState,
    /// Members.
    pub members: usize,
}

/// A member as `describe_group` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Client id.
    pub client_id: String,
    /// Where it connected from when it joined (`/127.0.0.1`); empty in process.
    pub client_host: String,
    /// What it subscribed to.
    pub subscription: Subscription,
    /// Its partitions.
    pub assignment: Vec<TopicPartition>,
    /// Its last heartbeat (broker clock, ms).
    pub last_heartbeat_ms: i64,
    /// Its session timeout.
    pub session_timeout_ms: i64,
}

/// One partition of a group with its offsets and lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The member owning it, if any.
    pub owner: Option<String>,
    /// The committed offset, if any.
    pub committed: Option<i64>,
    /// The partition's first offset.
    pub log_start_offset: i64,
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// Kafka's consumer lag: high watermark − committed offset; `None`
    /// while the group has committed nothing for the partition (Kafka's
    /// tools show `-` there).
    pub lag: Option<i64>,
}

/// A group as `describe_group` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group: String,
    /// State.
    pub state: GroupState,
    /// Generation.
    pub generation: i32,
    /// Assignment strategy.
    pub strategy: AssignmentStrategy,
    /// Members, by member id.
    pub members: Vec<MemberDescription>,
    /// Every partition of the group's topics, with lag.
    pub partitions: Vec<PartitionLag>,
    /// Sum of the partitions' known lag (partitions without a commit add nothing).
    pub total_lag: i64,
}

/// Where `reset_offsets` moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    /// Each partition's log start.
    Earliest,
    /// Each partition's high watermark.
    Latest,
    /// The first record at or after this time (ms); the high watermark if none.
    Timestamp(i64),
    /// This offset, clamped into each partition's range.
    Offset(i64),
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_patterns_match_like_shell_globs() {
        assert!(glob(b"orders-*", b"orders-eu"));
        assert!(glob(b"*", b"x"));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(!glob(b"orders-*", b"payments"));
    }
}
