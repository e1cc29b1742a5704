//! The async network client of the native protocol: a pipelined
//! connection ([`Client`]) with a method per api, an idempotent batching
//! [`Producer`] that retries over dropped connections, and a group
//! [`Consumer`].
//!
//! It knows the `protocol` codec, the `record` format and the key
//! `partitioner` only — never the broker, which it reaches over TCP
//! (docs/design.md §8) — and runs on the caller's tokio runtime.
//!
//! A broker served on a free loopback port, a producer and a group member
//! reading over TCP:
//!
//! ```
//! use logbus::broker::{Broker, BrokerConfig};
//! use logbus::client::{Client, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let broker = Broker::open(BrokerConfig::in_memory())?;
//!     let server = logbus::server::start("127.0.0.1:0", broker, Default::default()).await?;
//!     let addr = server.local_addr().to_string();
//!
//!     let client = Client::connect(&addr).await?;
//!     client.create_topic("orders", 3, Default::default()).await?;
//!     let producer = Producer::connect(&addr, ProducerConfig::default()).await?;
//!     let delivery = producer.send(ProducerRecord::new("orders", "hello").key("k")).await?;
//!     let meta = delivery.await?; // acknowledged at the producer's durability
//!     producer.close().await?;
//!
//!     let config = ConsumerConfig::new("billing", ["orders"]);
//!     let mut consumer = Consumer::join(Client::connect(&addr).await?, config).await?;
//!     let records = consumer.poll(Duration::from_secs(5)).await?;
//!     assert_eq!((records[0].partition, records[0].offset), (meta.partition, meta.offset));
//!     consumer.commit().await?; // the group resumes after this record
//!     consumer.leave().await?;
//!     server.shutdown().await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })
//! # }
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
