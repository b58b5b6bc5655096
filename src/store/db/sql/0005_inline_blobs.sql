-- 0005: small blobs live in the index. A blob of at most blobs::INLINE_MAX
-- bytes is a row here, inserted by the transaction that first references it;
-- larger ones stay files under blobs/. The home is a function of the size, so
-- a hash has one home. Blobs a store already holds as files are moved in at
-- open (blobs::move_small_files), batch by batch, each batch committed before
-- its files are removed: killed at any point, the next open goes on.
CREATE TABLE blob (
    blob_id INTEGER PRIMARY KEY,
    hash    TEXT NOT NULL UNIQUE,
    bytes   BLOB NOT NULL
);

-- Whether small blob files may remain to be moved in (1) or not (0).
CREATE TABLE blob_move (
    pending INTEGER NOT NULL
);
INSERT INTO blob_move (pending) VALUES (1);
