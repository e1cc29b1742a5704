//! The in-process client API over [`crate::broker::Broker`]: a batching,
//! idempotent [`Producer`] and a group [`Consumer`]. They call only the
//! broker's public API, exactly as the network client will over TCP.
//!
//! Both are blocking, like the broker's produce: call them from plain
//! threads, or from async code through `spawn_blocking`.
//!
//! ```
//! use logbus::broker::client::{Consumer, ConsumerConfig, Producer, ProducerConfig};
//! use logbus::broker::{Broker, BrokerConfig, ProduceRecord, Subscription, TopicConfig};
//! use logbus::log::Durability;
//!
//! let broker = Broker::open(BrokerConfig::in_memory())?;
//! broker.create_topic("payments", TopicConfig::with_partitions(2))?;
//! let producer = Producer::new(
//!     &broker,
//!     ProducerConfig { durability: Durability::Fsync, ..ProducerConfig::default() },
//! )?;
//! let sent = producer.send_all(
//!     "payments",
//!     vec![ProduceRecord::keyed("acct-1", "+10"), ProduceRecord::keyed("acct-1", "-3")],
//! )?;
//! assert_eq!(sent[0].partition, sent[1].partition, "one key, one partition");
//!
//! let topics = Subscription::Topics(vec!["payments".into()]);
//! let mut consumer = Consumer::join(&broker, ConsumerConfig::new("ledger", topics))?;
//! assert_eq!(consumer.assignment().len(), 2, "the only member owns both partitions");
//! let values: Vec<_> = consumer.poll()?.into_iter().filter_map(|r| r.value).collect();
//! assert_eq!(values, ["+10", "-3"]);
//! consumer.commit()?; // what poll returned; a restarted member resumes after it
//! consumer.close()?; // leaves at once: other members take over its partitions
//! # Ok::<(), logbus::broker::BrokerError>(())
//! ```

mod consumer;
mod producer;

pub use consumer::{ConsumedRecord, Consumer, ConsumerConfig, StartFrom};
pub use producer::{Producer, ProducerConfig};
