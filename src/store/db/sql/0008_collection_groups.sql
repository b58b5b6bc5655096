-- Groups of collections: what Blockstore v1 called "collections", each a
-- group of bundles (our collections). A collection is in at most one group.
-- No foreign key on `collection.group_id`: the store deletes a group's
-- collections with it, and a column with one could not be dropped again.
CREATE TABLE collection_group (
    group_id   INTEGER PRIMARY KEY,
    uuid       TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE collection ADD COLUMN group_id INTEGER;
CREATE INDEX collection_group_member ON collection (group_id) WHERE group_id IS NOT NULL;

-- A v1 bundle's slug, when it is not the collection's own: v1 slugs may be
-- Unicode and need not be unique, collection slugs are neither.
ALTER TABLE collection ADD COLUMN v1_slug TEXT;
