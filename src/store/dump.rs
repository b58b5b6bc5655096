//! Whole-store dump and restore: one portable archive of a data dir's store —
//! every collection, version, draft, draft revision, link row and publish-log
//! entry, and every blob they reference — so a developer can hand a
//! reproducible data set to a colleague or a CI job.
//!
//! Why this shape. The index is dumped as a SQLite file, not as rows in a
//! format of our own: SQLite's file format is portable across machines, a
//! `VACUUM INTO` copy is a consistent snapshot taken without stopping writers,
//! and restoring it cannot lose a column a hand-written format forgot. The
//! schema version travels in the file (`PRAGMA user_version`) and in the
//! manifest, so an older dump is migrated on restore exactly as an older data
//! dir is on open, and a newer one is refused before anything is written.
//!
//! The archive is a gzip'd tar with one top folder:
//!
//! ```text
//! blockstore-dump/manifest.json   first: format, versions, counts, the index's hash
//! blockstore-dump/store.db        the index snapshot
//! blockstore-dump/blobs/ab/cdef…  every referenced blob, sorted, named by its hash
//! ```
//!
//! Entries have reproducible headers (mtime 0, owner 0:0, mode 0644). The gzip
//! stream is a series of gzip members of 1 MiB of tar each, compressed on
//! every core (as `bgzip` writes them): `tar -xzf`, `gzip -d` and any
//! multi-member gzip reader see one stream. The level is 1, the fastest: a
//! dump is for handing over, not archiving, and on the 100,000-unit benchmark
//! store (random-byte assets, a large index) level 6 made an archive only 13%
//! smaller for twice the CPU.
//!
//! A dump holds the writers' lock shared for its whole run (so `gc`, which
//! takes it exclusively, cannot sweep a blob the snapshot references while
//! writers go on), streams blobs one at a time, re-hashes each as it goes, and
//! writes under a temporary name renamed into place at the end.
//!
//! No debris. A killed dump leaves its archive so far and its index snapshot
//! beside the output (`.NAME.partial-PID-TAG`, `.NAME.index-PID-TAG`); a
//! killed restore leaves its staging store beside the data dir
//! (`.NAME.restore-PID-UUID`). So a dump first registers itself in the data
//! dir (`DATA/partial-dumps/PID-UUID.json`, naming both files, `flock`ed while
//! it runs, removed when it ends), and a restore `flock`s its staging folder.
//! A leftover whose lock nobody holds and whose process is gone is a dead
//! run's: the next dump of the data dir (and the next one to the same output
//! name, for unregistered ones) and the next restore into it remove them,
//! `fsck` reports them and `gc` removes them; a running one's are never
//! touched. The rules are in `debris.rs`.
//!
//! A restore reads the archive once, streaming: the manifest must come first
//! and be one this binary understands, the index must match the manifest's
//! hash, every blob must hash to its name, only the names above are accepted,
//! and every blob the index references must be there. The new store is built
//! in a sibling directory of the data dir, migrated, made durable, and only
//! then swapped in (one `renameat2(RENAME_EXCHANGE)` on Linux), so any failure
//! leaves the target as it was, and a crash leaves either the old store or the
//! new one whole. A non-empty target is replaced only when asked (`force`); a
//! directory holding anything that is not a store's is never replaced. The
//! target's `logs/` folder is carried over; logs are never dumped.

use super::blobs::files::BlobFiles;
use super::blobs::is_hash;
use super::debris;
use super::error::{Error, Result};
use super::gc::referenced_hashes;
use super::path::RelPath;
use super::{Progress, Store, SCHEMA_VERSION};
use blake2::digest::consts::U20;
use blake2::{Blake2b, Digest};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

type Hasher = Blake2b<U20>;

/// The archive's format name, in its manifest.
pub const DUMP_FORMAT: &str = "blockstore-dump";
/// The archive layout version this binary writes and reads.
pub const DUMP_FORMAT_VERSION: u32 = 1;

/// The one top-level folder of a dump.
const TOP: &str = "blockstore-dump";
/// The manifest is small; anything larger is not one.
const MANIFEST_LIMIT: u64 = 1 << 20;
/// Tar bytes per gzip member (and per compression job).
const GZ_CHUNK: usize = 1 << 20;
/// Restored blobs up to this size are read whole and stored by a worker thread
/// while the next entry is decompressed; larger ones stream on the reading one.
const SMALL_BLOB: u64 = 1 << 20;
/// Small blobs handed to a worker at once: at most this many, or this many bytes.
const BATCH_BLOBS: usize = 256;
const BATCH_BYTES: usize = 4 << 20;
/// What a data dir may hold and still be replaced by a restore.
const STORE_ENTRIES: &[&str] = &[
    "store.db",
    "store.db-wal",
    "store.db-shm",
    "store.db-journal",
    "blobs",
    "lock",
    "lock.gate",
    "logs",
    super::debris::REGISTRY,
];
/// Carried over from the replaced data dir into the restored one (a killed
/// dump's registration stays with the data dir, so its leftovers are still
/// found).
const KEPT_ENTRIES: &[&str] = &["logs", super::debris::REGISTRY];

/// A dump's `manifest.json`: what the archive holds and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpManifest {
    /// Always [`DUMP_FORMAT`].
    pub format: String,
    /// The archive layout, [`DUMP_FORMAT_VERSION`].
    pub format_version: u32,
    /// The index's schema version ([`SCHEMA_VERSION`] of the binary that dumped).
    pub schema_version: i64,
    /// The blockstore version that wrote the dump.
    pub blockstore_version: String,
    /// When the snapshot was taken (RFC 3339 UTC).
    pub created_at: String,
    /// Collections in the dump, and their slugs.
    pub collections: u64,
    pub slugs: Vec<String>,
    /// Blob files in the dump (`blobs/…` entries) and their total size.
    pub blobs: u64,
    pub bytes: u64,
    /// Blobs inside the index snapshot (small ones live in the index; absent
    /// from dumps of schema 4 and older).
    #[serde(default)]
    pub inline_blobs: u64,
    /// Size and BLAKE2b-160 of `store.db`.
    pub index_bytes: u64,
    pub index_hash: String,
}

/// What a dump wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DumpReport {
    pub file: PathBuf,
    pub collections: u64,
    /// Blob files written beside the index.
    pub blobs: u64,
    /// Their bytes (uncompressed).
    pub bytes: u64,
    /// Blobs carried inside the index snapshot.
    pub inline_blobs: u64,
    /// Size of the index snapshot (uncompressed).
    pub index_bytes: u64,
    /// Size of the archive written.
    pub archive_bytes: u64,
    pub schema_version: i64,
}

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Replace a data dir that already holds collections or blobs.
    pub force: bool,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub file: PathBuf,
    /// The dump's manifest (its schema version is the one before migration).
    pub manifest: DumpManifest,
    /// The schema version of the restored store (after migration).
    pub schema_version: i64,
    /// Whether a non-empty store was replaced (`force`).
    pub replaced: bool,
    /// Where the replaced store was left because it could not be removed, if so.
    pub leftover: Option<PathBuf>,
}

impl Store {
    /// Writes the whole store to a new archive at `file` (which must not exist).
    pub fn dump(&self, file: &Path, progress: &dyn Progress) -> Result<DumpReport> {
        if fs::symlink_metadata(file).is_ok() {
            return Err(Error::Invalid(format!(
                "{} already exists; dump into a new path (nothing is overwritten)",
                file.display()
            )));
        }
        let (parent, name) = parent_and_name(file)?;
        if !parent.is_dir() {
            return Err(Error::Invalid(format!(
                "{} is not a directory; create it first",
                parent.display()
            )));
        }
        // Absolute, so the registration names them wherever gc runs from.
        let parent = fs::canonicalize(&parent)
            .map_err(|e| Error::io(format!("resolving {}", parent.display()), e))?;
        // Killed dumps' leftovers go first (best effort: gc reports what stays).
        if let Ok(dead) = debris::dumps(&self.dir, Some((&parent, &name))) {
            let _ = dead.remove();
        }
        // A tag no other run shares, so a dead run's registration can never
        // name a live run's file.
        let tag = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let partial = parent.join(format!(".{name}.partial-{tag}"));
        let index = parent.join(format!(".{name}.index-{tag}"));
        // Dropped last: unregisters once both files are gone.
        let _registration = debris::DumpRegistration::create(&self.dir, &partial, &index)?;
        let result = self
            .lock
            .shared(|| self.dump_locked(&partial, &index, progress));
        let _ = fs::remove_file(&index);
        let mut report = match result {
            Ok(report) => report,
            Err(e) => {
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
        };
        if let Err(e) = rename_no_replace(&partial, file) {
            let _ = fs::remove_file(&partial);
            return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                Error::Invalid(format!(
                    "{} appeared while dumping; nothing was overwritten",
                    file.display()
                ))
            } else {
                Error::io(format!("moving the dump into {}", file.display()), e)
            });
        }
        sync_dir(&parent)?;
        report.file = file.to_path_buf();
        Ok(report)
    }

    fn dump_locked(
        &self,
        partial: &Path,
        index: &Path,
        progress: &dyn Progress,
    ) -> Result<DumpReport> {
        progress.phase("snapshot", None);
        // A connection of its own: the copy is a read transaction, so it is a
        // consistent snapshot while this store's connection (and other
        // processes) go on writing.
        {
            let conn = Connection::open_with_flags(
                self.dir.join("store.db"),
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            // The copy is a temp file read once right after: no fsyncs for it.
            conn.pragma_update(None, "synchronous", "OFF")?;
            let target = index
                .to_str()
                .ok_or_else(|| Error::Invalid(format!("{} is not UTF-8", index.display())))?;
            conn.execute("VACUUM INTO ?1", [target])?;
        }
        let (schema_version, slugs, hashes, inline_blobs) = {
            let conn = Connection::open_with_flags(index, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let slugs = conn
                .prepare("SELECT slug FROM collection ORDER BY slug")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // Inline blobs travel inside the index snapshot: verified here,
            // as the files are below, and not carried again.
            let inline = verify_inline(&conn)?;
            let mut hashes = referenced_hashes(&conn)?;
            hashes.retain(|hash| !inline.contains(hash));
            (schema, slugs, hashes, inline.len() as u64)
        };
        let (index_bytes, index_hash) = hash_file(index)?;
        let mut blobs = Vec::with_capacity(hashes.len());
        let mut bytes = 0;
        for hash in hashes {
            let size = self.blobs.size_of(&hash)?;
            bytes += size;
            blobs.push((hash, size));
        }
        let manifest = DumpManifest {
            format: DUMP_FORMAT.into(),
            format_version: DUMP_FORMAT_VERSION,
            schema_version,
            blockstore_version: crate::VERSION.into(),
            created_at: super::now(),
            collections: slugs.len() as u64,
            slugs,
            blobs: blobs.len() as u64,
            inline_blobs,
            bytes,
            index_bytes,
            index_hash,
        };

        progress.phase("dumping", Some(blobs.len() as u64));
        let out = File::create(partial)
            .map_err(|e| Error::io(format!("writing {}", partial.display()), e))?;
        debris::hold(&out);
        let io_err = |e: io::Error| Error::io(format!("writing {}", partial.display()), e);
        let mut tar = tar::Builder::new(ParallelGz::new(out));
        let json = serde_json::to_vec_pretty(&manifest)?;
        tar.append_data(
            &mut file_header(json.len() as u64),
            format!("{TOP}/manifest.json"),
            json.as_slice(),
        )
        .map_err(io_err)?;
        let index_file =
            File::open(index).map_err(|e| Error::io(format!("reading {}", index.display()), e))?;
        tar.append_data(
            &mut file_header(index_bytes),
            format!("{TOP}/store.db"),
            index_file,
        )
        .map_err(io_err)?;
        for (n, (hash, size)) in blobs.iter().enumerate() {
            if n % 256 == 0 && progress.interrupted() {
                return Err(Error::Interrupted);
            }
            let mut reader = Verified {
                inner: self.blobs.open_blob(hash)?,
                hasher: Hasher::new(),
                left: *size,
            };
            tar.append_data(
                &mut file_header(*size),
                format!("{TOP}/blobs/{}/{}", &hash[..2], &hash[2..]),
                &mut reader,
            )
            .map_err(|e| Error::io(format!("dumping blob {hash}"), e))?;
            let actual = hex::encode(reader.hasher.finalize());
            if actual != *hash {
                return Err(Error::CorruptBlob {
                    hash: hash.clone(),
                    actual,
                });
            }
            progress.advance(1);
        }
        let file = tar
            .into_inner()
            .and_then(ParallelGz::finish)
            .map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        let archive_bytes = file.metadata().map_err(io_err)?.len();
        Ok(DumpReport {
            file: partial.to_path_buf(),
            collections: manifest.collections,
            blobs: manifest.blobs,
            bytes: manifest.bytes,
            inline_blobs: manifest.inline_blobs,
            index_bytes,
            archive_bytes,
            schema_version,
        })
    }
}

/// Restores the dump `file` into `data_dir`, which must be missing, empty or
/// hold an empty store — or any store, with `force`. The data dir need not be
/// a valid store, so this is not a method of [`Store`]; no `Store` may be
/// open on `data_dir` in this process while it runs (the store is swapped
/// underneath it), and a server on it in another process should be stopped.
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
    let before = inspect(&target)?;
    before.check(&target, options)?;

    let (parent, name) = parent_and_name(&target)?;
    let staging = parent.join(format!(
        ".{name}.restore-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    fs::create_dir(&staging)
        .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
    // Held until the restore ends: the folder is a running restore's.
    let _held = File::open(&staging).inspect(debris::hold);
    let built = build(&staging, file, archive, progress);
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
    })
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
            super::plural(manifest.blobs, "blob"),
            super::plural(manifest.bytes, "byte"),
            if expect == Expect::Blobs {
                ""
            } else {
                "no index, "
            },
            super::plural(present.len() as u64, "blob"),
            super::plural(bytes, "byte")
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
    let inline = if manifest.schema_version >= INLINE_SCHEMA {
        verify_inline(&conn).map_err(|e| match e {
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
            super::plural(inline.len() as u64, "inline blob"),
            manifest.inline_blobs
        )));
    }
    let hashes = referenced_hashes(&conn).map_err(|e| invalid(e.to_string()))?;
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
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(bad) = slugs.iter().find(|s| !super::collections::valid_slug(s)) {
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
                .collect::<rusqlite::Result<Vec<_>>>()
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

/// Re-hashes every inline blob of an index, streaming the rows; returns
/// their hashes. A row whose bytes do not hash to its name is
/// [`Error::CorruptBlob`].
fn verify_inline(conn: &Connection) -> Result<HashSet<String>> {
    let mut hashes = HashSet::new();
    let mut stmt = conn.prepare("SELECT hash, bytes FROM blob")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let hash: String = row.get(0)?;
        let actual = super::hash_bytes(row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?);
        if actual != hash {
            return Err(Error::CorruptBlob { hash, actual });
        }
        hashes.insert(hash);
    }
    Ok(hashes)
}

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

#[allow(clippy::disallowed_methods)]
fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)
}

/// Renames `from` to `to`, failing with `AlreadyExists` rather than replacing.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::ErrorKind::AlreadyExists.into());
    }
    rename(from, to)
}

fn parent_and_name(path: &Path) -> Result<(PathBuf, String)> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} names no file", path.display())))?
        .to_string_lossy()
        .into_owned();
    Ok((parent, name))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", dir.display()), e))
}

/// A tar header for a regular file, reproducible: mtime 0, owner 0:0, 0644.
fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Size and hash of a file, streamed.
fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Streams `reader` into a new file at `path` (not yet fsynced); returns its hash.
/// A read error becomes `on_read_error`'s.
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

/// A blob being dumped: exactly `left` bytes, hashed as they pass.
struct Verified {
    inner: super::BlobReader,
    hasher: Hasher,
    left: u64,
}

impl Read for Verified {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob is shorter than when the dump started",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A gzip writer that compresses [`GZ_CHUNK`]-byte chunks on worker threads,
/// each as a complete gzip member, and writes them in order: a multi-member
/// gzip stream, as `pigz -i` and `bgzip` write, which every gzip reader
/// (`gzip -d`, `tar -z`, flate2's `MultiGzDecoder`) reads as one.
struct ParallelGz {
    out: File,
    buf: Vec<u8>,
    /// Compressed members in the order their chunks were written.
    queue: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    jobs: Option<mpsc::Sender<GzJob>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// Chunks in flight before the writer waits for the oldest.
    depth: usize,
}

type GzJob = (Vec<u8>, mpsc::SyncSender<io::Result<Vec<u8>>>);

impl ParallelGz {
    fn new(out: File) -> ParallelGz {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let (jobs, receiver) = mpsc::channel::<GzJob>();
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..threads)
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                std::thread::spawn(move || loop {
                    let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((chunk, reply)) = job else { return };
                    let _ = reply.send(gzip_member(&chunk));
                })
            })
            .collect();
        ParallelGz {
            out,
            buf: Vec::with_capacity(GZ_CHUNK),
            queue: VecDeque::new(),
            jobs: Some(jobs),
            workers,
            depth: threads * 2,
        }
    }

    fn submit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(GZ_CHUNK));
        let (reply, member) = mpsc::sync_channel(1);
        self.jobs
            .as_ref()
            .expect("jobs are open until finish")
            .send((chunk, reply))
            .map_err(|_| io::Error::other("a compression thread stopped"))?;
        self.queue.push_back(member);
        while self.queue.len() > self.depth {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(member) = self.queue.pop_front() {
            let bytes = member
                .recv()
                .map_err(|_| io::Error::other("a compression thread stopped"))??;
            self.out.write_all(&bytes)?;
        }
        Ok(())
    }

    /// Writes what is buffered and every member still in flight.
    fn finish(mut self) -> io::Result<File> {
        self.submit()?;
        while !self.queue.is_empty() {
            self.write_oldest()?;
        }
        self.stop();
        self.out.try_clone()
    }

    fn stop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn gzip_member(chunk: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new().mtime(0).write(
        Vec::with_capacity(chunk.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    gz.write_all(chunk)?;
    gz.finish()
}

impl Write for ParallelGz {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(GZ_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == GZ_CHUNK {
            self.submit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ParallelGz {
    fn drop(&mut self) {
        self.queue.clear();
        self.stop();
    }
}
