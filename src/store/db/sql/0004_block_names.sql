-- 0004: each scanned XML content keeps its root element's block type and
-- display_name, so listings, diffs and links can name a file as the course
-- does ("Getting Started", not "html/0a1b….xml") with a join instead of
-- reading every file. Filled by the rescan that links::RULES_VERSION 2 starts
-- at the next open (derived data, like the links).
ALTER TABLE content_scan ADD COLUMN block_type TEXT;
ALTER TABLE content_scan ADD COLUMN display_name TEXT;
