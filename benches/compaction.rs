//! Cleaning throughput: MB/s of dirty log read by one cleaning round, for
//! 100-byte values over 10k and 1M distinct keys, on the file system (a
//! temp dir: reads come from the page cache, as `dd` of a cached file).
//! Also prints the offset map's peak memory per key.
//!
//! Each iteration restores the dirty log from a template directory (outside
//! the timing) and times one `clean_once`.
//!
//! Run: `cargo bench --bench compaction -- --warm-up-time 1 --measurement-time 5`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use logbus::clock::ManualClock;
use logbus::log::cleaner::{OffsetMap, SLOT_BYTES};
use logbus::log::storage::{FileStorage, Storage};
use logbus::log::{CleanerConfig, CleanupPolicy, Durability, Log, LogConfig};
use logbus::record::{BatchBuilder, Compression};
use std::path::Path;
use std::sync::Arc;

const RECORDS: usize = 1_000_000;
const PER_BATCH: usize = 1_000;
const VALUE: [u8; 100] = [b'v'; 100];

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 32 << 20,
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> Log {
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    Log::open(storage, dir, config(), Arc::new(ManualClock::new(0))).expect("open")
}

/// Writes RECORDS records over `keys` keys into `dir` and closes the log.
fn write_template(dir: &Path, keys: usize) {
    let log = open(dir);
    for b in 0..RECORDS / PER_BATCH {
        let mut builder = BatchBuilder::new(Compression::None);
        for i in 0..PER_BATCH {
            let key = format!("key-{:08}", (b * PER_BATCH + i) % keys);
            builder
                .append(b as i64, Some(key.as_bytes()), Some(&VALUE), &[])
                .unwrap();
        }
        let mut bytes = builder.build().unwrap();
        log.append(&mut bytes, Durability::Written).unwrap();
    }
    log.roll().unwrap();
    log.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn cleaning(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("clean_once");
    group.sample_size(10);
    for keys in [10_000usize, 1_000_000] {
        let template = root.path().join(format!("template-{keys}"));
        write_template(&template, keys);
        let work = root.path().join(format!("work-{keys}"));
        // One untimed round for the figures the bench reports besides time.
        copy_dir(&template, &work);
        let stats = open(&work)
            .clean_once(&CleanerConfig::default())
            .unwrap()
            .unwrap();
        println!(
            "keys={keys}: dirty {} B, read {} B, written {} B, map {} keys, map table {} B = {:.1} B/key \
             (slot {SLOT_BYTES} B; a map bounded at exactly {keys} keys peaks at {:.1} B/key)",
            stats.dirty_bytes,
            stats.bytes_read,
            stats.bytes_written,
            stats.keys,
            stats.map_bytes,
            stats.map_bytes as f64 / stats.keys as f64,
            OffsetMap::max_bytes(keys) as f64 / keys as f64,
        );
        group.throughput(Throughput::Bytes(stats.dirty_bytes));
        group.bench_function(format!("100B_values_{keys}_keys"), |b| {
            b.iter_batched(
                || {
                    copy_dir(&template, &work);
                    open(&work)
                },
                |log| log.clean_once(&CleanerConfig::default()).unwrap().unwrap(),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, cleaning);
criterion_main!(benches);
