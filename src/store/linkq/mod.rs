//! Link queries: the outgoing and incoming links of a file, one link by its
//! uuid, and (in `report.rs`) the report of a whole collection state.
//!
//! Links are stored per content (see `scan::insert_scan`); here they are joined
//! to the files live in a state and resolved against that same state, this
//! course's key and the rest of the store (libraries). What edx-platform loads
//! (OLX-RULES "What edx-platform never loads") is decided here: the roots
//! (`course.xml`/`library.xml`, the course-level folders and policy, draft
//! roots) and every file a loaded file's child, body or include link reaches;
//! for one file by following incoming links upward (`is_loaded`), for a whole
//! state by the report's walks.

mod report;

pub(crate) use report::{ReportCache, REPORTS_KEPT};

use super::blobs::BlobStore;
use super::error::{Error, Result};
use super::files::{self, classify, classify_path, file_at, resolve_at, tree, LiveSql, State};
use super::links::resolve::resolve;
use super::links::{
    asset_name_key, course, drafts, libraries, Context, CourseKey, Elsewhere, IndexPath,
    InlineBlock, LinkKind, MemoryIndex, ParseProblem, PathIndex, Resolution, Syntax, Target,
};
use super::model::*;
use super::path::RelPath;
use super::scan::{link_uuid, lookup_keys, parse_link_uuid, stored_target};
use super::Store;
use crate::store::db::sql::ValueRef;
use crate::store::db::sql::{named_params, Connection};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::cell::OnceCell;
use std::collections::VecDeque;

impl Store {
    /// Renames a draft file (as [`Store::rename`]) and says which references
    /// the rename broke: the links that named the old path and, read again in
    /// their files (the renamed file's own at its new path), no longer
    /// resolve.
    pub fn rename_reporting(
        &self,
        key: &str,
        from: &str,
        to: &str,
        source: Source,
    ) -> Result<RenameReport> {
        let pointing = self.links(key, from, At::Draft, Direction::In)?;
        let outcome = self.rename(key, from, to, source)?;
        let collection = self.collection(key)?.slug;
        let mut broken = Vec::new();
        let sources: std::collections::BTreeSet<&str> =
            pointing.iter().map(|l| l.source_path.as_str()).collect();
        for source in sources {
            let source = if source == from { to } else { source };
            for link in self.links(key, source, At::Draft, Direction::Out)? {
                let was_pointing = pointing
                    .iter()
                    .any(|p| p.written == link.written && p.line == link.line);
                if was_pointing && matches!(link.resolution, Resolution::Broken { .. }) {
                    broken.push(link);
                }
            }
        }
        Ok(RenameReport {
            collection,
            from: from.to_string(),
            to: to.to_string(),
            outcome,
            broken,
        })
    }
}

/// Which links of a file to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Links the file's content makes.
    Out,
    /// Links other files make to it.
    In,
}

/// Link kinds through which edx-platform loads the file they reach.
const LOADING: &[LinkKind] = &[LinkKind::Child, LinkKind::Body, LinkKind::Include];

/// Link kinds that put the asset they reach in use.
const USING: &[LinkKind] = &[LinkKind::Static, LinkKind::Policy];

/// What kind of tree a state holds, for the loading rules.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `course.xml` at the top; the run (its url_name) picks the policy.
    Course(Option<CourseKey>),
    /// `library.xml` at the top.
    Library,
    /// Anything else: not an OLX export, so every unit counts as loaded.
    Tree,
}

impl Shape {
    fn of(conn: &Connection, blobs: &BlobStore, cid: i64, state: State) -> Result<Shape> {
        if let Some(course) = file_at(conn, cid, "course.xml", state)? {
            let key = blobs
                .read(&course.hash, false)
                .ok()
                .and_then(|bytes| course::course_key(&bytes));
            return Ok(Shape::Course(key));
        }
        if file_at(conn, cid, "library.xml", state)?.is_some() {
            return Ok(Shape::Library);
        }
        Ok(Shape::Tree)
    }

    fn course(&self) -> Option<&CourseKey> {
        match self {
            Shape::Course(key) => key.as_ref(),
            _ => None,
        }
    }

    /// Whether edx-platform loads `path` without a link leading to it
    /// (`draft_root`: the file is under `drafts/` and names its parent).
    fn is_root(&self, path: &str, kind: LinkableKind, draft_root: bool) -> bool {
        match self {
            // A Learning Core package's record (`learning_core/`, see
            // `olx::learning_core`) is collection-level, like a course's
            // policies.
            Shape::Tree => kind == LinkableKind::Unit || path.starts_with("learning_core/"),
            Shape::Course(_) | Shape::Library => {
                path == "course.xml"
                    || path == "library.xml"
                    || (draft_root && path.starts_with(drafts::FOLDER) && !drafts::is_skipped(path))
                    || course::is_course_level(path, self.course().map(|k| k.run.as_str()))
            }
        }
    }
}

/// The rest of the store, as resolution sees it: libraries by the
/// `library.xml` each collection's draft holds, and collections by alias.
struct StoreLookups<'c> {
    conn: &'c Connection,
    blobs: &'c BlobStore,
    libraries: OnceCell<HashMap<(String, String), String>>,
}

impl<'c> StoreLookups<'c> {
    fn new(conn: &'c Connection, blobs: &'c BlobStore) -> StoreLookups<'c> {
        StoreLookups {
            conn,
            blobs,
            libraries: OnceCell::new(),
        }
    }

    fn load_libraries(&self) -> HashMap<(String, String), String> {
        let mut out = HashMap::new();
        let rows: Vec<(i64, String)> = self
            .conn
            .prepare_cached("SELECT collection_id, slug FROM collection ORDER BY slug")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<crate::store::db::sql::Result<Vec<_>>>()
            })
            .unwrap_or_default();
        for (cid, slug) in rows {
            let Ok(Some(file)) = file_at(self.conn, cid, "library.xml", State::Draft) else {
                continue;
            };
            let key = self
                .blobs
                .read(&file.hash, false)
                .ok()
                .and_then(|bytes| libraries::library_key(&bytes));
            if let Some(key) = key {
                out.entry(key).or_insert(slug);
            }
        }
        out
    }
}

impl Elsewhere for StoreLookups<'_> {
    fn library(&self, org: &str, library: &str) -> Option<String> {
        self.libraries
            .get_or_init(|| self.load_libraries())
            .get(&(org.to_owned(), library.to_owned()))
            .cloned()
    }

    /// An alias names a collection by slug as written.
    fn collection(&self, alias: &str) -> Option<String> {
        self.conn
            .query_row(
                "SELECT slug FROM collection WHERE slug = :slug",
                named_params! {":slug": alias},
                |r| r.get(0),
            )
            .ok()
    }
}

impl Store {
    /// The links of one file in a state.
    pub fn links(
        &self,
        key: &str,
        path: &str,
        at: At,
        direction: Direction,
    ) -> Result<Vec<LinkInfo>> {
        let path = RelPath::existing(path)?;
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        let file =
            file_at(&conn, cid, path.as_str(), state)?.ok_or_else(|| Error::FileNotFound {
                collection: collection.slug.clone(),
                path: path.to_string(),
                at: Some(at.to_string()),
            })?;
        let index = SqlIndex::new(&conn, cid, state);
        let shape = Shape::of(&conn, &self.blobs, cid, state)?;
        let lookups = StoreLookups::new(&conn, &self.blobs);
        let cx = Context {
            index: &index,
            course: shape.course(),
            elsewhere: &lookups,
        };
        let mut links = match direction {
            Direction::Out => {
                let loaded = is_loaded(&conn, cid, state, &cx, &shape, &file)?;
                links_of_content(&conn, &file)?
                    .into_iter()
                    .map(|row| row.resolve(&file, &cx, loaded))
                    .collect::<Result<Vec<_>>>()?
            }
            Direction::In => {
                let mut links = incoming(&conn, cid, state, &file, &cx)?;
                let mut loaded: HashMap<String, bool> = HashMap::new();
                for link in &mut links {
                    link.loaded = match loaded.get(&link.source_path) {
                        Some(known) => *known,
                        None => {
                            let known = match file_at(&conn, cid, &link.source_path, state)? {
                                Some(source) => is_loaded(&conn, cid, state, &cx, &shape, &source)?,
                                None => false,
                            };
                            loaded.insert(link.source_path.clone(), known);
                            known
                        }
                    };
                }
                links
            }
        };
        links.sort_by(|a, b| (&a.source_path, a.line).cmp(&(&b.source_path, b.line)));
        Ok(links)
    }

    /// A link by uuid, as the draft of a file holding its content makes it.
    /// Links belong to contents, not files: when several files share the
    /// content, the first by collection and path speaks for them.
    pub fn link(&self, uuid: &str) -> Result<LinkInfo> {
        let candidates: Vec<(String, String)> = {
            let conn = self.reader()?;
            let mut stmt = conn.prepare_cached(
                "SELECT c.slug, v.path
                 FROM link k
                 JOIN version v INDEXED BY version_hash ON v.hash = k.hash
                 JOIN linkable l ON l.linkable_id = v.linkable_id
                   AND v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 JOIN collection c ON c.collection_id = l.collection_id
                 WHERE k.hash >= :prefix AND k.hash < :prefix || 'g'
                   AND k.syntax = :syntax AND k.ordinal = :ordinal
                 ORDER BY c.slug, v.path LIMIT 64",
            )?;
            // The uuid names its content by a hash prefix (`scan::link_uuid`).
            let Some((prefix, syntax, ordinal)) = parse_link_uuid(uuid) else {
                return Err(Error::NotFound(format!("link {uuid:?}")));
            };
            let rows = stmt.query_map(
                named_params! {":prefix": prefix, ":syntax": syntax.as_str(), ":ordinal": ordinal},
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.collect::<crate::store::db::sql::Result<_>>()?
        };
        for (slug, path) in candidates {
            // The same bytes read as another syntax (`.html` vs `.xml`) make
            // other links; the first file that makes this one answers.
            let found = self
                .links(&slug, &path, At::Draft, Direction::Out)?
                .into_iter()
                .find(|link| link.uuid == uuid);
            if let Some(link) = found {
                return Ok(link);
            }
        }
        Err(Error::NotFound(format!("link {uuid:?}")))
    }
}

/// Column `i` of a row as text, borrowed (no copy).
fn text<'r>(r: &'r crate::store::db::sql::Row<'_>, i: usize) -> Result<&'r str> {
    match r.get_ref(i)? {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map_err(|e| Error::Invalid(format!("column {i} is not UTF-8: {e}"))),
        other => Err(Error::Invalid(format!("column {i} is {other:?}, not text"))),
    }
}

/// Whether edx-platform loads one file: it is a root, or a loaded file's
/// child, body or include link reaches it (followed upward through incoming
/// links, so one file's answer does not need the whole report).
fn is_loaded(
    conn: &Connection,
    cid: i64,
    state: State,
    cx: &Context<'_>,
    shape: &Shape,
    file: &FileEntry,
) -> Result<bool> {
    /// Files looked at before giving up (a real course is 5 to 8 levels deep).
    const MAX_VISITS: usize = 10_000;
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<FileEntry> = VecDeque::from([file.clone()]);
    while let Some(file) = queue.pop_front() {
        if !seen.insert(file.path.clone()) || seen.len() > MAX_VISITS {
            continue;
        }
        let draft_root = file.path.starts_with(drafts::FOLDER)
            && links_of_content(conn, &file)?
                .into_iter()
                .filter(|row| row.kind == LinkKind::Parent.as_str())
                .map(|row| row.resolve(&file, cx, false))
                .any(|link| link.is_ok_and(|l| !l.resolution.paths().is_empty()));
        if shape.is_root(&file.path, file.kind, draft_root) {
            return Ok(true);
        }
        for link in incoming(conn, cid, state, &file, cx)? {
            if LOADING.contains(&link.kind) && !seen.contains(&link.source_path) {
                if let Some(source) = file_at(conn, cid, &link.source_path, state)? {
                    queue.push_back(source);
                }
            }
        }
    }
    Ok(false)
}

struct LinkRow {
    uuid: String,
    kind: String,
    /// As stored: JSON, or empty for a one-path target (`scan::stored_target`).
    target: String,
    target_path: Option<String>,
    written: String,
    line: u32,
}

impl LinkRow {
    /// From `hash, syntax, ordinal, kind, target, written, line, target_path`.
    fn from_row(r: &crate::store::db::sql::Row<'_>) -> crate::store::db::sql::Result<LinkRow> {
        Ok(LinkRow {
            uuid: link_uuid(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?, r.get(2)?),
            kind: r.get(3)?,
            target: r.get(4)?,
            target_path: r.get(7)?,
            written: r.get(5)?,
            line: r.get(6)?,
        })
    }

    fn target(&self) -> Result<Target> {
        stored_target(&self.target, self.target_path.as_deref())
    }

    fn kind(&self) -> Result<LinkKind> {
        LinkKind::parse(&self.kind)
            .ok_or_else(|| Error::Invalid(format!("unknown link kind {}", self.kind)))
    }

    fn info(
        &self,
        source_path: &str,
        source_uuid: &str,
        source_version: Option<i64>,
        target: Target,
        resolution: Resolution,
        loaded: bool,
    ) -> Result<LinkInfo> {
        Ok(LinkInfo {
            uuid: self.uuid.clone(),
            kind: self.kind()?,
            source_path: source_path.to_owned(),
            source_uuid: source_uuid.to_owned(),
            source_version,
            loaded,
            written: self.written.clone(),
            line: self.line,
            target,
            resolution,
        })
    }

    fn resolve(self, source: &FileEntry, cx: &Context<'_>, loaded: bool) -> Result<LinkInfo> {
        let target = self.target()?;
        let resolution = resolve(cx, &source.path, &target);
        self.info(
            &source.path,
            &source.uuid,
            source.version,
            target,
            resolution,
            loaded,
        )
    }
}

fn links_of_content(conn: &Connection, file: &FileEntry) -> Result<Vec<LinkRow>> {
    let Some(syntax) = RelPath::existing(&file.path)
        .ok()
        .and_then(|p| classify(&p).syntax)
    else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT k.hash, k.syntax, k.ordinal, k.kind, k.target, k.written, k.line, k.target_path
         FROM link k WHERE k.hash = :hash AND k.syntax = :syntax ORDER BY k.ordinal",
    )?;
    let rows = stmt
        .query_map(
            named_params! {":hash": file.hash, ":syntax": syntax.as_str()},
            LinkRow::from_row,
        )?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Links from files live in `state` that resolve to `file` (their `loaded`
/// left false: the caller decides).
fn incoming(
    conn: &Connection,
    cid: i64,
    state: State,
    file: &FileEntry,
    cx: &Context<'_>,
) -> Result<Vec<LinkInfo>> {
    let path = file.path.as_str();
    // A draft's pointers are stored relative to `drafts/`.
    let mut paths = vec![path.to_owned()];
    if let Some(in_drafts) = path.strip_prefix(drafts::FOLDER) {
        paths.push(in_drafts.to_owned());
    }
    let mut keys: Vec<String> = paths.iter().map(|p| format!("path:{p}")).collect();
    let name = path.rsplit('/').next().unwrap_or(path);
    keys.push(format!("name:{name}"));
    // A collection asset (`static/NAME`), or a bundle block's own
    // (`TYPE/ID/static/NAME`, which its definition.xml reaches first).
    let static_name = path
        .strip_prefix("static/")
        .or_else(|| crate::store::links::bundle_static_name(path));
    if let Some(name) = static_name {
        let (_, key) = lookup_keys(&Target::Static {
            name: name.to_string(),
        });
        keys.extend(key);
        keys.push(format!("static:{}", asset_name_key(name)));
    }
    if let Some((_, rest)) = path.split_once('/') {
        if let Some(stem) = rest.strip_suffix(".xml") {
            if !stem.contains('/') {
                keys.push(format!("url:{stem}"));
            }
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT k.hash, k.syntax, k.ordinal, k.kind, k.target, k.written, k.line,
                k.target_path
         FROM link k WHERE k.target_path IN (SELECT value FROM json_each(:paths))
            OR k.target_key IN (SELECT value FROM json_each(:keys))",
    )?;
    let candidates = stmt
        .query_map(
            named_params! {":paths": serde_json::to_string(&paths)?, ":keys": serde_json::to_string(&keys)?},
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    LinkRow::from_row(r)?,
                ))
            },
        )?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (hash, syntax, row) in candidates {
        let target = row.target()?;
        for source in tree_with_hash(conn, cid, state, &hash)? {
            let source_syntax = RelPath::existing(&source.path)
                .ok()
                .and_then(|p| classify(&p).syntax);
            if source_syntax.map(Syntax::as_str) != Some(syntax.as_str()) {
                continue;
            }
            let resolution = resolve(cx, &source.path, &target);
            if resolution.paths().iter().any(|p| p == path) {
                out.push(row.info(
                    &source.path,
                    &source.uuid,
                    source.version,
                    target.clone(),
                    resolution,
                    false,
                )?);
            }
        }
    }
    Ok(out)
}

fn tree_with_hash(conn: &Connection, cid: i64, state: State, hash: &str) -> Result<Vec<FileEntry>> {
    // Few files share a content; find them by the hash index, then keep the live ones.
    let mut stmt = conn.prepare_cached(
        // `INDEXED BY`: the planner, without statistics, would pick the
        // (collection_id, path) index and scan the whole collection.
        "SELECT DISTINCT v.path FROM version v INDEXED BY version_hash
         WHERE v.hash = :hash AND v.collection_id = :cid",
    )?;
    let paths = stmt
        .query_map(named_params! {":cid": cid, ":hash": hash}, |r| {
            r.get::<_, String>(0)
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    let mut files = Vec::new();
    for path in paths {
        if let Some(file) = file_at(conn, cid, &path, state)? {
            if file.hash == hash {
                files.push(file);
            }
        }
    }
    Ok(files)
}

/// Adds the blocks the state's XML files define inline to `index`. Few
/// contents define any (hand-written courses), so they are read in one pass
/// over the scans that have some.
fn add_inline_blocks<'f, P: IndexPath>(
    conn: &Connection,
    index: &mut MemoryIndex<P>,
    files: impl IntoIterator<Item = (&'f str, &'f str)>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, blocks FROM content_scan WHERE syntax = 'xml' AND blocks != '[]'",
    )?;
    let defining: HashMap<String, String> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::store::db::sql::Result<_>>()?;
    if defining.is_empty() {
        return Ok(());
    }
    for (path, hash) in files {
        let Some(blocks) = defining.get(hash) else {
            continue;
        };
        let is_xml = RelPath::existing(path)
            .ok()
            .and_then(|p| classify(&p).syntax)
            == Some(Syntax::Xml);
        if is_xml {
            let blocks: Vec<InlineBlock> = serde_json::from_str(blocks)?;
            index.add_inline(path, &blocks);
        }
    }
    Ok(())
}

/// A `PathIndex` over the index itself: exact paths by point query; the
/// static-name and url_name maps (with inline blocks) loaded once, on first
/// use.
struct SqlIndex<'c> {
    conn: &'c Connection,
    cid: i64,
    state: State,
    memory: OnceCell<MemoryIndex>,
}

impl<'c> SqlIndex<'c> {
    fn new(conn: &'c Connection, cid: i64, state: State) -> SqlIndex<'c> {
        SqlIndex {
            conn,
            cid,
            state,
            memory: OnceCell::new(),
        }
    }

    fn memory(&self) -> &MemoryIndex {
        self.memory.get_or_init(|| {
            let files = tree(self.conn, self.cid, self.state).unwrap_or_default();
            let mut index = MemoryIndex::new(files.iter().map(|f| f.path.as_str()));
            // Without its inline blocks a url_name may look missing; that is
            // the worst a failed read does here.
            let _ = add_inline_blocks(
                self.conn,
                &mut index,
                files.iter().map(|f| (f.path.as_str(), f.hash.as_str())),
            );
            index
        })
    }
}

impl PathIndex for SqlIndex<'_> {
    fn exists(&self, path: &str) -> bool {
        matches!(file_at(self.conn, self.cid, path, self.state), Ok(Some(_)))
    }
    fn static_by_key(&self, key: &str) -> Vec<String> {
        self.memory().static_by_key(key)
    }
    fn by_url_name(&self, url_name: &str) -> Vec<String> {
        self.memory().by_url_name(url_name)
    }
    fn inline(&self, block_type: &str, url_name: &str) -> Option<String> {
        self.memory().inline(block_type, url_name)
    }
}
