#!/usr/bin/env python3
"""Learning Core (openedx-core) on the demo course, in-process through its API.

    LC_BENCH_DIR is made here; run with the venv's python (benches/learning_core.sh):
    python benches/learning_core/bench.py TREE [--runs N]

Real openedx-core in a real Django (benches/learning_core/settings.py: SQLite
file and a FileSystemStorage for Media, both in a temp dir), driven through
``openedx_content.api``, the public API Studio calls. Each run starts from a
fresh copy of a freshly migrated database (so no run finds the previous one's
rows or Media), and times four figures, as benches/learning_core/rest.py does
against the appliance over REST:

import
    Every file of the tree stored in one transaction: create_learning_package,
    then inside bulk_draft_changes_for (one DraftChangeLog, as lp_load's
    restore does) one create_component + create_next_component_version per
    component with its files as Media.
publish
    publish_all_drafts after the import.
read
    Every file's bytes read back, one lookup per file, the way edx-platform's
    Learning Core XBlock runtime reads a block's OLX (get_block_olx): the
    learning package by key, get_component_by_key, component.versioning.draft,
    then the version's Media by key (``media.get(componentversionmedia__key=)``)
    and its text, or its stored file for file-backed Media. The bytes are
    checked against the tree's inside the clock, as on the REST side.
edit
    8 files changed (common.edit_targets: html and problem OLX spread over the
    course), each as one transaction the way a Studio save is one request:
    look up the package and component, store the new text as Media,
    create_next_component_version replacing that key; then publish_all_drafts.

The mapping (closest to how Studio's library import and lp_load store OLX):

- One Component per OLX block, namespace ``xblock.v1``, type the block's
  folder (html, problem, vertical, ...; ``course`` for course.xml), local key
  the path below that folder without its extension. An html block's pointer
  ``html/X.xml`` and body ``html/X.html`` are two files of one component, as
  the body is part of the block in Studio; every other file is alone in its
  component. 800 files make 534 components.
- The block's ``.xml`` is the Media keyed ``block.xml``, stored as text Media
  (in the database) with media type ``application/vnd.openedx.xblock.v1.TYPE+xml``,
  exactly as lp_load's restore stores block.xml. The other OLX files (html
  bodies, about/, info/, policies/ JSON) are text Media keyed by their file
  name, unless over Media.MAX_TEXT_LENGTH (50,000 characters: one html body and
  policies/assets.json), which then are file Media like assets.
- ``static/NAME`` (course assets) are file Media keyed ``static/NAME`` (bytes
  passed to create_next_component_version, which stores them in the file
  storage under the guessed media type), as lp_load and Studio store a
  component's assets; with no block in the tree owning an asset, each asset is
  its own component of type ``static``.

Durability differs: Django's FileSystemStorage writes Media files without
fsync and SQLite (Django's defaults: rollback journal, synchronous=FULL)
fsyncs at each commit; the appliance fsyncs every file blob it stores before
its commit. Neither side is changed here; the table says when the shared disk
made fsync slow (common.fsync_probe).

Prints one JSON object: versions, counts and each figure's seconds per run.
"""

import argparse
import json
import mimetypes
import os
import shutil
import sys
import tempfile
import time
from collections import OrderedDict
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

NAMESPACE = "xblock.v1"
TEXT_MAX = 50_000  # Media.MAX_TEXT_LENGTH in openedx-core 0.36


def plan(files):
    """(type, local key) -> [(path, media key, text?, media type)], in file order."""
    groups = OrderedDict()
    where = {}
    for path, data in files:
        folder, _, rest = path.partition("/")
        if not rest:  # course.xml at the root
            folder, rest = os.path.splitext(path)[0], path
        if folder == "static":
            ctype, local, key = "static", rest, "static/" + rest
        else:
            ctype = folder
            local, ext = os.path.splitext(rest)
            key = "block.xml" if ext == ".xml" else os.path.basename(rest)
        if key == "block.xml":
            mime = f"application/vnd.openedx.xblock.v1.{ctype}+xml"
        else:
            mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        text = folder != "static"
        if text:
            try:
                text = len(data.decode("utf-8")) <= TEXT_MAX
            except UnicodeDecodeError:
                text = False
        members = groups.setdefault((ctype, local), [])
        assert all(k != key for _, k, _, _ in members), (path, key)
        members.append((path, key, text, mime))
        where[path] = (ctype, local, key, text, mime)
    return groups, where


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    common.add_run_options(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    root, _ = common.tree_root(args.tree)
    files = common.tree(root)
    data_of = dict(files)
    groups, where = plan(files)
    targets = common.edit_targets(files)

    work = tempfile.mkdtemp(prefix="lc-bench-")
    os.environ["LC_BENCH_DIR"] = work
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    import django

    django.setup()
    import openedx_core
    from django.core.management import call_command
    from django.db import connections, transaction
    from openedx_content import api
    from openedx_content.applets.media.models import get_storage

    call_command("migrate", verbosity=0, interactive=False)
    template = connections["default"].settings_dict["NAME"]
    connections.close_all()
    storage_root = get_storage().location

    results = {"import": [], "publish": [], "read": [], "edit": []}
    load, probes = [], []
    for run in range(args.runs):
        # A fresh, migrated database and an empty Media storage for each run.
        db = os.path.join(work, f"run{run}.sqlite3")
        shutil.copyfile(template, db)
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = db
        shutil.rmtree(storage_root, ignore_errors=True)
        lp_key = f"lib:OpenedX:demo-{os.getpid()}-{run}"
        probes.append(common.probe_disk(work, args.quiet_fsync_ms))
        load.append(common.loadavg())

        # import
        start = time.perf_counter()
        now = datetime.now(tz=timezone.utc)
        with transaction.atomic():
            lp = api.create_learning_package(lp_key, "Demo course", created=now)
            component_types, media_types = {}, {}
            with api.bulk_draft_changes_for(lp.id, changed_at=now):
                for (ctype, local), members in groups.items():
                    ct = component_types.get(ctype)
                    if ct is None:
                        ct = component_types[ctype] = api.get_or_create_component_type(
                            NAMESPACE, ctype
                        )
                    component = api.create_component(
                        lp.id,
                        component_type=ct,
                        local_key=local,
                        created=now,
                        created_by=None,
                    )
                    media = {}
                    for path, key, text, mime in members:
                        if text:
                            mt = media_types.get(mime)
                            if mt is None:
                                mt = media_types[mime] = api.get_or_create_media_type(mime)
                            media[key] = api.get_or_create_text_media(
                                lp.id, mt.id, text=data_of[path].decode("utf-8"), created=now
                            ).id
                        else:
                            media[key] = data_of[path]
                    api.create_next_component_version(
                        component.pk, media_to_replace=media, created=now, title=local
                    )
        results["import"].append(time.perf_counter() - start)

        # publish
        start = time.perf_counter()
        api.publish_all_drafts(lp.id, message="demo course")
        results["publish"].append(time.perf_counter() - start)

        # per-file read back
        start = time.perf_counter()
        for path, data in files:
            ctype, local, key, _, _ = where[path]
            package = api.get_learning_package_by_key(lp_key)
            component = api.get_component_by_key(
                package.id, namespace=NAMESPACE, type_name=ctype, local_key=local
            )
            version = component.versioning.draft
            media = version.media.get(componentversionmedia__key=key)
            if media.text is not None:
                got = media.text.encode("utf-8")
            else:
                with media.read_file() as f:
                    got = f.read()
            if got != data:
                sys.exit(f"read {path}: other bytes than were written")
        results["read"].append(time.perf_counter() - start)

        # edit round: 8 saves, then a publish
        start = time.perf_counter()
        for i, path in enumerate(targets):
            ctype, local, key, text, mime = where[path]
            new = common.edited(data_of[path], f"{run}.{i}")
            now = datetime.now(tz=timezone.utc)
            with transaction.atomic():
                package = api.get_learning_package_by_key(lp_key)
                component = api.get_component_by_key(
                    package.id, namespace=NAMESPACE, type_name=ctype, local_key=local
                )
                if text:
                    mt = api.get_or_create_media_type(mime)
                    value = api.get_or_create_text_media(
                        package.id, mt.id, text=new.decode("utf-8"), created=now
                    ).id
                else:
                    value = new
                api.create_next_component_version(
                    component.pk, media_to_replace={key: value}, created=now
                )
        api.publish_all_drafts(lp.id, message="edit round")
        results["edit"].append(time.perf_counter() - start)

        # The edits are there, published.
        for i, path in enumerate(targets):
            ctype, local, key, _, _ = where[path]
            component = api.get_component_by_key(
                lp.id, namespace=NAMESPACE, type_name=ctype, local_key=local
            )
            media = component.versioning.published.media.get(componentversionmedia__key=key)
            got = media.text.encode() if media.text is not None else media.read_file().read()
            if got != common.edited(data_of[path], f"{run}.{i}"):
                sys.exit(f"edit {path}: not published")

    connections.close_all()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "side": "learning_core",
                "openedx_core": openedx_core.__version__,
                "django": django.get_version(),
                "python": sys.version.split()[0],
                "files": len(files),
                "bytes": sum(len(d) for _, d in files),
                "components": len(groups),
                "text_media": sum(1 for v in where.values() if v[3]),
                "edit_paths": targets,
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
