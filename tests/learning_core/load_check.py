#!/usr/bin/env python
"""Load a Learning Core backup zip (``lp_dump`` format) into a FRESH temporary
SQLite database with ``lp_load`` and print what came back, read through the
Learning Core (openedx_content) Python API.

Usage (with the venv that has openedx-core installed)::

    $HOME/.cache/blockstore-lc-venv/bin/python tests/learning_core/load_check.py tests/learning_core/sample.zip

Prints, for the restored learning package: every component (type, key, title,
draft/published version numbers, the version numbers that exist at all,
files with sizes and media types), every container (type, children of the
draft and published versions, pinned or not) and every collection.

``describe(lp)`` is also imported by make_samples.py to print the SOURCE
package the same way, so the two listings can be diffed.

Nothing is written outside a temp dir, which is deleted at exit (unless
--keep).
"""

import argparse
import hashlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_SETTINGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benches", "learning_core")  # settings.py (reused, not modified)


def setup_django(work_dir):
    """Configure Django with the benches' settings module (SQLite + media
    storage under ``work_dir``), and migrate a fresh database."""
    os.environ["LC_BENCH_DIR"] = work_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    if BENCH_SETTINGS_DIR not in sys.path:
        sys.path.insert(0, BENCH_SETTINGS_DIR)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _media_desc(cvm):
    media = cvm.media
    if media.has_file:
        storage = "file"
        try:
            with media.read_file() as f:
                data = f.read()
        except Exception as exc:  # noqa: BLE001
            data = None
            storage = f"file(unreadable: {exc})"
    else:
        storage = "text"
        data = media.text.encode("utf-8") if media.text is not None else None
    digest = hashlib.sha1(data).hexdigest()[:10] if data is not None else "-"
    return f"{cvm.key}  size={media.size} ({storage}, {media.media_type}) sha1={digest}"


def _version_line(label, version):
    if version is None:
        return f"    {label}: none"
    return f"    {label}: v{version.version_num} title={version.title!r}"


def describe(lp, out=sys.stdout):
    """Print the learning package ``lp`` through the Learning Core API."""
    from openedx_content import api

    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"LEARNING PACKAGE key={lp.key!r} title={lp.title!r} description={lp.description!r}")
    p(f"  created={lp.created.isoformat()} updated={lp.updated.isoformat()}")

    entities = api.get_publishable_entities(lp.id).order_by("key")
    components = [e for e in entities if hasattr(e, "component")]
    containers = [e for e in entities if hasattr(e, "container")]

    p(f"\nCOMPONENTS ({len(components)})")
    for entity in components:
        comp = entity.component
        ctype = comp.component_type
        draft = api.get_draft_version(entity)
        published = api.get_published_version(entity)
        all_nums = sorted(entity.versions.values_list("version_num", flat=True))
        p(f"  [{ctype.namespace}:{ctype.name}] key={entity.key!r} local_key={comp.local_key!r}"
          f" can_stand_alone={entity.can_stand_alone}")
        p(f"    created={entity.created.isoformat()} versions_in_db={all_nums}")
        for label, version in (("draft", draft), ("published", published)):
            p(_version_line(label, version))
            if version is None:
                continue
            if label == "published" and draft is not None and draft.pk == published.pk:
                p("      (same version as draft)")
                continue
            cvms = version.componentversion.componentversionmedia_set.select_related(
                "media", "media__media_type"
            ).order_by("key")
            if not cvms:
                p("      files: (none)")
            for cvm in cvms:
                p("      file " + _media_desc(cvm))

    p(f"\nCONTAINERS ({len(containers)})")
    for entity in containers:
        container = entity.container
        kind = next((k for k in ("section", "subsection", "unit") if hasattr(container, k)), "container")
        draft = api.get_draft_version(entity)
        published = api.get_published_version(entity)
        all_nums = sorted(entity.versions.values_list("version_num", flat=True))
        p(f"  [{kind}] key={entity.key!r} can_stand_alone={entity.can_stand_alone}"
          f" versions_in_db={all_nums}")
        for label, version in (("draft", draft), ("published", published)):
            p(_version_line(label, version))
            if version is None:
                continue
            rows = version.containerversion.entity_list.entitylistrow_set.select_related(
                "entity", "entity_version"
            ).order_by("order_num")
            for row in rows:
                pin = f" PINNED v{row.entity_version.version_num}" if row.entity_version_id else " (unpinned)"
                p(f"      child {row.entity.key!r}{pin}")

    collections = api.get_collections(lp.id, enabled=None).order_by("key")
    p(f"\nCOLLECTIONS ({len(collections)})")
    for coll in collections:
        keys = list(coll.entities.order_by("key").values_list("key", flat=True))
        p(f"  key={coll.key!r} title={coll.title!r} description={coll.description!r}"
          f" enabled={coll.enabled}")
        p(f"    entities={keys}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zip", help="path of the lp_dump zip to load")
    parser.add_argument("--keep", action="store_true", help="keep the temp DB dir")
    args = parser.parse_args()
    zip_path = os.path.abspath(args.zip)

    work = tempfile.mkdtemp(prefix="lc-load-check-")
    try:
        setup_django(work)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from openedx_content import api
        from openedx_content.models_api import LearningPackage

        get_user_model().objects.create_user("loader", email="loader@example.com")
        # lp_load requires a username; it stores the package under a new
        # "lp-restore:<username>:<org>:<slug>:<ms>" key.
        call_command("lp_load", zip_path, "loader", stdout=sys.stderr)
        packages = list(LearningPackage.objects.order_by("pk"))
        assert len(packages) == 1, packages
        describe(api.get_learning_package(packages[0].pk))
    finally:
        if args.keep:
            print(f"\n(kept {work})", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
