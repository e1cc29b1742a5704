//! Dispatch: every decoded request body mapped one to one onto broker calls,
//! and broker errors onto protocol error codes (`BrokerError::kafka_code`).
//! Produce, fetch, offsets and producer ids live here; topic and group
//! administration in `topics.rs` and `groups.rs`.
//!
//! Anything that writes to the disk (every produce, commits, topic changes)
//! runs on tokio's blocking pool, noted in the server's `DiskWatch`, so a
//! stalled file system never blocks the runtime workers that serve other
//! requests; the broker's fetch reads there too (it may wait for a log's
//! lock that a stuck write holds). Metadata reads and ApiVersions run on
//! the connection's task.
//! Knows the broker's public API and the protocol's messages; no sockets.

use super::{Shared, groups, topics};
use crate::broker::{self, Broker, BrokerError, OffsetSpec, ProducerIdAndEpoch};
use crate::log;
use crate::observe::DiskWatch;
use crate::protocol::wire::Codec;
use crate::protocol::{
    ApiVersionsResponse, Durability, EARLIEST_TIMESTAMP, ErrorCode, FetchPartitionResponse,
    FetchRequest, FetchResponse, FetchTopicResponse, InitProducerIdRequest, InitProducerIdResponse,
    LATEST_TIMESTAMP, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse, ProducePartitionResponse, ProduceRequest, ProduceResponse,
    ProduceTopicResponse, RequestBody, ResponseBody,
};
use crate::record::{BatchHeader, RecordBatch};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Room kept in a fetch response frame for everything but the records.
pub(super) const FETCH_OVERHEAD: usize = 64 * 1024;

/// What a request produced: its response body, or a header-level error
/// code when the handler itself failed (a panicked blocking task).
pub(super) struct Outcome {
    pub body: Result<ResponseBody, ErrorCode>,
    /// The first error code anywhere in the response, for the observer.
    pub error: Option<ErrorCode>,
    /// Work still running after the response was decided (a produce
    /// answered `REQUEST_TIMED_OUT` while its append goes on); the
    /// connection's produce queue awaits it before the next produce, so
    /// produces stay in order.
    pub unfinished: Option<Unfinished>,
}

/// A running task the response does not wait for.
pub(super) type Unfinished = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Remembers the first error code a response carries.
#[derive(Debug, Default)]
pub(super) struct FirstError(pub Option<ErrorCode>);

impl FirstError {
    /// Notes `code` (if an error) and returns it.
    pub fn note(&mut self, code: ErrorCode) -> ErrorCode {
        if !code.is_ok() && self.0.is_none() {
            self.0 = Some(code);
        }
        code
    }

    /// The protocol code of a broker error, noted.
    pub fn broker(&mut self, e: &BrokerError) -> ErrorCode {
        self.note(ErrorCode::from_i16(e.kafka_code()))
    }

    /// The code of a result, noted: `NONE` for `Ok`.
    pub fn result<T>(&mut self, r: &Result<T, BrokerError>) -> ErrorCode {
        match r {
            Ok(_) => ErrorCode::None,
            Err(e) => self.broker(e),
        }
    }
}

/// Most bytes a fetch may return in one response frame under `max_frame`.
pub(super) fn fetch_cap(max_frame: usize) -> usize {
    max_frame.saturating_sub(FETCH_OVERHEAD).max(1)
}

/// Bytes to reserve for a request's response before it runs (backpressure).
pub(super) fn response_reserve(body: &RequestBody, max_frame: usize) -> usize {
    match body {
        RequestBody::Fetch(f) => clamp_len(f.max_bytes, fetch_cap(max_frame)) + 1024,
        _ => 1024,
    }
}

/// A wire length as a `usize` in `0..=cap`.
pub(super) fn clamp_len(n: i32, cap: usize) -> usize {
    usize::try_from(n.max(0)).unwrap_or(0).min(cap)
}

/// A partition index from the wire; `None` for a negative one.
pub(super) fn partition_index(p: i32) -> Option<u32> {
    u32::try_from(p).ok()
}

/// Runs `f` on the blocking pool, noted in `watch` while it runs (a stuck
/// disk shows there); a panic becomes `UNKNOWN_SERVER_ERROR`.
async fn blocking<R>(
    broker: &Broker,
    watch: &Arc<DiskWatch>,
    f: impl FnOnce(&Broker, &mut FirstError) -> R + Send + 'static,
) -> Outcome
where
    R: Into<ResponseBody> + Send + 'static,
{
    let b = broker.clone();
    let watch = Arc::clone(watch);
    let task = tokio::task::spawn_blocking(move || {
        let _running = watch.start();
        let mut first = FirstError::default();
        let body = f(&b, &mut first).into();
        (body, first.0)
    });
    match task.await {
        Ok((body, error)) => Outcome {
            body: Ok(body),
            error,
            unfinished: None,
        },
        Err(e) => {
            tracing::error!(error = %e, "request handler failed");
            Outcome {
                body: Err(ErrorCode::UnknownServerError),
                error: Some(ErrorCode::UnknownServerError),
                unfinished: None,
            }
        }
    }
}

/// Runs `f` on the connection's task (cheap reads only).
fn inline<R: Into<ResponseBody>>(
    broker: &Broker,
    f: impl FnOnce(&Broker, &mut FirstError) -> R,
) -> Outcome {
    let mut first = FirstError::default();
    let body = f(broker, &mut first).into();
    Outcome {
        body: Ok(body),
        error: first.0,
        unfinished: None,
    }
}

/// Answers one request, whose response will be encoded at `version`.
/// `closing` turns true when the connection or the server is closing: a
/// waiting fetch then answers at once with what is there.
pub(super) async fn handle(
    shared: &Shared,
    closing: &watch::Receiver<bool>,
    peer: SocketAddr,
    version: i16,
    body: RequestBody,
) -> Outcome {
    let b = &shared.broker;
    let w = &shared.config.disk_watch;
    if let Err(refused) = super::bounds::check(&body, shared.config.max_request_partitions) {
        tracing::debug!(api = body.api_key().name(), %refused, "request refused");
        return Outcome {
            body: Err(ErrorCode::InvalidRequest),
            error: Some(ErrorCode::InvalidRequest),
            unfinished: None,
        };
    }
    match body {
        RequestBody::ApiVersions(_) => Outcome {
            body: Ok(ApiVersionsResponse::supported(ErrorCode::None).into()),
            error: None,
            unfinished: None,
        },
        RequestBody::CreateTopics(r) => blocking(b, w, move |b, e| topics::create(b, r, e)).await,
        RequestBody::DeleteTopics(r) => blocking(b, w, move |b, e| topics::delete(b, r, e)).await,
        RequestBody::ListTopics(r) => inline(b, |b, e| topics::list(b, r, e)),
        RequestBody::DescribeTopics(r) => inline(b, |b, e| topics::describe(b, r, e)),
        RequestBody::CreatePartitions(r) => {
            blocking(b, w, move |b, e| topics::create_partitions(b, r, e)).await
        }
        RequestBody::Produce(r) => produce_within_timeout(b, w, r).await,
        RequestBody::Fetch(r) => {
            let mut first = FirstError::default();
            let body = fetch(shared, closing, version, r, &mut first).await;
            Outcome {
                body: Ok(body.into()),
                error: first.0,
                unfinished: None,
            }
        }
        RequestBody::ListOffsets(r) => blocking(b, w, move |b, e| list_offsets(b, r, e)).await,
        RequestBody::InitProducerId(r) => {
            blocking(b, w, move |b, e| init_producer_id(b, r, e)).await
        }
        // Group calls take the groups lock, which a commit holds while it
        // writes `__consumer_offsets`: all of them go to the blocking pool.
        RequestBody::JoinGroup(r) => blocking(b, w, move |b, e| groups::join(b, r, peer, e)).await,
        RequestBody::Heartbeat(r) => blocking(b, w, move |b, e| groups::heartbeat(b, r, e)).await,
        RequestBody::LeaveGroup(r) => blocking(b, w, move |b, e| groups::leave(b, r, e)).await,
        RequestBody::OffsetCommit(r) => blocking(b, w, move |b, e| groups::commit(b, r, e)).await,
        RequestBody::OffsetFetch(r) => {
            blocking(b, w, move |b, e| groups::fetch_offsets(b, r, e)).await
        }
        RequestBody::ListGroups(_) => blocking(b, w, groups::list).await,
        RequestBody::DescribeGroup(r) => {
            blocking(b, w, move |b, e| groups::describe(b, r, e)).await
        }
        RequestBody::ResetOffsets(r) => blocking(b, w, move |b, e| groups::reset(b, r, e)).await,
        RequestBody::DeleteGroups(r) => blocking(b, w, move |b, e| groups::delete(b, r, e)).await,
    }
}

fn durability(d: Durability) -> log::Durability {
    match d {
        Durability::None => log::Durability::None,
        Durability::Written => log::Durability::Written,
        Durability::Fsync => log::Durability::Fsync,
    }
}

/// Runs a produce on the blocking pool; one not done within its
/// `timeout_ms` (≥ 0; negative: no limit) is answered `REQUEST_TIMED_OUT`
/// for every partition, as Kafka answers a produce whose acknowledgement
/// did not come in time, whatever the disk does. An append cannot be
/// abandoned halfway, so it goes on: a timed-out produce may still be
/// stored, in part or whole (as in Kafka), and an idempotent producer's
/// retry is recognised as a duplicate. The timeout counts from the start
/// of the append, not time spent queued behind earlier produces of the
/// connection.
///
/// Every durability runs there, `written` too: its `write` lands in the
/// page cache and is usually quicker than the hand-off, but a stalled file
/// system blocks it (and the log's lock, which fetches of that partition
/// take), and on a runtime worker it would stall every connection the
/// worker serves, ApiVersions included.
async fn produce_within_timeout(b: &Broker, w: &Arc<DiskWatch>, req: ProduceRequest) -> Outcome {
    let Ok(ms) = u64::try_from(req.timeout_ms) else {
        return blocking(b, w, move |b, e| produce(b, req, e)).await;
    };
    let limit = Duration::from_millis(ms);
    let timed_out = timed_out_response(&req, req.timeout_ms);
    let (broker, watch) = (b.clone(), Arc::clone(w));
    let mut work =
        Box::pin(async move { blocking(&broker, &watch, move |b, e| produce(b, req, e)).await });
    match tokio::time::timeout(limit, &mut work).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => Outcome {
            body: Ok(timed_out.into()),
            error: Some(ErrorCode::RequestTimedOut),
            unfinished: Some(Box::pin(async move {
                let _ = work.await;
            })),
        },
    }
}

/// Every partition of `req` answered `REQUEST_TIMED_OUT`.
fn timed_out_response(req: &ProduceRequest, timeout_ms: i32) -> ProduceResponse {
    let message = format!(
        "not stored durably within timeout_ms = {timeout_ms}; the append goes on and may still be stored"
    );
    ProduceResponse {
        topics: req
            .topics
            .iter()
            .map(|t| ProduceTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ProducePartitionResponse {
                        partition: p.partition,
                        error_code: ErrorCode::RequestTimedOut,
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        error_message: Some(message.clone()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Appends each partition's raw batches in request order.
fn produce(b: &Broker, req: ProduceRequest, first: &mut FirstError) -> ProduceResponse {
    let d = durability(req.durability);
    let topics = req
        .topics
        .into_iter()
        .map(|t| ProduceTopicResponse {
            partitions: t
                .partitions
                .into_iter()
                .map(|p| {
                    let result = match partition_index(p.partition) {
                        // The broker rewrites each batch's base offset in
                        // place, so the frame's bytes are copied once here.
                        Some(index) => b.produce_raw(&t.name, index, &mut p.records.to_vec(), d),
                        None => Err(BrokerError::UnknownTopic {
                            topic: t.name.clone(),
                        }),
                    };
                    match result {
                        Ok(a) => ProducePartitionResponse {
                            partition: p.partition,
                            error_code: ErrorCode::None,
                            base_offset: a.base_offset,
                            log_append_time_ms: -1,
                            log_start_offset: a.log_start_offset,
                            error_message: None,
                        },
                        Err(e) => ProducePartitionResponse {
                            partition: p.partition,
                            error_code: first.broker(&e),
                            base_offset: -1,
                            log_append_time_ms: -1,
                            log_start_offset: -1,
                            error_message: Some(e.to_string()),
                        },
                    }
                })
                .collect(),
            name: t.name,
        })
        .collect();
    ProduceResponse { topics }
}

/// Long-poll fetch; ends early (with what is there) when `closing` turns true.
async fn fetch(
    shared: &Shared,
    closing: &watch::Receiver<bool>,
    version: i16,
    req: FetchRequest,
    first: &mut FirstError,
) -> FetchResponse {
    let cap = fetch_cap(shared.config.max_frame);
    let mut partitions = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            if let Some(index) = partition_index(p.partition) {
                partitions.push(broker::FetchPartition {
                    topic: t.name.clone(),
                    partition: index,
                    offset: p.fetch_offset,
                    max_bytes: clamp_len(p.partition_max_bytes, cap),
                });
            }
        }
    }
    let wait = Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0))
        .min(shared.config.max_fetch_wait);
    let request = broker::FetchRequest {
        partitions,
        max_wait: wait,
        min_bytes: clamp_len(req.min_bytes, usize::MAX),
        max_bytes: clamp_len(req.max_bytes, cap),
    };
    let broker = &shared.broker;
    let mut closing = closing.clone();
    // From v1 a group member's fetch is fenced by its epoch and woken by a
    // change of its assignment.
    let member = match (
        &req.group_id,
        version >= 1 && !req.member.0.member_id.is_empty(),
    ) {
        (Some(group), true) => Some(broker::MemberRef {
            group: group.clone(),
            member_id: req.member.0.member_id.clone(),
            member_epoch: req.member.0.member_epoch,
        }),
        _ => None,
    };
    let results = match &member {
        None if *closing.borrow() => Ok(broker.fetch_now(&request)),
        None => Ok(tokio::select! {
            r = broker.fetch(request.clone()) => r,
            _ = closing.wait_for(|c| *c) => broker.fetch_now(&request),
        }),
        Some(m) if *closing.borrow() => broker.fetch_now_as_member(m, &request),
        Some(m) => tokio::select! {
            r = broker.fetch_as_member(m, request.clone()) => r,
            _ = closing.wait_for(|c| *c) => broker.fetch_now_as_member(m, &request),
        },
    };
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            return FetchResponse {
                error_code: first.broker(&e),
                topics: Vec::new(),
            };
        }
    };
    let mut results = results.into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| FetchTopicResponse {
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let result = match partition_index(p.partition) {
                        Some(_) => results.next().map(|r| r.result),
                        None => None,
                    };
                    fetched(p.partition, result, first)
                })
                .collect(),
            name: t.name,
        })
        .collect();
    let mut response = FetchResponse {
        error_code: ErrorCode::None,
        topics,
    };
    fit_to_frame(&mut response, version, shared.config.max_frame, first);
    response
}

/// Bytes of a response header: correlation id and error code.
const RESPONSE_HEADER: usize = 4 + 2;

/// Keeps a fetch response within `max_frame`, which the broker alone does
/// not: it returns at least one whole batch per partition even past the
/// sizes asked for (as Kafka does), and a stored batch may be larger than a
/// frame (`max_batch_bytes` is 16 MiB by default, in-process produces are
/// not bound by the frame, and the frame maximum is 8 MiB).
///
/// In request order, each partition keeps the whole batches that fit in
/// the room left. A partition whose first batch would not fit even in a
/// response carrying nothing else is answered `MESSAGE_TOO_LARGE`, with
/// its high watermark and log start, instead of a frame the client would
/// refuse (closing the connection); one whose first batch fits alone but
/// not in the room left comes back empty, to be fetched again.
fn fit_to_frame(
    response: &mut FetchResponse,
    version: i16,
    max_frame: usize,
    first: &mut FirstError,
) {
    let mut records = Vec::new();
    for t in &mut response.topics {
        for p in &mut t.partitions {
            records.push(std::mem::take(&mut p.records));
        }
    }
    if records.iter().all(bytes::Bytes::is_empty) {
        return;
    }
    // Everything but the records: the body with every records field empty.
    let mut probe = crate::protocol::Encoder::new();
    response.encode(version, &mut probe);
    let alone = max_frame.saturating_sub(RESPONSE_HEADER + probe.encoded_len());
    let mut room = alone;
    let mut records = records.into_iter();
    for p in response.topics.iter_mut().flat_map(|t| &mut t.partitions) {
        let Some(data) = records.next() else { break };
        if data.len() <= room {
            room -= data.len();
            p.records = data;
        } else if first_batch_len(&data) > alone {
            p.error_code = first.note(ErrorCode::MessageTooLarge);
        } else {
            let keep = whole_batches_within(&data, room);
            room -= keep;
            p.records = data.slice(..keep);
        }
    }
}

/// Size of the first batch in `data` (all of `data` if no header parses).
fn first_batch_len(data: &[u8]) -> usize {
    match BatchHeader::parse(data) {
        Ok(Some(h)) => h.total_len(),
        _ => data.len(),
    }
}

/// Length of the longest run of whole batches at the start of `data` that fits in `room`.
fn whole_batches_within(data: &[u8], room: usize) -> usize {
    let mut at = 0;
    while let Ok(Some(h)) = BatchHeader::parse(&data[at..]) {
        let end = at + h.total_len();
        if end > room || end > data.len() {
            break;
        }
        at = end;
    }
    at
}

fn fetched(
    partition: i32,
    result: Option<Result<broker::FetchedData, BrokerError>>,
    first: &mut FirstError,
) -> FetchPartitionResponse {
    let empty = |code| FetchPartitionResponse {
        partition,
        error_code: code,
        high_watermark: -1,
        log_start_offset: -1,
        records: bytes::Bytes::new(),
    };
    match result {
        Some(Ok(d)) => FetchPartitionResponse {
            partition,
            error_code: ErrorCode::None,
            high_watermark: d.high_watermark,
            log_start_offset: d.log_start_offset,
            records: d.records,
        },
        Some(Err(e)) => {
            let code = first.broker(&e);
            match e {
                // The valid range lets the client reset its position.
                BrokerError::OffsetOutOfRange {
                    log_start_offset,
                    log_end_offset,
                    ..
                } => FetchPartitionResponse {
                    high_watermark: log_end_offset,
                    log_start_offset,
                    ..empty(code)
                },
                _ => empty(code),
            }
        }
        None => empty(first.note(ErrorCode::UnknownTopicOrPartition)),
    }
}

fn list_offsets(
    b: &Broker,
    req: ListOffsetsRequest,
    first: &mut FirstError,
) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| ListOffsetsTopicResponse {
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let answer = |error_code, timestamp, offset| ListOffsetsPartitionResponse {
                        partition: p.partition,
                        error_code,
                        timestamp,
                        offset,
                    };
                    let spec = match p.timestamp {
                        EARLIEST_TIMESTAMP => OffsetSpec::Earliest,
                        LATEST_TIMESTAMP => OffsetSpec::Latest,
                        ts if ts >= 0 => OffsetSpec::Timestamp(ts),
                        _ => return answer(first.note(ErrorCode::InvalidRequest), -1, -1),
                    };
                    let Some(index) = partition_index(p.partition) else {
                        return answer(first.note(ErrorCode::UnknownTopicOrPartition), -1, -1);
                    };
                    match b.list_offset(&t.name, index, spec) {
                        Ok(Some(offset)) => {
                            let ts = match spec {
                                OffsetSpec::Timestamp(_) => {
                                    record_timestamp(b, &t.name, index, offset)
                                }
                                _ => -1,
                            };
                            answer(ErrorCode::None, ts, offset)
                        }
                        Ok(None) => answer(ErrorCode::None, -1, -1),
                        Err(e) => answer(first.broker(&e), -1, -1),
                    }
                })
                .collect(),
            name: t.name,
        })
        .collect();
    ListOffsetsResponse { topics }
}

/// The timestamp of the record at `offset` (or the next one kept), -1 if unreadable.
fn record_timestamp(b: &Broker, topic: &str, partition: u32, offset: i64) -> i64 {
    let request = broker::FetchRequest::one(topic, partition, offset, 1);
    let Some(Ok(data)) = b.fetch_now(&request).pop().map(|f| f.result) else {
        return -1;
    };
    let Ok(Some(h)) = BatchHeader::parse(&data.records) else {
        return -1;
    };
    let end = h.total_len().min(data.records.len());
    RecordBatch::new(data.records.slice(..end))
        .and_then(|batch| batch.records())
        .ok()
        .and_then(|records| records.into_iter().find(|r| r.offset >= offset))
        .map_or(-1, |r| r.timestamp)
}

fn init_producer_id(
    b: &Broker,
    req: InitProducerIdRequest,
    first: &mut FirstError,
) -> InitProducerIdResponse {
    let existing = (req.producer_id >= 0).then_some(ProducerIdAndEpoch {
        producer_id: req.producer_id,
        epoch: req.producer_epoch,
    });
    match b.init_producer_id(existing) {
        Ok(id) => InitProducerIdResponse {
            error_code: ErrorCode::None,
            producer_id: id.producer_id,
            producer_epoch: id.epoch,
        },
        Err(e) => InitProducerIdResponse {
            error_code: first.broker(&e),
            producer_id: -1,
            producer_epoch: -1,
        },
    }
}
