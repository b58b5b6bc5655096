//! File listings: a collection state's files a folder, a page or a search at
//! a time, as the Files table, `blockstore files` and `GET …/files` show them.
//!
//! Each row carries what a person reads a course by: the block's
//! `display_name` and type (from the content's scan, so a listing is one
//! set-based query, never a read of every file) and the collection version
//! that last changed it. Listings of large collections are kept while the
//! index does not change, so paging, sorting and filtering one reuse a read.

use super::error::Result;
use super::files::{is_latest, resolve_at, ChangeCache, State, FILE_COLUMNS};
use super::model::*;
use super::Store;
use rusqlite::{named_params, Connection};
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
    /// this process, or by another one: SQLite's `data_version`). Paging
    /// through a large collection then costs one read, not one per page.
    pub fn files_page(
        &self,
        key: &str,
        at: At,
        query: &FileQuery,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ListedFile>)> {
        let listing = self.listing(key, at, query)?;
        let page = listing.iter().skip(offset).take(limit).cloned().collect();
        Ok((listing.len(), page))
    }

    /// The folders directly inside `prefix` (a folder path ending in `/`, or
    /// empty for the top) with how many files each holds at any depth, and
    /// how many of those are draft changes: a file tree opened one level at a
    /// time, so a browser never loads a whole large collection.
    pub fn folders(&self, key: &str, at: At, prefix: &str) -> Result<Vec<Folder>> {
        let query = FileQuery {
            prefix: prefix.to_string(),
            ..FileQuery::default()
        };
        let listing = self.listing(key, at, &query)?;
        let mut folders: Vec<Folder> = Vec::new();
        for row in listing.iter() {
            let rest = &row.file.path[prefix.len()..];
            let Some(slash) = rest.find('/') else {
                continue;
            };
            let name = &rest[..slash];
            let draft = usize::from(row.file.version.is_none());
            // The listing is sorted by path, so one folder's files are adjacent.
            match folders.last_mut() {
                Some(last) if last.name == name => {
                    last.files += 1;
                    last.draft_changes += draft;
                }
                _ => folders.push(Folder {
                    name: name.to_string(),
                    path: format!("{prefix}{name}/"),
                    files: 1,
                    draft_changes: draft,
                }),
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

/// All live files of a state with their block names and publishing version,
/// sorted by path: one query joining each content's scan.
fn listed_tree(conn: &Connection, cid: i64, state: State) -> Result<Vec<ListedFile>> {
    const EXTRA: &str = "s.display_name, s.block_type, v.published_in";
    const SCAN: &str = "LEFT JOIN content_scan s ON s.hash = v.hash AND s.syntax = 'xml'";
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<ListedFile> {
        Ok(ListedFile {
            file: super::files::file_from_row(r)?,
            display_name: r.get(9)?,
            block_type: r.get(10)?,
            changed_in: r.get(11)?,
        })
    };
    let mut rows = match state {
        State::Draft => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, {EXTRA} FROM linkable l JOIN version v
                   ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 {SCAN}
                 WHERE l.collection_id = :cid AND v.hash IS NOT NULL ORDER BY v.path"
            ))?
            .query_map(named_params! {":cid": cid}, row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
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
            .collect::<rusqlite::Result<Vec<_>>>()?,
        State::Version(n) => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, {EXTRA} FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                 {SCAN}
                 WHERE v.collection_id = :cid AND v.published_in <= :n
                   AND (v.superseded_in IS NULL OR v.superseded_in > :n) AND v.hash IS NOT NULL
                 ORDER BY v.path"
            ))?
            .query_map(named_params! {":cid": cid, ":n": n}, row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
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
