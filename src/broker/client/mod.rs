//! The in-process client API over [`crate::broker::Broker`]: a batching,
//! idempotent [`Producer`] and a group [`Consumer`]. They call only the
//! broker's public API, exactly as the network client will over TCP.

mod consumer;
mod producer;

pub use consumer::{ConsumedRecord, Consumer, ConsumerConfig, StartFrom};
pub use producer::{Producer, ProducerConfig};
