//! The report of a collection state: broken links (in loaded content and in
//! files edx-platform never loads), ambiguous, external and platform links,
//! orphans, unlinked files and malformed units.
//!
//! It reads its rows with a few set-based statements (the live files, the
//! links of their contents, the parse problems) and never one query per file
//! or content: at 100,000s of files, per-row lookups cost seconds. What
//! edx-platform loads (OLX-RULES "What edx-platform never loads") is decided
//! by walking the edges from the roots (`course.xml`/`library.xml`, the
//! course-level folders and policy, draft roots).

use super::*;

impl Store {
    /// The link report of a state: broken links (each saying whether its file
    /// is one edx-platform loads), ambiguous, external and platform links,
    /// orphans, unlinked files and malformed units.
    ///
    /// It is computed by a few set-based statements (see `compute_report`),
    /// a few hundred milliseconds for a 100,000-file collection; the UI asks
    /// for it on every visit to the collections page, so the last few are
    /// kept while the index is unchanged (see [`files::ChangeCache`]).
    pub fn link_report(&self, key: &str, at: At) -> Result<LinkReport> {
        let token = self.change_token()?;
        let conn = self.reader()?;
        // One read transaction: one consistent snapshot, and SQLite's lock is
        // taken once instead of once per query.
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        if let Some(report) = self.reports.get(&(cid, state), token) {
            return Ok(LinkReport::clone(&report));
        }
        let report = compute_report(&conn, &self.blobs, state, cid)?;
        self.reports
            .put((cid, state), token, std::sync::Arc::new(report.clone()));
        Ok(report)
    }
}

/// Recent link reports, by (collection id, state).
pub(crate) type ReportCache = files::ChangeCache<(i64, State), std::sync::Arc<LinkReport>>;

/// Link reports kept at once.
pub(crate) const REPORTS_KEPT: usize = 4;

/// Which list of the report a link goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listed {
    Broken,
    Ambiguous,
    External,
    Platform,
}

/// A live file of the state, with the columns the report reads.
struct Live {
    path: String,
    hash: String,
    kind: LinkableKind,
    /// Its linkable, whose uuid is read only for a listed link (most files
    /// list none, and 110,000 uuids copied were a sixth of a cold report).
    linkable_id: i64,
    version: Option<i64>,
}

/// The live files of a state with only the columns the report reads, in no
/// particular order (the report sorts what it lists: sorting every file
/// costs more).
fn live_files(conn: &Connection, cid: i64, state: State) -> Result<Vec<Live>> {
    let row = |r: &crate::store::db::sql::Row<'_>| -> crate::store::db::sql::Result<Live> {
        Ok(Live {
            path: r.get(0)?,
            hash: r.get(1)?,
            kind: if matches!(r.get_ref(2)?, ValueRef::Text(b"unit")) {
                LinkableKind::Unit
            } else {
                LinkableKind::Asset
            },
            linkable_id: r.get(3)?,
            version: r.get(4)?,
        })
    };
    let live = LiveSql::of(conn, cid, state)?;
    let files = conn
        .prepare(&format!(
            "SELECT v.path, v.hash, l.kind, l.linkable_id, v.number {}",
            live.from
        ))?
        .query_map(live.params().as_slice(), row)?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    Ok(files)
}

/// How the report reads the links of the live contents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkRead {
    /// Every link row of the store in table order, those of live contents
    /// kept here: when the state's files are a large part of the store (one
    /// sequential pass costs ~0.25 µs a row, against ~1 µs for each index
    /// probe by hash).
    Scan,
    /// The links of the live contents found by the hash index, in SQL: a
    /// small collection in a large store.
    Probe,
}

impl LinkRead {
    /// Scans when the link rows ever written (the largest id: a cheap bound)
    /// are at most four times the live files.
    fn choose(conn: &Connection, files: usize) -> Result<LinkRead> {
        let rows: Option<i64> = conn
            .prepare_cached("SELECT max(link_id) FROM link")?
            .query_row([], |r| r.get(0))?;
        let rows = usize::try_from(rows.unwrap_or(0)).unwrap_or(usize::MAX);
        Ok(if rows <= files.saturating_mul(4) {
            LinkRead::Scan
        } else {
            LinkRead::Probe
        })
    }

    /// `SELECT columns FROM table` (with `filter`, if any), for a probe
    /// narrowed to the contents live in the state; and its parameters.
    fn statement<'l>(
        self,
        columns: &str,
        table: &str,
        filter: Option<&str>,
        live: &'l LiveSql,
    ) -> (
        String,
        Vec<(&'static str, &'l dyn crate::store::db::sql::ToSql)>,
    ) {
        let mut conditions: Vec<String> = filter.into_iter().map(str::to_owned).collect();
        if self == LinkRead::Probe {
            conditions.push(format!("hash IN (SELECT v.hash {})", live.from));
        }
        let sql = match conditions.is_empty() {
            true => format!("SELECT {columns} FROM {table}"),
            false => format!(
                "SELECT {columns} FROM {table} WHERE {}",
                conditions.join(" AND ")
            ),
        };
        let params = match self {
            LinkRead::Probe => live.params(),
            LinkRead::Scan => Vec::new(),
        };
        (sql, params)
    }
}

/// No file (the end of a chain in [`compute_report`]'s content map).
const NONE: usize = usize::MAX;

/// [`Store::link_report`] without the cache, inside its snapshot.
///
/// Set-based: one statement reads the live files, one the links of their
/// contents (see [`LinkRead`]) and one the parse problems; links are
/// resolved against an in-memory index of the state, and the walks run over
/// file positions, not paths.
fn compute_report(
    conn: &Connection,
    blobs: &BlobStore,
    state: State,
    cid: i64,
) -> Result<LinkReport> {
    let files = live_files(conn, cid, state)?;
    let mut index = MemoryIndex::borrowing(files.iter().map(|f| f.path.as_str()));
    add_inline_blocks(
        conn,
        &mut index,
        files.iter().map(|f| (f.path.as_str(), f.hash.as_str())),
    )?;
    let shape = Shape::of(conn, blobs, cid, state)?;
    let lookups = StoreLookups::new(conn, blobs);
    let cx = Context {
        index: &index,
        course: shape.course(),
        elsewhere: &lookups,
    };
    // A live path's file (paths are unique in a state).
    let position = |path: &str| index.position(path);
    // The files each content is live in (with a syntax), as chains:
    // `first[hash]`, then `next[i]` until NONE.
    let syntax: Vec<Option<Syntax>> = files
        .iter()
        .map(|f| classify_path(&f.path).syntax)
        .collect();
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(files.len());
    let mut next = vec![NONE; files.len()];
    for (i, file) in files.iter().enumerate().rev() {
        if syntax[i].is_some() {
            if let Some(head) = first.insert(file.hash.as_str(), i) {
                next[i] = head;
            }
        }
    }
    let sources = |hash: &str, syntax_of_row: &str| {
        let mut at = first.get(hash).copied().unwrap_or(NONE);
        let wanted = [Syntax::Xml, Syntax::Html, Syntax::Json]
            .into_iter()
            .find(|s| s.as_str() == syntax_of_row);
        let syntax = &syntax;
        let next = &next;
        std::iter::from_fn(move || {
            while at != NONE {
                let i = at;
                at = next[i];
                if wanted.is_some() && syntax[i] == wanted {
                    return Some(i);
                }
            }
            None
        })
    };
    let mut report = LinkReport {
        at: state.into(),
        links: 0,
        broken_loaded: 0,
        broken_unloaded: 0,
        broken: Vec::new(),
        ambiguous: Vec::new(),
        external: Vec::new(),
        platform: Vec::new(),
        orphans: Vec::new(),
        unlinked: Vec::new(),
        malformed: Vec::new(),
    };
    // Edges for the walks: (source, kind, target) by file position.
    let mut edges: Vec<(usize, LinkKind, usize)> = Vec::new();
    let mut draft_root = vec![false; files.len()];
    // (list, source, ordinal, link): the ordinal orders a file's links on
    // one line as the content lists them.
    let mut listed: Vec<(Listed, usize, i64, LinkInfo)> = Vec::new();
    let live = LiveSql::of(conn, cid, state)?;
    let read = LinkRead::choose(conn, files.len())?;
    {
        let (sql, params) = read.statement(
            "hash, syntax, problems",
            "content_scan",
            Some("problems != '[]'"),
            &live,
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params.as_slice())?;
        while let Some(r) = rows.next()? {
            let (hash, syntax_of_row) = (text(&r, 0)?, text(&r, 1)?);
            if syntax_of_row == Syntax::Html.as_str() {
                continue;
            }
            let mut found = sources(hash, syntax_of_row).peekable();
            if found.peek().is_none() {
                continue;
            }
            let problems: Vec<ParseProblem> = serde_json::from_str(text(&r, 2)?)?;
            for i in found {
                report.malformed.push(Malformed {
                    path: files[i].path.clone(),
                    syntax: syntax[i].unwrap_or(Syntax::Xml),
                    problems: problems.clone(),
                });
            }
        }
    }
    let (sql, params) = read.statement(
        "hash, syntax, ordinal, kind, target, written, line, target_path",
        "link",
        None,
        &live,
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params.as_slice())?;
    while let Some(r) = rows.next()? {
        let (hash, syntax_of_row) = (text(&r, 0)?, text(&r, 1)?);
        let mut found = sources(hash, syntax_of_row).peekable();
        if found.peek().is_none() {
            continue;
        }
        // Read in place; a link's own strings are copied only when it is
        // listed (most links resolve and only become edges).
        let kind_text = text(&r, 3)?;
        let kind = LinkKind::parse(kind_text)
            .ok_or_else(|| Error::Invalid(format!("unknown link kind {kind_text}")))?;
        let target_json = text(&r, 4)?;
        let target_path = match r.get_ref(7)? {
            ValueRef::Null => None,
            _ => Some(text(&r, 7)?),
        };
        // Stored as its path alone (`scan::stored_target`), or, in rows
        // written before, as JSON read without a parser when it can be.
        let one_path = match target_json {
            "" => target_path,
            json => one_path_target(json),
        };
        let mut parsed: Option<Target> = None;
        let ordinal: i64 = r.get(2)?;
        let mut row: Option<LinkRow> = None;
        for i in found {
            let source = &files[i];
            // Most links name one path under the course's root: a live one
            // is an edge, found by its position directly (what `resolve`
            // answers, without parsing the target, copying the path or
            // looking it up twice).
            if let Some(path) = one_path {
                if let Some(j) = position(path).filter(|_| drafts::root_of(&source.path).is_empty())
                {
                    report.links += 1;
                    if kind == LinkKind::Parent {
                        draft_root[i] = true;
                    }
                    edges.push((i, kind, j));
                    continue;
                }
            }
            let target = match parsed {
                Some(ref target) => target,
                None => parsed.insert(stored_target(target_json, target_path)?),
            };
            let resolution = resolve(&cx, &source.path, target);
            report.links += 1;
            // A draft root hangs under its parent; with no parent edx-platform
            // drops it.
            if kind == LinkKind::Parent && !resolution.paths().is_empty() {
                draft_root[i] = true;
            }
            let list = match resolution {
                // Most links: the file reached moves into the walk's edges.
                Resolution::Resolved { ref path } => {
                    if let Some(j) = position(path) {
                        edges.push((i, kind, j));
                    }
                    continue;
                }
                Resolution::Collection { .. } => continue,
                Resolution::Ambiguous { ref paths } => {
                    edges.extend(
                        paths
                            .iter()
                            .filter_map(|p| position(p))
                            .map(|j| (i, kind, j)),
                    );
                    Listed::Ambiguous
                }
                Resolution::Broken { .. } => Listed::Broken,
                Resolution::External => Listed::External,
                Resolution::Platform => Listed::Platform,
            };
            let row = match row {
                Some(ref row) => row,
                None => row.insert(LinkRow {
                    uuid: link_uuid(hash, syntax_of_row, ordinal),
                    kind: kind_text.to_owned(),
                    // The target is already read (`info` takes it).
                    target: String::new(),
                    target_path: None,
                    written: text(&r, 5)?.to_owned(),
                    line: r.get(6)?,
                }),
            };
            let source_uuid: String = conn
                .prepare_cached("SELECT uuid FROM linkable WHERE linkable_id = :id")?
                .query_row(named_params! {":id": source.linkable_id}, |r| r.get(0))?;
            let info = row.info(
                &source.path,
                &source_uuid,
                source.version,
                target.clone(),
                resolution,
                false,
            )?;
            listed.push((list, i, ordinal, info));
        }
    }
    // Each file's edges together (by source), for the walk.
    edges.sort_unstable_by_key(|&(source, _, _)| source);
    let mut starts = vec![0usize; files.len() + 1];
    for &(source, _, _) in &edges {
        starts[source + 1] += 1;
    }
    for i in 0..files.len() {
        starts[i + 1] += starts[i];
    }
    let edges_of = |i: usize| &edges[starts[i]..starts[i + 1]];
    // What edx-platform loads: the roots, then along loading links.
    let mut loaded = vec![false; files.len()];
    let mut queue: VecDeque<usize> = (0..files.len())
        .filter(|&i| shape.is_root(&files[i].path, files[i].kind, draft_root[i]))
        .collect();
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut loaded[i], true) {
            continue;
        }
        for &(_, kind, target) in edges_of(i) {
            if LOADING.contains(&kind) && !loaded[target] {
                queue.push_back(target);
            }
        }
    }
    // In use: loaded, or an asset a loaded file names.
    let mut used = loaded.clone();
    for &(source, kind, target) in &edges {
        if loaded[source] && USING.contains(&kind) {
            used[target] = true;
        }
    }
    // A bundle block's folder is the block's: the files beside a loaded
    // `TYPE/ID/definition.xml` are its own (Learning Core attaches each to the
    // component, Blockstore's runtime served them), so in use.
    if matches!(shape, Shape::Tree) {
        let blocks: std::collections::HashSet<&str> = (0..files.len())
            .filter(|&i| loaded[i])
            .filter_map(|i| crate::store::links::bundle_folder(&files[i].path))
            .collect();
        if !blocks.is_empty() {
            for (i, file) in files.iter().enumerate() {
                if !used[i]
                    && file
                        .path
                        .match_indices('/')
                        .any(|(at, _)| blocks.contains(&file.path[..=at]))
                {
                    used[i] = true;
                }
            }
        }
    }
    report.orphans = (0..files.len())
        .filter(|&i| !used[i])
        .map(|i| files[i].path.clone())
        .collect();
    report.orphans.sort_unstable();
    let mut linked = vec![false; files.len()];
    for &(_, _, target) in &edges {
        linked[target] = true;
    }
    report.unlinked = (0..files.len())
        .filter(|&i| !linked[i])
        .map(|i| files[i].path.clone())
        .collect();
    report.unlinked.sort_unstable();
    // A file's links on one line in the order its content lists them.
    listed
        .sort_by(|a, b| (&a.3.source_path, a.3.line, a.2).cmp(&(&b.3.source_path, b.3.line, b.2)));
    for (list, source, _, mut info) in listed {
        info.loaded = loaded[source];
        match list {
            Listed::Broken => {
                if info.loaded {
                    report.broken_loaded += 1;
                } else {
                    report.broken_unloaded += 1;
                }
                report.broken.push(info);
            }
            Listed::Ambiguous => report.ambiguous.push(info),
            Listed::External => report.external.push(info),
            Listed::Platform => report.platform.push(info),
        }
    }
    // Broken links in loaded content first: those are the course's (a
    // stable sort keeps the order above within each group).
    report
        .broken
        .sort_by_key(|link| std::cmp::Reverse(link.loaded));
    report.malformed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// The path of a `Target::Path` stored as JSON (as rows written before
/// one-path targets were stored by their path alone hold it), read without
/// a JSON parser: `{"type":"path","path":"P"}` with nothing in `P` that
/// JSON escapes (a quote, a backslash, a control character), so `P` is the
/// path itself. Anything else (another target, an escaped path) is `None`
/// and goes through `serde_json`. Most of a course's links are such targets.
fn one_path_target(json: &str) -> Option<&str> {
    let path = json
        .strip_prefix(r#"{"type":"path","path":""#)?
        .strip_suffix(r#""}"#)?;
    (!path.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_path_target_is_read_exactly_as_serde_reads_it_or_not_at_all() {
        let paths = [
            "vertical/a.xml",
            "static/é ü/x y.png",
            "a\"b.xml",
            "a\\b.xml",
            "tab\there.xml",
            "",
        ];
        for path in paths {
            let json = serde_json::to_string(&Target::Path {
                path: path.to_owned(),
            })
            .unwrap();
            match one_path_target(&json) {
                Some(read) => assert_eq!(read, path, "{json}"),
                None => assert!(
                    path.contains(['"', '\\', '\t']),
                    "{json} is a plain path target"
                ),
            }
        }
        let others = [
            Target::AnyOf {
                paths: vec!["a.xml".into()],
            },
            Target::Static {
                name: "a.png".into(),
            },
            Target::Url {
                url: "https://x/".into(),
            },
        ];
        for other in others {
            let json = serde_json::to_string(&other).unwrap();
            assert_eq!(one_path_target(&json), None, "{json}");
        }
        assert_eq!(one_path_target(r#"{"type":"path","path":"a"} "#), None);
    }
}
