-- 0006: a link's uuid is made from what identifies it (its content's hash,
-- the syntax it was read as, its ordinal: `scan::link_uuid`) instead of a
-- random one kept in a column with a unique index of its own. The uuid stays
-- the same across rescans, dumps and stores, and the index is ~100 bytes
-- lighter per link. Links are derived data: the table is made again and
-- filled by the rescan this starts at the next open (`link_rules` back to 0).
DROP TABLE link;
CREATE TABLE link (
    link_id     INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL,
    syntax      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('child', 'body', 'static', 'include', 'jump',
                                              'policy', 'parent', 'url')),
    -- The extracted target as JSON (see store::links::Target).
    target      TEXT NOT NULL,
    written     TEXT NOT NULL,
    line        INTEGER NOT NULL,
    -- Lookup keys for incoming links (see scan::lookup_keys).
    target_path TEXT,
    target_key  TEXT,
    FOREIGN KEY (hash, syntax) REFERENCES content_scan (hash, syntax) ON DELETE CASCADE,
    UNIQUE (hash, syntax, ordinal)
);
CREATE INDEX link_target_path ON link (target_path);
CREATE INDEX link_target_key ON link (target_key);
DELETE FROM content_scan;
UPDATE link_rules SET version = 0;
