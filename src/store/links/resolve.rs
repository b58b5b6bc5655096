//! Resolution of extracted references against one collection state: a
//! `PathIndex` answers questions about its live files, a `Context` adds this
//! course's key and the rest of the store, and `resolve` turns a `Target`
//! written in a file into resolved, broken, ambiguous, another collection, an
//! external URL or one of edx-platform's own files. The rules themselves live
//! in the sibling modules named after OLX-RULES.md's sections.

use foldhash::HashMap;
use std::cell::OnceCell;

use super::course::CourseKey;
use super::extract::Target;
use super::statics::{asset_name_key, is_platform};
use super::{bodies, drafts, jumps, pointers};
use serde::Serialize;

/// The live files of one collection state (a published version or the draft).
pub trait PathIndex {
    /// Whether a live file has exactly this path.
    fn exists(&self, path: &str) -> bool;
    /// Paths of live files under `static/` whose `asset_name_key` of the part after
    /// `static/` equals `key`.
    fn static_by_key(&self, key: &str) -> Vec<String>;
    /// The files defining a block of any type with this url_name: block files
    /// named `<type>/<url_name>.xml` (at depth two, not drafts) and files
    /// defining it inline.
    fn by_url_name(&self, url_name: &str) -> Vec<String>;
    /// The file defining the block of this type and url_name: its own
    /// (`TYPE/URL_NAME.xml`, every `:` a folder) or one defining it inline.
    fn block(&self, block_type: &str, url_name: &str) -> Option<String> {
        let own = pointers::pointer_path(block_type, url_name);
        if self.exists(&own) {
            return Some(own);
        }
        self.inline(block_type, url_name)
    }
    /// The first file (by path) defining this block inline.
    fn inline(&self, block_type: &str, url_name: &str) -> Option<String>;
}

/// What resolution asks of the rest of the store.
pub trait Elsewhere {
    /// The collection (slug) whose `library.xml` declares this org and library.
    fn library(&self, org: &str, library: &str) -> Option<String>;
    /// The collection (slug) an alias names (`source="alias"`), if any.
    fn collection(&self, alias: &str) -> Option<String>;
}

/// A store with no other collections.
pub struct Nowhere;

impl Elsewhere for Nowhere {
    fn library(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn collection(&self, _: &str) -> Option<String> {
        None
    }
}

/// Everything a target is resolved against.
pub struct Context<'a> {
    pub index: &'a dyn PathIndex,
    /// This course's key (from `course.xml`); `None` for a library or a tree,
    /// whose every course-keyed asset URL is then external.
    pub course: Option<&'a CourseKey>,
    pub elsewhere: &'a dyn Elsewhere,
}

/// What a reference resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Resolution {
    /// A live file of this state.
    Resolved { path: String },
    /// Nothing it names exists: `missing` lists the files looked for (every
    /// candidate, or the missing half of a courseware link); empty for a
    /// block url_name, a library or a collection that is not there.
    Broken { missing: Vec<String> },
    /// Several files answer to the name (an asset name shared by two files, a
    /// url_name of two blocks): edx-platform takes one of them.
    Ambiguous { paths: Vec<String> },
    /// Content of another collection of this store (a library, an alias).
    Collection {
        collection: String,
        path: Option<String>,
    },
    /// Outside the course: an absolute URL, another course's asset. Never
    /// broken, listed apart so an author can review it.
    External,
    /// One of edx-platform's own static files (`statics::PLATFORM_FILES`):
    /// neither broken nor a link to the course's files.
    Platform,
}

impl Resolution {
    /// The course files it reaches (one, or the candidates of an ambiguity).
    pub fn paths(&self) -> &[String] {
        match self {
            Resolution::Resolved { path } => std::slice::from_ref(path),
            Resolution::Ambiguous { paths } => paths,
            _ => &[],
        }
    }
}

/// Resolves one target written in the file at `source` (a collection path).
pub fn resolve(cx: &Context<'_>, source: &str, target: &Target) -> Resolution {
    let index = cx.index;
    let root = drafts::root_of(source);
    let first_of = |paths: Vec<String>| match paths.iter().position(|p| index.exists(p)) {
        Some(i) => Resolution::Resolved {
            path: paths.into_iter().nth(i).unwrap_or_default(),
        },
        None => Resolution::Broken { missing: paths },
    };
    // Most links are pointers in the course root: one allocation for them.
    let in_root = |path: &str| {
        if root.is_empty() {
            path.to_owned()
        } else {
            format!("{root}{path}")
        }
    };
    match target {
        Target::Path { path } => {
            let path = in_root(path);
            if index.exists(&path) {
                Resolution::Resolved { path }
            } else {
                Resolution::Broken {
                    missing: vec![path],
                }
            }
        }
        Target::AnyOf { paths } => first_of(paths.iter().map(|p| in_root(p)).collect()),
        Target::Body { filename, url_name } => {
            let in_root = &source[root.len()..];
            let base = bodies::base(url_name.as_deref(), in_root);
            first_of(
                bodies::candidates(&base, filename)
                    .into_iter()
                    .map(|p| format!("{root}{p}"))
                    .collect(),
            )
        }
        Target::Static { name } => {
            // A bundle block serves `/static/` from its own folder first.
            if let Some(own) = bundle_static(source, name) {
                if index.exists(&own) {
                    return Resolution::Resolved { path: own };
                }
            }
            resolve_static(index, name)
        }
        Target::CourseAsset {
            org,
            course,
            run,
            name,
        } => match cx.course {
            Some(key)
                if key.org == *org
                    && key.course == *course
                    && run.as_ref().is_none_or(|r| *r == key.run) =>
            {
                resolve_static(index, name)
            }
            _ => Resolution::External,
        },
        Target::UrlName { url_name } => from_candidates(index.by_url_name(url_name), Vec::new()),
        Target::Courseware {
            chapter,
            sequential,
        } => {
            let chapter_file = index.block("chapter", chapter);
            let sequential_file = sequential.as_deref().map(|s| index.block("sequential", s));
            let paths = jumps::courseware_paths(chapter, sequential.as_deref());
            let mut missing = Vec::new();
            if chapter_file.is_none() {
                missing.push(paths[0].clone());
            }
            if let Some(None) = sequential_file {
                missing.extend(paths.get(1).cloned());
            }
            match (
                missing.is_empty(),
                sequential_file.flatten().or(chapter_file),
            ) {
                (true, Some(path)) => Resolution::Resolved { path },
                _ => Resolution::Broken { missing },
            }
        }
        Target::Block {
            block_type,
            url_name,
        } => {
            let path = pointers::pointer_path(block_type, url_name);
            let draft = format!("{}{path}", drafts::FOLDER);
            if index.exists(&path) {
                Resolution::Resolved { path }
            } else if index.exists(&draft) {
                Resolution::Resolved { path: draft }
            } else {
                Resolution::Broken {
                    missing: vec![path],
                }
            }
        }
        Target::Library { org, library } => match cx.elsewhere.library(org, library) {
            Some(collection) => Resolution::Collection {
                collection,
                path: Some("library.xml".to_owned()),
            },
            None => Resolution::Broken {
                missing: Vec::new(),
            },
        },
        Target::Collection { collection, path } => match cx.elsewhere.collection(collection) {
            Some(collection) => Resolution::Collection {
                collection,
                path: path.clone(),
            },
            None => Resolution::Broken {
                missing: Vec::new(),
            },
        },
        Target::Url { .. } => Resolution::External,
    }
}

/// Where a bundle block's own copy of `/static/NAME` lives (see
/// [`super::bundle_folder`]); `None` for any other file.
fn bundle_static(source: &str, name: &str) -> Option<String> {
    let folder = super::bundle_folder(source)?;
    if name.is_empty() || is_platform(name) {
        return None;
    }
    Some(format!("{folder}static/{name}"))
}

/// A `/static/` name: edx-platform's own files first, then the file of that
/// path, then the files whose asset name (`asset_name_key`) matches.
fn resolve_static(index: &dyn PathIndex, name: &str) -> Resolution {
    if is_platform(name) {
        return Resolution::Platform;
    }
    let exact = format!("static/{name}");
    if index.exists(&exact) {
        Resolution::Resolved { path: exact }
    } else {
        from_candidates(index.static_by_key(&asset_name_key(name)), vec![exact])
    }
}

/// One candidate resolves, several are ambiguous (listed sorted), none is broken.
fn from_candidates(mut paths: Vec<String>, missing: Vec<String>) -> Resolution {
    paths.sort();
    paths.dedup();
    match paths.len() {
        0 => Resolution::Broken { missing },
        1 => Resolution::Resolved {
            path: paths.swap_remove(0),
        },
        _ => Resolution::Ambiguous { paths },
    }
}

/// An in-memory `PathIndex` built from a list of live paths: owning them
/// (`MemoryIndex::new`), or borrowing them (`MemoryIndex::borrowing`) from a
/// caller that holds them anyway, such as the link report over a state's
/// 100,000s of files, where copying and freeing each path cost more than
/// resolving every link. The asset-name and url_name maps are built on first
/// use: most states' links ask only whether a path exists.
#[derive(Debug)]
pub struct MemoryIndex<P = String> {
    /// Each path, with its position in the list the index was built from.
    paths: HashMap<P, usize>,
    /// `asset_name_key` of the part after `static/` -> paths.
    static_keys: OnceCell<HashMap<String, Vec<P>>>,
    /// The `<type>` folders of block files `<type>/<name>.xml`, sorted: a
    /// url_name's files are found by asking each (there are a few types,
    /// and 100,000s of block files).
    block_types: Vec<P>,
    /// url_name -> (block type, defining file) of blocks defined inline.
    inline: HashMap<String, Vec<(String, String)>>,
}

/// A path a [`MemoryIndex`] holds: owned, or borrowed for as long as the index.
pub trait IndexPath: std::borrow::Borrow<str> + std::hash::Hash + Eq + Ord + Clone {
    /// The part `range` of this path, as the same kind of path.
    fn part(&self, range: std::ops::Range<usize>) -> Self;
}

impl IndexPath for String {
    fn part(&self, range: std::ops::Range<usize>) -> String {
        self[range].to_owned()
    }
}

impl IndexPath for &str {
    fn part(&self, range: std::ops::Range<usize>) -> Self {
        &self[range]
    }
}

impl Default for MemoryIndex {
    fn default() -> MemoryIndex {
        MemoryIndex::new([])
    }
}

impl MemoryIndex {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> MemoryIndex {
        MemoryIndex::build(paths.into_iter().map(str::to_owned))
    }
}

impl<'a> MemoryIndex<&'a str> {
    /// An index whose paths are borrowed from the caller's.
    pub fn borrowing(paths: impl IntoIterator<Item = &'a str>) -> MemoryIndex<&'a str> {
        MemoryIndex::build(paths)
    }
}

impl<P: IndexPath> MemoryIndex<P> {
    fn build(paths: impl IntoIterator<Item = P>) -> Self {
        let paths = paths.into_iter();
        let mut index = MemoryIndex {
            paths: HashMap::with_capacity_and_hasher(paths.size_hint().0, Default::default()),
            static_keys: OnceCell::new(),
            block_types: Vec::new(),
            inline: HashMap::default(),
        };
        let mut block_types: std::collections::HashSet<P, foldhash::fast::RandomState> =
            Default::default();
        for (i, path) in paths.enumerate() {
            if let Some(block_type) = block_type_of(path.borrow()) {
                if !block_types.contains(block_type) {
                    block_types.insert(path.part(0..block_type.len()));
                }
            }
            // The first of duplicates keeps its position.
            index.paths.entry(path).or_insert(i);
        }
        index.block_types = block_types.into_iter().collect();
        index.block_types.sort();
        index
    }

    /// Where `path` was in the list the index was built from (the first
    /// place, for a path listed twice).
    pub fn position(&self, path: &str) -> Option<usize> {
        self.paths.get(path).copied()
    }

    fn static_keys(&self) -> &HashMap<String, Vec<P>> {
        self.static_keys.get_or_init(|| {
            let mut keys: HashMap<String, Vec<P>> = HashMap::default();
            for path in self.paths.keys() {
                if let Some(name) = path.borrow().strip_prefix("static/") {
                    keys.entry(asset_name_key(name))
                        .or_default()
                        .push(path.clone());
                }
            }
            keys.values_mut().for_each(|list| list.sort());
            keys
        })
    }

    /// Records the blocks a live file (not under `drafts/`) defines inline.
    pub fn add_inline(&mut self, path: &str, blocks: &[super::extract::InlineBlock]) {
        if path.starts_with(drafts::FOLDER) {
            return;
        }
        for block in blocks {
            let list = self.inline.entry(block.url_name.clone()).or_default();
            let entry = (block.block_type.clone(), path.to_owned());
            if !list.contains(&entry) {
                list.push(entry);
                list.sort_by(|a, b| a.1.cmp(&b.1));
            }
        }
    }
}

/// The type of a block file `<type>/<name>.xml` (`name` not empty, no
/// deeper folder; assets and drafts are not block files).
fn block_type_of(path: &str) -> Option<&str> {
    let (kind, file) = path.split_once('/')?;
    let name = file.strip_suffix(".xml")?;
    let block = !kind.is_empty() && kind != "static" && kind != "drafts";
    (block && !name.is_empty() && !file.contains('/')).then_some(kind)
}

impl<P: IndexPath> PathIndex for MemoryIndex<P> {
    fn exists(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }
    fn static_by_key(&self, key: &str) -> Vec<String> {
        self.static_keys()
            .get(key)
            .into_iter()
            .flatten()
            .map(|p| p.borrow().to_owned())
            .collect()
    }
    fn by_url_name(&self, url_name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if !url_name.is_empty() && !url_name.contains('/') {
            for block_type in &self.block_types {
                let path = format!("{}/{url_name}.xml", block_type.borrow());
                if self.exists(&path) {
                    out.push(path);
                }
            }
            out.sort();
        }
        out.extend(
            self.inline
                .get(url_name)
                .into_iter()
                .flatten()
                .map(|(_, path)| path.clone()),
        );
        out
    }
    fn inline(&self, block_type: &str, url_name: &str) -> Option<String> {
        self.inline
            .get(url_name)?
            .iter()
            .find(|(t, _)| t == block_type)
            .map(|(_, path)| path.clone())
    }
}

#[cfg(test)]
mod tests {
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

    fn broken(missing: &[&str]) -> Resolution {
        Resolution::Broken {
            missing: missing.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    fn at(index: &MemoryIndex, source: &str, target: &Target) -> Resolution {
        let cx = Context {
            index,
            course: None,
            elsewhere: &Nowhere,
        };
        resolve(&cx, source, target)
    }

    #[test]
    fn a_path_resolves_under_the_files_root() {
        let index = MemoryIndex::new(["html/x.xml", "drafts/html/y.xml"]);
        let x = Target::Path {
            path: "html/x.xml".to_owned(),
        };
        let y = Target::Path {
            path: "html/y.xml".to_owned(),
        };
        assert_eq!(
            at(&index, "vertical/v.xml", &x),
            resolved("html/x.xml"),
            "course root"
        );
        assert_eq!(
            at(&index, "drafts/vertical/v.xml", &x),
            broken(&["drafts/html/x.xml"]),
            "a draft's pointer never falls back to the course"
        );
        assert_eq!(
            at(&index, "drafts/vertical/v.xml", &y),
            resolved("drafts/html/y.xml"),
            "drafts root"
        );
    }

    #[test]
    fn a_bundle_block_serves_static_from_its_own_folder_first() {
        let index = MemoryIndex::new([
            "problem/p/definition.xml",
            "problem/p/static/fig.png",
            "static/fig.png",
            "static/logo.png",
            "html/h/definition.xml",
        ]);
        assert_eq!(
            at(&index, "problem/p/definition.xml", &asset("fig.png")),
            resolved("problem/p/static/fig.png"),
            "its own copy"
        );
        assert_eq!(
            at(&index, "html/h/definition.xml", &asset("fig.png")),
            resolved("static/fig.png"),
            "another block's copy is not its own: the collection's"
        );
        assert_eq!(
            at(&index, "problem/p/definition.xml", &asset("logo.png")),
            resolved("static/logo.png"),
            "none of its own: the collection's"
        );
        assert_eq!(
            at(&index, "vertical/v.xml", &asset("fig.png")),
            resolved("static/fig.png"),
            "an OLX file is no bundle block"
        );
        assert_eq!(
            at(&index, "definition.xml", &asset("fig.png")),
            resolved("static/fig.png"),
            "nor a top-level definition.xml"
        );
    }

    #[test]
    fn any_of_takes_the_first_existing_candidate() {
        let index = MemoryIndex::new(["q.xml"]);
        let target = Target::AnyOf {
            paths: vec![
                "problem/q.xml".to_owned(),
                "problems/q.xml".to_owned(),
                "q.xml".to_owned(),
            ],
        };
        assert_eq!(
            at(&index, "sequential/s.xml", &target),
            resolved("q.xml"),
            "third candidate"
        );
    }

    #[test]
    fn an_html_body_is_found_after_dropping_folders() {
        let index = MemoryIndex::new(["x/intro.html"]);
        let target = Target::Body {
            filename: "problems/x/intro".to_owned(),
            url_name: None,
        };
        assert_eq!(
            at(&index, "html/h.xml", &target),
            resolved("x/intro.html"),
            "two folders dropped"
        );
    }

    #[test]
    fn a_static_name_resolves_by_path_then_by_the_asset_name_rule() {
        let index = MemoryIndex::new([
            "static/Brain yellow.png",
            "static/x.png",
            "static/a b.png",
            "static/a(b.png",
        ]);
        let index_ref = &index;
        let s = |n: &str| at(index_ref, "html/h.html", &asset(n));
        assert_eq!(
            s("Brain_yellow.png"),
            resolved("static/Brain yellow.png"),
            "by asset name"
        );
        assert_eq!(s("x.png"), resolved("static/x.png"), "exact");
        assert_eq!(s("y.png"), broken(&["static/y.png"]), "missing");
        assert_eq!(
            s("a b.png"),
            resolved("static/a b.png"),
            "exact wins over a shared key"
        );
        assert_eq!(
            s("a)b.png"),
            Resolution::Ambiguous {
                paths: vec!["static/a b.png".to_owned(), "static/a(b.png".to_owned()]
            },
            "two files with one key"
        );
        assert_eq!(
            s("images/placeholder-image.png"),
            Resolution::Platform,
            "edx-platform's own file"
        );
    }

    #[test]
    fn a_course_asset_is_this_courses_only_with_this_courses_key() {
        let index = MemoryIndex::new(["static/a.png"]);
        let key = CourseKey {
            org: "O".to_owned(),
            course: "C".to_owned(),
            run: "R".to_owned(),
        };
        let cx = Context {
            index: &index,
            course: Some(&key),
            elsewhere: &Nowhere,
        };
        let target = |org: &str, run: Option<&str>| Target::CourseAsset {
            org: org.to_owned(),
            course: "C".to_owned(),
            run: run.map(str::to_owned),
            name: "a.png".to_owned(),
        };
        assert_eq!(
            resolve(&cx, "h.html", &target("O", None)),
            resolved("static/a.png"),
            "c4x"
        );
        assert_eq!(
            resolve(&cx, "h.html", &target("O", Some("R"))),
            resolved("static/a.png"),
            "asset-v1"
        );
        assert_eq!(
            resolve(&cx, "h.html", &target("O", Some("R2"))),
            Resolution::External,
            "another run"
        );
        assert_eq!(
            resolve(&cx, "h.html", &target("edX", None)),
            Resolution::External,
            "another org"
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
            at(&index, "h.html", &name("v1")),
            resolved("vertical/v1.xml"),
            "one block"
        );
        assert_eq!(
            at(&index, "h.html", &name("h1")),
            Resolution::Ambiguous {
                paths: vec!["html/h1.xml".to_owned(), "problem/h1.xml".to_owned()]
            },
            "two blocks"
        );
        assert_eq!(
            at(&index, "h.html", &name("v2")),
            broken(&[]),
            "assets are not blocks"
        );
        assert_eq!(
            at(&index, "h.html", &name("v3")),
            broken(&[]),
            "only depth two"
        );
    }

    #[test]
    fn a_courseware_link_says_which_half_is_missing() {
        let index = MemoryIndex::new(["chapter/c.xml", "sequential/s.xml"]);
        let link = |c: &str, s: &str| Target::Courseware {
            chapter: c.to_owned(),
            sequential: Some(s.to_owned()),
        };
        assert_eq!(
            at(&index, "h.html", &link("c", "s")),
            resolved("sequential/s.xml"),
            "both"
        );
        assert_eq!(
            at(&index, "h.html", &link("c", "t")),
            broken(&["sequential/t.xml"]),
            "sequential"
        );
        assert_eq!(
            at(&index, "h.html", &link("d", "s")),
            broken(&["chapter/d.xml"]),
            "chapter"
        );
    }

    #[test]
    fn libraries_and_aliases_ask_the_store() {
        struct One;
        impl Elsewhere for One {
            fn library(&self, org: &str, library: &str) -> Option<String> {
                (org == "O" && library == "L").then(|| "o-l".to_owned())
            }
            fn collection(&self, _: &str) -> Option<String> {
                None
            }
        }
        let index = MemoryIndex::new([]);
        let cx = Context {
            index: &index,
            course: None,
            elsewhere: &One,
        };
        let lib = |l: &str| Target::Library {
            org: "O".to_owned(),
            library: l.to_owned(),
        };
        assert_eq!(
            resolve(&cx, "library_content/x.xml", &lib("L")),
            Resolution::Collection {
                collection: "o-l".to_owned(),
                path: Some("library.xml".to_owned())
            },
            "the collection holding it"
        );
        assert_eq!(
            resolve(&cx, "x.xml", &lib("M")),
            broken(&[]),
            "no such library"
        );
        let url = Target::Url {
            url: "https://x".to_owned(),
        };
        assert_eq!(
            resolve(&cx, "x.xml", &url),
            Resolution::External,
            "URLs are external"
        );
    }
}
