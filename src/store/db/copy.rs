//! Copying an index between engines, row for row: how a store on
//! PostgreSQL is dumped (a dump holds a SQLite index, whatever the store's
//! engine, so it restores anywhere), and how an embedded store moves up to
//! PostgreSQL (`migrate`, and `restore` into a shared index).
//!
//! The two schemas have the same tables and columns (a test keeps them
//! equal), so one loop copies any table: the target's columns, selected by
//! name from the source, bound as they were read.

use super::super::blobs::contents::Record;
use super::super::blobs::hash_bytes;
use super::super::error::{Error, Result};
use super::sql::{self, named_params, OptionalExtension, ToSql};
use std::path::Path;

/// Every table of the model, parents before children (the copy checks no
/// keys while it runs; the target's own check follows).
pub(crate) const TABLES: &[&str] = &[
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

/// Tables a new index already holds a row in (the link rules' version, the
/// blob move flag): the copy replaces those rows with the source's.
const SEEDED: &[&str] = &["link_rules", "blob_move"];

/// Rows per `INSERT` into PostgreSQL, and bytes: one round trip carries many
/// rows (a row per statement would make the copy round trips, not work).
const BATCH_ROWS: usize = 256;
const BATCH_BYTES: usize = 4 << 20;

/// What [`to_postgres`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copied {
    /// The rows copied, in one transaction.
    Rows(u64),
    /// The index already holds this store: an earlier run's copy committed
    /// (it is one transaction, so it is whole).
    AlreadyThere,
}

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
        let columns = columns(sqlite, table)?;
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
        return Err(Error::Index(format!(
            "the copy of the index breaks a key of table {table}"
        )));
    }
    // One self-contained file, as `VACUUM INTO` writes.
    sqlite.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(copied)
}

/// Copies SQLite index `source` into PostgreSQL index `target` as the store
/// `contents` names (its bucket prefix and id, recorded in
/// `store_contents`; none for a store whose blobs stay in its data dir), in
/// one transaction of `target` and one read snapshot
/// of `source`. The target must hold no store; one that already holds this
/// store (an earlier run committed) is left as it is. Before it commits,
/// the copy checks that every table holds as many rows as the source's and
/// that each inline blob's bytes hash to its name; the identity sequences
/// are moved past the copied ids, so new rows never collide.
pub(crate) fn to_postgres(
    source: &rusqlite::Connection,
    target: &mut sql::Connection,
    contents: Option<&Record>,
) -> Result<Copied> {
    let shown = target.instance().unwrap_or("PostgreSQL").to_string();
    let snapshot = source.unchecked_transaction()?;
    let tx = target.transaction_with_behavior(sql::TransactionBehavior::Immediate)?;
    let there: Option<(String, String)> = tx
        .query_row("SELECT url, store FROM store_contents", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((url, store)) = &there {
        if contents.is_some_and(|c| c.store == *store) {
            return Ok(Copied::AlreadyThere);
        }
        return Err(Error::Conflict(format!(
            "the index at {shown} already holds a store (store {store}, contents in {url}): \
             move into an empty database (createdb a new one)"
        )));
    }
    for table in TABLES.iter().filter(|t| !SEEDED.contains(t)) {
        let rows: i64 = tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if rows > 0 {
            return Err(Error::Conflict(format!(
                "the index at {shown} is not empty (table {table} holds {rows} rows): \
                 move into an empty database (createdb a new one)"
            )));
        }
    }
    let mut copied = 0;
    for table in TABLES {
        let columns = columns(source, table)?;
        let list = columns.join(", ");
        let check_hash = match *table {
            "blob" => Some((
                position(&columns, "hash", table)?,
                position(&columns, "bytes", table)?,
            )),
            _ => None,
        };
        tx.execute(&format!("DELETE FROM {table}"), [])?;
        let mut select = source.prepare(&format!("SELECT {list} FROM {table}"))?;
        let mut rows = select.query([])?;
        let mut batch: Vec<sql::Value> = Vec::new();
        let mut batch_bytes = 0;
        let mut expected: i64 = 0;
        loop {
            let row = rows.next()?;
            if let Some(row) = row {
                let first = batch.len();
                for i in 0..columns.len() {
                    let value = sql::Value::from(sql::ValueRef::from(row.get_ref(i)?));
                    batch_bytes += value.len();
                    batch.push(value);
                }
                if let Some((hash, bytes)) = check_hash {
                    let (sql::Value::Text(name), sql::Value::Blob(data)) =
                        (&batch[first + hash], &batch[first + bytes])
                    else {
                        return Err(Error::Index(
                            "the source index's table blob holds a row that is not a hash \
                             and its bytes"
                                .into(),
                        ));
                    };
                    let actual = hash_bytes(data);
                    if actual.as_bytes() != name.as_slice() {
                        return Err(Error::CorruptBlob {
                            hash: String::from_utf8_lossy(name).into_owned(),
                            actual,
                        });
                    }
                }
                expected += 1;
            }
            let full = batch.len() / columns.len() >= BATCH_ROWS || batch_bytes >= BATCH_BYTES;
            if !batch.is_empty() && (full || row.is_none()) {
                copied += insert_rows(&tx, table, &columns, &batch)?;
                batch.clear();
                batch_bytes = 0;
            }
            if row.is_none() {
                break;
            }
        }
        let landed: i64 =
            tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if landed != expected {
            return Err(Error::Index(format!(
                "copying table {table} into {shown}: {expected} rows read, {landed} written"
            )));
        }
    }
    // Rows came with their ids: each identity's next value goes past them.
    let identities: Vec<(String, String)> = tx
        .prepare(
            "SELECT table_name, column_name FROM information_schema.columns
             WHERE is_identity = 'YES' AND table_schema = current_schema()",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<sql::Result<_>>()?;
    for (table, column) in identities {
        tx.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               (SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)"
            ),
            [],
            |_| Ok(()),
        )?;
    }
    if let Some(contents) = contents {
        tx.execute(
            "INSERT INTO store_contents (url, store) VALUES (:url, :store)",
            named_params! {":url": contents.url.to_string(), ":store": contents.store},
        )?;
    }
    tx.commit()?;
    drop(snapshot);
    Ok(Copied::Rows(copied))
}

/// The columns of SQLite table `table`, in order.
fn columns(sqlite: &rusqlite::Connection, table: &str) -> Result<Vec<String>> {
    Ok(sqlite
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

fn position(columns: &[String], name: &str, table: &str) -> Result<usize> {
    columns
        .iter()
        .position(|c| c == name)
        .ok_or_else(|| Error::Index(format!("table {table} has no column {name}")))
}

/// One multi-row `INSERT` of `values` (whole rows of `columns`, in order).
fn insert_rows(
    tx: &sql::Transaction<'_>,
    table: &str,
    columns: &[String],
    values: &[sql::Value],
) -> Result<u64> {
    let rows = values.len() / columns.len();
    let names: Vec<String> = (0..values.len()).map(|i| format!(":v{i}")).collect();
    let tuples: Vec<String> = names
        .chunks(columns.len())
        .map(|row| format!("({})", row.join(", ")))
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        tuples.join(", ")
    );
    let params: Vec<(&str, &dyn ToSql)> = names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.as_str(), v as &dyn ToSql))
        .collect();
    tx.execute(&sql, params.as_slice())?;
    Ok(rows as u64)
}
