//! Fetch and ListOffsets. A fetch is the broker's long-poll fetch: whole
//! stored batches (the first may start before the offset asked for), at
//! least one batch even past `max_bytes` (KIP-74), woken by appends. Fetch
//! sessions are declined (session id 0: clients keep sending full
//! requests); there are no transactions, so the last stable offset is the
//! high watermark and no transaction is ever aborted.

use super::Shared;
use super::connection::Ctx;
use super::dispatch::error_code;
use crate::broker::{self, FetchedPartition};
use crate::kafka_codec::{
    FetchRequest, FetchResponse, FetchableTopicResponse, ListOffsetsPartitionResponse,
    ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopicResponse, PartitionData,
};
use bytes::Bytes;
use std::time::Duration;

/// ListOffsets' special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub(super) async fn fetch(ctx: &Ctx, r: FetchRequest, _version: i16) -> FetchResponse {
    let shared = &ctx.shared;
    let non_negative = |v: i32| usize::try_from(v).unwrap_or(0);
    let mut partitions = Vec::new();
    // Partitions with an index no broker partition can have are answered
    // without asking the broker.
    for t in &r.topics {
        for p in &t.partitions {
            partitions.push(broker::FetchPartition {
                topic: t.topic.clone(),
                partition: u32::try_from(p.partition).unwrap_or(u32::MAX),
                offset: p.fetch_offset,
                max_bytes: non_negative(p.partition_max_bytes),
            });
        }
    }
    let max_wait = Duration::from_millis(u64::try_from(r.max_wait_ms).unwrap_or(0))
        .min(shared.config.max_fetch_wait);
    let request = broker::FetchRequest {
        partitions,
        max_wait,
        min_bytes: non_negative(r.min_bytes),
        // Versions before 3 had no overall limit; ours all have one.
        max_bytes: non_negative(r.max_bytes),
    };
    let mut closing = ctx.closing.clone();
    let mut stop = shared.stop.clone();
    let fetched = tokio::select! {
        f = shared.broker.fetch(request.clone()) => f,
        // The connection or the listener is going away: answer with what is there.
        _ = closing.wait_for(|c| *c) => shared.broker.fetch_now(&request),
        _ = stop.wait_for(|s| *s) => shared.broker.fetch_now(&request),
    };
    FetchResponse {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        responses: by_topic(fetched),
    }
}

/// Groups partition results by topic, keeping the request's order.
fn by_topic(fetched: Vec<FetchedPartition>) -> Vec<FetchableTopicResponse> {
    let mut out: Vec<FetchableTopicResponse> = Vec::new();
    for f in fetched {
        let data = match f.result {
            Ok(d) => PartitionData {
                partition_index: f.partition as i32,
                error_code: 0,
                high_watermark: d.high_watermark,
                last_stable_offset: d.high_watermark,
                log_start_offset: d.log_start_offset,
                aborted_transactions: Some(Vec::new()),
                preferred_read_replica: -1,
                records: Some(d.records),
                ..PartitionData::default()
            },
            Err(e) => {
                let (high_watermark, log_start_offset) = match &e {
                    broker::BrokerError::OffsetOutOfRange {
                        log_start_offset,
                        log_end_offset,
                        ..
                    } => (*log_end_offset, *log_start_offset),
                    _ => (-1, -1),
                };
                PartitionData {
                    partition_index: f.partition as i32,
                    error_code: error_code(&e),
                    high_watermark,
                    last_stable_offset: high_watermark,
                    log_start_offset,
                    aborted_transactions: Some(Vec::new()),
                    preferred_read_replica: -1,
                    records: Some(Bytes::new()),
                    ..PartitionData::default()
                }
            }
        };
        match out.last_mut() {
            Some(t) if t.topic == f.topic => t.partitions.push(data),
            _ => out.push(FetchableTopicResponse {
                topic: f.topic,
                partitions: vec![data],
            }),
        }
    }
    out
}

pub(super) fn list_offsets(
    shared: &Shared,
    r: ListOffsetsRequest,
    _version: i16,
) -> ListOffsetsResponse {
    let broker = &shared.broker;
    let topics = r
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let index = u32::try_from(p.partition_index).unwrap_or(u32::MAX);
                    let found = match p.timestamp {
                        EARLIEST => broker
                            .list_offset(&t.name, index, broker::OffsetSpec::Earliest)
                            .map(|o| o.map(|o| (o, -1))),
                        LATEST => broker
                            .list_offset(&t.name, index, broker::OffsetSpec::Latest)
                            .map(|o| o.map(|o| (o, -1))),
                        MAX_TIMESTAMP => broker.max_timestamp(&t.name, index),
                        ts => broker.offset_and_timestamp_for(&t.name, index, ts),
                    };
                    match found {
                        Ok(found) => {
                            let (offset, timestamp) = found.unwrap_or((-1, -1));
                            ListOffsetsPartitionResponse {
                                partition_index: p.partition_index,
                                error_code: 0,
                                timestamp,
                                offset,
                                leader_epoch: -1,
                            }
                        }
                        Err(e) => ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: error_code(&e),
                            timestamp: -1,
                            offset: -1,
                            leader_epoch: -1,
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse {
                name: t.name,
                partitions,
            }
        })
        .collect();
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
