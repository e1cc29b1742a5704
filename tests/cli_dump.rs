//! `logbus dump DIR` as a subprocess: it lists every batch of a partition
//! directory and exits non-zero when it finds damage.

mod common;

use common::{batch, open};
use logbus::clock::ManualClock;
use logbus::log::storage::FileStorage;
use logbus::log::{Durability, LogConfig};
use std::process::Command;
use std::sync::Arc;

fn dump(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_logbus"))
        .arg("dump")
        .arg(dir)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn dump_lists_batches_and_flags_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(
        Arc::new(FileStorage::new()),
        dir.path(),
        LogConfig::default(),
        &clock,
    );
    log.append(&mut batch("a", 3, 1_000), Durability::Written)
        .unwrap();
    log.append(&mut batch("b", 2, 2_000), Durability::Written)
        .unwrap();
    log.close().unwrap();

    let (ok, text) = dump(dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("offset 0..=2 "), "{text}");
    assert!(text.contains("offset 3..=4 "), "{text}");
    assert!(text.contains("max_ts 2000"), "{text}");
    assert!(text.contains("2 batches, 0 damaged"), "{text}");

    let segment = dir.path().join("00000000000000000000.log");
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 5]).unwrap();
    let (ok, text) = dump(dir.path());
    assert!(!ok);
    assert!(text.contains("torn tail"), "{text}");
}

#[test]
fn dump_of_a_missing_directory_fails_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_logbus"))
        .args(["dump", "/nonexistent/logbus-dir"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot list /nonexistent/logbus-dir"));
}
