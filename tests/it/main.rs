//! The one integration test binary (one link step on a 2-core CI). Each module
//! drives one layer through its public surface: the library, the real binary,
//! the demo fixture, crash safety, and the architecture's invariants.

mod common;

mod architecture;
mod archive;
mod blobs;
mod browser;
mod campaign;
mod cli;
mod cli_diff;
mod crash;
mod demo;
mod dump;
mod export;
mod full_disk;
mod garage;
mod hostile;
mod learning_core;
mod links;
mod migrate;
mod named;
mod names;
mod objects;
mod olx_rules;
mod outline;
mod postgres;
mod seed;
mod server;
mod shared;
mod store;
mod sync;
mod ui;
mod v1;
