//! Links between linkables: what a unit's content refers to, and what those
//! references resolve to in a collection state.
//!
//! Extraction (`extract`) is a pure function of a file's bytes and syntax, so its
//! results are stored once per content hash. Resolution (`resolve`) depends on the
//! collection state being looked at (a published version or the draft) and is done
//! at read time against a [`PathIndex`]. Neither part can fail: problems are data.

pub mod extract;
pub mod resolve;

pub use extract::{extract, Extracted, LinkKind, ParseProblem, RawLink, Syntax, Target};
pub use resolve::{asset_name_key, MemoryIndex, PathIndex, Resolution};
