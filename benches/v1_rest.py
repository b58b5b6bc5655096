#!/usr/bin/env python3
"""The original Blockstore's own workload over the v1 API (issue 18).

As edx-platform's `blockstore_api` client drove it: create a collection, a
bundle and a draft; PATCH one file per request (base64 JSON) for every file
of the demo course; commit; then read every file back through the
version's file URLs (one GET of the version, one plain GET per file URL,
without the token). One keep-alive connection (Python's http.client), as
the original's figures and `demo_rest.py` were taken.

    python3 benches/v1_rest.py http://127.0.0.1:PORT TREE KEY [--runs N]

Prints one JSON object: files, bytes, and each run's seconds for "write"
(the PATCHes), "commit", "read" (the version + every file URL), "index" (as many GETs of the API's index:
the floor of the client and the HTTP layers). Stdlib only;
`cargo bench --bench server -- --v1-rest` starts a server and runs it.
"""

import argparse
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_rest import tree  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("tree")
    parser.add_argument("key")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.base)
    files = tree(args.tree)
    bodies = [
        json.dumps({"files": {path: base64.b64encode(data).decode("ascii")}})
        for path, data in files
    ]
    auth = {"Authorization": f"Token {args.key}", "Content-Type": "application/json"}
    api = "/blockstore/api/v1/"
    conn = http.client.HTTPConnection(url.hostname, url.port)

    def call(method, path, body=None, headers=auth):
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data and response.status != 204 else None

    write, commit, read, index = [], [], [], []
    for run in range(args.runs):
        collection = call("POST", api + "collections", json.dumps({"title": f"bench {run}"}))
        bundle = call(
            "POST",
            api + "bundles",
            json.dumps(
                {
                    "collection_uuid": collection["uuid"],
                    "slug": f"demo-v1-{os.getpid()}-{run}",
                    "title": "Demo course",
                }
            ),
        )
        draft = call(
            "POST", api + "drafts", json.dumps({"bundle_uuid": bundle["uuid"], "name": "studio_draft"})
        )
        target = api + "drafts/" + draft["uuid"]
        start = time.perf_counter()
        for body in bodies:
            call("PATCH", target, body)
        write.append(time.perf_counter() - start)
        start = time.perf_counter()
        answer = call("POST", target + "/commit")
        commit.append(time.perf_counter() - start)
        version_path = urllib.parse.urlparse(answer["bundle_version"]).path
        start = time.perf_counter()
        version = call("GET", version_path)
        listed = version["snapshot"]["files"]
        for path, data in files:
            file_url = urllib.parse.urlparse(listed[path]["url"])
            conn.request("GET", file_url.path)
            response = conn.getresponse()
            got = response.read()
            if response.status != 200 or got != data:
                sys.exit(f"GET {file_url.path}: {response.status}, other bytes than were written")
        read.append(time.perf_counter() - start)
        # The floor of the client and the server's HTTP layers: as many
        # authenticated requests that touch no store (the API's index).
        start = time.perf_counter()
        for _ in files:
            call("GET", api)
        index.append(time.perf_counter() - start)
    conn.close()
    print(
        json.dumps(
            {
                "files": len(files),
                "bytes": sum(len(d) for _, d in files),
                "write": write,
                "commit": commit,
                "read": read,
                "index": index,
            }
        )
    )


if __name__ == "__main__":
    main()
