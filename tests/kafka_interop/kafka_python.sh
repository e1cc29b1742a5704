#!/usr/bin/env bash
# kafka-python 3.x (pinned in requirements.txt), its own pure-Python codec.
source "$(dirname "$0")/lib.sh"
python_env
cd "$interop_dir"
exec "$PY" kafka_python_client.py
