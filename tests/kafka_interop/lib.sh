# Shared setup for the per-client scripts (sourced, not run).
# shellcheck shell=bash
set -euo pipefail
interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$interop_dir/../.." && pwd)"
: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP=host:port (tests/kafka_interop/run.sh does)}"

# The pinned Python clients in a venv under target/ (pip's wheel cache makes a
# rebuild on a clean clone cheap).
python_env() {
    local venv="${LOGBUS_INTEROP_VENV:-$repo_root/target/kafka-interop-venv}"
    local stamp="$venv/.requirements"
    if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$interop_dir/requirements.txt" "$stamp"; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet -r "$interop_dir/requirements.txt"
        cp "$interop_dir/requirements.txt" "$stamp"
    fi
    PY="$venv/bin/python"
}

# Is scenario $1 selected by INTEROP_ONLY (comma-separated; empty = all)?
selected() {
    [[ -z "${INTEROP_ONLY:-}" ]] && return 0
    [[ ",$INTEROP_ONLY," == *",$1,"* ]]
}
