//! Opening the SQLite index and migrating it.
//!
//! WAL, foreign keys, a busy timeout, and numbered migrations embedded in the
//! binary (`sql/NNNN_*.sql`), applied at open in one transaction and recorded in
//! `PRAGMA user_version`. A store written by a newer binary is refused, never
//! guessed at. SQL for each table group lives beside the model code that owns it.

use super::error::{Error, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) mod copy;
pub mod postgres;
pub(crate) mod sql;
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

/// Where a store's index is: the data dir's SQLite file, or a PostgreSQL
/// database shared by several instances.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(Box<postgres::IndexUrl>),
}

/// The data dir's record of where its index is, when that is not its own
/// `store.db`: the `--index` it was created with.
const INDEX_FILE: &str = "index";

impl Location {
    /// Where data dir `dir`'s index is: the `--index` it was created with
    /// (recorded in `DIR/index`; `asked`, if given, must name the same),
    /// else `asked`, else its own `store.db`. A data dir holds one index:
    /// `--index` on a data dir whose `store.db` exists is refused.
    pub(crate) fn for_dir(dir: &Path, asked: Option<&str>) -> Result<Location> {
        let file = dir.join(INDEX_FILE);
        let recorded = match std::fs::read_to_string(&file) {
            Ok(text) => Some(text.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(format!("reading {}", file.display()), e)),
        };
        match (recorded, asked) {
            (Some(recorded), Some(asked)) if recorded != asked => Err(Error::Invalid(format!(
                "data dir {} keeps its index at {recorded:?}, not {asked:?}: give the same \
                 --index, or none, or use another data dir",
                dir.display()
            ))),
            (Some(url), _) => Ok(Location::Postgres(Box::new(
                postgres::IndexUrl::parse(&url)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?,
            ))),
            (None, Some(asked)) => {
                if dir.join("store.db").exists() {
                    return Err(Error::Invalid(format!(
                        "data dir {} holds an embedded index (store.db); --index is for a \
                         new data dir: use another one",
                        dir.display()
                    )));
                }
                Ok(Location::Postgres(Box::new(postgres::IndexUrl::parse(
                    asked,
                )?)))
            }
            (None, None) => Ok(Location::Sqlite(dir.join("store.db"))),
        }
    }

    /// Records this location in data dir `dir` (after it opened), so later
    /// commands there find it without `--index`.
    pub(crate) fn record(&self, dir: &Path) -> Result<()> {
        match self {
            Location::Sqlite(_) => Ok(()),
            Location::Postgres(url) if !dir.join(INDEX_FILE).exists() => {
                super::blobs::contents::write_record_file(
                    dir,
                    INDEX_FILE,
                    &format!("{}\n", url.given()),
                )
            }
            Location::Postgres(_) => Ok(()),
        }
    }

    /// Opens (creating and migrating if needed) the writer's connection.
    pub(crate) fn open(&self) -> Result<sql::Connection> {
        match self {
            Location::Sqlite(path) => open(path),
            Location::Postgres(url) => Ok(sql::Connection::postgres(
                sql::blocking(|| postgres::open(url))?,
                url,
            )),
        }
    }

    /// A connection for reads, to an index [`Location::open`] has migrated.
    fn open_reader(&self) -> Result<sql::Connection> {
        match self {
            Location::Sqlite(path) => Ok(open_sqlite_reader(path)?.into()),
            Location::Postgres(url) => Ok(sql::Connection::postgres(
                sql::blocking(|| postgres::connect(url))?,
                url,
            )),
        }
    }
}

/// Opens (creating if needed) the index at `path` and brings it up to date.
pub fn open(path: &Path) -> Result<sql::Connection> {
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
    Ok(conn.into())
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
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}

/// The most read connections a store keeps open: SQLite reads are CPU work,
/// and this machine class has two cores; more would only queue in the kernel.
pub const MAX_READERS: usize = 4;

/// Opens a read-only connection to a SQLite index that [`open`] has migrated.
fn open_sqlite_reader(path: &Path) -> Result<Connection> {
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
    location: Location,
    /// Idle connections, and how many exist in all.
    idle: std::sync::Mutex<(Vec<sql::Connection>, usize)>,
    returned: std::sync::Condvar,
}

impl Readers {
    pub(crate) fn new(location: &Location) -> Readers {
        Readers {
            location: location.clone(),
            idle: std::sync::Mutex::new((Vec::new(), 0)),
            returned: std::sync::Condvar::new(),
        }
    }

    /// Where the index is.
    pub(crate) fn location(&self) -> &Location {
        &self.location
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
                return match self.location.open_reader() {
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
    conn: Option<sql::Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = sql::Connection;

    fn deref(&self) -> &sql::Connection {
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
