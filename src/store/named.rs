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
use rusqlite::{named_params, Connection, OptionalExtension};
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

fn draft_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(NamedDraft, i64, i64)> {
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
    let rows = conn
        .prepare_cached(
            "SELECT path, hash, size FROM named_draft_change WHERE named_draft_id = :id ORDER BY path",
        )?
        .query_map(named_params! {":id": draft_id}, |r| {
            Ok(StagedChange {
                path: r.get(0)?,
                hash: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
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
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
                 WHERE :cid IS NULL OR d.collection_id = :cid ORDER BY c.slug, d.name"
            ))?
            .query_map(named_params! {":cid": cid}, draft_from_row)?
            .map(|r| r.map(|(draft, _, _)| draft))
            .collect::<rusqlite::Result<Vec<_>>>()?;
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
        self.with_write_lock(|| {
            // Blobs first, durable before the rows that name them commit.
            let mut entries = Vec::with_capacity(changes.len());
            for (path, stage) in changes {
                entries.push(match stage {
                    Stage::Put(bytes) => {
                        let blob = self.blobs.put(bytes)?;
                        (
                            path,
                            Some(super::BatchEntry::new(path.clone(), blob, bytes)),
                        )
                    }
                    Stage::Delete => (path, None),
                });
            }
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (draft, id, cid) = find(&tx, uuid)?;
            super::dependencies::stage(
                &tx,
                id,
                (cid, &draft.collection_uuid),
                draft.base,
                dependencies,
            )?;
            for (path, entry) in &entries {
                let (hash, size) = match entry {
                    Some(entry) => {
                        super::blobs::insert_inline(&tx, &entry.blob)?;
                        if let Some((syntax, extracted)) = &entry.scan {
                            super::scan::insert_scan(&tx, &entry.blob.hash, *syntax, extracted)?;
                        }
                        (Some(entry.blob.hash.as_str()), entry.blob.size as i64)
                    }
                    None => (None, 0),
                };
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO named_draft_change (named_draft_id, path, hash, size)
                     VALUES (:id, :path, :hash, :size)",
                )?
                .execute(named_params! {
                    ":id": id, ":path": path.as_str(), ":hash": hash, ":size": size,
                })?;
            }
            tx.execute(
                "UPDATE named_draft SET updated_at = :at WHERE named_draft_id = :id",
                named_params! {":at": now(), ":id": id},
            )?;
            let (draft, _, _) = find(&tx, uuid)?;
            super::cancel::commit_point()?;
            tx.commit()?;
            Ok(draft)
        })
    }

    /// Deletes a named draft and its staged changes.
    pub fn delete_named_draft(&self, uuid: &str) -> Result<NamedDraft> {
        self.with_write_lock(|| {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
            let metadata = serde_json::json!({
                "title": collection.title,
                "description": collection.description,
                "owner": collection.owner,
                "author": collection.author,
                "license": collection.license,
            });
            let committed_from = serde_json::json!({
                "draft": draft.name,
                "draft_uuid": draft.uuid,
                "base": draft.base,
                "latest": latest,
            });
            tx.execute(
                "INSERT INTO collection_version (collection_id, number, message, created_at, metadata, committed_from)
                 VALUES (:cid, :number, :message, :at, :metadata, :from)",
                named_params! {
                    ":cid": cid, ":number": number, ":message": message, ":at": at,
                    ":metadata": metadata.to_string(), ":from": committed_from.to_string(),
                },
            )?;
            let cv_id = tx.last_insert_rowid();
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

/// The latest published file of each path: linkable, its version, number,
/// hash.
struct Published {
    linkable_id: i64,
    uuid: String,
    kind: LinkableKind,
    version_id: i64,
    last_number: i64,
    hash: String,
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
    let mut published: BTreeMap<String, Published> = BTreeMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT v.path, l.linkable_id, l.uuid, l.kind, v.version_id, l.last_number, v.hash
             FROM linkable l JOIN version v ON v.version_id = l.published_version_id
             WHERE l.collection_id = :cid AND v.hash IS NOT NULL",
        )?;
        let rows = stmt.query_map(named_params! {":cid": cid}, |r| {
            Ok((
                r.get::<_, String>(0)?,
                Published {
                    linkable_id: r.get(1)?,
                    uuid: r.get(2)?,
                    kind: LinkableKind::from_sql(&r.get::<_, String>(3)?),
                    version_id: r.get(4)?,
                    last_number: r.get(5)?,
                    hash: r.get(6)?,
                },
            ))
        })?;
        for row in rows {
            let (path, p) = row?;
            published.insert(path, p);
        }
    }
    let mut changes = Vec::new();
    for (path, (hash, size)) in target {
        match published.get(path) {
            Some(p) if &p.hash == hash => {}
            Some(p) => {
                publish_version(
                    tx,
                    cid,
                    p.linkable_id,
                    p.last_number,
                    Some(p.version_id),
                    path,
                    Some((hash, *size)),
                    number,
                    message,
                    at,
                )?;
                log_change(
                    tx,
                    cv_id,
                    p.linkable_id,
                    Some(p.last_number),
                    p.last_number + 1,
                    path,
                    Some(&p.hash),
                    Some(hash),
                )?;
                changes.push(change(
                    ChangeStatus::Modified,
                    &p.uuid,
                    p.kind,
                    path,
                    Some(&p.hash),
                    Some(hash),
                ));
            }
            None => {
                let rel = RelPath::existing(path)?;
                let (linkable_id, uuid, kind, last_number) =
                    linkable_for_new_path(tx, cid, &rel, at, slug)?;
                let old = tx.query_row(
                    "SELECT published_version_id FROM linkable WHERE linkable_id = :id",
                    named_params! {":id": linkable_id},
                    |r| r.get::<_, Option<i64>>(0),
                )?;
                publish_version(
                    tx,
                    cid,
                    linkable_id,
                    last_number,
                    old,
                    path,
                    Some((hash, *size)),
                    number,
                    message,
                    at,
                )?;
                log_change(
                    tx,
                    cv_id,
                    linkable_id,
                    old.map(|_| last_number),
                    last_number + 1,
                    path,
                    None,
                    Some(hash),
                )?;
                changes.push(change(
                    ChangeStatus::Added,
                    &uuid,
                    kind,
                    path,
                    None,
                    Some(hash),
                ));
            }
        }
    }
    for (path, p) in &published {
        if target.contains_key(path) {
            continue;
        }
        publish_version(
            tx,
            cid,
            p.linkable_id,
            p.last_number,
            Some(p.version_id),
            path,
            None,
            number,
            message,
            at,
        )?;
        log_change(
            tx,
            cv_id,
            p.linkable_id,
            Some(p.last_number),
            p.last_number + 1,
            path,
            Some(&p.hash),
            None,
        )?;
        changes.push(change(
            ChangeStatus::Deleted,
            &p.uuid,
            p.kind,
            path,
            Some(&p.hash),
            None,
        ));
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

fn change(
    status: ChangeStatus,
    uuid: &str,
    kind: LinkableKind,
    path: &str,
    old_hash: Option<&String>,
    new_hash: Option<&String>,
) -> Change {
    Change {
        status,
        uuid: uuid.to_string(),
        kind,
        path: path.to_string(),
        old_path: None,
        old_hash: old_hash.cloned(),
        new_hash: new_hash.cloned(),
        content_changed: false,
        display_name: None,
        lines: None,
    }
}

/// The linkable a path new to the published state is published as: the one
/// the working draft created there (not yet published), or the one whose
/// published tombstone is there, else a new one. A working-draft file renamed
/// onto the path from a published one would make two files share it: refused.
fn linkable_for_new_path(
    tx: &Connection,
    cid: i64,
    path: &RelPath,
    at: &str,
    slug: &str,
) -> Result<(i64, String, LinkableKind, i64)> {
    // (linkable, uuid, kind, last number, published version)
    type Candidate = (i64, String, String, i64, Option<i64>);
    let row = |sql: &str| -> Result<Option<Candidate>> {
        Ok(tx
            .query_row(
                sql,
                named_params! {":cid": cid, ":path": path.as_str()},
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?)
    };
    let drafted = row(
        "SELECT l.linkable_id, l.uuid, l.kind, l.last_number, l.published_version_id
         FROM linkable l JOIN version v ON v.version_id = l.draft_version_id
         WHERE l.collection_id = :cid AND v.path = :path AND v.hash IS NOT NULL
         ORDER BY l.linkable_id DESC LIMIT 1",
    )?;
    if let Some((id, uuid, kind, last, published)) = drafted {
        if published.is_some() {
            let live: Option<String> = tx
                .query_row(
                    "SELECT v.path FROM linkable l JOIN version v ON v.version_id = l.published_version_id
                     WHERE l.linkable_id = :id AND v.hash IS NOT NULL",
                    named_params! {":id": id},
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(live) = live {
                return Err(Error::Conflict(format!(
                    "{slug}: the working draft renames {live} to {path}, which this commit adds; \
                     publish or revert the working draft's rename first"
                )));
            }
        }
        return Ok((id, uuid, LinkableKind::from_sql(&kind), last));
    }
    let tombstone = row(
        "SELECT l.linkable_id, l.uuid, l.kind, l.last_number, l.published_version_id
         FROM linkable l JOIN version v ON v.version_id = l.published_version_id
         WHERE l.collection_id = :cid AND v.path = :path AND v.hash IS NULL
         ORDER BY l.linkable_id DESC LIMIT 1",
    )?;
    if let Some((id, uuid, kind, last, _)) = tombstone {
        return Ok((id, uuid, LinkableKind::from_sql(&kind), last));
    }
    let uuid = uuid::Uuid::now_v7().to_string();
    let kind = classify(path).kind;
    tx.execute(
        "INSERT INTO linkable (uuid, collection_id, kind, created_at) VALUES (:uuid, :cid, :kind, :at)",
        named_params! {":uuid": uuid, ":cid": cid, ":kind": kind.as_str(), ":at": at},
    )?;
    Ok((tx.last_insert_rowid(), uuid, kind, 0))
}

/// Inserts linkable `linkable_id`'s next published version (content, or a
/// tombstone for None), supersedes `old`, and points the linkable at it. A
/// working-draft version equal to what is now published is no change any
/// more and goes.
#[allow(clippy::too_many_arguments)]
fn publish_version(
    tx: &Connection,
    cid: i64,
    linkable_id: i64,
    last_number: i64,
    old: Option<i64>,
    path: &str,
    content: Option<(&String, u64)>,
    number: i64,
    message: &str,
    at: &str,
) -> Result<()> {
    let rel = RelPath::existing(path)?;
    let (hash, size) = match content {
        Some((hash, size)) => (Some(hash.as_str()), size as i64),
        None => (None, 0),
    };
    tx.prepare_cached(
        "INSERT INTO version (uuid, linkable_id, collection_id, number, path, hash, size, media_type,
            created_at, message, published_in)
         VALUES (:uuid, :linkable_id, :cid, :number, :path, :hash, :size, :media_type, :at, :message, :cv)",
    )?
    .execute(named_params! {
        ":uuid": uuid::Uuid::now_v7().to_string(), ":linkable_id": linkable_id, ":cid": cid,
        ":number": last_number + 1, ":path": path, ":hash": hash, ":size": size,
        ":media_type": media_type(&rel), ":at": at, ":message": message, ":cv": number,
    })?;
    let version_id = tx.last_insert_rowid();
    if let Some(old) = old {
        tx.prepare_cached("UPDATE version SET superseded_in = :cv WHERE version_id = :id")?
            .execute(named_params! {":cv": number, ":id": old})?;
    }
    tx.prepare_cached(
        "UPDATE linkable SET published_version_id = :v, last_number = :n WHERE linkable_id = :id",
    )?
    .execute(named_params! {":v": version_id, ":n": last_number + 1, ":id": linkable_id})?;
    // The working draft's version of this file, if it now equals the
    // published one, is no pending change.
    let redundant: Option<i64> = tx
        .query_row(
            "SELECT d.version_id FROM linkable l JOIN version d ON d.version_id = l.draft_version_id
             WHERE l.linkable_id = :id AND d.path = :path AND d.hash IS :hash",
            named_params! {":id": linkable_id, ":path": path, ":hash": hash},
            |r| r.get(0),
        )
        .optional()?;
    if let Some(draft) = redundant {
        tx.execute(
            "UPDATE linkable SET draft_version_id = NULL WHERE linkable_id = :id",
            named_params! {":id": linkable_id},
        )?;
        tx.execute(
            "DELETE FROM version WHERE version_id = :id",
            named_params! {":id": draft},
        )?;
    }
    Ok(())
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
