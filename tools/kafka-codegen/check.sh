#!/usr/bin/env bash
# Fails if src/kafka_codec/generated/ or tests/kafka_codec/samples.rs differ
# from what the generator makes of the pinned specs (a hand edit, or a
# generator change without regenerating). Fetches kafka-clients from Maven
# Central; needs mvn, unzip, python3 and rustfmt.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=4.1.1
jar="$HOME/.m2/repository/org/apache/kafka/kafka-clients/$version/kafka-clients-$version.jar"
if [ ! -f "$jar" ]; then
    mvn -B -q -Dstyle.color=never dependency:get \
        -Dartifact="org.apache.kafka:kafka-clients:$version" -Dtransitive=false >&2
fi
specs=$(mktemp -d)
trap 'rm -rf "$specs"' EXIT
unzip -q -o "$jar" 'common/message/*.json' -d "$specs"
PYTHONDONTWRITEBYTECODE=1 python3 tools/kafka-codegen/kafka_codegen.py --check \
    --specs "$specs/common/message" --source "kafka-clients $version"
