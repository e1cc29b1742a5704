//! Producing: records to partitions (explicit, keyed by murmur2, or
//! sticky), one record batch per partition per call, and raw RecordBatch v2
//! bytes per partition as the network faces send them. Idempotent batches
//! are checked against the partition's producer state under the same lock
//! as their append, so a retry is answered with its original offsets.
//!
//! Every function here blocks (a log may fsync); the `*_async` wrappers run
//! them on tokio's blocking pool. Knows nothing of groups.

use super::error::BrokerError;
use super::metrics::add;
use super::partitioner::{advance_sticky, partition_for_key, sticky_partition};
use super::producer_state::{SequenceCheck, SequenceProblem};
use super::topic::Partition;
use super::{Broker, lock};
use crate::log::Durability;
use crate::record::{self, BatchBuilder, BatchHeader, Compression, Header};
use bytes::Bytes;
use std::collections::BTreeMap;

/// One record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    /// Key; decides the partition unless `partition` is set.
    pub key: Option<Bytes>,
    /// Value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Create time in ms; `None` takes the broker clock's time.
    pub timestamp: Option<i64>,
    /// Explicit partition, overriding key and sticky partitioning.
    pub partition: Option<u32>,
}

impl ProduceRecord {
    /// A record with a value and no key.
    pub fn new(value: impl Into<Bytes>) -> ProduceRecord {
        ProduceRecord {
            value: Some(value.into()),
            ..ProduceRecord::default()
        }
    }

    /// A record with a key and a value.
    pub fn keyed(key: impl Into<Bytes>, value: impl Into<Bytes>) -> ProduceRecord {
        ProduceRecord {
            key: Some(key.into()),
            value: Some(value.into()),
            ..ProduceRecord::default()
        }
    }

    /// A tombstone: a key with a null value. On a compacted topic it
    /// deletes the key once compaction has passed it.
    ///
    /// ```
    /// use logbus::broker::ProduceRecord;
    ///
    /// let delete = ProduceRecord::tombstone("alice");
    /// assert_eq!(delete.key.as_deref(), Some(&b"alice"[..]));
    /// assert!(delete.value.is_none());
    /// ```
    pub fn tombstone(key: impl Into<Bytes>) -> ProduceRecord {
        ProduceRecord {
            key: Some(key.into()),
            value: None,
            ..ProduceRecord::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> ProduceRecord {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// Sets the create time.
    pub fn timestamp(mut self, ms: i64) -> ProduceRecord {
        self.timestamp = Some(ms);
        self
    }

    /// Sends the record to partition `p`.
    pub fn partition(mut self, p: u32) -> ProduceRecord {
        self.partition = Some(p);
        self
    }
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Its timestamp.
    pub timestamp: i64,
}

/// Where an append of raw batches to one partition landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionAppend {
    /// Offset of the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record of the last batch.
    pub last_offset: i64,
    /// The partition's log start offset after the append.
    pub log_start_offset: i64,
    /// Whether every batch was an idempotent retry already stored (nothing appended).
    pub duplicate: bool,
}

/// Headers of each batch in `buf`, with their byte ranges; `None` if the
/// buffer does not split into whole batches (the log then reports why).
fn split_headers(buf: &[u8]) -> Option<Vec<(std::ops::Range<usize>, BatchHeader)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let h = BatchHeader::parse(&buf[at..]).ok()??;
        let end = at.checked_add(h.total_len())?;
        if end > buf.len() {
            return None;
        }
        out.push((at..end, h));
        at = end;
    }
    Some(out)
}

impl Broker {
    /// Chooses the partition of a record of `topic`: explicit, else by key
    /// (Kafka's murmur2), else the sticky partition.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], or [`BrokerError::UnknownPartition`]
    /// for an explicit partition out of range.
    pub fn partition_for(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        explicit: Option<u32>,
    ) -> Result<u32, BrokerError> {
        let t = self.topic(topic)?;
        let n = t.partition_count();
        match (explicit, key) {
            (Some(p), _) if p >= n => Err(BrokerError::UnknownPartition {
                topic: topic.to_owned(),
                partition: p,
                partitions: n,
            }),
            (Some(p), _) => Ok(p),
            (None, Some(k)) => Ok(partition_for_key(k, n)),
            (None, None) => Ok(sticky_partition(&t.sticky, n)),
        }
    }

    /// Produces `records` to `topic`: each goes to its explicit partition,
    /// its key's murmur2 partition, or (unkeyed) the topic's sticky
    /// partition; the records of one partition are appended as one batch.
    /// Returns (partition, offset, timestamp) per record, in input order.
    /// Not atomic across partitions: on an error, batches of partitions
    /// appended before it stay.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`] (unless auto-creation is on),
    /// [`BrokerError::UnknownPartition`], [`BrokerError::EmptyProduce`],
    /// [`BrokerError::InvalidRecord`], or a log error.
    pub fn produce(
        &self,
        topic: &str,
        records: Vec<ProduceRecord>,
        durability: Durability,
    ) -> Result<Vec<RecordMetadata>, BrokerError> {
        add(&self.shared.metrics.produce_requests, 1);
        let result = self.produce_inner(topic, records, durability);
        if let Err(e) = &result {
            add(&self.shared.metrics.produce_errors, 1);
            super::warn_storage("produce failed", e);
        }
        result
    }

    fn produce_inner(
        &self,
        topic: &str,
        records: Vec<ProduceRecord>,
        durability: Durability,
    ) -> Result<Vec<RecordMetadata>, BrokerError> {
        if records.is_empty() {
            return Err(BrokerError::EmptyProduce {
                topic: topic.to_owned(),
            });
        }
        if topic == super::OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: topic.to_owned(),
            });
        }
        let t = self.topic_or_auto_create(topic)?;
        let durability = t.durability(durability);
        let n = t.partition_count();
        let sticky = sticky_partition(&t.sticky, n);
        let (by_partition, used_sticky) = group_by_partition(topic, &records, n, sticky)?;
        if used_sticky {
            advance_sticky(&t.sticky);
        }
        let now = self.shared.clock.now_ms();
        let mut out = vec![
            RecordMetadata {
                partition: 0,
                offset: -1,
                timestamp: -1
            };
            records.len()
        ];
        for (p, indices) in by_partition {
            let invalid = |source| BrokerError::InvalidRecord {
                topic: topic.to_owned(),
                partition: p,
                source,
            };
            let mut batch = build_batch(
                BatchBuilder::new(Compression::None),
                &records,
                &indices,
                now,
                &mut out,
            )
            .map_err(invalid)?;
            let partition = t.partition(p)?;
            let appended = self.append_to(&partition, &mut batch, durability)?;
            for (k, &i) in indices.iter().enumerate() {
                out[i].partition = p;
                out[i].offset = appended.base_offset + k as i64;
            }
        }
        Ok(out)
    }

    /// Appends raw RecordBatch v2 bytes (one or more whole batches) to one
    /// partition, as the network faces receive them: each batch is
    /// validated, gets its offsets, and is stored unchanged otherwise.
    /// Batches carrying a producer id are checked for idempotence: a retry
    /// returns the original offsets and appends nothing.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::UnknownPartition`],
    /// [`BrokerError::InvalidRecord`], [`BrokerError::EmptyProduce`],
    /// [`BrokerError::OutOfOrderSequence`], [`BrokerError::ProducerFenced`],
    /// [`BrokerError::InternalTopic`], or a log error.
    pub fn produce_raw(
        &self,
        topic: &str,
        partition: u32,
        batches: &mut [u8],
        durability: Durability,
    ) -> Result<PartitionAppend, BrokerError> {
        add(&self.shared.metrics.produce_requests, 1);
        let result = if topic == super::OFFSETS_TOPIC {
            Err(BrokerError::InternalTopic {
                topic: topic.to_owned(),
            })
        } else {
            self.topic_or_auto_create(topic).and_then(|t| {
                let p = t.partition(partition)?;
                self.append_to(&p, batches, t.durability(durability))
            })
        };
        if let Err(e) = &result {
            add(&self.shared.metrics.produce_errors, 1);
            super::warn_storage("produce failed", e);
        }
        result
    }

    /// [`Broker::produce`] on tokio's blocking pool, so an fsync never
    /// stalls a runtime worker.
    ///
    /// # Errors
    /// As [`Broker::produce`], or [`BrokerError::TaskFailed`].
    pub async fn produce_async(
        &self,
        topic: String,
        records: Vec<ProduceRecord>,
        durability: Durability,
    ) -> Result<Vec<RecordMetadata>, BrokerError> {
        let broker = self.clone();
        tokio::task::spawn_blocking(move || broker.produce(&topic, records, durability))
            .await
            .map_err(|source| BrokerError::TaskFailed { source })?
    }

    /// [`Broker::produce_raw`] on tokio's blocking pool.
    ///
    /// # Errors
    /// As [`Broker::produce_raw`], or [`BrokerError::TaskFailed`].
    pub async fn produce_raw_async(
        &self,
        topic: String,
        partition: u32,
        mut batches: Vec<u8>,
        durability: Durability,
    ) -> Result<PartitionAppend, BrokerError> {
        let broker = self.clone();
        tokio::task::spawn_blocking(move || {
            broker.produce_raw(&topic, partition, &mut batches, durability)
        })
        .await
        .map_err(|source| BrokerError::TaskFailed { source })?
    }

    /// Appends `buf` to `partition` under its producer-state lock; an fsync,
    /// if asked, happens after the lock is released so concurrent producers
    /// share it (the log's group commit).
    pub(crate) fn append_to(
        &self,
        partition: &Partition,
        buf: &mut [u8],
        durability: Durability,
    ) -> Result<PartitionAppend, BrokerError> {
        let (topic, index) = (partition.topic.as_str(), partition.index);
        let log_err = |e| BrokerError::from_log(topic, index, e);
        let headers = split_headers(buf);
        let idempotent = headers
            .as_ref()
            .is_some_and(|hs| hs.iter().any(|(_, h)| h.producer_id >= 0));
        let mut producers = lock(&partition.producers);
        let (base_offset, last_offset, appended_records, appended_bytes, duplicate) = if !idempotent
        {
            let info = partition
                .log
                .append(buf, Durability::Written)
                .map_err(log_err)?;
            let records = headers.as_ref().map_or(0, |hs| {
                hs.iter().map(|(_, h)| h.record_count.max(0) as u64).sum()
            });
            (
                info.first_offset,
                info.last_offset,
                records,
                buf.len() as u64,
                false,
            )
        } else {
            let headers = headers.unwrap_or_default();
            let (mut first, mut last) = (None, -1);
            let (mut records, mut bytes, mut all_dup) = (0, 0, true);
            for (range, h) in headers {
                let (f, l) = if h.producer_id < 0 {
                    let info = partition
                        .log
                        .append(&mut buf[range.clone()], Durability::Written)
                        .map_err(log_err)?;
                    (info.first_offset, info.last_offset)
                } else {
                    record::validate(&buf[range.clone()]).map_err(|source| {
                        BrokerError::InvalidRecord {
                            topic: topic.to_owned(),
                            partition: index,
                            source,
                        }
                    })?;
                    match producers.check(&h) {
                        Ok(SequenceCheck::Duplicate {
                            first_offset,
                            last_offset,
                        }) => {
                            add(&self.shared.metrics.duplicate_batches, 1);
                            first.get_or_insert(first_offset);
                            last = last_offset;
                            continue;
                        }
                        Ok(SequenceCheck::Append) => {}
                        Err(SequenceProblem::Fenced { current_epoch }) => {
                            return Err(BrokerError::ProducerFenced {
                                producer_id: h.producer_id,
                                epoch: h.producer_epoch,
                                current_epoch,
                            });
                        }
                        Err(SequenceProblem::OutOfOrder { expected, received }) => {
                            return Err(BrokerError::OutOfOrderSequence {
                                topic: topic.to_owned(),
                                partition: index,
                                producer_id: h.producer_id,
                                expected,
                                received,
                            });
                        }
                    }
                    let info = partition
                        .log
                        .append(&mut buf[range.clone()], Durability::Written)
                        .map_err(log_err)?;
                    let mut stored = h;
                    stored.base_offset = info.first_offset;
                    producers.record(&stored, info.first_offset, info.last_offset);
                    (info.first_offset, info.last_offset)
                };
                all_dup = false;
                records += h.record_count.max(0) as u64;
                bytes += range.len() as u64;
                first.get_or_insert(f);
                last = l;
            }
            (first.unwrap_or(-1), last, records, bytes, all_dup)
        };
        drop(producers);
        let end = last_offset + 1;
        partition.end.send_if_modified(|v| {
            let moved = end > *v;
            if moved {
                *v = end;
            }
            moved
        });
        if durability == Durability::Fsync && !duplicate {
            partition.log.flush().map_err(log_err)?;
        }
        add(&partition.metrics.records_in, appended_records);
        add(&partition.metrics.bytes_in, appended_bytes);
        Ok(PartitionAppend {
            base_offset,
            last_offset,
            log_start_offset: partition.log.log_start_offset(),
            duplicate,
        })
    }
}

/// Groups record indexes by target partition: an explicit partition wins,
/// then `murmur2` of the key, then the sticky partition (which the caller
/// advances when the second value says it was used).
///
/// # Errors
/// [`BrokerError::UnknownPartition`] for an explicit partition ≥ `n`.
pub(crate) fn group_by_partition(
    topic: &str,
    records: &[ProduceRecord],
    n: u32,
    sticky: u32,
) -> Result<(BTreeMap<u32, Vec<usize>>, bool), BrokerError> {
    let mut by_partition: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut used_sticky = false;
    for (i, r) in records.iter().enumerate() {
        let p = match (r.partition, &r.key) {
            (Some(p), _) if p >= n => {
                return Err(BrokerError::UnknownPartition {
                    topic: topic.to_owned(),
                    partition: p,
                    partitions: n,
                });
            }
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, n),
            (None, None) => {
                used_sticky = true;
                sticky
            }
        };
        by_partition.entry(p).or_default().push(i);
    }
    Ok((by_partition, used_sticky))
}

/// Builds one batch of `records[indices]`, stamping each record without a
/// timestamp with `now` and noting the timestamp used in `out`.
///
/// # Errors
/// What the builder reports (an offset or a field out of range).
pub(crate) fn build_batch(
    mut builder: BatchBuilder,
    records: &[ProduceRecord],
    indices: &[usize],
    now: i64,
    out: &mut [RecordMetadata],
) -> Result<Vec<u8>, record::RecordError> {
    for &i in indices {
        let r = &records[i];
        let ts = r.timestamp.unwrap_or(now);
        builder.append(ts, r.key.as_deref(), r.value.as_deref(), &r.headers)?;
        out[i].timestamp = ts;
    }
    builder.build()
}
