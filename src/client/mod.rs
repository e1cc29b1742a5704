//! The async network client of the native protocol: a pipelined
//! connection ([`Client`]) with a method per api, an idempotent batching
//! [`Producer`] that retries over dropped connections, and a group
//! [`Consumer`].
//!
//! It knows the `protocol` codec, the `record` format and the key
//! `partitioner` only — never the broker, which it reaches over TCP
//! (design §8) — and runs on the caller's tokio runtime.
//!
//! ```no_run
//! # async fn demo() -> Result<(), logbus::client::ClientError> {
//! use logbus::client::{Client, Producer, ProducerConfig, ProducerRecord};
//! let client = Client::connect("127.0.0.1:7171").await?;
//! client.create_topic("orders", 3, Default::default()).await?;
//! let producer = Producer::connect("127.0.0.1:7171", ProducerConfig::default()).await?;
//! let delivery = producer.send(ProducerRecord::new("orders", "hello").key("k")).await?;
//! let meta = delivery.await?; // acknowledged at the producer's durability
//! println!("{}-{}@{}", meta.topic, meta.partition, meta.offset);
//! # Ok(()) }
//! ```

mod api;
mod connection;
mod consumer;
mod error;
mod link;
mod producer;
mod records;

pub use api::{OffsetQuery, Request};
pub use connection::{Client, ClientConfig};
pub use consumer::{ConsumedRecord, Consumer, ConsumerConfig, StartFrom};
pub use error::ClientError;
pub use producer::{Delivery, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
pub use records::decode_batches;

pub use crate::protocol::{Durability, ErrorCode, ResetTarget, TopicConfig};
