//! A method per api on [`Client`]: [`Client::send`] takes any protocol
//! request struct and returns its response struct, and friendlier methods
//! (`create_topic`, `list_offset`, `commit`...) turn error codes into
//! [`ClientError::Broker`]. Knows the protocol's messages only.

use super::connection::Client;
use super::error::ClientError;
use crate::protocol::*;
use bytes::Bytes;
use std::time::Duration;

/// A request struct of the protocol, paired with its response struct.
pub trait Request: Into<RequestBody> {
    /// The response struct.
    type Response;
    /// The response out of a decoded body, `None` if it is another api's.
    fn response(body: ResponseBody) -> Option<Self::Response>;
}

macro_rules! requests {
    ($( $variant:ident: $req:ident => $resp:ident; )*) => {
        $(
            impl Request for $req {
                type Response = $resp;
                fn response(body: ResponseBody) -> Option<$resp> {
                    match body {
                        ResponseBody::$variant(r) => Some(r),
                        _ => None,
                    }
                }
            }
        )*
    };
}

requests! {
    ApiVersions: ApiVersionsRequest => ApiVersionsResponse;
    CreateTopics: CreateTopicsRequest => CreateTopicsResponse;
    DeleteTopics: DeleteTopicsRequest => DeleteTopicsResponse;
    ListTopics: ListTopicsRequest => ListTopicsResponse;
    DescribeTopics: DescribeTopicsRequest => DescribeTopicsResponse;
    CreatePartitions: CreatePartitionsRequest => CreatePartitionsResponse;
    Produce: ProduceRequest => ProduceResponse;
    Fetch: FetchRequest => FetchResponse;
    ListOffsets: ListOffsetsRequest => ListOffsetsResponse;
    InitProducerId: InitProducerIdRequest => InitProducerIdResponse;
    JoinGroup: JoinGroupRequest => JoinGroupResponse;
    Heartbeat: HeartbeatRequest => HeartbeatResponse;
    LeaveGroup: LeaveGroupRequest => LeaveGroupResponse;
    OffsetCommit: OffsetCommitRequest => OffsetCommitResponse;
    OffsetFetch: OffsetFetchRequest => OffsetFetchResponse;
    ListGroups: ListGroupsRequest => ListGroupsResponse;
    DescribeGroup: DescribeGroupRequest => DescribeGroupResponse;
    ResetOffsets: ResetOffsetsRequest => ResetOffsetsResponse;
    DeleteGroups: DeleteGroupsRequest => DeleteGroupsResponse;
}

/// Which offset [`Client::list_offset`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    /// The log start offset.
    Earliest,
    /// The high watermark (the offset the next record gets).
    Latest,
    /// The first offset whose record's timestamp is at or after this (ms).
    Timestamp(i64),
}

fn one<T>(api: ApiKey, items: Vec<T>) -> Result<T, ClientError> {
    items
        .into_iter()
        .next()
        .ok_or(ClientError::UnexpectedResponse { api })
}

fn topic_result(api: ApiKey, results: Vec<TopicResult>) -> Result<(), ClientError> {
    let r = one(api, results)?;
    ClientError::check(api, r.error_code, r.error_message)
}

impl Client {
    /// Sends any request and returns its response struct (error codes
    /// inside it are left to the caller).
    ///
    /// # Errors
    /// As [`Client::call`], or [`ClientError::UnexpectedResponse`].
    pub async fn send<R: Request>(&self, request: R) -> Result<R::Response, ClientError> {
        self.send_timeout(request, None).await
    }

    /// [`Client::send`] waiting `timeout` instead of the configured request timeout.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn send_timeout<R: Request>(
        &self,
        request: R,
        timeout: Option<Duration>,
    ) -> Result<R::Response, ClientError> {
        let body = request.into();
        let api = body.api_key();
        let response = self.call(body, timeout).await?;
        R::response(response).ok_or(ClientError::UnexpectedResponse { api })
    }

    /// Creates a topic with `partitions` partitions; unset settings take the broker's defaults.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `TOPIC_ALREADY_EXISTS`,
    /// `INVALID_TOPIC_EXCEPTION`), or a connection error.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        config: TopicConfig,
    ) -> Result<(), ClientError> {
        let r = self
            .send(CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: name.to_owned(),
                    partitions,
                    config,
                }],
            })
            .await?;
        topic_result(ApiKey::CreateTopics, r.topics)
    }

    /// Deletes a topic and its data.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `UNKNOWN_TOPIC_OR_PARTITION`), or a connection error.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let r = self
            .send(DeleteTopicsRequest {
                names: vec![name.to_owned()],
            })
            .await?;
        topic_result(ApiKey::DeleteTopics, r.topics)
    }

    /// Raises a topic's partition count to `count`.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `INVALID_PARTITIONS`), or a connection error.
    pub async fn create_partitions(&self, name: &str, count: i32) -> Result<(), ClientError> {
        let r = self
            .send(CreatePartitionsRequest {
                topics: vec![PartitionCount {
                    name: name.to_owned(),
                    count,
                }],
            })
            .await?;
        topic_result(ApiKey::CreatePartitions, r.topics)
    }

    /// Lists topics (with `__consumer_offsets` if `include_internal`).
    ///
    /// # Errors
    /// [`ClientError::Broker`], or a connection error.
    pub async fn list_topics(
        &self,
        include_internal: bool,
    ) -> Result<Vec<ListedTopic>, ClientError> {
        let r = self.send(ListTopicsRequest { include_internal }).await?;
        ClientError::check(ApiKey::ListTopics, r.error_code, None)?;
        Ok(r.topics)
    }

    /// Describes one topic: settings and per-partition offsets and size.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (`UNKNOWN_TOPIC_OR_PARTITION`), or a connection error.
    pub async fn describe_topic(&self, name: &str) -> Result<DescribedTopic, ClientError> {
        let r = self
            .send(DescribeTopicsRequest {
                names: Some(vec![name.to_owned()]),
            })
            .await?;
        let t = one(ApiKey::DescribeTopics, r.topics)?;
        ClientError::check(
            ApiKey::DescribeTopics,
            t.error_code,
            Some(format!("topic {name}")),
        )?;
        Ok(t)
    }

    /// Appends raw RecordBatch v2 bytes to one partition; returns the base offset.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `CORRUPT_MESSAGE`, `OUT_OF_ORDER_SEQUENCE_NUMBER`),
    /// or a connection error.
    pub async fn produce_batches(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        durability: Durability,
    ) -> Result<i64, ClientError> {
        let r = self
            .send(ProduceRequest {
                durability,
                timeout_ms: 30_000,
                topics: vec![ProduceTopic {
                    name: topic.to_owned(),
                    partitions: vec![ProducePartition { partition, records }],
                }],
            })
            .await?;
        let p = one(ApiKey::Produce, r.topics).and_then(|t| one(ApiKey::Produce, t.partitions))?;
        ClientError::check(ApiKey::Produce, p.error_code, p.error_message)?;
        Ok(p.base_offset)
    }

    /// Sends a fetch, waiting its `max_wait_ms` on top of the request timeout.
    /// Per-partition errors are left in the response.
    ///
    /// # Errors
    /// A connection error, or a whole-fetch error code as [`ClientError::Broker`].
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, ClientError> {
        let wait = Duration::from_millis(u64::try_from(request.max_wait_ms.max(0)).unwrap_or(0));
        let timeout = self.config().request_timeout + wait;
        let r = self.send_timeout(request, Some(timeout)).await?;
        ClientError::check(ApiKey::Fetch, r.error_code, None)?;
        Ok(r)
    }

    /// Looks one offset up; `None` when no record is as recent as the timestamp.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `UNKNOWN_TOPIC_OR_PARTITION`), or a connection error.
    pub async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        query: OffsetQuery,
    ) -> Result<Option<i64>, ClientError> {
        let timestamp = match query {
            OffsetQuery::Earliest => EARLIEST_TIMESTAMP,
            OffsetQuery::Latest => LATEST_TIMESTAMP,
            OffsetQuery::Timestamp(ms) => ms,
        };
        let r = self
            .send(ListOffsetsRequest {
                isolation_level: IsolationLevel::ReadUncommitted,
                topics: vec![ListOffsetsTopic {
                    name: topic.to_owned(),
                    partitions: vec![ListOffsetsPartition {
                        partition,
                        timestamp,
                    }],
                }],
            })
            .await?;
        let p = one(ApiKey::ListOffsets, r.topics)
            .and_then(|t| one(ApiKey::ListOffsets, t.partitions))?;
        ClientError::check(ApiKey::ListOffsets, p.error_code, None)?;
        Ok((p.offset >= 0).then_some(p.offset))
    }

    /// Obtains a producer id and epoch (or the next epoch of `existing`).
    ///
    /// # Errors
    /// [`ClientError::Broker`], or a connection error.
    pub async fn init_producer_id(
        &self,
        existing: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ClientError> {
        let (producer_id, producer_epoch) = existing.unwrap_or((-1, -1));
        let r = self
            .send(InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 0,
                producer_id,
                producer_epoch,
            })
            .await?;
        ClientError::check(ApiKey::InitProducerId, r.error_code, None)?;
        Ok((r.producer_id, r.producer_epoch))
    }

    /// Joins a group; the response carries the member id, generation and partitions.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `INVALID_GROUP_ID`), or a connection error.
    pub async fn join_group(
        &self,
        request: JoinGroupRequest,
    ) -> Result<JoinGroupResponse, ClientError> {
        let r = self.send(request).await?;
        ClientError::check(ApiKey::JoinGroup, r.error_code, None)?;
        Ok(r)
    }

    /// Heartbeats; the response carries the current generation and partitions.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (`UNKNOWN_MEMBER_ID`: rejoin), or a connection error.
    pub async fn heartbeat(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<HeartbeatResponse, ClientError> {
        let r = self
            .send(HeartbeatRequest {
                group_id: group.to_owned(),
                member_id: member_id.to_owned(),
                generation_id: generation,
            })
            .await?;
        ClientError::check(ApiKey::Heartbeat, r.error_code, None)?;
        Ok(r)
    }

    /// Leaves a group at once.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (`UNKNOWN_MEMBER_ID`), or a connection error.
    pub async fn leave_group(&self, group: &str, member_id: &str) -> Result<(), ClientError> {
        let r = self
            .send(LeaveGroupRequest {
                group_id: group.to_owned(),
                member_id: member_id.to_owned(),
            })
            .await?;
        ClientError::check(ApiKey::LeaveGroup, r.error_code, None)
    }

    /// Commits offsets (`member_id` empty and generation -1 for an admin commit).
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `ILLEGAL_GENERATION`), or a connection error.
    pub async fn commit_offsets(&self, request: OffsetCommitRequest) -> Result<(), ClientError> {
        let r = self.send(request).await?;
        ClientError::check(ApiKey::OffsetCommit, r.error_code, None)?;
        for p in r.topics.iter().flat_map(|t| &t.partitions) {
            ClientError::check(ApiKey::OffsetCommit, p.error_code, None)?;
        }
        Ok(())
    }

    /// A group's committed offsets (of `topics`, or of every partition with a commit).
    ///
    /// # Errors
    /// [`ClientError::Broker`], or a connection error.
    pub async fn fetch_offsets(
        &self,
        group: &str,
        topics: Option<Vec<TopicPartitions>>,
    ) -> Result<Vec<OffsetFetchTopic>, ClientError> {
        let r = self
            .send(OffsetFetchRequest {
                group_id: group.to_owned(),
                topics,
            })
            .await?;
        ClientError::check(ApiKey::OffsetFetch, r.error_code, None)?;
        Ok(r.topics)
    }

    /// Lists groups with their state and member count.
    ///
    /// # Errors
    /// [`ClientError::Broker`], or a connection error.
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, ClientError> {
        let r = self.send(ListGroupsRequest {}).await?;
        ClientError::check(ApiKey::ListGroups, r.error_code, None)?;
        Ok(r.groups)
    }

    /// Describes a group: members, assignment, committed offsets and lag.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (`GROUP_ID_NOT_FOUND`), or a connection error.
    pub async fn describe_group(&self, group: &str) -> Result<DescribeGroupResponse, ClientError> {
        let r = self
            .send(DescribeGroupRequest {
                group_id: group.to_owned(),
            })
            .await?;
        ClientError::check(
            ApiKey::DescribeGroup,
            r.error_code,
            Some(format!("group {group}")),
        )?;
        Ok(r)
    }

    /// Moves an empty group's committed offsets for `topic`; returns them.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `NON_EMPTY_GROUP`), or a connection error.
    pub async fn reset_offsets(
        &self,
        group: &str,
        topic: &str,
        partitions: Option<Vec<i32>>,
        target: ResetTarget,
    ) -> Result<Vec<ResetOffsetsPartition>, ClientError> {
        let r = self
            .send(ResetOffsetsRequest {
                group_id: group.to_owned(),
                topic: topic.to_owned(),
                partitions,
                target,
            })
            .await?;
        ClientError::check(
            ApiKey::ResetOffsets,
            r.error_code,
            Some(format!("group {group}, topic {topic}")),
        )?;
        Ok(r.partitions)
    }

    /// Deletes an empty group and its offsets.
    ///
    /// # Errors
    /// [`ClientError::Broker`] (e.g. `NON_EMPTY_GROUP`), or a connection error.
    pub async fn delete_group(&self, group: &str) -> Result<(), ClientError> {
        let r = self
            .send(DeleteGroupsRequest {
                group_ids: vec![group.to_owned()],
            })
            .await?;
        let g = one(ApiKey::DeleteGroups, r.groups)?;
        ClientError::check(
            ApiKey::DeleteGroups,
            g.error_code,
            Some(format!("group {group}")),
        )
    }
}
