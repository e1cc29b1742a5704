#!/usr/bin/env bash
# Fails if src/kafka_codec/generated/ or tests/kafka_codec/samples.rs differ
# from what the generator makes of the pinned specs (a hand edit, or a
# generator change without regenerating). Fetches kafka-clients from Maven
# Central; needs mvn, python3 and rustfmt.
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
python3 - "$jar" "$specs" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as jar:
    for name in jar.namelist():
        if name.startswith("common/message/") and name.endswith(".json"):
            jar.extract(name, sys.argv[2])
PY
PYTHONDONTWRITEBYTECODE=1 python3 tools/kafka-codegen/kafka_codegen.py --check \
    --specs "$specs/common/message" --source "kafka-clients $version"
