//! Storage-engine benchmarks (issue 2): append throughput by record size,
//! batch size and durability; sequential reads; recovery of a 1 GiB log;
//! and a side-by-side run against the `commitlog` crate.
//!
//! Run: `cargo bench --bench log` (the first run builds in release: minutes).
//! Data goes to `$LOGBUS_BENCH_DIR` (default: the system temp dir) — put it
//! on the disk you want to measure, and compare with the references this
//! bench measures in the same run (memcpy, page-cache writes) rather than
//! with figures of another session.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logbus::clock::SystemClock;
use logbus::log::storage::FileStorage;
use logbus::log::{Durability, Log, LogConfig};
use logbus::record::{
    BatchBuilder, BatchHeader, Compression, RecordViews, record_bytes, verify_crc,
};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("LOGBUS_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn open(dir: &Path, config: LogConfig) -> Log {
    Log::open(
        Arc::new(FileStorage::new()),
        dir,
        config,
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// One uncompressed batch of `records` records with `size`-byte values.
fn batch(records: usize, size: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    let value = vec![0x42u8; size];
    for _ in 0..records {
        builder
            .append(1_700_000_000_000, None, Some(&value), &[])
            .unwrap();
    }
    builder.build().unwrap()
}

/// Keeps the benchmark's disk use bounded between samples.
fn bounded() -> LogConfig {
    LogConfig {
        segment_bytes: 256 << 20,
        retention_bytes: Some(1 << 30),
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for size in [100usize, 1024] {
        for records in [1usize, 100, 1000] {
            let template = batch(records, size);
            group.throughput(Throughput::Bytes(template.len() as u64));
            let id = BenchmarkId::new(format!("written/{size}B"), format!("batch{records}"));
            group.bench_function(id, |b| {
                let dir = bench_dir();
                let log = open(dir.path(), bounded());
                let mut buf = template.clone();
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        log.append(black_box(&mut buf), Durability::Written)
                            .unwrap();
                    }
                    let elapsed = start.elapsed();
                    log.apply_retention().unwrap();
                    elapsed
                });
            });
            // fsync with 8 concurrent writers: group commit shares the fsyncs.
            let writers = 8;
            group.throughput(Throughput::Bytes((template.len() * writers) as u64));
            let id = BenchmarkId::new(format!("fsync8/{size}B"), format!("batch{records}"));
            group.bench_function(id, |b| {
                let dir = bench_dir();
                let log = Arc::new(open(dir.path(), bounded()));
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..writers {
                            let log = Arc::clone(&log);
                            let mut buf = template.clone();
                            s.spawn(move || {
                                for _ in 0..iters {
                                    log.append(&mut buf, Durability::Fsync).unwrap();
                                }
                            });
                        }
                    });
                    let elapsed = start.elapsed();
                    log.apply_retention().unwrap();
                    elapsed
                });
            });
        }
    }
    group.finish();
}

/// Fills a log with `bytes` of 1 KiB records in batches of 100.
fn fill(log: &Log, bytes: u64) {
    let mut buf = batch(100, 1024);
    let mut written = 0;
    while written < bytes {
        log.append(&mut buf, Durability::Written).unwrap();
        written += buf.len() as u64;
    }
}

fn read(c: &mut Criterion) {
    let dir = bench_dir();
    let log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 256 << 20,
            ..LogConfig::default()
        },
    );
    fill(&log, 512 << 20);
    let mut group = c.benchmark_group("read");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Bytes(log.size_bytes()));
    group.bench_function("sequential_1MiB_fetches", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut bytes = 0;
            loop {
                let r = log.read(offset, 1 << 20).unwrap();
                if r.bytes.is_empty() {
                    break;
                }
                let mut at = 0;
                while let Ok(Some(h)) = BatchHeader::parse(&r.bytes[at..]) {
                    offset = h.next_offset();
                    at += h.total_len();
                }
                bytes += r.bytes.len();
            }
            black_box(bytes)
        });
    });
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let dir = bench_dir();
    // One 1 GiB active segment: after a crash all of it lies past the
    // recovery point, so every open scans (and CRC-checks) the whole GiB —
    // the worst case. With rolled segments only the tail past the last roll
    // would be scanned.
    let config = LogConfig {
        segment_bytes: 2 << 30,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config.clone());
    fill(&log, 1 << 30);
    drop(log);
    let mut group = c.benchmark_group("reopen_1GiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("after_crash", |b| {
        // Dropping without `close` leaves no clean marker: every open scans.
        b.iter(|| drop(black_box(open(dir.path(), config.clone()))));
    });
    group.bench_function("after_clean_shutdown", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                open(dir.path(), config.clone()).close().unwrap();
                let start = Instant::now();
                let log = black_box(open(dir.path(), config.clone()));
                total += start.elapsed();
                drop(log);
            }
            total
        });
    });
    group.finish();
}

const PEER_RECORDS: usize = 1_000_000;
const PEER_BATCH: usize = 100;

fn peer(c: &mut Criterion) {
    let mut group = c.benchmark_group("peer_1M_100B_batch100");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(PEER_RECORDS as u64));

    let template = batch(PEER_BATCH, 100);
    group.bench_function("logbus_append_written", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = bench_dir();
                let log = open(dir.path(), LogConfig::default());
                let mut buf = template.clone();
                let start = Instant::now();
                for _ in 0..PEER_RECORDS / PEER_BATCH {
                    log.append(&mut buf, Durability::Written).unwrap();
                }
                total += start.elapsed();
            }
            total
        });
    });
    let message_buf = || {
        let mut buf = commitlog::message::MessageBuf::default();
        for _ in 0..PEER_BATCH {
            buf.push(vec![0x42u8; 100]).unwrap();
        }
        buf
    };
    group.bench_function("commitlog_append", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = bench_dir();
                let mut log =
                    commitlog::CommitLog::new(commitlog::LogOptions::new(dir.path())).unwrap();
                let mut buf = message_buf();
                let start = Instant::now();
                for _ in 0..PEER_RECORDS / PEER_BATCH {
                    log.append(&mut buf).unwrap();
                }
                total += start.elapsed();
            }
            total
        });
    });

    let dir = bench_dir();
    let log = open(dir.path(), LogConfig::default());
    let mut buf = template.clone();
    for _ in 0..PEER_RECORDS / PEER_BATCH {
        log.append(&mut buf, Durability::Written).unwrap();
    }
    group.bench_function("logbus_read_batches", |b| {
        b.iter(|| {
            let (mut offset, mut records) = (0i64, 0usize);
            loop {
                let r = log.read(offset, 1 << 20).unwrap();
                if r.bytes.is_empty() {
                    break;
                }
                let mut at = 0;
                while let Ok(Some(h)) = BatchHeader::parse(&r.bytes[at..]) {
                    records += h.record_count as usize;
                    offset = h.next_offset();
                    at += h.total_len();
                }
            }
            assert_eq!(records, PEER_RECORDS);
        });
    });
    group.bench_function("logbus_read_records", |b| {
        b.iter(|| {
            let (mut offset, mut records) = (0i64, 0usize);
            loop {
                let r = log.read(offset, 1 << 20).unwrap();
                if r.bytes.is_empty() {
                    break;
                }
                let mut at = 0;
                while let Ok(Some(h)) = BatchHeader::parse(&r.bytes[at..]) {
                    // What a consumer does: check the CRC, then walk the
                    // records in place (Kafka's `check.crcs`, on by default).
                    let batch = &r.bytes[at..at + h.total_len()];
                    verify_crc(batch).unwrap();
                    let run = record_bytes(batch, &h, 1 << 20).unwrap();
                    for record in RecordViews::new(&run, &h) {
                        black_box(record.unwrap().value);
                        records += 1;
                    }
                    offset = h.next_offset();
                    at += h.total_len();
                }
            }
            assert_eq!(records, PEER_RECORDS);
        });
    });

    let peer_dir = bench_dir();
    let mut peer_log =
        commitlog::CommitLog::new(commitlog::LogOptions::new(peer_dir.path())).unwrap();
    let mut buf = message_buf();
    for _ in 0..PEER_RECORDS / PEER_BATCH {
        peer_log.append(&mut buf).unwrap();
    }
    group.bench_function("commitlog_read", |b| {
        use commitlog::message::MessageSet;
        b.iter(|| {
            let (mut offset, mut records) = (0u64, 0usize);
            loop {
                let msgs = peer_log
                    .read(offset, commitlog::ReadLimit::max_bytes(1 << 20))
                    .unwrap();
                if msgs.bytes().is_empty() {
                    break;
                }
                for m in msgs.iter() {
                    black_box(m.payload());
                    offset = m.offset() + 1;
                    records += 1;
                }
            }
            assert_eq!(records, PEER_RECORDS);
        });
    });
    group.finish();
}

/// References measured in the same run: memcpy bandwidth (for reads) and
/// page-cache write bandwidth with 1 MiB `write`s (for `written` appends),
/// as `dd if=/dev/zero of=F bs=1M` does.
fn references(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    let src = vec![0x5au8; 256 << 20];
    let mut dst = vec![0u8; 256 << 20];
    group.throughput(Throughput::Bytes(src.len() as u64));
    group.bench_function("memcpy_256MiB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        });
    });
    let chunk = vec![0u8; 1 << 20];
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    // What a read pays to verify a fetched 1 MiB of batches (CRC-32C).
    group.bench_function("crc32c_1MiB", |b| {
        b.iter(|| black_box(crc32c::crc32c(black_box(&chunk))));
    });
    group.bench_function("memcpy_1MiB", |b| {
        let mut dst = vec![0u8; chunk.len()];
        b.iter(|| {
            dst.copy_from_slice(black_box(&chunk));
            black_box(&dst);
        });
    });
    group.bench_function("page_cache_write_1MiB", |b| {
        use std::io::Write;
        let dir = bench_dir();
        let path = dir.path().join("dd");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut written = 0u64;
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                file.write_all(black_box(&chunk)).unwrap();
            }
            let elapsed = start.elapsed();
            // Stay within ~1 GiB like the logs above (outside the timing, as
            // their retention is), so both meet the same writeback.
            written += iters * chunk.len() as u64;
            if written >= 1 << 30 {
                file = std::fs::File::create(&path).unwrap();
                written = 0;
            }
            elapsed
        });
    });
    group.finish();
}

criterion_group!(benches, references, append, read, recovery, peer);
criterion_main!(benches);
