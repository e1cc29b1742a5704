//! The request and response bodies, one module per group of apis. Each is a
//! plain struct with a [`Codec`](super::Codec) implementation; none knows
//! about headers, frames or the broker that will act on it.

mod api_versions;
mod fetch;
mod groups;
mod offsets;
mod produce;
mod topics;

pub use api_versions::{ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse};
pub use fetch::{
    FetchMember, FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopic,
    FetchTopicResponse, IsolationLevel,
};
pub use groups::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupRequest, DescribeGroupResponse,
    GroupResult, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, ListedGroup,
    MemberDescription, PartitionLag, TopicLag,
};
pub use offsets::{
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListOffsetsPartition, ListOffsetsPartitionResponse,
    ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic, ListOffsetsTopicResponse,
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitResponse, OffsetCommitTopic,
    OffsetCommitTopicResponse, OffsetFetchPartition, OffsetFetchRequest, OffsetFetchResponse,
    OffsetFetchTopic, PartitionResult, ResetOffsetsPartition, ResetOffsetsRequest,
    ResetOffsetsResponse, ResetTarget,
};
pub use produce::{
    Durability, InitProducerIdRequest, InitProducerIdResponse, ProducePartition,
    ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopic, ProduceTopicResponse,
};
pub use topics::{
    CleanupPolicy, CreatableTopic, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeTopicsRequest, DescribeTopicsResponse, DescribedTopic, ListTopicsRequest,
    ListTopicsResponse, ListedTopic, PartitionCount, PartitionDescription, TopicConfig,
    TopicResult,
};

use super::wire::wire_struct;

wire_struct! {
    /// Some partitions of one topic: an assignment entry, or a selection.
    pub struct TopicPartitions {
        /// Topic name.
        pub topic: String,
        /// Partition indexes.
        pub partitions: Vec<i32>,
    }
}
