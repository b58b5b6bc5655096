//! Publish and revert: the two ways a collection's drafts end.
//!
//! Publish turns every draft of a collection into numbered versions and records
//! one collection version, all in one transaction: a crash leaves either the
//! whole publish or none of it. Revert discards drafts (all, or one path's).

use super::error::{Error, Result};
use super::events::Event;
use super::files::classify;
use super::links::Syntax;
use super::model::*;
use super::path::RelPath;
use super::{now, Store};
use crate::store::db::sql::{named_params, Connection};

/// Options of a publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub message: String,
    /// Refuse when a unit to be published does not parse.
    pub strict: bool,
}

struct Draft {
    linkable_id: i64,
    uuid: String,
    kind: LinkableKind,
    draft_version_id: i64,
    published_version_id: Option<i64>,
    path: String,
    hash: Option<String>,
    old_path: Option<String>,
    old_hash: Option<String>,
}

impl Draft {
    /// Whether a publish turns it into a version: not when it was created
    /// and deleted within one draft (there is nothing to publish).
    fn is_published(&self) -> bool {
        self.hash.is_some() || self.published_version_id.is_some()
    }
}

impl Store {
    /// Publishes every draft of a collection as one new collection version.
    pub fn publish(&self, key: &str, options: &PublishOptions) -> Result<PublishReport> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (cid, collection) = Store::find_collection(&tx, key)?;
        let drafts = drafts(&tx, cid)?;
        let metadata = version_metadata(&collection);
        let (latest, latest_metadata): (i64, Option<String>) = tx.query_row(
            "SELECT coalesce(max(number), 0),
                    (SELECT metadata FROM collection_version WHERE collection_id = :cid ORDER BY number DESC LIMIT 1)
             FROM collection_version WHERE collection_id = :cid",
            named_params! {":cid": cid},
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let metadata_changed = latest_metadata
            .map(|m| serde_json::from_str::<serde_json::Value>(&m).ok() != Some(metadata.clone()))
            .unwrap_or(true);
        // A publish with no file change is allowed only to record new metadata.
        if drafts.is_empty() && (latest == 0 || !metadata_changed) {
            return Err(Error::NothingToPublish {
                collection: collection.slug,
                latest,
            });
        }
        let malformed = malformed_drafts(&tx, cid)?;
        if options.strict && !malformed.is_empty() {
            return Err(Error::MalformedUnits {
                collection: collection.slug,
                paths: malformed.into_iter().map(|m| m.path).collect(),
            });
        }
        let number = latest + 1;
        let at = now();
        let cv_id: i64 = tx.query_row(
            "INSERT INTO collection_version (collection_id, number, message, created_at, metadata)
             VALUES (:cid, :number, :message, :at, :metadata)
             RETURNING collection_version_id",
            named_params! {
                ":cid": cid, ":number": number, ":message": options.message,
                ":at": at, ":metadata": metadata.to_string(),
            },
            |r| r.get(0),
        )?;
        if latest > 0 {
            super::dependencies::carry_forward(&tx, cid, latest, cv_id)?;
        }
        publish_drafts(&tx, cid, cv_id, number, &at, &options.message)?;
        let mut changes: Vec<Change> = drafts
            .iter()
            .filter(|d| d.is_published())
            .map(change_of)
            .collect();
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        self.events.emit(Event::CollectionPublished {
            collection: collection.slug.clone(),
            version: number,
            paths: changes.iter().map(|c| c.path.clone()).collect(),
        });
        Ok(PublishReport {
            collection: collection.slug,
            number,
            message: options.message.clone(),
            created_at: at,
            changes,
            malformed,
        })
    }

    /// Discards the drafts of a whole collection, or of one path.
    pub fn revert(&self, key: &str, path: Option<&str>) -> Result<RevertReport> {
        let path = path.map(RelPath::existing).transpose()?;
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (cid, collection) = Store::find_collection(&tx, key)?;
        let mut discarded = Vec::new();
        let mut restored: Vec<String> = Vec::new();
        for draft in drafts(&tx, cid)? {
            if let Some(path) = &path {
                if draft.path != path.as_str() && draft.old_path.as_deref() != Some(path.as_str()) {
                    continue;
                }
            }
            tx.execute(
                "UPDATE linkable SET draft_version_id = NULL WHERE linkable_id = :id",
                named_params! {":id": draft.linkable_id},
            )?;
            tx.execute(
                "DELETE FROM version WHERE version_id = :id",
                named_params! {":id": draft.draft_version_id},
            )?;
            if draft.published_version_id.is_none() {
                tx.execute(
                    "DELETE FROM linkable WHERE linkable_id = :id",
                    named_params! {":id": draft.linkable_id},
                )?;
            }
            if let (Some(old_path), Some(_)) = (&draft.old_path, &draft.old_hash) {
                restored.push(old_path.clone());
            }
            discarded.push(draft.path.clone());
        }
        // Reverting one path can bring a renamed or deleted file back to a path
        // another draft file took meanwhile; two files may never share a path.
        if path.is_some() {
            for restored_path in &restored {
                let live: i64 = tx.query_row(
                    "SELECT count(*) FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
                     WHERE v.collection_id = :cid AND v.path = :path AND v.hash IS NOT NULL
                       AND v.version_id = coalesce(l.draft_version_id, l.published_version_id)",
                    named_params! {":cid": cid, ":path": restored_path},
                    |r| r.get(0),
                )?;
                if live > 1 {
                    return Err(Error::Conflict(format!(
                        "{}: reverting {} would bring back {restored_path}, which another draft file now uses; \
                         revert, rename or delete that file first, or revert the whole collection",
                        collection.slug,
                        path.as_ref().map(|p| p.as_str()).unwrap_or_default(),
                    )));
                }
            }
        }
        if let (Some(path), true) = (&path, discarded.is_empty()) {
            return Err(Error::FileNotFound {
                collection: collection.slug,
                path: path.to_string(),
                at: Some("the draft changes".into()),
            });
        }
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        discarded.sort();
        self.events.emit(Event::CollectionReverted {
            collection: collection.slug.clone(),
            paths: discarded.clone(),
        });
        Ok(RevertReport {
            collection: collection.slug,
            discarded,
        })
    }

    /// The pending draft changes of a collection (what publish would record).
    pub fn status(&self, key: &str) -> Result<Vec<Change>> {
        let conn = self.reader()?;
        let (cid, _) = Store::find_collection(&conn, key)?;
        let mut changes: Vec<Change> = drafts(&conn, cid)?
            .iter()
            .filter(|d| d.hash.is_some() || d.published_version_id.is_some())
            .map(change_of)
            .collect();
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        super::history::name_changes(&conn, cid, super::files::State::Draft, &mut changes)?;
        Ok(changes)
    }
}

/// The collection metadata a collection version records (what a later
/// publish compares to decide whether metadata alone changed).
pub(crate) fn version_metadata(collection: &Collection) -> serde_json::Value {
    serde_json::json!({
        "title": collection.title,
        "description": collection.description,
        "owner": collection.owner,
        "author": collection.author,
        "license": collection.license,
    })
}

fn change_of(draft: &Draft) -> Change {
    let status = match (&draft.old_hash, &draft.hash) {
        (None, _) => ChangeStatus::Added,
        (Some(_), None) => ChangeStatus::Deleted,
        (Some(_), Some(_)) if draft.old_path.as_deref() != Some(draft.path.as_str()) => {
            ChangeStatus::Renamed
        }
        _ => ChangeStatus::Modified,
    };
    Change {
        status,
        uuid: draft.uuid.clone(),
        kind: draft.kind,
        path: draft.path.clone(),
        old_path: draft.old_path.clone().filter(|p| *p != draft.path),
        old_hash: draft.old_hash.clone(),
        new_hash: draft.hash.clone(),
        content_changed: draft.old_hash.is_some()
            && draft.hash.is_some()
            && draft.old_hash != draft.hash,
        display_name: None,
        lines: None,
    }
}

/// The drafts of collection `cid` that a publish turns into versions: every
/// linkable with a draft, but one created and deleted within one draft.
/// The statements below say it in SQL as [`Draft::is_published`] does.
const PUBLISHED_DRAFTS: &str = "FROM linkable l JOIN version d ON d.version_id = l.draft_version_id
     WHERE l.collection_id = :cid AND (d.hash IS NOT NULL OR l.published_version_id IS NOT NULL)";

/// Turns every draft of collection `cid` into a version of collection
/// version `number` (row `cv_id`): a few statements over all the drafts,
/// not a few per draft (on PostgreSQL each is a round trip). Their order
/// matters: the later ones change what the earlier ones read.
fn publish_drafts(
    tx: &Connection,
    cid: i64,
    cv_id: i64,
    number: i64,
    at: &str,
    message: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO collection_version_change
            (collection_version_id, linkable_id, from_number, to_number, from_path, to_path,
             from_hash, to_hash)
         SELECT :cv, l.linkable_id, p.number, l.last_number + 1, p.path, d.path, p.hash, d.hash
         FROM linkable l JOIN version d ON d.version_id = l.draft_version_id
         LEFT JOIN version p ON p.version_id = l.published_version_id
         WHERE l.collection_id = :cid AND (d.hash IS NOT NULL OR l.published_version_id IS NOT NULL)",
    )?
    .execute(named_params! {":cv": cv_id, ":cid": cid})?;
    tx.prepare_cached(&format!(
        "UPDATE version SET superseded_in = :number
         WHERE version_id IN (SELECT l.published_version_id {PUBLISHED_DRAFTS})"
    ))?
    .execute(named_params! {":number": number, ":cid": cid})?;
    tx.prepare_cached(
        "UPDATE version SET number = l.last_number + 1, published_in = :number, created_at = :at,
            message = :message
         FROM linkable l
         WHERE l.draft_version_id = version.version_id AND l.collection_id = :cid
           AND (version.hash IS NOT NULL OR l.published_version_id IS NOT NULL)",
    )?
    .execute(named_params! {":number": number, ":at": at, ":message": message, ":cid": cid})?;
    tx.prepare_cached(&format!(
        "UPDATE linkable SET published_version_id = draft_version_id, draft_version_id = NULL,
            last_number = last_number + 1
         WHERE linkable_id IN (SELECT l.linkable_id {PUBLISHED_DRAFTS})"
    ))?
    .execute(named_params! {":cid": cid})?;
    Ok(())
}

fn drafts(conn: &Connection, cid: i64) -> Result<Vec<Draft>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.linkable_id, l.uuid, l.kind, l.draft_version_id, l.published_version_id,
                d.path, d.hash, p.path, p.hash
         FROM linkable l JOIN version d ON d.version_id = l.draft_version_id
         LEFT JOIN version p ON p.version_id = l.published_version_id
         WHERE l.collection_id = :cid ORDER BY d.path",
    )?;
    let rows = stmt.query_map(named_params! {":cid": cid}, |r| {
        Ok(Draft {
            linkable_id: r.get(0)?,
            uuid: r.get(1)?,
            kind: LinkableKind::from_sql(&r.get::<_, String>(2)?),
            draft_version_id: r.get(3)?,
            published_version_id: r.get(4)?,
            path: r.get(5)?,
            hash: r.get(6)?,
            old_path: r.get(7)?,
            old_hash: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::sql::Result<Vec<_>>>()?)
}

fn malformed_drafts(conn: &Connection, cid: i64) -> Result<Vec<Malformed>> {
    // One query for the whole draft: the scan of each draft's content as
    // XML, where it found problems; kept for the paths read as XML.
    let rows = conn
        .prepare_cached(
            "SELECT d.path, s.problems
             FROM linkable l JOIN version d ON d.version_id = l.draft_version_id
             JOIN content_scan s ON s.hash = d.hash AND s.syntax = 'xml' AND s.problems != '[]'
             WHERE l.collection_id = :cid ORDER BY d.path",
        )?
        .query_map(named_params! {":cid": cid}, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    let mut malformed = Vec::new();
    for (path, problems) in rows {
        let read_as_xml =
            RelPath::existing(&path).is_ok_and(|p| classify(&p).syntax == Some(Syntax::Xml));
        if read_as_xml {
            malformed.push(Malformed {
                path,
                syntax: Syntax::Xml,
                problems: serde_json::from_str(&problems)?,
            });
        }
    }
    Ok(malformed)
}
