"""A small runner for the Python interop scenarios.

Each scenario is a function that talks to the broker at KAFKA_BOOTSTRAP through
a real Kafka client and raises on the first thing that is not as Kafka does it.
The runner prints one line per scenario and closes with `N passed, N failed`;
it exits non-zero if any failed. Every wait is a poll on a condition with a
deadline, never a sleep.

What a client observed (offsets, partitions, error codes, config names and
defaults, assignments) is recorded with `observe()`; with INTEROP_OBSERVE=FILE
it is written as JSON, so the same scenarios run against Apache Kafka and
against logbus can be diffed (tests/kafka_interop/compare.py).
"""

import json
import os
import sys
import time
import traceback
import uuid

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
RUN_ID = uuid.uuid4().hex[:8]
_observed = {}
_current = [None]


class Failed(AssertionError):
    """A scenario saw something other than what Kafka does."""


def check(cond, what):
    """Fails the scenario with `what` unless `cond` holds."""
    if not cond:
        raise Failed(what)


def eq(got, want, what):
    """Fails the scenario unless got == want, saying both."""
    if got != want:
        raise Failed(f"{what}: got {got!r}, want {want!r}")


def topic(name):
    """A topic name unique to this run, so reruns on one broker never collide."""
    return f"interop-{name}-{RUN_ID}"


def wait_for(cond, what, timeout=30.0, step=None):
    """Calls cond() until it returns a truthy value or the deadline passes.

    `step` is called between tries (e.g. a client's poll), so progress is
    driven by the client rather than a sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout}s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.05)


def observe(key, value):
    """Records what the client saw under the current scenario, for compare mode."""
    _observed.setdefault(_current[0], {})[key] = value


def run(prefix, scenarios):
    """Runs the selected scenarios, prints the summary, and exits."""
    only = [s for s in os.environ.get("INTEROP_ONLY", "").split(",") if s]
    passed = failed = skipped = 0
    for fn in scenarios:
        name = f"{prefix}.{fn.__name__}"
        if only and name not in only and fn.__name__ not in only:
            skipped += 1
            continue
        _current[0] = name
        start = time.monotonic()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report every failure the same way
            failed += 1
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            print(f"FAIL {name} ({time.monotonic() - start:.1f}s): {detail}", flush=True)
            if os.environ.get("INTEROP_VERBOSE"):
                traceback.print_exc()
            _observed.setdefault(name, {})["failed"] = detail
        else:
            passed += 1
            print(f"ok   {name} ({time.monotonic() - start:.1f}s)", flush=True)
    out = os.environ.get("INTEROP_OBSERVE")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(_observed, f, indent=1, sort_keys=True, default=str)
    line = f"{prefix}: {passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
    sys.exit(1 if failed else 0)
