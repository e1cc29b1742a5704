//! Consumer groups: membership (`JoinGroup`, `Heartbeat`, `LeaveGroup`) and
//! administration (`ListGroups`, `DescribeGroup`, `DeleteGroups`).
//!
//! The broker computes the assignment (as in Kafka's KIP-848), so a member
//! learns its partitions from the join and heartbeat responses and never
//! runs an assignor itself. Group states travel as strings ("Empty",
//! "Stable", ...) so the broker can refine its state machine without a new
//! protocol version.

use super::TopicPartitions;
use crate::protocol::ErrorCode;
use crate::protocol::wire::wire_struct;

wire_struct! {
    /// Joins (or rejoins) a group.
    pub struct JoinGroupRequest {
        /// Group id.
        pub group_id: String,
        /// The member's id, or empty to be given one.
        pub member_id: String,
        /// The member is removed when no heartbeat arrives for this long.
        pub session_timeout_ms: i32,
        /// How long a rebalance waits for members to catch up.
        pub rebalance_timeout_ms: i32,
        /// Topics subscribed to by name.
        pub topics: Vec<String>,
        /// A regular expression of topics subscribed to, if any.
        pub pattern: Option<String>,
        /// Assignment strategy name (e.g. "range", "roundrobin", "sticky").
        pub assignor: String,
        /// The member's client id, shown by `DescribeGroup`.
        pub client_id: String,
    }
}

wire_struct! {
    /// Membership granted by a join.
    pub struct JoinGroupResponse {
        /// `NONE`, or e.g. `INCONSISTENT_GROUP_PROTOCOL`.
        pub error_code: ErrorCode,
        /// The group's generation.
        pub generation_id: i32,
        /// This member's id (assigned when the request's was empty).
        pub member_id: String,
        /// The group's assignment strategy.
        pub assignor: String,
        /// How often the member should heartbeat.
        pub heartbeat_interval_ms: i32,
        /// Partitions assigned to this member so far (may still change while
        /// the group rebalances; heartbeats bring the settled assignment).
        pub assignment: Vec<TopicPartitions>,
    }
}

wire_struct! {
    /// Keeps a membership alive and asks for the current assignment.
    pub struct HeartbeatRequest {
        /// Group id.
        pub group_id: String,
        /// Member id.
        pub member_id: String,
        /// The generation the member believes current.
        pub generation_id: i32,
    }
}

wire_struct! {
    /// The group's current generation and this member's assignment.
    pub struct HeartbeatResponse {
        /// `NONE`, `REBALANCE_IN_PROGRESS`, `UNKNOWN_MEMBER_ID`, `FENCED_MEMBER_EPOCH`...
        pub error_code: ErrorCode,
        /// Current generation.
        pub generation_id: i32,
        /// This member's partitions in that generation.
        pub assignment: Vec<TopicPartitions>,
    }
}

wire_struct! {
    /// Leaves a group at once, without waiting for the session to expire.
    pub struct LeaveGroupRequest {
        /// Group id.
        pub group_id: String,
        /// Member id.
        pub member_id: String,
    }
}

wire_struct! {
    /// The outcome of a leave.
    pub struct LeaveGroupResponse {
        /// `NONE`, or `UNKNOWN_MEMBER_ID`.
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// Lists groups.
    pub struct ListGroupsRequest {}
}

wire_struct! {
    /// One listed group.
    pub struct ListedGroup {
        /// Group id.
        pub group_id: String,
        /// State name, e.g. "Empty" or "Stable".
        pub state: String,
        /// Number of members.
        pub members: i32,
    }
}

wire_struct! {
    /// The groups that exist.
    pub struct ListGroupsResponse {
        /// `NONE`, or why the list could not be produced.
        pub error_code: ErrorCode,
        /// The groups.
        pub groups: Vec<ListedGroup>,
    }
}

wire_struct! {
    /// Describes one group.
    pub struct DescribeGroupRequest {
        /// Group id.
        pub group_id: String,
    }
}

wire_struct! {
    /// One member of a described group.
    pub struct MemberDescription {
        /// Member id.
        pub member_id: String,
        /// Client id it joined with.
        pub client_id: String,
        /// Address it connected from, as the server saw it.
        pub client_host: String,
        /// Its partitions.
        pub assignment: Vec<TopicPartitions>,
    }
}

wire_struct! {
    /// The group's position in one partition.
    pub struct PartitionLag {
        /// Partition index.
        pub partition: i32,
        /// Committed offset, or -1 when none.
        pub committed_offset: i64,
        /// The partition's high watermark.
        pub high_watermark: i64,
        /// `high_watermark - committed_offset`, or -1 without a commit.
        pub lag: i64,
    }
}

wire_struct! {
    /// The group's position in one topic.
    pub struct TopicLag {
        /// Topic name.
        pub topic: String,
        /// Per-partition positions.
        pub partitions: Vec<PartitionLag>,
    }
}

wire_struct! {
    /// A group's state, members, assignment and lag.
    pub struct DescribeGroupResponse {
        /// `NONE`, or `GROUP_ID_NOT_FOUND`.
        pub error_code: ErrorCode,
        /// Group id.
        pub group_id: String,
        /// State name, e.g. "Empty" or "Stable".
        pub state: String,
        /// Assignment strategy name.
        pub assignor: String,
        /// Current generation.
        pub generation_id: i32,
        /// Members and their assignments.
        pub members: Vec<MemberDescription>,
        /// Committed offsets, high watermarks and lag per partition.
        pub offsets: Vec<TopicLag>,
    }
}

wire_struct! {
    /// Deletes groups and their committed offsets (each must be empty).
    pub struct DeleteGroupsRequest {
        /// Group ids.
        pub group_ids: Vec<String>,
    }
}

wire_struct! {
    /// The outcome for one group.
    pub struct GroupResult {
        /// Group id.
        pub group_id: String,
        /// `NONE`, `NON_EMPTY_GROUP` or `GROUP_ID_NOT_FOUND`.
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// Per-group outcomes of `DeleteGroups`.
    pub struct DeleteGroupsResponse {
        /// One result per requested group.
        pub groups: Vec<GroupResult>,
    }
}
