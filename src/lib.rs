//! logbus: Kafka's model in one crate. Topics split into partitions, each
//! partition a segmented append-only log of Kafka RecordBatch v2 batches.
//!
//! Layers, leaves first: [`record`] (the batch format), [`clock`] and
//! [`partitioner`] ← [`log`] (segments, indexes, recovery) ← [`broker`] ←
//! [`server`] (native TCP), [`admin`]; [`protocol`] is the pure codec of the
//! native TCP protocol, used by [`server`] and by [`client`] (the async
//! network client, which knows protocol, record and partitioner only);
//! [`kafka_codec`] is the pure codec of Kafka's own wire protocol;
//! [`admin`] is the read-only HTTP face over the broker, and [`observe`] the
//! leaf seam through which request timings reach it.
//!
//! # Start here
//!
//! A broker in memory, a topic, an idempotent producer and a consumer group
//! member that commits what it read; [`broker::BrokerConfig::dir`] keeps the
//! data on disk instead.
//!
//! ```
//! use logbus::broker::client::{Consumer, ConsumerConfig, Producer, ProducerConfig};
//! use logbus::broker::{Broker, BrokerConfig, ProduceRecord, Subscription, TopicConfig};
//!
//! let broker = Broker::open(BrokerConfig::in_memory())?;
//! broker.create_topic("orders", TopicConfig::with_partitions(3))?;
//!
//! let producer = Producer::new(&broker, ProducerConfig::default())?;
//! // A key always maps to the same partition, so its records keep their order.
//! let placed = producer.send("orders", ProduceRecord::keyed("alice", "created"))?;
//! producer.send("orders", ProduceRecord::keyed("alice", "paid"))?;
//!
//! let topics = Subscription::Topics(vec!["orders".into()]);
//! let mut consumer = Consumer::join(&broker, ConsumerConfig::new("billing", topics))?;
//! let records = consumer.poll()?;
//! let values: Vec<&[u8]> = records.iter().filter_map(|r| r.value.as_deref()).collect();
//! assert_eq!(values, [&b"created"[..], b"paid"]);
//! assert_eq!(records[0].partition, placed.partition);
//! consumer.commit()?; // the group resumes after these records
//! consumer.close()?;
//! broker.close()?;
//! # Ok::<(), logbus::broker::BrokerError>(())
//! ```
//!
//! What an embedder should know:
//! - The default `cli` feature only builds the `logbus` binary; depend on
//!   the crate with `default-features = false` for the library alone. The
//!   zstd codec compiles C: a C compiler must be on the path as `cc`.
//! - [`broker::Broker`]'s plain methods block on disk I/O: from async code
//!   use their `*_async` forms or `spawn_blocking`. The waiting API, the
//!   [`server`] and the [`client`] run on the caller's tokio runtime; the
//!   library starts none and installs no allocator, logger or registry.
//! - One broker per data directory (it takes a lock); `close` lets the next
//!   open skip recovery.
//! - The same broker serves over TCP ([`server::start`], reached with
//!   [`client`]) and, in `logbus serve --kafka`, to Kafka clients.
//!
//! Kafka compatibility today: records are Kafka's RecordBatch v2 byte for
//! byte, on disk and on the wire; keys pick Kafka's partitions; the Kafka
//! listener serves the APIs listed in `docs/kafka.md` (no transactions).
//! `docs/design.md` states the decisions behind all of this.
#![deny(unsafe_code)]

pub mod admin;
pub mod broker;
pub mod client;
pub mod clock;
pub mod kafka;
pub mod kafka_codec;
pub mod log;
pub mod observe;
pub mod partitioner;
pub mod protocol;
pub mod record;
pub mod server;
