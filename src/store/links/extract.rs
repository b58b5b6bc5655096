//! Reference extraction from OLX (XML) units and HTML bodies.
//!
//! INTERFACE CONTRACT (filled in by the implementation below):
//! `extract(path, bytes, syntax) -> Extracted` never fails. XML is parsed with
//! quick-xml; a parse error is reported as a `ParseProblem` with 1-based line and
//! column, and links found before the error are kept. HTML is scanned tolerantly
//! and never yields problems.

use serde::{Deserialize, Serialize};

/// How a unit's bytes are read for references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    /// OLX: `.xml` files (and `.problem`, etc. that are XML); parse problems are flagged.
    Xml,
    /// HTML bodies (`.html`/`.htm`): scanned tolerantly, never flagged.
    Html,
}

/// The kinds of link from DESIGN.md. The `as_str` names are used in SQL, JSON and CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Child,
    Body,
    Static,
    Include,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawLink {
    pub kind: LinkKind,
    pub target: Target,
    /// The reference as written in the file (attribute value or URL), for reports.
    pub written: String,
    /// 1-based line where the reference appears.
    pub line: u32,
}

/// A place where the XML did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseProblem {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Everything extraction found: links, in document order, and problems.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    pub links: Vec<RawLink>,
    pub problems: Vec<ParseProblem>,
}

/// Extracts references from one unit. `path` is the unit's collection path (used
/// only for context such as the root element's file); `syntax` says how to read it.
pub fn extract(path: &str, bytes: &[u8], syntax: Syntax) -> Extracted {
    let _ = (path, bytes, syntax);
    Extracted::default()
}
