//! Produce: each partition's record batches go to the broker whole, as the
//! client sent them (the broker validates them, assigns offsets, checks
//! idempotent sequences and refuses keyless records on compacted topics).
//! `acks=1` and `acks=all` mean `written`; a topic with `flush.messages=1`
//! makes it an fsync, which runs on the blocking pool. `acks=0` gets no
//! response.

use super::Shared;
use super::dispatch::{code, error_code};
use crate::broker::{BrokerError, PartitionAppend};
use crate::kafka_codec::{
    PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceResponse,
};
use crate::log::Durability;

/// Appends every partition's batches; `None` for `acks=0`.
pub(super) async fn produce(
    shared: &Shared,
    r: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks = r.acks;
    let mut responses = Vec::with_capacity(r.topic_data.len());
    for topic in r.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let result = if !matches!(acks, -1..=1) {
                Err((code::INVALID_REQUIRED_ACKS, None))
            } else if r.transactional_id.is_some() {
                // Transactions are not served; a transactional producer
                // never gets this far (InitProducerId refuses it).
                Err((code::INVALID_REQUEST, None))
            } else {
                let records = p.records.unwrap_or_default().to_vec();
                append(shared, &topic.name, p.index, records)
                    .await
                    .map_err(|e| {
                        tracing::debug!(topic = topic.name, partition = p.index, error = %e, "Kafka produce refused");
                        // Error messages exist from v8 on.
                        (error_code(&e), (version >= 8).then(|| e.to_string()))
                    })
            };
            partitions.push(partition_response(p.index, result));
        }
        responses.push(TopicProduceResponse {
            name: topic.name,
            partition_responses: partitions,
        });
    }
    (acks != 0).then(|| ProduceResponse {
        responses,
        throttle_time_ms: 0,
        ..ProduceResponse::default()
    })
}

async fn append(
    shared: &Shared,
    topic: &str,
    partition: i32,
    mut batches: Vec<u8>,
) -> Result<PartitionAppend, BrokerError> {
    let Ok(partition) = u32::try_from(partition) else {
        return Err(BrokerError::UnknownPartition {
            topic: topic.to_owned(),
            partition: u32::MAX,
            partitions: 0,
        });
    };
    let broker = &shared.broker;
    match broker.produce_durability(topic, Durability::Written) {
        // Page-cache appends run on the connection's task, as the native
        // server's `written` produces do.
        Durability::Written | Durability::None => {
            broker.produce_raw(topic, partition, &mut batches, Durability::Written)
        }
        Durability::Fsync => {
            broker
                .produce_raw_async(topic.to_owned(), partition, batches, Durability::Fsync)
                .await
        }
    }
}

fn partition_response(
    index: i32,
    result: Result<PartitionAppend, (i16, Option<String>)>,
) -> PartitionProduceResponse {
    match result {
        Ok(a) => PartitionProduceResponse {
            index,
            error_code: 0,
            base_offset: a.base_offset,
            log_append_time_ms: -1,
            log_start_offset: a.log_start_offset,
            ..PartitionProduceResponse::default()
        },
        Err((error_code, error_message)) => PartitionProduceResponse {
            index,
            error_code,
            error_message,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            ..PartitionProduceResponse::default()
        },
    }
}
