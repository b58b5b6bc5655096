//! The outline of a collection state: the course → chapter → sequential →
//! vertical → block tree an author thinks in, rebuilt from the OLX files.
//!
//! The store keeps files and the links between them; it does not know that a
//! course is a tree. Studio shows that tree, and an author comparing versions or
//! hunting a lost unit needs it too, so this module reads it back from the
//! files: child pointers (`<chapter url_name="x"/>` → `chapter/x.xml`), legacy
//! `filename=` pointers (`problem/…`, `problems/…` or the root for capa),
//! drafts (`drafts/…`), Blockstore-style includes
//! (`<xblock-include definition="html/h1"/>` → `html/h1/definition.xml`) and
//! inline definitions (an element with its own attributes or content inside its
//! parent's file, such as a pure XBlock `<done url_name=… xblock-family=…/>` or
//! a hand-written course nested in one file). Display names come from the OLX.
//!
//! It follows edx-platform's import rules (`shared/OLX-RULES.md`) with the
//! very functions link extraction and resolution use, which live in
//! `store::links` (`pointers`: `CONTAINERS`, `LEAVES`, `NOT_POINTERS`,
//! `is_pointer_attrs`, `pointer_path`, `legacy_candidates`; `drafts`:
//! `root_of`, `is_draft_root_text`, `parse_block_url`, `is_skipped`), so the
//! outline, the `child` links and the link report agree:
//!
//! - **Pointers.** Only in pointer position (a file's root, or directly inside
//!   a structural block; inside a leaf such as capa markup nothing is a block),
//!   an element is a pointer when it has exactly the pointer attributes
//!   (`url_name`; for `course` `url_name`, `org` and `course`), no child
//!   element, no comment and blank text; a pure XBlock (`xblock-family`) never
//!   is. A `filename=` names the element's file whatever it holds: for `html`
//!   its body (no node of its own), for any other type the first existing of
//!   `legacy_candidates` (capa: `problem/F.xml`, `problems/F.xml`, `F.xml`).
//! - **Type.** A block's type is the tag of the pointer that led to its file,
//!   not the file's root element (which names only blocks no pointer reaches).
//! - **Drafts.** Every pointer in a file under `drafts/` resolves under
//!   `drafts/`, never in the course. A draft root (a file under `drafts/`
//!   whose text holds `index_in_children_list`) hangs under the block its
//!   `parent_url` names, at that index, in place of its published copy if the
//!   parent has one; it and everything under it is marked `draft`. A draft
//!   root whose parent is not in the tree, and a draft file nothing reaches,
//!   are orphans.
//!
//! A course (`course.xml`) and a library (`library.xml`) have one root; the
//! block files nothing reaches from it are listed as orphans, each with its own
//! subtree. A bundle (`{type}/{id}/definition.xml`) or any other tree has no
//! root file: its roots are the block files no other block file includes.
//!
//! An outline reads and parses every block file, which is most of its cost:
//! it reads them before the walk (`Walk::prefetch`, the same reads and
//! parses, so the same answer), each share's blobs in one read transaction
//! and a large outline's shares on the machine's cores (75,632 block files:
//! about 0.38 s cold, BENCHMARKS.md), and frees them on a thread of its own
//! once built.
//!
//! The outline never fails because of content: a file that does not parse keeps
//! what was read before the problem and says why in `error`, a pointer to a
//! missing file is a `missing` node (and listed in `broken`), a block that is
//! already being expanded on the current path is shown once more with `cycle`
//! set and not expanded again, and depth, node count and file size are bounded
//! (`truncated` says when a bound was hit).

use crate::store::links::pointers::{self, CONTAINERS, LEAVES, NOT_POINTERS};
use crate::store::links::{drafts, LinkKind, Target};
use crate::store::path::MAX_NAME_BYTES;
use crate::store::{classify_path, At, Content, Result, Store};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::Serialize;
// A fast hasher: an outline looks up 100,000s of paths.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What kind of tree a collection state holds, from its top-level files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutlineKind {
    /// A course export: `course.xml` at the top.
    Course,
    /// A library export: `library.xml` at the top.
    Library,
    /// A Blockstore-style bundle: `{type}/{id}/definition.xml` files that
    /// include each other with `<xblock-include definition="type/id"/>`.
    Bundle,
    /// Any other tree: the roots are the block files nothing includes.
    Tree,
}

impl OutlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutlineKind::Course => "course",
            OutlineKind::Library => "library",
            OutlineKind::Bundle => "bundle",
            OutlineKind::Tree => "tree",
        }
    }
}

/// The block tree of one collection state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outline {
    /// The collection's slug.
    pub collection: String,
    /// The state looked at (`latest` resolved to its number, or to the draft
    /// when nothing is published).
    pub at: At,
    pub kind: OutlineKind,
    /// The tree(s): one root for a course or a library (none when its root file
    /// is absent), the top-level blocks for a bundle or a tree.
    pub roots: Vec<OutlineNode>,
    /// Block files not reachable from the root, each with the subtree it holds
    /// (only the topmost of a group of unreachable blocks is listed here),
    /// draft files under `drafts/` included, and draft roots whose parent is
    /// not in the tree.
    /// Always empty for bundles and trees, whose unreached blocks are roots.
    pub orphans: Vec<OutlineNode>,
    /// Pointers whose file does not exist in this state, in the order met.
    pub broken: Vec<BrokenPointer>,
    /// Blocks in `roots` and `orphans`, counting every occurrence.
    pub blocks: u64,
    /// A bound was hit (depth, node count): some nodes were not expanded.
    pub truncated: bool,
}

/// One block of the outline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutlineNode {
    /// The block type (`chapter`, `vertical`, `html`, `problem`, `done`, …):
    /// the tag of the pointer that led to the block's file (whatever the
    /// file's root element is), else the element name.
    pub block_type: String,
    /// The pointer's `url_name` (or legacy `filename`), else the one the file
    /// name gives (`vertical/x.xml` → `x`, `html/h1/definition.xml` → `h1`),
    /// else the element's `url_name` attribute.
    pub url_name: Option<String>,
    /// The block's `display_name`, unescaped.
    pub display_name: Option<String>,
    /// The file that defines the block: its own file, the parent's file for an
    /// inline definition, or the path a missing pointer expects.
    pub path: String,
    /// Defined inside its parent's file rather than in a file of its own.
    pub inline: bool,
    /// A pointer or include whose file does not exist in this state.
    pub missing: bool,
    /// Already being expanded higher up on this branch: not expanded again.
    pub cycle: bool,
    /// An unpublished block Studio exported under drafts/: a draft root (hung
    /// under the block its `parent_url` names) and everything under it, or a
    /// block file under `drafts/` listed as an orphan.
    pub draft: bool,
    /// For `<xblock-include source="alias" …/>`: the other collection it
    /// names; such a node is not expanded.
    pub external: Option<String>,
    /// Why the block's file could not be read whole (an XML error with its
    /// line, a file too large, a bound hit); what was read before is kept.
    pub error: Option<String>,
    #[schema(no_recursion)]
    pub children: Vec<OutlineNode>,
}

/// A pointer to a file that does not exist in the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BrokenPointer {
    /// The file holding the pointer.
    pub source_path: String,
    /// `child` (url_name/filename pointers) or `include` (`xblock-include`).
    pub kind: LinkKind,
    pub block_type: String,
    /// The `url_name`, `filename` or `definition` as written.
    pub written: String,
    /// Where the file was expected, under the file's root (`drafts/` for a
    /// draft): one path, or a legacy `filename=`'s candidates.
    pub target: Target,
}

/// Builds the outline of a collection state (`key` is a slug or uuid).
///
/// Fails only when the collection or the version does not exist (or the index
/// cannot be read); problems in the files themselves are part of the outline.
pub fn outline(store: &Store, key: &str, at: At) -> Result<Outline> {
    let collection = store.collection(key)?.slug;
    // Resolve `latest` once, so the listing and the answer name the same state.
    let at = match at {
        At::Latest => store
            .versions(&collection)?
            .iter()
            .map(|v| v.number)
            .max()
            .map_or(At::Draft, At::Version),
        other => other,
    };
    let files = store.contents(&collection, at)?;
    let mut walk = Walk::new(store, &files);

    let kind = if walk.live.contains_key("course.xml") {
        OutlineKind::Course
    } else if walk.live.contains_key("library.xml") {
        OutlineKind::Library
    } else if files.iter().any(|f| is_definition(&f.path)) {
        OutlineKind::Bundle
    } else {
        OutlineKind::Tree
    };

    let blocks: Vec<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| is_block_file(p))
        .collect();
    // Every block file is read by the walk below (reached from the root, a
    // draft or an orphan).
    walk.prefetch(&blocks);
    let (roots, orphans) = match kind {
        OutlineKind::Course | OutlineKind::Library => {
            let mut root = walk.file_node(
                if kind == OutlineKind::Course {
                    "course.xml"
                } else {
                    "library.xml"
                },
                None,
                0,
            );
            // Drafts hang under their parents once the published tree is
            // built; those whose parent is not in it are orphans.
            let mut orphans = walk.hang_drafts(&mut root, &blocks);
            let unreached: Vec<&str> = blocks
                .iter()
                .copied()
                .filter(|p| !walk.reached.contains(*p))
                .collect();
            orphans.extend(walk.forest(&unreached));
            orphans.sort_by(|a, b| a.path.cmp(&b.path));
            (vec![root], orphans)
        }
        OutlineKind::Bundle | OutlineKind::Tree => (walk.forest(&blocks), Vec::new()),
    };
    let blocks = count_nodes(&roots) + count_nodes(&orphans);
    let Walk {
        broken,
        truncated,
        parsed,
        ..
    } = walk;
    let parsed: Vec<Arc<Parsed>> = parsed.into_values().collect();
    // The parsed files (an element tree each) and the file list are freed on
    // a thread of their own: for 100,000 files that is a tenth of a second
    // the answer need not wait for.
    std::thread::spawn(move || drop((parsed, files)));
    Ok(Outline {
        collection,
        at,
        kind,
        roots,
        orphans,
        broken,
        blocks,
        truncated,
    })
}

// ---------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------

/// Blocks nested deeper than this are shown but not expanded. Real courses are
/// 5 to 8 levels deep (split tests and library content add a level each).
const MAX_DEPTH: usize = 64;
/// At most this many nodes in one outline (a block reached from several
/// parents is shown under each, so a hostile tree could grow exponentially).
const MAX_NODES: u64 = 1_000_000;
/// Files larger than this are not parsed (the largest real OLX files are a few
/// hundred KiB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Element nesting recorded inside one file.
const MAX_XML_DEPTH: usize = 256;
/// Threads that read and parse block files ahead of a large walk.
const PREFETCH_THREADS: usize = 4;
/// Block files below which an outline reads on its own thread only (a
/// thread costs more than it saves).
const PREFETCH_MIN: usize = 2_000;

// ---------------------------------------------------------------------------
// Which elements are blocks (the rules of `store::links::extract`)
// ---------------------------------------------------------------------------

/// Elements that sit among a container's children but are not blocks: the
/// course's wiki and textbooks (`pointers::NOT_POINTERS`, never pointers) and
/// a legacy conditional's `<show sources=…/>`.
fn is_not_block(tag: &str) -> bool {
    NOT_POINTERS.contains(&tag) || tag == "show"
}

/// Top-level folders of course-level files and assets, which are not blocks
/// (OLX-RULES "Course-level files and policies"). `drafts/` holds blocks: its
/// files are block files like the course's (a draft nothing reaches is an
/// orphan).
const NOT_BLOCK_FOLDERS: &[&str] = &[
    "policies",
    "about",
    "info",
    "tabs",
    "custom_tags",
    "assets",
    "static",
];

/// Whether a live file is an OLX block file: XML, below the top level, outside
/// `static/` and the course-level folders, and not a file the importer skips
/// (`._*`, `*~`: `drafts::is_skipped`).
fn is_block_file(path: &str) -> bool {
    let Some((folder, _)) = path.split_once('/') else {
        return false;
    };
    if NOT_BLOCK_FOLDERS.contains(&folder) || drafts::is_skipped(path) {
        return false;
    }
    // A stored path is valid; `RelPath::new` would refuse only an over-long
    // name, which `export` cannot write back either.
    !path.split('/').any(|c| c.len() > MAX_NAME_BYTES)
        && classify_path(path).syntax == Some(crate::store::links::Syntax::Xml)
}

/// Whether a file is under `drafts/`, where its pointers resolve.
fn is_draft(path: &str) -> bool {
    drafts::root_of(path) == drafts::FOLDER
}

/// A path without the `drafts/` root it may be under.
fn in_root(path: &str) -> &str {
    &path[drafts::root_of(path).len()..]
}

/// `{type}/{id}/definition.xml`.
fn is_definition(path: &str) -> bool {
    crate::store::links::bundle_folder(path).is_some()
}

/// The url_name a block file's name gives it: `vertical/x.xml` → `x`,
/// `vertical/a/b.xml` → `a:b` (a `:` in a url_name is a folder),
/// `html/h1/definition.xml` → `h1`, `drafts/vertical/x.xml` → `x`; nothing
/// for top-level files.
fn url_name_of_path(path: &str) -> Option<String> {
    let path = in_root(path);
    if is_definition(path) {
        return path.split('/').nth(1).map(str::to_owned);
    }
    let (_, rest) = path.split_once('/')?;
    let stem = rest.strip_suffix(".xml").unwrap_or(rest);
    Some(stem.replace('/', ":"))
}

// ---------------------------------------------------------------------------
// A small element tree of one file
// ---------------------------------------------------------------------------

/// An element as far as the outline needs it: children are recorded only for
/// elements whose children are blocks, so a problem's markup is not kept.
#[derive(Debug, Default)]
struct Element {
    name: String,
    /// The attributes the outline reads ([`OUTLINE_ATTRS`]), names and
    /// unescaped values, in document order: a problem's dozen others are
    /// not kept.
    attrs: Vec<(&'static str, String)>,
    /// It has exactly the pointer attributes (`pointers::is_pointer_attrs`,
    /// asked of all of them).
    pointer_attrs: bool,
    /// Has child elements, a comment or non-blank text (an inline definition,
    /// not a pointer).
    has_content: bool,
    /// Its direct children are blocks (see `CONTAINERS`/`LEAVES`).
    container: bool,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        debug_assert!(OUTLINE_ATTRS.contains(&key), "{key} is not kept");
        self.attrs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One parsed file: its root element (possibly partial) and what went wrong.
#[derive(Debug, Default)]
struct Parsed {
    root: Option<Element>,
    error: Option<String>,
    /// The text holds `index_in_children_list` (`drafts::is_draft_root_text`):
    /// under `drafts/`, a draft root.
    draft_root: bool,
}

struct Frame {
    element: Element,
    /// Depth of unrecorded elements open inside this one.
    skipped: usize,
}

/// Parses one XML file into the element tree the outline needs. Never fails:
/// on an error the root keeps the children completed before it.
fn parse(bytes: &[u8]) -> Parsed {
    let input = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = Reader::from_reader(input);
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_unmatched_ends = false;
    let mut stack: Vec<Frame> = Vec::new();
    let mut out = Parsed {
        draft_root: drafts::is_draft_root_text(input),
        ..Parsed::default()
    };
    let line_of = |offset: u64| {
        let end = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(input.len());
        input[..end].iter().filter(|&&b| b == b'\n').count() + 1
    };
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                out.error = Some(format!(
                    "line {}: XML does not parse: {err}",
                    line_of(reader.error_position())
                ));
                break;
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if out.root.is_some() && stack.is_empty() => {
                out.error = Some(format!(
                    "line {}: second root element <{}>: an XML file has one root",
                    line_of(reader.buffer_position()),
                    String::from_utf8_lossy(e.name().as_ref())
                ));
                break;
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let deep = stack.len() >= MAX_XML_DEPTH;
                if let Some(top) = stack.last_mut() {
                    top.element.has_content = true;
                    if top.skipped > 0 || !top.element.container || deep {
                        if deep && top.skipped == 0 {
                            out.error.get_or_insert_with(|| {
                                format!("elements nested deeper than {MAX_XML_DEPTH} levels are not shown")
                            });
                        }
                        if !empty {
                            top.skipped += 1;
                        }
                        continue;
                    }
                }
                let element = match element_of(e, stack.is_empty()) {
                    Ok(element) => element,
                    Err(message) => {
                        out.error = Some(format!(
                            "line {}: {message}",
                            line_of(reader.buffer_position())
                        ));
                        break;
                    }
                };
                if empty {
                    close(&mut stack, &mut out, element);
                } else {
                    stack.push(Frame {
                        element,
                        skipped: 0,
                    });
                }
            }
            Event::End(_) => match stack.last_mut() {
                Some(top) if top.skipped > 0 => top.skipped -= 1,
                Some(_) => {
                    if let Some(frame) = stack.pop() {
                        close(&mut stack, &mut out, frame.element);
                    }
                }
                None => {}
            },
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    if t.iter().any(|b| !b.is_ascii_whitespace()) {
                        top.element.has_content = true;
                    }
                }
            }
            // A comment counts as content, as for lxml (the element is no
            // pointer: OLX-RULES "Pointer tag").
            Event::CData(_) | Event::GeneralRef(_) | Event::Comment(_) => {
                if let Some(top) = stack.last_mut() {
                    top.element.has_content = true;
                }
            }
            Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    out.error = Some(format!(
                        "element <{}> is never closed: end of file reached",
                        open.element.name
                    ));
                } else if out.root.is_none() {
                    out.error = Some("no root element: the file has no XML element".to_owned());
                }
                break;
            }
        }
    }
    // After an error, keep the root with the children completed so far.
    if out.root.is_none() && !stack.is_empty() {
        out.root = Some(stack.swap_remove(0).element);
    }
    out
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(stack: &mut [Frame], out: &mut Parsed, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.element.children.push(element),
        None => out.root = Some(element),
    }
}

/// The attributes the outline reads; an element keeps only these.
const OUTLINE_ATTRS: &[&str] = &[
    "url_name",
    "display_name",
    "filename",
    "xblock-family",
    "definition",
    "source",
    "index_in_children_list",
    "parent_url",
    "parent_sequential_url",
];

/// An element from its start tag; `is_root` when it is the file's root.
fn element_of(e: &BytesStart<'_>, is_root: bool) -> std::result::Result<Element, String> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut keys = Vec::new();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("bad attribute: {err}"))?;
        let key = String::from_utf8_lossy(attr.key.into_inner());
        if let Some(&kept) = OUTLINE_ATTRS.iter().find(|k| **k == key) {
            let value = match attr.unescape_value() {
                Ok(value) => value.into_owned(),
                // An unknown entity: keep the value as written.
                Err(_) => String::from_utf8_lossy(&attr.value).into_owned(),
            };
            attrs.push((kept, value));
        }
        keys.push(key);
    }
    let tag = name.as_str();
    let pointer_attrs = pointers::is_pointer_attrs(tag, keys.iter().map(|k| k.as_ref()));
    let has_family = attrs.iter().any(|(k, _)| *k == "xblock-family");
    // Recorded elements are always in pointer position (their parent is a
    // container, or they are the root), as extraction requires.
    let container =
        CONTAINERS.contains(&tag) || (!LEAVES.contains(&tag) && (is_root || has_family));
    Ok(Element {
        name,
        attrs,
        pointer_attrs,
        has_content: false,
        container,
        children: Vec::new(),
    })
}

// ---------------------------------------------------------------------------
// Pointers
// ---------------------------------------------------------------------------

/// What an element in pointer position stands for (OLX-RULES "Which file a
/// pointer names", with the functions of `store::links::pointers` that link
/// extraction uses).
enum Child<'e> {
    /// `<tag url_name="x"/>` or `<tag filename="x"/>`: the block is in a file.
    Pointer {
        block_type: &'e str,
        written: &'e str,
        /// The files it may name, first existing wins, relative to the
        /// file's root (`drafts/` for a file under it: `Walk::resolve`).
        paths: Vec<String>,
    },
    /// `<xblock-include definition="type/id"/>` (with `source`: elsewhere).
    Include {
        definition: &'e str,
        source: Option<&'e str>,
    },
    /// An inline definition.
    Inline(&'e Element),
    /// Not a block (`wiki`, `textbook`, an include without a definition).
    Nothing,
}

/// What an element in pointer position (a file's root, or directly inside a
/// container) is, by the rules extraction follows: a pure XBlock
/// (`xblock-family`) is never a pointer; a `filename=` names the element's
/// file whatever the element holds (for `html` its body, which is no block:
/// the html element is then an inline definition); otherwise an element is a
/// pointer only when it is empty (no child element, comment or text) and has
/// exactly the pointer attributes (`pointers::is_pointer_attrs`).
fn classify_child(el: &Element) -> Child<'_> {
    let tag = el.name.as_str();
    if tag == "xblock-include" {
        return match el.attr("definition").map(str::trim) {
            Some(definition) if !definition.is_empty() => Child::Include {
                definition: definition.trim_end_matches('/'),
                source: el.attr("source").filter(|s| !s.is_empty()),
            },
            _ => Child::Nothing,
        };
    }
    if is_not_block(tag) {
        return Child::Nothing;
    }
    if el.attr("xblock-family").is_some() {
        return Child::Inline(el);
    }
    if let Some(filename) = el.attr("filename").filter(|f| !f.is_empty()) {
        if tag == "html" {
            return Child::Inline(el);
        }
        return Child::Pointer {
            block_type: tag,
            written: filename,
            paths: pointers::legacy_candidates(tag, filename),
        };
    }
    if el.has_content {
        return Child::Inline(el);
    }
    match el.attr("url_name").filter(|_| el.pointer_attrs) {
        Some(url_name) => Child::Pointer {
            block_type: tag,
            written: url_name,
            paths: vec![pointers::pointer_path(tag, url_name)],
        },
        None => Child::Inline(el),
    }
}

/// The target a broken pointer reports: the full paths it looked at.
fn target_of(paths: &[String]) -> Target {
    match paths {
        [path] => Target::Path { path: path.clone() },
        _ => Target::AnyOf {
            paths: paths.to_vec(),
        },
    }
}

/// The file to read for a live entry, or what the outline says of a file it
/// does not read (not in the state, too large).
fn unread(entry: Option<&Content>) -> std::result::Result<&Content, Parsed> {
    match entry {
        None => Err(Parsed {
            error: Some("not in this state".to_owned()),
            ..Parsed::default()
        }),
        Some(entry) if entry.size > MAX_FILE_BYTES => Err(Parsed {
            error: Some(format!(
                "not read: {} bytes is more than the outline reads ({MAX_FILE_BYTES})",
                entry.size
            )),
            ..Parsed::default()
        }),
        Some(entry) => Ok(entry),
    }
}

/// A file parsed from its bytes, or the reason it could not be read.
fn parse_read(bytes: Result<Vec<u8>>) -> Parsed {
    match bytes {
        Ok(bytes) => parse(&bytes),
        Err(err) => Parsed {
            error: Some(format!("not read: {err}")),
            ..Parsed::default()
        },
    }
}

/// Reads and parses `paths` with their blobs read in one go, in hash order
/// (the blob index's). Files it could not start reading are left out: the
/// walk reads those itself.
fn parse_share<'a>(
    store: &Store,
    live: &HashMap<&'a str, &'a Content>,
    paths: &[&'a str],
) -> HashMap<&'a str, Arc<Parsed>> {
    let mut out = HashMap::with_capacity(paths.len());
    let mut reads = Vec::with_capacity(paths.len());
    for &path in paths {
        match unread(live.get(path).copied()) {
            Ok(entry) => reads.push((path, entry.hash.as_str())),
            Err(parsed) => {
                out.insert(path, Arc::new(parsed));
            }
        }
    }
    reads.sort_unstable_by_key(|&(_, hash)| hash);
    let _ = store.blobs().read_many(reads, |path, bytes| {
        out.insert(path, Arc::new(parse_read(bytes)));
    });
    out
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

struct Walk<'a> {
    store: &'a Store,
    live: HashMap<&'a str, &'a Content>,
    parsed: HashMap<&'a str, Arc<Parsed>>,
    /// Every file a node was made for.
    reached: HashSet<&'a str>,
    /// Files being expanded on the current branch.
    on_path: Vec<&'a str>,
    nodes: u64,
    truncated: bool,
    broken: Vec<BrokenPointer>,
    broken_seen: HashSet<(String, LinkKind, Target)>,
}

impl<'a> Walk<'a> {
    fn new(store: &'a Store, files: &'a [Content]) -> Walk<'a> {
        Walk::with_live(store, files.iter().map(|f| (f.path.as_str(), f)).collect())
    }

    fn with_live(store: &'a Store, live: HashMap<&'a str, &'a Content>) -> Walk<'a> {
        Walk {
            store,
            live,
            parsed: HashMap::new(),
            reached: HashSet::new(),
            on_path: Vec::new(),
            nodes: 0,
            truncated: false,
            broken: Vec::new(),
            broken_seen: HashSet::new(),
        }
    }

    /// Reads and parses `paths` (files the walk is about to ask for) before
    /// the walk asks for them one at a time: on the machine's cores, a share
    /// each, for a large outline, and each share's blobs in one go
    /// (`BlobStore::read_many`): reading every block file is most of an
    /// outline's cost. The answers are the same: each file is parsed by
    /// `parse_entry` either way.
    fn prefetch(&mut self, paths: &[&'a str]) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(PREFETCH_THREADS);
        let store = self.store;
        let live = &self.live;
        if threads < 2 || paths.len() < PREFETCH_MIN {
            let parsed = parse_share(store, live, paths);
            self.parsed.extend(parsed);
            return;
        }
        let read: Vec<HashMap<&str, Arc<Parsed>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = paths
                .chunks(paths.len().div_ceil(threads))
                .map(|share| scope.spawn(move || parse_share(store, live, share)))
                .collect();
            // A worker that panicked read nothing: the walk reads its share.
            workers.into_iter().filter_map(|w| w.join().ok()).collect()
        });
        for parsed in read {
            self.parsed.extend(parsed);
        }
    }

    /// Reads and parses a live file once.
    fn parsed(&mut self, path: &str) -> Arc<Parsed> {
        if let Some(parsed) = self.parsed.get(path) {
            return parsed.clone();
        }
        let live = self.live.get_key_value(path).map(|(k, v)| (*k, *v));
        let parsed = match unread(live.map(|(_, entry)| entry)) {
            Ok(entry) => parse_read(self.store.blobs().read(&entry.hash, false)),
            Err(parsed) => parsed,
        };
        let parsed = Arc::new(parsed);
        if let Some((path, _)) = live {
            self.parsed.insert(path, parsed.clone());
        }
        parsed
    }

    /// Counts a node; false once the bound is hit (the node is then not expanded).
    fn count(&mut self) -> bool {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.truncated = true;
            return false;
        }
        true
    }

    /// The full paths a pointer written in `source` may name: its candidates
    /// under the file's root (`drafts/` for a draft: a draft's pointer never
    /// falls back to the course's copy).
    fn resolve(source: &str, paths: &[String]) -> Vec<String> {
        let root = drafts::root_of(source);
        paths.iter().map(|p| format!("{root}{p}")).collect()
    }

    /// The first of `paths` that is live, as the state names it.
    fn first_live(&self, paths: &[String]) -> Option<&'a str> {
        paths
            .iter()
            .find_map(|p| self.live.get_key_value(p.as_str()).map(|(k, _)| *k))
    }

    /// The node of a block file. `pointer` is the pointer's (block type,
    /// url_name as written) when one led here: the block's type is the
    /// pointer's tag, whatever the file's root element is.
    fn file_node(
        &mut self,
        path: &'a str,
        pointer: Option<(&str, &str)>,
        depth: usize,
    ) -> OutlineNode {
        let mut node = OutlineNode {
            block_type: pointer.map_or_else(|| block_type_of_path(path), |(t, _)| t.to_owned()),
            url_name: pointer
                .map(|(_, u)| u.to_owned())
                .or_else(|| url_name_of_path(path)),
            display_name: None,
            path: path.to_owned(),
            inline: false,
            missing: false,
            cycle: false,
            draft: is_draft(path),
            external: None,
            error: None,
            children: Vec::new(),
        };
        self.reached.insert(path);
        let expand = self.count();
        if self.on_path.contains(&path) {
            node.cycle = true;
            return node;
        }
        let parsed = self.parsed(path);
        node.error = parsed.error.clone();
        let Some(root) = parsed.root.as_ref() else {
            return node;
        };
        if pointer.is_none() {
            // No pointer names the type: the root element does.
            node.block_type = root.name.clone();
        }
        if node.url_name.is_none() {
            node.url_name = root.attr("url_name").map(str::to_owned);
        }
        node.display_name = root.attr("display_name").map(str::to_owned);
        if !expand {
            return node;
        }
        if depth >= MAX_DEPTH {
            node.error
                .get_or_insert_with(|| format!("not expanded: deeper than {MAX_DEPTH} levels"));
            self.truncated = true;
            return node;
        }
        self.on_path.push(path);
        // A root that is itself a pointer (`course.xml`: `<course url_name="2026"
        // org=… course=…/>`, or a legacy `filename=` on the root of a file a
        // pointer loaded) stands for the file it names.
        if let Child::Pointer {
            block_type,
            written,
            paths,
        } = classify_child(root)
        {
            let next = self.pointer_node(path, block_type, written, &paths, depth);
            self.on_path.pop();
            return next;
        }
        if root.container {
            node.children = self.children(root, path, depth);
        }
        self.on_path.pop();
        node
    }

    /// The node a pointer in file `source` leads to: the file's, or a missing
    /// one. `paths` are its candidates relative to the file's root.
    fn pointer_node(
        &mut self,
        source: &str,
        block_type: &str,
        written: &str,
        paths: &[String],
        depth: usize,
    ) -> OutlineNode {
        // Outside `drafts/` the candidates are the full paths already.
        let found = if drafts::root_of(source).is_empty() {
            self.first_live(paths)
        } else {
            self.first_live(&Self::resolve(source, paths))
        };
        match found {
            Some(path) => self.file_node(path, Some((block_type, written)), depth),
            None => {
                let paths = Self::resolve(source, paths);
                let target = target_of(&paths);
                self.missing(source, LinkKind::Child, block_type, written, &target);
                let path = paths.first().cloned().unwrap_or_default();
                self.count();
                leaf(block_type, Some(written.to_owned()), path, true)
            }
        }
    }

    fn missing(
        &mut self,
        source: &str,
        kind: LinkKind,
        block_type: &str,
        written: &str,
        target: &Target,
    ) {
        let key = (source.to_owned(), kind, target.clone());
        if self.broken_seen.insert(key) {
            self.broken.push(BrokenPointer {
                source_path: source.to_owned(),
                kind,
                block_type: block_type.to_owned(),
                written: written.to_owned(),
                target: target.clone(),
            });
        }
    }

    /// The block children of a container element of file `path`. Everything
    /// in a draft's file is a draft.
    fn children(&mut self, el: &Element, path: &str, depth: usize) -> Vec<OutlineNode> {
        let mut out = Vec::new();
        let draft = is_draft(path);
        for child in &el.children {
            if self.nodes >= MAX_NODES {
                self.truncated = true;
                break;
            }
            let mut node = match classify_child(child) {
                Child::Nothing => continue,
                Child::Pointer {
                    block_type,
                    written,
                    paths,
                } => self.pointer_node(path, block_type, written, &paths, depth + 1),
                Child::Include { definition, source } => {
                    let relative = format!("{definition}/definition.xml");
                    let target_path = format!("{}{relative}", drafts::root_of(path));
                    let block_type = definition.split('/').next().unwrap_or(definition);
                    let id = definition.rsplit('/').next().map(str::to_owned);
                    if let Some(source) = source {
                        self.count();
                        let mut node = leaf(block_type, id, relative, false);
                        node.external = Some(source.to_owned());
                        node
                    } else if let Some(live) = self.first_live(std::slice::from_ref(&target_path)) {
                        self.file_node(live, None, depth + 1)
                    } else {
                        let target = Target::Path {
                            path: target_path.clone(),
                        };
                        self.missing(path, LinkKind::Include, block_type, definition, &target);
                        self.count();
                        leaf(block_type, id, target_path, true)
                    }
                }
                Child::Inline(inline) => {
                    let expand = self.count();
                    let mut node = leaf(
                        &inline.name,
                        inline.attr("url_name").map(str::to_owned),
                        path.to_owned(),
                        false,
                    );
                    node.inline = true;
                    node.display_name = inline.attr("display_name").map(str::to_owned);
                    if expand && inline.container {
                        if depth + 1 >= MAX_DEPTH {
                            node.error =
                                Some(format!("not expanded: deeper than {MAX_DEPTH} levels"));
                            self.truncated = true;
                        } else {
                            node.children = self.children(inline, path, depth + 1);
                        }
                    }
                    node
                }
            };
            node.draft |= draft;
            out.push(node);
        }
        out
    }

    /// Files a block file points at or includes (live ones), inline
    /// definitions included.
    fn targets_of(&mut self, path: &str) -> Vec<String> {
        let parsed = self.parsed(path);
        let mut out = Vec::new();
        if let Some(root) = parsed.root.as_ref() {
            let mut pending: Vec<&Element> = vec![root];
            let mut is_root = true;
            while let Some(el) = pending.pop() {
                let as_child = if is_root {
                    // The root is a pointer only when it is not a definition.
                    match classify_child(el) {
                        c @ Child::Pointer { .. } => Some(c),
                        _ => None,
                    }
                } else {
                    Some(classify_child(el))
                };
                is_root = false;
                match as_child {
                    Some(Child::Pointer { paths, .. }) => {
                        if let Some(p) = self.first_live(&Self::resolve(path, &paths)) {
                            out.push(p.to_owned());
                        }
                        continue;
                    }
                    Some(Child::Include {
                        definition,
                        source: None,
                    }) => {
                        out.push(format!(
                            "{}{definition}/definition.xml",
                            drafts::root_of(path)
                        ));
                        continue;
                    }
                    Some(Child::Include { .. } | Child::Nothing) => continue,
                    Some(Child::Inline(_)) | None => {}
                }
                if el.container {
                    pending.extend(el.children.iter());
                }
            }
        }
        out
    }

    /// Hangs the draft roots among `blocks` (files under `drafts/` whose text
    /// holds `index_in_children_list`) in the tree under `root`: each under
    /// the block its `parent_url` (or `parent_sequential_url`) names, at its
    /// `index_in_children_list`, in place of the parent's child with the same
    /// url_name (the published copy) if there is one. Gives the nodes of the
    /// draft roots whose parent is not in the tree.
    fn hang_drafts(&mut self, root: &mut OutlineNode, blocks: &[&'a str]) -> Vec<OutlineNode> {
        // (index_in_children_list, path, the parent's (type, url_name)).
        type DraftRoot<'p> = (usize, &'p str, Option<(String, String)>);
        let mut found: Vec<DraftRoot<'_>> = Vec::new();
        for path in blocks.iter().copied().filter(|p| is_draft(p)) {
            let parsed = self.parsed(path);
            let Some(el) = parsed.root.as_ref().filter(|_| parsed.draft_root) else {
                continue;
            };
            let index = el
                .attr("index_in_children_list")
                .and_then(|i| i.trim().parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            let parent = el
                .attr("parent_url")
                .or_else(|| el.attr("parent_sequential_url"))
                .and_then(drafts::parse_block_url);
            found.push((index, path, parent));
        }
        // Lower indexes first, so each lands where its index says.
        found.sort();
        let mut orphans = Vec::new();
        for (index, path, parent) in found {
            if self.reached.contains(path) {
                continue;
            }
            let mut at = Vec::new();
            let located = parent.as_ref().is_some_and(|(block_type, url_name)| {
                let file = pointers::pointer_path(block_type, url_name);
                find_block(root, block_type, url_name, &file, &mut at)
            });
            if !located {
                orphans.push(self.file_node(path, None, 0));
                continue;
            }
            let node = self.file_node(path, None, at.len() + 1);
            let mut parent = &mut *root;
            for i in at {
                parent = &mut parent.children[i];
            }
            let published = parent
                .children
                .iter()
                .position(|c| c.url_name.is_some() && c.url_name == node.url_name);
            match published {
                Some(i) => parent.children[i] = node,
                None => {
                    let i = index.min(parent.children.len());
                    parent.children.insert(i, node);
                }
            }
        }
        orphans
    }

    /// Trees for a set of block files nothing outside the set reaches: the
    /// ones no other file of the set points at, then, for groups that only
    /// point at each other, the first of each group by path; sorted by path.
    fn forest(&mut self, paths: &[&'a str]) -> Vec<OutlineNode> {
        let set: HashSet<&str> = paths.iter().copied().collect();
        let mut referenced: BTreeSet<String> = BTreeSet::new();
        for path in paths {
            for target in self.targets_of(path) {
                if target != *path && set.contains(target.as_str()) {
                    referenced.insert(target);
                }
            }
        }
        let mut out = Vec::new();
        for path in paths.iter().filter(|p| !referenced.contains(**p)) {
            if !self.reached.contains(*path) {
                out.push(self.file_node(path, None, 0));
            }
        }
        for path in paths {
            if !self.reached.contains(*path) {
                out.push(self.file_node(path, None, 0));
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

/// Finds the block a draft's `parent_url` names, depth first: a node of that
/// type and url_name, or the file `file` (`TYPE/URL_NAME.xml`). `at` receives
/// the child indexes leading to it from `node`.
fn find_block(
    node: &OutlineNode,
    block_type: &str,
    url_name: &str,
    file: &str,
    at: &mut Vec<usize>,
) -> bool {
    let named = node.block_type == block_type && node.url_name.as_deref() == Some(url_name);
    if !node.missing && !node.cycle && (named || (!node.inline && node.path == file)) {
        return true;
    }
    for (i, child) in node.children.iter().enumerate() {
        at.push(i);
        if find_block(child, block_type, url_name, file, at) {
            return true;
        }
        at.pop();
    }
    false
}

/// Nodes in these trees, counting every occurrence.
fn count_nodes(nodes: &[OutlineNode]) -> u64 {
    nodes.iter().map(|n| 1 + count_nodes(&n.children)).sum()
}

/// A node with no file of its own read (missing, external, inline).
fn leaf(block_type: &str, url_name: Option<String>, path: String, missing: bool) -> OutlineNode {
    OutlineNode {
        block_type: block_type.to_owned(),
        url_name,
        display_name: None,
        path,
        inline: false,
        missing,
        cycle: false,
        draft: false,
        external: None,
        error: None,
        children: Vec::new(),
    }
}

/// The block type a path suggests, until the file's root element says (it
/// may not parse, or not be read again on a cycle): its top folder.
fn block_type_of_path(path: &str) -> String {
    let path = in_root(path);
    match path.split_once('/') {
        Some((folder, _)) => folder.to_owned(),
        None => path.strip_suffix(".xml").unwrap_or(path).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(xml: &str) -> Element {
        let parsed = parse(xml.as_bytes());
        assert_eq!(parsed.error, None, "{xml}");
        parsed.root.expect("a root")
    }

    #[test]
    fn pointers_inline_blocks_and_markup_are_told_apart() {
        let el = root(concat!(
            "<vertical display_name=\"V\">\n",
            "  <html url_name=\"h\"/>\n",
            "  <done url_name=\"d\" xblock-family=\"xblock.v1\"/>\n",
            "  <problem url_name=\"p\">\n  </problem>\n",
            "  <problem display_name=\"Inline\"><choiceresponse url_name=\"c\"/></problem>\n",
            "  <problem filename=\"MIT/x/BK7.problem\"/>\n",
            "  <html filename=\"body\" display_name=\"B\"/>\n",
            "  <wiki slug=\"w\"/>\n",
            "  <vertical url_name=\"c\"><!-- x --></vertical>\n",
            "  <vertical filename=\"w1\"><html url_name=\"in\"/></vertical>\n",
            "  <problem url_name=\"q\" filename=\"a:b\"/>\n",
            "  <course url_name=\"r\"/>\n",
            "</vertical>",
        ));
        let kinds: Vec<String> = el
            .children
            .iter()
            .map(|c| match classify_child(c) {
                Child::Pointer { paths, .. } => format!("pointer {paths:?}"),
                Child::Inline(e) => format!("inline {}", e.name),
                Child::Include { definition, .. } => format!("include {definition}"),
                Child::Nothing => "nothing".to_owned(),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "pointer [\"html/h.xml\"]",
                "inline done",
                "pointer [\"problem/p.xml\"]",
                "inline problem",
                "pointer [\"problem/MIT/x/BK7.problem.xml\", \"problems/MIT/x/BK7.problem.xml\", \"MIT/x/BK7.problem.xml\"]",
                "inline html",
                "nothing",
                "inline vertical",
                "pointer [\"vertical/w1.xml\"]",
                "pointer [\"problem/a:b.xml\", \"problems/a:b.xml\", \"a:b.xml\"]",
                "inline course",
            ],
            "capa's three legacy candidates (the root one is new); a comment makes an \
             element inline; a filename names the file whatever the element holds, as \
             written; a course pointer needs org and course too"
        );
        assert!(
            el.children[3].children.is_empty(),
            "a leaf's markup is not recorded"
        );
    }

    #[test]
    fn a_parse_error_keeps_what_came_before_and_says_where() {
        let parsed = parse(b"<vertical>\n  <html url_name=\"a\"/>\n  <p></q>\n  <html url_name=\"b\"/>\n</vertical>");
        let root = parsed.root.expect("the partial root");
        assert_eq!(root.children.len(), 1, "only the child before the error");
        let error = parsed.error.expect("an error");
        assert!(error.starts_with("line 3:"), "{error}");
        let empty = parse(b"  ");
        assert!(empty.root.is_none());
        assert!(empty.error.unwrap().contains("no root"));
        let two = parse(b"<a/><b/>");
        assert!(two.error.unwrap().contains("second root"));
        assert_eq!(two.root.unwrap().name, "a");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let depth = MAX_XML_DEPTH * 4;
        let xml = format!(
            "{}{}",
            "<vertical>".repeat(depth),
            "</vertical>".repeat(depth)
        );
        let parsed = parse(xml.as_bytes());
        assert!(parsed.error.unwrap().contains("nested deeper"));
        let mut levels = 0;
        let mut el = parsed.root.as_ref();
        while let Some(e) = el {
            levels += 1;
            el = e.children.first();
        }
        assert_eq!(levels, MAX_XML_DEPTH, "recorded levels");
    }

    #[test]
    fn url_names_come_from_file_names() {
        assert_eq!(url_name_of_path("vertical/x.xml").as_deref(), Some("x"));
        assert_eq!(url_name_of_path("vertical/a/b.xml").as_deref(), Some("a:b"));
        assert_eq!(
            url_name_of_path("html/h1/definition.xml").as_deref(),
            Some("h1")
        );
        assert_eq!(url_name_of_path("course.xml"), None);
        assert!(is_block_file("problem/x.xml"));
        assert!(!is_block_file("course.xml"));
        assert!(!is_block_file("policies/2026/policy.json"));
        assert!(
            is_block_file("drafts/vertical/x.xml"),
            "drafts hold blocks (OLX-RULES \"Drafts\"): a draft nothing reaches is an orphan"
        );
        assert!(
            !is_block_file("drafts/vertical/._x.xml"),
            "skipped by the importer"
        );
        assert!(!is_block_file("vertical/x.xml~"), "skipped by the importer");
        assert!(!is_block_file("custom_tags/t.xml"), "course-level");
        assert!(!is_block_file("static/x.xml"));
        assert!(!is_block_file("html/x.html"));
        assert_eq!(
            url_name_of_path("drafts/vertical/x.xml").as_deref(),
            Some("x")
        );
        assert_eq!(block_type_of_path("drafts/vertical/x.xml"), "vertical");
    }

    #[test]
    fn the_schema_of_a_recursive_outline_is_finite() {
        use utoipa::PartialSchema;
        let mut schemas = Vec::new();
        <Outline as utoipa::ToSchema>::schemas(&mut schemas);
        let names: Vec<&str> = schemas.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"OutlineNode"), "{names:?}");
        let _ = Outline::schema();
    }

    // -----------------------------------------------------------------------
    // Whole outlines of small hand-written courses in a real store
    // -----------------------------------------------------------------------

    /// The draft outline of a collection holding these files.
    fn outline_of(files: &[(&str, &str)]) -> Outline {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_collection("c", &crate::store::CollectionMetadata::default())
            .unwrap();
        for (path, text) in files {
            store
                .write("c", path, text.as_bytes(), crate::store::Source::Cli)
                .unwrap();
        }
        outline(&store, "c", At::Draft).unwrap()
    }

    /// One line per node, two spaces a level: `type/url_name "name"` and markers.
    fn shape(nodes: &[OutlineNode]) -> String {
        fn walk(node: &OutlineNode, depth: usize, out: &mut String) {
            out.push_str(&"  ".repeat(depth));
            out.push_str(&node.block_type);
            if let Some(url_name) = &node.url_name {
                out.push_str(&format!("/{url_name}"));
            }
            if let Some(name) = &node.display_name {
                out.push_str(&format!(" {name:?}"));
            }
            for (flag, word) in [
                (node.inline, "inline"),
                (node.missing, "missing"),
                (node.cycle, "cycle"),
                (node.draft, "draft"),
            ] {
                if flag {
                    out.push_str(&format!(" ({word})"));
                }
            }
            out.push_str(&format!(" @{}\n", node.path));
            for child in &node.children {
                walk(child, depth + 1, out);
            }
        }
        let mut out = String::new();
        for node in nodes {
            walk(node, 0, &mut out);
        }
        out
    }

    /// `course.xml` pointing at `course/R.xml` (org O, course C, run R), one
    /// chapter `ch` holding the sequential `s1`, plus `files`.
    fn course_with<'a>(s1: &'a str, files: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = vec![
            (
                "course.xml",
                "<course url_name=\"R\" org=\"O\" course=\"C\"/>",
            ),
            (
                "course/R.xml",
                "<course display_name=\"Course\">\n  <chapter url_name=\"ch\"/>\n</course>",
            ),
            (
                "chapter/ch.xml",
                "<chapter>\n  <sequential url_name=\"s1\"/>\n</chapter>",
            ),
            ("sequential/s1.xml", s1),
        ];
        all.extend_from_slice(files);
        all
    }

    #[test]
    fn a_legacy_capa_filename_is_found_at_the_course_root() {
        let o = outline_of(&course_with(
            "<sequential>\n  <vertical url_name=\"v\"/>\n  <vertical filename=\"w\"/>\n</sequential>",
            &[
                (
                    "vertical/v.xml",
                    "<vertical>\n  <problem filename=\"q\"/>\n  <problem filename=\"dup.xml\"/>\n</vertical>",
                ),
                ("q.xml", "<problem display_name=\"Q\"><p>q</p></problem>"),
                ("problem/dup.xml", "<problem display_name=\"Dup\"/>"),
                ("verticals/w.xml", "<vertical display_name=\"W\"/>"),
            ],
        ));
        assert_eq!(
            shape(&o.roots[0].children[0].children),
            concat!(
                "sequential/s1 @sequential/s1.xml\n",
                "  vertical/v @vertical/v.xml\n",
                "    problem/q \"Q\" @q.xml\n",
                "    problem/dup.xml (missing) @problem/dup.xml.xml\n",
                "  vertical/w (missing) @vertical/w.xml\n",
            ),
            "capa's third candidate is F.xml at the root; a filename is used as written \
             (no .xml de-doubling); a vertical knows only vertical/F.xml"
        );
        let broken: Vec<(&str, &Target)> = o
            .broken
            .iter()
            .map(|b| (b.written.as_str(), &b.target))
            .collect();
        assert_eq!(
            broken,
            vec![
                (
                    "dup.xml",
                    &Target::AnyOf {
                        paths: vec![
                            "problem/dup.xml.xml".into(),
                            "problems/dup.xml.xml".into(),
                            "dup.xml.xml".into()
                        ]
                    }
                ),
                (
                    "w",
                    &Target::Path {
                        path: "vertical/w.xml".into()
                    }
                ),
            ],
            "each broken pointer with the files it looked for, in the order met (depth first)"
        );
        assert_eq!(
            shape(&o.orphans),
            concat!(
                "problem/dup \"Dup\" @problem/dup.xml\n",
                "vertical/w \"W\" @verticals/w.xml\n",
            ),
            "what the legacy pointers do not name is unreached"
        );
        assert_eq!(
            o.blocks,
            7 + 2,
            "course, chapter, s1, v, q, dup, w; two orphans"
        );
    }

    #[test]
    fn a_blocks_type_is_the_tag_that_points_at_its_file() {
        let o = outline_of(&course_with(
            "<sequential>\n  <vertical url_name=\"v\"/>\n</sequential>",
            &[
                (
                    "vertical/v.xml",
                    "<vertical>\n  <problem url_name=\"p\"/>\n  <problem filename=\"x\"/>\n</vertical>",
                ),
                (
                    "problem/p.xml",
                    "<html display_name=\"P\"><problem><p>q</p></problem></html>",
                ),
                (
                    "problem/x.xml",
                    "<html display_name=\"X\"><problem/></html>",
                ),
                ("vertical/lost.xml", "<chapter display_name=\"Lost\"/>"),
            ],
        ));
        assert_eq!(
            shape(&o.roots[0].children[0].children[0].children),
            concat!(
                "vertical/v @vertical/v.xml\n",
                "  problem/p \"P\" @problem/p.xml\n",
                "  problem/x \"X\" @problem/x.xml\n",
            ),
            "the pointer's tag, not the root element of the file it loads"
        );
        assert_eq!(
            shape(&o.orphans),
            "chapter/lost \"Lost\" @vertical/lost.xml\n",
            "no pointer led to an orphan: its root element names the type"
        );
        assert_eq!(o.blocks, 6 + 1);
    }

    #[test]
    fn a_comment_inside_makes_an_element_an_inline_definition() {
        let o = outline_of(&course_with(
            concat!(
                "<sequential>\n",
                "  <vertical url_name=\"v\"><!-- x --></vertical>\n",
                "  <vertical url_name=\"w\">\n  </vertical>\n",
                "  <done url_name=\"d\" xblock-family=\"xblock.v1\"/>\n",
                "  <html url_name=\"h\" filename=\"body\"/>\n",
                "</sequential>"
            ),
            &[
                ("vertical/v.xml", "<vertical display_name=\"V file\"/>"),
                ("vertical/w.xml", "<vertical display_name=\"W file\"/>"),
                ("done/d.xml", "<done display_name=\"D file\"/>"),
                ("html/body.html", "<p>body</p>"),
                ("html/h.xml", "<html display_name=\"H file\"/>"),
            ],
        ));
        assert_eq!(
            shape(&o.roots[0].children[0].children),
            concat!(
                "sequential/s1 @sequential/s1.xml\n",
                "  vertical/v (inline) @sequential/s1.xml\n",
                "  vertical/w \"W file\" @vertical/w.xml\n",
                "  done/d (inline) @sequential/s1.xml\n",
                "  html/h (inline) @sequential/s1.xml\n",
            ),
            "a comment is content (blank text is not); a pure XBlock is never a \
             pointer; an html filename names a body, which is no node"
        );
        let orphans: Vec<&str> = o.orphans.iter().map(|n| n.path.as_str()).collect();
        assert_eq!(
            orphans,
            vec!["done/d.xml", "html/h.xml", "vertical/v.xml"],
            "the files the inline definitions do not load"
        );
        assert_eq!(o.blocks, 7 + 3);
        assert!(o.broken.is_empty(), "{:?}", o.broken);
    }

    #[test]
    fn drafts_hang_under_their_parents_and_resolve_under_drafts() {
        let o = outline_of(&course_with(
            "<sequential>\n  <vertical url_name=\"a\"/>\n  <vertical url_name=\"b\"/>\n</sequential>",
            &[
                (
                    "vertical/a.xml",
                    "<vertical display_name=\"A\">\n  <html url_name=\"h\"/>\n</vertical>",
                ),
                ("vertical/b.xml", "<vertical display_name=\"B\"/>"),
                ("html/h.xml", "<html display_name=\"Published H\"/>"),
                (
                    "html/only_published.xml",
                    "<html display_name=\"Only published\"/>",
                ),
                (
                    "drafts/vertical/dv.xml",
                    concat!(
                        "<vertical display_name=\"Draft Unit\" index_in_children_list=\"1\" ",
                        "parent_url=\"block-v1:O+C+R+type@sequential+block@s1\">\n",
                        "  <html url_name=\"h\"/>\n",
                        "  <html url_name=\"only_published\"/>\n",
                        "</vertical>"
                    ),
                ),
                ("drafts/html/h.xml", "<html display_name=\"Draft H\"/>"),
                (
                    "drafts/vertical/b.xml",
                    concat!(
                        "<vertical display_name=\"B draft\" index_in_children_list=\"0\" ",
                        "parent_sequential_url=\"i4x://O/C/sequential/s1\"/>"
                    ),
                ),
                (
                    "drafts/vertical/lost.xml",
                    concat!(
                        "<vertical display_name=\"Lost\" index_in_children_list=\"0\" ",
                        "parent_url=\"block-v1:O+C+R+type@sequential+block@nowhere\"/>"
                    ),
                ),
                ("drafts/html/stray.xml", "<html display_name=\"Stray\"/>"),
                (
                    "drafts/vertical/._dv.xml",
                    "<vertical index_in_children_list=\"0\"/>",
                ),
            ],
        ));
        assert_eq!(
            shape(&o.roots[0].children[0].children),
            concat!(
                "sequential/s1 @sequential/s1.xml\n",
                "  vertical/a \"A\" @vertical/a.xml\n",
                "    html/h \"Published H\" @html/h.xml\n",
                "  vertical/dv \"Draft Unit\" (draft) @drafts/vertical/dv.xml\n",
                "    html/h \"Draft H\" (draft) @drafts/html/h.xml\n",
                "    html/only_published (missing) (draft) @drafts/html/only_published.xml\n",
                "  vertical/b \"B draft\" (draft) @drafts/vertical/b.xml\n",
            ),
            "a draft hangs under its parent at its index, in place of its published \
             copy; its pointers resolve under drafts/, never in the course"
        );
        assert_eq!(
            shape(&o.orphans),
            concat!(
                "html/stray \"Stray\" (draft) @drafts/html/stray.xml\n",
                "vertical/lost \"Lost\" (draft) @drafts/vertical/lost.xml\n",
                "html/only_published \"Only published\" @html/only_published.xml\n",
            ),
            "a draft root whose parent is not in the tree, and a draft file nothing \
             reaches, are orphans; ._ files are skipped; the published copy the draft \
             b replaces (vertical/b.xml) is loaded, not an orphan; the course's \
             only_published is reached by nothing published (the draft's pointer does \
             not reach it)"
        );
        let broken: Vec<(&str, &str)> = o
            .broken
            .iter()
            .map(|b| (b.source_path.as_str(), b.written.as_str()))
            .collect();
        assert_eq!(
            broken,
            vec![("drafts/vertical/dv.xml", "only_published")],
            "no fallback to the course's copy"
        );
        assert_eq!(
            o.blocks,
            9 + 3,
            "course, ch, s1, a, h, dv, its h and missing html, b draft; three orphans"
        );
    }
}
