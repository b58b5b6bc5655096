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
    /// The store's lock stayed taken (a gc, or writers a gc waits for) longer
    /// than the lock timeout; try again later.
    Busy,
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

    #[error("{collection}: strict publish refused: {} unit(s) do not parse: {}", paths.len(), paths.join(", "))]
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

    #[error("blob {hash} is corrupt: its content hashes to {actual}")]
    CorruptBlob { hash: String, actual: String },

    #[error("blob {0} is missing from the blob store (run `blockstore fsck`)")]
    MissingBlob(String),

    #[error("interrupted")]
    Interrupted,

    #[error("{0}")]
    Busy(String),

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
            Error::SchemaTooNew { .. } => ErrorKind::Incompatible,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::Busy(_) => ErrorKind::Busy,
            Error::CorruptBlob { .. }
            | Error::MissingBlob(_)
            | Error::Io { .. }
            | Error::Sqlite(_)
            | Error::Json(_) => ErrorKind::Internal,
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
