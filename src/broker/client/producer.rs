//! The in-process producer: batches every call's records into one record
//! batch per partition, stamped with its idempotent producer id, epoch and
//! per-partition sequence, and returns where each record landed. Knows the
//! broker's API only; it is blocking, like the broker's produce.

use crate::broker::produce::{build_batch, group_by_partition};
use crate::broker::{
    Broker, BrokerError, PartitionAppend, ProduceRecord, ProducerIdAndEpoch, RecordMetadata, lock,
};
use crate::log::Durability;
use crate::record::{BatchBuilder, Compression};
use std::collections::HashMap;
use std::sync::Mutex;

/// How a [`Producer`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Durability every send waits for.
    pub durability: Durability,
    /// Use an idempotent producer id so retries never duplicate.
    pub idempotent: bool,
    /// Codec of the batches.
    pub compression: Compression,
    /// Most records per batch; a larger send is split.
    pub max_batch_records: usize,
}

impl Default for ProducerConfig {
    fn default() -> ProducerConfig {
        ProducerConfig {
            durability: Durability::Written,
            idempotent: true,
            compression: Compression::None,
            max_batch_records: 10_000,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Next sequence per (topic, partition).
    sequences: HashMap<(String, u32), i32>,
    /// The sticky partition per topic for unkeyed records.
    sticky: HashMap<String, u32>,
}

/// A batching, idempotent producer; share it by reference across threads
/// (sends of one producer are serialised, keeping its per-partition order).
#[derive(Debug)]
pub struct Producer {
    broker: Broker,
    config: ProducerConfig,
    id: Option<ProducerIdAndEpoch>,
    state: Mutex<State>,
}

/// Kafka's sequence arithmetic: wraps from `i32::MAX` to 0.
fn next_sequence(seq: i32, records: usize) -> i32 {
    ((i64::from(seq) + records as i64) % (i64::from(i32::MAX) + 1)) as i32
}

impl Producer {
    /// A producer on `broker`; an idempotent one gets its id now.
    ///
    /// # Errors
    /// Whatever [`Broker::init_producer_id`] returns.
    pub fn new(broker: &Broker, config: ProducerConfig) -> Result<Producer, BrokerError> {
        let id = if config.idempotent {
            Some(broker.init_producer_id(None)?)
        } else {
            None
        };
        Ok(Producer {
            broker: broker.clone(),
            config,
            id,
            state: Mutex::default(),
        })
    }

    /// The producer's id and epoch, if idempotent.
    pub fn producer_id(&self) -> Option<ProducerIdAndEpoch> {
        self.id
    }

    /// Sends one record.
    ///
    /// # Errors
    /// As [`Producer::send_all`].
    pub fn send(&self, topic: &str, record: ProduceRecord) -> Result<RecordMetadata, BrokerError> {
        Ok(self.send_all(topic, vec![record])?[0])
    }

    /// Sends records, one batch per partition (split at `max_batch_records`),
    /// and returns where each landed, in input order. Records of one key keep
    /// their order. Not atomic across partitions.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::UnknownPartition`],
    /// [`BrokerError::EmptyProduce`], [`BrokerError::ProducerFenced`], or
    /// any other produce error.
    pub fn send_all(
        &self,
        topic: &str,
        records: Vec<ProduceRecord>,
    ) -> Result<Vec<RecordMetadata>, BrokerError> {
        if records.is_empty() {
            return Err(BrokerError::EmptyProduce {
                topic: topic.to_owned(),
            });
        }
        let n = self.broker.topic_or_auto_create(topic)?.partition_count();
        let mut state = lock(&self.state);
        let sticky = *state.sticky.entry(topic.to_owned()).or_default() % n;
        let (by_partition, used_sticky) = group_by_partition(topic, &records, n, sticky)?;
        if used_sticky {
            // Fill one batch, then move on (KIP-480).
            state.sticky.insert(topic.to_owned(), sticky + 1);
        }
        let now = self.broker.clock().now_ms();
        let mut out = vec![
            RecordMetadata {
                partition: 0,
                offset: -1,
                timestamp: -1,
            };
            records.len()
        ];
        for (p, indices) in by_partition {
            for chunk in indices.chunks(self.config.max_batch_records.max(1)) {
                let key = (topic.to_owned(), p);
                let seq = state.sequences.get(&key).copied().unwrap_or(0);
                let mut builder = BatchBuilder::new(self.config.compression);
                if let Some(id) = self.id {
                    builder = builder.producer(id.producer_id, id.epoch, seq);
                }
                let invalid = |source| BrokerError::InvalidRecord {
                    topic: topic.to_owned(),
                    partition: p,
                    source,
                };
                let mut batch =
                    build_batch(builder, &records, chunk, now, &mut out).map_err(invalid)?;
                let PartitionAppend { base_offset, .. } =
                    self.broker
                        .produce_raw(topic, p, &mut batch, self.config.durability)?;
                if self.id.is_some() {
                    state.sequences.insert(key, next_sequence(seq, chunk.len()));
                }
                for (k, &i) in chunk.iter().enumerate() {
                    out[i].partition = p;
                    out[i].offset = base_offset + k as i64;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::next_sequence;

    #[test]
    fn sequences_wrap_to_zero_after_i32_max() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }
}
