//! Resolution of extracted references against one collection state: a
//! `PathIndex` answers questions about its live files and `resolve` turns a
//! `Target` into resolved, broken, ambiguous or external. Studio's asset-name rule
//! (`asset_name_key`) lives here because only resolution needs it.

use std::collections::{HashMap, HashSet};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
///
/// Paths must exist exactly. A static name is tried as written first; only when
/// that misses is it matched by its asset-name key, where two files with one key
/// make the link ambiguous. Block url_names match `<type>/<url_name>.xml` of any
/// type. External targets are left to the caller, which knows the collections.
pub fn resolve(index: &dyn PathIndex, target: &Target) -> Resolution {
    match target {
        Target::Path { path } => {
            if index.exists(path) {
                Resolution::Resolved { path: path.clone() }
            } else {
                Resolution::Broken
            }
        }
        Target::AnyOf { paths } => paths
            .iter()
            .find(|p| index.exists(p))
            .map_or(Resolution::Broken, |p| Resolution::Resolved {
                path: p.clone(),
            }),
        Target::Static { name } => {
            let exact = format!("static/{name}");
            if index.exists(&exact) {
                Resolution::Resolved { path: exact }
            } else {
                from_candidates(index.static_by_key(&asset_name_key(name)))
            }
        }
        Target::UrlName { url_name } => from_candidates(index.by_url_name(url_name)),
        Target::External { collection, path } => Resolution::External {
            collection: collection.clone(),
            path: path.clone(),
        },
    }
}

/// One candidate resolves, several are ambiguous (listed sorted), none is broken.
fn from_candidates(mut paths: Vec<String>) -> Resolution {
    match paths.len() {
        0 => Resolution::Broken,
        1 => Resolution::Resolved {
            path: paths.swap_remove(0),
        },
        _ => {
            paths.sort();
            paths.dedup();
            if paths.len() == 1 {
                Resolution::Resolved {
                    path: paths.swap_remove(0),
                }
            } else {
                Resolution::Ambiguous { paths }
            }
        }
    }
}

/// An in-memory `PathIndex` built from a list of live paths.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    paths: HashSet<String>,
    /// `asset_name_key` of the part after `static/` -> paths.
    static_keys: HashMap<String, Vec<String>>,
    /// `name` of `<type>/<name>.xml` -> paths.
    url_names: HashMap<String, Vec<String>>,
}

impl MemoryIndex {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> MemoryIndex {
        let mut index = MemoryIndex::default();
        for path in paths {
            if !index.paths.insert(path.to_owned()) {
                continue;
            }
            if let Some(name) = path.strip_prefix("static/") {
                index
                    .static_keys
                    .entry(asset_name_key(name))
                    .or_default()
                    .push(path.to_owned());
            }
            // Block files are `<type>/<url_name>.xml`; assets are not blocks.
            if let Some((kind, file)) = path.split_once('/') {
                if let Some(name) = file.strip_suffix(".xml") {
                    let block = !kind.is_empty() && kind != "static";
                    if block && !name.is_empty() && !file.contains('/') {
                        index
                            .url_names
                            .entry(name.to_owned())
                            .or_default()
                            .push(path.to_owned());
                    }
                }
            }
        }
        for list in index
            .static_keys
            .values_mut()
            .chain(index.url_names.values_mut())
        {
            list.sort();
        }
        index
    }
}

impl PathIndex for MemoryIndex {
    fn exists(&self, path: &str) -> bool {
        self.paths.contains(path)
    }
    fn static_by_key(&self, key: &str) -> Vec<String> {
        self.static_keys.get(key).cloned().unwrap_or_default()
    }
    fn by_url_name(&self, url_name: &str) -> Vec<String> {
        self.url_names.get(url_name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::extract::{extract, Syntax};
    use super::*;

    fn asset(name: &str) -> Target {
        Target::Static {
            name: name.to_owned(),
        }
    }

    fn resolved(path: &str) -> Resolution {
        Resolution::Resolved {
            path: path.to_owned(),
        }
    }

    #[test]
    fn asset_name_key_turns_slashes_and_odd_characters_into_underscores() {
        assert_eq!(
            asset_name_key("images/Brain yellow (1).png"),
            "images_Brain_yellow__1_.png",
            "Studio's rule"
        );
        assert_eq!(
            asset_name_key("a-b_c.%20"),
            "a-b_c.%20",
            "allowed characters stay"
        );
    }

    #[test]
    fn a_path_resolves_only_when_it_exists() {
        let index = MemoryIndex::new(["vertical/a.xml"]);
        let hit = Target::Path {
            path: "vertical/a.xml".to_owned(),
        };
        let miss = Target::Path {
            path: "vertical/b.xml".to_owned(),
        };
        assert_eq!(resolve(&index, &hit), resolved("vertical/a.xml"), "exists");
        assert_eq!(resolve(&index, &miss), Resolution::Broken, "missing");
    }

    #[test]
    fn any_of_takes_the_first_existing_candidate() {
        let index = MemoryIndex::new(["problems/x.xml"]);
        let target = Target::AnyOf {
            paths: vec!["problem/x.xml".to_owned(), "problems/x.xml".to_owned()],
        };
        assert_eq!(
            resolve(&index, &target),
            resolved("problems/x.xml"),
            "plural folder"
        );
        let none = Target::AnyOf {
            paths: vec!["problem/y.xml".to_owned()],
        };
        assert_eq!(resolve(&index, &none), Resolution::Broken, "no candidate");
    }

    #[test]
    fn a_static_name_resolves_by_the_asset_name_rule_when_the_exact_path_misses() {
        let index = MemoryIndex::new(["static/Brain yellow.png", "static/x.png"]);
        assert_eq!(
            resolve(&index, &asset("Brain_yellow.png")),
            resolved("static/Brain yellow.png"),
            "underscore reference finds the file with a space"
        );
        assert_eq!(
            resolve(&index, &asset("x.png")),
            resolved("static/x.png"),
            "exact"
        );
        assert_eq!(
            resolve(&index, &asset("y.png")),
            Resolution::Broken,
            "missing"
        );
    }

    #[test]
    fn the_exact_path_wins_over_names_that_share_a_key() {
        let index = MemoryIndex::new(["static/a b.png", "static/a_b.png"]);
        assert_eq!(
            resolve(&index, &asset("a_b.png")),
            resolved("static/a_b.png"),
            "exact wins"
        );
        assert_eq!(
            resolve(&index, &asset("a b.png")),
            resolved("static/a b.png"),
            "exact wins"
        );
    }

    #[test]
    fn two_files_with_one_key_make_a_missing_name_ambiguous() {
        let index = MemoryIndex::new(["static/a b.png", "static/a(b.png", "static/c.png"]);
        // `/static/a%29b.png` decodes to `a)b.png`, which does not exist; its key
        // `a_b.png` is shared by both files.
        assert_eq!(
            resolve(&index, &asset("a)b.png")),
            Resolution::Ambiguous {
                paths: vec!["static/a b.png".to_owned(), "static/a(b.png".to_owned()]
            },
            "both candidates, sorted"
        );
    }

    #[test]
    fn a_url_name_resolves_to_the_block_of_any_type() {
        let index = MemoryIndex::new([
            "vertical/v1.xml",
            "html/h1.xml",
            "problem/h1.xml",
            "static/v2.xml",
            "drafts/vertical/v3.xml",
        ]);
        let name = |n: &str| Target::UrlName {
            url_name: n.to_owned(),
        };
        assert_eq!(
            resolve(&index, &name("v1")),
            resolved("vertical/v1.xml"),
            "one block"
        );
        assert_eq!(
            resolve(&index, &name("h1")),
            Resolution::Ambiguous {
                paths: vec!["html/h1.xml".to_owned(), "problem/h1.xml".to_owned()]
            },
            "two blocks"
        );
        assert_eq!(
            resolve(&index, &name("v2")),
            Resolution::Broken,
            "assets are not blocks"
        );
        assert_eq!(
            resolve(&index, &name("v3")),
            Resolution::Broken,
            "only depth two"
        );
    }

    #[test]
    fn external_targets_are_left_to_the_caller() {
        let index = MemoryIndex::new([]);
        let target = Target::External {
            collection: "library-v1:O+L".to_owned(),
            path: None,
        };
        assert_eq!(
            resolve(&index, &target),
            Resolution::External {
                collection: "library-v1:O+L".to_owned(),
                path: None
            },
            "passed through"
        );
    }

    #[test]
    fn an_extracted_percent_encoded_reference_resolves_ambiguously_end_to_end() {
        let ex = extract(
            "html/x.html",
            b"<img src=\"/static/a%29b.png\">",
            Syntax::Html,
        );
        let index = MemoryIndex::new(["static/a b.png", "static/a(b.png"]);
        assert_eq!(ex.links.len(), 1, "one link: {:?}", ex.links);
        assert!(
            matches!(
                resolve(&index, &ex.links[0].target),
                Resolution::Ambiguous { .. }
            ),
            "ambiguous: {:?}",
            resolve(&index, &ex.links[0].target)
        );
    }
}
