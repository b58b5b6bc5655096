//! Named drafts: sets of staged changes over a base collection version, kept
//! beside a collection's one working draft and committed into collection
//! versions of their own (DESIGN.md "Named drafts").
//!
//! Why a model of its own. The working draft is per file (each linkable's draft
//! version, what the CLI, the UI, folder sync and the native API write); a
//! named draft is per collection: path → new content or deletion, over the
//! version it was based on, as Blockstore's drafts were. Blockstore v1 clients
//! write through them, and nothing a named draft does changes how the working
//! draft behaves: its pending edits stay pending over whatever a commit
//! publishes.
//!
//! A commit makes the collection version "base + changes" whatever happened
//! since the base, as Blockstore did: a draft based on an older version
//! overwrites newer ones (the version records that, in `committed_from`).
//! Staged contents are blobs like any other: gc keeps them, fsck checks them,
//! a dump carries them.

use super::dependencies::Dependency;
use super::error::{Error, Result};
use super::events::Event;
use super::files::{classify, contents, media_type, State};
use super::model::*;
use super::path::RelPath;
use super::{now, Store};
use crate::store::db::sql::{named_params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;

/// A named draft of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NamedDraft {
    pub uuid: String,
    /// The collection's slug.
    pub collection: String,
    pub collection_uuid: String,
    pub name: String,
    /// The collection version the changes are staged over (None before the
    /// collection's first version).
    pub base: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// One staged change of a named draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StagedChange {
    pub path: String,
    /// The new content; None: the path is deleted.
    pub hash: Option<String>,
    pub size: u64,
    /// Against the draft's base: added, modified or deleted (a deletion of
    /// a path the base lacks, or new bytes equal to the base's, is staged
    /// all the same and shows as deleted or modified).
    pub status: ChangeStatus,
}

/// A file of a named draft's composed view (its base overlaid with its
/// changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DraftFile {
    pub path: String,
    pub hash: String,
    pub size: u64,
    /// True when the path has a staged change.
    pub modified: bool,
}

/// What to stage for one path: new bytes, or a deletion.
#[derive(Debug, Clone)]
pub enum Stage<'a> {
    Put(&'a [u8]),
    Delete,
}

const DRAFT_COLUMNS: &str = "d.uuid, c.slug, c.uuid, d.name, d.base_number, d.created_at, d.updated_at, d.named_draft_id, c.collection_id";

fn draft_from_row(
    r: &crate::store::db::sql::Row<'_>,
) -> crate::store::db::sql::Result<(NamedDraft, i64, i64)> {
    Ok((
        NamedDraft {
            uuid: r.get(0)?,
            collection: r.get(1)?,
            collection_uuid: r.get(2)?,
            name: r.get(3)?,
            base: r.get(4)?,
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
        },
        r.get(7)?,
        r.get(8)?,
    ))
}

/// A named draft by uuid, with its row id and its collection's.
fn find(conn: &Connection, uuid: &str) -> Result<(NamedDraft, i64, i64)> {
    conn.prepare_cached(&format!(
        "SELECT {DRAFT_COLUMNS} FROM named_draft d JOIN collection c ON c.collection_id = d.collection_id
         WHERE d.uuid = :uuid"
    ))?
    .query_row(named_params! {":uuid": uuid}, draft_from_row)
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no named draft {uuid}")))
}

fn latest_number(conn: &Connection, cid: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT max(number) FROM collection_version WHERE collection_id = :cid")?
        .query_row(named_params! {":cid": cid}, |r| r.get(0))?)
}

fn changes_of(conn: &Connection, draft_id: i64) -> Result<Vec<StagedChange>> {
    // A change's status needs to know whether the base has its path.
    let rows = conn
        .prepare_cached(
            "SELECT c.path, c.hash, c.size,
                    EXISTS (SELECT 1 FROM version v
                            WHERE v.collection_id = d.collection_id AND v.path = c.path
                              AND v.hash IS NOT NULL AND v.published_in <= d.base_number
                              AND (v.superseded_in IS NULL OR v.superseded_in > d.base_number))
             FROM named_draft_change c JOIN named_draft d ON d.named_draft_id = c.named_draft_id
             WHERE c.named_draft_id = :id ORDER BY c.path",
        )?
        .query_map(named_params! {":id": draft_id}, |r| {
            let hash: Option<String> = r.get(1)?;
            let in_base: bool = r.get(3)?;
            Ok(StagedChange {
                path: r.get(0)?,
                status: match (&hash, in_base) {
                    (None, _) => ChangeStatus::Deleted,
                    (Some(_), true) => ChangeStatus::Modified,
                    (Some(_), false) => ChangeStatus::Added,
                },
                hash,
                size: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The files of a state as path → (hash, size).
fn files_of(
    conn: &Connection,
    cid: i64,
    base: Option<i64>,
) -> Result<BTreeMap<String, (String, u64)>> {
    Ok(match base {
        None => BTreeMap::new(),
        Some(n) => contents(conn, cid, State::Version(n))?
            .into_iter()
            .map(|c| (c.path, (c.hash, c.size)))
            .collect(),
    })
}

impl Store {
    /// Creates a named draft of a collection, based on its latest version.
    pub fn create_named_draft(&self, key: &str, name: &str) -> Result<NamedDraft> {
        if name.trim().is_empty() || name.chars().count() > 180 {
            return Err(Error::Invalid(format!(
                "{name:?} is not a draft name: use 1 to 180 characters"
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        self.with_write_lock(|| {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
            let (cid, collection) = Store::find_collection(&tx, key)?;
            let taken: Option<String> = tx
                .query_row(
                    "SELECT uuid FROM named_draft WHERE collection_id = :cid AND name = :name",
                    named_params! {":cid": cid, ":name": name},
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                return Err(Error::Conflict(format!(
                    "{} already has a draft named {name:?}",
                    collection.slug
                )));
            }
            let at = now();
            tx.execute(
                "INSERT INTO named_draft (uuid, collection_id, name, base_number, created_at, updated_at)
                 VALUES (:uuid, :cid, :name, :base, :at, :at)",
                named_params! {
                    ":uuid": uuid, ":cid": cid, ":name": name,
                    ":base": latest_number(&tx, cid)?, ":at": at,
                },
            )?;
            let (draft, _, _) = find(&tx, &uuid)?;
            super::cancel::commit_point()?;
            tx.commit()?;
            Ok(draft)
        })
    }

    /// The named drafts of one collection (`Some(key)`) or of every
    /// collection, by collection and name.
    pub fn named_drafts(&self, key: Option<&str>) -> Result<Vec<NamedDraft>> {
        let conn = self.reader()?;
        let cid = match key {
            Some(key) => Some(Store::find_collection(&conn, key)?.0),
            None => None,
        };
        let rows = conn
            .prepare_cached(&format!(
                "SELECT {DRAFT_COLUMNS} FROM named_draft d JOIN collection c ON c.collection_id = d.collection_id
                 WHERE CAST(:cid AS BIGINT) IS NULL OR d.collection_id = :cid ORDER BY c.slug, d.name"
            ))?
            .query_map(named_params! {":cid": cid}, draft_from_row)?
            .map(|r| r.map(|(draft, _, _)| draft))
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A named draft by uuid.
    pub fn named_draft(&self, uuid: &str) -> Result<NamedDraft> {
        let conn = self.reader()?;
        Ok(find(&conn, uuid)?.0)
    }

    /// A named draft by its collection and name.
    pub fn named_draft_by_name(&self, key: &str, name: &str) -> Result<NamedDraft> {
        let conn = self.reader()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let uuid: Option<String> = conn
            .query_row(
                "SELECT uuid FROM named_draft WHERE collection_id = :cid AND name = :name",
                named_params! {":cid": cid, ":name": name},
                |r| r.get(0),
            )
            .optional()?;
        match uuid {
            Some(uuid) => Ok(find(&conn, &uuid)?.0),
            None => Err(Error::NotFound(format!(
                "{} has no draft named {name:?} (`blockstore drafts {}` lists them)",
                collection.slug, collection.slug
            ))),
        }
    }

    /// A named draft's staged changes, by path.
    pub fn named_draft_changes(&self, uuid: &str) -> Result<(NamedDraft, Vec<StagedChange>)> {
        let conn = self.reader()?;
        let (draft, id, _) = find(&conn, uuid)?;
        let changes = changes_of(&conn, id)?;
        Ok((draft, changes))
    }

    /// A named draft's files: its base overlaid with its changes, by path.
    pub fn named_draft_files(&self, uuid: &str) -> Result<(NamedDraft, Vec<DraftFile>)> {
        let conn = self.reader()?;
        let (draft, id, cid) = find(&conn, uuid)?;
        let mut files: BTreeMap<String, DraftFile> = files_of(&conn, cid, draft.base)?
            .into_iter()
            .map(|(path, (hash, size))| {
                let file = DraftFile {
                    path: path.clone(),
                    hash,
                    size,
                    modified: false,
                };
                (path, file)
            })
            .collect();
        for change in changes_of(&conn, id)? {
            match change.hash {
                Some(hash) => {
                    files.insert(
                        change.path.clone(),
                        DraftFile {
                            path: change.path,
                            hash,
                            size: change.size,
                            modified: true,
                        },
                    );
                }
                None => {
                    files.remove(&change.path);
                }
            }
        }
        Ok((draft, files.into_values().collect()))
    }

    /// A named draft's dependencies: its base's with its staged changes
    /// applied, by name, each with whether it is staged. A staged value stays
    /// staged after a commit (as Blockstore's did) until the draft is deleted.
    pub fn named_draft_dependencies(
        &self,
        uuid: &str,
    ) -> Result<(NamedDraft, Vec<(Dependency, bool)>)> {
        let conn = self.reader()?;
        let (draft, id, cid) = find(&conn, uuid)?;
        let base = match draft.base {
            Some(n) => super::dependencies::of_version(&conn, cid, n)?,
            None => Vec::new(),
        };
        let staged = super::dependencies::staged(&conn, id)?;
        Ok((draft, super::dependencies::composed(base, &staged)))
    }

    /// Stages changes in a named draft: each path's new bytes or its
    /// deletion, replacing what was staged for it; other paths stay as they
    /// are. The draft's `updated_at` moves even when `changes` is empty.
    pub fn stage(&self, uuid: &str, changes: &[(RelPath, Stage<'_>)]) -> Result<NamedDraft> {
        self.stage_with_dependencies(uuid, changes, &[])
    }

    /// Like [`Store::stage`], with dependency changes too: each name's new
    /// target (a collection uuid and a version, 0 for its latest) or its
    /// deletion. A target version that does not exist, or one that would
    /// make a cycle, refuses the whole change ([`Error::Invalid`]).
    pub fn stage_with_dependencies(
        &self,
        uuid: &str,
        changes: &[(RelPath, Stage<'_>)],
        dependencies: &[(String, Option<(String, i64)>)],
    ) -> Result<NamedDraft> {
        // Reject a path given twice before anything is written.
        let mut seen = std::collections::HashSet::new();
        for (path, _) in changes {
            if !seen.insert(path.as_str()) {
                return Err(Error::Invalid(format!("{path} appears twice")));
            }
        }
        // Links are extracted before the writers' lock is taken (CPU work
        // that holds no one up); blobs are written under it, so gc cannot
        // sweep one before its row commits.
        let scans: Vec<_> = changes
            .iter()
            .map(|(path, stage)| match stage {
                Stage::Put(bytes) => super::files::classify(path)
                    .syntax
                    .map(|syntax| (syntax, super::links::extract(path.as_str(), bytes, syntax))),
                Stage::Delete => None,
            })
            .collect();
        self.with_write_lock(|| {
            let mut blobs = Vec::with_capacity(changes.len());
            for (_, stage) in changes {
                blobs.push(match stage {
                    Stage::Put(bytes) => Some(self.blobs.put(bytes)?),
                    Stage::Delete => None,
                });
            }
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
            let (mut draft, id, cid) = find(&tx, uuid)?;
            if !dependencies.is_empty() {
                super::dependencies::stage(
                    &tx,
                    id,
                    (cid, &draft.collection_uuid),
                    draft.base,
                    dependencies,
                )?;
            }
            for (((path, _), blob), scan) in changes.iter().zip(&blobs).zip(&scans) {
                let (hash, size) = match blob {
                    Some(blob) => {
                        super::blobs::insert_inline(&tx, blob)?;
                        if let Some((syntax, extracted)) = scan {
                            super::scan::insert_scan(&tx, &blob.hash, *syntax, extracted)?;
                        }
                        (Some(blob.hash.as_str()), blob.size as i64)
                    }
                    None => (None, 0),
                };
                tx.prepare_cached(
                    "INSERT INTO named_draft_change (named_draft_id, path, hash, size)
                     VALUES (:id, :path, :hash, :size)
                     ON CONFLICT (named_draft_id, path)
                     DO UPDATE SET hash = excluded.hash, size = excluded.size",
                )?
                .execute(named_params! {
                    ":id": id, ":path": path.as_str(), ":hash": hash, ":size": size,
                })?;
            }
            draft.updated_at = now();
            tx.prepare_cached(
                "UPDATE named_draft SET updated_at = :at WHERE named_draft_id = :id",
            )?
            .execute(named_params! {":at": draft.updated_at, ":id": id})?;
            super::cancel::commit_point()?;
            tx.commit()?;
            Ok(draft)
        })
    }

    /// Deletes a named draft and its staged changes.
    pub fn delete_named_draft(&self, uuid: &str) -> Result<NamedDraft> {
        self.with_write_lock(|| {
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
            let (draft, id, _) = find(&tx, uuid)?;
            tx.execute(
                "DELETE FROM named_draft WHERE named_draft_id = :id",
                named_params! {":id": id},
            )?;
            super::cancel::commit_point()?;
            tx.commit()?;
            Ok(draft)
        })
    }

    /// Commits a named draft: a new collection version whose files are the
    /// draft's base overlaid with its changes (even when that equals the
    /// latest version, and even when the base is older than the latest,
    /// whose newer changes it then undoes, as Blockstore did). The draft is
    /// rebased on the new version and its file changes cleared (its staged
    /// dependency changes stay, as Blockstore's did). The working draft's
    /// pending edits stay pending.
    pub fn commit_named_draft(&self, uuid: &str, message: &str) -> Result<PublishReport> {
        self.with_write_lock(|| {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
            let (draft, id, cid) = find(&tx, uuid)?;
            let (_, collection) = Store::find_collection(&tx, &draft.collection)?;
            let latest = latest_number(&tx, cid)?;
            let mut target = files_of(&tx, cid, draft.base)?;
            for change in changes_of(&tx, id)? {
                match change.hash {
                    Some(hash) => {
                        target.insert(change.path, (hash, change.size));
                    }
                    None => {
                        target.remove(&change.path);
                    }
                }
            }
            let number = latest.unwrap_or(0) + 1;
            let at = now();
            let metadata = super::publish::version_metadata(&collection);
            let committed_from = serde_json::json!({
                "draft": draft.name,
                "draft_uuid": draft.uuid,
                "base": draft.base,
                "latest": latest,
            });
            let cv_id: i64 = tx.query_row(
                "INSERT INTO collection_version (collection_id, number, message, created_at, metadata, committed_from)
                 VALUES (:cid, :number, :message, :at, :metadata, :from)
                 RETURNING collection_version_id",
                named_params! {
                    ":cid": cid, ":number": number, ":message": message, ":at": at,
                    ":metadata": metadata.to_string(), ":from": committed_from.to_string(),
                },
                |r| r.get(0),
            )?;
            let base_dependencies = match draft.base {
                Some(n) => super::dependencies::of_version(&tx, cid, n)?,
                None => Vec::new(),
            };
            let staged = super::dependencies::staged(&tx, id)?;
            let dependencies: Vec<Dependency> =
                super::dependencies::composed(base_dependencies, &staged)
                    .into_iter()
                    .map(|(d, _)| d)
                    .collect();
            super::dependencies::record(&tx, cv_id, &dependencies)?;
            let changes = publish_tree(&tx, cid, cv_id, number, &target, message, &at, &collection.slug)?;
            tx.execute(
                "DELETE FROM named_draft_change WHERE named_draft_id = :id",
                named_params! {":id": id},
            )?;
            tx.execute(
                "UPDATE named_draft SET base_number = :n, updated_at = :at WHERE named_draft_id = :id",
                named_params! {":n": number, ":at": at, ":id": id},
            )?;
            super::cancel::commit_point()?;
            tx.commit()?;
            drop(conn);
            self.events.emit(Event::CollectionPublished {
                collection: collection.slug.clone(),
                version: number,
                paths: changes.iter().map(|c| c.path.clone()).collect(),
            });
            Ok(PublishReport {
                collection: collection.slug,
                number,
                message: message.to_string(),
                created_at: at,
                changes,
                malformed: Vec::new(),
            })
        })
    }
}

/// A linkable of the collection as a commit finds it: what it publishes
/// next, and its working-draft version.
#[derive(Clone)]
struct Known {
    linkable_id: i64,
    uuid: String,
    kind: LinkableKind,
    last_number: i64,
    /// The published version (a live file or a tombstone).
    published: Option<i64>,
    published_hash: Option<String>,
    /// The working draft's version: (id, path, hash).
    draft: Option<(i64, String, Option<String>)>,
}

/// Every linkable of collection `cid` that a commit may publish to, keyed
/// three ways: by the path of its live published file, of its working-draft
/// file (unpublished ones), and of its published tombstone. One query, so a
/// commit of 1,000s of files asks SQLite nothing per file.
struct Linkables {
    live: BTreeMap<String, Known>,
    drafted: BTreeMap<String, Known>,
    tombstones: BTreeMap<String, Known>,
}

fn linkables(tx: &Connection, cid: i64) -> Result<Linkables> {
    let mut stmt = tx.prepare_cached(
        "SELECT l.linkable_id, l.uuid, l.kind, l.last_number, l.published_version_id,
                p.path, p.hash, l.draft_version_id, d.path, d.hash
         FROM linkable l
         LEFT JOIN version p ON p.version_id = l.published_version_id
         LEFT JOIN version d ON d.version_id = l.draft_version_id
         WHERE l.collection_id = :cid ORDER BY l.linkable_id",
    )?;
    let mut rows = stmt.query(named_params! {":cid": cid})?;
    let mut out = Linkables {
        live: BTreeMap::new(),
        drafted: BTreeMap::new(),
        tombstones: BTreeMap::new(),
    };
    while let Some(r) = rows.next()? {
        let published_path: Option<String> = r.get(5)?;
        let draft_id: Option<i64> = r.get(7)?;
        let draft = match draft_id {
            Some(id) => Some((id, r.get::<_, String>(8)?, r.get::<_, Option<String>>(9)?)),
            None => None,
        };
        let known = Known {
            linkable_id: r.get(0)?,
            uuid: r.get(1)?,
            kind: LinkableKind::from_sql(&r.get::<_, String>(2)?),
            last_number: r.get(3)?,
            published: r.get(4)?,
            published_hash: r.get(6)?,
            draft,
        };
        match (&published_path, &known.published_hash) {
            (Some(path), Some(_)) => {
                out.live.insert(path.clone(), known.clone());
            }
            // Later rows win: the newest tombstone of a path.
            (Some(path), None) => {
                out.tombstones.insert(path.clone(), known.clone());
            }
            (None, _) => {}
        }
        if let Some((_, path, Some(_))) = &known.draft {
            out.drafted.insert(path.clone(), known);
        }
    }
    Ok(out)
}

/// Publishes `target` (path → content) as collection version `number`
/// (row `cv_id`): new versions where a path's content differs from the
/// latest published one, tombstones where a published path is gone. Each
/// change goes to the publish log. Linkables keep their working-draft
/// versions.
#[allow(clippy::too_many_arguments)]
fn publish_tree(
    tx: &Connection,
    cid: i64,
    cv_id: i64,
    number: i64,
    target: &BTreeMap<String, (String, u64)>,
    message: &str,
    at: &str,
    slug: &str,
) -> Result<Vec<Change>> {
    let known = linkables(tx, cid)?;
    let publish = Publish {
        tx,
        cid,
        cv_id,
        number,
        message,
        at,
    };
    let mut changes = Vec::new();
    for (path, (hash, size)) in target {
        match known.live.get(path) {
            Some(k) if k.published_hash.as_ref() == Some(hash) => {}
            Some(k) => {
                publish.version(k, path, Some((hash, *size)))?;
                changes.push(change(
                    ChangeStatus::Modified,
                    k,
                    path,
                    k.published_hash.as_ref(),
                    Some(hash),
                ));
            }
            None => {
                let k = match (known.drafted.get(path), known.tombstones.get(path)) {
                    (Some(k), _) => {
                        if k.published.is_some() && k.published_hash.is_some() {
                            return Err(Error::Conflict(format!(
                                "{slug}: the working draft renames a published file to {path}, \
                                 which this commit adds; publish or revert the working draft's \
                                 rename first"
                            )));
                        }
                        k.clone()
                    }
                    (None, Some(k)) => k.clone(),
                    (None, None) => {
                        let rel = RelPath::existing(path)?;
                        let uuid = uuid::Uuid::now_v7().to_string();
                        let kind = classify(&rel).kind;
                        let linkable_id = tx
                            .prepare_cached(
                                "INSERT INTO linkable (uuid, collection_id, kind, created_at)
                                 VALUES (:uuid, :cid, :kind, :at)
                                 RETURNING linkable_id",
                            )?
                            .query_row(
                                named_params! {":uuid": uuid, ":cid": cid, ":kind": kind.as_str(), ":at": at},
                                |r| r.get(0),
                            )?;
                        Known {
                            linkable_id,
                            uuid,
                            kind,
                            last_number: 0,
                            published: None,
                            published_hash: None,
                            draft: None,
                        }
                    }
                };
                publish.version(&k, path, Some((hash, *size)))?;
                changes.push(change(ChangeStatus::Added, &k, path, None, Some(hash)));
            }
        }
    }
    for (path, k) in &known.live {
        if target.contains_key(path) {
            continue;
        }
        publish.version(k, path, None)?;
        changes.push(change(
            ChangeStatus::Deleted,
            k,
            path,
            k.published_hash.as_ref(),
            None,
        ));
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

fn change(
    status: ChangeStatus,
    k: &Known,
    path: &str,
    old_hash: Option<&String>,
    new_hash: Option<&String>,
) -> Change {
    Change {
        status,
        uuid: k.uuid.clone(),
        kind: k.kind,
        path: path.to_string(),
        old_path: None,
        old_hash: old_hash.cloned(),
        new_hash: new_hash.cloned(),
        content_changed: false,
        display_name: None,
        lines: None,
    }
}

/// One commit's publishing of versions.
struct Publish<'a> {
    tx: &'a Connection,
    cid: i64,
    cv_id: i64,
    number: i64,
    message: &'a str,
    at: &'a str,
}

impl Publish<'_> {
    /// Inserts linkable `k`'s next published version (content, or a
    /// tombstone for None), supersedes its published one, points it at the
    /// new one and logs the change. A working-draft version equal to what is
    /// now published is no pending change any more and goes.
    fn version(&self, k: &Known, path: &str, content: Option<(&String, u64)>) -> Result<()> {
        let tx = self.tx;
        let rel = RelPath::existing(path)?;
        let (hash, size) = match content {
            Some((hash, size)) => (Some(hash.as_str()), size as i64),
            None => (None, 0),
        };
        let to_number = k.last_number + 1;
        let version_id: i64 = tx
            .prepare_cached(
                "INSERT INTO version (uuid, linkable_id, collection_id, number, path, hash, size, media_type,
                    created_at, message, published_in)
                 VALUES (:uuid, :linkable_id, :cid, :number, :path, :hash, :size, :media_type, :at, :message, :cv)
                 RETURNING version_id",
            )?
            .query_row(
                named_params! {
                    ":uuid": uuid::Uuid::now_v7().to_string(), ":linkable_id": k.linkable_id, ":cid": self.cid,
                    ":number": to_number, ":path": path, ":hash": hash, ":size": size,
                    ":media_type": media_type(&rel), ":at": self.at, ":message": self.message, ":cv": self.number,
                },
                |r| r.get(0),
            )?;
        if let Some(old) = k.published {
            tx.prepare_cached("UPDATE version SET superseded_in = :cv WHERE version_id = :id")?
                .execute(named_params! {":cv": self.number, ":id": old})?;
        }
        let redundant = k
            .draft
            .as_ref()
            .filter(|(_, d_path, d_hash)| d_path == path && d_hash.as_deref() == hash)
            .map(|(id, _, _)| *id);
        tx.prepare_cached(
            "UPDATE linkable SET published_version_id = :v, last_number = :n,
                draft_version_id = CASE WHEN :redundant THEN NULL ELSE draft_version_id END
             WHERE linkable_id = :id",
        )?
        .execute(named_params! {
            ":v": version_id, ":n": to_number, ":redundant": redundant.is_some(), ":id": k.linkable_id,
        })?;
        if let Some(draft) = redundant {
            tx.prepare_cached("DELETE FROM version WHERE version_id = :id")?
                .execute(named_params! {":id": draft})?;
        }
        let (from_number, from_hash) = match k.published {
            Some(_) => (Some(k.last_number), k.published_hash.as_ref()),
            None => (None, None),
        };
        log_change(
            tx,
            self.cv_id,
            k.linkable_id,
            from_number,
            to_number,
            path,
            from_hash,
            hash.map(str::to_string).as_ref(),
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn log_change(
    tx: &Connection,
    cv_id: i64,
    linkable_id: i64,
    from_number: Option<i64>,
    to_number: i64,
    path: &str,
    from_hash: Option<&String>,
    to_hash: Option<&String>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO collection_version_change
            (collection_version_id, linkable_id, from_number, to_number, from_path, to_path,
             from_hash, to_hash)
         VALUES (:cv, :linkable, :from_number, :to_number, :from_path, :to_path, :from_hash, :to_hash)",
    )?
    .execute(named_params! {
        ":cv": cv_id, ":linkable": linkable_id, ":from_number": from_number,
        ":to_number": to_number, ":from_path": from_number.map(|_| path), ":to_path": path,
        ":from_hash": from_hash, ":to_hash": to_hash,
    })?;
    Ok(())
}
