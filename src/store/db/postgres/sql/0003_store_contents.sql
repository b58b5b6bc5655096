-- 0003 (PostgreSQL): where a shared store keeps its large contents, and its
-- id (the one its bucket prefix is marked with). An embedded store records
-- both in its data dir's `contents` file; instances sharing an index each
-- have a data dir of their own, so the shared record is here, and each
-- instance copies it into its data dir when it opens. At most one row.
CREATE TABLE store_contents (
    url   TEXT COLLATE "C" NOT NULL,
    store TEXT COLLATE "C" NOT NULL
);
