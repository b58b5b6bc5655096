#!/usr/bin/env python
"""Edge-case probes of lp_load: rewrite sample.zip/minimal.zip into variants
in a temp dir and run load_check.py on each (fresh DB each), printing
whether lp_load accepted it and the first error line / changed files.

    $HOME/.cache/blockstore-lc-venv/bin/python tests/learning_core/lp_load_probes.py
"""
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
S, M = os.path.join(HERE, "sample.zip"), os.path.join(HERE, "minimal.zip")


def rewrite(src, dst, rename=(), drop_dirs=False, compress=zipfile.ZIP_STORED, edit=None, add=None):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", compression=compress) as zo:
        for info in zi.infolist():
            name = info.filename
            if drop_dirs and name.endswith("/"):
                continue
            data = zi.read(name)
            for a, b in rename:
                name = name.replace(a, b)
            if edit and name in edit:
                data = edit[name](data)
            zo.writestr(name, data)
        for name, data in (add or {}).items():
            zo.writestr(name, data)


def no_meta(d):
    head, tail = d.split(b"[learning_package]")
    return head.replace(b"[meta]", b"[x]") + b"[learning_package]" + tail


PROBES = {
    "A_exact_local_key_folders": (S, dict(rename=[
        ("problem/my-problemv2/", "problem/My Problem.v2/"),
        ("problem/shared_ba2abe/", "problem/shared/"),
        ("video/draft-only/", "video/Draft Only/")])),
    "B_empty_version_title": (M, dict(edit={"entities/xblock.v1/html/hello.toml":
                                            lambda d: d.replace(b'title = "Hello"', b'title = ""')})),
    "C_no_dir_entries_deflated": (M, dict(drop_dirs=True, compress=zipfile.ZIP_DEFLATED)),
    "D_static_file_named_toml": (M, dict(add={
        "entities/xblock.v1/html/hello/component_versions/v1/static/config.toml": b"a = 1\n"})),
    "E_no_meta_table": (M, dict(edit={"package.toml": no_meta})),
    "F_lp_key_without_3_parts": (M, dict(edit={"package.toml": lambda d: d.replace(
        b'key = "lib:MinOrg:minimal"', b'key = "minimal"')})),
    "G_file_key_containing_v1_slash": (M, dict(add={
        "entities/xblock.v1/html/hello/component_versions/v1/static/dev1/x.txt": b"x\n"})),
}


def main():
    tmp = tempfile.mkdtemp(prefix="lc-probes-")
    try:
        for name, (src, kw) in PROBES.items():
            dst = os.path.join(tmp, name + ".zip")
            rewrite(src, dst, **kw)
            proc = subprocess.run([sys.executable, os.path.join(HERE, "load_check.py"), dst],
                                  capture_output=True, text=True)
            print(f"##### {name}: {'LOADED' if proc.returncode == 0 else 'REJECTED'}")
            if proc.returncode:
                errs = [l for l in proc.stderr.splitlines() if "rror" in l]
                print("   ", errs[-1] if errs else proc.stderr[-300:])
            else:
                print("   ", "\n    ".join(l.strip() for l in proc.stdout.splitlines()
                                           if l.strip().startswith(("file ", "files:", "[xblock"))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
