-- 0002 (PostgreSQL): every text column compares and sorts bytewise, as
-- SQLite's do. The model orders paths, slugs and names, and lists them
-- page by page after a key; a database whose default collation is a
-- language's (en_US.UTF-8 sorts "a_b" and "a-b" by letters first) would
-- answer in another order than the embedded store.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT table_name, column_name
        FROM information_schema.columns
        WHERE table_schema = current_schema()
          AND data_type = 'text'
          AND table_name <> 'schema_version'
        ORDER BY table_name, ordinal_position
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE TEXT COLLATE "C"',
                       c.table_name, c.column_name);
    END LOOP;
END
$$;
