-- 0001: the whole model. Never edit this file once landed; add 0002_*.sql instead.
--
-- Names are the domain's: collection, linkable (a unit or an asset), version,
-- collection_version (the publish log), link. Keys are `<table>_id`.
-- Timestamps are RFC 3339 UTC text; hashes are BLAKE2b-160 as 40 lowercase hex.

-- A group of content with common metadata. The metadata is versioned with each
-- publish (snapshot in collection_version.metadata).
CREATE TABLE collection (
    collection_id INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    slug          TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    owner         TEXT NOT NULL DEFAULT '',
    author        TEXT NOT NULL DEFAULT '',
    license       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- A unit or an asset: the identity that survives versions and renames.
-- draft_version_id points at the one unnumbered working version, if any;
-- published_version_id at the latest numbered one, if any. last_number only
-- grows, so a version number is never reused after a revert or a GC.
CREATE TABLE linkable (
    linkable_id          INTEGER PRIMARY KEY,
    uuid                 TEXT NOT NULL UNIQUE,
    collection_id        INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL CHECK (kind IN ('unit', 'asset')),
    draft_version_id     INTEGER REFERENCES version (version_id) DEFERRABLE INITIALLY DEFERRED,
    published_version_id INTEGER REFERENCES version (version_id) DEFERRABLE INITIALLY DEFERRED,
    last_number          INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL
);
CREATE INDEX linkable_collection ON linkable (collection_id);
-- Foreign-key children must be indexed, or every delete of a version (revert,
-- gc) and every deferred pointer check would scan all linkables.
CREATE INDEX linkable_draft_version ON linkable (draft_version_id);
CREATE INDEX linkable_published_version ON linkable (published_version_id);

-- An immutable version of a linkable, or its draft (number IS NULL).
-- hash IS NULL is a tombstone: the linkable deleted at that version.
-- published_in / superseded_in are the collection version numbers during which
-- this version was live, so the tree of collection version N is
--   published_in <= N AND (superseded_in IS NULL OR superseded_in > N).
CREATE TABLE version (
    version_id      INTEGER PRIMARY KEY,
    linkable_id     INTEGER NOT NULL REFERENCES linkable (linkable_id) ON DELETE CASCADE,
    collection_id   INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    number          INTEGER,
    path            TEXT NOT NULL,
    hash            TEXT,
    size            INTEGER NOT NULL DEFAULT 0,
    media_type      TEXT NOT NULL DEFAULT 'application/octet-stream',
    created_at      TEXT NOT NULL,
    message         TEXT,
    garbage_collect INTEGER NOT NULL DEFAULT 0,
    published_in    INTEGER,
    superseded_in   INTEGER,
    UNIQUE (linkable_id, number)
);
CREATE INDEX version_collection_path ON version (collection_id, path);
CREATE INDEX version_hash ON version (hash);

-- Every write to a draft since it was created: local history, as an IDE keeps it.
CREATE TABLE draft_revision (
    draft_revision_id INTEGER PRIMARY KEY,
    linkable_id       INTEGER NOT NULL REFERENCES linkable (linkable_id) ON DELETE CASCADE,
    path              TEXT NOT NULL,
    hash              TEXT,
    size              INTEGER NOT NULL DEFAULT 0,
    source            TEXT NOT NULL CHECK (source IN ('cli', 'api', 'sync', 'gc')),
    created_at        TEXT NOT NULL
);
CREATE INDEX draft_revision_linkable ON draft_revision (linkable_id);

-- The publish log: one row per publish of a collection.
CREATE TABLE collection_version (
    collection_version_id INTEGER PRIMARY KEY,
    collection_id         INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    number                INTEGER NOT NULL,
    message               TEXT NOT NULL DEFAULT '',
    created_at            TEXT NOT NULL,
    metadata              TEXT NOT NULL,
    -- Set when GC dropped the versions only this collection version needed.
    pruned_at             TEXT,
    UNIQUE (collection_id, number)
);

-- Which linkables a publish changed, and from/to which version numbers.
CREATE TABLE collection_version_change (
    collection_version_id INTEGER NOT NULL REFERENCES collection_version (collection_version_id) ON DELETE CASCADE,
    linkable_id           INTEGER NOT NULL REFERENCES linkable (linkable_id) ON DELETE CASCADE,
    from_number           INTEGER,
    to_number             INTEGER NOT NULL,
    from_path             TEXT,
    to_path               TEXT NOT NULL,
    -- The contents on both sides, kept here so the log stays right after gc
    -- deletes the versions themselves. to_hash IS NULL: deleted.
    from_hash             TEXT,
    to_hash               TEXT,
    PRIMARY KEY (collection_version_id, linkable_id)
) WITHOUT ROWID;

-- Links are a function of content: extracted once per (content hash, syntax).
-- content_scan records that a content was scanned (it may have no links), and
-- the parse problems found (JSON array, '[]' when it parsed).
CREATE TABLE content_scan (
    hash     TEXT NOT NULL,
    syntax   TEXT NOT NULL CHECK (syntax IN ('xml', 'html')),
    problems TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (hash, syntax)
) WITHOUT ROWID;

CREATE TABLE link (
    link_id     INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL,
    syntax      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('child', 'body', 'static', 'include', 'jump')),
    -- The extracted target as JSON (see store::links::Target).
    target      TEXT NOT NULL,
    written     TEXT NOT NULL,
    line        INTEGER NOT NULL,
    -- Lookup keys for incoming links: the path a Path/AnyOf target names (first
    -- candidate), the asset-name key of a Static target, the url_name of a jump.
    target_path TEXT,
    target_key  TEXT,
    FOREIGN KEY (hash, syntax) REFERENCES content_scan (hash, syntax) ON DELETE CASCADE,
    UNIQUE (hash, syntax, ordinal)
);
CREATE INDEX link_target_path ON link (target_path);
CREATE INDEX link_target_key ON link (target_key);
