#!/usr/bin/env python3
"""The demo course over REST, as the old edx-platform client wrote and read it.

One PUT per file on one keep-alive connection (Python's http.client, as the
original Blockstore's figures were taken), then a publish; then the course
read back, one GET per file on the same kind of connection. Each run writes a
new collection, so every PUT creates a file, as it did against a new bundle.

    python3 benches/demo_rest.py http://127.0.0.1:PORT TREE [--runs N]

Prints one JSON object on stdout: files, bytes, and each run's seconds for
"put_publish", "get" and "health" (as many GETs of /api/v1/health: the
floor of the client and of the server's HTTP layers). Stdlib only; `cargo bench --bench server --
--demo-rest` starts a server and runs it.
"""

import argparse
import http.client
import json
import os
import sys
import time
import urllib.parse


def tree(root):
    """Every file under ``root`` as sorted (relative path, bytes)."""
    files = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in names:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as f:
                files.append((rel, f.read()))
    files.sort()
    return files


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        sys.exit(f"{method} {path}: {response.status} {data[:200]!r}")
    return data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("tree")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.base)
    files = tree(args.tree)
    put_publish, get, health = [], [], []
    for run in range(args.runs):
        slug = f"demo-rest-{os.getpid()}-{run}"
        conn = http.client.HTTPConnection(url.hostname, url.port)
        request(
            conn,
            "POST",
            "/api/v1/collections",
            json.dumps({"slug": slug}),
            {"Content-Type": "application/json"},
        )
        quote = urllib.parse.quote
        start = time.perf_counter()
        for path, data in files:
            request(conn, "PUT", f"/api/v1/collections/{slug}/raw/{quote(path)}", data)
        request(
            conn,
            "POST",
            f"/api/v1/collections/{slug}/publish",
            json.dumps({"message": "demo course"}),
            {"Content-Type": "application/json"},
        )
        put_publish.append(time.perf_counter() - start)
        start = time.perf_counter()
        for path, data in files:
            got = request(conn, "GET", f"/api/v1/collections/{slug}/raw/{quote(path)}")
            if got != data:
                sys.exit(f"GET {path}: other bytes than were written")
        get.append(time.perf_counter() - start)
        # The floor of the client and the server's HTTP layers: as many
        # requests that do nothing.
        start = time.perf_counter()
        for _ in files:
            request(conn, "GET", "/api/v1/health")
        health.append(time.perf_counter() - start)
        conn.close()
    print(
        json.dumps(
            {
                "files": len(files),
                "bytes": sum(len(d) for _, d in files),
                "put_publish": put_publish,
                "get": get,
                "health": health,
            }
        )
    )


if __name__ == "__main__":
    main()
