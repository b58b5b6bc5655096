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
//!
//! On PostgreSQL the token is a hash of the server's current snapshot
//! (`pg_current_snapshot()`: the oldest running transaction, the next id,
//! the ones in progress). What a query sees is decided by its snapshot
//! alone, so an unchanged snapshot means nothing was committed since,
//! by this instance or any other sharing the database; commits elsewhere
//! on the server also move it, which only costs a cache miss.

use super::super::error::{Error, Result};
use rusqlite::Connection;
use std::fs::File;
use std::hash::BuildHasher;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Bytes of one copy of the WAL-index header (`WalIndexHdr`).
const HEADER_BYTES: usize = 48;

/// Tokens for torn reads: counted down from -1, never reused.
static TORN: AtomicI64 = AtomicI64::new(-1);

/// Reads the store's change token (see the module doc).
#[derive(Debug)]
pub(crate) enum ChangeWatch {
    Sqlite {
        /// A read connection held open for as long as the store is: it
        /// keeps the `-shm` file in place, and answers `data_version`
        /// without one.
        conn: Mutex<Connection>,
        shm: Option<File>,
    },
    Postgres(Box<PgWatch>),
}

/// [`ChangeWatch`] on PostgreSQL.
#[derive(Debug)]
pub(crate) struct PgWatch {
    /// Reads the snapshot.
    conn: Mutex<super::sql::Connection>,
    /// Listens on [`super::sql::CHANGES_CHANNEL`].
    listener: Mutex<Listener>,
    /// The writer's id: its own commits are not external.
    own: String,
    /// Where the listener connects again when the server closed it.
    url: super::postgres::IndexUrl,
    /// Commits by others heard so far.
    heard: std::sync::atomic::AtomicI64,
    /// Events other instances sent, not yet taken (the latest
    /// [`crate::store::events::EVENT_BUFFER`]).
    events: Mutex<std::collections::VecDeque<crate::store::Event>>,
}

impl ChangeWatch {
    /// Watches the index at `path`; its WAL and `-shm` exist once this
    /// returns.
    pub(crate) fn open(
        location: &super::Location,
        writer: &super::sql::Connection,
    ) -> Result<ChangeWatch> {
        let path = match location {
            super::Location::Sqlite(path) => path,
            super::Location::Postgres(url) => {
                return Ok(ChangeWatch::Postgres(Box::new(PgWatch {
                    conn: Mutex::new(location.open_reader()?),
                    listener: Mutex::new(Listener(Some(listen(url)?))),
                    own: writer.instance().unwrap_or_default().to_string(),
                    url: (**url).clone(),
                    heard: Default::default(),
                    events: Default::default(),
                })));
            }
        };
        let conn = super::open_sqlite_reader(path)?;
        // A read transaction opens the WAL and its shared memory.
        let _: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        let shm = File::open(&shm_path)
            .ok()
            .filter(|f| read_header(f).is_some());
        Ok(ChangeWatch::Sqlite {
            conn: Mutex::new(conn),
            shm,
        })
    }

    /// The change token now: take it before reading what it guards, so an
    /// answer is never filed under a token newer than its data.
    pub(crate) fn token(&self) -> Result<i64> {
        let (conn, shm) = match self {
            ChangeWatch::Sqlite { conn, shm } => (conn, shm),
            ChangeWatch::Postgres(pg) => {
                let conn = &pg.conn;
                let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                let hash: i64 = conn
                    .prepare_cached("SELECT hashtextextended(pg_current_snapshot()::text, 0)")?
                    .query_row([], |r| r.get(0))?;
                return Ok(hash & i64::MAX);
            }
        };
        if let Some(shm) = shm {
            return Ok(match read_header(shm) {
                Some(header) => {
                    (foldhash::fast::FixedState::with_seed(0x17).hash_one(header) >> 1) as i64
                }
                None => TORN.fetch_sub(1, Ordering::Relaxed),
            });
        }
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        Ok(version)
    }

    /// A number that moves whenever another connection commits to the index
    /// (`writer` locks the store's own; its commits do not count): SQLite's
    /// `data_version` of the writer's connection, or on PostgreSQL the
    /// count of other writers' notices heard.
    pub(crate) fn external<'a>(
        &self,
        writer: impl FnOnce() -> std::sync::MutexGuard<'a, super::sql::Connection>,
    ) -> Result<i64> {
        let ChangeWatch::Postgres(pg) = self else {
            // Only SQLite's answer needs the writer's connection (it is
            // the writer's `data_version`).
            let version: i64 = writer()
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?;
            return Ok(version);
        };
        let PgWatch {
            listener,
            own,
            url,
            heard,
            events,
            ..
        } = &**pg;
        let mut listener = listener.lock().unwrap_or_else(|p| p.into_inner());
        let polled = match listener.0.as_mut() {
            Some(client) if !client.is_closed() => super::sql::blocking(|| {
                use postgres::fallible_iterator::FallibleIterator;
                let mut notices = client.notifications();
                let mut others = 0;
                // A short wait, not `iter()`: the client's runtime learns that
                // its socket has data only while it waits, so a poll that
                // never waits never hears anything.
                let mut it = notices.timeout_iter(std::time::Duration::from_millis(5));
                let mut heard_events = Vec::new();
                while let Some(n) = it.next()? {
                    if n.channel() == EVENTS_CHANNEL {
                        match serde_json::from_str::<Notice>(n.payload()) {
                            Ok(notice) if notice.from != *own => heard_events.extend(notice.events),
                            _ => {}
                        }
                    } else {
                        others += i64::from(n.payload() != own);
                    }
                }
                let mut events = events.lock().unwrap_or_else(|p| p.into_inner());
                events.extend(heard_events);
                while events.len() > crate::store::events::EVENT_BUFFER {
                    events.pop_front();
                }
                Ok::<_, postgres::Error>(Some(others))
            }),
            _ => Ok(None),
        };
        match polled {
            Ok(Some(others)) => Ok(heard.fetch_add(others, Ordering::Relaxed) + others),
            Err(e) if !super::postgres::is_gone(&e) => Err(Error::Unavailable {
                what: url.shown().to_string(),
                detail: format!("listening for other instances' changes: {e}"),
            }),
            // The server closed it (a restart): listen again, and count one
            // change, since notices sent meanwhile are lost.
            _ => {
                let fresh = listen(url)?;
                if let Some(old) = listener.0.replace(fresh) {
                    super::sql::blocking(move || drop(old));
                }
                Ok(heard.fetch_add(1, Ordering::Relaxed) + 1)
            }
        }
    }

    /// The events other instances sent since the last call (none on SQLite,
    /// where other processes send none).
    pub(crate) fn take_events(&self) -> Vec<crate::store::Event> {
        match self {
            ChangeWatch::Postgres(pg) => pg
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..)
                .collect(),
            ChangeWatch::Sqlite { .. } => Vec::new(),
        }
    }

    /// Whether tokens come from the `-shm` header (true on Linux, macOS and
    /// the BSDs) rather than `PRAGMA data_version`.
    #[cfg(test)]
    pub(crate) fn reads_the_header(&self) -> bool {
        matches!(self, ChangeWatch::Sqlite { shm: Some(_), .. })
    }
}

use crate::store::events::{Notice, EVENTS_CHANNEL};

/// A new connection listening on [`super::sql::CHANGES_CHANNEL`] and
/// [`EVENTS_CHANNEL`].
fn listen(url: &super::postgres::IndexUrl) -> Result<postgres::Client> {
    let mut listener = super::sql::blocking(|| super::postgres::connect(url))?;
    super::sql::blocking(|| {
        listener.batch_execute(&format!(
            "LISTEN {}; LISTEN {EVENTS_CHANNEL}",
            super::sql::CHANGES_CHANNEL
        ))
    })
    .map_err(|e| super::postgres::error(url, e))?;
    Ok(listener)
}

/// The connection that listens for other writers' notices; closed (which
/// blocks) wherever the store is dropped.
pub(crate) struct Listener(Option<postgres::Client>);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            super::sql::blocking(move || drop(client));
        }
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
        let watch =
            ChangeWatch::open(&super::super::Location::Sqlite(path.clone()), &writer).unwrap();
        assert!(watch.reads_the_header(), "Linux has a -shm file to read");
        let mut seen = vec![watch.token().unwrap()];
        assert_eq!(watch.token().unwrap(), seen[0], "no commit, same token");
        // Commits by this connection and by another one (another process,
        // in real life), and a checkpoint that restarts the WAL between.
        let other = super::super::open(&path).unwrap();
        for (i, conn) in [&writer, &other, &writer].into_iter().enumerate() {
            conn.execute(
                "INSERT INTO link_rules (version) VALUES (:i)",
                crate::store::db::sql::named_params! {":i": i},
            )
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
