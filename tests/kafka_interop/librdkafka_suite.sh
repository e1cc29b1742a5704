#!/usr/bin/env bash
# librdkafka's own numbered integration tests (tests/0xxx-*.c), from the source
# that the `rdkafka-sys` crate ships (pinned by tools/kafka-bench/Cargo.lock),
# built once into ~/.cache/logbus-interop (outside the clone, so CI's clean
# clones on the same machine reuse it) and run against $KAFKA_BOOTSTRAP.
#
# Which tests run: LIBRDKAFKA_TESTS (comma-separated numbers) if set, else the
# allowlist librdkafka_suite.allowlist; INTEROP_ONLY narrows it (names like
# 0001). Every test listed is one scenario: the runner's own PASSED/FAILED per
# test is counted. LIBRDKAFKA_TESTS=all runs the whole suite (-L: broker tests),
# for measuring how many pass.
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
rc=0
env_tests=(TESTS="$tests")
[[ "$tests" == all ]] && env_tests=()
# -L: broker tests only; -E: no socket-emulation tests; -Q: quick mode;
# -p1: one at a time (2 cores shared).
# LD_LIBRARY_PATH: the runner links the librdkafka it was built with, never a
# system one (Debian's kcat brings librdkafka 2.0.2).
env "${env_tests[@]}" LD_LIBRARY_PATH="$build/src:$build/src-cpp" RDKAFKA_TEST_CONF="$run/test.conf" TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-4.1.0}" \
    timeout "${LIBRDKAFKA_SUITE_TIMEOUT:-1500}" ./test-runner -L -E -Q -p1 >"$run/out.log" 2>&1 || rc=$?
# The runner's summary table: one row per test with PASSED, FAILED or SKIPPED.
sed 's/\x1b\[[0-9;]*m//g' "$run/out.log" | { grep -E '^\| *0[0-9]{3}_' || true; } | tee "$run/summary"
passed="$(grep -c 'PASSED' "$run/summary" || true)"
failed="$(grep -c 'FAILED' "$run/summary" || true)"
skipped="$(grep -c 'SKIPPED' "$run/summary" || true)"
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    tail -30 "$run/out.log"
    failed=1
fi
if [[ $failed -ne 0 || -n "${INTEROP_VERBOSE:-}" ]]; then
    grep -E 'FAIL|TEST FAILURE|### Test' "$run/out.log" | sed 's/\x1b\[[0-9;]*m//g' | head -60
fi
echo "librdkafka_suite: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
