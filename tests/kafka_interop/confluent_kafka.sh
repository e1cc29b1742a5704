#!/usr/bin/env bash
# librdkafka through confluent-kafka (pinned in requirements.txt).
source "$(dirname "$0")/lib.sh"
python_env
cd "$interop_dir"
exec "$PY" confluent_kafka_client.py
