#!/usr/bin/env python
"""Build two Learning Core learning packages through the openedx_content
Python API in a fresh temporary SQLite database and dump them with the
``lp_dump`` management command:

* ``sample.zip``  -- "lib:SampleOrg:sample-lib": components of several types
  with block.xml + static files (binary PNG, 0-byte files), a non-slug
  component key, two components of different types sharing a key, two
  publishes plus unpublished draft changes (modified component, draft-only
  component, soft-deleted component), a unit/subsection/section tree (one
  pinned child) and collections (one disabled).
* ``minimal.zip`` -- "lib:MinOrg:minimal": one html component, published once.

Usage::

    $HOME/.cache/blockstore-lc-venv/bin/python tests/learning_core/make_samples.py [OUT_DIR]

OUT_DIR defaults to this script's directory. Also writes
``OUT_DIR/sample.source.txt`` and ``OUT_DIR/minimal.source.txt``: the source
packages as listed by load_check.describe(), to diff against what
load_check.py prints after lp_load.
"""

import io
import os
import shutil
import struct
import sys
import tempfile
import zlib
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import load_check  # noqa: E402  (same directory: setup_django + describe)

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def tiny_png(rgb=(255, 0, 0)):
    """A valid 1x1 RGB PNG."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    raw = b"\x00" + bytes(rgb)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def build_sample(api, user):
    """The rich package. Returns its key."""
    lp_key = "lib:SampleOrg:sample-lib"
    lp = api.create_learning_package(
        lp_key, "Sample Library", description="Sample package for Blockstore import/export tests.",
        created=T0,
    )
    uid = user.pk
    types = {}
    mtypes = {}

    def ctype(name):
        if name not in types:
            types[name] = api.get_or_create_component_type("xblock.v1", name)
        return types[name]

    def olx(block_type, text, when):
        """block.xml as a text Media, the way Studio/lp_load store OLX."""
        mime = f"application/vnd.openedx.xblock.v1.{block_type}+xml"
        if mime not in mtypes:
            mtypes[mime] = api.get_or_create_media_type(mime)
        return api.get_or_create_text_media(lp.id, mtypes[mime].id, text=text, created=when).id

    def text_media(mime, text, when):
        if mime not in mtypes:
            mtypes[mime] = api.get_or_create_media_type(mime)
        return api.get_or_create_text_media(lp.id, mtypes[mime].id, text=text, created=when).id

    def new_component(block_type, local_key, title, files, when, can_stand_alone=True):
        """Create a component and its first version. ``files`` maps keys to
        Media ids (text) or bytes (file-backed Media, mime guessed)."""
        comp = api.create_component(
            lp.id, component_type=ctype(block_type), local_key=local_key,
            created=when, created_by=uid, can_stand_alone=can_stand_alone,
        )
        api.create_next_component_version(
            comp.pk, media_to_replace=files, created=when, title=title, created_by=uid,
        )
        return comp

    comps = {}
    t = T0 + timedelta(minutes=1)
    with api.bulk_draft_changes_for(lp.id, changed_at=t, changed_by=uid):
        comps["intro-problem"] = new_component("problem", "intro-problem", "Intro Problem", {
            "block.xml": olx("problem", '<problem display_name="Intro Problem">\n'
                             '  <multiplechoiceresponse><p>2+2?</p></multiplechoiceresponse>\n</problem>\n', t),
            "static/diagram.png": tiny_png((255, 0, 0)),
            "static/hints.txt": b"Think about addition.\n",
        }, t)
        comps["intro-html"] = new_component("html", "intro-html", "Intro HTML", {
            "block.xml": olx("html", '<html display_name="Intro HTML"><![CDATA[<p>Hello <img src="/static/photo.png"/></p>]]></html>\n', t),
            "static/photo.png": tiny_png((0, 128, 255)),
            "static/empty.bin": b"",  # 0-byte, file-backed Media
            "static/empty-note.txt": text_media("text/plain", "", t),  # 0-byte, text Media
        }, t)
        comps["My Problem.v2"] = new_component("problem", "My Problem.v2", "My Problem (v2 key)", {
            "block.xml": olx("problem", '<problem display_name="My Problem (v2 key)"><p>Non-slug key.</p></problem>\n', t),
            "static/figure.png": tiny_png((0, 255, 0)),
        }, t)
        comps["html:shared"] = new_component("html", "shared", "Shared key (html)", {
            "block.xml": olx("html", '<html display_name="Shared key (html)"><![CDATA[<p>html shared</p>]]></html>\n', t),
            "static/shared-html.png": tiny_png((10, 10, 10)),
            "static/notes.md": text_media("text/markdown", "# Notes\nstored as a text Media\n", t),
        }, t)
        comps["problem:shared"] = new_component("problem", "shared", "Shared key (problem)", {
            "block.xml": olx("problem", '<problem display_name="Shared key (problem)"><p>problem shared</p></problem>\n', t),
            "static/shared-problem.png": tiny_png((20, 20, 20)),
        }, t, can_stand_alone=False)
        comps["to-delete"] = new_component("html", "to-delete", "Deleted later", {
            "block.xml": olx("html", '<html display_name="Deleted later"/>\n', t),
            "static/gone.png": tiny_png((1, 2, 3)),
        }, t)

        # Container tree: section > subsection > units > components.
        # unit-2 pins "My Problem.v2" to its v1 (a ComponentVersion).
        my_problem_v1 = comps["My Problem.v2"].versioning.draft
        unit1, _ = api.create_unit_and_version(
            lp.id, "unit-1", title="Unit 1",
            components=[comps["intro-problem"], comps["intro-html"]], created=t, created_by=uid,
        )
        unit2, _ = api.create_unit_and_version(
            lp.id, "unit-2", title="Unit 2",
            components=[my_problem_v1, comps["html:shared"], comps["problem:shared"]],
            created=t, created_by=uid,
        )
        subsection, _ = api.create_subsection_and_version(
            lp.id, "subsection-1", title="Subsection 1", units=[unit1, unit2], created=t, created_by=uid,
        )
        section, _ = api.create_section_and_version(
            lp.id, "Section One", title="Section One", subsections=[subsection], created=t, created_by=uid,
        )

    api.publish_all_drafts(lp.id, message="first publish", published_at=T0 + timedelta(minutes=2),
                           published_by=uid)

    # Second round: change content and titles, publish again.
    t = T0 + timedelta(minutes=3)
    with api.bulk_draft_changes_for(lp.id, changed_at=t, changed_by=uid):
        api.create_next_component_version(comps["intro-problem"].pk, media_to_replace={
            "block.xml": olx("problem", '<problem display_name="Intro Problem">\n'
                             '  <multiplechoiceresponse><p>3+3?</p></multiplechoiceresponse>\n</problem>\n', t),
        }, created=t, title="Intro Problem (rev 2)", created_by=uid)
        api.create_next_component_version(comps["intro-html"].pk, media_to_replace={
            "static/photo.png": tiny_png((0, 0, 255)),
        }, created=t, title="Intro HTML (rev 2)", created_by=uid)
        api.create_next_unit_version(unit1, title="Unit 1 (renamed)", created=t, created_by=uid)
    api.publish_all_drafts(lp.id, message="second publish", published_at=T0 + timedelta(minutes=4),
                           published_by=uid)

    # Unpublished draft changes after the last publish.
    t = T0 + timedelta(minutes=5)
    with api.bulk_draft_changes_for(lp.id, changed_at=t, changed_by=uid):
        # modified component: new block.xml, one file removed, one added
        api.create_next_component_version(comps["intro-problem"].pk, media_to_replace={
            "block.xml": olx("problem", '<problem display_name="Intro Problem">\n'
                             '  <multiplechoiceresponse><p>4+4? (draft)</p></multiplechoiceresponse>\n</problem>\n', t),
            "static/diagram.png": None,
            "static/extra/notes.txt": b"draft-only file in a sub folder\n",
        }, created=t, title="Intro Problem (draft rev 3)", created_by=uid)
        # new draft-only component, added to unit-2's draft
        comps["Draft Only"] = new_component("video", "Draft Only", "Draft-only video", {
            "block.xml": olx("video", '<video display_name="Draft-only video" youtube_id_1_0="abc"/>\n', t),
            "static/transcript.srt": b"1\n00:00:00,000 --> 00:00:01,000\nHi\n",
        }, t)
        api.create_next_unit_version(
            unit2, components=[my_problem_v1, comps["html:shared"], comps["problem:shared"], comps["Draft Only"]],
            created=t, created_by=uid,
        )
        # soft-deleted (draft removed) but still published
        api.soft_delete_draft(comps["to-delete"].pk, deleted_by=uid)

    # Collections: created after the publishes (collections are not versioned).
    api.create_collection(lp.id, "My Collection", title="My Collection", created_by=uid,
                          description="Components and a unit.")
    api.add_to_collection(lp.id, "My Collection", api.get_publishable_entities(lp.id).filter(
        key__in=["xblock.v1:problem:intro-problem", "xblock.v1:html:shared", "unit-1"]), created_by=uid)
    # key "shared" slugifies like the html component "shared" -> hashed file name
    api.create_collection(lp.id, "shared", title="Shared-key collection", created_by=uid, description="")
    api.add_to_collection(lp.id, "shared", api.get_publishable_entities(lp.id).filter(
        key__in=["xblock.v1:problem:shared", "xblock.v1:video:Draft Only"]), created_by=uid)
    # a disabled (soft-deleted) collection: lp_dump leaves it out
    api.create_collection(lp.id, "disabled-coll", title="Disabled collection", created_by=uid)
    api.add_to_collection(lp.id, "disabled-coll", api.get_publishable_entities(lp.id).filter(
        key__in=["xblock.v1:html:intro-html"]), created_by=uid)
    api.delete_collection(lp.id, "disabled-coll")
    return lp_key


def build_minimal(api):
    lp_key = "lib:MinOrg:minimal"
    lp = api.create_learning_package(lp_key, "Minimal Library", created=T0)
    ct = api.get_or_create_component_type("xblock.v1", "html")
    mt = api.get_or_create_media_type("application/vnd.openedx.xblock.v1.html+xml")
    comp = api.create_component(lp.id, component_type=ct, local_key="hello", created=T0, created_by=None)
    xml = api.get_or_create_text_media(
        lp.id, mt.id, text='<html display_name="Hello"><![CDATA[<p>Hello, world!</p>]]></html>\n', created=T0)
    api.create_next_component_version(comp.pk, media_to_replace={"block.xml": xml.id}, created=T0, title="Hello")
    api.publish_all_drafts(lp.id, message="only publish", published_at=T0 + timedelta(minutes=1))
    return lp_key


def main():
    out_dir = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="lc-samples-")
    try:
        load_check.setup_django(work)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import transaction
        from openedx_content import api

        user = get_user_model().objects.create_user("author", email="author@example.com")
        with transaction.atomic():
            sample_key = build_sample(api, user)
            minimal_key = build_minimal(api)

        for name, key, opts in (
            ("sample", sample_key, {"username": "author", "origin_server": "studio.example.com"}),
            ("minimal", minimal_key, {}),
        ):
            path = os.path.join(out_dir, f"{name}.zip")
            if os.path.exists(path):
                os.remove(path)
            call_command("lp_dump", key, path, **opts)
            buf = io.StringIO()
            load_check.describe(api.get_learning_package_by_key(key), out=buf)
            with open(os.path.join(out_dir, f"{name}.source.txt"), "w") as f:
                f.write(buf.getvalue())
            print(f"wrote {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
