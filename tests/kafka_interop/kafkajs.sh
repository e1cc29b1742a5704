#!/usr/bin/env bash
# KafkaJS (pinned in node/package.json and package-lock.json), from npm.
source "$(dirname "$0")/lib.sh"
cd "$interop_dir/node"
if [[ ! -d node_modules/kafkajs ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
exec node kafkajs.js
