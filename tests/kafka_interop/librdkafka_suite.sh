#!/usr/bin/env bash
# librdkafka's own numbered integration tests (tests/0xxx-*.c), from the source
# that the `rdkafka-sys` crate ships (pinned by tools/kafka-bench/Cargo.lock),
# built once into ~/.cache/logbus-interop (outside the clone, so CI's clean
# clones on the same machine reuse it) and run against $KAFKA_BOOTSTRAP.
#
# Which tests run: LIBRDKAFKA_TESTS (comma-separated numbers) if set, else the
# allowlist librdkafka_suite.allowlist; INTEROP_ONLY narrows it (names like
# 0001). Every test listed is one scenario: the runner's own PASSED/FAILED per
# test is counted, each run by its own runner. LIBRDKAFKA_TESTS=all runs every
# numbered test (those needing no broker are skipped by -L).
source "$(dirname "$0")/lib.sh"
manifest="$repo_root/tools/kafka-bench/Cargo.toml"
cargo fetch --quiet --manifest-path "$manifest"
src="$(cargo metadata --quiet --format-version 1 --manifest-path "$manifest" |
    python3 -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="rdkafka-sys"))')/librdkafka"
build="${XDG_CACHE_HOME:-$HOME/.cache}/logbus-interop/$(basename "$(dirname "$src")")"

if [[ ! -x "$build/tests/test-runner" ]]; then
    [[ -f "$src/tests/test.c" ]] || { echo "librdkafka_suite: no tests/ in $src" >&2; exit 1; }
    rm -rf "$build"
    mkdir -p "$(dirname "$build")"
    cp -r "$src" "$build"
    chmod -R u+w "$build"
    (
        cd "$build"
        # Plaintext only: the suite runs against a loopback broker without TLS or SASL.
        ./configure --disable-ssl --disable-gssapi --disable-sasl --disable-curl >/dev/null
        make -j"$(nproc)" libs >/dev/null 2>&1
        make -C tests -j"$(nproc)" test-runner >/dev/null 2>&1
    ) || { echo "librdkafka_suite: build failed" >&2; exit 1; }
fi

tests="${LIBRDKAFKA_TESTS:-}"
if [[ -z "$tests" ]]; then
    tests="$(sed 's/#.*//' "$interop_dir/librdkafka_suite.allowlist" | awk 'NF { print $1 }' | paste -sd, -)"
fi
if [[ -n "${INTEROP_ONLY:-}" && "$tests" != all ]]; then
    narrowed=""
    for t in ${tests//,/ }; do selected "$t" && narrowed="$narrowed,$t"
    done
    tests="${narrowed#,}"
fi
if [[ -z "$tests" ]]; then
    echo "librdkafka_suite: 0 passed, 0 failed"
    exit 0
fi

run="$(mktemp -d)"
trap 'rm -rf "$run"' EXIT
cat >"$run/test.conf" <<EOF
bootstrap.servers=$KAFKA_BOOTSTRAP
test.timeout.multiplier=${LIBRDKAFKA_TIMEOUT_MULTIPLIER:-3}
test.topic.random=true
EOF
cd "$build/tests"
# One runner per test: a test that fails and leaks client threads makes the
# runner abort at exit before its summary, which would hide the others.
# -L: broker tests only; -E: no socket-emulation tests; -Q: quick mode.
# LD_LIBRARY_PATH: the runner links the librdkafka it was built with, never a
# system one (Debian's kcat brings librdkafka 2.0.2).
if [[ "$tests" == all ]]; then
    tests="$(ls 0[0-9][0-9][0-9]-*.c* | cut -c1-4 | sort -u | paste -sd, -)"
fi
passed=0 failed=0 skipped=0
for t in ${tests//,/ }; do
    rc=0
    env TESTS="$t" LD_LIBRARY_PATH="$build/src:$build/src-cpp" RDKAFKA_TEST_CONF="$run/test.conf" \
        TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-4.1.0}" \
        timeout "${LIBRDKAFKA_TEST_TIMEOUT:-300}" ./test-runner -L -E -Q -p1 >"$run/$t.log" 2>&1 || rc=$?
    sed 's/\x1b\[[0-9;]*m//g' "$run/$t.log" >"$run/$t.txt"
    rows="$(grep -E '^\| *0[0-9]{3}_' "$run/$t.txt" || true)"
    if [[ $rc -eq 0 ]] && grep -q PASSED <<<"$rows" && ! grep -q FAILED <<<"$rows"; then
        passed=$((passed + 1))
        echo "ok   librdkafka.$t"
    elif [[ $rc -eq 0 ]] && [[ -n "$rows" ]] && ! grep -qE 'PASSED|FAILED' <<<"$rows"; then
        skipped=$((skipped + 1))
        echo "skip librdkafka.$t: $(grep -m1 SKIPPED <<<"$rows" | awk -F'|' '{print $5}' | xargs)"
    else
        failed=$((failed + 1))
        why="$({ grep -m1 -A1 '^### Test "0' "$run/$t.txt" || true; } | tail -1 | cut -c1-200)"
        [[ $rc -eq 124 ]] && why="timed out after ${LIBRDKAFKA_TEST_TIMEOUT:-300}s; $why"
        echo "FAIL librdkafka.$t: $why"
        [[ -n "${INTEROP_VERBOSE:-}" ]] && grep -E '^### Test|FAILED' "$run/$t.txt" | head -5
    fi
done
echo "librdkafka_suite: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
