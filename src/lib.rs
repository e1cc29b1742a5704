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
