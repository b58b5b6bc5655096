#!/usr/bin/env python3
"""The appliance's side of benches/learning_core.sh: Learning Core's four
figures against the real server over REST.

    python3 benches/learning_core/rest.py BLOCKSTORE_BIN TREE [--runs N]

Each run starts `BLOCKSTORE_BIN --data-dir TMP serve` on a free loopback port
with a new, empty data dir (so no run finds the previous run's blobs: the blob
store dedups across collections, and Learning Core's Media are per learning
package), talks to it over one keep-alive connection with Python's
http.client, as benches/demo_rest.py does, stops it and deletes the data dir.
Stdlib only. The figures, the same work as benches/learning_core/bench.py does
in-process through openedx-core:

import
    POST /api/v1/collections/SLUG/import with the tree as an uncompressed .tar
    (one top-level folder, as Studio's export; built in memory before the
    clock starts, as Learning Core gets the bytes in memory): one request, one
    transaction, the collection created by it. `import_gz` is the same with
    the .tar.gz Studio hands out (into a second collection, after the rest).
publish
    POST /api/v1/collections/SLUG/publish.
read
    GET /api/v1/collections/SLUG/raw/PATH for every file, bytes checked.
edit
    8 PUTs of raw (common.edit_targets, changed by common.edited) and a publish.
health
    As many GET /api/v1/health as there are files: the floor of the client
    and the server's HTTP layers under `read`.

Prints one JSON object like bench.py's.
"""

import argparse
import gzip
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402


def archive(top, files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in files:
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The appliance on a new data dir and a free loopback port."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="lc-appliance-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [
                binary,
                "--data-dir",
                os.path.join(self.dir, "data"),
                "serve",
                "--addr",
                f"127.0.0.1:{self.port}",
                "--log-format",
                "json",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited with {self.proc.returncode}: see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                common.request(conn, "GET", "/api/v1/health")
                conn.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("the server did not answer /api/v1/health in 30 s")
                time.sleep(0.05)

    def stop(self, keep=False):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("tree")
    common.add_run_options(parser)
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    args = parser.parse_args()

    root, top = common.tree_root(args.tree)
    files = common.tree(root)
    data_of = dict(files)
    targets = common.edit_targets(files)
    tar = archive(top, files)
    tar_gz = gzip.compress(tar, compresslevel=6, mtime=0)
    quote = urllib.parse.quote
    json_headers = {"Content-Type": "application/json"}

    names = ["import", "publish", "read", "edit", "import_gz", "health"]
    results = {k: [] for k in names}
    load, reports, probes = [], [], []
    for run in range(args.runs):
        server = Server(args.binary)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            common.request(conn, "GET", "/api/v1/health")  # open the connection
            slug = f"demo-{run}"
            probes.append(common.probe_disk(server.dir, args.quiet_fsync_ms))
            load.append(common.loadavg())

            start = time.perf_counter()
            report = common.request(
                conn,
                "POST",
                f"/api/v1/collections/{slug}/import",
                tar,
                {"Content-Type": "application/x-tar"},
            )
            results["import"].append(time.perf_counter() - start)
            report = json.loads(report)
            report.pop("changes", None)  # the 800 paths
            reports.append(report)

            start = time.perf_counter()
            common.request(
                conn,
                "POST",
                f"/api/v1/collections/{slug}/publish",
                json.dumps({"message": "demo course"}),
                json_headers,
            )
            results["publish"].append(time.perf_counter() - start)

            start = time.perf_counter()
            for path, data in files:
                got = common.request(conn, "GET", f"/api/v1/collections/{slug}/raw/{quote(path)}")
                if got != data:
                    sys.exit(f"GET {path}: other bytes than were written")
            results["read"].append(time.perf_counter() - start)

            start = time.perf_counter()
            for i, path in enumerate(targets):
                common.request(
                    conn,
                    "PUT",
                    f"/api/v1/collections/{slug}/raw/{quote(path)}",
                    common.edited(data_of[path], f"{run}.{i}"),
                )
            common.request(
                conn,
                "POST",
                f"/api/v1/collections/{slug}/publish",
                json.dumps({"message": "edit round"}),
                json_headers,
            )
            results["edit"].append(time.perf_counter() - start)

            # The edits are there, published.
            for i, path in enumerate(targets):
                got = common.request(
                    conn,
                    "GET",
                    f"/api/v1/collections/{slug}/raw/{quote(path)}?version=latest",
                )
                if got != common.edited(data_of[path], f"{run}.{i}"):
                    sys.exit(f"edit {path}: not published")

            start = time.perf_counter()
            common.request(
                conn,
                "POST",
                f"/api/v1/collections/{slug}-gz/import",
                tar_gz,
                {"Content-Type": "application/gzip"},
            )
            results["import_gz"].append(time.perf_counter() - start)

            start = time.perf_counter()
            for _ in files:
                common.request(conn, "GET", "/api/v1/health")
            results["health"].append(time.perf_counter() - start)
            conn.close()
        finally:
            server.stop(keep=args.keep)

    version = subprocess.run(
        [args.binary, "--version"], capture_output=True, text=True
    ).stdout.strip()
    print(
        json.dumps(
            {
                "side": "appliance",
                "blockstore": version,
                "python": sys.version.split()[0],
                "files": len(files),
                "bytes": sum(len(d) for _, d in files),
                "tar_bytes": len(tar),
                "tar_gz_bytes": len(tar_gz),
                "edit_paths": targets,
                "import_report": reports[0] if reports else None,
                "loadavg": load,
                "fsync_probe_ms": probes,
                "quiet_fsync_ms": args.quiet_fsync_ms,
                "seconds": results,
                "ms": {k: common.summary(v) for k, v in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
