-- Dependencies: named links from a collection version to a version of
-- another collection (Blockstore v1's "links" between bundles), with the
-- target's own dependencies flattened (`indirect`). Stored with each
-- collection version; a named draft stages puts and deletions of them.
-- Each value is JSON: {"direct": REF, "indirect": [REF, …]}, a REF being
-- {"collection": UUID, "version": N, "snapshot_digest": HEX}.
CREATE TABLE collection_version_dependency (
    collection_version_id INTEGER NOT NULL
        REFERENCES collection_version (collection_version_id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    dependency            TEXT NOT NULL,
    PRIMARY KEY (collection_version_id, name)
) WITHOUT ROWID;

-- A staged dependency change: the new value, or NULL for a deletion.
CREATE TABLE named_draft_dependency (
    named_draft_id INTEGER NOT NULL REFERENCES named_draft (named_draft_id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    dependency     TEXT,
    PRIMARY KEY (named_draft_id, name)
) WITHOUT ROWID;
