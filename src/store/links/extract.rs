//! Reference extraction: turns one unit's bytes into the raw links it contains
//! (child pointers, html bodies, static assets, includes, jumps, policy assets,
//! a draft's parent, absolute URLs) and its parse problems. It is a pure
//! function of content, so results are stored per content hash; it never
//! fails, because real exports contain broken files.
//!
//! This file walks the XML (and reads HTML and policy JSON) and records what
//! it finds; each OLX-RULES.md rule lives in its own module: `pointers`
//! (which file a pointer names), `bodies` (html bodies), `drafts`, `course`
//! (course-level files and policies), `statics` (quoted strings, platform
//! files, asset names and spellings, absolute URLs), `jumps` and `libraries`.
//! Targets are recorded as written, relative to the file's root: where a rule
//! depends on the file's place (a draft's root, an html body's folder) or on
//! the store (this course's key, a library), `resolve` applies it.

use std::borrow::Cow;
use std::collections::HashSet;

use super::pointers::{self, CONTAINERS, LEAVES, NOT_POINTERS};
use super::{course, drafts, libraries, statics};
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

/// How a unit's bytes are read for references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    /// OLX: `.xml` files (and `.problem`, etc. that are XML); parse problems are flagged.
    Xml,
    /// HTML bodies (`.html`/`.htm`): scanned tolerantly, never flagged.
    Html,
    /// A course policy (`policies/RUN/policy.json`, `policies/RUN.json`): its
    /// asset-naming values are links; JSON that does not parse is flagged.
    Json,
}

impl Syntax {
    /// The name used in SQL (`content_scan.syntax`, `link.syntax`) and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::Xml => "xml",
            Syntax::Html => "html",
            Syntax::Json => "json",
        }
    }
}

/// The kinds of link from DESIGN.md. The `as_str` names are used in SQL, JSON and CLI.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// An OLX parent naming a child block file (`<vertical url_name="x"/>`).
    Child,
    /// An html block's `filename=` naming its HTML body.
    Body,
    /// A reference to an asset under `static/`.
    Static,
    /// An `xblock-include` or a library source: content pulled in from elsewhere.
    Include,
    /// A courseware link to another block (`/jump_to_id/…`,
    /// `/course/courseware/…`).
    Jump,
    /// A course policy value naming an asset (`course_image`, `banner_image`,
    /// `video_thumbnail_image`).
    Policy,
    /// A draft root's `parent_url`: the block it hangs under.
    Parent,
    /// An absolute URL (`https://…`): outside the course, never broken.
    Url,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Child => "child",
            LinkKind::Body => "body",
            LinkKind::Static => "static",
            LinkKind::Include => "include",
            LinkKind::Jump => "jump",
            LinkKind::Policy => "policy",
            LinkKind::Parent => "parent",
            LinkKind::Url => "url",
        }
    }
    pub fn parse(s: &str) -> Option<LinkKind> {
        Some(match s {
            "child" => LinkKind::Child,
            "body" => LinkKind::Body,
            "static" => LinkKind::Static,
            "include" => LinkKind::Include,
            "jump" => LinkKind::Jump,
            "policy" => LinkKind::Policy,
            "parent" => LinkKind::Parent,
            "url" => LinkKind::Url,
            _ => return None,
        })
    }
}

/// What a reference names, before resolution against a collection state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A path relative to the file's root (the collection, or `drafts/` for a
    /// file under it), exactly: a pointer (`vertical/abc.xml`) or an include
    /// (`html/html1/definition.xml`).
    Path { path: String },
    /// Candidate paths relative to the file's root, first existing wins (a
    /// legacy `filename=`: `problem/F.xml`, `problems/F.xml`, `F.xml`).
    AnyOf { paths: Vec<String> },
    /// An html block's body: `filename` as written, and the html element's own
    /// `url_name` when it is not the file's root (the root takes its url_name
    /// from the file's path). `bodies` gives the candidates.
    Body {
        filename: String,
        url_name: Option<String>,
    },
    /// An asset under `static/`: `name` as written after `/static/` (or a
    /// policy value, a transcript), query and fragment dropped, not decoded.
    Static { name: String },
    /// An asset named by a course key (`/c4x/ORG/COURSE/asset/NAME`,
    /// `asset-v1:ORG+COURSE+RUN+type@asset+block@NAME`): this course's asset
    /// when the key is this course's, else an external link.
    CourseAsset {
        org: String,
        course: String,
        run: Option<String>,
        name: String,
    },
    /// A block named by url_name, of any type (`/jump_to_id/<url_name>`).
    UrlName { url_name: String },
    /// `/course/courseware/CHAPTER/SEQUENTIAL`: one link to that sequential in
    /// that chapter.
    Courseware {
        chapter: String,
        sequential: Option<String>,
    },
    /// A library by key (`source_library_id="library-v1:ORG+LIBRARY"`).
    Library { org: String, library: String },
    /// A block named by a key (a draft's `parent_url`): `TYPE/URL_NAME.xml`.
    Block {
        block_type: String,
        url_name: String,
    },
    /// Content in another collection named by alias (`<xblock-include
    /// source="alias" …/>`, or a `source_library_id` that is not a v1 key),
    /// `path` the path inside it if known.
    Collection {
        collection: String,
        path: Option<String>,
    },
    /// An absolute URL: outside this store.
    Url { url: String },
}

/// One reference found in a unit's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RawLink {
    pub kind: LinkKind,
    pub target: Target,
    /// The reference as written in the file (attribute value or URL), for reports.
    pub written: String,
    /// 1-based line where the reference appears.
    pub line: u32,
}

/// A place where the XML did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParseProblem {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Everything extraction found: links, in document order, and problems.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Extracted {
    pub links: Vec<RawLink>,
    pub problems: Vec<ParseProblem>,
    /// Blocks defined inline (an element with a `url_name` that is not a
    /// pointer), which `/jump_to_id/` and courseware links may name.
    #[serde(default)]
    pub blocks: Vec<InlineBlock>,
    /// The root element of an XML file: the block the file defines (or
    /// points to), with the `display_name` a person knows it by.
    #[serde(default)]
    pub root: Option<RootBlock>,
}

/// What a file's root element says about its block: its type (the tag) and
/// its `display_name`, which the UI and CLI show in place of file names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RootBlock {
    pub block_type: String,
    pub display_name: Option<String>,
}

/// A block defined inside a file rather than in a file of its own (a
/// hand-written course's `<chapter url_name="w1" display_name="…">…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InlineBlock {
    pub block_type: String,
    pub url_name: String,
}

/// Extracts references from one unit. `path` is the unit's collection path (used
/// only for context such as the root element's file); `syntax` says how to read it.
///
/// Identical `(kind, target, written)` references within one file are reported
/// once, at their first line. Problems come sorted by position.
pub fn extract(path: &str, bytes: &[u8], syntax: Syntax) -> Extracted {
    // What depends on the file's place (a draft's root, an html body's folder)
    // is applied at resolution, so the same bytes extract the same links
    // wherever they are stored.
    let _ = path;
    let mut out = Sink::default();
    match syntax {
        Syntax::Xml => extract_xml(bytes, &mut out),
        Syntax::Html => {
            // The LMS reads an HTML body's text as it is: no entity decoding.
            let text = String::from_utf8_lossy(bytes);
            statics::scan_quoted(&text, 1, &mut out);
        }
        Syntax::Json => course::extract_policy(bytes, &mut out),
    }
    out.problems.sort_by_key(|p| (p.line, p.column));
    Extracted {
        links: out.links,
        problems: out.problems,
        blocks: out.blocks,
        root: out.root,
    }
}

// ---------------------------------------------------------------------------
// Collecting results
// ---------------------------------------------------------------------------

#[derive(Default)]
pub(super) struct Sink {
    links: Vec<RawLink>,
    blocks: Vec<InlineBlock>,
    root: Option<RootBlock>,
    pub(super) problems: Vec<ParseProblem>,
    seen: HashSet<(LinkKind, Target, String)>,
}

impl Sink {
    pub(super) fn push(&mut self, kind: LinkKind, target: Target, written: &str, line: u32) {
        let key = (kind, target, written.to_owned());
        if self.seen.contains(&key) {
            return;
        }
        self.links.push(RawLink {
            kind,
            target: key.1.clone(),
            written: key.2.clone(),
            line,
        });
        self.seen.insert(key);
    }

    fn push_link(&mut self, link: RawLink) {
        let key = (link.kind, link.target, link.written);
        if self.seen.contains(&key) {
            return;
        }
        self.links.push(RawLink {
            kind: key.0,
            target: key.1.clone(),
            written: key.2.clone(),
            line: link.line,
        });
        self.seen.insert(key);
    }
}

/// Line and column lookup over the parsed bytes. Lookups are mostly at growing
/// offsets, so a forward cursor keeps counting newlines linear in the file size.
struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Lines<'a> {
    fn new(input: &'a [u8]) -> Self {
        Lines {
            input,
            pos: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, offset: usize) -> u32 {
        let offset = offset.min(self.input.len());
        if offset < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        self.line += count_newlines(&self.input[self.pos..offset]);
        self.pos = offset;
        self.line
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&mut self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.input.len());
        let line = self.line_at(offset);
        let before = &self.input[..offset];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let chars = before[line_start..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        (line, saturating_u32(chars) + 1)
    }
}

pub(super) fn count_newlines(bytes: &[u8]) -> u32 {
    saturating_u32(bytes.iter().filter(|&&b| b == b'\n').count())
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------
//
// Which elements are child pointers. Exports write a block's children as
// `<tag url_name="x"/>` (legacy courses: `<tag filename="x" …/>`) directly inside
// the parent block's element; everything else nested in a block is that block's
// own markup. So an element is a pointer candidate only when it is a file's root
// (`course.xml`) or sits directly inside an element whose children may point:
//
// - a CONTAINERS element (structural blocks, also when nested inline in a
//   hand-written course, as long as it is itself in pointer position);
// - a file's root that is not one of the LEAVES (an unknown block exported with
//   its children, e.g. `problem-builder/x.xml`);
// - an inline pure XBlock (`xblock-family=…`) that is not one of the LEAVES, in
//   pointer position (its XModule-style children are exported as pointers).
//
// Inside a leaf (capa response types, video `source`/`track`/`transcript`, HTML
// markup, ORA rubrics) nothing is a pointer, and `wiki`/`textbook` under `course`
// never are. A candidate is a pointer only if it turns out empty (whitespace
// aside, a comment counts as content) and has exactly the pointer attributes
// (`pointers::is_pointer_attrs`); so the decision waits for its end tag. A
// `filename=` in pointer position names its file whatever the element holds
// (`html`: its body; any other type: a legacy block file).

struct Frame {
    name: String,
    /// Whether direct children of this element may be pointers.
    children_may_point: bool,
    /// A pointer that becomes a link when the element closes without content.
    pending: Option<RawLink>,
    /// Inside a `<video>` (transcript children name static files).
    in_video: bool,
    /// Byte offset of the start tag's `<`.
    start: usize,
    /// The element's `url_name`, when it is in pointer position: a block
    /// defined inline unless it turns out to be a pointer.
    inline: Option<InlineBlock>,
}

struct XmlState<'a> {
    input: &'a [u8],
    lines: Lines<'a>,
    stack: Vec<Frame>,
    roots: usize,
    /// Text (with references resolved) gathered since the last markup event.
    text: String,
    text_start: usize,
    text_has_content: bool,
    /// The file's text holds `index_in_children_list`: its root may be a
    /// draft root, whose `parent_url` is a link.
    draft_root: bool,
}

fn extract_xml(bytes: &[u8], out: &mut Sink) {
    let input = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    find_conflict_markers(input, out);

    let mut reader = Reader::from_reader(input);
    // Both are quick-xml's defaults; they are what makes a mismatched or stray end
    // tag a problem, so say so explicitly.
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_unmatched_ends = false;

    let mut st = XmlState {
        input,
        lines: Lines::new(input),
        stack: Vec::new(),
        roots: 0,
        text: String::new(),
        text_start: 0,
        text_has_content: false,
        draft_root: drafts::is_draft_root_text(input),
    };

    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                st.flush_text(out);
                let at = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
                st.problem(out, at, xml_error_message(&err));
                return;
            }
        };
        match event {
            Event::Text(t) => {
                let chunk = String::from_utf8_lossy(&t);
                st.add_text(before, &chunk);
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r);
                st.add_reference(before, &name);
            }
            Event::CData(c) => {
                let chunk = String::from_utf8_lossy(&c);
                st.add_text(before, &chunk);
            }
            Event::Start(e) => {
                st.flush_text(out);
                if !st.start_element(&e, before, out) {
                    return;
                }
            }
            Event::Empty(e) => {
                st.flush_text(out);
                if !st.start_element(&e, before, out) {
                    return;
                }
                st.end_element(out);
            }
            Event::End(_) => {
                st.flush_text(out);
                st.end_element(out);
            }
            Event::Comment(_) => {
                st.flush_text(out);
                // lxml counts a comment as a child: the element is no pointer.
                if let Some(frame) = st.stack.last_mut() {
                    frame.pending = None;
                }
            }
            Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {
                st.flush_text(out);
            }
            Event::Eof => {
                st.flush_text(out);
                st.finish(out);
                return;
            }
        }
    }
}

fn xml_error_message(err: &quick_xml::Error) -> String {
    match err {
        quick_xml::Error::InvalidAttr(e) => attr_error_message(e),
        quick_xml::Error::IllFormed(e) => format!("XML is not well-formed: {e}"),
        quick_xml::Error::Syntax(e) => format!("XML syntax error: {e}"),
        other => format!("XML does not parse: {other}"),
    }
}

fn attr_error_message(err: &AttrError) -> String {
    match err {
        AttrError::ExpectedEq(_) => "attribute name not followed by `=`".to_owned(),
        AttrError::ExpectedValue(_) => "`=` not followed by an attribute value".to_owned(),
        AttrError::UnquotedValue(_) => "attribute value not in quotes".to_owned(),
        AttrError::ExpectedQuote(_, q) => {
            format!("attribute value not closed: missing `{}`", char::from(*q))
        }
        AttrError::Duplicated(_, _) => "duplicated attribute".to_owned(),
    }
}

fn attr_error_position(err: &AttrError) -> usize {
    match err {
        AttrError::ExpectedEq(p)
        | AttrError::ExpectedValue(p)
        | AttrError::UnquotedValue(p)
        | AttrError::ExpectedQuote(p, _)
        | AttrError::Duplicated(p, _) => *p,
    }
}

/// A parsed attribute: name, raw value (still escaped) and the value's byte offset.
struct Attr<'e> {
    key: Cow<'e, str>,
    raw: Cow<'e, [u8]>,
    offset: usize,
}

impl Attr<'_> {
    fn value(&self) -> Cow<'_, str> {
        match String::from_utf8_lossy(&self.raw) {
            Cow::Borrowed(s) => unescape(s),
            Cow::Owned(s) => Cow::Owned(unescape(&s).into_owned()),
        }
    }
}

impl XmlState<'_> {
    fn problem(&mut self, out: &mut Sink, offset: usize, message: String) {
        let (line, column) = self.lines.line_col(offset);
        out.problems.push(ParseProblem {
            line,
            column,
            message,
        });
    }

    fn add_text(&mut self, at: usize, chunk: &str) {
        if self.text.is_empty() {
            self.text_start = at;
        }
        if !chunk.trim().is_empty() {
            self.text_has_content = true;
        }
        self.text.push_str(chunk);
    }

    fn add_reference(&mut self, at: usize, name: &str) {
        if self.text.is_empty() {
            self.text_start = at;
        }
        self.text_has_content = true;
        push_reference(&mut self.text, name);
    }

    /// Handles the text gathered since the last markup: marks the open element as
    /// having content and scans the text for URLs.
    fn flush_text(&mut self, out: &mut Sink) {
        if self.text.is_empty() {
            return;
        }
        if self.text_has_content {
            match self.stack.last_mut() {
                Some(frame) => frame.pending = None,
                None => {
                    let at = self.text_start + self.text.len() - self.text.trim_start().len();
                    self.problem(out, at, "text outside the root element".to_owned());
                }
            }
            if self.text.contains('/') {
                let line = self.lines.line_at(self.text_start);
                statics::scan_quoted(&self.text, line, out);
            }
        }
        self.text.clear();
        self.text_has_content = false;
    }

    /// Handles a start (or empty) tag. Returns false when the tag's attributes do
    /// not parse, which ends the parse.
    fn start_element(&mut self, e: &BytesStart<'_>, at: usize, out: &mut Sink) -> bool {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();

        let mut attrs: Vec<Attr<'_>> = Vec::new();
        for attr in e.attributes() {
            match attr {
                Ok(a) => {
                    let offset = offset_in(self.input, &a.value).unwrap_or(at);
                    attrs.push(Attr {
                        key: String::from_utf8_lossy(a.key.into_inner()),
                        raw: a.value,
                        offset,
                    });
                }
                Err(err) => {
                    self.problem(
                        out,
                        at + 1 + attr_error_position(&err),
                        attr_error_message(&err),
                    );
                    return false;
                }
            }
        }

        let is_root = self.stack.is_empty();
        if is_root && self.roots == 0 {
            let display_name = attrs
                .iter()
                .find(|a| a.key == "display_name")
                .map(|a| a.value().trim().to_owned())
                .filter(|v| !v.is_empty());
            out.root = Some(RootBlock {
                block_type: name.clone(),
                display_name,
            });
        }
        if is_root {
            self.roots += 1;
            if self.roots == 2 {
                self.problem(
                    out,
                    at,
                    format!("second root element <{name}>: an XML file has one root"),
                );
            }
        }
        let parent = self.stack.last_mut();
        let parent_may_point = parent.as_ref().is_none_or(|p| p.children_may_point);
        let in_video = parent.as_ref().is_some_and(|p| p.in_video);
        if let Some(parent) = parent {
            // A child element is content: the parent is an inline definition.
            parent.pending = None;
        }

        let find = |key: &str| attrs.iter().find(|a| a.key == key);
        let tag = name.as_str();
        let has_family = find("xblock-family").is_some();
        let children_may_point = parent_may_point
            && (CONTAINERS.contains(&tag) || (!LEAVES.contains(&tag) && (is_root || has_family)));
        let is_video = tag == "video" || tag == "videoalpha";

        // A pointer only becomes a link if the element turns out to be empty.
        let mut pending = None;
        let mut names_file = false;
        if parent_may_point && !NOT_POINTERS.contains(&tag) && !has_family {
            let filename = find("filename").filter(|f| !f.raw.is_empty());
            if let Some(filename) = filename {
                let value = filename.value();
                let line = self.lines.line_at(filename.offset);
                let (kind, target) = if tag == "html" {
                    let url_name = find("url_name")
                        .filter(|_| !is_root)
                        .map(|a| a.value().into_owned());
                    (
                        LinkKind::Body,
                        Target::Body {
                            filename: value.to_string(),
                            url_name,
                        },
                    )
                } else {
                    (
                        LinkKind::Child,
                        Target::AnyOf {
                            paths: pointers::legacy_candidates(tag, &value),
                        },
                    )
                };
                out.push(kind, target, &value, line);
                // edx-platform loads the named file instead of what the
                // element holds, so nothing inside it is a pointer.
                if tag != "html" {
                    names_file = true;
                }
            } else if let Some(url_name) = find("url_name")
                .filter(|_| pointers::is_pointer_attrs(tag, attrs.iter().map(|a| a.key.as_ref())))
            {
                let value = url_name.value();
                pending = Some(RawLink {
                    kind: LinkKind::Child,
                    target: Target::Path {
                        path: pointers::pointer_path(tag, &value),
                    },
                    written: value.into_owned(),
                    line: self.lines.line_at(url_name.offset),
                });
            }
        }
        if is_root && self.draft_root {
            let parent = find("parent_url").or_else(|| find("parent_sequential_url"));
            if let Some(parent) = parent {
                let value = parent.value();
                if let Some((block_type, url_name)) = drafts::parse_block_url(&value) {
                    let line = self.lines.line_at(parent.offset);
                    out.push(
                        LinkKind::Parent,
                        Target::Block {
                            block_type,
                            url_name,
                        },
                        &value,
                        line,
                    );
                }
            }
        }

        for attr in &attrs {
            let key = attr.key.as_ref();
            let special = matches!(
                (tag, key),
                ("xblock-include", "definition")
                    | (_, "source_library_id")
                    | ("video" | "videoalpha", "transcripts" | "sub")
                    | ("transcript", "src")
            );
            if !special && !attr.raw.contains(&b'/') {
                continue;
            }
            let value = attr.value();
            let line = self.lines.line_at(attr.offset);
            match (tag, key) {
                ("xblock-include", "definition") if !value.is_empty() => {
                    let path = format!("{}/definition.xml", value.trim_end_matches('/'));
                    let target = match find("source").map(Attr::value) {
                        Some(source) if !source.is_empty() => Target::Collection {
                            collection: source.into_owned(),
                            path: Some(path),
                        },
                        _ => Target::Path { path },
                    };
                    out.push(LinkKind::Include, target, &value, line);
                }
                (_, "source_library_id") if !value.trim().is_empty() => {
                    let target = match libraries::parse_library_id(&value) {
                        Some((org, library)) => Target::Library { org, library },
                        None => Target::Collection {
                            collection: value.trim().to_owned(),
                            path: None,
                        },
                    };
                    out.push(LinkKind::Include, target, &value, line);
                }
                ("video" | "videoalpha", "transcripts") => {
                    for name in transcript_names(&value) {
                        statics::push_bare(&name, line, out);
                    }
                }
                ("video" | "videoalpha", "sub") if !value.trim().is_empty() => {
                    let name = format!("subs_{}.srt.sjson", value.trim());
                    out.push(LinkKind::Static, Target::Static { name }, &value, line);
                }
                ("transcript", "src") if in_video => statics::push_bare(&value, line, out),
                _ => {}
            }
            if value.contains('/') {
                statics::scan_attribute(&value, line, out);
            }
        }

        // A file's root takes its url_name from the file's path.
        let inline = find("url_name")
            .filter(|_| parent_may_point && !is_root && !NOT_POINTERS.contains(&tag))
            .map(|a| a.value().trim().to_owned())
            .filter(|u| !u.is_empty())
            .map(|url_name| InlineBlock {
                block_type: tag.to_owned(),
                url_name,
            });
        self.stack.push(Frame {
            inline,
            name,
            children_may_point: children_may_point && !names_file,
            pending,
            in_video: in_video || is_video,
            start: at,
        });
        true
    }

    fn end_element(&mut self, out: &mut Sink) {
        if let Some(frame) = self.stack.pop() {
            match (frame.pending, frame.inline) {
                (Some(link), _) => out.push_link(link),
                (None, Some(block)) => {
                    if !out.blocks.contains(&block) {
                        out.blocks.push(block);
                    }
                }
                (None, None) => {}
            }
        }
    }

    fn finish(&mut self, out: &mut Sink) {
        if let Some(frame) = self.stack.last() {
            let (line, column) = self.lines.line_col(frame.start);
            let name = frame.name.clone();
            out.problems.push(ParseProblem {
                line,
                column,
                message: format!(
                    "element <{name}> is never closed: end of file reached before </{name}>"
                ),
            });
        } else if self.roots == 0 {
            out.problems.push(ParseProblem {
                line: 1,
                column: 1,
                message: "no root element: the file has no XML element".to_owned(),
            });
        }
    }
}

/// Byte offset of `part` inside `input`, when `part` is a slice of it (events of
/// a slice reader borrow from the input; live allocations never overlap, so a
/// copy can not pass the range check).
fn offset_in(input: &[u8], part: &[u8]) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    (at + part.len() <= input.len()).then_some(at)
}

/// Bare file names in a video's `transcripts` attribute, a JSON object mapping
/// language codes to names under `static/`.
fn transcript_names(value: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(_, v)| match v {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Flags committed merge-conflict markers: lines starting with `<<<<<<<` or
/// `>>>>>>>`, and `=======` lines between them. quick-xml may read such files
/// without an error (`>` is legal in text), so they are checked apart.
fn find_conflict_markers(input: &[u8], out: &mut Sink) {
    if !contains(input, b"<<<<<<<") && !contains(input, b">>>>>>>") {
        return;
    }
    let mut inside = false;
    for (index, line) in input.split(|&b| b == b'\n').enumerate() {
        let marker = if line.starts_with(b"<<<<<<<") {
            inside = true;
            "<<<<<<<"
        } else if line.starts_with(b">>>>>>>") {
            inside = false;
            ">>>>>>>"
        } else if inside && line.starts_with(b"=======") {
            "======="
        } else {
            continue;
        };
        out.problems.push(ParseProblem {
            line: saturating_u32(index + 1),
            column: 1,
            message: format!("unresolved merge conflict: `{marker}` marker"),
        });
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------

/// Appends the text an entity or character reference (`lt`, `#10`, `#x2F`)
/// stands for. Newline references become a space so that counting `\n` in the
/// result still counts source lines; unknown entities are kept as written.
fn push_reference(out: &mut String, name: &str) {
    let c = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name.strip_prefix('#').and_then(|num| {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    match c {
        Some('\n' | '\r') => out.push(' '),
        Some(c) => out.push(c),
        None => {
            out.push('&');
            out.push_str(name);
            out.push(';');
        }
    }
}

/// Resolves entity and character references in an attribute value or an HTML
/// body (see `push_reference`). Borrows when there is nothing to resolve.
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Entity names are short; a `;` further away means a bare `&`.
        let semi = after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';' || c == '&' || c.is_whitespace() || c == '<')
            .filter(|&(_, c)| c == ';')
            .map(|(i, _)| i);
        match semi {
            Some(semi) if semi > 0 => {
                push_reference(&mut out, &after[..semi]);
                rest = &after[semi + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Helpers for the rule modules' extraction tests.
#[cfg(test)]
pub(super) mod testing {
    use super::*;

    pub fn xml(s: &str) -> Extracted {
        extract("test.xml", s.as_bytes(), Syntax::Xml)
    }

    pub fn path(p: &str) -> Target {
        Target::Path { path: p.to_owned() }
    }

    /// (kind, target) pairs, in order.
    pub fn targets(ex: &Extracted) -> Vec<(LinkKind, Target)> {
        ex.links
            .iter()
            .map(|l| (l.kind, l.target.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{path, targets, xml};
    use super::*;

    fn html(s: &str) -> Extracted {
        extract("html/test.html", s.as_bytes(), Syntax::Html)
    }

    fn asset(name: &str) -> Target {
        Target::Static {
            name: name.to_owned(),
        }
    }

    #[test]
    fn xblock_include_names_a_definition_here_or_in_another_collection() {
        let ex = xml(concat!(
            "<unit>\n",
            "  <xblock-include definition=\"html/html1\"/>\n",
            "  <xblock-include source=\"lib\" definition=\"problem/p1\" usage_hint=\"p\"/>\n",
            "</unit>",
        ));
        assert_eq!(
            targets(&ex),
            vec![
                (LinkKind::Include, path("html/html1/definition.xml")),
                (
                    LinkKind::Include,
                    Target::Collection {
                        collection: "lib".to_owned(),
                        path: Some("problem/p1/definition.xml".to_owned())
                    }
                ),
            ],
            "include links"
        );
    }

    #[test]
    fn identical_references_in_one_file_are_reported_once_at_the_first_line() {
        let ex = html("<img src=\"/static/a.png\">\n<img src=\"/static/a.png\">\n<img src=\"/static/a.png?v=1\">");
        let lines: Vec<(u32, &str)> = ex
            .links
            .iter()
            .map(|l| (l.line, l.written.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![(1, "/static/a.png"), (3, "/static/a.png?v=1")],
            "same written once; differently written kept"
        );
    }

    #[test]
    fn malformed_xml_gives_a_problem_with_line_and_column_and_keeps_earlier_links() {
        let ex = xml(concat!(
            "<vertical>\n",
            "  <html url_name=\"a\"/>\n",
            "  <p></q>\n",
            "  <html url_name=\"b\"/>\n",
            "</vertical>",
        ));
        assert_eq!(
            targets(&ex),
            vec![(LinkKind::Child, path("html/a.xml"))],
            "the link before the error is kept, none after"
        );
        assert_eq!(ex.problems.len(), 1, "one problem: {:?}", ex.problems);
        let problem = &ex.problems[0];
        assert_eq!(
            (problem.line, problem.column),
            (3, 6),
            "points at `</q>`: {problem:?}"
        );
        assert!(
            problem.message.contains("</p>"),
            "message names the tag: {}",
            problem.message
        );
    }

    #[test]
    fn unclosed_elements_empty_files_and_bad_attributes_are_problems() {
        let unclosed = xml("<vertical>\n  <sequential>\n");
        assert_eq!(
            unclosed.problems.len(),
            1,
            "unclosed: {:?}",
            unclosed.problems
        );
        assert_eq!(
            (unclosed.problems[0].line, unclosed.problems[0].column),
            (2, 3),
            "points at the innermost open tag"
        );
        let empty = xml("  \n");
        assert_eq!(empty.problems.len(), 1, "empty file: {:?}", empty.problems);
        assert!(
            empty.problems[0].message.contains("no root"),
            "{:?}",
            empty.problems
        );
        let attr = xml("<vertical>\n  <html url_name=a/>\n</vertical>");
        assert_eq!(
            attr.problems.len(),
            1,
            "unquoted attribute: {:?}",
            attr.problems
        );
        assert_eq!(attr.problems[0].line, 2, "{:?}", attr.problems);
        let stray = xml("<a/>\n</b>");
        assert_eq!(
            stray.problems.len(),
            1,
            "stray end tag: {:?}",
            stray.problems
        );
        let two = xml("<a/><b/>");
        assert_eq!(two.problems.len(), 1, "two roots: {:?}", two.problems);
        let unicode = xml("<p>é\n  é<b></c></p>");
        assert_eq!(
            (unicode.problems[0].line, unicode.problems[0].column),
            (2, 7),
            "columns count characters: {:?}",
            unicode.problems
        );
        let bom = xml("\u{feff}<?xml version=\"1.0\"?>\n<vertical/>");
        assert!(
            bom.problems.is_empty(),
            "BOM and declaration are fine: {:?}",
            bom.problems
        );
    }

    #[test]
    fn merge_conflict_markers_are_flagged() {
        let ex = xml(concat!(
            "<sequential>\n",
            "<<<<<<< HEAD\n",
            "  <vertical url_name=\"a\"/>\n",
            "=======\n",
            "  <vertical url_name=\"b\"/>\n",
            ">>>>>>> feature\n",
            "</sequential>\n",
        ));
        let marker_lines: Vec<u32> = ex
            .problems
            .iter()
            .filter(|p| p.message.contains("merge conflict"))
            .map(|p| p.line)
            .collect();
        assert_eq!(
            marker_lines,
            vec![2, 4, 6],
            "all three markers: {:?}",
            ex.problems
        );
    }

    #[test]
    fn html_is_never_flagged_and_tolerates_broken_markup_and_bytes() {
        let mut bytes = b"<p><b>unclosed <img src=\"/static/x.png\"\n<<<<<<< HEAD\n".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b" <a href='/jump_to_id/y'>");
        let ex = extract("html/x.html", &bytes, Syntax::Html);
        assert!(
            ex.problems.is_empty(),
            "html has no problems: {:?}",
            ex.problems
        );
        assert_eq!(
            targets(&ex),
            vec![
                (LinkKind::Static, asset("x.png")),
                (
                    LinkKind::Jump,
                    Target::UrlName {
                        url_name: "y".to_owned()
                    }
                ),
            ],
            "links still found"
        );
        assert_eq!(ex.links[1].line, 3, "line after invalid bytes");
    }
}
