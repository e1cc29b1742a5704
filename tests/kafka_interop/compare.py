"""Diffs what the clients observed against Apache Kafka and against logbus.

Reads DIR/observed-kafka-CLIENT.json and DIR/observed-logbus-CLIENT.json (written
by the scenarios through INTEROP_OBSERVE) and prints each difference: offsets,
partitions keys landed on, error codes, DescribeConfigs names and defaults,
group assignments. Exits 1 if there is any.

Usage: python3 compare.py DIR
"""

import glob
import json
import os
import sys


def flatten(value, path=""):
    """Yields (path, leaf) pairs; lists of scalars stay whole."""
    if isinstance(value, dict):
        for k in sorted(value):
            yield from flatten(value[k], f"{path}.{k}" if path else str(k))
    else:
        yield path, value


def main(directory):
    differences = 0
    for kafka_file in sorted(glob.glob(os.path.join(directory, "observed-kafka-*.json"))):
        client = os.path.basename(kafka_file)[len("observed-kafka-"):-len(".json")]
        logbus_file = os.path.join(directory, f"observed-logbus-{client}.json")
        if not os.path.exists(logbus_file):
            print(f"{client}: no observations from logbus")
            differences += 1
            continue
        with open(kafka_file, encoding="utf-8") as f:
            kafka = dict(flatten(json.load(f)))
        with open(logbus_file, encoding="utf-8") as f:
            logbus = dict(flatten(json.load(f)))
        for key in sorted(set(kafka) | set(logbus)):
            k, lb = kafka.get(key, "<absent>"), logbus.get(key, "<absent>")
            if k == lb:
                continue
            differences += 1
            if isinstance(k, list) and isinstance(lb, list):
                only_k = sorted(set(map(str, k)) - set(map(str, lb)))
                only_lb = sorted(set(map(str, lb)) - set(map(str, k)))
                print(f"{client} {key}: only Kafka {only_k}; only logbus {only_lb}")
            else:
                print(f"{client} {key}: Kafka {k!r}, logbus {lb!r}")
    print(f"compare: {differences} difference(s) between Apache Kafka and logbus")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
