//! Blob files: blobs larger than [`super::INLINE_MAX`] live on disk, one file
//! each, named by their hash and sharded as `blobs/ab/cdef…`.
//!
//! A blob is written to a temp file inside the store, hashed while streaming,
//! and renamed into place; an existing target means the bytes are already there.
//! Durability is explicit: a single `put` fsyncs file and directory, while a batch
//! (import) defers to one [`BlobFiles::sync`] before the index commit that
//! references the batch. Blobs are always durable before any row points at them,
//! so a crash leaves only unreferenced blobs for `gc`, never a dangling row.
//! Only this module creates, renames or removes blob files.

use super::super::error::{Error, Result};
use super::{hash_bytes, is_hash, Hasher, Stored};
use blake2::Digest;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct BlobFiles {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
    /// New blobs written with `put_deferred` and not yet synced.
    pending: std::sync::Mutex<Vec<PathBuf>>,
    /// Bytes written without fsync, ever (drives background write-back).
    pending_bytes: AtomicU64,
    /// Held for a whole `sync`, so a second writer's `sync` cannot return
    /// while the first is still flushing blobs it took from the shared list.
    syncing: std::sync::Mutex<()>,
}

/// Every this many deferred bytes, write-back of the whole filesystem starts
/// in the background (`syncfs` on a thread of its own).
const BACKGROUND_SYNC_BYTES: u64 = 32 * 1024 * 1024;

/// Up to this many pending blobs are fsynced one by one; more, and one `syncfs`
/// of the whole filesystem is cheaper.
const FSYNC_EACH_LIMIT: usize = 256;

/// What a contents home holds: its blobs with their sizes, the ones too
/// recent for gc to judge (an object store's; see `objects.rs`), and the
/// local files that are not well-formed blobs (temp leftovers, junk).
#[derive(Debug, Default)]
pub struct Listing {
    pub blobs: Vec<(String, u64)>,
    pub recent: Vec<String>,
    pub stray: Vec<PathBuf>,
}

impl BlobFiles {
    pub fn open(root: PathBuf) -> Result<BlobFiles> {
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)
            .map_err(|e| Error::io(format!("creating blob store {}", root.display()), e))?;
        // All 256 shards exist from the start, so writes never stat or create them.
        if !root.join("ff").is_dir() {
            for shard in 0..=255u8 {
                let dir = root.join(format!("{shard:02x}"));
                fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            }
            sync_dir(&root)?;
        }
        Ok(BlobFiles {
            root,
            tmp,
            counter: AtomicU64::new(0),
            pending: std::sync::Mutex::new(Vec::new()),
            pending_bytes: AtomicU64::new(0),
            syncing: std::sync::Mutex::new(()),
        })
    }

    /// The blob dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temp space writes are received into.
    pub(super) fn temp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Where the blob with this hash lives (whether or not it exists).
    pub fn path_of(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(&hash[2..])
    }

    /// Stores `bytes` durably (file and directory fsynced) and returns its hash.
    pub fn put(&self, bytes: &[u8]) -> Result<Stored> {
        let stored = self.put_bytes(bytes, true)?;
        Ok(stored)
    }

    /// Stores `bytes` without fsync; the caller must call [`BlobFiles::sync`]
    /// before committing any row that references it.
    pub fn put_deferred(&self, bytes: &[u8]) -> Result<Stored> {
        self.put_bytes(bytes, false)
    }

    fn put_bytes(&self, bytes: &[u8], durable: bool) -> Result<Stored> {
        let hash = hash_bytes(bytes);
        let size = bytes.len() as u64;
        let target = self.path_of(&hash);
        let stored = |new| Stored {
            hash: hash.clone(),
            size,
            new,
            inline: None,
        };
        if !durable {
            // A deferred write goes straight to its final name: nothing
            // references it until `sync` and a commit, and a crash mid-write
            // leaves a file of the wrong size, which the check below rewrites
            // and `gc` sweeps. This saves a rename per file on large imports.
            match File::options().write(true).create_new(true).open(&target) {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(bytes) {
                        drop(file);
                        let _ = fs::remove_file(&target);
                        return Err(self.write_error(format!("writing blob {hash}"), e, size));
                    }
                    self.pending_push(target, size);
                    return Ok(stored(true));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.write_error(format!("writing blob {hash}"), e, size)),
            }
        }
        if self.reuse_existing(&target, &hash, size, durable)? {
            return Ok(stored(false));
        }
        // The temp file lives in the blob's own shard, so the rename stays inside
        // one directory.
        let shard = target.parent().expect("a blob path has a shard directory");
        let (tmp_path, mut file) = self.temp_file_in(shard)?;
        let result = file
            .write_all(bytes)
            .and_then(|()| if durable { file.sync_all() } else { Ok(()) });
        drop(file);
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp_path);
            return Err(self.write_error(format!("writing blob {hash}"), e, size));
        }
        self.install(&tmp_path, &target, durable)?;
        if !durable {
            self.pending_push(target, size);
        }
        Ok(stored(true))
    }

    /// Whether a blob of these bytes already exists (right size: a wrong size
    /// is a torn file, to be rewritten). The existing file may itself be an
    /// unsynced deferred write (of an interrupted import, or of another
    /// writer), so it is made durable too before anything new references it.
    fn reuse_existing(&self, target: &Path, hash: &str, size: u64, durable: bool) -> Result<bool> {
        if !fs::metadata(target).is_ok_and(|m| m.len() == size) {
            return Ok(false);
        }
        if durable {
            File::open(target)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("syncing blob {hash}"), e))?;
        } else {
            self.pending_push(target.to_path_buf(), 0);
        }
        Ok(true)
    }

    fn pending_push(&self, path: PathBuf, size: u64) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path);
        // Start writing a large batch back while it is still being produced, so
        // the final `sync` before the commit finds little left to flush.
        let before = self.pending_bytes.fetch_add(size, Ordering::Relaxed);
        if before / BACKGROUND_SYNC_BYTES != (before + size) / BACKGROUND_SYNC_BYTES {
            #[cfg(target_os = "linux")]
            if let Ok(dir) = File::open(&self.root) {
                std::thread::spawn(move || rustix::fs::syncfs(&dir));
            }
        }
    }

    /// Streams `reader` into the store, hashing as it goes; never holds it
    /// whole (a restore's large blobs, always files).
    pub fn put_reader(&self, reader: &mut dyn Read, durable: bool) -> Result<Stored> {
        self.receive(reader, durable)?.install(self)
    }

    /// Streams `reader` into a temp file of the store, hashed and (if
    /// `durable`) synced, without making it a blob yet: what a write does
    /// before it takes the writers' lock, so a slow client holds off nobody.
    /// The temp file is locked while the [`Received`] lives, so gc sees it is
    /// in use and leaves it alone; dropping a `Received` removes it.
    pub fn receive(&self, reader: &mut dyn Read, durable: bool) -> Result<Received> {
        // A gc may find the new file before it is locked, take it for a
        // leftover and remove it (it removes strays only while holding their
        // lock): once locked, the file is ours only if its name still leads
        // to it. Otherwise, another.
        let (path, mut file) = loop {
            let (path, file) = self.temp_file()?;
            file.lock()
                .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
            if same_file(&file, &path) {
                break (path, file);
            }
        };
        // Dropped on any early return: removes the temp file.
        let mut received = Received {
            path,
            file: None,
            hash: String::new(),
            size: 0,
            durable,
        };
        let mut hasher = Hasher::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        // Reading and writing fail for different reasons: a reader's error
        // is the input's (a broken upload, an archive's limit), a write's is
        // this disk's (full, over quota).
        let copy = (|| -> Result<(), (bool, io::Error)> {
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err((false, e)),
                };
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).map_err(|e| (true, e))?;
                size += n as u64;
            }
            if durable {
                file.sync_all().map_err(|e| (true, e))?;
            }
            Ok(())
        })();
        if let Err((writing, e)) = copy {
            // `received` removes the temp file as it drops.
            return Err(if writing {
                // At least what was written plus the chunk that did not fit.
                let needed = size + buf.len() as u64;
                self.write_error(
                    format!("streaming a blob into {}", self.root.display()),
                    e,
                    needed,
                )
            } else {
                Error::io("reading the bytes to store", e)
            });
        }
        received.file = Some(file);
        received.hash = hex::encode(hasher.finalize());
        received.size = size;
        Ok(received)
    }

    fn temp_file(&self) -> Result<(PathBuf, File)> {
        self.temp_file_in(&self.tmp)
    }

    /// A new temp file in `dir`; its name (`.tmp-…`) is never a blob name, so
    /// `list` reports a leftover one as stray.
    fn temp_file_in(&self, dir: &Path) -> Result<(PathBuf, File)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            ".tmp-{}-{}-{n}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| {
            self.write_error(format!("creating temp file {}", path.display()), e, 0)
        })?;
        Ok((path, file))
    }

    /// The error for a failed write: [`Error::NoSpace`] (naming the data dir
    /// and what the write needed) when the disk is full, else [`Error::Io`].
    fn write_error(&self, context: String, e: io::Error, needed: u64) -> Error {
        if !super::super::error::is_no_space(&e) {
            return Error::io(context, e);
        }
        Error::NoSpace {
            context,
            // The data dir: the blob store is its `blobs/`.
            dir: self.root.parent().unwrap_or(&self.root).to_path_buf(),
            needed: (needed > 0).then_some(needed),
            source: e,
        }
    }

    fn install(&self, tmp_path: &Path, target: &Path, durable: bool) -> Result<()> {
        let shard = target.parent().expect("a blob path has a shard directory");
        // `rename` atomically replaces; if another writer installed the same
        // bytes meanwhile, replacing them with identical bytes is harmless.
        #[allow(clippy::disallowed_methods)]
        fs::rename(tmp_path, target).map_err(|e| {
            let _ = fs::remove_file(tmp_path);
            self.write_error(format!("installing blob {}", target.display()), e, 0)
        })?;
        if durable {
            sync_dir(shard)?;
        }
        Ok(())
    }

    /// Makes every blob written with `put_deferred` (or a non-durable
    /// `put_reader`) durable: a few are fsynced one by one with their shard
    /// directories; many with one `syncfs` of the blob store's filesystem.
    pub fn sync(&self) -> Result<()> {
        let _syncing = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return Ok(());
        }
        let result = self.sync_these(&pending);
        if result.is_err() {
            // Still unsynced: another writer's `sync` must not find the list
            // empty and commit rows over them.
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(pending);
        }
        result
    }

    fn sync_these(&self, pending: &[PathBuf]) -> Result<()> {
        if pending.len() <= FSYNC_EACH_LIMIT || !cfg!(target_os = "linux") {
            let synced = in_parallel(pending, |path| {
                match File::open(path).and_then(|f| f.sync_all()) {
                    Ok(()) => Ok(path.parent().map(Path::to_path_buf)),
                    // Discarded since (the write that stored it failed and
                    // `Store::discard_blobs` removed it): nothing references it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(format!("syncing {}", path.display()), e)),
                }
            })?;
            let shards: Vec<PathBuf> = synced
                .into_iter()
                .flatten()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            in_parallel(&shards, |shard| sync_dir(shard))?;
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        {
            let dir = File::open(&self.root)
                .map_err(|e| Error::io(format!("opening {}", self.root.display()), e))?;
            rustix::fs::syncfs(&dir)
                .map_err(|e| Error::io("syncfs on the blob store", e.into()))?;
        }
        Ok(())
    }

    /// Opens a blob for streaming reads.
    pub fn open_blob(&self, hash: &str) -> Result<File> {
        // A hash from the index names a file under the blob store, never a
        // path: refuse anything else rather than join it.
        if !is_hash(hash) {
            return Err(Error::Invalid(format!(
                "{hash:?} is not a content hash; the index is damaged (run `blockstore fsck`)"
            )));
        }
        File::open(self.path_of(hash)).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::MissingBlob(hash.to_string())
            } else {
                Error::io(format!("reading blob {hash}"), e)
            }
        })
    }

    /// Reads a whole blob. With `verify`, re-hashes it and fails on a mismatch.
    pub fn read(&self, hash: &str, verify: bool) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(hash)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("reading blob {hash}"), e))?;
        if verify {
            return super::verified(hash, bytes);
        }
        Ok(bytes)
    }

    /// Every blob on disk with its size, and stray files (temp leftovers, junk).
    pub fn list(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        for entry in walkdir::WalkDir::new(&self.root).min_depth(1) {
            let entry = entry.map_err(|e| Error::io("walking the blob store", e.into()))?;
            if entry.file_type().is_dir() {
                continue;
            }
            let path = entry.path();
            let rel = path.strip_prefix(&self.root).unwrap_or(path);
            let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
            let hash = match parts.as_slice() {
                [shard, rest] if shard.len() == 2 => format!("{shard}{rest}"),
                _ => String::new(),
            };
            if is_hash(&hash) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                listing.blobs.push((hash, size));
            } else if !in_use(path) {
                listing.stray.push(path.to_path_buf());
            }
        }
        Ok(listing)
    }

    /// Removes a blob (GC only). A missing blob is not an error.
    pub fn remove(&self, hash: &str) -> Result<()> {
        if !is_hash(hash) {
            return Err(Error::Invalid(format!("{hash:?} is not a content hash")));
        }
        match fs::remove_file(self.path_of(hash)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing blob {hash}"), e)),
        }
    }

    /// Removes a stray file (temp leftovers) found by [`BlobFiles::list`] —
    /// unless it is a write in progress by now: it is removed while holding
    /// its lock, which [`BlobFiles::receive`] takes before it trusts a file.
    pub fn remove_stray(&self, path: &Path) -> Result<()> {
        if !path.starts_with(&self.root) {
            return Err(Error::Invalid(format!(
                "{} is outside the blob store",
                path.display()
            )));
        }
        let _held = match File::open(path) {
            Ok(file) => match file.try_lock() {
                Ok(()) => Some(file),
                Err(fs::TryLockError::WouldBlock) => return Ok(()),
                Err(fs::TryLockError::Error(_)) => None,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => None,
        };
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }
}

/// Whether `path` still names the open `file` (no one removed or replaced it).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether a temp file is a write in progress ([`BlobFiles::receive`] holds
/// its lock): then it is no leftover, and gc must not take it.
fn in_use(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| matches!(f.try_lock_shared(), Err(fs::TryLockError::WouldBlock)))
}

/// Bytes received into the store's temp space, hashed, not yet a blob; see
/// [`BlobFiles::receive`].
#[derive(Debug)]
pub struct Received {
    path: PathBuf,
    /// Open (and locked) until installed or dropped.
    file: Option<File>,
    pub hash: String,
    pub size: u64,
    durable: bool,
}

impl Received {
    /// The temp file holding the bytes.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the received bytes back whole (a unit, to scan its links).
    pub fn read(&self) -> Result<Vec<u8>> {
        fs::read(&self.path)
            .map_err(|e| Error::io(format!("reading back {}", self.path.display()), e))
    }

    /// Makes the bytes a blob (or finds them already stored). Call it under
    /// the writers' lock, right before the transaction that references the
    /// blob, so no gc can sweep it in between.
    pub fn install(mut self, blobs: &BlobFiles) -> Result<Stored> {
        let target = blobs.path_of(&self.hash);
        let (hash, size, durable) = (self.hash.clone(), self.size, self.durable);
        if blobs.reuse_existing(&target, &hash, size, durable)? {
            return Ok(Stored {
                hash,
                size,
                new: false,
                inline: None,
            });
        }
        blobs.install(&self.path, &target, durable)?;
        // Installed: nothing left to remove; the lock goes with the file.
        self.file = None;
        self.path = PathBuf::new();
        if !durable {
            blobs.pending_push(target, size);
        }
        Ok(Stored {
            hash,
            size,
            new: true,
            inline: None,
        })
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

pub(super) struct HashWriter<'a>(pub(super) &'a mut Hasher);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Threads [`in_parallel`] runs fsyncs on, at most.
const SYNC_THREADS: usize = 8;

/// `sync` of every item, on up to [`SYNC_THREADS`] threads at once, with
/// the answers in no particular order. An fsync waits on the disk, not on
/// the CPU, and concurrent ones share the filesystem's journal commits (ext4
/// groups them): a batch of an import's large blobs cost one wait per file
/// in sequence, 157 of them for the demo course, which a busy disk made half
/// a second. Every item is synced (or has failed) when this returns; the
/// first error is the answer.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    sync: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    if items.len() <= 1 {
        return items.iter().map(&sync).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || -> Result<Vec<R>> {
        let mut done = Vec::new();
        let mut first_error = None;
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            match sync(item) {
                Ok(answer) => done.push(answer),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(done), Err)
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SYNC_THREADS.min(items.len()))
            .map(|_| scope.spawn(worker))
            .collect();
        let mut answers = Vec::with_capacity(items.len());
        let mut first_error = None;
        for w in workers {
            match w.join() {
                Ok(Ok(done)) => answers.extend(done),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(Error::io(
                        "syncing blobs",
                        io::Error::other("a sync thread panicked"),
                    ));
                }
            }
        }
        first_error.map_or(Ok(answers), Err)
    })
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_syncs_do_every_item_and_answer_the_first_error() {
        let items: Vec<u32> = (0..100).collect();
        let seen = std::sync::Mutex::new(Vec::new());
        let mut answers = in_parallel(&items, |&i| {
            seen.lock().unwrap().push(i);
            Ok(i * 2)
        })
        .unwrap();
        answers.sort_unstable();
        assert_eq!(answers, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, items, "every item exactly once");

        let done = std::sync::atomic::AtomicUsize::new(0);
        let failed = in_parallel(&items, |&i| {
            done.fetch_add(1, Ordering::Relaxed);
            if i % 10 == 3 {
                return Err(Error::io(
                    format!("syncing {i}"),
                    io::Error::other("disk gone"),
                ));
            }
            Ok(())
        });
        let message = failed.unwrap_err().to_string();
        assert!(message.contains("disk gone"), "{message}");
        assert_eq!(
            done.load(Ordering::Relaxed),
            100,
            "a failure does not leave other items unsynced and unreported"
        );
        assert!(in_parallel(&[] as &[u32], |_| Ok(())).unwrap().is_empty());
    }

    #[test]
    fn identical_bytes_are_stored_once_and_read_back_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobFiles::open(dir.path().join("blobs")).unwrap();
        let a = store.put(b"hello").unwrap();
        let b = store.put_deferred(b"hello").unwrap();
        assert!(a.new && !b.new, "the second write must dedup");
        assert_eq!(a.hash, b.hash);
        let mut reader: &[u8] = b"hello";
        let c = store.put_reader(&mut reader, true).unwrap();
        assert_eq!(c.hash, a.hash);
        assert!(!c.new);
        assert_eq!(store.read(&a.hash, true).unwrap(), b"hello");
        let listing = store.list().unwrap();
        assert_eq!(listing.blobs.len(), 1);
        assert!(listing.stray.is_empty(), "no temp file may be left behind");
    }

    #[test]
    fn a_corrupted_blob_is_detected_on_verified_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobFiles::open(dir.path().join("blobs")).unwrap();
        let a = store.put(b"hello").unwrap();
        std::fs::write(store.path_of(&a.hash), b"jello").unwrap();
        assert!(matches!(
            store.read(&a.hash, true),
            Err(Error::CorruptBlob { .. })
        ));
    }
}
