//! A partition's log: segments, indexes, recovery and retention.
//!
//! It knows nothing of tokio, sockets or the broker; it writes only through
//! the [`storage`] seam and reads time only from a [`crate::clock::Clock`].

pub mod storage;
