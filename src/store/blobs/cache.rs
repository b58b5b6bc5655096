//! The local read cache of a store whose contents are objects: recently read
//! objects as files under the data dir's `cache/` (`cache/ab/cdef…`).
//!
//! An object's name is the hash of its bytes, so a cached copy can never be
//! stale: there is nothing to invalidate, only space to bound. A copy is
//! admitted only after its bytes hashed to its name on the way in, and is
//! renamed into place whole (temp file + rename), so a reader sees a whole
//! copy or none; a read that hits opens the file and renews its time. When
//! the copies pass the limit, the least recently used go first (by file
//! time). Several processes may share a data dir: each keeps its own estimate
//! of the cache's size, and removing a copy another process has open is
//! harmless (its handle stays valid).
//!
//! Why: a `GET` from an object store costs a round trip and the store's own
//! work (2.6 ms for 1 MiB from Garage on loopback, against 0.5 ms for the
//! whole `GET raw` from a blob file; BENCHMARKS.md, issue 20), every time.

use super::super::error::{Error, Result};
use super::{is_hash, Hasher};
use blake2::Digest;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The cache's size unless `BLOCKSTORE_CONTENTS_CACHE_MB` says otherwise.
pub const DEFAULT_LIMIT: u64 = 1 << 30;

/// Sets the cache's limit in MiB (0: no cache).
pub const LIMIT_ENV: &str = "BLOCKSTORE_CONTENTS_CACHE_MB";

#[derive(Debug)]
pub struct ObjectCache {
    root: PathBuf,
    limit: u64,
    /// What this process believes the copies take (walked at the first
    /// admission, kept since).
    used: Mutex<Option<u64>>,
    counter: AtomicU64,
}

/// A copy being written: bytes are hashed as they go in.
pub struct Filling {
    path: PathBuf,
    file: File,
    hasher: Hasher,
    size: u64,
}

impl Filling {
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.file.write_all(bytes)
    }
}

impl Drop for Filling {
    fn drop(&mut self) {
        // Admitted copies were renamed away; anything else is removed.
        let _ = fs::remove_file(&self.path);
    }
}

impl ObjectCache {
    /// The cache under `root`, at most `limit` bytes (0: none, every read
    /// goes to the object store).
    pub fn open(root: PathBuf, limit: u64) -> Result<ObjectCache> {
        if limit > 0 {
            fs::create_dir_all(&root)
                .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
            // Copies a killed process left half written (an hour old: no
            // live reader takes that long).
            let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            for entry in fs::read_dir(&root).into_iter().flatten().flatten() {
                let stale = entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp-read-")
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t < hour_ago);
                if stale {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(ObjectCache {
            root,
            limit,
            used: Mutex::new(None),
            counter: AtomicU64::new(0),
        })
    }

    /// The limit from [`LIMIT_ENV`], else [`DEFAULT_LIMIT`].
    pub fn limit_from_env() -> u64 {
        std::env::var(LIMIT_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_LIMIT, |mb| mb << 20)
    }

    fn path_of(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(&hash[2..])
    }

    /// The cached copy of `hash`, opened, its time renewed.
    pub fn get(&self, hash: &str) -> Option<File> {
        if self.limit == 0 || !is_hash(hash) {
            return None;
        }
        let file = File::open(self.path_of(hash)).ok()?;
        let _ = file.set_modified(std::time::SystemTime::now());
        Some(file)
    }

    /// A temp file in the cache for a copy of a `size`-byte object; an
    /// unlinked temp file in `dir` instead when the copy is not to be kept
    /// (`admit` false, the cache off, or the object over an eighth of it).
    pub fn start(&self, size: u64, dir: &Path, admit: bool) -> Result<Filling> {
        let admit = self.admits(size, admit);
        let dir = if admit { self.root.as_path() } else { dir };
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            ".tmp-read-{}-{}-{n}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut filling = Filling {
            path,
            file,
            hasher: Hasher::new(),
            size: 0,
        };
        if !admit {
            // Unlinked now: the handle is the only way to the bytes.
            fs::remove_file(&filling.path)
                .map_err(|e| Error::io(format!("removing {}", filling.path.display()), e))?;
            filling.path = PathBuf::new();
        }
        Ok(filling)
    }

    /// Whether a copy of a `size`-byte object would be kept.
    pub fn admits(&self, size: u64, admit: bool) -> bool {
        admit && self.limit > 0 && size <= self.limit / 8
    }

    /// Ends a copy: refuses bytes that are not `hash`'s, admits the copy
    /// when it was started in the cache, and gives back its file, rewound.
    pub fn finish(&self, mut filling: Filling, hash: &str) -> Result<File> {
        let actual = hex::encode(std::mem::take(&mut filling.hasher).finalize());
        if actual != hash {
            return Err(Error::CorruptBlob {
                hash: hash.to_string(),
                actual,
            });
        }
        let mut file = filling
            .file
            .try_clone()
            .map_err(|e| Error::io("reopening a cached copy", e))?;
        io::Seek::rewind(&mut file).map_err(|e| Error::io("rewinding a cached copy", e))?;
        if filling.path.as_os_str().is_empty() {
            return Ok(file);
        }
        // On disk before it is named: after a power loss a copy is whole or
        // absent, never a named file of zeros.
        if filling.file.sync_data().is_err() {
            return Ok(file);
        }
        let target = self.path_of(hash);
        let placed = target
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| {
                #[allow(clippy::disallowed_methods)]
                fs::rename(&filling.path, &target)
            });
        if placed.is_ok() {
            filling.path = PathBuf::new();
            self.admitted(filling.size);
        }
        // A copy that could not be placed is only not cached.
        Ok(file)
    }

    /// Counts `size` more bytes in the cache and, past the limit, removes
    /// the least recently used copies until it is at three quarters of it.
    fn admitted(&self, size: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let now = match *used {
            Some(n) => n + size,
            None => self.copies().iter().map(|c| c.1).sum(),
        };
        *used = Some(now);
        if now <= self.limit {
            return;
        }
        let mut copies = self.copies();
        copies.sort_by_key(|c| c.2);
        let mut left: u64 = copies.iter().map(|c| c.1).sum();
        for (path, size, _) in copies {
            if left <= self.limit / 4 * 3 {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                left -= size;
            }
        }
        *used = Some(left);
    }

    /// Every copy with its size and time.
    fn copies(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        walkdir::WalkDir::new(&self.root)
            .min_depth(2)
            .max_depth(2)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((e.into_path(), meta.len(), meta.modified().ok()?))
            })
            .collect()
    }

    /// Re-hashes every copy, removing the ones whose bytes are not their
    /// name's; returns how many were removed.
    pub fn check(&self) -> u64 {
        let mut removed = 0;
        for (path, _, _) in self.copies() {
            let name = path
                .parent()
                .and_then(|p| p.file_name())
                .zip(path.file_name())
                .map(|(a, b)| format!("{}{}", a.to_string_lossy(), b.to_string_lossy()));
            let sound = name.as_deref().is_some_and(|hash| {
                let mut hasher = Hasher::new();
                File::open(&path)
                    .and_then(|mut f| io::copy(&mut f, &mut super::files::HashWriter(&mut hasher)))
                    .is_ok()
                    && hex::encode(hasher.finalize()) == hash
            });
            if !sound && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            *self.used.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        removed
    }

    /// Forgets a copy (gc removed its object).
    pub fn remove(&self, hash: &str) {
        if self.limit > 0 && is_hash(hash) {
            let _ = fs::remove_file(self.path_of(hash));
        }
    }
}
