#!/usr/bin/env python3
"""Schema experiment: how much would a leaner index schema speed up a bulk
import and shrink the index?

This is a stdlib-only model of the store's SQLite index (Python's `sqlite3`;
the store itself is Rust). It does not touch the store code. It runs the same
generated data (seeded RNG) through these variants of the schema:

  A   current: the migrations in src/store/db/sql/0001..0006, applied in order
  B   blob-hashes: the same tables and indexes, but every hash a 20-byte BLOB,
      every uuid a 16-byte BLOB, every timestamp INTEGER microseconds
  C1  B without the secondary indexes keyed by random values (`version_hash`,
      `link_target_path`, `link_target_key`): simply absent
  C2  B with those three indexes made by CREATE INDEX after the inserts, in
      the same transaction (the import time includes the CREATE INDEX)
  D   B with links per content: no `link` table; each `content_scan` row keeps
      its content's links in a compact length-prefixed binary column, and a
      narrow `link_key(key, hash, syntax)` WITHOUT ROWID table holds one row
      per distinct target_path/target_key of a content (for incoming links)
  E   D + C2: `version_hash` created, and `link_key` filled (sorted), after
      the inserts, in the same transaction

What it measures, per variant:

  1. import: wall time of one transaction (BEGIN IMMEDIATE .. COMMIT, the
     commit's fsync and WAL auto-checkpoint included) inserting N units +
     M assets the way `store::write::create_linkable`, `insert_revision`,
     `blobs` (INSERT OR IGNORE INTO blob) and `scan::insert_scan` do: per unit
     a linkable, a version, a draft_revision, a blob row, a content_scan row,
     ~1.39 links; per asset a linkable, a version, a draft_revision. Rows go
     in with executemany, per batch of 2,048 files in path order, each table's
     statement prepared once. Python's share is measured by running the exact
     same loop, statements and bound values against sink tables whose BEFORE
     INSERT trigger does RAISE(IGNORE) (binding + a VM step, no B-tree work),
     and subtracted ("SQLite s").
  2. index size: the file after PRAGMA wal_checkpoint(TRUNCATE), and how much
     of it is the `blob` table (the inlined unit bytes) vs. everything else
     (dbstat).
  3. growth: on top of a 1,000-unit + 100-asset published import (units
     ~455 bytes), 100 publishes of 10 edits each. An edit is a new version of
     an existing unit (its content + a ~25-byte comment, so ~480 bytes of new
     content), a draft_revision, a blob row, a content_scan row, its links
     again (links are stored per content hash), a collection_version_change
     row, the old version marked superseded and the linkable re-pointed.
     Reported: allocated pages (page_count - freelist_count) x 4096 grown per
     edit, with the WAL truncated before and after.

Run it (it needs ~1.5 GB of free disk in --dir, which defaults to the system
temp dir, and ~1 GB of RAM; it deletes its files at the end):

    nice -n 10 python3 benches/schema_lean.py              # full: 100k+10k
    nice -n 10 python3 benches/schema_lean.py --units 5000 --assets 500 --quick

Options: --units, --assets, --seed, --reps (import repetitions per variant,
median reported; default 3), --variants A,B,C1,C2,D,E, --dir, --keep. The output is
Markdown (see benches/schema_lean/RESULTS.md).
"""

import argparse
import glob
import hashlib
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
SQL_DIR = os.path.join(HERE, "..", "src", "store", "db", "sql")
PAGE = 4096
BATCH = 2048
CID = 1  # the one collection

# --------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------


def current_migrations():
    files = sorted(glob.glob(os.path.join(SQL_DIR, "0*.sql")))
    if len(files) < 6:
        sys.exit(f"migrations not found in {SQL_DIR}")
    return [open(f, encoding="utf-8").read() for f in files]


# B: the schema the migrations leave behind (same tables, columns in the same
# order, same constraints and indexes), with hashes/uuids/timestamps retyped.
LEAN_BASE = """
CREATE TABLE collection (
    collection_id INTEGER PRIMARY KEY,
    uuid          BLOB NOT NULL UNIQUE,
    slug          TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    owner         TEXT NOT NULL DEFAULT '',
    author        TEXT NOT NULL DEFAULT '',
    license       TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE linkable (
    linkable_id          INTEGER PRIMARY KEY,
    uuid                 BLOB NOT NULL UNIQUE,
    collection_id        INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL CHECK (kind IN ('unit', 'asset')),
    draft_version_id     INTEGER REFERENCES version (version_id) DEFERRABLE INITIALLY DEFERRED,
    published_version_id INTEGER REFERENCES version (version_id) DEFERRABLE INITIALLY DEFERRED,
    last_number          INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL
);
CREATE INDEX linkable_collection ON linkable (collection_id);
CREATE INDEX linkable_draft_version ON linkable (draft_version_id);
CREATE INDEX linkable_published_version ON linkable (published_version_id);
CREATE TABLE version (
    version_id      INTEGER PRIMARY KEY,
    linkable_id     INTEGER NOT NULL REFERENCES linkable (linkable_id) ON DELETE CASCADE,
    collection_id   INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    number          INTEGER,
    path            TEXT NOT NULL,
    hash            BLOB,
    size            INTEGER NOT NULL DEFAULT 0,
    media_type      TEXT NOT NULL DEFAULT 'application/octet-stream',
    created_at      INTEGER NOT NULL,
    message         TEXT,
    garbage_collect INTEGER NOT NULL DEFAULT 0,
    published_in    INTEGER,
    superseded_in   INTEGER,
    uuid            BLOB,
    UNIQUE (linkable_id, number)
);
CREATE INDEX version_collection_path ON version (collection_id, path);
CREATE UNIQUE INDEX version_uuid ON version (uuid);
CREATE TABLE draft_revision (
    draft_revision_id INTEGER PRIMARY KEY,
    linkable_id       INTEGER NOT NULL REFERENCES linkable (linkable_id) ON DELETE CASCADE,
    path              TEXT NOT NULL,
    hash              BLOB,
    size              INTEGER NOT NULL DEFAULT 0,
    source            TEXT NOT NULL CHECK (source IN ('cli', 'api', 'sync', 'gc')),
    created_at        INTEGER NOT NULL
);
CREATE INDEX draft_revision_linkable ON draft_revision (linkable_id);
CREATE TABLE collection_version (
    collection_version_id INTEGER PRIMARY KEY,
    collection_id         INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    number                INTEGER NOT NULL,
    message               TEXT NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    metadata              TEXT NOT NULL,
    pruned_at             INTEGER,
    UNIQUE (collection_id, number)
);
CREATE TABLE collection_version_change (
    collection_version_id INTEGER NOT NULL REFERENCES collection_version (collection_version_id) ON DELETE CASCADE,
    linkable_id           INTEGER NOT NULL REFERENCES linkable (linkable_id) ON DELETE CASCADE,
    from_number           INTEGER,
    to_number             INTEGER NOT NULL,
    from_path             TEXT,
    to_path               TEXT NOT NULL,
    from_hash             BLOB,
    to_hash               BLOB,
    PRIMARY KEY (collection_version_id, linkable_id)
) WITHOUT ROWID;
CREATE TABLE content_scan (
    hash     BLOB NOT NULL,
    syntax   TEXT NOT NULL CHECK (syntax IN ('xml', 'html', 'json')),
    problems TEXT NOT NULL DEFAULT '[]',
    blocks   TEXT NOT NULL DEFAULT '[]',
    block_type TEXT,
    display_name TEXT,{links_column}
    PRIMARY KEY (hash, syntax)
) WITHOUT ROWID;
CREATE INDEX content_scan_blocks ON content_scan (hash) WHERE blocks != '[]';
CREATE TABLE link_rules (version INTEGER NOT NULL);
INSERT INTO link_rules (version) VALUES (0);
CREATE TABLE blob (
    blob_id INTEGER PRIMARY KEY,
    hash    BLOB NOT NULL UNIQUE,
    bytes   BLOB NOT NULL
);
CREATE TABLE blob_move (pending INTEGER NOT NULL);
INSERT INTO blob_move (pending) VALUES (1);
"""

LEAN_LINK = """
CREATE TABLE link (
    link_id     INTEGER PRIMARY KEY,
    hash        BLOB NOT NULL,
    syntax      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('child', 'body', 'static', 'include', 'jump',
                                              'policy', 'parent', 'url')),
    target      TEXT NOT NULL,
    written     TEXT NOT NULL,
    line        INTEGER NOT NULL,
    target_path TEXT,
    target_key  TEXT,
    FOREIGN KEY (hash, syntax) REFERENCES content_scan (hash, syntax) ON DELETE CASCADE,
    UNIQUE (hash, syntax, ordinal)
);
"""

# D: the content's links live in content_scan.links; incoming-link lookups go
# through link_key. (A separate links table keyed by (hash, syntax) would
# repeat the 20-byte key once more per content for nothing.)
LEAN_LINK_KEY = """
CREATE TABLE link_key (
    key    TEXT NOT NULL,
    hash   BLOB NOT NULL,
    syntax TEXT NOT NULL,
    PRIMARY KEY (key, hash, syntax)
) WITHOUT ROWID;
"""

IDX_VERSION_HASH = "CREATE INDEX version_hash ON version (hash)"
IDX_LINK_PATH = "CREATE INDEX link_target_path ON link (target_path)"
IDX_LINK_KEY = "CREATE INDEX link_target_key ON link (target_key)"

VARIANTS = {
    # name: (label, lean types?, links 'rows'|'packed', random-keyed indexes)
    "A": ("A current", False, "rows", "inline"),
    "B": ("B blob-hashes", True, "rows", "inline"),
    "C1": ("C1 B, 3 indexes absent", True, "rows", "absent"),
    "C2": ("C2 B, 3 indexes after", True, "rows", "after"),
    "D": ("D B + links per content", True, "packed", "inline"),
    "E": ("E D + C2", True, "packed", "after"),
}


def schema_for(name):
    """(scripts to run at creation, statements to run after the bulk inserts)."""
    _, lean, links, late = VARIANTS[name]
    if not lean:
        return current_migrations(), []
    random_keyed = [IDX_VERSION_HASH] + ([IDX_LINK_PATH, IDX_LINK_KEY] if links == "rows" else [])
    script = LEAN_BASE.format(
        links_column="\n    links    BLOB NOT NULL DEFAULT x''," if links == "packed" else ""
    )
    script += LEAN_LINK if links == "rows" else LEAN_LINK_KEY
    if late == "inline":
        script += ";\n".join(random_keyed) + ";\n"
        return [script], []
    if late == "absent":
        return [script], []
    return [script], random_keyed


def open_db(path, scripts):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA page_size={PAGE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-16384")
    conn.execute("PRAGMA temp_store=MEMORY")
    for s in scripts:
        conn.executescript("BEGIN;\n" + s + "\nCOMMIT;")
    return conn


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

KINDS = {"child": 0, "body": 1, "static": 2, "include": 3, "jump": 4, "policy": 5, "parent": 6, "url": 7}
DIRS = [("problem", 40), ("html", 30), ("video", 10), ("vertical", 15), ("sequential", 5)]
WORDS = (
    "the of and to a in is that for it as with was on be by this are or from at an which "
    "not have has but can more one all their will also its been other when than these used "
    "course student problem answer question video lesson unit section chapter select choice "
    "correct value number response explanation hint submit grade feedback text option"
).split()
T0_US = 1_796_320_000_000_000  # 2026-12-03, microseconds since the epoch


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def lookup_keys(link):
    """scan::lookup_keys for the two target kinds generated here."""
    kind, ttype, value, written, line = link
    if ttype == "path":
        return value, None
    return "static/" + value, "static:" + value


def target_json(link):
    kind, ttype, value, written, line = link
    if ttype == "path":
        return '{"type":"path","path":"%s"}' % value
    return '{"type":"static","name":"%s"}' % value


def pack_links(links):
    """Length-prefixed binary of a content's links: per link kind (1 byte),
    target type (1 byte), target value, written (varint length + UTF-8), line
    (varint). The lookup keys are derived from the target when read."""
    out = bytearray()
    for kind, ttype, value, written, line in links:
        v = value.encode()
        w = written.encode()
        out += bytes((KINDS[kind], 0 if ttype == "path" else 1))
        out += varint(len(v)) + v + varint(len(w)) + w + varint(line)
    return bytes(out)


class UuidV7:
    """Time-ordered v7 uuids as in uuid::Uuid::now_v7 (monotonic)."""

    def __init__(self, rng, start_ms):
        self.rng = rng
        self.ms = start_ms
        self.counter = 0

    def next(self):
        self.counter += 1
        if self.counter >= 4096 or self.rng.random() < 0.1:
            self.ms += 1
            self.counter = self.rng.getrandbits(8)
        x = (self.ms << 80) | (0x7 << 76) | (self.counter << 64) | (0b10 << 62) | self.rng.getrandbits(62)
        return x


def gen_tree(rng, n_units, n_assets, size_lo, size_hi):
    """Units (sorted paths) then assets (sorted paths), as the import sees them."""
    pool = " ".join(rng.choice(WORDS) for _ in range(20000))
    pool = "\n".join(pool[i : i + 72] for i in range(0, len(pool), 72))
    dirs = [d for d, w in DIRS for _ in range(w)]
    paths = sorted(f"{rng.choice(dirs)}/{rng.getrandbits(128):032x}.xml" for _ in range(n_units))
    exts = [("png", "image/png"), ("pdf", "application/pdf"), ("srt", "application/x-subrip"), ("jpg", "image/jpeg")]
    assets = []
    names = set()
    while len(names) < n_assets:
        names.add(f"asset_{rng.getrandbits(24):06x}_{rng.choice(WORDS)}.{rng.choice(exts)[0]}")
    media = dict(exts)
    for name in sorted(names):
        size = int(16384 * 2 ** (rng.random() * 6))
        h = hashlib.blake2b(f"asset {name}".encode(), digest_size=20).hexdigest()
        assets.append(("static/" + name, h, size, media[name.rsplit(".", 1)[1]]))
    asset_names = [p[len("static/") :] for p, *_ in assets]
    units = []
    # 0..4 links, mean ~1.38; 15% of links name a static asset.
    counts = [0] * 25 + [1] * 32 + [2] * 27 + [3] * 12 + [4] * 4
    for i, path in enumerate(paths):
        bt, rest = path.split("/", 1)
        url = rest[:-4]
        dn = f"{bt.title()} {i}"
        links = []
        lines = [f'<{bt} display_name="{dn}" url_name="{url}">\n']
        for k in range(rng.choice(counts)):
            line = len(lines) + 1
            if asset_names and rng.random() < 0.15:
                name = rng.choice(asset_names)
                links.append(("static", "static", name, "/static/" + name, line))
                lines.append(f'  <img src="/static/{name}"/>\n')
            else:
                t = paths[rng.randrange(len(paths))]
                tb, tr = t.split("/", 1)
                links.append(("child", "path", t, tr[:-4], line))
                lines.append(f'  <{tb} url_name="{tr[:-4]}"/>\n')
        tail = f"</{bt}>\n"
        head = "".join(lines)
        need = max(0, rng.randint(size_lo, size_hi) - len(head) - len(tail))
        off = rng.randrange(len(pool) - need)
        content = (head + pool[off : off + need] + "\n" + tail).encode()
        h = hashlib.blake2b(content, digest_size=20).hexdigest()
        units.append((path, h, content, bt, dn, links))
    return units, assets


class Enc:
    """How a variant binds hashes, uuids and timestamps."""

    def __init__(self, lean):
        self.lean = lean

    def h(self, hexhash):
        return bytes.fromhex(hexhash) if self.lean else hexhash

    def u(self, x):
        return x.to_bytes(16, "big") if self.lean else str(uuid.UUID(int=x))

    def t(self, us):
        if self.lean:
            return us
        d = datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc)
        return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (us % 1_000_000)


# --------------------------------------------------------------------------
# Statements (mirroring store::write and store::scan)
# --------------------------------------------------------------------------

INS_LINKABLE = (
    "INSERT INTO linkable (uuid, collection_id, kind, draft_version_id, created_at) "
    "VALUES (?, 1, ?, ?, ?)"
)
INS_LINKABLE_PUB = (
    "INSERT INTO linkable (uuid, collection_id, kind, published_version_id, last_number, created_at) "
    "VALUES (?, 1, ?, ?, 1, ?)"
)
INS_VERSION = (
    "INSERT INTO version (version_id, uuid, linkable_id, collection_id, number, path, hash, size, "
    "media_type, created_at, garbage_collect, published_in) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, 0, ?)"
)
INS_REVISION = (
    "INSERT INTO draft_revision (linkable_id, path, hash, size, source, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
INS_BLOB = "INSERT OR IGNORE INTO blob (hash, bytes) VALUES (?, ?)"
INS_SCAN = (
    "INSERT OR IGNORE INTO content_scan (hash, syntax, problems, blocks, block_type, display_name) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
INS_SCAN_PACKED = (
    "INSERT OR IGNORE INTO content_scan (hash, syntax, problems, blocks, block_type, display_name, links) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INS_LINK = (
    "INSERT INTO link (hash, syntax, ordinal, kind, target, written, line, target_path, target_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INS_LINK_KEY = "INSERT OR IGNORE INTO link_key (key, hash, syntax) VALUES (?, ?, ?)"
INS_CV = (
    "INSERT INTO collection_version (collection_version_id, collection_id, number, message, created_at, metadata) "
    "VALUES (?, 1, ?, '', ?, '{}')"
)
UPD_SUPERSEDED = "UPDATE version SET superseded_in = ? WHERE version_id = ?"
UPD_LINKABLE = "UPDATE linkable SET published_version_id = ?, last_number = ? WHERE linkable_id = ?"
INS_CHANGE = (
    "INSERT INTO collection_version_change (collection_version_id, linkable_id, from_number, to_number, "
    "from_path, to_path, from_hash, to_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def scan_rows(enc, packed, h, bt, dn, links, scans, link_rows, keys):
    hb = enc.h(h)
    if packed:
        scans.append((hb, "xml", "[]", "[]", bt, dn, pack_links(links)))
        seen = set()
        for link in links:
            for k in lookup_keys(link):
                if k is not None and k not in seen:
                    seen.add(k)
                    keys.append((k, hb, "xml"))
    else:
        scans.append((hb, "xml", "[]", "[]", bt, dn))
        for ordinal, link in enumerate(links):
            tp, tk = lookup_keys(link)
            link_rows.append((hb, "xml", ordinal, link[0], target_json(link), link[3], link[4], tp, tk))


def import_plan(name, units, assets, uuids, published=False):
    """[(sql, rows)] per batch of BATCH files, and the link_key rows to insert
    sorted after the bulk (variant E), all bound the variant's way."""
    _, lean, links, late = VARIANTS[name]
    enc = Enc(lean)
    packed = links == "packed"
    defer_keys = packed and late == "after"
    files = [(p, h, len(c), "unit", "application/xml", (c, bt, dn, ls)) for p, h, c, bt, dn, ls in units]
    files += [(p, h, s, "asset", m, None) for p, h, s, m in assets]
    batches, late_keys = [], []
    for start in range(0, len(files), BATCH):
        lk, ver, rev, blobs, scans, link_rows, keys = [], [], [], [], [], [], []
        for i in range(start, min(start + BATCH, len(files))):
            path, h, size, kind, media, unit = files[i]
            lid = vid = i + 1
            at = enc.t(T0_US + i * 40)
            hb = enc.h(h)
            if published:
                lk.append((enc.u(uuids[2 * i]), kind, vid, at))
                ver.append((vid, enc.u(uuids[2 * i + 1]), lid, 1, path, hb, size, media, at, 1))
            else:
                lk.append((enc.u(uuids[2 * i]), kind, vid, at))
                ver.append((vid, enc.u(uuids[2 * i + 1]), lid, None, path, hb, size, media, at, None))
            rev.append((lid, path, hb, size, "cli", at))
            if unit is not None:
                content, bt, dn, ls = unit
                blobs.append((hb, content))
                scan_rows(enc, packed, h, bt, dn, ls, scans, link_rows, keys)
        if defer_keys:
            late_keys += keys
            keys = []
        batches.append(
            [
                (INS_LINKABLE_PUB if published else INS_LINKABLE, lk),
                (INS_VERSION, ver),
                (INS_REVISION, rev),
                (INS_BLOB, blobs),
                (INS_SCAN_PACKED if packed else INS_SCAN, scans),
                (INS_LINK_KEY, keys) if packed else (INS_LINK, link_rows),
            ]
        )
    return batches, late_keys


def run_batches(conn, batches, late_keys, late_sql, extra=()):
    """The timed part: one transaction. Returns (rows s, after-bulk s, commit s)."""
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for sql, rows in extra:
        conn.executemany(sql, rows)
    for batch in batches:
        for sql, rows in batch:
            if rows:
                conn.executemany(sql, rows)
    t1 = time.perf_counter()
    if late_keys:
        conn.executemany(INS_LINK_KEY, sorted(late_keys))
    for s in late_sql:
        conn.execute(s)
    t2 = time.perf_counter()
    conn.execute("COMMIT")
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def sink_db(real):
    """An in-memory database with the real one's tables as sinks: same names
    and columns, no constraints or indexes, and a BEFORE INSERT trigger that
    drops every row. The same executemany calls then cost the binding and a
    VM step but no B-tree work."""
    sink = sqlite3.connect(":memory:", isolation_level=None)
    tables = [r[0] for r in real.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for t in tables:
        cols = [r[1] for r in real.execute(f"PRAGMA table_info({t})")]
        sink.execute(f"CREATE TABLE {t} ({', '.join(cols)})")
        sink.execute(f"CREATE TRIGGER {t}_sink BEFORE INSERT ON {t} BEGIN SELECT RAISE(IGNORE); END")
    return sink


class PyOnly:
    """executemany replaced by a Python loop over the rows: the loop alone."""

    def execute(self, *a):
        pass

    def executemany(self, sql, rows):
        for _ in rows:
            pass


def sizes(conn, path):
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    pc = conn.execute("PRAGMA page_count").fetchone()[0]
    fl = conn.execute("PRAGMA freelist_count").fetchone()[0]
    owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
    per_table = {}
    per_btree = {}
    for name, pgsize in conn.execute("SELECT name, pgsize FROM dbstat WHERE aggregate = 1"):
        per_btree[name] = pgsize
        t = owner.get(name, name)
        per_table[t] = per_table.get(t, 0) + pgsize
    return {
        "file": os.path.getsize(path),
        "wal": os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0,
        "alloc": (pc - fl) * PAGE,
        "tables": per_table,
        "btrees": per_btree,
    }


# --------------------------------------------------------------------------
# Growth: 100 publishes of 10 edits on a 1,000-unit published store
# --------------------------------------------------------------------------


def edit_plan(rng, units, n_assets, n_publishes, per_publish, uuid_gen):
    """Variant-independent edits: [(cv_id, [edit])]."""
    state = []  # per unit: [version_id, number, hash, content, path, bt, dn, links]
    for i, (p, h, c, bt, dn, ls) in enumerate(units):
        state.append([i + 1, 1, h, c, p, bt, dn, ls])
    next_vid = len(units) + n_assets + 1
    plan = []
    for k in range(n_publishes):
        cv = k + 2
        edits = []
        for u in rng.sample(range(len(units)), per_publish):
            s = state[u]
            comment = f"<!-- e{len(plan) * per_publish + len(edits):05d} {rng.getrandbits(32):08x} -->\n".encode()
            content = s[3] + comment
            h = hashlib.blake2b(content, digest_size=20).hexdigest()
            edits.append(
                dict(
                    lid=u + 1, old_vid=s[0], new_vid=next_vid, old_num=s[1], new_num=s[1] + 1,
                    path=s[4], old_hash=s[2], hash=h, content=content, bt=s[5], dn=s[6],
                    links=s[7], uuid=uuid_gen.next(),
                )
            )
            s[0], s[1], s[2], s[3] = next_vid, s[1] + 1, h, content
            next_vid += 1
        plan.append((cv, edits))
    return plan


def edit_rows(name, plan):
    _, lean, links, late = VARIANTS[name]
    enc = Enc(lean)
    packed = links == "packed"
    out = []
    for j, (cv, edits) in enumerate(plan):
        at = enc.t(T0_US + 86_400_000_000 + j * 1_000_000)
        ver, sup, lk, rev, blobs, scans, link_rows, keys, changes = ([] for _ in range(9))
        for e in edits:
            hb = enc.h(e["hash"])
            size = len(e["content"])
            ver.append((e["new_vid"], enc.u(e["uuid"]), e["lid"], e["new_num"], e["path"], hb, size,
                        "application/xml", at, cv))
            sup.append((cv, e["old_vid"]))
            lk.append((e["new_vid"], e["new_num"], e["lid"]))
            rev.append((e["lid"], e["path"], hb, size, "api", at))
            blobs.append((hb, e["content"]))
            scan_rows(enc, packed, e["hash"], e["bt"], e["dn"], e["links"], scans, link_rows, keys)
            changes.append((cv, e["lid"], e["old_num"], e["new_num"], e["path"], e["path"],
                            enc.h(e["old_hash"]), hb))
        out.append(
            [
                (INS_CV, [(cv, cv, at)]),
                (INS_VERSION, ver),
                (UPD_SUPERSEDED, sup),
                (UPD_LINKABLE, lk),
                (INS_REVISION, rev),
                (INS_BLOB, blobs),
                (INS_SCAN_PACKED if packed else INS_SCAN, scans),
                (INS_LINK_KEY, keys) if packed else (INS_LINK, link_rows),
                (INS_CHANGE, changes),
            ]
        )
    return out


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def fmt_mb(b):
    return f"{b / 1e6:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--growth-units", type=int, default=1000)
    ap.add_argument("--publishes", type=int, default=100)
    ap.add_argument("--per-publish", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", default="A,B,C1,C2,D,E")
    ap.add_argument("--dir", default=None, help="where the databases go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument("--quick", action="store_true", help="skip the sink (Python overhead) runs")
    args = ap.parse_args()
    names = args.variants.split(",")
    for n in names:
        if n not in VARIANTS:
            sys.exit(f"unknown variant {n}")

    t_start = time.perf_counter()
    work = tempfile.mkdtemp(prefix="schema_lean.", dir=args.dir)
    print(f"# schema_lean: {args.units:,} units + {args.assets:,} assets, seed {args.seed}\n")
    print(f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"- databases in {work}")
    print(f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    rng = random.Random(args.seed)
    t = time.perf_counter()
    units, assets = gen_tree(rng, args.units, args.assets, 1400, 2200)
    uuid_gen = UuidV7(rng, T0_US // 1000)
    uuids = [uuid_gen.next() for _ in range(2 * (len(units) + len(assets)))]
    n_links = sum(len(u[5]) for u in units)
    content_bytes = sum(len(u[2]) for u in units)
    print(f"- generated in {time.perf_counter() - t:.1f} s: {n_links:,} links "
          f"({n_links / len(units):.3f} per unit), unit content {content_bytes / len(units):,.0f} B on average\n")

    # Growth data: smaller units so an edit's new content is ~480 bytes.
    grng = random.Random(args.seed + 1)
    g_units, g_assets = gen_tree(grng, args.growth_units, args.growth_units // 10, 300, 610)
    g_uuid = UuidV7(grng, T0_US // 1000)
    g_uuids = [g_uuid.next() for _ in range(2 * (len(g_units) + len(g_assets)))]
    plan = edit_plan(grng, g_units, len(g_assets), args.publishes, args.per_publish, g_uuid)
    n_edits = sum(len(e) for _, e in plan)
    new_bytes = sum(len(e["content"]) for _, es in plan for e in es) / n_edits

    results = {}
    order = []
    for r in range(args.reps):
        order += names if r % 2 == 0 else list(reversed(names))
    for name in order:
        res = results.setdefault(name, {"runs": []})
        scripts, late_sql = schema_for(name)
        batches, late_keys = import_plan(name, units, assets, uuids)
        path = os.path.join(work, f"{name}.{len(res['runs'])}.db")
        conn = open_db(path, scripts)
        enc = Enc(VARIANTS[name][1])
        conn.execute(
            "INSERT INTO collection (collection_id, uuid, slug, created_at, updated_at) VALUES (1, ?, 'c', ?, ?)",
            (enc.u(uuid_gen.next()), enc.t(T0_US), enc.t(T0_US)),
        )
        if not args.quick:
            sink = sink_db(conn)
            res.setdefault("sinks", []).append(sum(run_batches(sink, batches, late_keys, [])))
            res["sink"] = statistics.median(res["sinks"])
            sink.close()
            res["py"] = sum(run_batches(PyOnly(), batches, late_keys, []))
        load = os.getloadavg()[0]
        rows_s, late_s, commit_s = run_batches(conn, batches, late_keys, late_sql)
        res["runs"].append((rows_s + late_s + commit_s, rows_s, late_s, commit_s, load))
        if "size" not in res:
            res["size"] = sizes(conn, path)
        conn.close()
        del batches, late_keys
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        print(f"  {name}: import {res['runs'][-1][0]:.2f} s (load {load:.2f})", file=sys.stderr)

    for name in names:
        res = results[name]
        scripts, late_sql = schema_for(name)
        path = os.path.join(work, f"{name}.growth.db")
        conn = open_db(path, scripts)
        enc = Enc(VARIANTS[name][1])
        batches, late_keys = import_plan(name, g_units, g_assets, g_uuids, published=True)
        run_batches(conn, batches, late_keys, late_sql, extra=[
            ("INSERT INTO collection (collection_id, uuid, slug, created_at, updated_at) VALUES (1, ?, 'c', ?, ?)",
             [(enc.u(g_uuids[0] ^ 1), enc.t(T0_US), enc.t(T0_US))]),
            (INS_CV, [(1, 1, enc.t(T0_US))]),
        ])
        before = sizes(conn, path)
        t = time.perf_counter()
        for publish in edit_rows(name, plan):
            run_batches(conn, [publish], [], [])
        res["edit_s"] = time.perf_counter() - t
        after = sizes(conn, path)
        res["growth"] = (after["alloc"] - before["alloc"]) / n_edits
        res["growth_tables"] = {
            k: (after["tables"].get(k, 0) - before["tables"].get(k, 0)) / n_edits
            for k in set(after["tables"]) | set(before["tables"])
        }
        conn.close()
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)

    # ---- report ----
    base = statistics.median(r[0] for r in results[names[0]]["runs"])
    base_sql = base - results[names[0]].get("sink", 0)
    print(f"## Import of {args.units:,} units + {args.assets:,} assets (one transaction), "
          f"size, growth per edit\n")
    print(f"Import: median of {args.reps} run(s). 'SQLite s' = import s minus the same executemany calls "
          f"into no-op sink tables. Growth: {n_edits:,} edits in {len(plan)} publishes on a "
          f"{len(g_units):,}-unit store; new content {new_bytes:.0f} B per edit on average.\n")
    print("| variant | import s | ratio to A | SQLite s (import - sink) | ratio to A | of which after-bulk s | commit s "
          "| index MB | blob table MB | rest MB | growth B/edit | growth / 480 B | growth / new content |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        res = results[name]
        runs = res["runs"]
        imp = statistics.median(r[0] for r in runs)
        late = statistics.median(r[2] for r in runs)
        commit = statistics.median(r[3] for r in runs)
        sink = res.get("sink")
        sql_s = imp - sink if sink is not None else None
        sz = res["size"]
        blob_t = sz["tables"].get("blob", 0) - sz["btrees"].get("sqlite_autoindex_blob_1", 0)
        print(
            f"| {VARIANTS[name][0]} | {imp:.2f} | {imp / base:.2f} | "
            + (f"{sql_s:.2f} | {sql_s / base_sql:.2f}" if sql_s is not None else "– | –")
            + f" | {late:.2f} | {commit:.2f} | {fmt_mb(sz['file'])} | {fmt_mb(blob_t)} | "
            f"{fmt_mb(sz['file'] - blob_t)} | {res['growth']:,.0f} | {res['growth'] / 480:.2f} | "
            f"{res['growth'] / new_bytes:.2f} |"
        )
    print()
    if not args.quick:
        print("Python's share (same calls, same bound values), seconds:\n")
        print("| variant | executemany into no-op sinks (median) | the Python loop alone |")
        print("|---|---|---|")
        for name in names:
            sinks = ", ".join(f"{x:.2f}" for x in results[name]["sinks"])
            print(f"| {name} | {results[name]['sink']:.2f} (runs: {sinks}) | {results[name]['py']:.3f} |")
        print()
    print("Import runs (total, rows, after-bulk, commit s; load average when started):\n")
    for name in names:
        print(f"- {name}: " + "; ".join(
            f"{a:.2f} = {b:.2f} + {c:.2f} + {d:.2f} (load {l:.2f})" for a, b, c, d, l in results[name]["runs"]))
    print()
    tables = sorted({k for n in names for k in results[n]["size"]["tables"]})
    print("Index size by table (MB, after checkpoint; a table's indexes included):\n")
    print("| table | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for tname in tables:
        print(f"| {tname} | " + " | ".join(fmt_mb(results[n]["size"]["tables"].get(tname, 0)) for n in names) + " |")
    print()
    print("Growth per edit by table (bytes of allocated pages, its indexes included):\n")
    gt = sorted({k for n in names for k, v in results[n]["growth_tables"].items() if v})
    print("| table | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for tname in gt:
        print(f"| {tname} | " + " | ".join(f"{results[n]['growth_tables'].get(tname, 0):,.0f}" for n in names) + " |")
    print(f"| ({n_edits:,} edits, s) | " + " | ".join(f"{results[n]['edit_s']:.2f}" for n in names) + " |")
    print()
    print(f"- load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- total script time {time.perf_counter() - t_start:.0f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
