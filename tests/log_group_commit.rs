//! Group commit: concurrent `fsync` appends share one fsync.

mod common;

mod gated;

use common::batch;
use gated::{Gate, GatedStorage};
use logbus::clock::ManualClock;
use logbus::log::storage::MemoryStorage;
use logbus::log::{Durability, LogConfig};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Counts fsyncs of `.log` files and can hold them until released.
#[test]
fn concurrent_fsync_appends_share_one_fsync() {
    let gate = Arc::new(Gate::default());
    let storage = Arc::new(GatedStorage {
        inner: MemoryStorage::new(),
        gate: Arc::clone(&gate),
    });
    let clock = ManualClock::new(0);
    let log = Arc::new(common::open(
        storage,
        Path::new("/d/t-0"),
        LogConfig::default(),
        &clock,
    ));
    gate.set_closed(true);
    let before = gate.syncs.load(Ordering::SeqCst);

    // The first appender becomes the leader and is held inside its fsync.
    let leader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            log.append(&mut batch("first", 1, 1), Durability::Fsync)
                .unwrap()
        })
    };
    gate.wait_for_waiters(1);
    // Seven more append while the leader's fsync is in flight, then wait for durability.
    let followers: Vec<_> = (0..7)
        .map(|i| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                log.append(&mut batch(&format!("f{i}"), 1, 1), Durability::Fsync)
                    .unwrap()
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.log_end_offset() < 8 {
        assert!(Instant::now() < deadline, "followers did not append");
        std::thread::yield_now();
    }
    gate.set_closed(false);
    leader.join().unwrap();
    for f in followers {
        f.join().unwrap();
    }
    // One fsync for the leader's batch, one shared by all seven followers.
    assert_eq!(gate.syncs.load(Ordering::SeqCst) - before, 2);
}
