//! The store: versioned collections of OLX units and assets on an embedded SQLite
//! index and a content-addressed blob store.
//!
//! [`Store`] is the façade every outer layer (CLI, later the server, watcher and
//! desktop shell) calls; nothing of the model is implemented outside this module.
//! It knows nothing of HTTP, terminals or watched folders, and never prints.
//! Every write path is one SQLite transaction, and blobs are made durable before
//! the transaction that references them commits.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod blobs;
mod cancel;
mod collection_groups;
mod collections;
mod db;
mod debris;
mod dependencies;
mod dump;
pub mod error;
pub mod events;
mod files;
mod fsck;
mod gc;
mod group;
mod history;
mod hot;
mod linkq;
pub mod links;
mod listing;
mod lock;
mod migrate;
pub mod model;
mod named;
pub mod path;
pub mod progress;
mod publish;
mod revisions;
mod scan;
mod write;

pub use blobs::objects::ObjectCredentials;
pub use blobs::{hash_bytes, BlobReader, BlobStore, Contents, ContentsUrl, Stored, INLINE_MAX};
pub use cancel::Cancel;
pub use collection_groups::CollectionGroup;
pub use db::postgres;
pub use db::SCHEMA_VERSION;
pub use debris::Debris;
pub use dependencies::{snapshot_digest, Dependency, DependencyRef};
pub use dump::{
    restore, DumpManifest, DumpReport, RestoreOptions, RestoreReport, DUMP_FORMAT,
    DUMP_FORMAT_VERSION,
};
pub use error::{human_bytes, is_no_space, plural, short_bytes, Error, ErrorKind, Result};
pub use events::Event;
pub use files::{classify, classify_path, media_type, Classification};
pub use fsck::{FsckProblem, FsckReport};
pub use gc::{GcOptions, GcReport};
pub use hot::{HotFile, HOT_FILE_MAX};
pub use linkq::Direction;
pub use listing::{FileQuery, Folder, ListedFile, Sort, SortKey};
pub use lock::{LockNotice, DEFAULT_LOCK_TIMEOUT};
pub use migrate::{migrate, MigrateOptions, MigrateReport};
pub use model::*;
pub use named::{DraftFile, NamedDraft, Stage, StagedChange};
pub use path::RelPath;
pub use progress::{NoProgress, Progress};
pub use publish::PublishOptions;
pub use revisions::Against;
pub use write::{BatchEntry, BatchReport, WriteSession};

use crate::store::db::sql::{Connection, OptionalExtension};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// How to open a store ([`Store::open_with`]).
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where a new store keeps its large blobs: `s3://BUCKET[/PREFIX]?endpoint=…&region=…`
    /// (credentials from the `AWS_*` environment). Recorded in the data dir
    /// at creation; an existing store must name the same place, or none.
    pub contents: Option<String>,
    /// The object store's credentials, for a program that embeds the store
    /// and has its own (the CLI never sets them: they come from the
    /// environment or `~/.aws/credentials`).
    pub credentials: Option<ObjectCredentials>,
    /// Where a new store keeps its index, when not in the data dir's own
    /// SQLite file: `postgres://USER@HOST:PORT/DB` (the password from
    /// `PGPASSWORD` or `~/.pgpass`). Recorded in the data dir at creation.
    pub index: Option<String>,
}

/// An open store in a data directory: `store.db` (the index), `blobs/`, `lock`.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Read connections, so reads wait neither on the writer nor on each other.
    readers: db::Readers,
    /// The answer caches' change token.
    watch: db::ChangeWatch,
    blobs: BlobStore,
    /// Writers vs. GC's blob sweep; see `lock.rs`.
    lock: lock::WriteLock,
    events: events::Bus,
    /// Recent file listings for [`Store::files_page`], valid while the index
    /// has not changed.
    listings: listing::ListingCache,
    /// Recent link reports for [`Store::link_report`], likewise.
    reports: linkq::ReportCache,
    /// Small files read often, while nothing commits ([`Store::cached_read`]).
    hot: hot::HotFiles,
    /// Concurrent single-file writes, committed together.
    group: group::GroupCommit,
    /// The writer's connection (and reads that must see its transaction).
    /// Declared last, so it is closed last: the last connection to close
    /// checkpoints the WAL and removes it, which only a writable one can do
    /// (closed before the readers, it left the whole WAL behind, and every
    /// later open of a large store re-read it: 50–150 ms per CLI call).
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens the store in `dir`, creating it if needed, and migrates the index.
    /// Its contents are where the data dir records them (its own `blobs/`
    /// unless it was created with [`OpenOptions::contents`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, &OpenOptions::default())
    }

    /// [`Store::open`] with options: a new store's contents location.
    pub fn open_with(dir: impl AsRef<Path>, options: &OpenOptions) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating data dir {}", dir.display()), e))?;
        let lock = lock::WriteLock::open(&dir.join("lock"))?;
        migrate::check_not_moving(&dir)?;
        let index = db::Location::for_dir(&dir, options.index.as_deref())?;
        let mut conn = index.open()?;
        index.record(&dir)?;
        let shared = conn.engine() == db::sql::Engine::Postgres;
        if shared {
            blobs::contents::seed_from_index(&conn, &dir)?;
        }
        let readers = db::Readers::new(&index);
        let contents = blobs::Contents::open(&dir, options, || {
            Ok(conn.query_row("SELECT count(*) = 0 FROM collection", [], |r| r.get(0))?)
        })?;
        if shared {
            blobs::contents::record_in_index(&mut conn, &contents)?;
        }
        let events = events::Bus::default();
        if let db::Location::Postgres(url) = &index {
            events.reach_instances(url, conn.instance().unwrap_or_default())?;
        }
        if let (db::Location::Postgres(url), Some(objects)) = (&index, contents.objects()) {
            objects.set_before_upload(lock.reach_instances(db::postgres::SweepLock::new(
                url,
                lock::DEFAULT_LOCK_TIMEOUT,
            )));
        }
        let blobs = BlobStore::open(contents, &index)?;
        blobs::move_small_files(&mut conn, blobs.contents())?;
        scan::rescan_links(&mut conn, &blobs)?;
        Ok(Store {
            readers,
            watch: db::ChangeWatch::open(&index, &conn)?,
            dir,
            conn: Mutex::new(conn),
            blobs,
            lock,
            events,
            listings: listing::ListingCache::new(listing::LISTINGS_KEPT),
            reports: linkq::ReportCache::new(linkq::REPORTS_KEPT),
            hot: hot::HotFiles::default(),
            group: group::GroupCommit::default(),
        })
    }

    /// The data directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blob store, for layers that stream content in or out.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Receives every event committed from now on, in order; one that falls
    /// more than [`events::EVENT_BUFFER`] events behind is told how many it missed.
    pub fn subscribe(&self) -> events::Receiver<Event> {
        self.events.subscribe()
    }

    /// A read connection from the pool: for reads that need no write
    /// transaction of their own; each statement (or an explicit read
    /// transaction) sees a committed snapshot.
    fn reader(&self) -> Result<db::Reader<'_>> {
        self.readers.get()
    }

    /// The index's change token now: take it before reading what it guards,
    /// so an answer is never filed under a token newer than its data.
    fn change_token(&self) -> Result<files::ChangeToken> {
        self.watch.token()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the
        // transaction rolls back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a write waits behind a gc (and a gc behind writers) before
    /// it gives up with [`Error::Busy`]; [`DEFAULT_LOCK_TIMEOUT`] unless set.
    pub fn set_lock_timeout(&self, timeout: std::time::Duration) {
        self.lock.set_timeout(timeout);
    }

    /// What to tell when a write or a gc has waited over a second for the
    /// store's lock (the CLI prints it; the store itself never prints).
    pub fn set_lock_notice(&self, notice: Option<LockNotice>) {
        self.lock.set_notice(notice);
    }

    /// Runs `f` holding the writers' shared lock (see `lock`).
    fn with_write_lock<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.lock.shared(f)
    }

    /// Resolves a collection by uuid or slug to its row id and record.
    fn find_collection(conn: &Connection, key: &str) -> Result<(i64, Collection)> {
        conn.prepare_cached(
            "SELECT collection_id, uuid, slug, title, description, owner, author, license,
                    created_at, updated_at,
                    (SELECT g.uuid FROM collection_group g WHERE g.group_id = collection.group_id),
                    v1_slug
             FROM collection WHERE slug = :key OR uuid = :key",
        )?
        .query_row(crate::store::db::sql::named_params! {":key": key}, |row| {
            Ok((
                row.get(0)?,
                Collection {
                    uuid: row.get(1)?,
                    slug: row.get(2)?,
                    title: row.get(3)?,
                    description: row.get(4)?,
                    owner: row.get(5)?,
                    author: row.get(6)?,
                    license: row.get(7)?,
                    created_at: row.get(8)?,
                    updated_at: row.get(9)?,
                    group: row.get(10)?,
                    v1_slug: row.get(11)?,
                },
            ))
        })
        .optional()?
        .ok_or_else(|| Error::CollectionNotFound(key.to_string()))
    }
}

/// Now, as the index stores time: RFC 3339 UTC with microseconds, fixed width so
/// text comparison is time comparison.
pub fn now() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}
