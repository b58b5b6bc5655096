//! The store's one error type. Variants carry the collection, path or version they
//! are about, so a message alone tells the user what went wrong and where; outer
//! layers (CLI exit codes, later HTTP statuses) map on [`Error::kind`], never on text.

use std::path::PathBuf;

/// What class of failure an [`Error`] is; the CLI and the server map this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input was malformed: a bad path, slug, option or file.
    Invalid,
    /// A named thing does not exist.
    NotFound,
    /// The request conflicts with the store's state (slug taken, nothing to publish,
    /// strict publish with malformed units).
    Conflict,
    /// The store on disk cannot be used by this binary (newer schema, corrupt).
    Incompatible,
    /// A write's precondition (`If-Match`) did not hold: someone else changed
    /// the file first.
    PreconditionFailed,
    /// The operation was interrupted by the caller.
    Interrupted,
    /// The disk holding the data dir is full (or over quota): `ENOSPC`,
    /// `EDQUOT`, `SQLITE_FULL`. Nothing was committed; free space and retry.
    NoSpace,
    /// The store's lock stayed taken (a gc, or writers a gc waits for) longer
    /// than the lock timeout; try again later.
    Busy,
    /// A service the store needs (its object store) did not answer, or
    /// refused: nothing was committed; bring it back and retry.
    Unavailable,
    /// Input or I/O that failed outside the user's control.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error("invalid slug {slug:?}: a slug is 1-100 characters of a-z, A-Z, 0-9, '-', '_', '.', starting with a letter or digit")]
    InvalidSlug { slug: String },

    #[error("{0}")]
    Invalid(String),

    #[error("collection {0:?} not found (list them with `blockstore collections`)")]
    CollectionNotFound(String),

    #[error("collection {0:?} already exists")]
    CollectionExists(String),

    #[error("{collection}:{path} not found{}", at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default())]
    FileNotFound {
        collection: String,
        path: String,
        at: Option<String>,
    },

    #[error("{collection}: version {number} not found (`blockstore log {collection}` lists the versions)")]
    VersionNotFound { collection: String, number: i64 },

    #[error("{0} not found")]
    NotFound(String),

    #[error("{collection}: nothing to publish ({})", if *latest == 0 {
        "the collection is empty: write or import files first".to_string()
    } else {
        format!("the draft equals version {latest}; `blockstore status {collection}` lists pending changes")
    })]
    NothingToPublish { collection: String, latest: i64 },

    #[error("{collection}: strict publish refused: {} {} not parse: {}", plural(paths.len() as u64, "unit"), if paths.len() == 1 { "does" } else { "do" }, paths.join(", "))]
    MalformedUnits {
        collection: String,
        paths: Vec<String>,
    },

    #[error("{0}")]
    Conflict(String),

    #[error("{collection}:{path} changed: the draft holds {}, the write expected {expected}; read it again and retry",
        current.as_deref().unwrap_or("no file"))]
    PreconditionFailed {
        collection: String,
        path: String,
        expected: String,
        current: Option<String>,
    },

    #[error(
        "the store at {dir} has schema version {found}, newer than this binary knows ({known}); \
         use a newer blockstore, or point --data-dir elsewhere"
    )]
    SchemaTooNew {
        dir: PathBuf,
        found: i64,
        known: i64,
    },

    #[error(
        "the index in {index} has schema version {found}, newer than this binary knows \
         ({known}); use a newer blockstore"
    )]
    IndexTooNew {
        index: String,
        found: i64,
        known: i64,
    },

    /// The PostgreSQL index answered with an error.
    #[error("index: {0}")]
    Index(String),

    #[error("blob {hash} is corrupt: its content hashes to {actual}")]
    CorruptBlob { hash: String, actual: String },

    #[error("blob {0} is missing from the blob store (run `blockstore fsck`)")]
    MissingBlob(String),

    #[error("interrupted")]
    Interrupted,

    /// A write failed because the disk holding the data dir `dir` is full;
    /// `needed` is what the write needed (at least), when known. Raised by the
    /// blob store and by importers that know more of the context; a bare
    /// `Io` or `Sqlite` error with `ENOSPC`/`SQLITE_FULL` is of the same
    /// [`ErrorKind::NoSpace`].
    #[error("{context}: the disk holding {} is full ({source}){}", dir.display(),
        needed.map(|n| format!("; it needed at least {}", human_bytes(n))).unwrap_or_default())]
    NoSpace {
        context: String,
        dir: PathBuf,
        needed: Option<u64>,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Busy(String),

    /// `what` (the object store, naming its bucket and endpoint) failed to
    /// answer or refused; `detail` says what was asked and what came back.
    #[error("{what} is unavailable: {detail}; check that it is running and reachable, and its credentials")]
    Unavailable { what: String, detail: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidPath { .. } | Error::InvalidSlug { .. } | Error::Invalid(_) => {
                ErrorKind::Invalid
            }
            Error::CollectionNotFound(_)
            | Error::FileNotFound { .. }
            | Error::VersionNotFound { .. }
            | Error::NotFound(_) => ErrorKind::NotFound,
            Error::CollectionExists(_)
            | Error::NothingToPublish { .. }
            | Error::MalformedUnits { .. }
            | Error::Conflict(_) => ErrorKind::Conflict,
            Error::PreconditionFailed { .. } => ErrorKind::PreconditionFailed,
            Error::SchemaTooNew { .. } | Error::IndexTooNew { .. } => ErrorKind::Incompatible,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::NoSpace { .. } => ErrorKind::NoSpace,
            Error::Io { source, .. } if is_no_space(source) => ErrorKind::NoSpace,
            Error::Sqlite(e) if sqlite_no_space(e) => ErrorKind::NoSpace,
            Error::Busy(_) => ErrorKind::Busy,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::CorruptBlob { .. }
            | Error::MissingBlob(_)
            | Error::Io { .. }
            | Error::Sqlite(_)
            | Error::Index(_)
            | Error::Json(_) => ErrorKind::Internal,
        }
    }

    /// What a write that failed for want of space needed (at least), when known.
    pub fn space_needed(&self) -> Option<u64> {
        match self {
            Error::NoSpace { needed, .. } => *needed,
            _ => None,
        }
    }

    /// For an [`Error::NoSpace`], raises what it says was needed to at least
    /// `n` (a caller that knows the whole size of what it was storing);
    /// other errors pass through.
    pub fn needing_at_least(self, n: u64) -> Error {
        match self {
            Error::NoSpace {
                context,
                dir,
                needed,
                source,
            } => Error::NoSpace {
                context,
                dir,
                needed: Some(needed.unwrap_or(0).max(n)),
                source,
            },
            other => other,
        }
    }

    /// A full disk's message says, around its own context, what was being
    /// done (`f` gets that context); other errors pass unchanged.
    pub fn in_context(self, f: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::NoSpace {
                context,
                dir,
                needed,
                source,
            } => Error::NoSpace {
                context: f(&context),
                dir,
                needed,
                source,
            },
            other => other,
        }
    }

    /// Wraps an I/O error with what was being done and to which file.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<super::db::sql::Error> for Error {
    fn from(e: super::db::sql::Error) -> Error {
        use super::db::sql::Error as E;
        match e {
            E::Sqlite(e) => Error::Sqlite(e),
            E::NoRows => Error::Sqlite(rusqlite::Error::QueryReturnedNoRows),
            E::Postgres { shown, source } if super::db::postgres::is_gone(&source) => {
                // No answer from the server: refused, timed out, or closed
                // (also by the server itself, shutting down).
                let detail = std::error::Error::source(&source)
                    .map_or_else(|| source.to_string(), |cause| format!("{source}: {cause}"));
                Error::Unavailable {
                    what: shown.to_string(),
                    detail,
                }
            }
            E::Reconnect { shown, detail } => Error::Unavailable {
                what: shown.to_string(),
                detail: format!("connecting again: {detail}"),
            },
            other => Error::Index(other.to_string()),
        }
    }
}

/// Whether an I/O error says the disk is full or the user's quota is spent
/// (`ENOSPC`, `EDQUOT`; Windows' disk-full codes), looking through errors
/// wrapped in errors (a reader adapter's `io::Error::other(io_error)`).
pub fn is_no_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    if matches!(e.kind(), K::StorageFull | K::QuotaExceeded) {
        return true;
    }
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        let errno = rustix::io::Errno::from_raw_os_error(code);
        if errno == rustix::io::Errno::NOSPC || errno == rustix::io::Errno::DQUOT {
            return true;
        }
    }
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .is_some_and(is_no_space)
}

/// Whether SQLite failed for want of space: `SQLITE_FULL` (a write to the
/// database or its WAL hit `ENOSPC`/`EDQUOT`), or `SQLITE_IOERR_SHMSIZE`:
/// growing the WAL index (`store.db-shm`, which SQLite allocates by writing
/// to it, so that a full disk fails there rather than with `SIGBUS` later)
/// failed, which on a healthy disk means it is full — this is how opening
/// a store on a full disk fails.
fn sqlite_no_space(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(failure, _) => {
            failure.code == rusqlite::ErrorCode::DiskFull
                || failure.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE
        }
        _ => false,
    }
}

/// `1 blob`, `2 blobs`: a count with its noun in the right number (every
/// noun the store and the CLI count takes `s`), for messages that say "(s)"
/// nowhere.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `12582912` → `12.0 MiB (12582912 bytes)`.
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} bytes");
    }
    format!("{} ({n} bytes)", short_bytes(n))
}

/// `12582912` → `12.0 MiB`; under 1 KiB, `512 bytes`.
pub fn short_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_and_spent_quotas_are_no_space_wherever_they_arise() {
        let enospc = || std::io::Error::from_raw_os_error(28);
        for e in [
            Error::io("writing", enospc()),
            Error::io("writing", std::io::Error::from_raw_os_error(122)),
            Error::io(
                "writing",
                std::io::Error::from(std::io::ErrorKind::StorageFull),
            ),
            // A reader adapter's wrapping keeps it recognisable.
            Error::io("writing", std::io::Error::other(enospc())),
            Error::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                None,
            )),
            Error::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_SHMSIZE),
                None,
            )),
        ] {
            assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
        }
        for e in [
            Error::io("reading", std::io::Error::from_raw_os_error(5)),
            Error::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_READ),
                None,
            )),
        ] {
            assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
        }
        let e = Error::NoSpace {
            context: "writing blob x".into(),
            dir: PathBuf::from("/data"),
            needed: Some(10),
            source: enospc(),
        }
        .needing_at_least(3 * 1024 * 1024);
        assert_eq!(e.space_needed(), Some(3 * 1024 * 1024));
        assert!(
            e.to_string()
                .contains("the disk holding /data is full (No space left on device"),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("it needed at least 3.0 MiB (3145728 bytes)"),
            "{e}"
        );
    }
}
