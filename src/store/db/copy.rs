//! Copying an index between engines, row for row: how a store on
//! PostgreSQL is dumped (a dump holds a SQLite index, whatever the store's
//! engine, so it restores anywhere).
//!
//! The two schemas have the same tables and columns (a test keeps them
//! equal), so one loop copies any table: the target's columns, selected by
//! name from the source, bound as they were read.

use super::super::error::Result;
use super::sql;
use std::path::Path;

/// Every table of the model, parents before children (the copy checks no
/// keys while it runs; the target's own check follows).
const TABLES: &[&str] = &[
    "collection_group",
    "collection",
    "linkable",
    "version",
    "draft_revision",
    "collection_version",
    "collection_version_change",
    "content_scan",
    "link_rules",
    "blob",
    "blob_move",
    "link",
    "named_draft",
    "named_draft_change",
    "collection_version_dependency",
    "named_draft_dependency",
];

/// Writes the rows `source` sees into a new SQLite index at `target` (which
/// must not exist), at this binary's schema; returns the rows copied. Run
/// it inside a read transaction of `source`, so the copy is one snapshot.
pub(crate) fn to_sqlite(source: &sql::Connection, target: &Path) -> Result<u64> {
    let conn = super::open(target)?;
    let sqlite = conn.sqlite().expect("a SQLite index");
    sqlite.pragma_update(None, "foreign_keys", "OFF")?;
    sqlite.pragma_update(None, "synchronous", "OFF")?;
    let mut copied = 0;
    sqlite.execute_batch("BEGIN")?;
    for table in TABLES {
        let columns: Vec<String> = sqlite
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let list = columns.join(", ");
        let marks = vec!["?"; columns.len()].join(", ");
        // Seeded rows (the link rules' version, the blob move flag) are the
        // source's to say.
        sqlite.execute(&format!("DELETE FROM {table}"), [])?;
        let mut insert =
            sqlite.prepare(&format!("INSERT INTO {table} ({list}) VALUES ({marks})"))?;
        let mut select = source.prepare(&format!("SELECT {list} FROM {table}"))?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let values = (0..columns.len())
                .map(|i| row.get_ref(i))
                .collect::<sql::Result<Vec<_>>>()?;
            insert.execute(rusqlite::params_from_iter(values.iter()))?;
            copied += 1;
        }
    }
    sqlite.execute_batch("COMMIT")?;
    sqlite.pragma_update(None, "foreign_keys", "ON")?;
    let broken: Option<String> = sqlite
        .query_row(
            "SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if let Some(table) = broken {
        return Err(super::super::error::Error::Index(format!(
            "the copy of the index breaks a key of table {table}"
        )));
    }
    // One self-contained file, as `VACUUM INTO` writes.
    sqlite.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(copied)
}
