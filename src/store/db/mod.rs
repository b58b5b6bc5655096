//! Opening the SQLite index and migrating it.
//!
//! WAL, foreign keys, a busy timeout, and numbered migrations embedded in the
//! binary (`sql/NNNN_*.sql`), applied at open in one transaction and recorded in
//! `PRAGMA user_version`. A store written by a newer binary is refused, never
//! guessed at. SQL for each table group lives beside the model code that owns it.

use super::error::{Error, Result};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

pub mod postgres;
mod watch;
pub(crate) use watch::ChangeWatch;

/// The migrations, in order. The schema version is their count.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("sql/0001_init.sql")),
    (
        "0002_version_uuid",
        include_str!("sql/0002_version_uuid.sql"),
    ),
    ("0003_link_rules", include_str!("sql/0003_link_rules.sql")),
    ("0004_block_names", include_str!("sql/0004_block_names.sql")),
    (
        "0005_inline_blobs",
        include_str!("sql/0005_inline_blobs.sql"),
    ),
    ("0006_link_uuids", include_str!("sql/0006_link_uuids.sql")),
    (
        "0007_named_drafts",
        include_str!("sql/0007_named_drafts.sql"),
    ),
    (
        "0008_collection_groups",
        include_str!("sql/0008_collection_groups.sql"),
    ),
    (
        "0009_dependencies",
        include_str!("sql/0009_dependencies.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if needed) the index at `path` and brings it up to date.
pub fn open(path: &Path) -> Result<Connection> {
    // The store serialises its one connection behind a mutex of its own, so
    // SQLite's per-call connection mutex is redundant work.
    let flags = rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // WAL with synchronous=NORMAL survives a killed process (and FULL would also
    // survive power loss at a cost on every commit; we pick FULL for the index
    // because commits are few and large: one per write, import or publish).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The page cache (allocated only as used) is most of a CLI process's RSS:
    // listing a 110,000-file collection fills it. 16 MiB keeps an export of
    // such a collection near 70 MB peak; 64 MiB bought a 110,000-file import
    // no time on this machine (9.6-11.3 s either way, BENCHMARKS.md).
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            dir: path.parent().unwrap_or(path).to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    // Re-read inside the lock: another process may have migrated meanwhile.
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (_name, sql) in MIGRATIONS.iter().skip(found.max(0) as usize) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        drop(open(&db).unwrap());
        let conn = Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = open(&db).unwrap_err();
        assert!(matches!(err, Error::SchemaTooNew { .. }), "got {err}");
        assert!(err.to_string().contains("newer"), "message: {err}");
    }

    #[test]
    fn opening_twice_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        drop(open(&db).unwrap());
        let conn = open(&db).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}

/// The most read connections a store keeps open: SQLite reads are CPU work,
/// and this machine class has two cores; more would only queue in the kernel.
pub const MAX_READERS: usize = 4;

/// Opens a read-only connection to an index that [`open`] has migrated.
fn open_reader(path: &Path) -> Result<Connection> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "mmap_size", 256i64 << 20)?;
    Ok(conn)
}

/// Read connections, opened as needed up to [`MAX_READERS`]. In WAL mode
/// each reads its own snapshot, so reads wait neither on the writer's
/// connection (and its transaction) nor on each other.
#[derive(Debug)]
pub(crate) struct Readers {
    path: std::path::PathBuf,
    /// Idle connections, and how many exist in all.
    idle: std::sync::Mutex<(Vec<Connection>, usize)>,
    returned: std::sync::Condvar,
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_path_buf(),
            idle: std::sync::Mutex::new((Vec::new(), 0)),
            returned: std::sync::Condvar::new(),
        }
    }

    /// A read connection: an idle one, a new one while fewer than
    /// [`MAX_READERS`] exist, or the first one handed back.
    pub(crate) fn get(&self) -> Result<Reader<'_>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = idle.0.pop() {
                return Ok(Reader {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if idle.1 < MAX_READERS {
                idle.1 += 1;
                drop(idle);
                return match open_reader(&self.path) {
                    Ok(conn) => Ok(Reader {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.idle.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
                        Err(e)
                    }
                };
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A read connection lent by [`Readers`]; handed back when dropped.
pub(crate) struct Reader<'a> {
    pool: &'a Readers,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a lent connection")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection left inside a transaction (a panic mid-read) is
            // closed rather than lent again.
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            if conn.is_autocommit() {
                idle.0.push(conn);
            } else {
                idle.1 -= 1;
            }
            drop(idle);
            self.pool.returned.notify_one();
        }
    }
}
