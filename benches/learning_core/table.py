#!/usr/bin/env python3
"""The table of benches/learning_core.sh, from its rounds' JSON.

    python3 benches/learning_core/table.py OUT_DIR

OUT_DIR holds round-N-lc.json (bench.py) and round-N-appliance.json (rest.py)
for N = 1, 2, ... Prints Markdown: per figure the median over all runs of all
rounds on each side with the range of the runs, the ratio of those medians
with the range of the rounds' ratios (each round's Learning Core median over
its appliance median), the goal, and whether it is met (in every round, or
only by the pooled medians).
"""

import glob
import json
import os
import re
import statistics
import sys

FIGURES = [
    ("import", "batched import of the tree (one transaction)", 20),
    ("publish", "publish after the import", 50),
    ("read", "per-file read back (800 lookups)", 5),
    ("edit", "edit round: 8 file saves + publish", 10),
]


def ms(values):
    return [v * 1000 for v in values]


def fmt(v):
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def main():
    out = sys.argv[1]
    rounds = []
    for lc_path in sorted(
        glob.glob(os.path.join(out, "round-*-lc.json")),
        key=lambda p: int(re.search(r"round-(\d+)-lc", p).group(1)),
    ):
        app_path = lc_path.replace("-lc.json", "-appliance.json")
        with open(lc_path) as f:
            lc = json.load(f)
        with open(app_path) as f:
            app = json.load(f)
        rounds.append((lc, app))
    if not rounds:
        sys.exit(f"no round-N-lc.json in {out}")
    lc0, app0 = rounds[0]
    runs = sum(len(lc["seconds"]["import"]) for lc, _ in rounds)
    print(
        f"openedx-core {lc0['openedx_core']} (Django {lc0['django']}, SQLite, Python "
        f"{lc0['python']}) in-process vs {app0['blockstore']} over REST "
        f"(http.client, one keep-alive connection); {lc0['files']} files, "
        f"{lc0['bytes']:,} bytes, {lc0['components']} Learning Core components; "
        f"{len(rounds)} rounds x {runs // len(rounds)} runs per side"
        + (f"; each run waited for a 4 KiB fsync ≤ {lc0['quiet_fsync_ms']:g} ms"
           if lc0.get("quiet_fsync_ms") else "")
        + ".\n"
    )
    print("| figure | Learning Core ms: median (range) | appliance ms: median (range) "
          "| ratio: pooled (rounds) | goal | met |")
    print("|---|---|---|---|---|---|")
    for key, label, goal in FIGURES:
        lc_all = [v for lc, _ in rounds for v in ms(lc["seconds"][key])]
        app_all = [v for _, app in rounds for v in ms(app["seconds"][key])]
        per_round = [
            statistics.median(ms(lc["seconds"][key])) / statistics.median(ms(app["seconds"][key]))
            for lc, app in rounds
        ]
        lc_med, app_med = statistics.median(lc_all), statistics.median(app_all)
        ratio = lc_med / app_med
        if min(per_round) >= goal:
            met = "met"
        elif ratio >= goal:
            met = "met by the pooled medians, not in every round"
        else:
            met = "**not met**"
        print(
            f"| {label} | {fmt(lc_med)} ({fmt(min(lc_all))}–{fmt(max(lc_all))}) "
            f"| {fmt(app_med)} ({fmt(min(app_all))}–{fmt(max(app_all))}) "
            f"| {ratio:.1f}× ({min(per_round):.1f}–{max(per_round):.1f}×) | ≥ {goal}× | {met} |"
        )

    def pooled(key):
        return [v for _, app in rounds for v in ms(app["seconds"][key])]

    health = statistics.median(pooled("health")) / app0["files"]
    read = statistics.median(pooled("read")) / app0["files"]
    lc_read = statistics.median([v for lc, _ in rounds for v in ms(lc["seconds"]["read"])]) / lc0["files"]
    gz = pooled("import_gz")
    print()
    print(
        f"Per request: appliance GET raw {read * 1000:.0f} µs, GET /api/v1/health "
        f"(the client's and HTTP layers' floor) {health * 1000:.0f} µs; "
        f"Learning Core per-file read {lc_read * 1000:.0f} µs."
    )
    print(
        f"Appliance import of the .tar.gz ({app0['tar_gz_bytes']:,} bytes) instead of the "
        f".tar ({app0['tar_bytes']:,}): {fmt(statistics.median(gz))} ms "
        f"({fmt(min(gz))}–{fmt(max(gz))})."
    )
    loads = [
        la[0]
        for lc, app in rounds
        for la in (lc.get("loadavg") or []) + (app.get("loadavg") or [])
        if la
    ]
    io = [
        la[3]
        for lc, app in rounds
        for la in (lc.get("loadavg") or []) + (app.get("loadavg") or [])
        if la and len(la) > 3
    ]
    if loads:
        line = (f"At the start of each run: 1-minute load average {min(loads):.2f}–{max(loads):.2f} "
                f"(median {statistics.median(loads):.2f}) on {os.cpu_count()} cores")
        if io:
            line += f"; I/O pressure (PSI some avg10) {min(io):.1f}–{max(io):.1f}%"
        print(line + ".")
    probes = [(p, s * 1000) for _, app in rounds
              for p, s in zip(app.get("fsync_probe_ms") or [], app["seconds"]["import"])]
    if probes:
        quiet = [ms for p, ms in probes if p <= 2]
        busy = [ms for p, ms in probes if p > 2]
        line = (f"fsync of a 4 KiB file just before each appliance import: "
                f"{min(p for p, _ in probes):.1f}–{max(p for p, _ in probes):.1f} ms "
                f"(the disk is shared); appliance import")
        if quiet:
            line += f" after a probe ≤ 2 ms: median {fmt(statistics.median(quiet))} ms ({len(quiet)} runs)"
        if busy:
            line += f"{',' if quiet else ''} after a slower probe: median {fmt(statistics.median(busy))} ms ({len(busy)} runs)"
        print(line + ".")


if __name__ == "__main__":
    main()
