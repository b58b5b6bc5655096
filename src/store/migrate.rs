//! `migrate`: an embedded store moves up to a shared one (issue 20). Its
//! index is copied into an empty PostgreSQL database and its blob files into
//! a bucket prefix, both verified, and its data dir is re-pointed at them.
//! From then on every command on that data dir uses the shared store, and
//! other instances reach it with `--index` alone.
//!
//! The order makes it safe to kill at any point and resumable:
//!
//! 1. A `migrating` record in the data dir names where the store is going
//!    (the index, the bucket and the store id). While it exists the store
//!    refuses to open: nothing can write to the embedded index that the copy
//!    would miss. Running it again goes on.
//! 2. The embedded index is frozen: a trigger on every table refuses writes,
//!    so a server that was already running on the data dir cannot acknowledge
//!    a write the copy misses (it gets an error naming the move).
//! 3. The blob files go to the bucket, each hashed on the way and skipped when
//!    the bucket holds it whole already (a second run resumes). Then every
//!    blob the index references outside itself is looked up in the bucket.
//! 4. The index is copied in one PostgreSQL transaction, checked table by
//!    table and inline blob by blob before it commits (`db::copy`). A second
//!    run that finds the store there (its id in `store_contents`) skips this.
//! 5. The data dir records the bucket and the index, the record of the move
//!    goes, and the uploaded blob files with it.
//!
//! A run that fails before step 4 committed undoes 1 and 2: the embedded
//! store is as it was. After that commit the shared store is the store, and
//! the embedded index stays frozen in the data dir (`store.db`), as it was
//! at the move, until someone removes it.

use super::blobs::contents::{self, ContentsUrl, Record};
use super::db::{self, copy, postgres::IndexUrl, sql};
use super::error::{Error, Result};
use super::gc::referenced_hashes;
use super::lock::WriteLock;
use super::progress::Progress;
use super::ObjectCredentials;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The data dir's record of a move under way.
pub(crate) const PENDING_FILE: &str = "migrating";

/// Where `migrate` moves a store.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// The shared index: `postgres://USER@HOST:PORT/DB` (an empty database).
    pub to: String,
    /// The bucket for the contents (`s3://…`); may be left out when the
    /// store keeps its contents in one already.
    pub contents: Option<String>,
    /// The object store's credentials (else from the environment).
    pub credentials: Option<ObjectCredentials>,
}

/// What a `migrate` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub data_dir: PathBuf,
    /// Where the index is now (never with a password).
    pub index: String,
    /// Where the contents are now.
    pub contents: String,
    /// The store's id (its bucket prefix is marked with it).
    pub store: String,
    pub collections: u64,
    /// Index rows copied (0 when an earlier run had copied them).
    pub rows: u64,
    /// Blob files sent to the bucket, and found there already.
    pub blobs_sent: u64,
    pub blobs_found: u64,
    /// Blobs the index references, each found in the bucket.
    pub blobs_verified: u64,
    /// Whether this run finished one that was interrupted.
    pub resumed: bool,
}

/// The move under way, as the data dir records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    to: String,
    contents: Record,
}

impl Pending {
    fn read(dir: &Path) -> Result<Option<Pending>> {
        let path = dir.join(PENDING_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let damaged = || {
            Error::Invalid(format!(
                "{} is damaged: it records a move to PostgreSQL under way; \
                 compare it with `index to URL`, `contents URL`, `store UUID` lines",
                path.display()
            ))
        };
        let mut to = None;
        let mut url = None;
        let mut store = None;
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("index", v)) => to = Some(v.to_string()),
                Some(("contents", v)) => url = Some(ContentsUrl::parse(v)?),
                Some(("store", v)) if uuid::Uuid::parse_str(v).is_ok() => {
                    store = Some(v.to_string())
                }
                _ if line.trim().is_empty() => {}
                _ => return Err(damaged()),
            }
        }
        match (to, url, store) {
            (Some(to), Some(url), Some(store)) => Ok(Some(Pending {
                to,
                contents: Record { url, store },
            })),
            _ => Err(damaged()),
        }
    }

    fn write(&self, dir: &Path) -> Result<()> {
        contents::write_record_file(
            dir,
            PENDING_FILE,
            &format!(
                "index {}\ncontents {}\nstore {}\n",
                self.to, self.contents.url, self.contents.store
            ),
        )
    }
}

/// Refuses to open a store whose move to PostgreSQL is under way.
pub(crate) fn check_not_moving(dir: &Path) -> Result<()> {
    match Pending::read(dir)? {
        None => Ok(()),
        Some(pending) => Err(Error::Conflict(format!(
            "the store in {} is moving to PostgreSQL and was interrupted: run \
             `blockstore --data-dir {} migrate --to {}` again to finish the move",
            dir.display(),
            dir.display(),
            pending.to
        ))),
    }
}

/// Moves the embedded store in data dir `dir` to the shared index and
/// bucket `options` name (see the module docs).
pub fn migrate(
    dir: &Path,
    options: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<MigrateReport> {
    let db_path = dir.join("store.db");
    if !db_path.is_file() {
        return Err(Error::NotFound(format!(
            "an embedded store in {} (it has no store.db); migrate moves an embedded store",
            dir.display()
        )));
    }
    let url = IndexUrl::parse(&options.to)?;
    let given = options
        .contents
        .as_deref()
        .map(ContentsUrl::parse)
        .transpose()?;
    let pending = Pending::read(dir)?;
    let resumed = pending.is_some();
    // Whether the store id is this move's own (the store had no bucket).
    let new_id = match &pending {
        Some(p) => contents::recorded(dir)?.is_none_or(|r| r.store != p.contents.store),
        None => contents::recorded(dir)?.is_none_or(|r| r.store.is_empty()),
    };
    // A record from before stores had ids gets one now, as at an open.
    let recorded = contents::recorded(dir)?.map(|mut r| {
        if r.store.is_empty() {
            r.store = contents::new_store_id();
        }
        r
    });
    let pending = match pending {
        Some(pending) => {
            if pending.to != options.to {
                return Err(Error::Conflict(format!(
                    "the store in {} is already moving to {}, not {}: run the same \
                     `migrate --to` again to finish that move",
                    dir.display(),
                    pending.to,
                    options.to
                )));
            }
            if given.as_ref().is_some_and(|g| *g != pending.contents.url) {
                return Err(Error::Conflict(format!(
                    "the store in {} is moving its contents to {}: leave out --contents, \
                     or give that one",
                    dir.display(),
                    pending.contents.url
                )));
            }
            pending
        }
        None => {
            if let db::Location::Postgres(there) = db::Location::for_dir(dir, None)? {
                return Err(Error::Conflict(format!(
                    "the store in {} already keeps its index in {}",
                    dir.display(),
                    there.shown()
                )));
            }
            let contents = match (recorded, given) {
                (Some(recorded), None) => recorded,
                (Some(recorded), Some(given)) if recorded.url == given => recorded,
                (Some(recorded), Some(given)) => {
                    return Err(Error::Conflict(format!(
                        "the store in {} keeps its contents in {}, not {given}: leave out \
                         --contents to move the index alone",
                        dir.display(),
                        recorded.url
                    )))
                }
                (_, Some(url)) => Record {
                    url,
                    store: contents::new_store_id(),
                },
                (_, None) => {
                    return Err(Error::Invalid(
                        "a shared index needs shared contents: add --contents \
                         s3://BUCKET[/PREFIX]?endpoint=…&region=… (the store's blob files \
                         are uploaded there)"
                            .into(),
                    ))
                }
            };
            Pending {
                to: options.to.clone(),
                contents,
            }
        }
    };
    let lock = WriteLock::open(&dir.join("lock"))?;
    lock.exclusive(|| {
        // Opened (and brought to this binary's schema) before the move is
        // recorded, so a store this binary cannot read is refused untouched.
        let index = db::open(&db_path)?;
        let sqlite = index.sqlite().expect("an embedded index");
        if !resumed {
            pending.write(dir)?;
        }
        if let Err(e) = freeze(sqlite) {
            if !resumed {
                let _ = std::fs::remove_file(dir.join(PENDING_FILE));
            }
            return Err(e);
        }
        let (rows, uploaded, verified) =
            match move_up(dir, &index, &url, &pending, options, progress) {
                Ok(done) => done,
                Err(e) => {
                    // Undone only when the shared index says for certain that
                    // it does not hold the store (a COMMIT whose answer was
                    // lost, a kill after it, an index that cannot be asked: the
                    // move stays recorded, and running it again finishes it).
                    // Then the embedded store is the store, as it was, and a
                    // bucket prefix this move claimed is free again.
                    if matches!(shared_holds(&url, &pending.contents.store), Ok(false)) {
                        if new_id {
                            let _ = contents::release_prefix(
                                dir,
                                &pending.contents,
                                options.credentials.clone(),
                            );
                        }
                        if thaw(sqlite).is_ok() {
                            let _ = std::fs::remove_file(dir.join(PENDING_FILE));
                        }
                    }
                    return Err(e);
                }
            };
        progress.phase("re-pointing the data dir", None);
        contents::record(dir, &pending.contents)?;
        db::Location::Postgres(Box::new(url.clone())).record(dir)?;
        std::fs::remove_file(dir.join(PENDING_FILE))
            .map_err(|e| Error::io(format!("removing {}", dir.join(PENDING_FILE).display()), e))?;
        // The move is done; files left behind are only space (gc's).
        let _ = uploaded.remove_files();
        let collections: i64 =
            sqlite.query_row("SELECT count(*) FROM collection", [], |r| r.get(0))?;
        Ok(MigrateReport {
            data_dir: dir.to_path_buf(),
            index: url.shown().to_string(),
            contents: pending.contents.url.to_string(),
            store: pending.contents.store.clone(),
            collections: collections.max(0) as u64,
            rows,
            blobs_sent: uploaded.sent,
            blobs_found: uploaded.hashes.len() as u64 - uploaded.sent,
            blobs_verified: verified,
            resumed,
        })
    })
}

/// Steps 3 and 4: the contents, then the index.
fn move_up(
    dir: &Path,
    index: &sql::Connection,
    url: &IndexUrl,
    pending: &Pending,
    options: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<(u64, contents::Uploaded, u64)> {
    let uploaded = contents::upload_files(
        dir,
        &pending.contents,
        options.credentials.clone(),
        progress,
    )?;
    // Every blob the index names and does not hold itself must be in the
    // bucket now: the shared store is whole or not made.
    let inline: std::collections::HashSet<String> = index
        .prepare("SELECT hash FROM blob")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())?;
    let outside: Vec<String> = referenced_hashes(index)?
        .into_iter()
        .filter(|h| !inline.contains(h))
        .collect();
    progress.phase("verifying the bucket", Some(outside.len() as u64));
    for hash in &outside {
        progress.advance(1);
        if !uploaded.objects.exists(hash)? {
            return Err(Error::MissingBlob(format!(
                "{hash}: the store references it, and it is neither in {} nor in {}; \
                 `blockstore fsck` lists what is missing",
                dir.join("blobs").display(),
                pending.contents.url
            )));
        }
    }
    if progress.interrupted() {
        return Err(Error::Interrupted);
    }
    progress.phase("copying the index", None);
    let mut target = db::Location::Postgres(Box::new(url.clone())).open()?;
    let sqlite = index.sqlite().expect("an embedded index");
    let rows = match copy::to_postgres(sqlite, &mut target, Some(&pending.contents))? {
        copy::Copied::Rows(rows) => rows,
        copy::Copied::AlreadyThere => 0,
    };
    Ok((rows, uploaded, outside.len() as u64))
}

/// Whether the shared index at `url` holds store `store` (asked on a
/// connection of its own: the copy's may be broken).
fn shared_holds(url: &IndexUrl, store: &str) -> Result<bool> {
    sql::blocking(|| {
        let mut client = db::postgres::connect(url)?;
        let fail = |e| db::postgres::error(url, e);
        let schema: bool = client
            .query_one("SELECT to_regclass('store_contents') IS NOT NULL", &[])
            .map_err(fail)?
            .get(0);
        if !schema {
            return Ok(false);
        }
        let found: i64 = client
            .query_one(
                "SELECT count(*) FROM store_contents WHERE store = $1",
                &[&store],
            )
            .map_err(fail)?
            .get(0);
        Ok(found > 0)
    })
}

/// The triggers that refuse writes to a moved store's embedded index.
fn triggers() -> impl Iterator<Item = (String, &'static str, &'static str)> {
    copy::TABLES.iter().flat_map(|table| {
        ["INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .map(move |op| (format!("moved_{table}_{}", op.to_lowercase()), *table, op))
    })
}

fn freeze(sqlite: &rusqlite::Connection) -> Result<()> {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for (name, table, op) in triggers() {
        sql += &format!(
            "CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table} BEGIN \
             SELECT RAISE(ABORT, 'this store has moved to PostgreSQL (blockstore migrate): \
             restart blockstore on its data dir'); END;"
        );
    }
    sql += "COMMIT;";
    sqlite.execute_batch(&sql).inspect_err(|_| {
        let _ = sqlite.execute_batch("ROLLBACK");
    })?;
    Ok(())
}

fn thaw(sqlite: &rusqlite::Connection) -> Result<()> {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for (name, _, _) in triggers() {
        sql += &format!("DROP TRIGGER IF EXISTS {name};");
    }
    sql += "COMMIT;";
    sqlite.execute_batch(&sql)?;
    Ok(())
}
