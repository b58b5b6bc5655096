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

use super::db::sql;
use super::debris;
use super::error::{Error, Result};
use super::gc::referenced_hashes;
use super::{Progress, Store, SCHEMA_VERSION};
use blake2::digest::consts::U20;
use blake2::{Blake2b, Digest};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

mod gz;
mod restoring;

use gz::ParallelGz;
pub use restoring::restore;

type Hasher = Blake2b<U20>;

/// The archive's format name, in its manifest.
pub const DUMP_FORMAT: &str = "blockstore-dump";
/// The archive layout version this binary writes and reads.
pub const DUMP_FORMAT_VERSION: u32 = 1;

/// The one top-level folder of a dump.
const TOP: &str = "blockstore-dump";
/// The manifest is small; anything larger is not one.
const MANIFEST_LIMIT: u64 = 1 << 20;
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
    "cache",
    "contents",
    "index",
    super::migrate::PENDING_FILE,
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
    /// Put the restored store's large contents in this bucket
    /// (`s3://…`, as [`super::OpenOptions::contents`]); by default, where the
    /// data dir's store keeps them now (its own `blobs/` for a new one).
    pub contents: Option<String>,
    /// The object store's credentials (else from the environment).
    pub credentials: Option<super::ObjectCredentials>,
    /// Restore into this shared index (`postgres://…`, an empty database)
    /// instead of the data dir's own SQLite file; needs `contents`.
    pub index: Option<String>,
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
    /// The shared index the store went into (never with a password), if so.
    pub index: Option<String>,
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
        if let super::db::Location::Postgres(_) = self.readers.location() {
            let reader = self.reader()?;
            let snapshot = reader.unchecked_transaction()?;
            super::db::copy::to_sqlite(&snapshot, index)?;
            drop(snapshot);
        } else {
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
            let conn = sql::Connection::from(conn);
            let slugs = conn
                .prepare("SELECT slug FROM collection ORDER BY slug")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<sql::Result<Vec<_>>>()?;
            // Inline blobs travel inside the index snapshot: verified here,
            // as the files are below, and not carried again.
            let mut hashes = referenced_hashes(&conn)?;
            let inline = verify_inline(&conn, &hashes.iter().cloned().collect())?;
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

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", dir.display()), e))
}

/// Re-hashes every inline blob of an index that `referenced` names,
/// streaming the rows; returns the hashes of all rows. A referenced row
/// whose bytes do not hash to its name is [`Error::CorruptBlob`]; an
/// unreferenced one is garbage, as fsck sees it, which gc removes.
fn verify_inline(conn: &sql::Connection, referenced: &HashSet<String>) -> Result<HashSet<String>> {
    let mut hashes = HashSet::new();
    let mut stmt = conn.prepare("SELECT hash, bytes FROM blob")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let hash: String = row.get(0)?;
        if referenced.contains(&hash) {
            let sql::ValueRef::Blob(bytes) = row.get_ref(1)? else {
                return Err(Error::Invalid(format!(
                    "blob {hash}: its bytes are not a blob"
                )));
            };
            let actual = super::hash_bytes(bytes);
            if actual != hash {
                return Err(Error::CorruptBlob { hash, actual });
            }
        }
        hashes.insert(hash);
    }
    Ok(hashes)
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

#[allow(clippy::disallowed_methods)]
fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)
}
