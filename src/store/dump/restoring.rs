//! Restore: a dump read once, streaming, into a staging store beside the
//! data dir, checked, migrated, made durable, and swapped in (see the
//! parent module for the rules).

use super::super::db::{self, copy, sql};
use super::{Progress, Store, SCHEMA_VERSION};
use crate::store::blobs::contents::{self, ContentsUrl};
use crate::store::blobs::files::BlobFiles;
use crate::store::blobs::is_hash;
use crate::store::debris;
use crate::store::error::{Error, Result};
use crate::store::gc::referenced_hashes;
use crate::store::path::RelPath;
use blake2::digest::consts::U20;
use blake2::{Blake2b, Digest};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

type Hasher = Blake2b<U20>;
use super::*;

pub fn restore(
    data_dir: &Path,
    file: &Path,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let archive = File::open(file).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound(format!("dump file {}", file.display())),
        _ => Error::io(format!("reading {}", file.display()), e),
    })?;
    let target = resolve_target(data_dir)?;
    // Killed restores' staging folders go first (best effort: gc reports
    // what stays).
    if let Ok(dead) = debris::restores(&target) {
        let _ = dead.remove();
    }
    if let Some(index) = &options.index {
        return restore_shared(&target, file, archive, index, options, progress);
    }
    let before = inspect(&target)?;
    before.check(&target, options)?;
    // The restored store's contents go where asked, else where the store
    // it replaces keeps them.
    // A new bucket location is a new store; the store it replaces passes on
    // its location and its id (its prefix is this store's now).
    let contents = match &options.contents {
        Some(url) => Some(contents::Record {
            url: ContentsUrl::parse(url)?,
            store: contents::new_store_id(),
        }),
        None => contents::recorded(&target)?.map(|mut r| {
            if r.store.is_empty() {
                r.store = contents::new_store_id();
            }
            r
        }),
    };

    // Held until the restore ends: the folder is a running restore's.
    let (staging, _held) = new_staging(&target)?;
    let built = build(&staging, file, archive, progress).and_then(|built| {
        if let Some(to) = &contents {
            progress.phase("uploading", None);
            contents::move_files_to_objects(&staging, to, options.credentials.clone())?;
        }
        Ok(built)
    });
    let (manifest, schema_version) = match built {
        Ok(done) => done,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let leftover = match install(&staging, &target, options) {
        Ok(leftover) => leftover,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    Ok(RestoreReport {
        data_dir: target,
        file: file.to_path_buf(),
        manifest,
        schema_version,
        replaced: !before.is_empty(),
        leftover,
        index: None,
    })
}

/// A restore into a shared index: the dump is staged and checked as any
/// restore's, its blobs go to the bucket, and its index is copied into the
/// (empty) PostgreSQL database in one transaction, checked as `migrate`
/// checks its copy (`db::copy::to_postgres`). The data dir then records
/// both places; it holds no store of its own, so it must be new or empty.
/// A shared store is never replaced: `--force` does not empty a database.
fn restore_shared(
    target: &Path,
    file: &Path,
    archive: File,
    index: &str,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let location = db::Location::for_dir(target, Some(index))?;
    let db::Location::Postgres(url) = &location else {
        unreachable!("an --index location is PostgreSQL's")
    };
    let found = inspect(target)?;
    found.check(target, &RestoreOptions::default())?;
    // Without a bucket, the blob files stay in the data dir (one instance
    // on PostgreSQL; instances sharing it need --contents).
    let record = match &options.contents {
        Some(given) => Some(contents::Record {
            url: ContentsUrl::parse(given)?,
            store: contents::new_store_id(),
        }),
        None => None,
    };
    match (contents::recorded(target)?, &record) {
        (Some(recorded), Some(record)) if recorded.url != record.url => {
            return Err(Error::Conflict(format!(
                "data dir {} keeps its contents in {}, not {}: restore into a new data dir",
                target.display(),
                recorded.url,
                record.url
            )))
        }
        (Some(recorded), None) => {
            return Err(Error::Conflict(format!(
                "data dir {} keeps its contents in {}: give it as --contents, or restore \
                 into a new data dir",
                target.display(),
                recorded.url
            )))
        }
        _ => {}
    }
    let (staging, _held) = new_staging(target)?;
    let blobs = target.join("blobs");
    let restored = (|| {
        let (manifest, schema_version) = build(&staging, file, archive, progress)?;
        match &record {
            Some(record) => {
                contents::upload_files(&staging, record, options.credentials.clone(), progress)?;
            }
            // The blob files become the data dir's before the index names
            // them: a kill after the copy commits leaves them where the
            // store reads them (the data dir held none, `inspect` said).
            None => {
                fs::create_dir_all(target)
                    .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
                if fs::symlink_metadata(&blobs).is_ok() {
                    fs::remove_dir_all(&blobs)
                        .map_err(|e| Error::io(format!("replacing {}", blobs.display()), e))?;
                }
                rename(&staging.join("blobs"), &blobs).map_err(|e| {
                    Error::io(format!("moving the blobs into {}", blobs.display()), e)
                })?;
                sync_dir(target)?;
            }
        }
        progress.phase("copying the index", None);
        let staged = db::open(&staging.join("store.db"))?;
        let mut shared = location.open()?;
        copy::to_postgres(
            staged.sqlite().expect("a staged SQLite index"),
            &mut shared,
            record.as_ref(),
        )?;
        Ok((manifest, schema_version))
    })();
    let (manifest, schema_version) = match restored {
        Ok(done) => done,
        Err(e) => {
            // Unless the index may hold the store (a COMMIT whose answer
            // was lost may have committed): the bucket prefix this restore
            // claimed is free again, the blob files it moved in go.
            if !matches!(e, Error::Unavailable { .. }) {
                match &record {
                    Some(record) => {
                        let _ =
                            contents::release_prefix(&staging, record, options.credentials.clone());
                    }
                    None => {
                        let _ = fs::remove_dir_all(&blobs);
                    }
                }
            }
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(target)
        .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
    if let Some(record) = &record {
        contents::record(target, record)?;
    }
    location.record(target)?;
    Ok(RestoreReport {
        data_dir: target.to_path_buf(),
        file: file.to_path_buf(),
        manifest,
        schema_version,
        replaced: false,
        leftover: None,
        index: Some(url.shown().to_string()),
    })
}

/// A new staging folder beside `target`, and the handle whose lock says a
/// running restore holds it (its leftovers, when killed, are debris).
fn new_staging(target: &Path) -> Result<(PathBuf, std::io::Result<File>)> {
    let (parent, name) = parent_and_name(target)?;
    let staging = parent.join(format!(
        ".{name}.restore-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    fs::create_dir(&staging)
        .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
    let held = File::open(&staging).inspect(debris::hold);
    Ok((staging, held))
}

/// The data dir as a real path: a symlink is followed (the store it points at
/// is what gets replaced), a missing dir's parent is created.
fn resolve_target(data_dir: &Path) -> Result<PathBuf> {
    match fs::metadata(data_dir) {
        Ok(meta) if meta.is_dir() => fs::canonicalize(data_dir)
            .map_err(|e| Error::io(format!("resolving {}", data_dir.display()), e)),
        Ok(_) => Err(Error::Invalid(format!(
            "{} is not a directory; restore into a data dir",
            data_dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (parent, name) = parent_and_name(data_dir)?;
            fs::create_dir_all(&parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
            let parent = fs::canonicalize(&parent)
                .map_err(|e| Error::io(format!("resolving {}", parent.display()), e))?;
            Ok(parent.join(name))
        }
        Err(e) => Err(Error::io(format!("reading {}", data_dir.display()), e)),
    }
}

/// What a data dir holds, as far as a restore cares.
#[derive(Debug, Default)]
struct Inspection {
    collections: u64,
    /// A store whose index cannot be read counts as non-empty.
    unreadable: bool,
    has_blobs: bool,
    /// Entries that are not a store's.
    foreign: Vec<String>,
}

impl Inspection {
    fn is_empty(&self) -> bool {
        self.collections == 0 && !self.unreadable && !self.has_blobs
    }

    fn check(&self, target: &Path, options: &RestoreOptions) -> Result<()> {
        if !self.foreign.is_empty() {
            let mut named = self.foreign[..self.foreign.len().min(5)].join(", ");
            if self.foreign.len() > 5 {
                named += &format!(" and {} more", self.foreign.len() - 5);
            }
            return Err(Error::Conflict(format!(
                "{} does not look like a blockstore data dir (it holds {named}); \
                 restore only replaces a data dir: choose a new or empty one",
                target.display(),
            )));
        }
        if !self.is_empty() && !options.force {
            let what = if self.unreadable {
                "a store whose index cannot be read".to_string()
            } else {
                format!(
                    "a store with {} {}{}",
                    self.collections,
                    if self.collections == 1 {
                        "collection"
                    } else {
                        "collections"
                    },
                    if self.has_blobs { " and blobs" } else { "" }
                )
            };
            return Err(Error::Conflict(format!(
                "{} holds {what}; restore refuses to replace it without --force \
                 (or restore into a new data dir)",
                target.display()
            )));
        }
        Ok(())
    }
}

/// Reads a data dir without changing it.
fn inspect(dir: &Path) -> Result<Inspection> {
    let mut found = Inspection::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !STORE_ENTRIES.contains(&name.as_str()) {
            found.foreign.push(name);
        }
    }
    found.foreign.sort();
    let db = dir.join("store.db");
    if db.exists() {
        let count = open_untouched(&db).and_then(|conn| {
            let tables: i64 = conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'collection'",
                [],
                |r| r.get(0),
            )?;
            if tables == 0 {
                return Ok(0);
            }
            conn.query_row("SELECT count(*) FROM collection", [], |r| {
                r.get::<_, i64>(0)
            })
        });
        match count {
            Ok(n) => found.collections = n.max(0) as u64,
            Err(_) => found.unreadable = true,
        }
    }
    let blobs = dir.join("blobs");
    if blobs.is_dir() {
        // Any file in a shard is a blob (or one being written).
        found.has_blobs = walkdir::WalkDir::new(&blobs)
            .min_depth(2)
            .max_depth(2)
            .into_iter()
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_type().is_file()
                    && e.path()
                        .parent()
                        .and_then(Path::file_name)
                        .is_some_and(|shard| shard.len() == 2 && shard != "tmp")
            });
    }
    Ok(found)
}

/// Opens an index to read it without leaving a trace. A read-only connection
/// to a WAL database creates `-wal` and `-shm` files it cannot remove; when
/// there is no `-wal` the main file is the whole database, so it is opened
/// `immutable` (no locks, no side files) instead.
fn open_untouched(db: &Path) -> rusqlite::Result<Connection> {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    match db.to_str() {
        Some(path) if !Path::new(&wal).exists() => Connection::open_with_flags(
            format!(
                "file:{}?immutable=1",
                percent_encoding::utf8_percent_encode(path, PATH)
            ),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        ),
        _ => Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY),
    }
}

/// Unpacks and checks the dump into `staging`, migrates it and makes it
/// durable. Returns the manifest and the schema version after migration.
fn build(
    staging: &Path,
    file: &Path,
    archive: File,
    progress: &dyn Progress,
) -> Result<(DumpManifest, i64)> {
    // Blobs arrive as files; small ones of an older dump move into the
    // index when the staged store is first opened (`blobs::move_small_files`).
    let blobs = BlobFiles::open(staging.join("blobs"))?;
    let (manifest, present) = unpack(file, archive, staging, &blobs, progress)?;
    progress.phase("checking", None);
    let db = staging.join("store.db");
    check_index(file, &db, &manifest, &present)?;
    // The index last: while the blobs were written, write-back has flushed most
    // of it (and on Linux a large batch's `syncfs` covers it too).
    blobs.sync()?;
    File::open(&db)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("syncing {}", db.display()), e))?;
    drop(blobs);
    // Opening migrates an older index (one transaction, synchronous=FULL) and
    // lays out the rest of a data dir.
    let schema_version = {
        let store = Store::open(staging).map_err(|e| match e {
            Error::Sqlite(e) => Error::Invalid(format!(
                "{}: the dump's index cannot be migrated ({e}); the dump is corrupt",
                file.display()
            )),
            e => e,
        })?;
        let conn = store.conn();
        let conn = conn.sqlite().expect("a restore stages a SQLite index");
        conn.pragma_query_value(None, "user_version", |r| r.get(0))?
    };
    sync_dir(staging)?;
    Ok((manifest, schema_version))
}

/// Which entry the archive is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Manifest,
    Index,
    Blobs,
}

/// Streams the archive into `staging`: the manifest, the index, the blobs.
/// Returns the manifest and the blobs restored.
fn unpack(
    file: &Path,
    archive: File,
    staging: &Path,
    blobs: &BlobFiles,
    progress: &dyn Progress,
) -> Result<(DumpManifest, HashSet<String>)> {
    let corrupt = |e: io::Error| {
        Error::Invalid(format!(
            "{}: the dump is corrupt or truncated: {e}",
            file.display()
        ))
    };
    let mut reader = BufReader::with_capacity(1 << 20, archive);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::Invalid(format!(
            "{} is not a blockstore dump: it is not a gzip file",
            file.display()
        )));
    }
    let mut tar = tar::Archive::new(flate2::bufread::MultiGzDecoder::new(reader));
    let mut manifest: Option<DumpManifest> = None;
    let mut expect = Expect::Manifest;
    let mut present: HashSet<String> = HashSet::new();
    let mut bytes = 0u64;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    // Small blobs go to worker threads that hash and store them while this
    // thread decompresses. A worker's first error is kept here (and wins over
    // whatever the reading thread returns); after one, workers only drain.
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let (sender, jobs) = mpsc::sync_channel::<Vec<(String, Vec<u8>)>>(workers * 2);
    let jobs = Mutex::new(jobs);
    let result = std::thread::scope(|scope| -> Result<()> {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(batch) = job else { return };
                for (hash, bytes) in batch {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Err(e) = store_blob(blobs, file, &hash, &bytes) {
                        stop.store(true, Ordering::Relaxed);
                        failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                    }
                }
            });
        }
        let sender = sender;
        // Blobs travel in batches: one channel hand-off per blob costs more
        // than storing a small one.
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for (n, entry) in tar.entries().map_err(corrupt)?.enumerate() {
            if n % 256 == 0 {
                if progress.interrupted() {
                    return Err(Error::Interrupted);
                }
                if stop.load(Ordering::Relaxed) {
                    // The worker's error is returned below.
                    return Err(Error::Interrupted);
                }
            }
            let mut entry = entry.map_err(corrupt)?;
            let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
                Error::Invalid(format!(
                    "{}: an entry's name is not UTF-8; not a blockstore dump",
                    file.display()
                ))
            })?;
            let unexpected = |why: &str| {
                Error::Invalid(format!(
                    "{}: unexpected entry {name:?} ({why}); not a blockstore dump, or a damaged one",
                    file.display()
                ))
            };
            if name.starts_with('/') || name.split('/').any(|part| part == "..") {
                return Err(unexpected("an unsafe path"));
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                if is_dump_dir(&name) {
                    continue;
                }
                return Err(unexpected("a directory a dump does not have"));
            }
            if kind != tar::EntryType::Regular {
                return Err(unexpected(
                    "not a regular file: a dump holds no links or devices",
                ));
            }
            let size = entry.size();
            let Some(rel) = name.strip_prefix(TOP).and_then(|r| r.strip_prefix('/')) else {
                return Err(unexpected("outside blockstore-dump/"));
            };
            match (expect, rel) {
                (Expect::Manifest, "manifest.json") => {
                    let read = read_manifest(file, &mut entry, size)?;
                    progress.phase("restoring", Some(read.blobs));
                    manifest = Some(read);
                    expect = Expect::Index;
                }
                (Expect::Manifest, _) => {
                    return Err(Error::Invalid(format!(
                        "{}: the first entry is {name:?}, not {TOP}/manifest.json; \
                         not a blockstore dump (or one repacked out of order)",
                        file.display()
                    )))
                }
                (Expect::Index, "store.db") => {
                    let m = manifest.as_ref().expect("the manifest came first");
                    if size != m.index_bytes {
                        return Err(unexpected("its size is not the manifest's index_bytes"));
                    }
                    let path = staging.join("store.db");
                    let hash = copy_hashed(&mut entry, &path, corrupt)?;
                    if hash != m.index_hash {
                        return Err(Error::Invalid(format!(
                            "{}: store.db hashes to {hash}, not the manifest's {}; the dump is corrupt",
                            file.display(),
                            m.index_hash
                        )));
                    }
                    expect = Expect::Blobs;
                }
                (Expect::Blobs, rel) if rel.starts_with("blobs/") => {
                    let m = manifest.as_ref().expect("the manifest came first");
                    let hash = match rel["blobs/".len()..].split_once('/') {
                        Some((shard, rest)) if shard.len() == 2 => format!("{shard}{rest}"),
                        _ => String::new(),
                    };
                    if !is_hash(&hash) {
                        return Err(unexpected("not a blob name"));
                    }
                    if !present.insert(hash.clone()) {
                        return Err(unexpected("a duplicate"));
                    }
                    bytes += size;
                    if present.len() as u64 > m.blobs || bytes > m.bytes {
                        return Err(unexpected("more blobs or bytes than the manifest declares"));
                    }
                    if size <= SMALL_BLOB {
                        let mut buf = Vec::with_capacity(size as usize);
                        entry.read_to_end(&mut buf).map_err(corrupt)?;
                        if buf.len() as u64 != size {
                            return Err(corrupt(io::ErrorKind::UnexpectedEof.into()));
                        }
                        batch_bytes += buf.len();
                        batch.push((hash, buf));
                        if batch.len() >= BATCH_BLOBS || batch_bytes >= BATCH_BYTES {
                            batch_bytes = 0;
                            sender
                                .send(std::mem::take(&mut batch))
                                .expect("the workers live as long as the sender");
                        }
                    } else {
                        let mut watched = ReadErrors {
                            inner: &mut entry,
                            error: None,
                        };
                        let stored = blobs.put_reader(&mut watched, false);
                        if let Some(e) = watched.error {
                            return Err(corrupt(e));
                        }
                        check_blob(file, &hash, &stored?.hash)?;
                    }
                    progress.advance(1);
                }
                (_, "manifest.json" | "store.db") => return Err(unexpected("a duplicate")),
                (Expect::Index, _) => {
                    return Err(unexpected("store.db must follow the manifest"));
                }
                (Expect::Blobs, _) => return Err(unexpected("not a dump's file")),
            }
        }
        if !batch.is_empty() {
            sender
                .send(batch)
                .expect("the workers live as long as the sender");
        }
        Ok(())
    });
    // The scope joined every worker: a failure of theirs is final now.
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    result?;
    let Some(manifest) = manifest else {
        return Err(Error::Invalid(format!(
            "{}: no {TOP}/manifest.json; not a blockstore dump",
            file.display()
        )));
    };
    if expect != Expect::Blobs || present.len() as u64 != manifest.blobs || bytes != manifest.bytes
    {
        return Err(Error::Invalid(format!(
            "{}: the dump is truncated or incomplete: its manifest lists the index, {} \
             and {}; the archive holds {}{} and {}",
            file.display(),
            crate::store::plural(manifest.blobs, "blob"),
            crate::store::plural(manifest.bytes, "byte"),
            if expect == Expect::Blobs {
                ""
            } else {
                "no index, "
            },
            crate::store::plural(present.len() as u64, "blob"),
            crate::store::plural(bytes, "byte")
        )));
    }
    // After the tar's end: only its zero padding, then the gzip trailer, whose
    // checksum the decoder verifies at the end of the stream.
    let mut rest = tar.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = rest.read(&mut buf).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(Error::Invalid(format!(
                "{}: data after the end of the archive; not a blockstore dump, or a damaged one",
                file.display()
            )));
        }
    }
    Ok((manifest, present))
}

/// Whether `name` is a directory a (repacked) dump may hold.
fn is_dump_dir(name: &str) -> bool {
    let name = name.trim_end_matches('/');
    let Some(rel) = name.strip_prefix(TOP) else {
        return false;
    };
    match rel.strip_prefix('/') {
        None => rel.is_empty(),
        Some("blobs") => true,
        Some(rel) => rel.strip_prefix("blobs/").is_some_and(|shard| {
            shard.len() == 2
                && shard
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }),
    }
}

fn read_manifest(file: &Path, entry: &mut impl Read, size: u64) -> Result<DumpManifest> {
    let invalid = |why: String| {
        Error::Invalid(format!(
            "{}: {TOP}/manifest.json {why}; not a blockstore dump, or a damaged one",
            file.display()
        ))
    };
    if size > MANIFEST_LIMIT {
        return Err(invalid(format!("is {size} bytes, too large to be one")));
    }
    let mut text = Vec::with_capacity(size as usize);
    entry
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut text)
        .map_err(|e| invalid(format!("cannot be read ({e})")))?;
    let manifest: DumpManifest =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("is not valid ({e})")))?;
    if manifest.format != DUMP_FORMAT {
        return Err(invalid(format!(
            "names the format {:?}, not {DUMP_FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.format_version != DUMP_FORMAT_VERSION {
        return Err(Error::Invalid(format!(
            "{} is a blockstore dump of format version {}, which this blockstore ({}) \
             does not read (it reads version {DUMP_FORMAT_VERSION}); use the blockstore that made it ({})",
            file.display(),
            manifest.format_version,
            crate::VERSION,
            manifest.blockstore_version
        )));
    }
    if manifest.schema_version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            dir: file.to_path_buf(),
            found: manifest.schema_version,
            known: SCHEMA_VERSION,
        });
    }
    if manifest.schema_version < 1 || !is_hash(&manifest.index_hash) {
        return Err(invalid(
            "holds an impossible schema version or index hash".into(),
        ));
    }
    Ok(manifest)
}

/// Stores a blob read whole and checks it is the one its name says.
fn store_blob(blobs: &BlobFiles, file: &Path, hash: &str, bytes: &[u8]) -> Result<()> {
    let stored = blobs.put_deferred(bytes)?;
    check_blob(file, hash, &stored.hash)
}

fn check_blob(file: &Path, name: &str, actual: &str) -> Result<()> {
    if name == actual {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{}: blob {name} holds bytes that hash to {actual}; the dump is corrupt",
        file.display()
    )))
}

/// Checks the restored index against the manifest and the blobs: its schema
/// version, that it is a sound SQLite file, that every blob it references is
/// there, and that its slugs and paths are ones this binary would have written
/// (a hand-made dump must not smuggle a `../` path past import's checks).
fn check_index(
    file: &Path,
    db: &Path,
    manifest: &DumpManifest,
    present: &HashSet<String>,
) -> Result<()> {
    let invalid = |why: String| {
        Error::Invalid(format!(
            "{}: the dump's index {why}; the dump is corrupt",
            file.display()
        ))
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| invalid(format!("cannot be opened ({e})")))?;
    let check = || -> rusqlite::Result<Option<String>> {
        let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if schema != manifest.schema_version {
            return Ok(Some(format!(
                "has schema version {schema}, the manifest says {}",
                manifest.schema_version
            )));
        }
        let quick: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if quick != "ok" {
            return Ok(Some(format!("fails SQLite's quick_check ({quick})")));
        }
        // The store's schema has tables and indexes only: a trigger or view
        // in a dump is code someone else wrote, run on every later write.
        let foreign: Option<String> = conn
            .query_row(
                "SELECT type || ' ' || name FROM sqlite_master
                 WHERE type NOT IN ('table', 'index') LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(object) = foreign {
            return Ok(Some(format!("holds a {object}, which a store never has")));
        }
        Ok(None)
    };
    match check() {
        Ok(None) => {}
        Ok(Some(why)) => return Err(invalid(why)),
        Err(e) => return Err(invalid(format!("cannot be read ({e})"))),
    }
    let conn = sql::Connection::from(conn);
    let hashes = referenced_hashes(&conn).map_err(|e| invalid(e.to_string()))?;
    let inline = if manifest.schema_version >= INLINE_SCHEMA {
        verify_inline(&conn, &hashes.iter().cloned().collect()).map_err(|e| match e {
            Error::CorruptBlob { hash, actual } => {
                invalid(format!("holds blob {hash} whose bytes hash to {actual}"))
            }
            e => invalid(e.to_string()),
        })?
    } else {
        HashSet::new()
    };
    if inline.len() as u64 != manifest.inline_blobs {
        return Err(invalid(format!(
            "holds {}, the manifest says {}",
            crate::store::plural(inline.len() as u64, "inline blob"),
            manifest.inline_blobs
        )));
    }
    if let Some(missing) = hashes
        .iter()
        .find(|h| !present.contains(*h) && !inline.contains(*h))
    {
        return Err(Error::Invalid(format!(
            "{}: the dump is incomplete: blob {missing}, which its index references, is not in it",
            file.display()
        )));
    }
    let slugs = conn
        .prepare("SELECT slug FROM collection")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<sql::Result<Vec<_>>>()
        })
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(bad) = slugs
        .iter()
        .find(|s| !crate::store::collections::valid_slug(s))
    {
        return Err(invalid(format!("holds an invalid slug {bad:?}")));
    }
    let paths = conn
        .prepare(
            "SELECT path FROM version UNION SELECT path FROM draft_revision
             UNION SELECT to_path FROM collection_version_change
             UNION SELECT from_path FROM collection_version_change WHERE from_path IS NOT NULL",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<sql::Result<Vec<_>>>()
        })
        .map_err(|e| invalid(e.to_string()))?;
    for path in &paths {
        // A name too long for a filesystem is a store's own (written before
        // names were limited; fsck reports it), not a traversal.
        if let Err(e) = RelPath::existing(path) {
            return Err(invalid(format!("holds an unsafe path: {e}")));
        }
    }
    Ok(())
}

/// The first schema version with inline blobs (`blob` table).
const INLINE_SCHEMA: i64 = 5;

/// Moves the built store in place of `target`. Returns where the replaced
/// store was left, if it could not be removed.
fn install(staging: &Path, target: &Path, options: &RestoreOptions) -> Result<Option<PathBuf>> {
    let (parent, _) = parent_and_name(target)?;
    // Hold the target's writers' lock exclusively while swapping: a write or
    // gc running there (in any process) finishes first, or we stop here.
    let lock = match File::options().write(true).open(target.join("lock")) {
        Ok(lock) => {
            match lock.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Conflict(format!(
                        "the store in {} is busy (a write or gc is running); \
                         stop what uses it and retry",
                        target.display()
                    )))
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", target.display()), e))
                }
            }
            Some(lock)
        }
        Err(_) => None,
    };
    // Someone may have written into the target since the first look.
    inspect(target)?.check(target, options)?;
    let old = if fs::symlink_metadata(target).is_ok() {
        exchange(staging, target)?;
        Some(staging)
    } else {
        rename(staging, target).map_err(|e| {
            Error::io(
                format!("moving the restored store into {}", target.display()),
                e,
            )
        })?;
        None
    };
    sync_dir(&parent)?;
    drop(lock);
    let Some(old) = old else {
        return Ok(None);
    };
    // The restored store is in place; what follows is tidying. If a kept
    // folder cannot move, the old store stays (with it) rather than lose it.
    let mut kept_all = true;
    for kept in KEPT_ENTRIES {
        let from = old.join(kept);
        if fs::symlink_metadata(&from).is_ok() && rename(&from, &target.join(kept)).is_err() {
            kept_all = false;
        }
    }
    if !kept_all {
        // It still holds something of the user's (its logs): out of the way
        // of the leftovers' name, so no cleanup takes it for one.
        let (_, name) = parent_and_name(target)?;
        let kept = parent.join(format!(
            ".{name}.replaced-{}",
            uuid::Uuid::new_v4().simple()
        ));
        return Ok(Some(if rename(old, &kept).is_ok() {
            kept
        } else {
            old.to_path_buf()
        }));
    }
    if fs::remove_dir_all(old).is_ok() {
        return Ok(None);
    }
    // Half removed: a leftover the next restore or gc removes.
    Ok(Some(old.to_path_buf()))
}

/// Swaps two directories: atomically on Linux (`RENAME_EXCHANGE`), else (or
/// where the filesystem cannot) with two renames; a crash between them leaves
/// both stores whole, the new one under its staging name.
fn exchange(staging: &Path, target: &Path) -> Result<()> {
    let failed = |e: io::Error| {
        let hint = if matches!(e.raw_os_error(), Some(16 | 18)) {
            " (is the data dir a mount point? restore into a directory inside it)"
        } else {
            ""
        };
        Error::io(
            format!(
                "swapping the restored store into {}{hint}",
                target.display()
            ),
            e,
        )
    };
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, staging, CWD, target, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(failed(e.into())),
        }
    }
    let mut aside = staging.as_os_str().to_owned();
    aside.push(".old");
    let aside = PathBuf::from(aside);
    rename(target, &aside).map_err(failed)?;
    if let Err(e) = rename(staging, target) {
        let _ = rename(&aside, target);
        return Err(failed(e));
    }
    rename(&aside, staging).map_err(failed)
}

/// A tar header for a regular file, reproducible: mtime 0, owner 0:0, 0644.
fn copy_hashed(
    reader: &mut impl Read,
    path: &Path,
    on_read_error: impl Fn(io::Error) -> Error,
) -> Result<String> {
    let mut out =
        File::create(path).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let written = |e: io::Error| Error::io(format!("writing {}", path.display()), e);
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(on_read_error(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(written)?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A reader that keeps its first error, to tell a damaged archive from a
/// failing disk when both surface as one `Io` error of the blob store.
struct ReadErrors<'a, R> {
    inner: &'a mut R,
    error: Option<io::Error>,
}

impl<R: Read> Read for ReadErrors<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}
