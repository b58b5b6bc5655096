//! Links between linkables: what a unit's content refers to, and what those
//! references resolve to in a collection state, following the rules
//! edx-platform's importer and LMS follow (`../shared/OLX-RULES.md`).
//!
//! Extraction (`extract`) is a pure function of a file's bytes and syntax, so its
//! results are stored once per content hash. Resolution (`resolve`) depends on
//! the file's place and on the collection state being looked at (a published
//! version or the draft, this course's key, the libraries in the store) and is
//! done at read time. Neither part can fail: problems are data.
//!
//! Each rule has one home: `pointers` (which file a pointer names), `bodies`
//! (html bodies), `drafts`, `course` (course-level files, policies, the
//! course's key), `statics` (quoted strings, platform files, asset names and
//! spellings, absolute URLs), `jumps` (jump and courseware links) and
//! `libraries`. What edx-platform loads at all is decided by the link report
//! (`store::linkq`) from these links.

/// The version of the extraction rules. Stored links made by older rules are
/// extracted again when a store is opened (`scan::rescan_links`); bump it
/// whenever `extract` would give other links (or root blocks) for the same
/// bytes. 2: the root block's type and display name are recorded.
pub const RULES_VERSION: i64 = 2;

pub mod bodies;
pub mod course;
pub mod drafts;
pub mod extract;
pub mod jumps;
pub mod libraries;
pub mod pointers;
pub mod resolve;
pub mod statics;

/// The folder (`TYPE/ID/`) of a bundle block's definition, when `path` is
/// one (`TYPE/ID/definition.xml`: Blockstore's bundle convention, which
/// Learning Core packages are imported as). Such a block owns the files
/// under its folder and serves `/static/NAME` from `TYPE/ID/static/NAME`
/// first, as Blockstore's and Learning Core's runtimes do.
pub fn bundle_folder(path: &str) -> Option<&str> {
    let folder = path.strip_suffix("definition.xml")?;
    let mut parts = folder.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(ty), Some(id), Some(""), None) if !ty.is_empty() && !id.is_empty() => Some(folder),
        _ => None,
    }
}

/// The `/static/` name a bundle block's own file answers to:
/// `TYPE/ID/static/NAME` → `NAME`.
pub fn bundle_static_name(path: &str) -> Option<&str> {
    let mut parts = path.splitn(4, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(ty), Some(id), Some("static"), Some(name))
            if !ty.is_empty() && !id.is_empty() && !name.is_empty() && ty != "drafts" =>
        {
            Some(name)
        }
        _ => None,
    }
}

pub use course::CourseKey;
pub use extract::{
    extract, Extracted, InlineBlock, LinkKind, ParseProblem, RawLink, RootBlock, Syntax, Target,
};
pub use resolve::{Context, Elsewhere, IndexPath, MemoryIndex, Nowhere, PathIndex, Resolution};
pub use statics::asset_name_key;
