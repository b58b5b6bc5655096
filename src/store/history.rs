//! Reading history: the publish log, what one collection version changed, one
//! path's versions and draft revisions, and diffs between any two states.

use super::error::{Error, Result};
use super::files::{file_at, file_by_uuid, resolve_at, tree, State};
use super::links::ParseProblem;
use super::model::*;
use super::path::RelPath;
use super::Store;
use crate::store::db::sql::{named_params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;

impl Store {
    /// The publish log of a collection, newest first.
    pub fn versions(&self, key: &str) -> Result<Vec<CollectionVersion>> {
        let conn = self.reader()?;
        let (cid, _) = Store::find_collection(&conn, key)?;
        collection_versions(&conn, cid, None)
    }

    /// One collection version with the changes it recorded.
    pub fn version(&self, key: &str, number: i64) -> Result<CollectionVersionDetail> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let version =
            collection_versions(&conn, cid, Some(number))?
                .pop()
                .ok_or(Error::VersionNotFound {
                    collection: collection.slug,
                    number,
                })?;
        let mut stmt = conn.prepare(
            "SELECT l.uuid, l.kind, c.from_path, c.to_path, c.from_hash, c.to_hash, c.from_number
             FROM collection_version_change c
             JOIN collection_version cv ON cv.collection_version_id = c.collection_version_id
             JOIN linkable l ON l.linkable_id = c.linkable_id
             WHERE cv.collection_id = :cid AND cv.number = :n ORDER BY c.to_path",
        )?;
        let entries = stmt
            .query_map(named_params! {":cid": cid, ":n": number}, |r| {
                let from_path: Option<String> = r.get(2)?;
                let to_path: String = r.get(3)?;
                let old_hash: Option<String> = r.get(4)?;
                let new_hash: Option<String> = r.get(5)?;
                let from_number: Option<i64> = r.get(6)?;
                let was_live = from_number.is_some() && old_hash.is_some();
                let status = match (was_live, &new_hash) {
                    (false, _) => ChangeStatus::Added,
                    (true, None) => ChangeStatus::Deleted,
                    (true, Some(_)) if from_path.as_deref() != Some(to_path.as_str()) => {
                        ChangeStatus::Renamed
                    }
                    _ => ChangeStatus::Modified,
                };
                Ok(Change {
                    status,
                    uuid: r.get(0)?,
                    kind: LinkableKind::from_sql(&r.get::<_, String>(1)?),
                    old_path: from_path.filter(|p| *p != to_path),
                    path: to_path,
                    content_changed: old_hash.is_some()
                        && new_hash.is_some()
                        && old_hash != new_hash,
                    old_hash,
                    new_hash,
                    display_name: None,
                    lines: None,
                })
            })?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        let mut entries = entries;
        name_changes(&conn, cid, State::Version(number), &mut entries)?;
        let dependencies = super::dependencies::of_version(&conn, cid, number)?;
        Ok(CollectionVersionDetail {
            version,
            entries,
            dependencies,
        })
    }

    /// Sets a collection version's message (Blockstore v1's
    /// `change_description`, the one thing of a version that may change).
    pub fn set_version_message(&self, key: &str, number: i64, message: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (cid, collection) = Store::find_collection(&tx, key)?;
        let changed = tx.execute(
            "UPDATE collection_version SET message = :message WHERE collection_id = :cid AND number = :n",
            named_params! {":message": message, ":cid": cid, ":n": number},
        )?;
        tx.commit()?;
        if changed == 0 {
            return Err(Error::VersionNotFound {
                collection: collection.slug,
                number,
            });
        }
        Ok(())
    }

    /// Whether a collection holds a content in any version, draft or named
    /// draft: what may be served by its hash under the collection's name.
    pub fn collection_has_content(&self, key: &str, hash: &str) -> Result<bool> {
        let conn = self.reader()?;
        let (cid, _) = Store::find_collection(&conn, key)?;
        let found: Option<i64> = conn
            .prepare_cached(
                "SELECT 1 FROM version WHERE hash = :hash AND collection_id = :cid
                 UNION ALL
                 SELECT 1 FROM named_draft_change c JOIN named_draft d ON d.named_draft_id = c.named_draft_id
                 WHERE c.hash = :hash AND d.collection_id = :cid
                 LIMIT 1",
            )?
            .query_row(named_params! {":hash": hash, ":cid": cid}, |r| r.get(0))
            .optional()?;
        Ok(found.is_some())
    }

    /// The versions and draft revisions of the linkable at `path` (in the draft,
    /// or, if it is deleted there, the last linkable that had that path).
    pub fn history(&self, key: &str, path: &str) -> Result<History> {
        let path = RelPath::existing(path)?;
        let conn = self.reader()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let found: Option<(i64, String, String)> = conn
            .query_row(
                "SELECT l.linkable_id, l.uuid, l.kind FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                 WHERE v.collection_id = :cid AND v.path = :path
                 ORDER BY v.version_id = coalesce(l.draft_version_id, l.published_version_id) DESC,
                          v.version_id DESC LIMIT 1",
                named_params! {":cid": cid, ":path": path.as_str()},
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (linkable_id, uuid, kind) = found.ok_or_else(|| Error::FileNotFound {
            collection: collection.slug,
            path: path.to_string(),
            at: None,
        })?;
        linkable_history(&conn, linkable_id, uuid, &kind)
    }

    /// A unit or asset by uuid, in whichever collection it lives: its file in
    /// the draft and in the latest version (either may be absent: deleted in the
    /// draft, or never published).
    pub fn linkable(&self, uuid: &str) -> Result<Linkable> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (_, cid, kind, slug) = find_linkable(&conn, uuid)?;
        let draft = file_by_uuid(&conn, cid, uuid, State::Draft)?;
        let latest: Option<i64> = conn.query_row(
            "SELECT max(number) FROM collection_version WHERE collection_id = :cid",
            named_params! {":cid": cid},
            |r| r.get(0),
        )?;
        let latest = match latest {
            Some(n) => file_by_uuid(&conn, cid, uuid, State::Version(n))?,
            None => None,
        };
        Ok(Linkable {
            uuid: uuid.to_string(),
            kind: LinkableKind::from_sql(&kind),
            collection: slug,
            draft,
            latest,
        })
    }

    /// One version (numbered, or a draft) by its uuid.
    pub fn version_by_uuid(&self, uuid: &str) -> Result<VersionDetail> {
        let conn = self.reader()?;
        let found = conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS}, l.uuid, l.kind, c.slug
             FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
             JOIN collection c ON c.collection_id = v.collection_id
             WHERE v.uuid = :uuid"
            ))?
            .query_row(named_params! {":uuid": uuid}, |r| {
                Ok(VersionDetail {
                    version: version_info(r)?,
                    linkable: r.get(9)?,
                    kind: LinkableKind::from_sql(&r.get::<_, String>(10)?),
                    collection: r.get(11)?,
                })
            })
            .optional()?;
        found.ok_or_else(|| Error::NotFound(format!("version {uuid:?}")))
    }

    /// The versions and draft revisions of a unit or asset by uuid.
    pub fn linkable_history(&self, uuid: &str) -> Result<History> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (linkable_id, _, kind, _) = find_linkable(&conn, uuid)?;
        linkable_history(&conn, linkable_id, uuid.to_string(), &kind)
    }
}

/// The columns [`version_info`] reads, from `version v`.
const VERSION_COLUMNS: &str =
    "v.uuid, v.number, v.path, v.hash, v.size, v.created_at, v.published_in, v.garbage_collect,
     (SELECT problems FROM content_scan s WHERE s.hash = v.hash AND s.syntax = 'xml')";

fn version_info(r: &crate::store::db::sql::Row<'_>) -> crate::store::db::sql::Result<VersionInfo> {
    let problems: Option<String> = r.get(8)?;
    Ok(VersionInfo {
        uuid: r.get(0)?,
        number: r.get(1)?,
        path: r.get(2)?,
        hash: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        created_at: r.get(5)?,
        published_in: r.get(6)?,
        garbage_collect: r.get(7)?,
        problems: problems
            .and_then(|p| serde_json::from_str::<Vec<ParseProblem>>(&p).ok())
            .unwrap_or_default(),
    })
}

/// (linkable_id, collection_id, kind, collection slug) of a linkable uuid.
fn find_linkable(conn: &Connection, uuid: &str) -> Result<(i64, i64, String, String)> {
    conn.query_row(
        "SELECT l.linkable_id, l.collection_id, l.kind, c.slug
         FROM linkable l JOIN collection c ON c.collection_id = l.collection_id WHERE l.uuid = :uuid",
        named_params! {":uuid": uuid},
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("unit or asset {uuid:?}")))
}

fn linkable_history(
    conn: &Connection,
    linkable_id: i64,
    uuid: String,
    kind: &str,
) -> Result<History> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM version v WHERE v.linkable_id = :id
         ORDER BY v.number IS NULL DESC, v.number DESC"
    ))?;
    let versions = stmt
        .query_map(named_params! {":id": linkable_id}, version_info)?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare(
        "SELECT draft_revision_id, path, hash, size, source, created_at FROM draft_revision
         WHERE linkable_id = :id ORDER BY draft_revision_id DESC",
    )?;
    let revisions = stmt
        .query_map(
            named_params! {":id": linkable_id},
            super::revisions::revision_from_row,
        )?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    Ok(History {
        uuid,
        kind: LinkableKind::from_sql(kind),
        versions,
        revisions,
    })
}

impl Store {
    /// What changed from one collection state to another.
    pub fn diff(&self, key: &str, from: At, to: At) -> Result<Diff> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let old = tree(&conn, cid, resolve_at(&conn, cid, &collection.slug, from)?)?;
        let to_state = resolve_at(&conn, cid, &collection.slug, to)?;
        let new = tree(&conn, cid, to_state)?;
        let mut entries = diff_trees(old, new);
        name_changes(&conn, cid, to_state, &mut entries)?;
        Ok(Diff { from, to, entries })
    }

    /// A unified text diff of one path between two states. A path that does not
    /// exist in one of them diffs against nothing.
    pub fn text_diff(&self, key: &str, path: &str, from: At, to: At) -> Result<String> {
        let path = RelPath::existing(path)?;
        let (old, new) = {
            let conn = self.reader()?;
            let _snapshot = conn.unchecked_transaction()?;
            let (cid, collection) = Store::find_collection(&conn, key)?;
            let from_state = resolve_at(&conn, cid, &collection.slug, from)?;
            let to_state = resolve_at(&conn, cid, &collection.slug, to)?;
            // The file at `path` in either state, and the same linkable (by
            // uuid) in the other one, so a rename diffs as a rename.
            let old = file_at(&conn, cid, path.as_str(), from_state)?;
            let new = file_at(&conn, cid, path.as_str(), to_state)?;
            match (old, new) {
                (None, None) => {
                    return Err(Error::FileNotFound {
                        collection: collection.slug,
                        path: path.to_string(),
                        at: Some(format!("{from} or {to}")),
                    })
                }
                (Some(old), None) => {
                    let new = file_by_uuid(&conn, cid, &old.uuid, to_state)?;
                    (Some(old), new)
                }
                (None, Some(new)) => {
                    let old = file_by_uuid(&conn, cid, &new.uuid, from_state)?;
                    (old, Some(new))
                }
                (Some(old), Some(new)) => (Some(old), Some(new)),
            }
        };
        let read = |file: &Option<FileEntry>| -> Result<String> {
            match file {
                Some(file) => {
                    Ok(String::from_utf8_lossy(&self.blobs.read(&file.hash, true)?).into_owned())
                }
                None => Ok(String::new()),
            }
        };
        let (old_text, new_text) = (read(&old)?, read(&new)?);
        let name = |file: &Option<FileEntry>| {
            file.as_ref()
                .map(|f| f.path.clone())
                .unwrap_or_else(|| path.to_string())
        };
        let diff = similar::TextDiff::from_lines(&old_text, &new_text);
        Ok(diff
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("a/{} ({from})", name(&old)),
                &format!("b/{} ({to})", name(&new)),
            )
            .to_string())
    }
}

/// The most changes [`Store::line_stats`] counts lines of: beyond it a
/// change set is too large to read whole for a summary.
pub const LINE_STATS_LIMIT: usize = 5_000;

impl Store {
    /// Counts the lines each text change adds and removes (units, and assets
    /// whose media type is text), reading both contents; binary files and
    /// change sets larger than [`LINE_STATS_LIMIT`] are left without.
    pub fn line_stats(&self, entries: &mut [Change]) -> Result<()> {
        if entries.len() > LINE_STATS_LIMIT {
            return Ok(());
        }
        for entry in entries.iter_mut() {
            let Ok(path) = RelPath::existing(&entry.path) else {
                continue;
            };
            let text = entry.kind == LinkableKind::Unit || {
                let media = super::files::media_type(&path);
                media.starts_with("text/") || media.ends_with("+xml") || media.ends_with("json")
            };
            if !text {
                continue;
            }
            // A content gc has pruned is no error here: that change gets no count.
            let read = |hash: &Option<String>| -> Option<String> {
                Some(match hash {
                    Some(hash) => {
                        String::from_utf8_lossy(&self.blobs.read(hash, false).ok()?).into_owned()
                    }
                    None => String::new(),
                })
            };
            let (Some(old), Some(new)) = (read(&entry.old_hash), read(&entry.new_hash)) else {
                continue;
            };
            let mut stats = LineStats::default();
            for change in similar::TextDiff::from_lines(&old, &new).iter_all_changes() {
                match change.tag() {
                    similar::ChangeTag::Insert => stats.added += 1,
                    similar::ChangeTag::Delete => stats.removed += 1,
                    similar::ChangeTag::Equal => {}
                }
            }
            entry.lines = Some(stats);
        }
        Ok(())
    }
}

/// Names each change by its block's `display_name` (one indexed lookup per
/// change): the content's own root element, or for an html body
/// (`html/x.html`) its pointer's (`html/x.xml`) in `state`.
pub(crate) fn name_changes(
    conn: &Connection,
    cid: i64,
    state: State,
    entries: &mut [Change],
) -> Result<()> {
    let mut name_of = conn.prepare_cached(
        "SELECT display_name, block_type FROM content_scan WHERE hash = :hash AND syntax = 'xml'",
    )?;
    let mut named = |hash: &str| -> Result<Option<(Option<String>, String)>> {
        Ok(name_of
            .query_row(named_params! {":hash": hash}, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .and_then(|(name, block_type): (Option<String>, Option<String>)| {
                block_type.map(|t| (name, t))
            }))
    };
    let mut bodies = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let hash = entry.new_hash.as_deref().or(entry.old_hash.as_deref());
        match hash.map(&mut named).transpose()?.flatten() {
            Some((name, _)) => entry.display_name = name,
            None if entry.path.ends_with(".html") => bodies.push(i),
            None => {}
        }
    }
    for i in bodies {
        let pointer = format!("{}.xml", entries[i].path.trim_end_matches(".html"));
        let hash = match entries.iter().find(|e| e.path == pointer) {
            Some(e) => e.new_hash.clone().or_else(|| e.old_hash.clone()),
            None => file_at(conn, cid, &pointer, state)?.map(|f| f.hash),
        };
        if let Some((name, block_type)) = hash.as_deref().map(&mut named).transpose()?.flatten() {
            if block_type == "html" {
                entries[i].display_name = name;
            }
        }
    }
    Ok(())
}

/// Compares two trees by linkable uuid, so renames are seen as renames.
pub(crate) fn diff_trees(old: Vec<FileEntry>, new: Vec<FileEntry>) -> Vec<Change> {
    let mut old_by_uuid: HashMap<String, FileEntry> =
        old.into_iter().map(|f| (f.uuid.clone(), f)).collect();
    let mut entries = Vec::new();
    for file in new {
        match old_by_uuid.remove(&file.uuid) {
            None => entries.push(Change {
                status: ChangeStatus::Added,
                uuid: file.uuid,
                kind: file.kind,
                path: file.path,
                old_path: None,
                old_hash: None,
                new_hash: Some(file.hash),
                content_changed: false,
                display_name: None,
                lines: None,
            }),
            Some(before) if before.path != file.path => entries.push(Change {
                status: ChangeStatus::Renamed,
                uuid: file.uuid,
                kind: file.kind,
                path: file.path,
                old_path: Some(before.path),
                content_changed: before.hash != file.hash,
                display_name: None,
                lines: None,
                old_hash: Some(before.hash),
                new_hash: Some(file.hash),
            }),
            Some(before) if before.hash != file.hash => entries.push(Change {
                status: ChangeStatus::Modified,
                uuid: file.uuid,
                kind: file.kind,
                path: file.path,
                old_path: None,
                old_hash: Some(before.hash),
                new_hash: Some(file.hash),
                content_changed: true,
                display_name: None,
                lines: None,
            }),
            Some(_) => {}
        }
    }
    for (_, before) in old_by_uuid {
        entries.push(Change {
            status: ChangeStatus::Deleted,
            uuid: before.uuid,
            kind: before.kind,
            path: before.path,
            old_path: None,
            old_hash: Some(before.hash),
            new_hash: None,
            content_changed: false,
            display_name: None,
            lines: None,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path).then(a.status.cmp(&b.status)));
    entries
}

fn collection_versions(
    conn: &Connection,
    cid: i64,
    number: Option<i64>,
) -> Result<Vec<CollectionVersion>> {
    let mut stmt = conn.prepare(
        "SELECT cv.number, cv.message, cv.created_at, cv.pruned_at, cv.metadata,
                (SELECT count(*) FROM collection_version_change c WHERE c.collection_version_id = cv.collection_version_id),
                cv.committed_from
         FROM collection_version cv
         WHERE cv.collection_id = :cid AND (CAST(:n AS BIGINT) IS NULL OR cv.number = :n) ORDER BY cv.number DESC",
    )?;
    let rows = stmt
        .query_map(named_params! {":cid": cid, ":n": number}, |r| {
            let metadata: String = r.get(4)?;
            Ok(CollectionVersion {
                number: r.get(0)?,
                message: r.get(1)?,
                created_at: r.get(2)?,
                pruned_at: r.get(3)?,
                metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
                changes: r.get::<_, i64>(5)? as u64,
                committed_from: r
                    .get::<_, Option<String>>(6)?
                    .and_then(|from| serde_json::from_str(&from).ok()),
            })
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Lets `files::State` be used where an `At` is expected in messages.
impl From<State> for At {
    fn from(state: State) -> At {
        match state {
            State::Draft => At::Draft,
            State::Version(n) => At::Version(n),
        }
    }
}
