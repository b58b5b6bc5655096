-- 0003: links follow edx-platform's own import rules (OLX-RULES.md): new link
-- kinds (policy values naming assets, a draft's parent, absolute URLs), course
-- policies scanned as JSON, targets recorded relative to a file's root. Links
-- are derived data (a pure function of content and the rules), so they are
-- dropped here and extracted again at the next open (`files::rescan_links`),
-- which records the rules' version in `link_rules` in the same transaction.
-- A later change of the rules only bumps `links::RULES_VERSION`.
DROP TABLE link;
DROP TABLE content_scan;

CREATE TABLE content_scan (
    hash     TEXT NOT NULL,
    syntax   TEXT NOT NULL CHECK (syntax IN ('xml', 'html', 'json')),
    problems TEXT NOT NULL DEFAULT '[]',
    -- Blocks the content defines inline (JSON array of {block_type, url_name}).
    blocks   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (hash, syntax)
) WITHOUT ROWID;

CREATE TABLE link (
    link_id     INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL,
    syntax      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('child', 'body', 'static', 'include', 'jump',
                                              'policy', 'parent', 'url')),
    -- The extracted target as JSON (see store::links::Target).
    target      TEXT NOT NULL,
    written     TEXT NOT NULL,
    line        INTEGER NOT NULL,
    -- Lookup keys for incoming links (see files::lookup_keys).
    target_path TEXT,
    target_key  TEXT,
    FOREIGN KEY (hash, syntax) REFERENCES content_scan (hash, syntax) ON DELETE CASCADE,
    UNIQUE (hash, syntax, ordinal)
);
-- The few contents that define blocks inline, read whole by the link report.
CREATE INDEX content_scan_blocks ON content_scan (hash) WHERE blocks != '[]';
CREATE INDEX link_target_path ON link (target_path);
CREATE INDEX link_target_key ON link (target_key);

-- The version of the extraction rules every content_scan row was made by.
DROP TABLE IF EXISTS link_rules;
CREATE TABLE link_rules (
    version INTEGER NOT NULL
);
INSERT INTO link_rules (version) VALUES (0);
