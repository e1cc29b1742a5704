#!/usr/bin/env bash
# Cross-checks logbus's RecordBatch v2 codec against kafka-python, both ways:
#   1. kafka-python builds fresh fixtures; our decoder (and, for uncompressed
#      batches, our encoder) must agree with them field for field / byte for byte;
#   2. our builder writes batches; kafka-python must read back what we claim
#      they hold, CRC included.
# Needs python3 with venv/pip and access to PyPI. Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${LOGBUS_KAFKA_PYTHON_VENV:-target/kafka-python-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
# kafka-python's codecs: zstandard (zstd), lz4 (lz4 frames), python-snappy
# (snappy, on top of cramjam). gzip is in the standard library.
"$venv/bin/pip" install --quiet "kafka-python>=2.0" zstandard lz4 cramjam python-snappy
"$venv/bin/python" -c 'import kafka; print("kafka-python", kafka.__version__)'

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== kafka-python -> logbus"
"$venv/bin/python" tests/kafka_python/make_fixtures.py "$work/kafka-python"
LOGBUS_KAFKA_PYTHON_FIXTURES="$work/kafka-python" \
    cargo test --test record_kafka_python -- kafka_python_ --test-threads=1

echo "== logbus -> kafka-python"
LOGBUS_ENCODED_DIR="$work/logbus-encoded" \
    cargo test --test record_kafka_python -- our_batches_are_written_for_kafka_python --exact
"$venv/bin/python" tests/kafka_python/check_ours.py "$work/logbus-encoded"

echo "kafka-python cross-check passed"
