//! Cross-checks logbus's RecordBatch v2 codec against kafka-python, an
//! implementation we did not write, in both directions.
//!
//! - kafka-python → logbus: `tests/fixtures/kafka-python/` (or the directory in
//!   `LOGBUS_KAFKA_PYTHON_FIXTURES`) holds batches built by kafka-python's
//!   `DefaultRecordBatchBuilder` and its own reading of them as JSON
//!   (`tests/kafka_python/make_fixtures.py`). We decode each and compare every
//!   field, and re-encode the uncompressed ones, expecting the same bytes.
//! - logbus → kafka-python: we build a varied set of batches and describe
//!   what we put in them in the same JSON shape. With `LOGBUS_ENCODED_DIR` set
//!   they are written there for `tests/kafka_python/check_ours.py`; a copy is
//!   committed under `tests/fixtures/logbus-encoded/` and checked here.
//!
//! `bash tests/kafka_python/check.sh` runs the whole loop with a fresh venv.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use logbus::record::{BatchBuilder, Compression, Header, Record, RecordBatch};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000_000;

fn manifest_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every `NAME.json` in `dir` with its `NAME.bin`, sorted by name.
fn read_fixtures(dir: &Path) -> Vec<(String, Vec<u8>, Value)> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bin = fs::read(dir.join(format!("{name}.bin"))).unwrap();
            let text = fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
            (name, bin, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Bytes {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn opt_hex(v: Option<&[u8]>) -> Value {
    v.map_or(Value::Null, |b| Value::String(hex(b)))
}

fn opt_bytes(v: &Value) -> Option<Bytes> {
    v.as_str().map(unhex)
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("field {field} missing or not an integer"))
}

/// Our reading of a batch, in the JSON shape make_fixtures.py writes.
/// `appended` are the timestamps records were appended with (not decodable
/// from a log-append-time batch, so taken from the description).
fn describe(batch: &RecordBatch, appended: &[i64]) -> Value {
    let h = batch.header();
    let records = batch.records().unwrap();
    assert_eq!(records.len(), appended.len());
    json!({
        "base_offset": h.base_offset,
        "batch_length": h.batch_length,
        "partition_leader_epoch": h.partition_leader_epoch,
        "magic": h.magic,
        "crc": h.crc,
        "attributes": h.attributes,
        "compression": batch.compression().code(),
        "timestamp_type": i32::from(h.is_log_append_time()),
        "is_transactional": h.is_transactional(),
        "is_control": h.is_control(),
        "last_offset_delta": h.last_offset_delta,
        "base_timestamp": h.base_timestamp,
        "max_timestamp": h.max_timestamp,
        "producer_id": h.producer_id,
        "producer_epoch": h.producer_epoch,
        "base_sequence": h.base_sequence,
        "record_count": h.record_count,
        "records": records.iter().zip(appended).map(|(r, ts)| json!({
            "offset": r.offset,
            "timestamp": r.timestamp,
            "appended_timestamp": ts,
            "key": opt_hex(r.key.as_deref()),
            "value": opt_hex(r.value.as_deref()),
            "headers": r.headers.iter().map(|h| json!({
                "key": h.key,
                "value": opt_hex(h.value.as_deref()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn appended_timestamps(desc: &Value) -> Vec<i64> {
    desc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| int(r, "appended_timestamp"))
        .collect()
}

fn kafka_python_dir() -> PathBuf {
    std::env::var_os("LOGBUS_KAFKA_PYTHON_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_path("tests/fixtures/kafka-python"))
}

/// Compares two descriptions field by field, naming the first difference.
fn assert_same(name: &str, ours: &Value, theirs: &Value) {
    let (ours, theirs) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
    let mut keys: Vec<&String> = ours.keys().chain(theirs.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if key == "records" {
            continue;
        }
        assert_eq!(ours.get(key), theirs.get(key), "{name}: header field {key}");
    }
    let (ours, theirs) = (
        ours["records"].as_array().unwrap(),
        theirs["records"].as_array().unwrap(),
    );
    assert_eq!(ours.len(), theirs.len(), "{name}: record count");
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(o, t, "{name}: record {i}");
    }
}

#[test]
fn kafka_python_fixtures_decode_field_for_field() {
    let fixtures = read_fixtures(&kafka_python_dir());
    assert!(
        fixtures.len() >= 10,
        "expected the kafka-python fixture set"
    );
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(
            fixtures.iter().any(|(n, _, _)| n.starts_with(codec)),
            "no kafka-python fixture for {codec}"
        );
    }
    for (name, bin, theirs) in &fixtures {
        let batch = RecordBatch::new(Bytes::from(bin.clone()))
            .unwrap_or_else(|e| panic!("{name}: kafka-python batch rejected: {e}"));
        let ours = describe(&batch, &appended_timestamps(theirs));
        assert_same(name, &ours, theirs);
    }
}

/// Rebuilds a batch from its description with our builder.
fn rebuild(desc: &Value, compression: Compression) -> Vec<u8> {
    let log_append_time = int(desc, "timestamp_type") == 1;
    let mut builder = BatchBuilder::new(compression)
        .base_offset(int(desc, "base_offset"))
        .partition_leader_epoch(int(desc, "partition_leader_epoch") as i32)
        .producer(
            int(desc, "producer_id"),
            int(desc, "producer_epoch") as i16,
            int(desc, "base_sequence") as i32,
        )
        .transactional(desc["is_transactional"].as_bool().unwrap())
        .control(desc["is_control"].as_bool().unwrap())
        .log_append_time(log_append_time);
    if log_append_time {
        builder = builder.max_timestamp(int(desc, "max_timestamp"));
    }
    if int(desc, "attributes") & 0x40 != 0 {
        builder = builder.delete_horizon(int(desc, "base_timestamp"));
    }
    for r in desc["records"].as_array().unwrap() {
        let headers: Vec<Header> = r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Header {
                key: h["key"].as_str().unwrap().to_owned(),
                value: opt_bytes(&h["value"]),
            })
            .collect();
        builder
            .push(&Record {
                offset: int(r, "offset"),
                timestamp: int(r, "appended_timestamp"),
                key: opt_bytes(&r["key"]),
                value: opt_bytes(&r["value"]),
                headers,
            })
            .unwrap();
    }
    builder = builder.last_offset_delta(int(desc, "last_offset_delta") as i32);
    builder.build().unwrap()
}

#[test]
fn kafka_python_uncompressed_fixtures_reencode_byte_for_byte() {
    let mut checked = 0;
    for (name, bin, theirs) in read_fixtures(&kafka_python_dir()) {
        // kafka-python writes an empty batch with timestamps 0/0 where Kafka
        // (and we) write -1/-1: a documented difference, not compared here.
        if int(&theirs, "compression") != 0 || int(&theirs, "record_count") == 0 {
            continue;
        }
        let ours = rebuild(&theirs, Compression::None);
        assert!(
            ours == bin,
            "{name}: our encoding differs from kafka-python's"
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} uncompressed fixtures re-encoded"
    );
}

/// One batch of ours: its name, its builder and the records appended.
struct OurBatch {
    name: String,
    bytes: Vec<u8>,
    description: Value,
}

/// Builds our varied batch set and describes, from the inputs alone, what
/// each holds, in make_fixtures.py's JSON shape.
fn our_batches() -> Vec<OurBatch> {
    let hdrs = vec![
        Header {
            key: "trace-id".into(),
            value: Some(Bytes::from_static(b"abc123")),
        },
        Header {
            key: "null-value".into(),
            value: None,
        },
        Header {
            key: String::new(),
            value: Some(Bytes::new()),
        },
        Header {
            key: "h\u{e9}ader-\u{43a}\u{43b}\u{44e}\u{447}".into(),
            value: Some(Bytes::from_static(b"\x00\xff\x80")),
        },
    ];
    let rec = |offset: i64,
               timestamp: i64,
               key: Option<&[u8]>,
               value: Option<&[u8]>,
               headers: &[Header]| Record {
        offset,
        timestamp,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: headers.to_vec(),
    };
    let seq = |base: i64, n: i64, value_size: usize| -> Vec<Record> {
        (0..n)
            .map(|i| {
                let mut value = format!("value-{i}-").into_bytes();
                value.resize(value.len() + value_size, b'x');
                rec(
                    base + i,
                    T0 + i * 997,
                    Some(format!("key-{}", i % 7).as_bytes()),
                    Some(&value),
                    &[],
                )
            })
            .collect()
    };
    let mixed = |base: i64| {
        vec![
            rec(base, T0, Some(b"k0"), Some(b"v0"), &[]),
            rec(base + 1, T0 + 5, None, Some(b"value without key"), &[]),
            rec(base + 2, T0 - 1000, Some(b"tombstone"), None, &[]),
            rec(base + 3, T0 + 10, None, None, &hdrs),
            rec(base + 4, T0 + 3, Some(b""), Some(b""), &hdrs[..1]),
            rec(
                base + 9,
                T0 + 1_000_000_000_000,
                Some(&[0, 255, 128]),
                Some(&[7; 300]),
                &[],
            ),
        ]
    };
    type Setup = fn(BatchBuilder) -> BatchBuilder;
    let specs: Vec<(&str, Setup, Vec<Record>)> = vec![
        ("basic", |b| b, seq(0, 5, 10)),
        ("mixed_gaps", |b| b.base_offset(100), mixed(100)),
        (
            "producer_transactional",
            |b| {
                b.base_offset(1 << 40)
                    .producer(123_456_789, 7, 42)
                    .transactional(true)
                    .partition_leader_epoch(3)
            },
            seq(1 << 40, 50, 20),
        ),
        (
            "log_append_time",
            |b| {
                b.base_offset(7)
                    .log_append_time(true)
                    .max_timestamp(T0 + 99_999)
            },
            mixed(7),
        ),
        (
            "delete_horizon",
            |b| b.base_offset(20).delete_horizon(T0 + 86_400_000),
            mixed(20),
        ),
        (
            "compacted_last_removed",
            |b| b.base_offset(50).last_offset_delta(20),
            mixed(50),
        ),
        ("large", |b| b.base_offset(3), seq(3, 170, 400)),
    ];
    let mut out = Vec::new();
    for codec in Compression::ALL {
        for (kind, setup, records) in &specs {
            let mut builder = setup(BatchBuilder::new(codec));
            for r in records {
                builder.push(r).unwrap();
            }
            let bytes = builder.build().unwrap();
            let batch = RecordBatch::new(Bytes::from(bytes.clone())).unwrap();
            let h = batch.header();
            // Expected content from the inputs, not from our decoder.
            let log_append = h.is_log_append_time();
            let expected_max = if log_append {
                T0 + 99_999
            } else {
                records.iter().map(|r| r.timestamp).max().unwrap()
            };
            let expected_base = if *kind == "delete_horizon" {
                T0 + 86_400_000
            } else {
                records[0].timestamp
            };
            let expected_lod = if *kind == "compacted_last_removed" {
                20
            } else {
                records.last().unwrap().offset - records[0].offset
            };
            let expected_records: Vec<Value> = records
                .iter()
                .map(|r| {
                    json!({
                        "offset": r.offset,
                        "timestamp": if log_append { expected_max } else { r.timestamp },
                        "appended_timestamp": r.timestamp,
                        "key": opt_hex(r.key.as_deref()),
                        "value": opt_hex(r.value.as_deref()),
                        "headers": r.headers.iter().map(|h| json!({
                            "key": h.key, "value": opt_hex(h.value.as_deref()),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let description = json!({
                "base_offset": records[0].offset,
                // Length and CRC are ours; kafka-python checks the CRC itself
                // and reads exactly batch_length bytes of records.
                "batch_length": bytes.len() - 12,
                "crc": h.crc,
                "partition_leader_epoch": h.partition_leader_epoch,
                "magic": 2,
                "attributes": h.attributes,
                "compression": codec.code(),
                "timestamp_type": i32::from(log_append),
                "is_transactional": *kind == "producer_transactional",
                "is_control": false,
                "last_offset_delta": expected_lod,
                "base_timestamp": expected_base,
                "max_timestamp": expected_max,
                "producer_id": if *kind == "producer_transactional" { 123_456_789 } else { -1 },
                "producer_epoch": if *kind == "producer_transactional" { 7 } else { -1 },
                "base_sequence": if *kind == "producer_transactional" { 42 } else { -1 },
                "record_count": records.len(),
                "records": expected_records,
            });
            out.push(OurBatch {
                name: format!("{}_{kind}", codec.name()),
                bytes,
                description,
            });
        }
    }
    out
}

#[test]
fn our_batches_decode_to_what_was_put_in() {
    for b in our_batches() {
        let batch = RecordBatch::new(Bytes::from(b.bytes.clone())).unwrap();
        let ours = describe(&batch, &appended_timestamps(&b.description));
        assert_same(&b.name, &ours, &b.description);
    }
}

#[test]
fn our_batches_are_written_for_kafka_python() {
    let Some(dir) = std::env::var_os("LOGBUS_ENCODED_DIR") else {
        return; // nothing to write: check.sh sets it
    };
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).unwrap();
    for b in our_batches() {
        fs::write(dir.join(format!("{}.bin", b.name)), &b.bytes).unwrap();
        let text = serde_json::to_string_pretty(&b.description).unwrap();
        fs::write(dir.join(format!("{}.json", b.name)), text + "\n").unwrap();
    }
}

#[test]
fn committed_logbus_encoded_fixtures_match_current_encoder() {
    let committed = read_fixtures(&manifest_path("tests/fixtures/logbus-encoded"));
    let current = our_batches();
    assert_eq!(
        committed.len(),
        current.len(),
        "regenerate with LOGBUS_ENCODED_DIR=tests/fixtures/logbus-encoded"
    );
    for ((name, bin, desc), now) in committed.iter().zip({
        let mut c = current;
        c.sort_by(|a, b| a.name.cmp(&b.name));
        c
    }) {
        assert_eq!(name, &now.name);
        // Every committed batch still decodes to what it claims to hold.
        let batch = RecordBatch::new(Bytes::from(bin.clone())).unwrap();
        assert_same(name, &describe(&batch, &appended_timestamps(desc)), desc);
        // Uncompressed batches are byte-identical to what we write today;
        // compressed bytes may legitimately change with codec library versions.
        if int(desc, "compression") == 0 {
            assert!(bin == &now.bytes, "{name}: encoder output changed");
        }
    }
}
