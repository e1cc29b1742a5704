#!/usr/bin/env bash
# Runs real Kafka clients against logbus's Kafka listener (or Apache Kafka).
#
#   tests/kafka_interop/run.sh [--against logbus|kafka] [--allowlist FILE] [clients...]
#   tests/kafka_interop/run.sh --compare [clients...]
#
# Clients (default: all): confluent_kafka kafka_python kcat java spring franz_go kafkajs
# librdkafka_suite. Each has its own script, tests/kafka_interop/CLIENT.sh, which
# installs its pinned client through the project's files and runs its scenarios
# against $KAFKA_BOOTSTRAP, closing with "N passed, N failed".
#
# --against logbus (default) builds and starts `logbus serve --in-memory --kafka
# 127.0.0.1:0` and reads the address from its ready line; --against kafka starts
# Apache Kafka through scripts/kafka-reference. With KAFKA_BOOTSTRAP already set
# and --against external, no broker is started.
# --allowlist FILE runs only the scenarios FILE lists ("client scenario" per line,
# "client *" for all of a client's; # comments).
# --compare runs the scenarios against Kafka, then logbus, and diffs what the
# clients observed (offsets, partitions, error codes, configs, assignments).
# Prints the sum as its last line: "kafka_interop: N passed, N failed".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
all_clients=(confluent_kafka kafka_python kcat java spring franz_go kafkajs librdkafka_suite)

against=logbus
allowlist=""
compare=0
clients=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --against) against="$2"; shift 2 ;;
        --allowlist) allowlist="$2"; shift 2 ;;
        --compare) compare=1; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) clients+=("$1"); shift ;;
    esac
done
[[ ${#clients[@]} -gt 0 ]] || clients=("${all_clients[@]}")

work="$(mktemp -d "${TMPDIR:-/tmp}/kafka-interop.XXXXXX")"
broker_pid=""
kafka_dir=""
cleanup() {
    if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    if [[ -n "$kafka_dir" ]]; then
        "$root/scripts/kafka-reference" stop "$kafka_dir" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_logbus() {
    local bin="${LOGBUS_BIN:-}"
    if [[ -z "$bin" ]]; then
        (cd "$root" && cargo build --quiet --bin logbus)
        bin="$root/target/debug/logbus"
    fi
    mkfifo "$work/ready"
    "$bin" serve --in-memory --listen 127.0.0.1:0 --http 127.0.0.1:0 --kafka 127.0.0.1:0 \
        --default-partitions "${LOGBUS_DEFAULT_PARTITIONS:-4}" \
        >"$work/ready" 2>"$work/logbus.log" &
    broker_pid=$!
    local line=""
    # The ready line, or EOF if it died; bounded by a read timeout.
    exec 3<"$work/ready"
    if ! read -r -t 60 line <&3 || [[ "$line" != ready* ]]; then
        cat "$work/logbus.log" >&2
        echo "run.sh: logbus did not print its ready line (got: '$line')" >&2
        exit 1
    fi
    # Keep draining its stdout so it never blocks on a full pipe.
    cat <&3 >/dev/null &
    local addr="${line##*kafka=}"
    addr="${addr%% *}"
    [[ "$addr" == *:* ]] || { echo "run.sh: no kafka= in ready line: $line" >&2; exit 1; }
    export KAFKA_BOOTSTRAP="$addr"
    echo "== logbus ready: $line"
}

start_kafka() {
    local line
    line="$(KAFKA_REF_PARTITIONS="${KAFKA_REF_PARTITIONS:-4}" "$root/scripts/kafka-reference" start)"
    kafka_dir="${line##*dir=}"
    export KAFKA_BOOTSTRAP="$(cat "$kafka_dir/bootstrap")"
    echo "== Apache Kafka ready: $line"
}

stop_broker() {
    if [[ -n "$broker_pid" ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=""
        exec 3<&- || true
        rm -f "$work/ready"
    fi
    if [[ -n "$kafka_dir" ]]; then
        "$root/scripts/kafka-reference" stop "$kafka_dir" || true
        kafka_dir=""
    fi
}

# Scenarios of one client named in the allowlist, comma-separated; "*" for all;
# empty if the client is not listed.
allowed_for() {
    [[ -n "$allowlist" ]] || { echo "*"; return; }
    awk -v c="$1" '$1 == c { print $2 }' <(sed 's/#.*//' "$allowlist") | paste -sd, -
}

total_passed=0
total_failed=0
run_clients() {
    local label="$1"
    for client in "${clients[@]}"; do
        local script="$here/$client.sh"
        [[ -x "$script" ]] || { echo "run.sh: unknown client $client" >&2; total_failed=$((total_failed + 1)); continue; }
        local only
        only="$(allowed_for "$client")"
        if [[ -z "$only" ]]; then
            echo "== $client: not in the allowlist, skipped"
            continue
        fi
        [[ "$only" == "*" ]] && only=""
        echo "== $client against $label ($KAFKA_BOOTSTRAP)"
        local log="$work/$client-$label.log" rc=0
        INTEROP_ONLY="$only" INTEROP_OBSERVE="$work/observed-$label-$client.json" \
            timeout "${INTEROP_CLIENT_TIMEOUT:-1200}" "$script" 2>&1 | tee "$log" || rc=$?
        local summary
        summary="$(grep -E '^([A-Za-z_]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)"
        if [[ -z "$summary" ]]; then
            echo "== $client: no summary (exit $rc): counted as 1 failed"
            total_failed=$((total_failed + 1))
            continue
        fi
        local p f
        p="$(sed -E 's/^([A-Za-z_]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$summary")"
        f="$(sed -E 's/^([A-Za-z_]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$summary")"
        if [[ $rc -ne 0 && $f -eq 0 ]]; then
            echo "== $client: exit $rc with no failed scenario: counted as 1 failed"
            f=1
        fi
        total_passed=$((total_passed + p))
        total_failed=$((total_failed + f))
    done
}

if [[ $compare -eq 1 ]]; then
    start_kafka
    run_clients kafka
    stop_broker
    start_logbus
    run_clients logbus
    stop_broker
    echo "== what the clients observed: Apache Kafka vs logbus"
    diff_rc=0
    python3 "$here/compare.py" "$work" || diff_rc=$?
    echo "kafka_interop: $total_passed passed, $total_failed failed"
    [[ $diff_rc -eq 0 && $total_failed -eq 0 ]]
    exit
fi

# With an allowlist, only the clients it names; none selected, no broker.
if [[ -n "$allowlist" ]]; then
    listed=()
    for client in "${clients[@]}"; do
        [[ -n "$(allowed_for "$client")" ]] && listed+=("$client")
    done
    clients=("${listed[@]+"${listed[@]}"}")
    if [[ ${#clients[@]} -eq 0 ]]; then
        echo "kafka_interop: the allowlist selects no scenario"
        exit 0
    fi
fi

case "$against" in
    logbus) start_logbus ;;
    kafka) start_kafka ;;
    external) [[ -n "${KAFKA_BOOTSTRAP:-}" ]] || { echo "run.sh: --against external needs KAFKA_BOOTSTRAP" >&2; exit 2; } ;;
    *) echo "run.sh: --against logbus|kafka|external" >&2; exit 2 ;;
esac
run_clients "$against"
stop_broker
echo "kafka_interop: $total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
