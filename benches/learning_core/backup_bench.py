#!/usr/bin/env python3
"""Issue 19's import figure: the demo course's content as a Learning Core
package, backed up with ``lp_dump``; ``blockstore import`` of that zip vs
``lp_load`` of it (goal: the appliance >= 10x faster). lp_dump's time is
recorded too, for the export figure.

    $HOME/.cache/blockstore-lc-venv/bin/python benches/learning_core/backup_bench.py \
        [--mapping bench|course-static] [--tree DIR] [--bin PATH] \
        [--lc-runs 3] [--import-runs 5] [--keep-zip FILE]

1. In a fresh temp SQLite DB (bench's settings.py), the demo course's files
   become a learning package "lib:DemoX:demo" exactly as bench.py's import
   maps them (``bench.plan``: one component per OLX block, the block's .xml
   as text Media ``block.xml``, html bodies and other OLX as text Media keyed
   by file name, ``static/NAME`` assets as file Media ``static/NAME`` of a
   ``static`` component each), all in one transaction inside
   bulk_draft_changes_for, then publish_all_drafts. ``lp_dump`` of it is
   timed (median of --lc-runs).
   With ``--mapping course-static`` the 140 components bench.plan makes
   without a block.xml (10 about/, 3 info/, 3 policies/ files, 124 static/
   assets) are folded into the course root component (``course:course``) as
   file Media ``static/PATH``, so every component has a block.xml (which
   ``blockstore import`` requires; see BACKUP_RESULTS.md).
2. ``lp_load`` of the zip, each run into a fresh copy of a migrated DB (with
   its user) and an empty Media storage; only the call_command is timed.
   After the first run, every source file is looked up in the restored
   package and the ones lp_load lost or changed are reported.
3. ``BIN --data-dir FRESH import ZIP``: process wall time, each run into a
   new data dir under /tmp (median of --import-runs). The first run's data
   dir is listed with ``files`` to count what came in.

Prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402  (its plan(): the demo course -> components mapping)
import common  # noqa: E402

DEFAULT_TREE = "/work/shared/fixtures/openedx-demo-course/demo-course"
DEFAULT_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release", "blockstore")
LP_KEY = "lib:DemoX:demo"
USER = "author"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def plan_course_static(files):
    """bench.plan, except that the components it makes without a
    ``block.xml`` (about/, info/, policies/ files and each static/ asset) are
    not components: their files become file Media of the course root's
    component (``course:course``, from course.xml), keyed ``static/PATH``
    (``static/NAME`` for assets, ``static/about/overview.html`` ...), the way
    Learning Core keeps a component's assets. Every component then has a
    block.xml."""
    groups, _ = bench.plan(files)
    root = ("course", "course")
    assert root in groups, "no course.xml"
    out = {}
    moved = []
    for ident, members in groups.items():
        if any(key == "block.xml" for _, key, _, _ in members):
            out[ident] = list(members)
        else:
            for path, _, _, mime in members:
                key = path if path.startswith("static/") else "static/" + path
                moved.append((path, key, False, mime))
    out[root] = out[root] + moved
    return out


def build_package(api, files, groups, user):
    """bench.py's import, verbatim in substance, then a publish."""
    data_of = dict(files)
    now = datetime.now(tz=timezone.utc)
    from django.db import transaction

    with transaction.atomic():
        lp = api.create_learning_package(LP_KEY, "Demo course", created=now)
        component_types, media_types = {}, {}
        with api.bulk_draft_changes_for(lp.id, changed_at=now, changed_by=user.pk):
            for (ctype, local), members in groups.items():
                ct = component_types.get(ctype)
                if ct is None:
                    ct = component_types[ctype] = api.get_or_create_component_type(
                        bench.NAMESPACE, ctype
                    )
                component = api.create_component(
                    lp.id, component_type=ct, local_key=local, created=now, created_by=user.pk
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
                    component.pk, media_to_replace=media, created=now, title=local,
                    created_by=user.pk,
                )
    api.publish_all_drafts(lp.id, message="demo course", published_by=user.pk)
    return lp


def package_files(api, lp):
    """{(type, local_key): {media key: bytes}} of every component's draft."""
    out = {}
    for comp in api.get_components(lp.id).select_related("component_type"):
        version = comp.versioning.draft
        got = {}
        if version is not None:
            for cvm in version.componentversionmedia_set.select_related("media"):
                media = cvm.media
                if media.has_file:
                    with media.read_file() as f:
                        got[cvm.key] = f.read()
                else:
                    got[cvm.key] = (media.text or "").encode("utf-8")
        out[(comp.component_type.name, comp.local_key)] = got
    return out


def compare(source, restored):
    """What the restore lost or changed, per source file."""
    lost_components, lost_files, changed_files = [], [], []
    for ident, files in source.items():
        if ident not in restored:
            lost_components.append(":".join(ident))
            continue
        for key, data in files.items():
            got = restored[ident].get(key)
            if got is None:
                lost_files.append(f"{':'.join(ident)} {key}")
            elif got != data:
                changed_files.append(f"{':'.join(ident)} {key}")
    extra = sorted(":".join(i) for i in restored if i not in source)
    return {
        "lost_components": lost_components,
        "lost_files": lost_files,
        "changed_files": changed_files,
        "extra_components": extra,
    }


def zip_stats(path):
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    files = [i for i in infos if not i.is_dir()]
    names = {i.filename for i in files}
    # component TOMLs: entities/NS/TYPE/NAME.toml; their files: .../NAME/component_versions/vN/
    no_block = []
    for n in sorted(names):
        parts = n.split("/")
        if len(parts) == 4 and n.endswith(".toml"):
            stem = n[: -len(".toml")]
            versions = {m.split("/")[5] for m in names if m.startswith(stem + "/component_versions/")}
            for v in sorted(versions) or ["v1"]:
                if f"{stem}/component_versions/{v}/block.xml" not in names:
                    no_block.append(f"{n} ({v})")
    return {
        "components_without_block_xml": no_block,
        "entries": len(infos),
        "files": len(files),
        "uncompressed_bytes": sum(i.file_size for i in files),
        "toml_files": sum(1 for i in files if i.filename.endswith(".toml")),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=DEFAULT_TREE)
    parser.add_argument("--bin", default=DEFAULT_BIN)
    parser.add_argument("--lc-runs", type=int, default=3)
    parser.add_argument("--import-runs", type=int, default=5)
    parser.add_argument("--keep-zip", help="copy the lp_dump zip here")
    parser.add_argument(
        "--mapping", choices=("bench", "course-static"), default="bench",
        help="bench: bench.py's plan (default); course-static: files of block-less "
        "components become static files of the course root component",
    )
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)

    root, _ = common.tree_root(args.tree)
    files = common.tree(root)
    groups = bench.plan(files)[0] if args.mapping == "bench" else plan_course_static(files)
    data_of = dict(files)
    source = {ident: {} for ident in groups}
    for (ctype, local), members in groups.items():
        for path, key, _, _ in members:
            source[(ctype, local)][key] = data_of[path]
    log(f"tree {root}: {len(files)} files, {sum(map(len, data_of.values()))} bytes, "
        f"{len(groups)} components")

    work = tempfile.mkdtemp(prefix="lc-backup-bench-")
    os.environ["LC_BENCH_DIR"] = work
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    import django

    django.setup()
    import openedx_core
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from openedx_content import api
    from openedx_content.applets.media.models import get_storage
    from openedx_content.models_api import LearningPackage

    log("migrating the template DB ...")
    call_command("migrate", verbosity=0, interactive=False)
    get_user_model().objects.create_user(USER, email="author@example.com")
    template = connections["default"].settings_dict["NAME"]
    connections.close_all()
    storage_root = get_storage().location

    def fresh_db(name):
        db = os.path.join(work, f"{name}.sqlite3")
        shutil.copyfile(template, db)
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = db
        shutil.rmtree(storage_root, ignore_errors=True)
        connections["default"].ensure_connection()
        return db

    quiet = io.StringIO()
    result = {}
    try:
        # 1. build the source package, publish, lp_dump (timed)
        fresh_db("source")
        user = get_user_model().objects.get(username=USER)
        log("building the source package ...")
        t = time.perf_counter()
        lp = build_package(api, files, groups, user)
        log(f"  built + published in {time.perf_counter() - t:.2f} s")
        src_listing = package_files(api, lp)
        assert src_listing == source, "source package differs from the tree"

        dump_s = []
        zip_path = os.path.join(work, "demo-0.zip")
        for run in range(args.lc_runs):
            path = os.path.join(work, f"demo-{run}.zip")
            t = time.perf_counter()
            call_command("lp_dump", LP_KEY, path, username=USER, stdout=quiet)
            dump_s.append(time.perf_counter() - t)
            log(f"  lp_dump run {run}: {dump_s[-1]:.3f} s")
        if args.keep_zip:
            shutil.copyfile(zip_path, args.keep_zip)
        zstats = zip_stats(zip_path)
        zip_bytes = os.path.getsize(zip_path)
        log(f"zip: {zip_bytes} bytes, {zstats['files']} files, "
            f"{len(zstats['components_without_block_xml'])} component versions without block.xml")

        # 2. lp_load (timed), each into a fresh DB + empty Media storage
        load_s, load_loadavg = [], []
        restore_check = None
        for run in range(args.lc_runs):
            fresh_db(f"load{run}")
            load_loadavg.append(common.loadavg())
            t = time.perf_counter()
            call_command("lp_load", zip_path, USER, stdout=quiet)
            load_s.append(time.perf_counter() - t)
            log(f"  lp_load run {run}: {load_s[-1]:.3f} s")
            if restore_check is None:
                packages = list(LearningPackage.objects.order_by("pk"))
                assert len(packages) == 1, packages
                restored = package_files(api, packages[0])
                restore_check = compare(source, restored)
                restore_check["restored_key"] = packages[0].key
                restore_check["restored_components"] = len(restored)
                restore_check["restored_files"] = sum(len(v) for v in restored.values())
                log(f"  lp_load kept {restore_check['restored_files']} of "
                    f"{sum(len(v) for v in source.values())} files; lost "
                    f"{len(restore_check['lost_files'])} files, "
                    f"{len(restore_check['lost_components'])} components; changed "
                    f"{len(restore_check['changed_files'])}")
        connections.close_all()

        # 3. blockstore import (timed: process wall time), fresh data dir each run
        import_s, import_loadavg, fsync_ms = [], [], []
        import_out = None
        first_dir = None
        for run in range(args.import_runs):
            data_dir = tempfile.mkdtemp(prefix="bs-backup-bench-", dir="/tmp")
            fsync_ms.append(round(common.probe_disk("/tmp"), 3))
            import_loadavg.append(common.loadavg())
            cmd = [binary, "--data-dir", data_dir, "import", zip_path]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True)
            import_s.append(time.perf_counter() - t)
            if proc.returncode != 0:
                log(f"blockstore import FAILED (exit {proc.returncode}): {' '.join(cmd)}")
                log(proc.stderr.decode(errors="replace"))
                result["import_error"] = {
                    "exit": proc.returncode,
                    "stderr": proc.stderr.decode(errors="replace"),
                    "stdout": proc.stdout.decode(errors="replace"),
                }
                shutil.rmtree(data_dir, ignore_errors=True)
                import_s.pop()
                break
            log(f"  import run {run}: {import_s[-1]:.3f} s")
            if first_dir is None:
                first_dir = data_dir
                import_out = proc.stdout.decode(errors="replace").strip()
            else:
                shutil.rmtree(data_dir, ignore_errors=True)

        # 4. blockstore export of what was imported (timed: process wall
        # time), a new zip each run
        export_s = []
        if first_dir is not None:
            slug = json.loads(
                subprocess.run([binary, "--data-dir", first_dir, "collections", "--json"],
                               capture_output=True, text=True).stdout
            )[0]["slug"]
            for run in range(args.import_runs):
                out_zip = os.path.join(tempfile.mkdtemp(prefix="bs-backup-export-", dir="/tmp"), "out.zip")
                cmd = [binary, "--data-dir", first_dir, "export", slug, out_zip, "--format", "learning-core"]
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True)
                export_s.append(time.perf_counter() - t)
                shutil.rmtree(os.path.dirname(out_zip), ignore_errors=True)
                if proc.returncode != 0:
                    log(f"blockstore export FAILED: {proc.stderr.decode(errors='replace')}")
                    export_s.pop()
                    break
                log(f"  export run {run}: {export_s[-1]:.3f} s")

        imported = None
        if first_dir is not None:
            cols = subprocess.run([binary, "--data-dir", first_dir, "collections", "--json"],
                                  capture_output=True, text=True)
            imported = {"import_stdout": import_out, "collections": cols.stdout.strip()[:2000]}
            try:
                slugs = [c["slug"] for c in json.loads(cols.stdout)] if cols.stdout.strip() else []
            except (ValueError, KeyError, TypeError):
                slugs = []
            for slug in slugs:
                for state in ("@draft", "@latest"):
                    fl = subprocess.run([binary, "--data-dir", first_dir, "files", slug + state, "--json"],
                                        capture_output=True, text=True)
                    try:
                        listing = json.loads(fl.stdout)
                        if isinstance(listing, dict):
                            listing = listing.get("files", listing)
                        imported[f"files {slug}{state}"] = len(listing)
                    except ValueError:
                        imported[f"files {slug}{state}"] = (fl.stdout + fl.stderr).strip()[:300]
            shutil.rmtree(first_dir, ignore_errors=True)

        med = statistics.median
        result = {
            "files_in_zip": zstats["files"],
            "zip_bytes": zip_bytes,
            "lp_dump_s": [round(s, 4) for s in dump_s],
            "lp_load_s": [round(s, 4) for s in load_s],
            "import_s": [round(s, 4) for s in import_s],
            "import_ratio": (round(med(load_s) / med(import_s), 2) if import_s else None),
            "export_s": [round(s, 4) for s in export_s],
            "export_ratio": (round(med(dump_s) / med(export_s), 2) if export_s else None),
            **result,
            "zip": zstats,
            "mapping": args.mapping,
            "source": {
                "tree": root,
                "files": len(files),
                "bytes": sum(map(len, data_of.values())),
                "components": len(groups),
                "component_types": dict(sorted(Counter(t for t, _ in groups).items())),
                "lp_key": LP_KEY,
            },
            "lp_load_check": restore_check,
            "imported": imported,
            "loadavg_lp_load": load_loadavg,
            "loadavg_import": import_loadavg,
            "fsync_probe_ms_import": fsync_ms,
            "versions": {
                "openedx_core": openedx_core.__version__,
                "django": django.get_version(),
                "python": sys.version.split()[0],
                "bin": binary,
            },
        }
    finally:
        connections.close_all()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    if "import_error" in result:
        sys.exit(1)


if __name__ == "__main__":
    main()
