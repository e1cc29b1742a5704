#!/usr/bin/env bash
# franz-go (kgo producer and group consumer, kadm), pinned in go/go.mod and
# fetched through the Go module proxy into the module cache.
source "$(dirname "$0")/lib.sh"
cd "$interop_dir/go"
mkdir -p bin
go build -o bin/franzgo . >&2
exec bin/franzgo
