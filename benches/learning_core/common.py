"""What both sides of benches/learning_core.sh share (stdlib only): the tree,
the files the edit round changes and how, and the run summaries.

Both sides get the same bytes in memory before any clock starts, and edit the
same 8 files the same way.
"""

import os
import statistics
import sys
import time

# One copy of the REST client's helpers: demo_rest.py's (benches/).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from demo_rest import request, tree  # noqa: E402,F401

EDITS = 8


def add_run_options(parser):
    """The options both sides' scripts take after their positional ones."""
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--quiet-fsync-ms",
        type=float,
        default=0.0,
        help="before each run, wait (up to 2 min) until a 4 KiB fsync takes at most this",
    )


def tree_root(root):
    """The export's root: ``root`` itself, or its one sub-folder when it holds
    nothing else (``demo-course/`` holds only ``course/``), as the appliance's
    archive import strips one top-level folder."""
    entries = [e for e in os.listdir(root) if not e.startswith(".")]
    if len(entries) == 1 and os.path.isdir(os.path.join(root, entries[0])):
        return os.path.join(root, entries[0]), entries[0]
    return root, os.path.basename(os.path.normpath(root))


def edit_targets(files):
    """The 8 files of the edit round, the same on both sides: the OLX an
    author edits in Studio, half html bodies and half problems, each half
    spread evenly over its blocks."""
    html = [p for p, _ in files if p.startswith("html/") and p.endswith(".html")]
    problems = [p for p, _ in files if p.startswith("problem/") and p.endswith(".xml")]
    half = EDITS // 2
    return [html[i * len(html) // half] for i in range(half)] + [
        problems[i * len(problems) // (EDITS - half)] for i in range(EDITS - half)
    ]


def edited(data, tag):
    """A changed file: the old bytes plus a comment that differs per run."""
    return data + f"\n<!-- edit round {tag} -->\n".encode()


def summary(seconds):
    """Median and range of a list of seconds, in ms."""
    ms = [s * 1000 for s in seconds]
    return {
        "median_ms": statistics.median(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "runs_ms": [round(m, 3) for m in ms],
    }


def fsync_probe(directory, count=16):
    """Milliseconds per fsync of a fresh 4 KiB file in ``directory`` right now:
    what the disk, shared with other work, charges a durable write."""
    start = time.perf_counter()
    for i in range(count):
        path = os.path.join(directory, f".fsync-probe-{i}")
        with open(path, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        os.remove(path)
    return (time.perf_counter() - start) * 1000 / count


def probe_disk(directory, quiet_ms=0.0, timeout=120.0):
    """The fsync probe before a run; with ``quiet_ms``, first wait (up to
    ``timeout`` seconds) until an fsync costs no more than that, so a run
    does not start while other work on the shared disk is flushing."""
    deadline = time.monotonic() + timeout
    probe = fsync_probe(directory)
    while quiet_ms and probe > quiet_ms and time.monotonic() < deadline:
        time.sleep(0.5)
        probe = fsync_probe(directory)
    return probe


def loadavg():
    """The load averages, and the share of the last 10 s in which some task
    waited on I/O (Linux PSI), as a run starts: the machine is shared."""
    try:
        with open("/proc/loadavg") as f:
            load = [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None
    try:
        with open("/proc/pressure/io") as f:
            some = f.readline().split()
        load.append(float(some[1].split("=")[1]))
    except (OSError, IndexError, ValueError):
        pass
    return load
