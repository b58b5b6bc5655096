//! A collection that did not come from a backup, as a Learning Core package:
//! an OLX library export (each block a component, the library the package),
//! and by the same rules a course or a Blockstore-style bundle.
//!
//! The package is read off the collection's outline, so it follows the very
//! pointer rules (`shared/OLX-RULES.md`) the outline, links and UI follow:
//!
//! - `chapter`, `sequential` and `vertical` blocks become sections,
//!   subsections and units keyed by their `url_name`, their children in
//!   order; every other block becomes the component
//!   `xblock.v1:TYPE:URL_NAME`. A course or library root is not an entity
//!   (its children are the package's top level); unreachable blocks
//!   (orphans) become entities too: a package has no "unreached".
//! - A component's `block.xml` is its block file byte for byte (an inline
//!   block: its element as written in its parent's file). An `html` block
//!   whose body lives in a `filename=` file is written as Learning Core keeps
//!   html, the body inline as CDATA (its other attributes as they were).
//! - A component's files are the assets its OLX links to (`/static/x`
//!   resolved as the link report resolves it, kept under the media key
//!   `static/x`: Learning Core serves a component's `/static/` from its own
//!   files) and, for a bundle block (`TYPE/ID/definition.xml`), every other
//!   file in its folder.
//!
//! What a package has no place for (a course's policies, about pages, assets
//! no block links to) is counted in the export's `left_out`.

use super::write::{Content, Listed, Media};
use crate::olx::outline::{OutlineKind, OutlineNode};
use crate::store::links::extract::{extract, LinkKind, Syntax, Target};
use crate::store::links::resolve::resolve;
use crate::store::links::{course, Context, MemoryIndex, Nowhere};
use crate::store::{At, Collection, Error, Result, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One state of the collection as a package sees it.
pub(super) struct PackageState {
    pub listed: Vec<Listed>,
    pub contents: BTreeMap<String, Content>,
    /// The state's paths some entity carries.
    pub used: BTreeSet<String>,
    /// All the state's paths.
    pub paths: usize,
    /// The package key and title the state's root file gives, if any.
    pub identity: Option<(String, Option<String>)>,
}

/// Reads the state `at` of `collection` as a package.
pub(super) fn state(store: &Store, collection: &Collection, at: At) -> Result<PackageState> {
    let outline = crate::olx::outline(store, &collection.slug, at)?;
    if outline.truncated {
        return Err(Error::Invalid(format!(
            "{} ({at}): its block tree is deeper or larger than the outline reads, so it cannot be \
             exported as a package whole; nothing was written",
            collection.slug
        )));
    }
    let files: HashMap<String, (String, u64)> = store
        .files(&collection.slug, at)?
        .into_iter()
        .map(|f| (f.path, (f.hash, f.size)))
        .collect();
    let index = MemoryIndex::new(files.keys().map(String::as_str));
    let created = version_time(store, collection, at)?;
    let mut walk = Walk {
        store,
        files: &files,
        index: &index,
        sorted: files.keys().map(String::as_str).collect(),
        course: None,
        created,
        listed: Vec::new(),
        contents: BTreeMap::new(),
        used: BTreeSet::new(),
        taken: HashMap::new(),
        unnamed: HashMap::new(),
        nth: None,
        parents: HashMap::new(),
        seen: HashMap::new(),
    };
    // A library's or course's root file names the package (its title is
    // the root block's display name, which a course keeps in its own file).
    let identity = match outline.kind {
        kind @ (OutlineKind::Library | OutlineKind::Course) => {
            let (file, name) = match kind {
                OutlineKind::Library => ("library.xml", "library"),
                _ => ("course.xml", "course"),
            };
            let bytes = walk.read(file)?.unwrap_or_default();
            if kind == OutlineKind::Course {
                walk.course = course::course_key(&bytes);
            }
            let attrs = course::root_attrs(&bytes).unwrap_or_default();
            let attr = |k: &str| {
                attrs
                    .iter()
                    .find(|(key, v)| key == k && !v.is_empty())
                    .map(|(_, v)| v.clone())
            };
            match (attr("org"), attr(name)) {
                (Some(org), Some(name)) => Some((
                    format!("lib:{org}:{name}"),
                    outline.roots.first().and_then(|r| r.display_name.clone()),
                )),
                _ => None,
            }
        }
        _ => None,
    };
    // A course's or library's root is the package itself.
    let tops: Vec<&OutlineNode> = match outline.kind {
        OutlineKind::Course | OutlineKind::Library => outline
            .roots
            .iter()
            .flat_map(|r| r.children.iter())
            .chain(outline.orphans.iter())
            .collect(),
        _ => outline.roots.iter().chain(outline.orphans.iter()).collect(),
    };
    for node in tops {
        walk.visit(node)?;
    }
    for root in ["course.xml", "library.xml"] {
        if files.contains_key(root) {
            walk.used.insert(root.to_string());
        }
    }
    Ok(PackageState {
        listed: walk.listed,
        contents: walk.contents,
        used: walk.used,
        paths: files.len(),
        identity,
    })
}

/// When the state was made: its version's time, or now for the draft.
fn version_time(
    store: &Store,
    collection: &Collection,
    at: At,
) -> Result<Option<toml::value::Datetime>> {
    let text = match at {
        At::Version(n) => store
            .versions(&collection.slug)?
            .into_iter()
            .find(|v| v.number == n)
            .map(|v| v.created_at),
        _ => Some(crate::store::now()),
    };
    Ok(text.and_then(|t| t.parse().ok()))
}

struct Walk<'a> {
    store: &'a Store,
    files: &'a HashMap<String, (String, u64)>,
    index: &'a MemoryIndex,
    /// The state's paths in order, for a folder's files.
    sorted: BTreeSet<&'a str>,
    course: Option<course::CourseKey>,
    created: Option<toml::value::Datetime>,
    listed: Vec<Listed>,
    contents: BTreeMap<String, Content>,
    used: BTreeSet<String>,
    /// Keys taken, and by which block (type, file, url_name or place).
    taken: HashMap<String, (String, String, Option<String>)>,
    /// Inline blocks without a url_name met so far, per (file, type).
    unnamed: HashMap<(String, String), usize>,
    /// The place of the inline block being read among its unnamed siblings.
    nth: Option<usize>,
    /// The files inline blocks are cut from, read once.
    parents: HashMap<String, std::sync::Arc<Vec<u8>>>,
    /// Blocks already made entities (type, file, url_name) → key.
    seen: HashMap<(String, String, Option<String>), String>,
}

impl Walk<'_> {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.files.get(path) {
            Some((hash, _)) => Ok(Some(self.store.blobs().read(hash, true)?)),
            None => Ok(None),
        }
    }

    /// The stored file at `path`, as a component's media (not read).
    fn blob(&mut self, path: &str) -> Option<Media> {
        let (hash, size) = self.files.get(path)?;
        self.used.insert(path.to_string());
        Some(Media::Blob {
            hash: hash.clone(),
            size: *size,
        })
    }

    /// Makes `node` (and what is under it) entities; its key.
    fn visit(&mut self, node: &OutlineNode) -> Result<Option<String>> {
        if node.external.is_some() {
            return Ok(None);
        }
        // An inline block without a url_name is told from its siblings by
        // its place among them.
        let nth = (node.inline && node.url_name.is_none()).then(|| {
            let count = self
                .unnamed
                .entry((node.path.clone(), node.block_type.clone()))
                .or_insert(0);
            *count += 1;
            *count - 1
        });
        let stem = {
            let name = node.path.rsplit('/').next().unwrap_or(&node.path);
            name.strip_suffix(".xml").unwrap_or(name).to_string()
        };
        let local = match (&node.url_name, nth) {
            (Some(url_name), _) => url_name.clone(),
            (None, Some(n)) => format!("{stem}-{}-{}", node.block_type, n + 1),
            (None, None) => stem,
        };
        let kind = match node.block_type.as_str() {
            "chapter" => "section",
            "sequential" => "subsection",
            "vertical" => "unit",
            _ => "component",
        };
        let identity = (
            node.block_type.clone(),
            node.path.clone(),
            node.url_name.clone().or(nth.map(|n| format!("#{n}"))),
        );
        if let Some(key) = self.seen.get(&identity) {
            return Ok(Some(key.clone()));
        }
        // Two blocks never share a key: the second gets a suffix.
        let ty = &node.block_type;
        let mut key = if kind == "component" {
            format!("xblock.v1:{ty}:{local}")
        } else {
            local.clone()
        };
        let mut n = 1;
        while self.taken.get(&key).is_some_and(|owner| owner != &identity) {
            n += 1;
            key = match (kind, n) {
                ("component", _) => format!("xblock.v1:{ty}:{local}-{n}"),
                (_, 2) => format!("{ty}-{local}"),
                _ => format!("{ty}-{local}-{n}"),
            };
        }
        self.taken.insert(key.clone(), identity.clone());
        // A missing block is named (Learning Core drops a child it does not
        // hold) but is no entity; a cycle's repeat is the entity above.
        if node.missing || node.cycle || self.contents.contains_key(&key) {
            return Ok(Some(key));
        }
        self.seen.insert(identity, key.clone());
        let title = node.display_name.clone().unwrap_or_else(|| local.clone());
        self.nth = nth;
        let mut content = Content {
            title: title.clone(),
            files: BTreeMap::new(),
            children: Vec::new(),
        };
        // Claim the key before the children, so a cycle ends here.
        self.contents.insert(key.clone(), content.clone());
        let mut children = Vec::new();
        for child in &node.children {
            if let Some(k) = self.visit(child)? {
                children.push(k);
            }
        }
        if kind == "component" {
            content.files = self.component_files(node)?;
            // A component's children (a library_content, a split_test) are
            // entities of their own; its block.xml names them as written.
        } else {
            self.used.insert(node.path.clone());
            content.children = children;
        }
        self.contents.insert(key.clone(), content);
        self.listed.push(Listed {
            key: key.clone(),
            kind: kind.to_string(),
            folder: node.path.clone(),
            can_stand_alone: true,
            created: self.created,
            title,
            version_num: 1,
        });
        Ok(Some(key))
    }

    /// A component's media: `block.xml` and the files it links to.
    fn component_files(&mut self, node: &OutlineNode) -> Result<BTreeMap<String, Media>> {
        let mut out = BTreeMap::new();
        let file = if node.inline {
            // Many inline blocks share a parent file: read it once.
            match self.parents.get(&node.path) {
                Some(file) => Some(std::sync::Arc::clone(file)),
                None => {
                    let file = self.read(&node.path)?.map(std::sync::Arc::new);
                    if let Some(file) = &file {
                        self.parents
                            .insert(node.path.clone(), std::sync::Arc::clone(file));
                    }
                    file
                }
            }
        } else {
            self.read(&node.path)?.map(std::sync::Arc::new)
        };
        let Some(file) = file else {
            return Ok(out);
        };
        let own_file = self.blob(&node.path);
        // The block as Learning Core keeps it: its file as it is, an inline
        // block cut out of its parent's, an html body inlined.
        let mut made = None;
        if node.inline {
            made = element_of(
                &file,
                &node.block_type,
                node.url_name.as_deref(),
                self.nth.unwrap_or(0),
            );
        }
        let course = self.course.clone();
        let cx = Context {
            index: self.index,
            course: course.as_ref(),
            elsewhere: &Nowhere,
        };
        let mut linked: Vec<String> = Vec::new();
        let statics = |bytes: &[u8], syntax: Syntax, linked: &mut Vec<String>| {
            for link in extract(&node.path, bytes, syntax).links {
                if link.kind == LinkKind::Static {
                    if let Some(path) = resolve(&cx, &node.path, &link.target).paths().first() {
                        linked.push(path.clone());
                    }
                }
            }
        };
        let block = made.as_deref().unwrap_or(&file);
        statics(block, Syntax::Xml, &mut linked);
        if node.block_type == "html" {
            let body = extract(&node.path, block, Syntax::Xml)
                .links
                .into_iter()
                .find(|l| l.kind == LinkKind::Body && matches!(l.target, Target::Body { .. }))
                .and_then(|l| resolve(&cx, &node.path, &l.target).paths().first().cloned());
            if let Some(body_path) = body {
                if let Some(text) = self.read(&body_path)? {
                    self.used.insert(body_path);
                    statics(&text, Syntax::Html, &mut linked);
                    made = Some(html_inline(block, &text));
                }
            }
        }
        // A bundle block's folder holds its own files.
        let own_folder = crate::store::links::bundle_folder(&node.path).filter(|_| !node.inline);
        if let Some(folder) = own_folder {
            let own: Vec<String> = self
                .sorted
                .range(folder..)
                .take_while(|p| p.starts_with(folder))
                .filter(|p| **p != node.path)
                .map(|p| p.to_string())
                .collect();
            for path in own {
                if let Some(media) = self.blob(&path) {
                    out.insert(path[folder.len()..].to_string(), media);
                }
            }
        }
        for path in linked {
            // Its own files are in already; the collection's are served
            // from the component's `static/` in Learning Core.
            if !path.starts_with("static/") || out.contains_key(&path) {
                continue;
            }
            let key = path.clone();
            if let Some(media) = self.blob(&path) {
                out.insert(key, media);
            }
        }
        let block = match (made, own_file) {
            (Some(made), _) => Media::Made(made),
            (None, Some(own)) => own,
            (None, None) => Media::Made(file.to_vec()),
        };
        out.insert("block.xml".to_string(), block);
        Ok(out)
    }
}

/// The element `<TAG url_name="URL_NAME" …>…</TAG>` as written in `xml`
/// (the `nth` `TAG` without a `url_name` when `url_name` is `None`).
fn element_of(xml: &[u8], tag: &str, url_name: Option<&str>, nth: usize) -> Option<Vec<u8>> {
    let mut skip = nth;
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader.read_event_into(&mut buf).ok()?;
        let (e, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::Eof => return None,
            _ => {
                buf.clear();
                continue;
            }
        };
        let matches = e.name().as_ref() == tag.as_bytes() && {
            let own = e
                .attributes()
                .flatten()
                .find(|a| a.key.as_ref() == b"url_name")
                .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
            own.as_deref() == url_name
        };
        if !matches {
            buf.clear();
            continue;
        }
        if url_name.is_none() && skip > 0 {
            skip -= 1;
            buf.clear();
            continue;
        }
        if empty {
            return Some(xml[start..reader.buffer_position() as usize].to_vec());
        }
        let name = e.name().as_ref().to_vec();
        let mut depth = 1usize;
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf).ok()? {
                Event::Start(s) if s.name().as_ref() == name => depth += 1,
                Event::End(end) if end.name().as_ref() == name => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(xml[start..reader.buffer_position() as usize].to_vec());
                    }
                }
                Event::Eof => return None,
                _ => {}
            }
        }
    }
}

/// An html block whose body is in a file of its own, as Learning Core keeps
/// html: `<html ATTRS><![CDATA[BODY]]></html>`, `filename` dropped.
fn html_inline(xml: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = b"<html".to_vec();
    for (k, v) in course::root_attrs(xml).unwrap_or_default() {
        if k == "filename" || k == "url_name" {
            continue;
        }
        let v = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;");
        out.extend_from_slice(format!(" {k}=\"{v}\"").as_bytes());
    }
    out.extend_from_slice(b"><![CDATA[");
    // `]]>` cannot stand in a CDATA section: it is split across two.
    let text = String::from_utf8_lossy(body).replace("]]>", "]]]]><![CDATA[>");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"]]></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inline_block_is_cut_out_of_its_parent_as_written() {
        let xml = br#"<vertical><html url_name="a">x</html><done url_name="d" xblock-family="xblock.v1"/><problem url_name="p"><p><problem/></p></problem></vertical>"#;
        assert_eq!(
            element_of(xml, "done", Some("d"), 0).unwrap(),
            br#"<done url_name="d" xblock-family="xblock.v1"/>"#
        );
        assert_eq!(
            element_of(xml, "problem", Some("p"), 0).unwrap(),
            br#"<problem url_name="p"><p><problem/></p></problem>"#
        );
        assert!(element_of(xml, "problem", Some("q"), 0).is_none());
        let unnamed =
            b"<vertical><html>a</html><html url_name=\"n\">b</html><html>c</html></vertical>";
        assert_eq!(
            element_of(unnamed, "html", None, 0).unwrap(),
            b"<html>a</html>"
        );
        assert_eq!(
            element_of(unnamed, "html", None, 1).unwrap(),
            b"<html>c</html>"
        );
        assert!(element_of(unnamed, "html", None, 2).is_none());
    }

    #[test]
    fn an_html_body_goes_inline_as_cdata() {
        let out = html_inline(
            br#"<html filename="intro" display_name="A &amp; B"/>"#,
            b"<p>x]]>y</p>",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<html display_name=\"A &amp; B\"><![CDATA[<p>x]]]]><![CDATA[>y</p>]]></html>\n"
        );
    }
}
