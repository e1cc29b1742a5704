#!/usr/bin/env bash
# kcat 1.7.1 from Debian, linked to Debian's librdkafka 2.0.2: an old client
# that takes the old paths (compression only if Produce v0 is advertised,
# older request versions). Scenarios: -L metadata, -P with idempotence and
# gzip, -C, -G (balanced group, commit and resume), -Q (offsets by time).
source "$(dirname "$0")/lib.sh"
if ! command -v kcat >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
        (apt-get install -y -q kcat || { apt-get update -q && apt-get install -y -q kcat; }) >/dev/null
    else
        echo "kcat.sh: kcat is not installed (apt-get install kcat)" >&2
        exit 1
    fi
fi
kcat -V 2>&1 | sed -n '4p'

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run_id="$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
T="interop-kcat-$run_id"
B=(-b "$KAFKA_BOOTSTRAP" -m 30)
passed=0
failed=0
pass() { echo "ok   kcat.$1"; passed=$((passed + 1)); }
fail() { echo "FAIL kcat.$1: $2"; failed=$((failed + 1)); }
kc() { timeout 60 kcat "${B[@]}" "$@"; }

# -P with the idempotent producer and gzip; -C reads back keys, values, offsets.
if selected produce_idempotent_gzip_then_consume; then
    out=""
    if printf 'k0:v0\nk1:v1\nk2:v2\n' | kc -P -t "$T" -p 0 -K: -z gzip -X enable.idempotence=true -X acks=all 2>"$tmp/p.err" \
        && out="$(kc -C -t "$T" -p 0 -o beginning -e -q -f '%k=%s@%o\n' 2>>"$tmp/p.err")" \
        && [[ "$out" == $'k0=v0@0\nk1=v1@1\nk2=v2@2' ]]; then
        pass produce_idempotent_gzip_then_consume
    else
        fail produce_idempotent_gzip_then_consume "read back '${out//$'\n'/ }'; $(tail -3 "$tmp/p.err" | tr '\n' ' ')"
    fi
fi

# -L shows the broker at the address we dialled and the auto-created topic.
# (Topics auto-create with the broker's default partition count: records go to
# partition 0 explicitly so offsets are known.)
if selected metadata_lists_broker_and_topic; then
    md="$(kc -L -t "$T" 2>&1 || true)"
    if grep -q "broker 1 at $KAFKA_BOOTSTRAP\|at $KAFKA_BOOTSTRAP" <<<"$md" \
        && grep -qE "topic \"$T\" with [0-9]+ partitions" <<<"$md" \
        && grep -q "partition 0, leader" <<<"$md"; then
        pass metadata_lists_broker_and_topic
    else
        fail metadata_lists_broker_and_topic "$(tr '\n' ' ' <<<"$md" | cut -c1-300)"
    fi
fi

# -G: a balanced consumer reads two records and commits; after two more are
# produced, a second run of the same group resumes after the committed ones.
if selected group_consumes_commits_and_resumes; then
    G="$T-group"
    GT="$T-g"
    first="" second=""
    if printf 'a\nb\n' | kc -P -t "$GT" -p 0 2>"$tmp/g.err" \
        && first="$(kc -G "$G" -X auto.offset.reset=earliest -c 2 -q -f '%s@%o\n' "$GT" 2>>"$tmp/g.err")" \
        && printf 'c\nd\n' | kc -P -t "$GT" -p 0 2>>"$tmp/g.err" \
        && second="$(kc -G "$G" -X auto.offset.reset=earliest -c 2 -q -f '%s@%o\n' "$GT" 2>>"$tmp/g.err")" \
        && [[ "$first" == $'a@0\nb@1' && "$second" == $'c@2\nd@3' ]]; then
        pass group_consumes_commits_and_resumes
    else
        fail group_consumes_commits_and_resumes "first '${first//$'\n'/ }' second '${second//$'\n'/ }'; $(tail -3 "$tmp/g.err" | tr '\n' ' ')"
    fi
fi

# -Q: offsets by timestamp; an hour ago is offset 0, the future is the end (-1).
if selected offsets_by_timestamp; then
    now_ms=$(( $(date +%s) * 1000 ))
    past="$(kc -Q -t "$T:0:$((now_ms - 3600000))" 2>&1 || true)"
    future="$(kc -Q -t "$T:0:$((now_ms + 3600000))" 2>&1 || true)"
    if grep -q "offset 0" <<<"$past" && grep -qE "offset -1\b" <<<"$future"; then
        pass offsets_by_timestamp
    else
        fail offsets_by_timestamp "past '$(tr '\n' ' ' <<<"$past")' future '$(tr '\n' ' ' <<<"$future")'"
    fi
fi
rm -f "$tmp/p.err" "$T-group.err"
echo "kcat: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
