//! Resolution of extracted references against a collection state.
//!
//! INTERFACE CONTRACT: a `PathIndex` answers questions about the live files of one
//! collection state; `resolve` turns a `Target` into a `Resolution`. Studio's
//! asset-name rule lives here (`asset_name_key`).

use super::extract::Target;
use serde::Serialize;

/// The live files of one collection state (a published version or the draft).
pub trait PathIndex {
    /// Whether a live file has exactly this path.
    fn exists(&self, path: &str) -> bool;
    /// Paths of live files under `static/` whose `asset_name_key` of the part after
    /// `static/` equals `key`.
    fn static_by_key(&self, key: &str) -> Vec<String>;
    /// Paths of live block files named `<type>/<url_name>.xml` (any type, at depth
    /// two) for this url_name.
    fn by_url_name(&self, url_name: &str) -> Vec<String>;
}

/// What a reference resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Resolution {
    Resolved {
        path: String,
    },
    Broken,
    Ambiguous {
        paths: Vec<String>,
    },
    /// Names another collection; resolved by the caller, which knows collections.
    External {
        collection: String,
        path: Option<String>,
    },
}

/// Studio's asset-name rule: `/` and every character outside `[A-Za-z0-9_.%-]`
/// become `_`.
pub fn asset_name_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '%' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Resolves one target.
pub fn resolve(index: &dyn PathIndex, target: &Target) -> Resolution {
    let _ = (index, target);
    Resolution::Broken
}

/// An in-memory `PathIndex` built from a list of live paths.
#[derive(Debug, Default)]
pub struct MemoryIndex {}

impl MemoryIndex {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> MemoryIndex {
        let _ = paths.into_iter().count();
        MemoryIndex {}
    }
}

impl PathIndex for MemoryIndex {
    fn exists(&self, _path: &str) -> bool {
        false
    }
    fn static_by_key(&self, _key: &str) -> Vec<String> {
        Vec::new()
    }
    fn by_url_name(&self, _url_name: &str) -> Vec<String> {
        Vec::new()
    }
}
