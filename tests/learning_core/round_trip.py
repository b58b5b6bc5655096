#!/usr/bin/env python3
"""The Learning Core round trip, against real Learning Core (issue 19).

    $LC_VENV/bin/python tests/learning_core/round_trip.py path/to/blockstore

A package is built through Learning Core's Python API (make_samples.py:
components with text and binary files, an empty file, a key slugify
changes, two types sharing a key, two published versions plus draft
changes, a section/subsection/unit tree, collections) and dumped with
lp_dump. Then, compared through Learning Core's API (load_check.py's
listing) against that original:

- Learning Core's own round trip: lp_dump -> lp_load;
- ours: lp_dump -> `blockstore import` -> `blockstore export` -> lp_load.

Ours must lose nothing Learning Core's own round trip keeps: every line of
the original missing from ours must be missing from Learning Core's own too
(its losses: intermediate versions, pinned children, an empty text-stored
file, storage kinds, a draft deletion), and ours may not add anything Learning
Core's own does not. Exits 1, printing the offending lines, otherwise.
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args, stdout=None):
    done = subprocess.run(args, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def lines(listing):
    """Each line of a listing with its entity and state, normalised for what
    no round trip can keep (database ids, storage kinds, pinning)."""
    out = set()
    entity = state = ""
    for raw in listing.splitlines():
        if not raw.strip():
            continue
        line = raw.rstrip()
        line = re.sub(r"key='lp-restore:[^']*'|key='lib:[^']*'", "key=PACKAGE", line)
        line = re.sub(r"\s*versions_in_db=\[[^\]]*\]", "", line)
        line = re.sub(r"\((text|file), [^)]*\)", "", line)
        line = re.sub(r"PINNED v\d+", "(unpinned)", line)
        if re.match(r"^  \[", line):
            entity, state = line, ""
        elif re.match(r"^\s+(draft|published):", line):
            state = line.strip()
        out.add((entity, state, line))
    return out


def main():
    blockstore = os.path.abspath(sys.argv[1])
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="lc-round-trip-") as work:
        run(python, os.path.join(HERE, "make_samples.py"), work)
        original = os.path.join(work, "sample.zip")
        with open(os.path.join(work, "sample.source.txt")) as f:
            source = lines(f.read())
        theirs = lines(run(python, os.path.join(HERE, "load_check.py"), original))
        data = os.path.join(work, "data")
        run(blockstore, "--data-dir", data, "import", original, "-c", "lib")
        exported = os.path.join(work, "ours.zip")
        run(blockstore, "--data-dir", data, "export", "lib", exported, "--format", "learning-core")
        run(blockstore, "--data-dir", data, "fsck")
        ours = lines(run(python, os.path.join(HERE, "load_check.py"), exported))

    lost = (source - ours) - (source - theirs)
    added = (ours - source) - (theirs - source)
    kept_more = (source - theirs) - (source - ours)
    print(f"original: {len(source)} lines; Learning Core's own round trip loses {len(source - theirs)}, ours {len(source - ours)}")
    if kept_more:
        print(f"ours keeps {len(kept_more)} lines Learning Core's own round trip loses, e.g.:")
        for entity, state, line in sorted(kept_more)[:8]:
            print(f"  {entity.strip()} | {state} | {line.strip()}")
    if lost or added:
        for entity, state, line in sorted(lost):
            print(f"LOST   {entity.strip()} | {state} | {line.strip()}")
        for entity, state, line in sorted(added):
            print(f"ADDED  {entity.strip()} | {state} | {line.strip()}")
        sys.exit(1)
    print("ok: ours loses nothing Learning Core's own round trip keeps")


if __name__ == "__main__":
    main()
