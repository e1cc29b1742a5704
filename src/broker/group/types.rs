//! The consumer group API's plain data: requests, answers and
//! descriptions, and subscription matching. No state, no locks; the
//! coordinator in `mod.rs` owns the behaviour.

use super::super::error::BrokerError;
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
    /// Every non-internal topic whose whole name matches a regular
    /// expression, as Kafka's pattern subscriptions (`orders-.*`,
    /// `(eu|us)-.+`); topics created later join when they appear. Matched
    /// in linear time (the `regex` crate's syntax, close to Java's and
    /// RE2's; no look-around or backreferences).
    Pattern(String),
}

impl Subscription {
    /// Subscribes to one topic.
    pub fn topic(topic: impl Into<String>) -> Subscription {
        Subscription::Topics(vec![topic.into()])
    }
}

/// Longest subscription pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// Memory a compiled pattern may take: bounds the work a hostile pattern
/// costs before it matches anything.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A subscription ready to match topic names: a pattern is compiled once,
/// when the member joins. Matching is linear in the name's length.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Topics(BTreeSet<String>),
    Pattern(regex::Regex),
}

impl Matcher {
    /// Compiles `subscription`.
    ///
    /// # Errors
    /// [`BrokerError::InvalidPattern`] for a pattern that does not compile
    /// or is too long.
    pub fn new(subscription: &Subscription) -> Result<Matcher, BrokerError> {
        match subscription {
            Subscription::Topics(ts) => Ok(Matcher::Topics(ts.iter().cloned().collect())),
            Subscription::Pattern(p) => {
                let invalid = |reason: String| BrokerError::InvalidPattern {
                    pattern: p.chars().take(256).collect(),
                    reason,
                };
                if p.len() > MAX_PATTERN_LEN {
                    return Err(invalid(format!("longer than {MAX_PATTERN_LEN} bytes")));
                }
                // Kafka matches the whole name (Java's `Matcher::matches`).
                regex::RegexBuilder::new(&format!("^(?:{p})$"))
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .build()
                    .map(Matcher::Pattern)
                    .map_err(|e| invalid(e.to_string()))
            }
        }
    }

    /// The existing topics this subscription names (never the internal one).
    pub fn resolve(&self, existing: &BTreeMap<String, u32>) -> BTreeSet<String> {
        match self {
            Matcher::Topics(ts) => ts
                .iter()
                .filter(|t| existing.contains_key(*t))
                .cloned()
                .collect(),
            Matcher::Pattern(re) => existing
                .keys()
                .filter(|t| t.as_str() != OFFSETS_TOPIC && re.is_match(t))
                .cloned()
                .collect(),
        }
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
    /// How long the member may keep partitions it was asked to give up
    /// before it is removed from the group; `None` takes the session timeout.
    pub rebalance_timeout_ms: Option<i64>,
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
            rebalance_timeout_ms: None,
            strategy: AssignmentStrategy::default(),
        }
    }
}

/// A member's identity, epoch and partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    /// The member id to use in later calls.
    pub member_id: String,
    /// The member's epoch: it changes whenever its partitions do. Fetches
    /// and commits carry it; a heartbeat carrying it acknowledges that the
    /// member runs this assignment (and released what it no longer lists).
    pub member_epoch: i32,
    /// The member's partitions at that epoch, sorted.
    pub partitions: Vec<TopicPartition>,
}

/// Who fetches: a native group member at the epoch it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// Group id.
    pub group: String,
    /// Member id.
    pub member_id: String,
    /// The member epoch whose assignment the fetch reads.
    pub member_epoch: i32,
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
    /// The member's epoch in a native group, the group's generation in a
    /// classic one (ignored without a member id).
    pub generation: i32,
    /// Partition → next offset to read.
    pub offsets: Vec<(TopicPartition, i64)>,
    /// Metadata stored with every offset.
    pub metadata: String,
}

/// Where a group stands (Kafka's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets only).
    Empty,
    /// Every member owns its target assignment and has acknowledged it.
    Stable,
    /// A native group whose members are moving toward a new assignment
    /// (KIP-848's `Reconciling`).
    Rebalancing,
    /// A classic group waiting for its members to (re)join.
    PreparingRebalance,
    /// A classic group waiting for its leader's assignment.
    CompletingRebalance,
    /// A group being deleted.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state (KIP-848's `Reconciling` for a native
    /// group moving partitions), the one name every face (CLI, admin JSON,
    /// metrics) shows.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Stable => "Stable",
            GroupState::Rebalancing => "Reconciling",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Dead => "Dead",
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
    /// [`NATIVE_PROTOCOL_TYPE`] for a native group, the members' protocol
    /// type for a classic one (`consumer` for Kafka consumers), empty for a
    /// group that only holds offsets.
    pub protocol_type: String,
}

/// The protocol type a native group reports.
pub const NATIVE_PROTOCOL_TYPE: &str = "logbus";

/// A member as `describe_group` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// A classic static member's `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Where it connected from when it joined (`/127.0.0.1`); empty in process.
    pub client_host: String,
    /// What it subscribed to (a classic member's topics, read from its
    /// consumer-protocol metadata where that parses).
    pub subscription: Subscription,
    /// Its partitions (a classic member's, read from its consumer-protocol
    /// assignment where that parses).
    pub assignment: Vec<TopicPartition>,
    /// A classic member's protocol metadata for the group's protocol, as sent.
    pub protocol_metadata: Option<bytes::Bytes>,
    /// A classic member's assignment, as its leader sent it.
    pub classic_assignment: Option<bytes::Bytes>,
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
    /// As in [`GroupListing::protocol_type`].
    pub protocol_type: String,
    /// A classic group's chosen protocol (assignor name); empty otherwise.
    pub protocol: String,
    /// The group epoch of a native group (bumped whenever its target
    /// assignment changes), the generation of a classic one.
    pub generation: i32,
    /// Assignment strategy (of a native group).
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
    use super::{Matcher, Subscription};
    use std::collections::BTreeMap;

    fn topics(names: &[&str]) -> BTreeMap<String, u32> {
        names.iter().map(|n| ((*n).to_owned(), 1)).collect()
    }

    #[test]
    fn patterns_are_kafka_style_regexes_matching_whole_names() {
        let m = Matcher::new(&Subscription::Pattern("orders-.*".into())).unwrap();
        let got = m.resolve(&topics(&[
            "orders-eu",
            "orders-us",
            "payments",
            "x-orders-eu",
        ]));
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["orders-eu", "orders-us"]
        );
        let m = Matcher::new(&Subscription::Pattern("(eu|us)-[0-9]+".into())).unwrap();
        let got = m.resolve(&topics(&["eu-1", "us-22", "eu-x", "asia-1", "eu-1-old"]));
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["eu-1", "us-22"]);
    }

    #[test]
    fn a_pattern_that_is_not_a_regex_is_refused_with_the_reason() {
        let err = Matcher::new(&Subscription::Pattern("orders-(".into())).unwrap_err();
        assert_eq!(err.kafka_code(), 128);
        assert!(err.to_string().contains("orders-("), "{err}");
        let long = "a".repeat(super::MAX_PATTERN_LEN + 1);
        assert!(Matcher::new(&Subscription::Pattern(long)).is_err());
    }

    #[test]
    fn the_pathological_glob_matches_in_linear_time_and_correctly() {
        // Backtracking took seconds on this; a linear matcher answers at once.
        let m = Matcher::new(&Subscription::Pattern(".*a.*a.*a.*a.*a.*a.*a.*a.*b".into())).unwrap();
        let miss = "a".repeat(44);
        let hit = format!("{}b", "a".repeat(43));
        let got = m.resolve(&topics(&[&miss, &hit]));
        assert_eq!(got.into_iter().collect::<Vec<_>>(), [hit]);
    }
}
