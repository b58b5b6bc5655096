#!/usr/bin/env bash
# Learning Core (openedx-core, today's Open edX content store) against the
# appliance on the demo course, side by side in one run: batched import,
# publish, per-file read back and an edit round of 8 saves + publish.
#
#   benches/learning_core.sh [TREE]
#
# TREE defaults to ../shared/fixtures/openedx-demo-course/demo-course. Knobs
# (environment): LC_ROUNDS (3), LC_RUNS (5 runs per side per round),
# LC_VENV ($HOME/.cache/blockstore-lc-venv, made and reused; outside the repo),
# LC_PIN (openedx-core==0.36.*), BLOCKSTORE_BIN (default
# $CARGO_TARGET_DIR or target/, release/blockstore, built if missing), LC_OUT
# (where the JSON and the table go; a new /tmp dir by default),
# LC_QUIET_FSYNC_MS (unset: none; else before each run wait, up to 2 min,
# until a 4 KiB fsync on the temp dir's disk takes at most this many ms).
#
# Each round runs benches/learning_core/bench.py (openedx-core in-process in
# the venv's Django, SQLite in a temp dir) and benches/learning_core/rest.py
# (a copy of the appliance binary serving a temp data dir on a loopback port,
# driven with http.client), in alternating order, then
# benches/learning_core/table.py prints the table.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tree=${1:-$repo/../shared/fixtures/openedx-demo-course/demo-course}
rounds=${LC_ROUNDS:-3}
runs=${LC_RUNS:-5}
quiet=${LC_QUIET_FSYNC_MS:-0}
venv=${LC_VENV:-$HOME/.cache/blockstore-lc-venv}
pin=${LC_PIN:-openedx-core==0.36.*}
out=${LC_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/lc-bench.XXXXXX")}
mkdir -p "$out"

[ -d "$tree" ] || { echo "no tree at $tree" >&2; exit 2; }

# openedx-core and its Django, in a venv outside the repo.
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" >"$out/pip.log" 2>&1; then
    echo "pip install $pin failed:" >&2
    cat "$out/pip.log" >&2
    exit 3
fi

# The appliance: a copy, so a rebuild under the run changes nothing.
bin=${BLOCKSTORE_BIN:-}
if [ -z "$bin" ]; then
    bin=${CARGO_TARGET_DIR:-$repo/target}/release/blockstore
    if [ ! -x "$bin" ]; then
        (cd "$repo" && nice cargo build --release --bin blockstore)
    fi
fi
cp "$bin" "$out/blockstore"

echo "load before: $(cat /proc/loadavg)" | tee "$out/load.txt" >&2
for round in $(seq 1 "$rounds"); do
    lc() {
        "$venv/bin/python" "$repo/benches/learning_core/bench.py" "$tree" --runs "$runs" \
            --quiet-fsync-ms "$quiet" >"$out/round-$round-lc.json"
    }
    appliance() {
        "$venv/bin/python" "$repo/benches/learning_core/rest.py" "$out/blockstore" "$tree" \
            --runs "$runs" --quiet-fsync-ms "$quiet" >"$out/round-$round-appliance.json"
    }
    if [ $((round % 2)) -eq 1 ]; then lc; appliance; else appliance; lc; fi
    echo "round $round done, load: $(cat /proc/loadavg)" | tee -a "$out/load.txt" >&2
done

"$venv/bin/python" "$repo/benches/learning_core/table.py" "$out" | tee "$out/table.md"
echo "(JSON, load and table in $out)" >&2
