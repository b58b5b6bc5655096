//! Blobs: the bytes of every version and draft revision, named by their
//! BLAKE2b-160 hash (40 hex characters, the digest the old Blockstore and
//! Learning Core use). One identity and one dedup, two homes:
//!
//! - a blob of at most [`INLINE_MAX`] bytes is a row of the index's `blob`
//!   table, inserted by the very transaction that first references it: one
//!   WAL commit makes a small write durable, with no file, no directory entry
//!   and no 4 KiB block per version (BENCHMARKS.md, "where small contents
//!   belong", measured the threshold);
//! - a larger one is a file under `blobs/` ([`files`]), made durable before
//!   the commit that references it.
//!
//! The home is a function of the size, so a hash has one home. A store
//! written before inline blobs existed is moved over at open
//! ([`move_small_files`]): batch by batch, each batch's rows committed before
//! its files are removed, so a kill at any point loses nothing and the next
//! open goes on. Reads ask the index first, then the file, then the index once
//! more (a move in another process may have inlined it in between).
//!
//! Writers hand their bytes to [`BlobStore`] before their transaction (small
//! ones come back held in the [`Stored`], large ones written to disk) and
//! their transaction calls [`insert_inline`]. This is the one interface the
//! rest of the store reads and writes bytes through; a team-scale backend
//! implements the same two homes (rows in its database, objects in S3).

mod cache;
pub mod contents;
pub mod files;
pub mod objects;

use super::db::Readers;
use super::error::{Error, Result};
use crate::store::db::sql::{named_params, Connection, OptionalExtension};
use blake2::digest::consts::U20;
use blake2::{Blake2b, Digest};
pub use contents::{Contents, ContentsUrl};
use files::BlobFiles;
pub use files::{Listing, Received};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::sync::Arc;

type Hasher = Blake2b<U20>;

/// Blobs up to this many bytes live in the index (every unit of a real
/// course, most small assets); larger ones are files.
pub const INLINE_MAX: u64 = 16 * 1024;

/// Hex digest of `bytes`, as stored in the index.
pub fn hash_bytes(bytes: &[u8]) -> String {
    hex::encode(Hasher::digest(bytes))
}

/// Whether `s` looks like a blob hash (40 lowercase hex digits).
pub fn is_hash(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a write did, or will do when its transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub hash: String,
    pub size: u64,
    /// True when a new blob file was written (a failed write takes it back);
    /// always false for inline blobs, which only exist once committed.
    pub new: bool,
    /// An inline blob's bytes, for the transaction to insert.
    pub inline: Option<Arc<[u8]>>,
}

/// Both homes of the blobs: the index's `blob` table and the contents (blob
/// files, or objects in a bucket).
///
/// Inline blobs are read through read connections of the blob store's own:
/// a reader that holds one of the store's connections (a link report inside
/// its read transaction) reads blobs while holding it, and a shared pool
/// would deadlock once every connection was held by such a reader waiting
/// for one more. A blob read holds nothing while it waits for its own.
#[derive(Debug)]
pub struct BlobStore {
    contents: Contents,
    index: Readers,
}

impl BlobStore {
    pub(crate) fn open(contents: Contents, index: &super::db::Location) -> Result<BlobStore> {
        Ok(BlobStore {
            contents,
            index: Readers::new(index),
        })
    }

    /// The home of the large blobs (gc and fsck list and remove them).
    pub fn contents(&self) -> &Contents {
        &self.contents
    }

    /// Holds small `bytes` for the write's transaction, or stores larger
    /// ones durably (file and directory fsynced).
    pub fn put(&self, bytes: &[u8]) -> Result<Stored> {
        match inline(bytes) {
            Some(stored) => Ok(stored),
            None => self.contents.put(bytes),
        }
    }

    /// Like [`BlobStore::put`], but a blob file is not synced: the caller
    /// must call [`BlobStore::sync`] before committing a row that references
    /// it (`WriteSession::apply` does).
    pub fn put_deferred(&self, bytes: &[u8]) -> Result<Stored> {
        match inline(bytes) {
            Some(stored) => Ok(stored),
            None => self.contents.put_deferred(bytes),
        }
    }

    /// Streams `reader` in, hashing as it goes; never holds a large blob whole.
    pub fn put_reader(&self, reader: &mut dyn Read, durable: bool) -> Result<Stored> {
        let received = self.contents.receive(reader, durable)?;
        self.install(received)
    }

    /// Streams `reader` into temp space without making it a blob yet; see
    /// [`BlobFiles::receive`].
    pub fn receive(&self, reader: &mut dyn Read, durable: bool) -> Result<Received> {
        self.contents.receive(reader, durable)
    }

    /// Makes received bytes a blob: small ones are read back for the
    /// transaction (and their temp file removed), larger ones installed as
    /// files. Call it under the writers' lock, right before the transaction.
    pub fn install(&self, received: Received) -> Result<Stored> {
        if received.size <= INLINE_MAX {
            let bytes = received.read()?;
            if let Some(stored) = inline(&bytes) {
                return Ok(stored);
            }
        }
        self.contents.install(received)
    }

    /// Makes every deferred blob file durable.
    pub fn sync(&self) -> Result<()> {
        self.contents.sync()
    }

    /// Reads a whole blob, from the index or its file. With `verify`, re-hashes
    /// it and fails on a mismatch.
    pub fn read(&self, hash: &str, verify: bool) -> Result<Vec<u8>> {
        let bytes = match self.open_blob(hash)? {
            BlobReader::Inline(cursor) => cursor.into_inner(),
            BlobReader::File(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)
                    .map_err(|e| Error::io(format!("reading blob {hash}"), e))?;
                bytes
            }
        };
        if verify {
            return verified(hash, bytes);
        }
        Ok(bytes)
    }

    /// Reads many whole blobs, calling `each(key, bytes)` once per item, in
    /// no particular order. The inline ones are read on one connection in one
    /// read transaction: read one by one, each costs a transaction's start and
    /// a trip through the connection pool, which was most of an outline's
    /// time at 75,000 block files. The rest (files, and any blob moved in
    /// meanwhile) are then read as [`BlobStore::read`] reads them.
    pub fn read_many<'h, K>(
        &self,
        items: impl IntoIterator<Item = (K, &'h str)>,
        mut each: impl FnMut(K, Result<Vec<u8>>),
    ) -> Result<()> {
        let mut rest = Vec::new();
        {
            let conn = self.index.get()?;
            let tx = conn.unchecked_transaction()?;
            let mut stmt = tx.prepare_cached("SELECT bytes FROM blob WHERE hash = :hash")?;
            for (key, hash) in items {
                match stmt
                    .query_row(named_params! {":hash": hash}, |r| r.get(0))
                    .optional()
                {
                    Ok(Some(bytes)) => each(key, Ok(bytes)),
                    Ok(None) => rest.push((key, hash)),
                    Err(e) => each(key, Err(e.into())),
                }
            }
        }
        for (key, hash) in rest {
            each(key, self.read(hash, false));
        }
        Ok(())
    }

    /// The bytes of a blob a write holds but has not committed yet (an
    /// archive's units, scanned before its transaction).
    pub fn read_stored(&self, stored: &Stored) -> Result<Vec<u8>> {
        match &stored.inline {
            Some(bytes) => Ok(bytes.to_vec()),
            None => self.contents.read(&stored.hash, false),
        }
    }

    /// Opens a blob for streaming reads.
    pub fn open_blob(&self, hash: &str) -> Result<BlobReader> {
        self.open_blob_from(hash, false)
    }

    /// [`BlobStore::open_blob`]; with `fresh`, from the contents' home
    /// itself, past their local cache (what fsck must check).
    fn open_blob_from(&self, hash: &str, fresh: bool) -> Result<BlobReader> {
        if let Some(bytes) = self.inline_bytes(hash)? {
            return Ok(BlobReader::Inline(io::Cursor::new(bytes)));
        }
        let opened = if fresh {
            self.contents.open_fresh(hash)
        } else {
            self.contents.open_blob(hash)
        };
        match opened {
            Ok(reader) => Ok(reader),
            // Moved into the index since we looked (`move_small_files`).
            Err(Error::MissingBlob(_)) => match self.inline_bytes(hash)? {
                Some(bytes) => Ok(BlobReader::Inline(io::Cursor::new(bytes))),
                None => Err(Error::MissingBlob(hash.to_string())),
            },
            Err(e) => Err(e),
        }
    }

    /// Re-hashes a blob, streaming a file; returns the actual hash and the
    /// blob's size.
    pub fn rehash(&self, hash: &str) -> Result<(String, u64)> {
        match self.open_blob_from(hash, true)? {
            BlobReader::Inline(cursor) => {
                Ok((hash_bytes(cursor.get_ref()), cursor.get_ref().len() as u64))
            }
            BlobReader::File(mut file) => {
                let mut hasher = Hasher::new();
                let size = io::copy(&mut file, &mut files::HashWriter(&mut hasher))
                    .map_err(|e| Error::io(format!("reading blob {hash}"), e))?;
                Ok((hex::encode(hasher.finalize()), size))
            }
        }
    }

    /// The size of a blob, wherever it lives.
    pub fn size_of(&self, hash: &str) -> Result<u64> {
        self.open_blob(hash)?.len()
    }

    /// Every blob, inline and file, with its size (sorted by hash), and the
    /// stray files beside the blob files.
    pub fn list(&self) -> Result<Listing> {
        let mut listing = self.contents.list()?;
        listing.blobs.extend(inline_hashes(&*self.index.get()?)?);
        listing.blobs.sort();
        // A blob in both homes (a move killed before it removed the file)
        // is one blob.
        listing.blobs.dedup_by(|a, b| a.0 == b.0);
        Ok(listing)
    }

    fn inline_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.index.get()?;
        read_inline(&conn, hash)
    }
}

/// `bytes` if they hash to `hash`, else [`Error::CorruptBlob`].
pub(crate) fn verified(hash: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
    let actual = hash_bytes(&bytes);
    if actual != hash {
        return Err(Error::CorruptBlob {
            hash: hash.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

/// A small blob as held for its transaction; `None` when it is a file's.
fn inline(bytes: &[u8]) -> Option<Stored> {
    (bytes.len() as u64 <= INLINE_MAX).then(|| Stored {
        hash: hash_bytes(bytes),
        size: bytes.len() as u64,
        new: false,
        inline: Some(bytes.into()),
    })
}

/// An inline blob's bytes, read on `conn` (a write transaction sees its own).
pub(crate) fn read_inline(conn: &Connection, hash: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM blob WHERE hash = :hash")?
        .query_row(named_params! {":hash": hash}, |r| r.get(0))
        .optional()?)
}

/// Inserts an inline blob in the write's transaction (nothing when `stored`
/// is a file's, or the index has it already). True when a row was added.
pub(crate) fn insert_inline(conn: &Connection, stored: &Stored) -> Result<bool> {
    let Some(bytes) = &stored.inline else {
        return Ok(false);
    };
    let added = conn
        .prepare_cached(
            "INSERT INTO blob (hash, bytes) VALUES (:hash, :bytes) ON CONFLICT DO NOTHING",
        )?
        .execute(named_params! {":hash": stored.hash, ":bytes": &bytes[..]})?;
    Ok(added > 0)
}

/// A blob opened for reading: its bytes from the index, or its file.
#[derive(Debug)]
pub enum BlobReader {
    Inline(io::Cursor<Vec<u8>>),
    File(File),
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn len(&self) -> Result<u64> {
        match self {
            BlobReader::Inline(cursor) => Ok(cursor.get_ref().len() as u64),
            BlobReader::File(file) => file
                .metadata()
                .map(|m| m.len())
                .map_err(|e| Error::io("reading a blob's size", e)),
        }
    }

    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobReader::Inline(cursor) => cursor.read(buf),
            BlobReader::File(file) => file.read(buf),
        }
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        match self {
            BlobReader::Inline(cursor) => cursor.seek(pos),
            BlobReader::File(file) => file.seek(pos),
        }
    }
}

/// Every inline blob's hash and size, sorted by hash (gc and fsck).
pub(crate) fn inline_hashes(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare("SELECT hash, length(bytes) FROM blob ORDER BY hash")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<crate::store::db::sql::Result<_>>()?)
}

/// Blobs moved into the index per transaction, at most (and at most
/// [`MOVE_BATCH_BYTES`]); see [`set_move_batch`].
static MOVE_BATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2048);
const MOVE_BATCH_BYTES: u64 = 16 << 20;

/// Sets how many blobs [`move_small_files`] moves per transaction: tests
/// use 1 so that a kill lands between batches.
#[doc(hidden)]
pub fn set_move_batch(n: usize) {
    MOVE_BATCH.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// Moves the small blobs a store holds as files (written before inline
/// blobs existed) into the index, when the `blob_move` flag says some may
/// remain. Batch by batch: a batch's rows commit, then its files are removed;
/// a kill at any point leaves every blob readable (in one home or both) and
/// the next open goes on. A referenced file that is missing or does not hash
/// to its name stays as it is, for `fsck` to report. Returns how many blobs
/// were moved.
pub(crate) fn move_small_files(conn: &mut Connection, contents: &Contents) -> Result<u64> {
    let pending: bool = conn.query_row("SELECT pending FROM blob_move", [], |r| r.get(0))?;
    // A store whose contents are objects was created with inline blobs.
    let Contents::Files(files) = contents else {
        return Ok(0);
    };
    if !pending {
        return Ok(0);
    }
    move_small_blob_files(conn, files)
}

fn move_small_blob_files(conn: &mut Connection, files: &BlobFiles) -> Result<u64> {
    // Every referenced small blob, and whether the index has it already.
    let candidates: Vec<(String, bool)> = conn
        .prepare(
            "SELECT h.hash, EXISTS (SELECT 1 FROM blob b WHERE b.hash = h.hash)
             FROM (SELECT hash FROM version WHERE hash IS NOT NULL AND size <= :max
                   UNION SELECT hash FROM draft_revision WHERE hash IS NOT NULL AND size <= :max) h
             ORDER BY h.hash",
        )?
        .query_map(named_params! {":max": INLINE_MAX as i64}, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<crate::store::db::sql::Result<_>>()?;
    let batch_max = MOVE_BATCH.load(std::sync::atomic::Ordering::Relaxed);
    let mut moved = 0;
    let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut inlined_files: Vec<String> = Vec::new();
    for (hash, in_index) in candidates {
        if in_index {
            // Moved by a run killed before it removed the file.
            inlined_files.push(hash);
            continue;
        }
        // The file's own length decides, not the index's word for it: a
        // damaged index (or a hostile old dump) could call a huge file small.
        if !std::fs::metadata(files.path_of(&hash)).is_ok_and(|m| m.len() <= INLINE_MAX) {
            continue;
        }
        let Ok(bytes) = files.read(&hash, true) else {
            continue;
        };
        batch_bytes += bytes.len() as u64;
        batch.push((hash, bytes));
        if batch.len() >= batch_max || batch_bytes >= MOVE_BATCH_BYTES {
            moved += commit_moved(conn, files, std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
    }
    moved += commit_moved(conn, files, batch)?;
    for hash in inlined_files {
        files.remove(&hash)?;
    }
    conn.execute("UPDATE blob_move SET pending = 0", [])?;
    Ok(moved)
}

fn commit_moved(
    conn: &mut Connection,
    files: &BlobFiles,
    batch: Vec<(String, Vec<u8>)>,
) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let tx =
        conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO blob (hash, bytes) VALUES (:hash, :bytes) ON CONFLICT DO NOTHING",
        )?;
        for (hash, bytes) in &batch {
            insert.execute(named_params! {":hash": hash, ":bytes": bytes})?;
        }
    }
    tx.commit()?;
    for (hash, _) in &batch {
        files.remove(hash)?;
    }
    Ok(batch.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_blake2b_160_as_learning_core_computes_it() {
        // hashlib.blake2b(b"", digest_size=20).hexdigest()
        assert_eq!(hash_bytes(b""), "3345524abf6bbe1809449224b5972c41790b6cf2");
    }

    #[test]
    fn the_home_of_a_blob_is_a_function_of_its_size() {
        let small = inline(&[7u8; INLINE_MAX as usize]).expect("at the limit: inline");
        assert_eq!(small.size, INLINE_MAX);
        assert!(inline(&[7u8; INLINE_MAX as usize + 1]).is_none());
    }
}
