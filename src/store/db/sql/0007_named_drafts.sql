-- Named drafts (DESIGN.md "Named drafts"): besides a collection's one working
-- draft, any number of named sets of staged changes over a base collection
-- version, each committed into a collection version of its own. They are how
-- Blockstore v1 clients write; the working draft is untouched by them.
CREATE TABLE named_draft (
    named_draft_id INTEGER PRIMARY KEY,
    uuid           TEXT NOT NULL UNIQUE,
    collection_id  INTEGER NOT NULL REFERENCES collection (collection_id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    -- The collection version the changes are staged over; NULL before the
    -- collection's first version.
    base_number    INTEGER,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (collection_id, name)
);

-- One staged change per path: new bytes (hash, size), or a deletion (NULL).
CREATE TABLE named_draft_change (
    named_draft_id INTEGER NOT NULL REFERENCES named_draft (named_draft_id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    hash           TEXT,
    size           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (named_draft_id, path)
) WITHOUT ROWID;

-- A collection version committed from a named draft says so (JSON: the
-- draft's name and uuid, its base and the latest version it was committed
-- over, which differ when an older base overwrote newer versions).
ALTER TABLE collection_version ADD COLUMN committed_from TEXT;
