//! The store's change token: one number that moves with every commit to the
//! index, by this process or by another, so that the answer caches (hot
//! files, listings, link reports) can tell in one cheap step whether what
//! they hold is still the index's answer.
//!
//! SQLite's own counter, `PRAGMA data_version`, costs a read transaction: a
//! mutex around one connection, a statement step and the shared-memory
//! locks. Under `wrk` that was a sixth of a cached `GET raw`, and every
//! request of both server threads queued on the one connection. So the
//! token is read where SQLite itself looks first: the WAL-index header at
//! the start of `store.db-shm` (<https://www.sqlite.org/walformat.html>,
//! "The WAL-Index Header"), a file format every SQLite since 3.7 shares
//! between processes. The header names the committed state of the WAL (its
//! salts, its last committed frame and that frame's checksum, a change
//! counter); a writer rewrites it on every commit before the commit
//! returns, in two copies, the second first, so a reader that finds both
//! copies equal has read a whole header. One `pread` of 96 bytes from the
//! page cache (which also holds the writers' shared mappings, so it sees
//! them at once), no lock, no SQLite call.
//!
//! - Both copies equal: the token is a hash of the header. Equal headers
//!   name the same committed state (same WAL generation and last frame), so
//!   an unchanged token means nothing committed; a restarted WAL or a
//!   recovery changes it without a commit, which only costs a cache miss.
//! - The copies differ (a writer is rewriting them this instant): a token
//!   that was never handed out before and never will be again, so nothing
//!   cached matches it. Negative, where header tokens are not.
//! - No `-shm` file to read (a filesystem without shared memory, or it
//!   cannot be opened): `PRAGMA data_version` of a connection kept for it,
//!   as before.
//!
//! The `-shm` file stays the same file while the store is open: SQLite
//! removes it only when the last connection to the index closes, and the
//! watcher's connection, kept open beside the file, is one of them.

use super::super::error::Result;
use rusqlite::Connection;
use std::fs::File;
use std::hash::BuildHasher;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Bytes of one copy of the WAL-index header (`WalIndexHdr`).
const HEADER_BYTES: usize = 48;

/// Tokens for torn reads: counted down from -1, never reused.
static TORN: AtomicI64 = AtomicI64::new(-1);

/// Reads the store's change token (see the module doc).
#[derive(Debug)]
pub(crate) struct ChangeWatch {
    /// A read connection held open for as long as the store is: it keeps
    /// the `-shm` file in place, and answers `data_version` without one.
    conn: Mutex<Connection>,
    shm: Option<File>,
}

impl ChangeWatch {
    /// Watches the index at `path`; its WAL and `-shm` exist once this
    /// returns.
    pub(crate) fn open(path: &Path) -> Result<ChangeWatch> {
        let conn = super::open_reader(path)?;
        // A read transaction opens the WAL and its shared memory.
        let _: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        let shm = File::open(&shm_path)
            .ok()
            .filter(|f| read_header(f).is_some());
        Ok(ChangeWatch {
            conn: Mutex::new(conn),
            shm,
        })
    }

    /// The change token now: take it before reading what it guards, so an
    /// answer is never filed under a token newer than its data.
    pub(crate) fn token(&self) -> Result<i64> {
        if let Some(shm) = &self.shm {
            return Ok(match read_header(shm) {
                Some(header) => {
                    (foldhash::fast::FixedState::with_seed(0x17).hash_one(header) >> 1) as i64
                }
                None => TORN.fetch_sub(1, Ordering::Relaxed),
            });
        }
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        Ok(version)
    }

    /// Whether tokens come from the `-shm` header (true on Linux, macOS and
    /// the BSDs) rather than `PRAGMA data_version`.
    #[cfg(test)]
    pub(crate) fn reads_the_header(&self) -> bool {
        self.shm.is_some()
    }
}

/// Both copies of the header when they are equal and initialised.
fn read_header(shm: &File) -> Option<[u8; HEADER_BYTES]> {
    let mut both = [0u8; 2 * HEADER_BYTES];
    if shm.read_at(&mut both, 0).ok()? != both.len() {
        return None;
    }
    let (first, second) = both.split_at(HEADER_BYTES);
    // isInit, the 13th byte, is 0 until the header was first written.
    (first == second && first[12] == 1).then(|| first.try_into().expect("48 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_moves_with_every_commit_of_any_connection_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let writer = super::super::open(&path).unwrap();
        let watch = ChangeWatch::open(&path).unwrap();
        assert!(watch.reads_the_header(), "Linux has a -shm file to read");
        let mut seen = vec![watch.token().unwrap()];
        assert_eq!(watch.token().unwrap(), seen[0], "no commit, same token");
        // Commits by this connection and by another one (another process,
        // in real life), and a checkpoint that restarts the WAL between.
        let other = super::super::open(&path).unwrap();
        for (i, conn) in [&writer, &other, &writer].into_iter().enumerate() {
            conn.execute("INSERT INTO link_rules (version) VALUES (?1)", [i])
                .unwrap();
            let token = watch.token().unwrap();
            assert!(token >= 0, "a whole header: {token}");
            assert!(!seen.contains(&token), "commit {i} moved the token");
            seen.push(token);
            assert_eq!(watch.token().unwrap(), token, "and it stays put");
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
        }
        // Read-only work moves nothing.
        let _: i64 = other
            .query_row("SELECT count(*) FROM link_rules", [], |r| r.get(0))
            .unwrap();
        assert_eq!(watch.token().unwrap(), watch.token().unwrap());
    }

    #[test]
    fn a_torn_header_gives_a_token_nothing_else_ever_had() {
        let dir = tempfile::tempdir().unwrap();
        let shm = dir.path().join("x-shm");
        let mut bytes = vec![0u8; 136];
        bytes[12] = 1;
        bytes[48 + 12] = 1;
        bytes[16] = 5; // the first copy's last frame, as if half-written
        std::fs::write(&shm, &bytes).unwrap();
        let file = File::open(&shm).unwrap();
        assert!(read_header(&file).is_none(), "copies differ");
        bytes[48 + 16] = 5;
        std::fs::write(&shm, &bytes).unwrap();
        assert!(read_header(&file).is_some(), "the same file, now whole");
        let a = TORN.fetch_sub(1, Ordering::Relaxed);
        let b = TORN.fetch_sub(1, Ordering::Relaxed);
        assert!(a < 0 && b < a);
    }
}
