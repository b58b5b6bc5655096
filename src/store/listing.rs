//! File listings: a collection state's files a folder, a page or a search at
//! a time, as the Files table, `blockstore files` and `GET …/files` show them.
//!
//! Each row carries what a person reads a course by: the block's
//! `display_name` and type (from the content's scan, so a listing is one
//! set-based query, never a read of every file) and the collection version
//! that last changed it. Listings of large collections are kept while the
//! index does not change, so paging, sorting and filtering one reuse a read.
//! What a person asks for first is answered without reading every file: the
//! first page in path order by a bounded query over the path index (plus a
//! count), and the folders by one pass that counts as it reads, so opening a
//! 100,000-file collection costs tens of milliseconds, not hundreds.

use super::error::Result;
use super::files::{is_latest, resolve_at, ChangeCache, State, FILE_COLUMNS};
use super::model::*;
use super::Store;
use crate::store::db::sql::ValueRef;
use crate::store::db::sql::{named_params, Connection};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// One row of a listing: a live file, the block it defines, and where it
/// last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ListedFile {
    #[serde(flatten)]
    pub file: FileEntry,
    /// The block's `display_name` (its root element's); an html body
    /// (`html/x.html`) shows its pointer's (`html/x.xml`). None for assets and
    /// blocks without one.
    pub display_name: Option<String>,
    /// The root element's tag (`problem`, `vertical`, …) of an XML unit.
    pub block_type: Option<String>,
    /// The collection version that published this content; None while it is a
    /// draft change.
    pub changed_in: Option<i64>,
}

/// What a listing is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Path,
    DisplayName,
    Kind,
    Size,
    ChangedIn,
}

/// An order: a key, ascending or descending (`-size` in the API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl std::str::FromStr for Sort {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Sort, String> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let key = match name {
            "path" => SortKey::Path,
            "display_name" => SortKey::DisplayName,
            "kind" => SortKey::Kind,
            "size" => SortKey::Size,
            "changed_in" => SortKey::ChangedIn,
            _ => {
                return Err(format!(
                    "{text:?}: sort by path, display_name, kind, size or changed_in (prefix - for descending)"
                ))
            }
        };
        Ok(Sort { key, descending })
    }
}

/// Which files of a collection state a listing holds, and in what order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileQuery {
    /// Only paths starting with this.
    pub prefix: String,
    /// Only units or only assets.
    pub kind: Option<LinkableKind>,
    /// Only files directly in the `prefix` folder, not in its subfolders.
    pub direct: bool,
    /// Only files whose path or display name contains this, ignoring case.
    pub contains: Option<String>,
    /// The order (by path unless asked).
    pub sort: Sort,
}

/// A folder of a collection state, with the files it holds at any depth.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Folder {
    /// The folder's own name.
    pub name: String,
    /// Its path from the collection's top, ending in `/`.
    pub path: String,
    pub files: usize,
    /// How many of its files (at any depth) are changed in the draft and not
    /// published yet; 0 for a published version.
    pub draft_changes: usize,
}

/// Which listing a [`ListingCache`] entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListingKey {
    cid: i64,
    state: State,
    query: FileQuery,
}

/// A shared, ordered file listing.
type Listing = Arc<Vec<ListedFile>>;

/// Recent file listings for [`Store::files_page`].
pub(crate) type ListingCache = ChangeCache<ListingKey, Listing>;

/// Listings kept at once (each of a 100,000-file collection is ~30 MB).
pub(crate) const LISTINGS_KEPT: usize = 6;

impl Store {
    /// One page of the files of a state that `query` selects, and how many
    /// it selects in all.
    ///
    /// A 100,000-file listing takes a few hundred milliseconds to read, so the
    /// last few listings are kept and reused while the index is unchanged (by
    /// this process, or by another one: the change token). Paging
    /// through a large collection then costs one read, not one per page.
    pub fn files_page(
        &self,
        key: &str,
        at: At,
        query: &FileQuery,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ListedFile>)> {
        if offset == 0
            && limit <= FIRST_PAGE_MAX
            && query.sort == Sort::default()
            && query.contains.is_none()
        {
            if let Some(answer) = self.first_page(key, at, query, limit)? {
                return Ok(answer);
            }
        }
        let listing = self.listing(key, at, query)?;
        let page = listing.iter().skip(offset).take(limit).cloned().collect();
        Ok((listing.len(), page))
    }

    /// The first page of a listing in path order, read by its own bounded
    /// query (the count, then the rows, in one snapshot) when no listing of
    /// it is kept: opening a folder of a large collection then costs
    /// milliseconds, not the read of every file. None when a kept listing
    /// answers (cheaper still); later pages read the whole listing once and
    /// keep it.
    fn first_page(
        &self,
        key: &str,
        at: At,
        query: &FileQuery,
        limit: usize,
    ) -> Result<Option<(usize, Vec<ListedFile>)>> {
        let token = self.change_token()?;
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        let kept = |query: &FileQuery| {
            self.listings
                .get(
                    &ListingKey {
                        cid,
                        state,
                        query: query.clone(),
                    },
                    token,
                )
                .is_some()
        };
        let base_query = FileQuery {
            prefix: query.prefix.clone(),
            ..FileQuery::default()
        };
        if kept(query) || kept(&base_query) {
            return Ok(None);
        }
        let live = Live::of(&conn, cid, state)?;
        let filter = Filter::of(query);
        let (count_sql, count_params) = match live.by_linkable {
            // Every file (of a kind): counted from the linkables, fewer rows.
            Some(from) if query.prefix.is_empty() && !query.direct => match &filter.kind {
                Some(kind) => (
                    format!("SELECT count(*) {from} AND l.kind = :kind"),
                    vec![(":kind", kind as &dyn crate::store::db::sql::ToSql)],
                ),
                None => (format!("SELECT count(*) {from}"), Vec::new()),
            },
            _ => (
                format!(
                    "SELECT count(*) FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                     WHERE v.collection_id = :cid AND {} AND {}",
                    live.condition, filter.condition
                ),
                filter.params(),
            ),
        };
        let count: i64 = conn.prepare(&count_sql)?.query_row(
            [by_collection(&cid), live.params(), count_params]
                .concat()
                .as_slice(),
            |r| r.get(0),
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = conn
            .prepare(&format!(
                "SELECT {FILE_COLUMNS}, {EXTRA}
                 FROM version v INDEXED BY version_collection_path
                   JOIN linkable l ON l.linkable_id = v.linkable_id
                   {SCAN}
                 WHERE v.collection_id = :cid AND {} AND {}
                 ORDER BY v.path LIMIT :limit",
                live.condition, filter.condition
            ))?
            .query_map(
                [
                    by_collection(&cid),
                    live.params(),
                    filter.params(),
                    vec![(":limit", &limit as &dyn crate::store::db::sql::ToSql)],
                ]
                .concat()
                .as_slice(),
                listed_row,
            )?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        name_page_bodies(&conn, cid, &live, &mut rows)?;
        Ok(Some((usize::try_from(count).unwrap_or(0), rows)))
    }

    /// The folders directly inside `prefix` (a folder path ending in `/`, or
    /// empty for the top) with how many files each holds at any depth, and
    /// how many of those are draft changes: a file tree opened one level at a
    /// time, so a browser never loads a whole large collection.
    pub fn folders(&self, key: &str, at: At, prefix: &str) -> Result<Vec<Folder>> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        let live = Live::of(&conn, cid, state)?;
        let filter = Filter::of(&FileQuery {
            prefix: prefix.to_string(),
            ..FileQuery::default()
        });
        if let (true, Some(from)) = (prefix.is_empty(), live.by_linkable) {
            // The whole state: every file from its linkable (no path index
            // needed), counted by top folder.
            let mut stmt = conn.prepare(&format!("SELECT v.path, v.number IS NULL {from}"))?;
            let mut rows = stmt.query([by_collection(&cid), live.params()].concat().as_slice())?;
            let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
            while let Some(row) = rows.next()? {
                let ValueRef::Text(path) = row.get_ref(0)? else {
                    continue;
                };
                let Some(slash) = path.iter().position(|&b| b == b'/') else {
                    continue;
                };
                let name = String::from_utf8_lossy(&path[..slash]);
                let draft = usize::from(row.get::<_, bool>(1)?);
                match counts.get_mut(name.as_ref()) {
                    Some((files, drafts)) => {
                        *files += 1;
                        *drafts += draft;
                    }
                    None => {
                        counts.insert(name.into_owned(), (1, draft));
                    }
                }
            }
            let mut folders: Vec<Folder> = counts
                .into_iter()
                .map(|(name, (files, draft_changes))| Folder {
                    path: format!("{name}/"),
                    name,
                    files,
                    draft_changes,
                })
                .collect();
            // In the order of their files' paths (`a-b/` before `a/`).
            folders.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(folders);
        }
        // One pass over the folder's files in path order (the index's), so
        // one folder's files are adjacent, as in a listing; the folders
        // come in the order of their files' paths (`a-b/` before `a/`).
        let mut stmt = conn.prepare(&format!(
            "SELECT v.path, v.number IS NULL
             FROM version v INDEXED BY version_collection_path
               JOIN linkable l ON l.linkable_id = v.linkable_id
             WHERE v.collection_id = :cid AND {} AND {}
             ORDER BY v.path",
            live.condition, filter.condition
        ))?;
        let mut rows = stmt.query(
            [by_collection(&cid), live.params(), filter.params()]
                .concat()
                .as_slice(),
        )?;
        let mut folders: Vec<Folder> = Vec::new();
        while let Some(row) = rows.next()? {
            let ValueRef::Text(path) = row.get_ref(0)? else {
                continue;
            };
            let rest = &path[prefix.len()..];
            let Some(slash) = rest.iter().position(|&b| b == b'/') else {
                continue;
            };
            let name = &rest[..slash];
            let draft = usize::from(row.get::<_, bool>(1)?);
            match folders.last_mut() {
                Some(last) if last.name.as_bytes() == name => {
                    last.files += 1;
                    last.draft_changes += draft;
                }
                _ => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    folders.push(Folder {
                        path: format!("{prefix}{name}/"),
                        name,
                        files: 1,
                        draft_changes: draft,
                    });
                }
            }
        }
        Ok(folders)
    }

    /// The files of a collection state that `query` selects, in its order;
    /// cached while the index does not change. A narrowed query (kind,
    /// direct, contains, sort) filters the cached listing of its prefix, so a
    /// file tree's folders and files, and each search, read the index once.
    fn listing(&self, key: &str, at: At, query: &FileQuery) -> Result<Listing> {
        let token = self.change_token()?;
        let conn = self.reader()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let state = resolve_at(&conn, cid, &collection.slug, at)?;
        let listing_key = |query: &FileQuery| ListingKey {
            cid,
            state,
            query: query.clone(),
        };
        if let Some(listing) = self.listings.get(&listing_key(query), token) {
            return Ok(listing);
        }
        let base_query = FileQuery {
            prefix: query.prefix.clone(),
            ..FileQuery::default()
        };
        let base = match self.listings.get(&listing_key(&base_query), token) {
            Some(base) => base,
            None => {
                let mut rows = listed_tree(&conn, cid, state)?;
                rows.retain(|r| r.file.path.starts_with(&query.prefix));
                let base = Arc::new(rows);
                self.listings
                    .put(listing_key(&base_query), token, base.clone());
                base
            }
        };
        drop(conn);
        if *query == base_query {
            return Ok(base);
        }
        let needle = query.contains.as_deref().map(str::to_lowercase);
        let mut rows: Vec<ListedFile> = base
            .iter()
            .filter(|r| {
                query.kind.is_none_or(|k| r.file.kind == k)
                    && (!query.direct || !r.file.path[query.prefix.len()..].contains('/'))
                    && needle.as_deref().is_none_or(|n| {
                        r.file.path.to_lowercase().contains(n)
                            || r.display_name
                                .as_deref()
                                .is_some_and(|d| d.to_lowercase().contains(n))
                    })
            })
            .cloned()
            .collect();
        sort_rows(&mut rows, query.sort);
        let listing = Arc::new(rows);
        self.listings
            .put(listing_key(query), token, listing.clone());
        Ok(listing)
    }
}

/// Orders rows; ties go by path. Files without a display name come after
/// named ones in either direction of a sort by name.
fn sort_rows(rows: &mut [ListedFile], sort: Sort) {
    use std::cmp::Ordering;
    if sort == Sort::default() {
        return; // read sorted by path
    }
    rows.sort_by(|a, b| {
        let primary = match sort.key {
            SortKey::Path => a.file.path.cmp(&b.file.path),
            SortKey::DisplayName => match (&a.display_name, &b.display_name) {
                (Some(x), Some(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
                (Some(_), None) => return Ordering::Less,
                (None, Some(_)) => return Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
            SortKey::Kind => a.file.kind.as_str().cmp(b.file.kind.as_str()),
            SortKey::Size => a.file.size.cmp(&b.file.size),
            // A draft change is newer than any version.
            SortKey::ChangedIn => a
                .changed_in
                .unwrap_or(i64::MAX)
                .cmp(&b.changed_in.unwrap_or(i64::MAX)),
        };
        let primary = if sort.descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| a.file.path.cmp(&b.file.path))
    });
}

/// What a listing row reads besides the file: its content's scan and the
/// collection version that published it.
const EXTRA: &str = "s.display_name, s.block_type, v.published_in";
/// The join that brings each row its content's scan.
const SCAN: &str = "LEFT JOIN content_scan s ON s.hash = v.hash AND s.syntax = 'xml'";

/// A listing row from `SELECT {FILE_COLUMNS}, {EXTRA}`.
fn listed_row(r: &crate::store::db::sql::Row<'_>) -> crate::store::db::sql::Result<ListedFile> {
    Ok(ListedFile {
        file: super::files::file_from_row(r)?,
        display_name: r.get(9)?,
        block_type: r.get(10)?,
        changed_in: r.get(11)?,
    })
}

/// The rows with the first page's most: the API's largest page.
const FIRST_PAGE_MAX: usize = 1000;

type Params<'p> = Vec<(&'static str, &'p dyn crate::store::db::sql::ToSql)>;

/// The `:cid` parameter.
fn by_collection(cid: &i64) -> Params<'_> {
    vec![(":cid", cid)]
}

/// Which versions (`v`, with its linkable `l`) are the live files of a
/// state, as a condition for queries that find them by collection and path
/// (the `version_collection_path` index), so a page or a folder reads only
/// its own range.
struct Live {
    condition: &'static str,
    number: Option<i64>,
    /// The same files found from the collection's linkables (`FROM … WHERE
    /// …`, with `:cid`): fewer rows to visit when every file is wanted.
    by_linkable: Option<&'static str>,
}

impl Live {
    fn of(conn: &Connection, cid: i64, state: State) -> Result<Live> {
        Ok(match state {
            State::Draft => Live {
                condition: "v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                            AND v.hash IS NOT NULL",
                number: None,
                by_linkable: Some(
                    "FROM linkable l JOIN version v
                       ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                     WHERE l.collection_id = :cid AND v.hash IS NOT NULL",
                ),
            },
            // The latest version is what the published pointers name.
            State::Version(n) if is_latest(conn, cid, n)? => Live {
                condition: "v.version_id = l.published_version_id AND v.hash IS NOT NULL",
                number: None,
                by_linkable: Some(
                    "FROM linkable l JOIN version v ON v.version_id = l.published_version_id
                     WHERE l.collection_id = :cid AND v.hash IS NOT NULL",
                ),
            },
            State::Version(n) => Live {
                condition:
                    "v.published_in <= :n AND (v.superseded_in IS NULL OR v.superseded_in > :n)
                            AND v.hash IS NOT NULL",
                number: Some(n),
                by_linkable: None,
            },
        })
    }

    fn params(&self) -> Params<'_> {
        match &self.number {
            Some(n) => vec![(":n", n)],
            None => Vec::new(),
        }
    }
}

/// A query's prefix, kind and direct filters as SQL.
struct Filter {
    condition: String,
    prefix: String,
    /// Just past every path starting with the prefix, in byte order, when
    /// one is easily had (the prefix's last character is ASCII below DEL).
    end: Option<String>,
    kind: Option<&'static str>,
}

impl Filter {
    fn of(query: &FileQuery) -> Filter {
        let prefix = query.prefix.clone();
        let end = match prefix.as_bytes().last() {
            Some(&last) if last < 0x7f => {
                let mut end = prefix[..prefix.len() - 1].to_owned();
                end.push(char::from(last + 1));
                Some(end)
            }
            _ => None,
        };
        let mut condition =
            "v.path >= :prefix AND substr(v.path, 1, length(:prefix)) = :prefix".to_owned();
        if end.is_some() {
            condition.push_str(" AND v.path < :end");
        }
        let kind = query.kind.map(LinkableKind::as_str);
        if kind.is_some() {
            condition.push_str(" AND l.kind = :kind");
        }
        if query.direct {
            condition.push_str(" AND substr(v.path, length(:prefix) + 1) NOT LIKE '%/%'");
        }
        Filter {
            condition,
            prefix,
            end,
            kind,
        }
    }

    fn params(&self) -> Params<'_> {
        let mut params: Params<'_> = vec![(":prefix", &self.prefix)];
        if let Some(end) = &self.end {
            params.push((":end", end));
        }
        if let Some(kind) = &self.kind {
            params.push((":kind", kind));
        }
        params
    }
}

/// [`name_bodies`] for one page: the pointers its html bodies are named by
/// are read in one statement (they may be anywhere in the state).
fn name_page_bodies(
    conn: &Connection,
    cid: i64,
    live: &Live,
    rows: &mut [ListedFile],
) -> Result<()> {
    let pointers: Vec<String> = rows
        .iter()
        .filter(|r| r.block_type.is_none())
        .filter_map(|r| Some(format!("{}.xml", r.file.path.strip_suffix(".html")?)))
        .collect();
    if pointers.is_empty() {
        return Ok(());
    }
    let paths = serde_json::to_string(&pointers)?;
    let named: HashMap<String, String> = conn
        .prepare(&format!(
            "SELECT v.path, s.display_name
             FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id {SCAN}
             WHERE v.collection_id = :cid AND v.path IN (SELECT value FROM json_each(:paths))
               AND {} AND s.block_type = 'html' AND s.display_name IS NOT NULL",
            live.condition
        ))?
        .query_map(
            [
                by_collection(&cid),
                vec![(":paths", &paths as &dyn crate::store::db::sql::ToSql)],
                live.params(),
            ]
            .concat()
            .as_slice(),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<crate::store::db::sql::Result<_>>()?;
    for row in rows.iter_mut().filter(|r| r.block_type.is_none()) {
        let name = row
            .file
            .path
            .strip_suffix(".html")
            .and_then(|stem| named.get(&format!("{stem}.xml")));
        if let Some(name) = name {
            row.display_name = Some(name.clone());
        }
    }
    Ok(())
}

/// All live files of a state with their block names and publishing version,
/// sorted by path: one query joining each content's scan.
fn listed_tree(conn: &Connection, cid: i64, state: State) -> Result<Vec<ListedFile>> {
    let row = listed_row;
    let mut rows = match state {
        State::Draft => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, {EXTRA} FROM linkable l JOIN version v
                   ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 {SCAN}
                 WHERE l.collection_id = :cid AND v.hash IS NOT NULL ORDER BY v.path"
            ))?
            .query_map(named_params! {":cid": cid}, row)?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?,
        // The latest version is what the published pointers name: no need to
        // range over the whole history.
        State::Version(n) if is_latest(conn, cid, n)? => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, {EXTRA} FROM linkable l JOIN version v
                   ON v.version_id = l.published_version_id
                 {SCAN}
                 WHERE l.collection_id = :cid AND v.hash IS NOT NULL ORDER BY v.path"
            ))?
            .query_map(named_params! {":cid": cid}, row)?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?,
        State::Version(n) => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, {EXTRA} FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                 {SCAN}
                 WHERE v.collection_id = :cid AND v.published_in <= :n
                   AND (v.superseded_in IS NULL OR v.superseded_in > :n) AND v.hash IS NOT NULL
                 ORDER BY v.path"
            ))?
            .query_map(named_params! {":cid": cid, ":n": n}, row)?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?,
    };
    name_bodies(&mut rows);
    Ok(rows)
}

/// An html body has no root element of its own: it takes its pointer's
/// name (`html/x.html` ← `html/x.xml`), the file a person opens it by.
fn name_bodies(rows: &mut [ListedFile]) {
    let pointers: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.block_type.as_deref() == Some("html") && r.display_name.is_some())
        .map(|(i, r)| (r.file.path.as_str(), i))
        .collect();
    let named: Vec<(usize, String)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.block_type.is_none())
        .filter_map(|(i, r)| {
            let stem = r.file.path.strip_suffix(".html")?;
            let pointer = pointers.get(format!("{stem}.xml").as_str())?;
            Some((i, rows[*pointer].display_name.clone()?))
        })
        .collect();
    for (i, name) in named {
        rows[i].display_name = Some(name);
    }
}
