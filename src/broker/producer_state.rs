//! Idempotent producers' state per partition, as Kafka keeps it: for each
//! producer id its epoch and the sequence ranges and offsets of its last
//! five batches, so a retried batch is recognised and answered with its
//! original offsets, a gap is refused and an old epoch is fenced.
//!
//! The state survives restarts through snapshot files (`producer_snapshot.rs`):
//! on open the newest valid snapshot is loaded and the log after it is
//! replayed batch header by batch header; without one, the whole log is.
//! So deduplication holds whatever was appended between a batch and its
//! retry.
//!
//! Knows batch headers and the log's read API; nothing of topics or groups.

use crate::log::{Log, LogError};
use crate::record::BatchHeader;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer and partition (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub const MAX_CACHED_BATCHES: usize = 5;

/// Where one producer batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// One producer's epoch and its last batches, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMeta>,
}

/// What to do with an incoming producer batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already stored: answer with these offsets, append nothing.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// Why a producer batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceProblem {
    OutOfOrder { expected: i32, received: i32 },
    Fenced { current_epoch: i16 },
}

/// `seq + delta` with Kafka's wrap from `i32::MAX` to 0.
fn add_seq(seq: i32, delta: i32) -> i32 {
    if seq > i32::MAX - delta {
        delta - (i32::MAX - seq) - 1
    } else {
        seq + delta
    }
}

fn last_seq(h: &BatchHeader) -> i32 {
    add_seq(h.base_sequence, h.last_offset_delta.max(0))
}

/// Every producer's recent batches in one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProducerStates {
    pub(super) producers: HashMap<i64, ProducerEntry>,
    /// The offset of the newest snapshot written or loaded (0: none): the
    /// periodic work writes another once a segment rolled past it.
    pub(super) snapshot_offset: i64,
}

impl ProducerStates {
    /// Decides what to do with batch `h` of a producer (`h.producer_id >= 0`).
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, SequenceProblem> {
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown (new, or its state expired): accept where it starts.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SequenceProblem::Fenced {
                current_epoch: entry.epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            // A bumped epoch restarts the sequence at 0.
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceProblem::OutOfOrder {
                    expected: 0,
                    received: h.base_sequence,
                })
            };
        }
        let last = last_seq(h);
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
        {
            return Ok(SequenceCheck::Duplicate {
                first_offset: b.first_offset,
                last_offset: b.last_offset,
            });
        }
        let expected = entry.batches.back().map_or(0, |b| add_seq(b.last_seq, 1));
        if h.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(SequenceProblem::OutOfOrder {
                expected,
                received: h.base_sequence,
            })
        }
    }

    /// Remembers batch `h`, stored at `first_offset..=last_offset`.
    pub fn record(&mut self, h: &BatchHeader, first_offset: i64, last_offset: i64) {
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert(ProducerEntry {
                epoch: h.producer_epoch,
                batches: VecDeque::with_capacity(MAX_CACHED_BATCHES),
            });
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == MAX_CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            first_offset,
            last_offset,
        });
    }

    /// Replays the batches of `log` from `from` to its end into the state.
    ///
    /// # Errors
    /// A read error of the log.
    pub fn replay(&mut self, log: &Log, from: i64) -> Result<(), LogError> {
        let mut next = from.max(log.log_start_offset());
        loop {
            let read = match log.read(next, 1 << 20) {
                // The log logged and counted it; its reads keep failing
                // until it is skipped, but the broker still starts.
                Err(LogError::Damaged { range, .. }) => {
                    next = range.end_offset.max(next + 1);
                    continue;
                }
                read => read?,
            };
            if read.bytes.is_empty() {
                return Ok(());
            }
            let (mut at, before) = (0, next);
            while at < read.bytes.len() {
                let Ok(Some(h)) = BatchHeader::parse(&read.bytes[at..]) else {
                    break;
                };
                if h.producer_id >= 0 && !h.is_control() && h.last_offset() >= next {
                    self.record(&h, h.base_offset, h.last_offset());
                }
                next = next.max(h.last_offset() + 1);
                at += h.total_len();
            }
            if next == before {
                // The log returns whole batches it validated; one that does
                // not parse here cannot be stepped over.
                return Err(LogError::InvalidBatch {
                    position: 0,
                    source: crate::record::RecordError::Truncated {
                        needed: crate::record::HEADER_LEN,
                        available: read.bytes.len(),
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};

    fn header(pid: i64, epoch: i16, seq: i32, n: usize, base: i64) -> BatchHeader {
        let mut b = BatchBuilder::new(Compression::None)
            .base_offset(base)
            .producer(pid, epoch, seq);
        for _ in 0..n {
            b.append(0, None, Some(b"v"), &[]).unwrap();
        }
        BatchHeader::parse(&b.build().unwrap()).unwrap().unwrap()
    }

    #[test]
    fn in_order_batches_append_and_a_retry_is_a_duplicate() {
        let mut s = ProducerStates::default();
        let a = header(7, 0, 0, 3, 0);
        assert_eq!(s.check(&a), Ok(SequenceCheck::Append));
        s.record(&a, 10, 12);
        let b = header(7, 0, 3, 2, 0);
        assert_eq!(s.check(&b), Ok(SequenceCheck::Append));
        s.record(&b, 13, 14);
        assert_eq!(
            s.check(&a),
            Ok(SequenceCheck::Duplicate {
                first_offset: 10,
                last_offset: 12
            })
        );
        assert_eq!(
            s.check(&header(7, 0, 9, 1, 0)),
            Err(SequenceProblem::OutOfOrder {
                expected: 5,
                received: 9
            })
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            let h = header(1, 0, i, 1, 0);
            s.record(&h, i64::from(i), i64::from(i));
        }
        // The first batch fell out of the window: it is now out of order.
        assert!(matches!(
            s.check(&header(1, 0, 0, 1, 0)),
            Err(SequenceProblem::OutOfOrder { .. })
        ));
        assert!(matches!(
            s.check(&header(1, 0, 1, 1, 0)),
            Ok(SequenceCheck::Duplicate { .. })
        ));
    }

    #[test]
    fn an_old_epoch_is_fenced_and_a_new_epoch_restarts_at_zero() {
        let mut s = ProducerStates::default();
        s.record(&header(1, 3, 0, 1, 0), 0, 0);
        assert_eq!(
            s.check(&header(1, 2, 1, 1, 0)),
            Err(SequenceProblem::Fenced { current_epoch: 3 })
        );
        assert_eq!(s.check(&header(1, 4, 0, 1, 0)), Ok(SequenceCheck::Append));
        assert!(s.check(&header(1, 4, 5, 1, 0)).is_err());
    }

    #[test]
    fn sequences_wrap_at_i32_max_as_kafka() {
        assert_eq!(add_seq(i32::MAX, 1), 0);
        assert_eq!(add_seq(i32::MAX - 1, 3), 1);
        assert_eq!(add_seq(5, 3), 8);
    }
}
