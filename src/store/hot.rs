//! Small files read often, kept in memory: `GET raw` of a unit answered from
//! a hash map instead of an index lookup and a blob read on a blocking
//! thread. An entry is (collection key, state, path) → the file and its
//! bytes, filed under the change token read before it was read, and served
//! only while no commit has happened since (any commit, by this process or
//! another, retires every entry at once). Published contents never change,
//! but the draft and `latest` do, and a collection can be deleted and made
//! again under its slug: the token covers all of it with one number.

use super::files::ChangeToken;
use super::model::{At, FileEntry};
use super::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Files up to this size are kept (every unit of a real course is far
/// smaller); larger ones are streamed from their blob as before.
pub const HOT_FILE_MAX: u64 = 64 * 1024;
/// Bytes kept in all; past it the map starts again empty (reads that matter
/// come back at once; a cache of a few thousand units needs no LRU).
const HOT_BYTES_MAX: usize = 32 * 1024 * 1024;

/// What a kept entry without bytes counts for against [`HOT_BYTES_MAX`].
const ENTRY_BYTES: usize = 256;

/// A kept file: its entry, and its verified bytes when it is at most
/// [`HOT_FILE_MAX`] (a larger one is streamed from its blob, but its entry
/// still spares the index lookup: on PostgreSQL a handful of round trips).
#[derive(Debug)]
pub struct HotFile {
    pub file: FileEntry,
    pub bytes: Option<Arc<[u8]>>,
}

/// Collection key → path → the states kept of it. Nested so that a lookup
/// by `&str` allocates nothing (a tuple key would need owned strings).
type Files = HashMap<String, HashMap<String, Vec<(At, Arc<HotFile>)>>>;

#[derive(Debug, Default)]
pub(crate) struct HotFiles {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    token: Option<ChangeToken>,
    files: Files,
    bytes: usize,
}

impl Store {
    /// A file's entry, and a small file's bytes, from memory, when the same
    /// request was answered since the last commit; `None` otherwise (read
    /// it with [`Store::read_hot`]). Costs one read of the change token, no
    /// blocking read, no copy.
    pub fn cached_read(&self, key: &str, path: &str, at: At) -> Option<Arc<HotFile>> {
        let token = self.change_token().ok()?;
        let inner = self.hot.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.token != Some(token) {
            return None;
        }
        let states = inner.files.get(key)?.get(path)?;
        states
            .iter()
            .find(|(kept, _)| *kept == at)
            .map(|(_, hot)| hot.clone())
    }

    /// Reads a file (as [`Store::file`]) and, when it is at most
    /// [`HOT_FILE_MAX`] bytes, its verified bytes, remembering both for
    /// [`Store::cached_read`]. A larger file comes back without bytes (its
    /// entry alone is remembered).
    pub fn read_hot(
        &self,
        key: &str,
        path: &str,
        at: At,
    ) -> super::Result<(FileEntry, Option<Arc<[u8]>>)> {
        // The token first: an answer is never filed under a newer one.
        let token = self.change_token()?;
        let file = self.file(key, path, at)?;
        let bytes: Option<Arc<[u8]>> = if file.size > HOT_FILE_MAX {
            None
        } else {
            Some(self.blobs.read(&file.hash, true)?.into())
        };
        let cost = |bytes: &Option<Arc<[u8]>>| bytes.as_ref().map_or(ENTRY_BYTES, |b| b.len());
        let mut inner = self.hot.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.token != Some(token) || inner.bytes + cost(&bytes) > HOT_BYTES_MAX {
            inner.files.clear();
            inner.bytes = 0;
            inner.token = Some(token);
        }
        let hot = Arc::new(HotFile {
            file: file.clone(),
            bytes: bytes.clone(),
        });
        let states = inner
            .files
            .entry(key.to_string())
            .or_default()
            .entry(path.to_string())
            .or_default();
        let replaced = match states.iter_mut().find(|(kept, _)| *kept == at) {
            Some((_, old)) => cost(&std::mem::replace(old, hot).bytes),
            None => {
                states.push((at, hot));
                0
            }
        };
        inner.bytes = inner.bytes + cost(&bytes) - replaced;
        Ok((file, bytes))
    }
}
