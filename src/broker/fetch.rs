//! Fetching: stored batches returned unchanged as `Bytes`, from many
//! partitions at once, with Kafka's long-poll (wait up to `max_wait` for
//! `min_bytes`), woken by each partition's end-offset watch rather than by
//! polling; and list offsets (earliest, latest, by timestamp).
//!
//! Reads are page-cache reads of the log (never an fsync), so the async
//! fetch runs them on the caller's task. Knows nothing of groups.

use super::Broker;
use super::error::BrokerError;
use super::metrics::add;
use crate::record::{BatchHeader, Record, RecordBatch, RecordError};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::watch;

/// One partition of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// First offset wanted.
    pub offset: i64,
    /// Most bytes wanted from this partition (at least one batch is returned).
    pub max_bytes: usize,
}

/// A fetch of many partitions (Kafka's Fetch request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Partitions and offsets.
    pub partitions: Vec<FetchPartition>,
    /// Longest wait for `min_bytes` (zero: answer at once).
    pub max_wait: Duration,
    /// Bytes that end the wait early.
    pub min_bytes: usize,
    /// Most bytes over all partitions (the first non-empty partition always gets one batch).
    pub max_bytes: usize,
}

impl FetchRequest {
    /// A fetch of one partition from `offset`, answering at once.
    pub fn one(topic: &str, partition: u32, offset: i64, max_bytes: usize) -> FetchRequest {
        FetchRequest {
            partitions: vec![FetchPartition {
                topic: topic.to_owned(),
                partition,
                offset,
                max_bytes,
            }],
            max_wait: Duration::ZERO,
            min_bytes: 1,
            max_bytes,
        }
    }
}

/// What one partition returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedData {
    /// Whole stored batches, unchanged (the first may start before the offset asked for).
    pub records: Bytes,
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// The partition's first readable offset.
    pub log_start_offset: i64,
}

/// One partition's result of a fetch.
#[derive(Debug)]
pub struct FetchedPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Data, or why there is none (out-of-range errors carry the valid range).
    pub result: Result<FetchedData, BrokerError>,
}

/// Which offset `list_offset` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (the next offset).
    Latest,
    /// The first offset whose record timestamp is ≥ this (ms).
    Timestamp(i64),
}

/// Decodes every record of the whole batches in `bytes` (as a fetch returns them).
///
/// # Errors
/// A [`RecordError`] if a batch is invalid.
pub fn decode_records(bytes: &Bytes) -> Result<Vec<Record>, RecordError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(h) = BatchHeader::parse(&bytes[at..])? else {
            break;
        };
        let end = at + h.total_len();
        if end > bytes.len() {
            break;
        }
        out.extend(RecordBatch::new(bytes.slice(at..end))?.records()?);
        at = end;
    }
    Ok(out)
}

/// Records and bytes of the whole batches in `bytes`, for the counters.
fn count_batches(bytes: &[u8]) -> u64 {
    let mut records = 0u64;
    let mut at = 0;
    while let Ok(Some(h)) = BatchHeader::parse(&bytes[at..]) {
        records += h.record_count.max(0) as u64;
        at += h.total_len();
        if at >= bytes.len() {
            break;
        }
    }
    records
}

impl Broker {
    /// Reads what is there now for every partition of `request`, without
    /// waiting.
    pub fn fetch_now(&self, request: &FetchRequest) -> Vec<FetchedPartition> {
        add(&self.shared.metrics.fetch_requests, 1);
        let mut budget = request.max_bytes;
        let mut any = false;
        let mut out = Vec::with_capacity(request.partitions.len());
        for fp in &request.partitions {
            let result = self.partition(&fp.topic, fp.partition).and_then(|p| {
                let max = fp.max_bytes.min(budget);
                if any && max == 0 {
                    return Ok(FetchedData {
                        records: Bytes::new(),
                        high_watermark: p.log.log_end_offset(),
                        log_start_offset: p.log.log_start_offset(),
                    });
                }
                let r = p
                    .log
                    .read(fp.offset, max)
                    .map_err(|e| BrokerError::from_log(&fp.topic, fp.partition, e))?;
                if !r.bytes.is_empty() {
                    any = true;
                    budget = budget.saturating_sub(r.bytes.len());
                    add(&p.metrics.bytes_out, r.bytes.len() as u64);
                    add(&p.metrics.records_out, count_batches(&r.bytes));
                }
                Ok(FetchedData {
                    records: r.bytes,
                    high_watermark: r.log_end_offset,
                    log_start_offset: r.log_start_offset,
                })
            });
            if result.is_err() {
                add(&self.shared.metrics.fetch_errors, 1);
            }
            out.push(FetchedPartition {
                topic: fp.topic.clone(),
                partition: fp.partition,
                result,
            });
        }
        out
    }

    /// Fetches with Kafka's long-poll: answers as soon as the partitions
    /// hold at least `min_bytes` from the offsets asked for, any partition
    /// fails, or `max_wait` (real time, on tokio's timer) has passed. Woken
    /// by appends; never polls.
    pub async fn fetch(&self, request: FetchRequest) -> Vec<FetchedPartition> {
        let deadline = tokio::time::Instant::now() + request.max_wait;
        loop {
            // Subscribe before reading, so an append between the read and
            // the wait still wakes us.
            let mut watches: Vec<watch::Receiver<i64>> = request
                .partitions
                .iter()
                .filter_map(|fp| self.partition(&fp.topic, fp.partition).ok())
                .map(|p| p.end.subscribe())
                .collect();
            let result = self.fetch_off_worker(&request).await;
            let bytes: usize = result
                .iter()
                .map(|r| r.result.as_ref().map_or(0, |d| d.records.len()))
                .sum();
            let failed = result.iter().any(|r| r.result.is_err());
            if failed
                || bytes >= request.min_bytes.max(1)
                || watches.is_empty()
                || self.check_open().is_err()
                || tokio::time::Instant::now() >= deadline
            {
                return result;
            }
            let any_change = any_changed(&mut watches);
            if tokio::time::timeout_at(deadline, any_change).await.is_err() {
                return self.fetch_off_worker(&request).await;
            }
        }
    }

    /// [`Broker::fetch_now`] on tokio's blocking pool: a read may wait for
    /// a log's lock that an append stuck on a stalled disk holds, and must
    /// not take an async worker (and every connection it serves) with it.
    async fn fetch_off_worker(&self, request: &FetchRequest) -> Vec<FetchedPartition> {
        let (broker, req) = (self.clone(), request.clone());
        match tokio::task::spawn_blocking(move || broker.fetch_now(&req)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: read here rather than answer nothing.
            Err(_) => self.fetch_now(request),
        }
    }

    /// The offset `spec` names in `topic`-`partition`; `None` when no record
    /// has a timestamp at or after the one asked for.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::UnknownPartition`], or a log error.
    pub fn list_offset(
        &self,
        topic: &str,
        partition: u32,
        spec: OffsetSpec,
    ) -> Result<Option<i64>, BrokerError> {
        let p = self.partition(topic, partition)?;
        match spec {
            OffsetSpec::Earliest => Ok(Some(p.log.log_start_offset())),
            OffsetSpec::Latest => Ok(Some(p.log.log_end_offset())),
            OffsetSpec::Timestamp(ts) => p
                .log
                .offset_for_timestamp(ts)
                .map_err(|e| BrokerError::from_log(topic, partition, e)),
        }
    }
}

/// Resolves when any of `watches` sees a new value or loses its sender.
async fn any_changed(watches: &mut [watch::Receiver<i64>]) {
    let mut futures: Vec<Pin<Box<dyn Future<Output = _> + Send + '_>>> = watches
        .iter_mut()
        .map(|w| Box::pin(w.changed()) as Pin<Box<dyn Future<Output = _> + Send>>)
        .collect();
    std::future::poll_fn(|cx| {
        for f in &mut futures {
            if f.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}
