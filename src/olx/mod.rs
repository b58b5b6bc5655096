//! OLX as a format on top of the store: importing a course export, a library
//! export or any file tree as one collection, and exporting a collection state
//! back as that tree (a directory or a reproducible archive). Uses the store's public API only;
//! never the CLI (and later never the server).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod archive;
pub mod export;
pub mod import;
pub mod learning_core;
pub mod outline;
pub mod seed;

pub use archive::{import_archive, import_path, ArchiveFormat, ArchiveLimits, LimitOptions};
pub use export::{export, ExportFormat, ExportReport};
pub use import::{default_slug, import_dir, import_files, ImportOptions, ImportReport};
pub use outline::{outline, BrokenPointer, Outline, OutlineKind, OutlineNode};
