//! In-process broker throughput against the bare log, measured in the same
//! run (issue 4's goal: the broker keeps ≥ 80% of the log's append rate).
//!
//! - `produce/<size>/<n>p/log`: `Log::append` of pre-built batches of 100
//!   records (the reference);
//! - `produce/<size>/<n>p/broker_raw`: `Broker::produce_raw` of the same
//!   batches (what the network face does);
//! - `produce/<size>/<n>p/producer`: `Producer::send_all` of 100 records
//!   (builds the batch too: idempotent, one batch per call);
//! - `consume/<size>/{log,broker_fetch,consumer}`: reading everything back.
//!
//! All at `written` durability on the file system. Run:
//! `cargo bench --bench broker -- --warm-up-time 1 --measurement-time 3`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logbus::broker::client::{Consumer, ConsumerConfig, Producer, ProducerConfig};
use logbus::broker::{
    Broker, BrokerConfig, FetchRequest, ProduceRecord, Subscription, TopicConfig,
};
use logbus::clock::SystemClock;
use logbus::log::storage::FileStorage;
use logbus::log::{Durability, Log, LogConfig};
use logbus::record::{BatchBuilder, Compression};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PER_BATCH: usize = 100;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 20,
        retention_bytes: Some(256 << 20),
        ..LogConfig::default()
    }
}

fn batch(size: usize) -> Vec<u8> {
    let value = vec![b'x'; size];
    let mut b = BatchBuilder::new(Compression::None);
    for _ in 0..PER_BATCH {
        b.append(0, None, Some(&value), &[]).unwrap();
    }
    b.build().unwrap()
}

fn records(size: usize, i: usize) -> Vec<ProduceRecord> {
    let value = bytes::Bytes::from(vec![b'x'; size]);
    (0..PER_BATCH)
        .map(|_| ProduceRecord::new(value.clone()).partition(i as u32))
        .collect()
}

/// Runs `f(thread, iterations)` on `threads` threads and times them together.
fn parallel(threads: usize, iters: u64, f: impl Fn(usize, u64) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || f(t, iters));
        }
    });
    start.elapsed()
}

fn produce(c: &mut Criterion) {
    for size in [100usize, 1024] {
        for threads in [1usize, 4] {
            let mut group = c.benchmark_group(format!("produce/{size}B/{threads}p"));
            group.throughput(Throughput::Elements((PER_BATCH * threads) as u64));
            let template = batch(size);

            let dir = tempfile::tempdir().unwrap();
            let logs: Vec<Log> = (0..threads)
                .map(|t| {
                    Log::open(
                        Arc::new(FileStorage::new()),
                        dir.path().join(format!("log-{t}")),
                        log_config(),
                        Arc::new(SystemClock),
                    )
                    .unwrap()
                })
                .collect();
            group.bench_function(BenchmarkId::from_parameter("log"), |b| {
                b.iter_custom(|iters| {
                    parallel(threads, iters, |t, n| {
                        let mut buf = template.clone();
                        for i in 0..n {
                            logs[t].append(&mut buf, Durability::Written).unwrap();
                            if i % 2048 == 2047 {
                                logs[t].apply_retention().unwrap();
                            }
                        }
                    })
                })
            });

            let bdir = tempfile::tempdir().unwrap();
            let broker = Broker::open(BrokerConfig::dir(bdir.path())).unwrap();
            let config = TopicConfig {
                partitions: threads as u32,
                log: log_config(),
                ..TopicConfig::default()
            };
            broker.create_topic("t", config).unwrap();
            group.bench_function(BenchmarkId::from_parameter("broker_raw"), |b| {
                b.iter_custom(|iters| {
                    let d = parallel(threads, iters, |t, n| {
                        let mut buf = template.clone();
                        for _ in 0..n {
                            broker
                                .produce_raw("t", t as u32, &mut buf, Durability::Written)
                                .unwrap();
                        }
                    });
                    broker.tick().unwrap();
                    d
                })
            });
            let producers: Vec<Producer> = (0..threads)
                .map(|_| Producer::new(&broker, ProducerConfig::default()).unwrap())
                .collect();
            group.bench_function(BenchmarkId::from_parameter("producer"), |b| {
                b.iter_custom(|iters| {
                    let d = parallel(threads, iters, |t, n| {
                        for _ in 0..n {
                            producers[t].send_all("t", records(size, t)).unwrap();
                        }
                    });
                    broker.tick().unwrap();
                    d
                })
            });
            group.finish();
        }
    }
}

fn consume(c: &mut Criterion) {
    for size in [100usize, 1024] {
        let mut group = c.benchmark_group(format!("consume/{size}B"));
        // Each iteration reads the whole 16 MiB-ish partition from the start.
        let batches = (16 << 20) / (size * PER_BATCH);
        group.throughput(Throughput::Elements((batches * PER_BATCH) as u64));
        group.sample_size(20);
        let template = batch(size);

        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            Arc::new(FileStorage::new()),
            dir.path().join("log"),
            log_config(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let bdir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig::dir(bdir.path())).unwrap();
        let config = TopicConfig {
            log: log_config(),
            ..TopicConfig::default()
        };
        broker.create_topic("t", config).unwrap();
        for _ in 0..batches {
            log.append(&mut template.clone(), Durability::Written)
                .unwrap();
            broker
                .produce_raw("t", 0, &mut template.clone(), Durability::Written)
                .unwrap();
        }
        let end = log.log_end_offset();

        group.bench_function("log", |b| {
            b.iter(|| {
                let mut next = 0;
                while next < end {
                    let r = log.read(next, 1 << 20).unwrap();
                    next = last_offset(&r.bytes) + 1;
                }
            })
        });
        group.bench_function("broker_fetch", |b| {
            b.iter(|| {
                let mut next = 0;
                while next < end {
                    let r = broker.fetch_now(&FetchRequest::one("t", 0, next, 1 << 20));
                    let data = r.into_iter().next().unwrap().result.unwrap();
                    next = last_offset(&data.records) + 1;
                }
            })
        });
        group.bench_function("consumer", |b| {
            let mut n = 0;
            b.iter(|| {
                n += 1;
                let mut config = ConsumerConfig::new(format!("g{n}"), Subscription::topic("t"));
                config.max_poll_records = 100_000;
                let mut consumer = Consumer::join(&broker, config).unwrap();
                let mut got = 0;
                while got < batches * PER_BATCH {
                    got += consumer.poll().unwrap().len();
                }
                consumer.close().unwrap();
            })
        });
        group.finish();
    }
}

fn last_offset(bytes: &[u8]) -> i64 {
    let mut at = 0;
    let mut last = -1;
    while let Ok(Some(h)) = logbus::record::BatchHeader::parse(&bytes[at..]) {
        last = h.last_offset();
        at += h.total_len();
        if at >= bytes.len() {
            break;
        }
    }
    last
}

criterion_group!(benches, produce, consume);
criterion_main!(benches);
