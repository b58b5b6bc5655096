//! Link queries: outgoing and incoming links of a file, and the broken /
//! ambiguous / orphan / malformed report of a collection state.
//!
//! Links are stored per content (see `files::insert_scan`); here they are joined
//! to the files live in a state and resolved against that same state.

use super::error::{Error, Result};
use super::files::{self, classify, file_at, lookup_keys, resolve_at, tree, State};
use super::links::resolve::resolve;
use super::links::{
    asset_name_key, LinkKind, MemoryIndex, ParseProblem, PathIndex, Resolution, Syntax, Target,
};
use super::model::*;
use super::path::RelPath;
use super::Store;
use rusqlite::{named_params, Connection};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet, VecDeque};

/// Which links of a file to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Links the file's content makes.
    Out,
    /// Links other files make to it.
    In,
}

/// Folders whose files are course-level and reached by the platform, not by
/// links; with top-level files (`course.xml`, `library.xml`) they are the roots
/// of the orphan search.
const ROOT_FOLDERS: &[&str] = &["policies", "about", "info", "tabs", "drafts", "assets"];

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
        let conn = self.conn();
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        let file =
            file_at(&conn, cid, path.as_str(), state)?.ok_or_else(|| Error::FileNotFound {
                collection: collection.slug.clone(),
                path: path.to_string(),
                at: Some(at.to_string()),
            })?;
        let index = SqlIndex::new(&conn, cid, state);
        let mut links = match direction {
            Direction::Out => {
                let rows = links_of_content(&conn, &file)?;
                rows.into_iter()
                    .map(|row| row.into_info(&file, &index, &conn))
                    .collect::<Result<Vec<_>>>()?
            }
            Direction::In => incoming(&conn, cid, state, &file, &index)?,
        };
        links.sort_by(|a, b| (&a.source_path, a.line).cmp(&(&b.source_path, b.line)));
        Ok(links)
    }

    /// A link by uuid, as the draft of a file holding its content makes it.
    /// Links belong to contents, not files: when several files share the
    /// content, the first by collection and path speaks for them.
    pub fn link(&self, uuid: &str) -> Result<LinkInfo> {
        let candidates: Vec<(String, String)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare_cached(
                "SELECT c.slug, v.path
                 FROM link k
                 JOIN version v INDEXED BY version_hash ON v.hash = k.hash
                 JOIN linkable l ON l.linkable_id = v.linkable_id
                   AND v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 JOIN collection c ON c.collection_id = l.collection_id
                 WHERE k.uuid = :uuid
                 ORDER BY c.slug, v.path LIMIT 64",
            )?;
            let rows = stmt.query_map(named_params! {":uuid": uuid}, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
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

    /// Broken and ambiguous links, orphans and malformed units of a state.
    ///
    /// A 100,000-file collection's report takes over a second (one `link`
    /// query per distinct content), and the UI asks for it on every visit to
    /// the collections page, so the last few are kept while the index is
    /// unchanged (see [`files::ChangeCache`]).
    pub fn link_report(&self, key: &str, at: At) -> Result<LinkReport> {
        let conn = self.conn();
        // One read transaction: one consistent snapshot, and SQLite's lock is
        // taken once instead of once per query.
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        let token = files::change_token(&conn)?;
        if let Some(report) = self.reports.get(&(cid, state), token) {
            return Ok(LinkReport::clone(&report));
        }
        let report = compute_report(&conn, state, cid)?;
        self.reports
            .put((cid, state), token, std::sync::Arc::new(report.clone()));
        Ok(report)
    }
}

/// Recent link reports, by (collection id, state).
pub(crate) type ReportCache = files::ChangeCache<(i64, State), std::sync::Arc<LinkReport>>;

/// Link reports kept at once.
pub(crate) const REPORTS_KEPT: usize = 4;

/// [`Store::link_report`] without the cache, inside its snapshot.
fn compute_report(conn: &Connection, state: State, cid: i64) -> Result<LinkReport> {
    let files = tree(conn, cid, state)?;
    let index = MemoryIndex::new(files.iter().map(|f| f.path.as_str()));
    let mut by_hash: HashMap<(&str, Syntax), Vec<&FileEntry>> = HashMap::new();
    for file in &files {
        if let Ok(path) = RelPath::existing(&file.path) {
            if let Some(syntax) = classify(&path).syntax {
                by_hash
                    .entry((file.hash.as_str(), syntax))
                    .or_default()
                    .push(file);
            }
        }
    }
    let mut report = LinkReport {
        at: state.into(),
        links: 0,
        broken: Vec::new(),
        ambiguous: Vec::new(),
        orphans: Vec::new(),
        unlinked: Vec::new(),
        malformed: Vec::new(),
    };
    // Edges for the reachability walk: source path -> resolved targets.
    let mut edges: HashMap<&str, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT k.hash, k.syntax, k.uuid, k.kind, k.target, k.written, k.line
             FROM link k WHERE k.hash = :hash AND k.syntax = :syntax ORDER BY k.ordinal",
    )?;
    let mut problems_stmt = conn.prepare_cached(
            "SELECT problems FROM content_scan WHERE hash = :hash AND syntax = 'xml' AND problems != '[]'",
        )?;
    let mut external_cache: HashMap<String, bool> = HashMap::new();
    for ((hash, syntax), sources) in &by_hash {
        let rows = stmt
            .query_map(
                named_params! {":hash": hash, ":syntax": syntax.as_str()},
                LinkRow::from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if *syntax == Syntax::Xml {
            let problems: Option<String> = rusqlite::OptionalExtension::optional(
                problems_stmt.query_row(named_params! {":hash": hash}, |r| r.get(0)),
            )?;
            if let Some(problems) = problems {
                let problems: Vec<ParseProblem> = serde_json::from_str(&problems)?;
                for source in sources {
                    report.malformed.push(Malformed {
                        path: source.path.clone(),
                        syntax: Syntax::Xml,
                        problems: problems.clone(),
                    });
                }
            }
        }
        for row in rows {
            let target: Target = serde_json::from_str(&row.target)?;
            let resolution = match resolve(&index, &target) {
                Resolution::External { collection, path } => {
                    let exists = *external_cache
                        .entry(collection.clone())
                        .or_insert_with(|| external_exists(conn, &collection));
                    if exists {
                        Resolution::External { collection, path }
                    } else {
                        Resolution::Broken
                    }
                }
                other => other,
            };
            for source in sources {
                report.links += 1;
                match &resolution {
                    Resolution::Resolved { path } => edges
                        .entry(source.path.as_str())
                        .or_default()
                        .push(path.clone()),
                    Resolution::Ambiguous { paths } => edges
                        .entry(source.path.as_str())
                        .or_default()
                        .extend(paths.iter().cloned()),
                    _ => {}
                }
                let info = || row.info(source, target.clone(), resolution.clone());
                match resolution {
                    Resolution::Broken => report.broken.push(info()?),
                    Resolution::Ambiguous { .. } => report.ambiguous.push(info()?),
                    _ => {}
                }
            }
        }
    }
    // Orphans: files not reachable from the roots.
    let live: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut reached: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| is_root(p))
        .collect();
    while let Some(path) = queue.pop_front() {
        if !reached.insert(path) {
            continue;
        }
        for target in edges.get(path).into_iter().flatten() {
            if let Some(live_path) = live.get(target.as_str()) {
                queue.push_back(live_path);
            }
        }
    }
    report.orphans = files
        .iter()
        .filter(|f| !reached.contains(f.path.as_str()))
        .map(|f| f.path.clone())
        .collect();
    let linked: HashSet<&str> = edges.values().flatten().map(String::as_str).collect();
    report.unlinked = files
        .iter()
        .filter(|f| !linked.contains(f.path.as_str()))
        .map(|f| f.path.clone())
        .collect();
    let order =
        |a: &LinkInfo, b: &LinkInfo| (&a.source_path, a.line).cmp(&(&b.source_path, b.line));
    report.broken.sort_by(order);
    report.ambiguous.sort_by(order);
    report.malformed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

fn is_root(path: &str) -> bool {
    match path.split_once('/') {
        None => true,
        Some((folder, _)) => ROOT_FOLDERS.contains(&folder),
    }
}

/// Whether an external collection reference (`source="alias"` or
/// `library-v1:ORG+NAME`) names an existing collection: by slug as written, or
/// as `ORG.NAME`, the slug an imported library gets.
fn external_exists(conn: &Connection, reference: &str) -> bool {
    let mut candidates = vec![reference.to_string()];
    if let Some(rest) = reference.strip_prefix("library-v1:") {
        candidates.push(rest.replace('+', "."));
    }
    candidates.iter().any(|slug| {
        conn.query_row(
            "SELECT 1 FROM collection WHERE slug = :slug",
            named_params! {":slug": slug},
            |_| Ok(()),
        )
        .is_ok()
    })
}

struct LinkRow {
    uuid: String,
    kind: String,
    target: String,
    written: String,
    line: u32,
}

impl LinkRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRow> {
        Ok(LinkRow {
            uuid: r.get(2)?,
            kind: r.get(3)?,
            target: r.get(4)?,
            written: r.get(5)?,
            line: r.get(6)?,
        })
    }

    fn info(&self, source: &FileEntry, target: Target, resolution: Resolution) -> Result<LinkInfo> {
        Ok(LinkInfo {
            uuid: self.uuid.clone(),
            kind: LinkKind::parse(&self.kind)
                .ok_or_else(|| Error::Invalid(format!("unknown link kind {}", self.kind)))?,
            source_path: source.path.clone(),
            source_uuid: source.uuid.clone(),
            source_version: source.version,
            written: self.written.clone(),
            line: self.line,
            target,
            resolution,
        })
    }

    fn into_info(
        self,
        source: &FileEntry,
        index: &dyn PathIndex,
        conn: &Connection,
    ) -> Result<LinkInfo> {
        let target: Target = serde_json::from_str(&self.target)?;
        let resolution = match resolve(index, &target) {
            Resolution::External { collection, path } => {
                if external_exists(conn, &collection) {
                    Resolution::External { collection, path }
                } else {
                    Resolution::Broken
                }
            }
            other => other,
        };
        self.info(source, target, resolution)
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
        "SELECT k.hash, k.syntax, k.uuid, k.kind, k.target, k.written, k.line
         FROM link k WHERE k.hash = :hash AND k.syntax = :syntax ORDER BY k.ordinal",
    )?;
    let rows = stmt
        .query_map(
            named_params! {":hash": file.hash, ":syntax": syntax.as_str()},
            LinkRow::from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Links from files live in `state` that resolve to `file`.
fn incoming(
    conn: &Connection,
    cid: i64,
    state: State,
    file: &FileEntry,
    index: &dyn PathIndex,
) -> Result<Vec<LinkInfo>> {
    let path = file.path.as_str();
    let mut keys = vec![format!("path:{path}")];
    if let Some(name) = path.strip_prefix("static/") {
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
        "SELECT DISTINCT k.hash, k.syntax, k.uuid, k.kind, k.target, k.written, k.line
         FROM link k WHERE k.target_path = :path OR k.target_key IN (SELECT value FROM json_each(:keys))",
    )?;
    let candidates = stmt
        .query_map(
            named_params! {":path": path, ":keys": serde_json::to_string(&keys)?},
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    LinkRow::from_row(r)?,
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (hash, syntax, row) in candidates {
        let target: Target = serde_json::from_str(&row.target)?;
        let resolution = resolve(index, &target);
        let reaches = match &resolution {
            Resolution::Resolved { path: p } => p == path,
            Resolution::Ambiguous { paths } => paths.iter().any(|p| p == path),
            _ => false,
        };
        if !reaches {
            continue;
        }
        for source in tree_with_hash(conn, cid, state, &hash)? {
            let source_syntax = RelPath::existing(&source.path)
                .ok()
                .and_then(|p| classify(&p).syntax);
            if source_syntax.map(Syntax::as_str) == Some(syntax.as_str()) {
                out.push(row.info(&source, target.clone(), resolution.clone())?);
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
        .collect::<rusqlite::Result<Vec<_>>>()?;
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

/// A `PathIndex` over the index itself: exact paths by point query; the
/// static-name and url_name maps loaded once, on first use.
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
            MemoryIndex::new(files.iter().map(|f| f.path.as_str()))
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
}
