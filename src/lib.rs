//! logbus: Kafka's model in one crate. Topics split into partitions, each
//! partition a segmented append-only log of Kafka RecordBatch v2 batches.
//!
//! Layers, leaves first: [`record`] (the batch format) and [`clock`] ←
//! [`log`] (segments, indexes, recovery) ← broker ← server, client, [`admin`];
//! [`protocol`] is the pure codec of the native TCP protocol; [`observe`] is
//! the leaf seam through which the server reports requests to the admin face.
#![deny(unsafe_code)]

pub mod admin;
pub mod broker;
pub mod clock;
pub mod log;
pub mod observe;
pub mod protocol;
pub mod record;
