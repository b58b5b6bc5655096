//! OLX as a format on top of the store: importing a course export, a library
//! export or any file tree as one collection. Uses the store's public API only;
//! never the CLI (and later never the server).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod import;

pub use import::{default_slug, import_dir, ImportOptions, ImportReport};
