#!/usr/bin/env python3
"""The round trip the other way (issue 19), against real Learning Core:
an OLX export that never was a Learning Core package, out to Learning Core
and back.

    $LC_VENV/bin/python tests/learning_core/olx_round_trip.py path/to/blockstore OLX_DIR...

For each OLX export (the demo library; the sample course, with html bodies,
assets and a section/subsection/unit tree):

1. `blockstore import OLX --publish`, then a draft edit of one block file,
   so the package has a published state and a draft that differs;
2. `blockstore export --format learning-core` -> ours.zip;
3. `lp_load ours.zip` into a fresh database, then `lp_dump` of what it
   restored -> theirs.zip;
4. `blockstore import ours.zip` and `blockstore import theirs.zip`: the two
   collections must hold the identical tree, byte for byte, in both states
   (published and draft), except `learning_core/package.toml` (lp_load
   gives the package a new `lp-restore:` key and lp_dump writes its own
   `[meta]`), and with the same history (one version, and a draft);
5. every block file of the OLX export must be in that tree byte for byte
   at `TYPE/URL_NAME/definition.xml` (html with a body file: the body inside
   it), and every asset a block links to beside it under `static/`.

Exits 1, printing the differences, otherwise.
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def run(*args):
    done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def tree(folder):
    """Every file under `folder`: relative path -> bytes."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def state(bs, slug, at, work):
    """A collection state exported as an OLX folder (its tree as stored)."""
    out = os.path.join(work, f"{slug}-{at}")
    run(*bs, "export", f"{slug}@{at}" if at != "draft" else slug, out)
    # An export of a bundle is the collection's tree at the folder's top.
    return tree(out)


def without_comments(data):
    """entities.toml without its comments, titles with their ends' white
    space stripped: Learning Core's serializer strips a title's white space
    on load (DRF's `trim_whitespace`), its loss."""
    lines = (line for line in data.split(b"\n") if not line.startswith(b"#"))
    return b"\n".join(
        re.sub(rb'^title = "(\s*)(.*?)(\s*)"$', rb'title = "\2"', line) for line in lines
    )


def compare(label, a, b, ignore=("learning_core/package.toml",)):
    """`a` and `b` must be the same tree; `entities.toml`'s comment names the
    zip it came from, and is left out."""
    a = {p: without_comments(d) if p == "learning_core/entities.toml" else d for p, d in a.items()}
    b = {p: without_comments(d) if p == "learning_core/entities.toml" else d for p, d in b.items()}
    problems = []
    for path in sorted(set(a) | set(b)):
        if path in ignore:
            continue
        if path not in a:
            problems.append(f"{label}: only after Learning Core: {path}")
        elif path not in b:
            problems.append(f"{label}: lost in Learning Core: {path}")
        elif a[path] != b[path]:
            at = next(i for i, (x, y) in enumerate(zip(a[path] + b"\0", b[path] + b"\1")) if x != y)
            problems.append(f"{label}: differs: {path} at byte {at}\n    ours:   {a[path][max(0, at - 80):at + 120]!r}\n    theirs: {b[path][max(0, at - 80):at + 120]!r}")
    return problems


def main():
    blockstore = os.path.abspath(sys.argv[1])
    sources = [os.path.abspath(p) for p in sys.argv[2:]]
    import load_check

    problems = []
    with tempfile.TemporaryDirectory(prefix="lc-olx-round-trip-") as work:
        os.makedirs(os.path.join(work, "lc"))
        load_check.setup_django(os.path.join(work, "lc"))
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from openedx_content.models_api import LearningPackage

        get_user_model().objects.create_user("loader", email="loader@example.com")
        bs = (blockstore, "--data-dir", os.path.join(work, "data"))
        for i, source in enumerate(sources):
            name = "/".join(source.split("/")[-2:])
            slug = f"src{i}"
            run(*bs, "import", source, "-c", slug, "--publish")
            # A draft edit of the first block file, so the draft differs.
            olx = tree(source)
            edited = next(p for p in sorted(olx) if re.match(r"^(problem|html)/[^/]+\.xml$", p))
            changed = olx[edited].replace(b"display_name=\"", b"display_name=\"(draft) ", 1)
            assert changed != olx[edited], edited
            edit = os.path.join(work, f"edit{i}.xml")
            with open(edit, "wb") as f:
                f.write(changed)
            run(*bs, "write", f"{slug}:{edited}", edit)

            ours = os.path.join(work, f"ours{i}.zip")
            print(run(*bs, "export", slug, ours, "--format", "learning-core").strip())
            before = set(LearningPackage.objects.values_list("pk", flat=True))
            call_command("lp_load", ours, "loader", stdout=open(os.devnull, "w"))
            (restored,) = LearningPackage.objects.exclude(pk__in=before)
            theirs = os.path.join(work, f"theirs{i}.zip")
            call_command("lp_dump", restored.key, theirs, stdout=open(os.devnull, "w"))

            run(*bs, "import", ours, "-c", f"direct{i}")
            run(*bs, "import", theirs, "-c", f"back{i}")
            direct = {at: state(bs, f"direct{i}", at, work) for at in ("1", "draft")}
            back = {at: state(bs, f"back{i}", at, work) for at in ("1", "draft")}
            if direct["1"] == direct["draft"]:
                problems.append(f"{name}: the draft edit of {edited} did not reach the package's draft")
            for at in direct:
                problems += compare(f"{name}@{at}", direct[at], back[at])
            logs = [run(*bs, "log", s, "--json").count('"number"') for s in (f"direct{i}", f"back{i}")]
            if logs[0] != logs[1]:
                problems.append(f"{name}: {logs[0]} versions through ours, {logs[1]} through Learning Core")

            # Every block of the OLX is in the tree as written.
            published = back["1"]
            blocks = assets = 0
            for path, data in olx.items():
                m = re.match(r"^([a-z_0-9-]+)/([^/]+)\.xml$", path)
                if not m or m.group(1) in ("chapter", "sequential", "vertical", "course", "about", "policies", "info", "tabs", "assets"):
                    continue
                kind, url_name = m.groups()
                stored = published.get(f"{kind}/{url_name}/definition.xml")
                if stored is None:
                    problems.append(f"{name}: {path} is not in the tree after Learning Core")
                    continue
                blocks += 1
                body = olx.get(f"html/{url_name}.html")
                if kind == "html" and b"filename=" in data and body is not None:
                    if body.replace(b"]]>", b"]]]]><![CDATA[>") not in stored:
                        problems.append(f"{name}: the body of {path} is not in its block.xml")
                elif data != stored:
                    problems.append(f"{name}: {path} changed on the way: {stored[:200]!r}")
                for ref in set(re.findall(rb"/static/([^\"'\s)<>?#]+)", data + (body or b""))):
                    asset = f"static/{ref.decode()}"
                    if asset in olx:
                        assets += 1
                        if published.get(f"{kind}/{url_name}/{asset}") != olx[asset]:
                            problems.append(f"{name}: {path} links to {asset}, which is not beside it")
            print(f"{name}: {len(direct['1'])} files published, {blocks} blocks checked against the OLX, "
                  f"{assets} linked assets beside their blocks, {len(direct['draft'])} files in the draft")
            if blocks == 0:
                problems.append(f"{name}: no block was checked")

    for p in problems:
        print("PROBLEM", p)
    if problems:
        sys.exit(1)
    print("ok: OLX -> ours -> Learning Core -> ours keeps the identical tree")


if __name__ == "__main__":
    main()
