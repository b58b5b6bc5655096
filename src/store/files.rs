//! Files of any collection state: how a path is classified (unit or asset,
//! media type), reading the live files of the draft, `latest` or a numbered
//! version, and the change token that answer caches are filed under.
//!
//! The write path is `write.rs`; link scans of contents are `scan.rs`.

use super::error::{Error, Result};
use super::links::{self, Syntax};
use super::model::*;
use super::path::RelPath;
use super::Store;
use crate::store::db::sql::{named_params, Connection, OptionalExtension};

/// How a path is stored: as a unit (with the syntax its links are read in) or an
/// asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub kind: LinkableKind,
    /// `None` for assets and for units with no references to read (JSON).
    pub syntax: Option<Syntax>,
}

/// DESIGN's rule: everything under a `static/` folder is an asset, and so is any
/// file that is not XML, HTML or JSON text. Junk (`.DS_Store`, `x.xml~`) is
/// therefore an asset, never a unit.
pub fn classify(path: &RelPath) -> Classification {
    classify_path(path.as_str())
}

/// [`classify`] of a path known to be valid (a stored one); allocates
/// nothing, as listings and outlines classify 100,000s of paths.
pub fn classify_path(path: &str) -> Classification {
    let asset = Classification {
        kind: LinkableKind::Asset,
        syntax: None,
    };
    let (folders, name) = path.rsplit_once('/').unwrap_or(("", path));
    if folders.split('/').any(|c| c == "static") {
        return asset;
    }
    let ext = name
        .rsplit_once('.')
        .map(|(stem, ext)| if stem.is_empty() { "" } else { ext })
        .unwrap_or("");
    let unit = |syntax| Classification {
        kind: LinkableKind::Unit,
        syntax,
    };
    let is = |e: &str| ext.eq_ignore_ascii_case(e);
    if is("xml") {
        unit(Some(Syntax::Xml))
    } else if is("html") || is("htm") {
        unit(Some(Syntax::Html))
    } else if is("json") {
        // A course policy names assets; other JSON references nothing.
        match links::course::policy_run(path) {
            Some(_) => unit(Some(Syntax::Json)),
            None => unit(None),
        }
    } else {
        asset
    }
}

/// The media type stored with a version.
pub fn media_type(path: &RelPath) -> String {
    match classify(path).syntax {
        Some(Syntax::Xml) => "application/xml".to_string(),
        Some(Syntax::Html) => "text/html".to_string(),
        Some(Syntax::Json) => "application/json".to_string(),
        None => mime_guess::from_path(path.as_str())
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_string(),
    }
}

impl Store {
    /// The live files of a collection state, sorted by path.
    pub fn files(&self, key: &str, at: At) -> Result<Vec<FileEntry>> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let at = resolve_at(&conn, cid, &collection.slug, at)?;
        tree(&conn, cid, at)
    }

    /// The contents of a collection state's live files, sorted by path
    /// (what an outline reads).
    pub fn contents(&self, key: &str, at: At) -> Result<Vec<Content>> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let at = resolve_at(&conn, cid, &collection.slug, at)?;
        contents(&conn, cid, at)
    }

    /// One live file of a collection state.
    pub fn file(&self, key: &str, path: &str, at: At) -> Result<FileEntry> {
        let path = RelPath::existing(path)?;
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let resolved = resolve_at(&conn, cid, &collection.slug, at)?;
        file_at(&conn, cid, path.as_str(), resolved)?.ok_or_else(|| Error::FileNotFound {
            collection: collection.slug,
            path: path.into_string(),
            at: Some(at.to_string()),
        })
    }

    /// A live file's metadata and bytes (verified against its hash).
    pub fn read(&self, key: &str, path: &str, at: At) -> Result<(FileEntry, Vec<u8>)> {
        let entry = self.file(key, path, at)?;
        let bytes = self.blobs.read(&entry.hash, true)?;
        Ok((entry, bytes))
    }
}

/// The last few answers of one kind (file listings, link reports), each with
/// the index's change token at the time it was read (`db::ChangeWatch`: it
/// moves with every commit): any commit, here or in another process,
/// retires them.
#[derive(Debug)]
pub(crate) struct ChangeCache<K, V> {
    entries: std::sync::Mutex<Vec<(K, ChangeToken, V)>>,
    kept: usize,
}

/// The index's change token when an answer was read (see
/// [`Store::change_token`]).
pub(crate) type ChangeToken = i64;

impl<K: PartialEq, V: Clone> ChangeCache<K, V> {
    pub(crate) fn new(kept: usize) -> Self {
        ChangeCache {
            entries: std::sync::Mutex::new(Vec::new()),
            kept,
        }
    }

    pub(crate) fn get(&self, key: &K, token: ChangeToken) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(_, t, _)| *t == token);
        entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, value)| value.clone())
    }

    pub(crate) fn put(&self, key: K, token: ChangeToken, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(k, t, _)| *t == token && *k != key);
        if entries.len() >= self.kept {
            entries.remove(0);
        }
        entries.push((key, token, value));
    }
}

/// A collection state with `Latest` resolved and a version number checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Draft,
    Version(i64),
}

pub(crate) fn resolve_at(conn: &Connection, cid: i64, slug: &str, at: At) -> Result<State> {
    match at {
        At::Draft => Ok(State::Draft),
        At::Latest => {
            let latest: Option<i64> = conn
                .prepare_cached(
                    "SELECT max(number) FROM collection_version WHERE collection_id = :cid",
                )?
                .query_row(named_params! {":cid": cid}, |r| r.get(0))?;
            Ok(latest.map(State::Version).unwrap_or(State::Draft))
        }
        At::Version(number) => {
            let pruned: Option<Option<String>> = conn
                .prepare_cached(
                    "SELECT pruned_at FROM collection_version WHERE collection_id = :cid AND number = :n",
                )?
                .query_row(named_params! {":cid": cid, ":n": number}, |r| r.get(0))
                .optional()?;
            match pruned {
                None => Err(Error::VersionNotFound {
                    collection: slug.to_string(),
                    number,
                }),
                Some(Some(when)) => Err(Error::Conflict(format!(
                    "{slug}: version {number} was pruned by gc at {when} and can no longer be browsed"
                ))),
                Some(None) => Ok(State::Version(number)),
            }
        }
    }
}

pub(crate) const FILE_COLUMNS: &str = "l.uuid, v.path, l.kind, v.hash, v.size, v.media_type, v.number, v.created_at, v.garbage_collect";

pub(crate) fn file_from_row(
    r: &crate::store::db::sql::Row<'_>,
) -> crate::store::db::sql::Result<FileEntry> {
    Ok(FileEntry {
        uuid: r.get(0)?,
        path: r.get(1)?,
        kind: LinkableKind::from_sql(&r.get::<_, String>(2)?),
        hash: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        media_type: r.get(5)?,
        version: r.get(6)?,
        created_at: r.get(7)?,
        garbage_collect: r.get(8)?,
    })
}

/// All live files of a state, sorted by path.
pub(crate) fn tree(conn: &Connection, cid: i64, state: State) -> Result<Vec<FileEntry>> {
    let live = LiveSql::of(conn, cid, state)?;
    let mut rows = conn
        .prepare_cached(&format!("SELECT {FILE_COLUMNS} {}", live.from))?
        .query_map(live.params().as_slice(), file_from_row)?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    // Sorted here rather than by SQLite's sorter, which would carry every
    // column of 100,000s of rows; paths are unique in a state, and byte
    // order is SQLite's BINARY order.
    rows.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(rows)
}

/// The contents of a state's live files (path, hash, size), sorted by path:
/// what reading a whole state needs, at about half the cost of full
/// [`FileEntry`]s for 100,000 files.
pub(crate) fn contents(conn: &Connection, cid: i64, state: State) -> Result<Vec<Content>> {
    let live = LiveSql::of(conn, cid, state)?;
    let mut rows = conn
        .prepare_cached(&format!("SELECT v.path, v.hash, v.size {}", live.from))?
        .query_map(live.params().as_slice(), |r| {
            Ok(Content {
                path: r.get(0)?,
                hash: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    rows.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(rows)
}

/// The `FROM … WHERE …` naming the live versions of a state (`v`, with its
/// linkable `l`), and its parameters.
pub(crate) struct LiveSql {
    pub(crate) from: &'static str,
    cid: i64,
    number: Option<i64>,
}

impl LiveSql {
    pub(crate) fn of(conn: &Connection, cid: i64, state: State) -> Result<LiveSql> {
        let (from, number) = match state {
            State::Draft => (
                "FROM linkable l JOIN version v
                   ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 WHERE l.collection_id = :cid AND v.hash IS NOT NULL",
                None,
            ),
            // The latest version is what the published pointers name.
            State::Version(n) if is_latest(conn, cid, n)? => (
                "FROM linkable l JOIN version v ON v.version_id = l.published_version_id
                 WHERE l.collection_id = :cid AND v.hash IS NOT NULL",
                None,
            ),
            State::Version(n) => (
                "FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                 WHERE v.collection_id = :cid AND v.published_in <= :n
                   AND (v.superseded_in IS NULL OR v.superseded_in > :n) AND v.hash IS NOT NULL",
                Some(n),
            ),
        };
        Ok(LiveSql { from, cid, number })
    }

    pub(crate) fn params(&self) -> Vec<(&'static str, &dyn crate::store::db::sql::ToSql)> {
        let mut params: Vec<(&'static str, &dyn crate::store::db::sql::ToSql)> =
            vec![(":cid", &self.cid)];
        if let Some(n) = &self.number {
            params.push((":n", n));
        }
        params
    }
}

/// The live file of a linkable (by uuid) in a state, wherever it is.
pub(crate) fn file_by_uuid(
    conn: &Connection,
    cid: i64,
    uuid: &str,
    state: State,
) -> Result<Option<FileEntry>> {
    let row = match state {
        State::Draft => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM linkable l JOIN version v
                   ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 WHERE l.collection_id = :cid AND l.uuid = :uuid AND v.hash IS NOT NULL"
            ))?
            .query_row(named_params! {":cid": cid, ":uuid": uuid}, file_from_row)
            .optional()?,
        State::Version(n) => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM linkable l JOIN version v ON v.linkable_id = l.linkable_id
                 WHERE l.collection_id = :cid AND l.uuid = :uuid AND v.hash IS NOT NULL
                   AND v.published_in <= :n AND (v.superseded_in IS NULL OR v.superseded_in > :n)"
            ))?
            .query_row(named_params! {":cid": cid, ":uuid": uuid, ":n": n}, file_from_row)
            .optional()?,
    };
    Ok(row)
}

pub(crate) fn is_latest(conn: &Connection, cid: i64, n: i64) -> Result<bool> {
    let latest: Option<i64> = conn
        .prepare_cached("SELECT max(number) FROM collection_version WHERE collection_id = :cid")?
        .query_row(named_params! {":cid": cid}, |r| r.get(0))?;
    Ok(latest == Some(n))
}

/// One live file of a state.
pub(crate) fn file_at(
    conn: &Connection,
    cid: i64,
    path: &str,
    state: State,
) -> Result<Option<FileEntry>> {
    let row = match state {
        State::Draft => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                 WHERE v.collection_id = :cid AND v.path = :path AND v.hash IS NOT NULL
                   AND v.version_id = coalesce(l.draft_version_id, l.published_version_id)"
            ))?
            .query_row(named_params! {":cid": cid, ":path": path}, file_from_row)
            .optional()?,
        State::Version(n) => conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                 WHERE v.collection_id = :cid AND v.path = :path AND v.hash IS NOT NULL
                   AND v.published_in <= :n AND (v.superseded_in IS NULL OR v.superseded_in > :n)"
            ))?
            .query_row(named_params! {":cid": cid, ":path": path, ":n": n}, file_from_row)
            .optional()?,
    };
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str) -> LinkableKind {
        classify(&RelPath::new(path).unwrap()).kind
    }

    #[test]
    fn static_files_and_non_text_files_are_assets_and_olx_files_are_units() {
        assert_eq!(kind("course.xml"), LinkableKind::Unit);
        assert_eq!(kind("html/intro.html"), LinkableKind::Unit);
        assert_eq!(kind("policies/course/policy.json"), LinkableKind::Unit);
        assert_eq!(
            kind("static/handout.xml"),
            LinkableKind::Asset,
            "under static/"
        );
        assert_eq!(kind("static/images/logo.png"), LinkableKind::Asset);
        assert_eq!(kind("problem/p1/static/x.html"), LinkableKind::Asset);
        assert_eq!(kind("video/a.srt"), LinkableKind::Asset);
        assert_eq!(
            kind(".DS_Store"),
            LinkableKind::Asset,
            "junk is never a unit"
        );
        assert_eq!(
            kind("problem/a.xml~"),
            LinkableKind::Asset,
            "junk is never a unit"
        );
        assert_eq!(
            kind("html/.xml"),
            LinkableKind::Asset,
            "a dotfile has no extension"
        );
    }
}
