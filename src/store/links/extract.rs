//! Reference extraction: turns one unit's bytes into the raw links it contains
//! (child pointers, html bodies, static assets, includes, jumps) and its parse
//! problems. It is a pure function of content, so results are stored per content
//! hash; it never fails, because real exports contain broken files.

use std::borrow::Cow;
use std::collections::HashSet;

use percent_encoding::percent_decode_str;
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
}

impl Syntax {
    /// The name used in SQL (`content_scan.syntax`, `link.syntax`) and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::Xml => "xml",
            Syntax::Html => "html",
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
    /// A courseware link to another block (`/jump_to_id/…`, `/jump_to/…`).
    Jump,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Child => "child",
            LinkKind::Body => "body",
            LinkKind::Static => "static",
            LinkKind::Include => "include",
            LinkKind::Jump => "jump",
        }
    }
    pub fn parse(s: &str) -> Option<LinkKind> {
        Some(match s {
            "child" => LinkKind::Child,
            "body" => LinkKind::Body,
            "static" => LinkKind::Static,
            "include" => LinkKind::Include,
            "jump" => LinkKind::Jump,
            _ => return None,
        })
    }
}

/// What a reference names, before resolution against a collection state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A collection-relative path, exactly (e.g. `vertical/abc.xml`, `html/x.html`,
    /// `html/html1/definition.xml`).
    Path { path: String },
    /// Any of these candidate paths, first existing one wins (legacy `filename=`
    /// pointers that may live under `problem/` or `problems/`).
    AnyOf { paths: Vec<String> },
    /// An asset under `static/`: `name` is the part after `static/`, URL-decoded,
    /// query and fragment dropped (e.g. `Brain_yellow.png`, `images/a b.png`).
    Static { name: String },
    /// A block named by url_name, of any type (`/jump_to_id/<url_name>`).
    UrlName { url_name: String },
    /// Something in another collection: `collection` is the alias/source/library id
    /// as written (`source="alias"`, `library-v1:ORG+NAME`), `path` the path inside
    /// it if known.
    External {
        collection: String,
        path: Option<String>,
    },
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
}

/// Extracts references from one unit. `path` is the unit's collection path (used
/// only for context such as the root element's file); `syntax` says how to read it.
///
/// Identical `(kind, target, written)` references within one file are reported
/// once, at their first line. Problems come sorted by position.
pub fn extract(path: &str, bytes: &[u8], syntax: Syntax) -> Extracted {
    // The pointer rules depend on element names only (`course` may carry `org` and
    // `course` whichever file it is in), so the path is not needed today.
    let _ = path;
    let mut out = Sink::default();
    match syntax {
        Syntax::Xml => extract_xml(bytes, &mut out),
        Syntax::Html => {
            let text = String::from_utf8_lossy(bytes);
            let text = unescape(&text);
            scan_urls(&text, 1, &mut out);
        }
    }
    out.problems.sort_by_key(|p| (p.line, p.column));
    Extracted {
        links: out.links,
        problems: out.problems,
    }
}

// ---------------------------------------------------------------------------
// Collecting results
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Sink {
    links: Vec<RawLink>,
    problems: Vec<ParseProblem>,
    seen: HashSet<(LinkKind, Target, String)>,
}

impl Sink {
    fn push(&mut self, kind: LinkKind, target: Target, written: &str, line: u32) {
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

fn count_newlines(bytes: &[u8]) -> u32 {
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
// aside) and has only `url_name` (`course`: also `org`, `course`) or, not being
// `html`, a `filename`; so the decision waits for its end tag.

/// Structural blocks whose direct children may be pointers (the OLX outline
/// reads blocks by the same rule).
pub const CONTAINERS: &[&str] = &[
    "course",
    "chapter",
    "sequential",
    "vertical",
    "library",
    "library_content",
    "split_test",
    "conditional",
    "randomize",
    "itembank",
    "unit",
    "problemset",
    "videosequence",
    "wrapper",
];

/// Leaf blocks: their content is markup (capa response types, video sources and
/// transcripts, HTML, ORA rubrics), never pointers, even as a file's root.
pub const LEAVES: &[&str] = &[
    "problem",
    "html",
    "video",
    "videoalpha",
    "annotatable",
    "discussion",
    "lti",
    "lti_consumer",
    "openassessment",
    "poll",
    "poll_question",
    "survey",
    "word_cloud",
    "drag-and-drop-v2",
    "done",
    "edx_sga",
    "staffgradedxblock",
    "customtag",
    "about",
    "static_tab",
    "course_info",
    "textbook",
    "wiki",
];

/// Elements that sit in containers but never point at block files.
const NOT_POINTERS: &[&str] = &["wiki", "textbook"];

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
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {
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
                scan_urls(&self.text, line, out);
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
        if parent_may_point && !NOT_POINTERS.contains(&tag) {
            if let Some(url_name) = find("url_name").filter(|_| is_pointer_attrs(tag, &attrs)) {
                let value = url_name.value();
                pending = Some(RawLink {
                    kind: LinkKind::Child,
                    target: Target::Path {
                        path: format!("{tag}/{}.xml", value.replace(':', "/")),
                    },
                    written: value.into_owned(),
                    line: self.lines.line_at(url_name.offset),
                });
            } else if let Some(filename) = find("filename").filter(|_| tag != "html") {
                let value = filename.value();
                if !value.is_empty() {
                    let file = if value.ends_with(".xml") {
                        value.to_string()
                    } else {
                        format!("{value}.xml")
                    };
                    pending = Some(RawLink {
                        kind: LinkKind::Child,
                        target: Target::AnyOf {
                            paths: vec![format!("{tag}/{file}"), format!("{tag}s/{file}")],
                        },
                        written: value.into_owned(),
                        line: self.lines.line_at(filename.offset),
                    });
                }
            }
        }

        for attr in &attrs {
            let key = attr.key.as_ref();
            let special = matches!(
                (tag, key),
                ("html", "filename")
                    | ("xblock-include", "definition")
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
                ("html", "filename") if !value.is_empty() => {
                    let path = if value.ends_with(".html") {
                        format!("html/{value}")
                    } else {
                        format!("html/{value}.html")
                    };
                    out.push(LinkKind::Body, Target::Path { path }, &value, line);
                }
                ("xblock-include", "definition") if !value.is_empty() => {
                    let path = format!("{}/definition.xml", value.trim_end_matches('/'));
                    let target = match find("source").map(Attr::value) {
                        Some(source) if !source.is_empty() => Target::External {
                            collection: source.into_owned(),
                            path: Some(path),
                        },
                        _ => Target::Path { path },
                    };
                    out.push(LinkKind::Include, target, &value, line);
                }
                (_, "source_library_id") if !value.trim().is_empty() => {
                    let target = Target::External {
                        collection: value.trim().to_owned(),
                        path: None,
                    };
                    out.push(LinkKind::Include, target, &value, line);
                }
                ("video" | "videoalpha", "transcripts") => {
                    for name in transcript_names(&value) {
                        push_bare_static(&name, line, out);
                    }
                }
                ("video" | "videoalpha", "sub") if !value.trim().is_empty() => {
                    let name = format!("subs_{}.srt.sjson", value.trim());
                    out.push(LinkKind::Static, Target::Static { name }, &value, line);
                }
                ("transcript", "src") if in_video => push_bare_static(&value, line, out),
                _ => {}
            }
            if value.contains('/') {
                scan_urls(&value, line, out);
            }
        }

        self.stack.push(Frame {
            name,
            children_may_point,
            pending,
            in_video: in_video || is_video,
            start: at,
        });
        true
    }

    fn end_element(&mut self, out: &mut Sink) {
        if let Some(frame) = self.stack.pop() {
            if let Some(link) = frame.pending {
                out.push_link(link);
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

/// Whether the attributes make an element a pure pointer: only `url_name` (for
/// `course`, also `org` and `course`, as in `course.xml`).
fn is_pointer_attrs(tag: &str, attrs: &[Attr<'_>]) -> bool {
    attrs
        .iter()
        .all(|a| a.key == "url_name" || (tag == "course" && (a.key == "org" || a.key == "course")))
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

/// A transcript named bare (`48c9…-en.srt`) lives under `static/`. Names that are
/// URLs are left to the URL scan.
fn push_bare_static(name: &str, line: u32, out: &mut Sink) {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.contains('/') {
        return;
    }
    out.push(
        LinkKind::Static,
        Target::Static {
            name: trimmed.to_owned(),
        },
        name,
        line,
    );
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

// ---------------------------------------------------------------------------
// URL scanning (static and jump references in text, attributes and HTML)
// ---------------------------------------------------------------------------

/// Bytes that end a URL: whitespace, quotes, markup brackets, a backslash (as in
/// `\"` inside script strings) and backquotes. `)` ends it too unless it closes a
/// `(` opened inside the URL (`url(/static/a(1).png)`).
fn ends_url(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'\r' | 0x0c | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`'
    )
}

/// Bytes that can be part of a URL's host or path: `/static/` right after one of
/// these is inside some other URL (`https://cdn.example.com/static/x`), not a
/// course asset.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b'-' | b'_' | b'~' | b'%' | b'/' | b':' | b'+' | b'@'
        )
}

/// End (exclusive) of the URL starting at `from`, trailing sentence punctuation
/// dropped.
fn url_end(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut end = from;
    while end < bytes.len() {
        match bytes[end] {
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            b'(' => depth += 1,
            b if ends_url(b) => break,
            _ => {}
        }
        end += 1;
    }
    while end > from && matches!(bytes[end - 1], b'.' | b',' | b';' | b':' | b'!') {
        end -= 1;
    }
    end
}

/// Start of the URL token that contains position `at` (for absolute URLs such as
/// `https://host/courses/…/jump_to_id/x`, so `written` shows the whole URL).
fn url_start(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let mut start = at;
    while start > 0 {
        let b = bytes[start - 1];
        if ends_url(b)
            || matches!(
                b,
                b'(' | b')' | b'=' | b',' | b';' | b'[' | b']' | b'{' | b'}' | b'|'
            )
        {
            break;
        }
        start -= 1;
    }
    start
}

/// The part of a URL before `?` or `#`.
fn strip_query(s: &str) -> &str {
    s.find(['?', '#']).map_or(s, |i| &s[..i])
}

/// URL-decodes one reference component.
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The next path segment: up to `/`, `?`, `#` or the end.
fn segment(s: &str) -> &str {
    s.find(['/', '?', '#']).map_or(s, |i| &s[..i])
}

/// Finds `/static/…`, `/asset-v1:…`, `/c4x/…`, `/jump_to_id/…`, `/jump_to/…` and
/// `/course/courseware/…` references in `text`, whose first line is `line`.
fn scan_urls(text: &str, line: u32, out: &mut Sink) {
    let bytes = text.as_bytes();
    let mut line = line;
    let mut counted = 0usize;
    let mut i = 0usize;
    while let Some(found) = text[i..].find('/') {
        let p = i + found;
        let rest = &text[p..];
        let mut line_at = |pos: usize| {
            line += count_newlines(&bytes[counted..pos]);
            counted = pos;
            line
        };
        let next = if rest.starts_with("/static/") {
            scan_static(text, p, &mut line_at, out)
        } else if rest.starts_with("/asset-v1:") {
            scan_asset_key(text, p, &mut line_at, out)
        } else if rest.starts_with("/c4x/") {
            scan_c4x(text, p, &mut line_at, out)
        } else if rest.starts_with("/jump_to_id/") {
            scan_jump_to_id(text, p, &mut line_at, out)
        } else if rest.starts_with("/jump_to/") {
            scan_jump_to(text, p, &mut line_at, out)
        } else if rest.starts_with("/courseware/") {
            scan_courseware(text, p, &mut line_at, out)
        } else {
            None
        };
        i = next.filter(|&n| n > p).unwrap_or(p + 1);
    }
}

/// Records an asset name taken from a URL (query/fragment dropped, decoded).
fn push_static(raw_name: &str, written: &str, line: u32, out: &mut Sink) {
    let name = decode(strip_query(raw_name));
    if name.is_empty() || name.ends_with('/') {
        return;
    }
    out.push(LinkKind::Static, Target::Static { name }, written, line);
}

fn scan_static(
    text: &str,
    p: usize,
    line_at: &mut impl FnMut(usize) -> u32,
    out: &mut Sink,
) -> Option<usize> {
    if p > 0 && is_url_byte(text.as_bytes()[p - 1]) {
        return None;
    }
    let from = p + "/static/".len();
    let end = url_end(text, from);
    push_static(&text[from..end], &text[p..end], line_at(p), out);
    Some(end)
}

fn scan_asset_key(
    text: &str,
    p: usize,
    line_at: &mut impl FnMut(usize) -> u32,
    out: &mut Sink,
) -> Option<usize> {
    const MARK: &str = "+type@asset+block@";
    let end = url_end(text, p + 1);
    let url = &text[p..end];
    let at = url.find(MARK)?;
    let start = url_start(text, p);
    push_static(&url[at + MARK.len()..], &text[start..end], line_at(p), out);
    Some(end)
}

fn scan_c4x(
    text: &str,
    p: usize,
    line_at: &mut impl FnMut(usize) -> u32,
    out: &mut Sink,
) -> Option<usize> {
    let end = url_end(text, p + 1);
    let mut parts = text[p + "/c4x/".len()..end].splitn(4, '/');
    let (_org, _course, kind, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if kind != "asset" {
        return None;
    }
    let start = url_start(text, p);
    push_static(name, &text[start..end], line_at(p), out);
    Some(end)
}

fn scan_jump_to_id(
    text: &str,
    p: usize,
    line_at: &mut impl FnMut(usize) -> u32,
    out: &mut Sink,
) -> Option<usize> {
    let from = p + "/jump_to_id/".len();
    let end = url_end(text, from);
    let url_name = decode(segment(&text[from..end]));
    if url_name.is_empty() {
        return Some(end);
    }
    let start = url_start(text, p);
    out.push(
        LinkKind::Jump,
        Target::UrlName { url_name },
        &text[start..end],
        line_at(p),
    );
    Some(end)
}

fn scan_jump_to(
    text: &str,
    p: usize,
    line_at: &mut impl FnMut(usize) -> u32,
    out: &mut Sink,
) -> Option<usize> {
    let from = p + "/jump_to/".len();
    let end = url_end(text, from);
    let key = decode(strip_query(&text[from..end]));
    let path = if let Some(i4x) = key.strip_prefix("i4x://") {
        // i4x://ORG/COURSE/TYPE/ID
        let mut parts = i4x.split('/');
        let (_org, _course, kind, id) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        format!("{kind}/{id}.xml")
    } else {
        // block-v1:ORG+COURSE+RUN+type@TYPE+block@ID
        let kind_at = key.find("+type@")? + "+type@".len();
        let kind_len = key[kind_at..].find("+block@")?;
        let kind = &key[kind_at..kind_at + kind_len];
        let id = segment(&key[kind_at + kind_len + "+block@".len()..]);
        format!("{kind}/{id}.xml")
    };
    if path.starts_with('/') || path.ends_with("/.xml") {
        return Some(end);
    }
    let start = url_start(text, p);
    out.push(
        LinkKind::Jump,
        Target::Path { path },
        &text[start..end],
        line_at(p),
    );
    Some(end)
}

/// `/course/courseware/CHAPTER/SEQUENTIAL` (the portable form Studio rewrites to
/// the course's URL) or the LMS's `/courses/<course id>/courseware/…`.
fn scan_courseware(
    text: &str,
    p: usize,
    line_at: &mut impl FnMut(usize) -> u32,
    out: &mut Sink,
) -> Option<usize> {
    let start = url_start(text, p);
    let before = &text[start..p];
    let portable = before.strip_suffix("/course").is_some_and(|head| {
        head.is_empty() || !head.ends_with(|c: char| c.is_ascii() && is_url_byte(c as u8))
    });
    let lms = before.contains("/courses/");
    if !portable && !lms {
        return None;
    }
    let from = p + "/courseware/".len();
    let end = url_end(text, from);
    let tail = strip_query(&text[from..end]);
    let mut parts = tail.split('/');
    let chapter = decode(parts.next().unwrap_or_default());
    let sequential = decode(parts.next().unwrap_or_default());
    if chapter.is_empty() {
        return Some(end);
    }
    let written = &text[start..end];
    let line = line_at(p);
    out.push(
        LinkKind::Jump,
        Target::Path {
            path: format!("chapter/{chapter}.xml"),
        },
        written,
        line,
    );
    if !sequential.is_empty() {
        out.push(
            LinkKind::Jump,
            Target::Path {
                path: format!("sequential/{sequential}.xml"),
            },
            written,
            line,
        );
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(s: &str) -> Extracted {
        extract("test.xml", s.as_bytes(), Syntax::Xml)
    }

    fn html(s: &str) -> Extracted {
        extract("html/test.html", s.as_bytes(), Syntax::Html)
    }

    fn path(p: &str) -> Target {
        Target::Path { path: p.to_owned() }
    }

    fn asset(name: &str) -> Target {
        Target::Static {
            name: name.to_owned(),
        }
    }

    /// (kind, target) pairs, in order.
    fn targets(ex: &Extracted) -> Vec<(LinkKind, Target)> {
        ex.links
            .iter()
            .map(|l| (l.kind, l.target.clone()))
            .collect()
    }

    fn statics(ex: &Extracted) -> Vec<String> {
        ex.links
            .iter()
            .filter_map(|l| match &l.target {
                Target::Static { name } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_url_name_only_element_in_a_container_is_a_child_pointer() {
        let ex = xml("<sequential display_name=\"S\">\n  <vertical url_name=\"3bed87cf\"/>\n  <vertical url_name=\"x:y\"></vertical>\n</sequential>");
        assert_eq!(
            targets(&ex),
            vec![
                (LinkKind::Child, path("vertical/3bed87cf.xml")),
                (LinkKind::Child, path("vertical/x/y.xml")),
            ],
            "both pointers, `:` becomes `/`"
        );
        assert_eq!(ex.links[0].line, 2, "line of the first pointer");
        assert_eq!(ex.links[0].written, "3bed87cf", "written is the url_name");
        assert_eq!(ex.links[1].line, 3, "line of the second pointer");
        assert!(ex.problems.is_empty(), "no problems: {:?}", ex.problems);
    }

    #[test]
    fn the_course_xml_root_pointer_names_the_course_file() {
        let ex = extract(
            "course.xml",
            b"<course url_name=\"DemoCourse\" org=\"OpenedX\" course=\"DemoX\"/>\n",
            Syntax::Xml,
        );
        assert_eq!(
            targets(&ex),
            vec![(LinkKind::Child, path("course/DemoCourse.xml"))],
            "course.xml points at course/DemoCourse.xml"
        );
    }

    #[test]
    fn an_inline_xblock_with_a_url_name_is_not_a_link() {
        let ex = xml("<vertical display_name=\"V\">\n<done url_name=\"af02a17e\" xblock-family=\"xblock.v1\"/>\n</vertical>");
        assert!(
            ex.links.is_empty(),
            "inline done block is no link: {:?}",
            ex.links
        );
    }

    #[test]
    fn an_element_with_content_is_an_inline_definition_and_its_children_are_pointers() {
        let ex = xml(concat!(
            "<course url_name=\"c\" org=\"o\" course=\"x\">\n",
            "  <chapter url_name=\"ch1\">\n",
            "    <sequential url_name=\"s1\">\n",
            "      <vertical url_name=\"v1\"/>\n",
            "    </sequential>\n",
            "  </chapter>\n",
            "  <wiki slug=\"o.x.c\"/>\n",
            "</course>\n",
        ));
        assert_eq!(
            targets(&ex),
            vec![(LinkKind::Child, path("vertical/v1.xml"))],
            "only the empty vertical is a pointer; the inline tree and wiki are not"
        );
        let text = xml("<sequential><vertical url_name=\"v\">text</vertical></sequential>");
        assert!(
            text.links.is_empty(),
            "text content makes it inline: {:?}",
            text.links
        );
        let blank = xml("<sequential><vertical url_name=\"v\">\n  </vertical></sequential>");
        assert_eq!(
            targets(&blank),
            vec![(LinkKind::Child, path("vertical/v.xml"))],
            "whitespace is not content"
        );
    }

    #[test]
    fn markup_inside_leaf_blocks_is_never_a_child_pointer() {
        let ex = xml(concat!(
            "<vertical>\n",
            "<problem display_name=\"P\"><choiceresponse url_name=\"c\"/><problem filename=\"q\"/></problem>\n",
            "<video display_name=\"V\"><source src=\"https://x/y.mp4\"/><track url_name=\"t\"/></video>\n",
            "</vertical>",
        ));
        assert!(ex.links.is_empty(), "nothing inside leaves: {:?}", ex.links);
        let root = xml("<problem><choicegroup url_name=\"x\"/></problem>");
        assert!(
            root.links.is_empty(),
            "a leaf root has no pointers: {:?}",
            root.links
        );
    }

    #[test]
    fn an_unknown_block_exported_with_children_keeps_its_pointers() {
        let root = xml(
            "<problem-builder display_name=\"x\">\n  <pb-mcq url_name=\"q1\"/>\n</problem-builder>",
        );
        assert_eq!(
            targets(&root),
            vec![(LinkKind::Child, path("pb-mcq/q1.xml"))],
            "children of a non-leaf root"
        );
        let inline = xml(concat!(
            "<vertical>\n",
            "  <mentoring url_name=\"m\" xblock-family=\"xblock.v1\"><html url_name=\"h\"/></mentoring>\n",
            "  <other display_name=\"o\"><html url_name=\"n\"/></other>\n",
            "</vertical>",
        ));
        assert_eq!(
            targets(&inline),
            vec![(LinkKind::Child, path("html/h.xml"))],
            "an inline pure XBlock may hold pointers; unknown markup may not"
        );
    }

    #[test]
    fn a_legacy_filename_pointer_offers_the_singular_and_plural_folder() {
        let ex = xml(
            "<sequential>\n<problem filename=\"MIT/x/BK7.problem\" weight=\"1\"/>\n</sequential>",
        );
        assert_eq!(
            targets(&ex),
            vec![(
                LinkKind::Child,
                Target::AnyOf {
                    paths: vec![
                        "problem/MIT/x/BK7.problem.xml".to_owned(),
                        "problems/MIT/x/BK7.problem.xml".to_owned()
                    ]
                }
            )],
            "legacy pointer"
        );
        assert_eq!(
            ex.links[0].written, "MIT/x/BK7.problem",
            "written as in the file"
        );
    }

    #[test]
    fn an_html_filename_names_the_body() {
        let ex = xml("<html filename=\"013c611e\" display_name=\"Try It\"/>");
        assert_eq!(
            targets(&ex),
            vec![(LinkKind::Body, path("html/013c611e.html"))],
            "body link"
        );
        let suffixed = xml("<html filename=\"intro.html\"/>");
        assert_eq!(
            targets(&suffixed),
            vec![(LinkKind::Body, path("html/intro.html"))],
            "an existing .html suffix is not doubled"
        );
    }

    #[test]
    fn static_urls_are_found_in_attributes_text_and_escaped_markup() {
        let ex = xml(concat!(
            "<problem markup=\"&lt;img src=&quot;/static/a.png&quot;&gt;\">\n",
            "<p><img src=\"/static/b.png\"/> see /static/c.pdf.</p>\n",
            "<p>&lt;img src=&quot;/static/d.png&quot;&gt;</p>\n",
            "<script><![CDATA[ var u = \"/static/e.js\"; ]]></script>\n",
            "<!-- /static/commented.png -->\n",
            "</problem>",
        ));
        assert_eq!(
            statics(&ex),
            vec!["a.png", "b.png", "c.pdf", "d.png", "e.js"],
            "every live spelling, comments skipped"
        );
        let lines: Vec<u32> = ex.links.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![1, 2, 2, 3, 4], "lines of the references");
        assert_eq!(ex.links[0].written, "/static/a.png", "written is the URL");
    }

    #[test]
    fn asset_keys_and_c4x_urls_name_static_files() {
        let ex = html(concat!(
            "<img src=\"/asset-v1:OpenedX+DemoX+DemoCourse+type@asset+block@open-edx-reach-slide.png\">\n",
            "<img src=\"https://lms.example.com/asset-v1:O+C+R+type@asset+block@logo.svg?v=2\">\n",
            "<a href=\"/c4x/MITx/6.002x/asset/notes.pdf#page=3\">notes</a>\n",
        ));
        assert_eq!(
            statics(&ex),
            vec!["open-edx-reach-slide.png", "logo.svg", "notes.pdf"],
            "asset-v1 and c4x"
        );
        assert_eq!(
            ex.links[1].written,
            "https://lms.example.com/asset-v1:O+C+R+type@asset+block@logo.svg?v=2",
            "written is the whole URL"
        );
    }

    #[test]
    fn query_and_fragment_are_dropped_and_names_are_url_decoded() {
        let ex = html(concat!(
            "<img src=\"/static/Brain%20yellow.png?raw=1\">",
            "<div style=\"background: url(/static/bg(1).jpg)\"></div>",
            "<a href='/static/doc.pdf#p2'>x</a> <img src=\"/static/\">",
            "<img src=\"https://cdn.example.com/static/other.png\">",
        ));
        assert_eq!(
            statics(&ex),
            vec!["Brain yellow.png", "bg(1).jpg", "doc.pdf"],
            "decoded names; bare /static/ and foreign /static/ ignored"
        );
    }

    #[test]
    fn video_transcripts_and_sub_name_static_files() {
        let ex = xml(concat!(
            "<video url_name=\"v\" sub=\"OEoXaMPEzfM\" ",
            "transcripts=\"{&quot;en&quot;: &quot;48c991fb-en.srt&quot;, &quot;es&quot;: &quot;48c991fb-es.srt&quot;}\" ",
            "track=\"/static/Reach.pdf\">\n",
            "  <track src=\"/static/Reach.pdf\"/>\n",
            "  <transcript language=\"en\" src=\"48c991fb-en.srt\"/>\n",
            "</video>",
        ));
        assert_eq!(
            statics(&ex),
            vec![
                "subs_OEoXaMPEzfM.srt.sjson",
                "48c991fb-en.srt",
                "48c991fb-es.srt",
                "Reach.pdf"
            ],
            "sub, transcripts and track, each once"
        );
        let empty = xml("<video url_name=\"v\" sub=\"\" transcripts=\"{}\"/>");
        assert!(
            empty.links.is_empty(),
            "empty sub is nothing: {:?}",
            empty.links
        );
    }

    #[test]
    fn jump_urls_in_all_their_forms_are_jump_links() {
        let ex = html(concat!(
            "<a href=\"/jump_to_id/f0aa9336\">a</a>\n",
            "<a href=\"https://lms.example.com/courses/course-v1:O+C+R/jump_to_id/abc?x=1\">b</a>\n",
            "<a href=\"/jump_to/block-v1:O+C+R+type@vertical+block@v123\">c</a>\n",
            "<a href=\"/course/courseware/ch1/seq1/2\">d</a>\n",
            "<a href=\"/course/progress\">e</a> <a href=\"/course/courseware/ch2\">f</a>\n",
        ));
        assert_eq!(
            targets(&ex),
            vec![
                (
                    LinkKind::Jump,
                    Target::UrlName {
                        url_name: "f0aa9336".to_owned()
                    }
                ),
                (
                    LinkKind::Jump,
                    Target::UrlName {
                        url_name: "abc".to_owned()
                    }
                ),
                (LinkKind::Jump, path("vertical/v123.xml")),
                (LinkKind::Jump, path("chapter/ch1.xml")),
                (LinkKind::Jump, path("sequential/seq1.xml")),
                (LinkKind::Jump, path("chapter/ch2.xml")),
            ],
            "jump forms; /course/progress is an LMS page"
        );
        assert_eq!(
            ex.links[1].written,
            "https://lms.example.com/courses/course-v1:O+C+R/jump_to_id/abc?x=1",
            "written is the absolute URL"
        );
        let lines: Vec<u32> = ex.links.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 4, 5], "lines");
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
                    Target::External {
                        collection: "lib".to_owned(),
                        path: Some("problem/p1/definition.xml".to_owned())
                    }
                ),
            ],
            "include links"
        );
    }

    #[test]
    fn a_library_content_source_names_another_collection() {
        let ex = xml(concat!(
            "<library_content max_count=\"2\" source_library_id=\"library-v1:OpenedX+DemoRespiratoryQuestions\">\n",
            "  <problem url_name=\"0895f1b6\"/>\n",
            "</library_content>",
        ));
        assert_eq!(
            targets(&ex),
            vec![
                (
                    LinkKind::Include,
                    Target::External {
                        collection: "library-v1:OpenedX+DemoRespiratoryQuestions".to_owned(),
                        path: None
                    }
                ),
                (LinkKind::Child, path("problem/0895f1b6.xml")),
            ],
            "library source and its children"
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

    #[test]
    fn entity_encoded_html_bodies_are_scanned_unescaped() {
        let ex = html("<div data-x=\"{&quot;img&quot;: &quot;/static/q.png&quot;}\"></div>");
        assert_eq!(
            statics(&ex),
            vec!["q.png"],
            "name ends at the decoded quote"
        );
    }
}
