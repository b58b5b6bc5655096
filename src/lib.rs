//! Blockstore appliance: a local, versioned content store for Open edX OLX.
//!
//! A library first: [`store::Store`] is the model (collections, units, assets,
//! versions, drafts, publish, links, gc) on SQLite and a content-addressed blob
//! store; [`olx`] reads and writes OLX trees through it; [`cli`] is a thin
//! command-line layer. Later layers (REST server, folder sync, desktop shell)
//! call the same library.

/// The model: SQLite index, blob store, drafts, publish, history, links, gc, fsck.
pub mod store;

/// OLX as a format on top of the store: importing export trees.
pub mod olx;

/// Folder ↔ collection sync on `notify`: a draft kept as a plain folder.
pub mod sync;

/// The local REST endpoint (axum), a thin layer over the library.
pub mod server;

/// The `blockstore` command line, a thin layer over the library.
pub mod cli;

pub use store::{Error, Result, Store};

/// The data dir used when none is given (no `--data-dir`, no
/// `BLOCKSTORE_DATA_DIR`): the platform's data dir from `directories`,
/// `~/.local/share/blockstore` on Linux. One rule, so the CLI and the desktop
/// shell open the same store by default.
pub fn default_data_dir() -> Result<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", "blockstore")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| {
            Error::Invalid("no home directory to put the data dir in; pass --data-dir DIR".into())
        })
}

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
