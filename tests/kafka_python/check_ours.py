#!/usr/bin/env python3
"""Reads batches written by logbus's BatchBuilder with kafka-python's
DefaultRecordBatch and checks they hold what logbus says they hold.

Usage: check_ours.py DIR

DIR holds NAME.bin / NAME.json pairs written by the Rust test
`our_batches_are_written_for_kafka_python` (env LOGBUS_ENCODED_DIR). The JSON
states, from the builder's inputs, every header field and record; this script
verifies the CRC with kafka-python's validate_crc(), reads the batch with
kafka-python and compares field for field. Exits non-zero on any mismatch.
"""

import glob
import json
import os
import sys

from kafka.record.default_records import DefaultRecordBatch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import describe  # noqa: E402  (kafka-python's view of a batch)


def main():
    directory = sys.argv[1]
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(directory, "*.json")))
    if not names:
        print("no batches found in", directory, file=sys.stderr)
        return 1
    failures = 0
    for name in names:
        with open(os.path.join(directory, name + ".bin"), "rb") as f:
            raw = f.read()
        with open(os.path.join(directory, name + ".json")) as f:
            expected = json.load(f)
        try:
            if not DefaultRecordBatch(raw).validate_crc():
                raise AssertionError("kafka-python says the CRC is wrong")
            if DefaultRecordBatch(raw).size_in_bytes != len(raw):
                raise AssertionError("batch length disagrees with the bytes")
            appended = [r["appended_timestamp"] for r in expected["records"]]
            got = describe(raw, appended)
            for key in sorted(set(got) | set(expected)):
                if key == "records":
                    continue
                if got.get(key) != expected.get(key):
                    raise AssertionError("header field %s: kafka-python reads %r, logbus wrote %r"
                                         % (key, got.get(key), expected.get(key)))
            if len(got["records"]) != len(expected["records"]):
                raise AssertionError("record count differs")
            for i, (g, e) in enumerate(zip(got["records"], expected["records"])):
                if g != e:
                    raise AssertionError("record %d: kafka-python reads %r, logbus wrote %r" % (i, g, e))
        except Exception as e:  # report every batch, not just the first failure
            failures += 1
            print("FAIL %s: %s" % (name, e), file=sys.stderr)
        else:
            print("ok   %s" % name)
    print("%d batches, %d failures" % (len(names), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
