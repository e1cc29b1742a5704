#!/usr/bin/env python3
"""Builds Kafka RecordBatch v2 fixtures with kafka-python, an implementation
logbus did not write, for tests/record_kafka_python.rs to check our decoder
(and, for uncompressed batches, our encoder byte for byte) against.

Usage: make_fixtures.py OUT_DIR

For each batch NAME it writes NAME.bin (the raw batch) and NAME.json: every
header field as kafka-python's DefaultRecordBatch reads it back, and per
record its offset, reported timestamp, the timestamp it was appended with,
key, value (hex, or null) and headers. Only kafka-python's public record
classes are used, so the JSON is kafka-python's view, not ours.
"""

import json
import os
import struct
import sys

from kafka.codec import has_lz4, has_snappy, has_zstd
from kafka.record.default_records import (
    DefaultRecordBatch,
    DefaultRecordBatchBuilder,
)
from kafka.record.util import calc_crc32c

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
T0 = 1_700_000_000_000  # a plausible epoch-millis timestamp


def build(records, codec=NONE, producer=(-1, -1, -1), transactional=False,
          base_offset=0, leader_epoch=None, log_append_time=None, control=False):
    """Builds one batch with kafka-python; then applies, as a broker would,
    the fields its builder leaves to the broker (base offset, partition leader
    epoch, log-append time, control bit), fixing the CRC where it covers them.

    records: list of (offset_delta, timestamp, key, value, headers).
    """
    pid, epoch, seq = producer
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=transactional,
        producer_id=pid, producer_epoch=epoch, base_sequence=seq,
        batch_size=1 << 30)
    for offset_delta, ts, key, value, headers in records:
        meta = builder.append(offset_delta, timestamp=ts, key=key, value=value,
                              headers=headers)
        assert meta is not None
    buf = bytearray(builder.build())
    # Outside the CRC: base offset (0..8) and partition leader epoch (12..16).
    struct.pack_into(">q", buf, 0, base_offset)
    if leader_epoch is not None:
        struct.pack_into(">i", buf, 12, leader_epoch)
    attrs, = struct.unpack_from(">h", buf, 21)
    if log_append_time is not None:
        attrs |= 0x08
        struct.pack_into(">q", buf, 35, log_append_time)
    if control:
        attrs |= 0x20
    struct.pack_into(">h", buf, 21, attrs)
    struct.pack_into(">I", buf, 17, calc_crc32c(memoryview(buf)[21:]))
    got_codec = attrs & 0x07
    # kafka-python silently falls back to no compression when it does not
    # shrink the data; a fixture must really use the codec it is named after.
    assert got_codec == codec, (codec, got_codec)
    return bytes(buf)


def describe(raw, appended):
    """kafka-python's reading of a batch, as JSON-ready data."""
    batch = DefaultRecordBatch(raw)
    assert batch.validate_crc()
    hexed = lambda b: None if b is None else bytes(b).hex()
    out = {
        "base_offset": batch.base_offset,
        "batch_length": batch.size_in_bytes - 12,
        "partition_leader_epoch": batch.leader_epoch,
        "magic": batch.magic,
        "crc": batch.crc,
        "attributes": batch.attributes,
        "compression": batch.compression_type,
        "timestamp_type": batch.timestamp_type,
        "is_transactional": batch.is_transactional,
        "is_control": batch.is_control_batch,
        "last_offset_delta": batch.last_offset_delta,
        "base_timestamp": batch.first_timestamp,
        "max_timestamp": batch.max_timestamp,
        "producer_id": batch.producer_id,
        "producer_epoch": batch.producer_epoch,
        "base_sequence": batch.base_sequence,
        "record_count": batch.records_count,
        "records": [],
    }
    records = list(batch)
    assert len(records) == len(appended)
    for rec, appended_ts in zip(records, appended):
        out["records"].append({
            "offset": rec.offset,
            "timestamp": rec.timestamp,
            "appended_timestamp": appended_ts,
            "key": hexed(rec.key),
            "value": hexed(rec.value),
            "headers": [{"key": k, "value": hexed(v)} for k, v in rec.headers],
        })
    return out


def seq(n, key=True, value_size=10, step_ms=1, headers=()):
    """n records at consecutive offsets, compressible values."""
    return [(i, T0 + i * step_ms,
             (b"key-%d" % (i % 7)) if key else None,
             (b"value-%d-" % i) + b"x" * value_size,
             list(headers))
            for i in range(n)]


def fixtures():
    hdrs = [("trace-id", b"abc123"), ("null-value", None), ("", b""),
            ("h\u00e9ader-\u043a\u043b\u044e\u0447", b"\x00\xff\x80")]
    mixed = [
        (0, T0, b"k0", b"v0", []),
        (1, T0 + 5, None, b"value without key", []),
        (2, T0 - 1000, b"tombstone", None, []),  # negative timestamp delta
        (3, T0 + 10, None, None, hdrs),
        (4, T0 + 3, b"", b"", [("dup", b"1"), ("dup", b"2")]),
    ]
    yield "none_basic", dict(records=seq(3))
    yield "none_mixed_nulls_headers", dict(records=mixed)
    yield "none_binary_values", dict(records=[
        (0, T0, bytes(range(256)), bytes(range(255, -1, -1)), []),
        (1, T0 + 1, b"\x00", bytes(20000), [("big", bytes(300))]),
        (2, T0 + 10**12, None, b"\x80\x81\xfe\xff", []),  # huge delta: long varlong
    ])
    yield "none_offset_gaps", dict(records=[
        (0, T0, b"a", b"1", []), (2, T0, b"b", b"2", []),
        (5, T0 + 1, b"c", b"3", []), (90, T0 + 2, b"d", b"4", []),
        (70000, T0 + 3, b"e", b"5", []),
    ], base_offset=12345)
    yield "none_producer_transactional", dict(
        records=seq(4), producer=(123456789, 7, 42), transactional=True,
        base_offset=1000, leader_epoch=5)
    yield "none_many_records", dict(records=seq(300, step_ms=997))
    yield "none_log_append_time", dict(
        records=mixed, log_append_time=T0 + 99_999, base_offset=77)
    yield "none_control_commit", dict(
        records=[(0, T0, b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x05", [])],
        producer=(5, 1, -1), transactional=True, control=True, base_offset=9)
    yield "none_negative_timestamps", dict(records=[
        (0, -5, b"k", b"v", []), (1, -1, None, b"w", []), (2, -3000, b"x", None, []),
    ])
    yield "none_empty", dict(records=[])
    codecs = [("gzip", GZIP, True), ("snappy", SNAPPY, has_snappy()),
              ("lz4", LZ4, has_lz4()), ("zstd", ZSTD, has_zstd())]
    for name, codec, available in codecs:
        if not available:
            print("skipping %s: codec library missing" % name, file=sys.stderr)
            continue
        yield name + "_basic", dict(records=seq(20, headers=hdrs[:2]), codec=codec)
        yield name + "_mixed_producer", dict(
            records=seq(30) + [(o + 30, ts, k, v, h) for o, ts, k, v, h in mixed],
            codec=codec, producer=(99, 3, 1000), transactional=True, base_offset=5)
        # Over 64 KiB of records: several lz4 blocks, several xerial snappy blocks.
        yield name + "_large", dict(records=seq(170, value_size=400), codec=codec,
                                    base_offset=1 << 40)
        yield name + "_log_append_time", dict(records=seq(10), codec=codec,
                                              log_append_time=T0 + 5)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name, spec in fixtures():
        raw = build(**spec)
        appended = [ts for _, ts, _, _, _ in spec["records"]]
        with open(os.path.join(out_dir, name + ".bin"), "wb") as f:
            f.write(raw)
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(describe(raw, appended), f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", name, len(raw), "bytes")


if __name__ == "__main__":
    main()
