//! Units and assets in the draft: the one write path ([`Store::apply`]), its
//! single-file forms (write, delete, rename), and the draft flags.
//!
//! Owns the SQL of `linkable`, `version` rows that are drafts, and
//! `draft_revision`. A write's small blobs are inserted by its own
//! transaction (`blobs::insert_inline`); its contents' links by `scan.rs`.

use super::error::{Error, Result};
use super::events::Event;
use super::files::{classify, file_at, media_type, State};
use super::links::{self, Extracted, Syntax};
use super::model::*;
use super::path::RelPath;
use super::scan::insert_scan;
use super::{now, Store, Stored};
use crate::store::db::sql::{named_params, Connection, Engine, OptionalExtension};
use std::collections::{HashMap, HashSet};

/// One file to put into the draft: its path, its blob (already in the blob
/// store), and, for units, its extracted links (computed by the caller so that
/// extraction can run outside the index transaction, in parallel).
#[derive(Debug, Clone)]
pub struct BatchEntry {
    pub path: RelPath,
    pub blob: Stored,
    pub scan: Option<(Syntax, Extracted)>,
    /// Checked against the path's draft before anything is written.
    pub expect: Option<Precondition>,
}

impl BatchEntry {
    /// Builds an entry for bytes already written to the blob store.
    pub fn new(path: RelPath, blob: Stored, bytes: &[u8]) -> BatchEntry {
        let scan = classify(&path)
            .syntax
            .map(|syntax| (syntax, links::extract(path.as_str(), bytes, syntax)));
        BatchEntry {
            path,
            blob,
            scan,
            expect: None,
        }
    }
}

/// What a batch did, path by path.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct BatchReport {
    pub created: Vec<String>,
    pub modified: Vec<String>,
    /// (from, to)
    #[schema(value_type = Vec<Vec<String>>)]
    pub renamed: Vec<(String, String)>,
    pub deleted: Vec<String>,
    pub unchanged: u64,
    /// Inline blobs the batch added to the index (blob files a write adds
    /// are counted by their writer, from [`Stored::new`]).
    #[serde(skip)]
    pub inline_added: u64,
}

impl BatchReport {
    pub fn changed(&self) -> usize {
        self.created.len() + self.modified.len() + self.renamed.len() + self.deleted.len()
    }
    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .created
            .iter()
            .chain(&self.modified)
            .chain(&self.deleted)
            .cloned()
            .collect();
        for (from, to) in &self.renamed {
            paths.push(from.clone());
            paths.push(to.clone());
        }
        paths.sort();
        paths
    }
}

/// Writes under the writers' lock; see [`Store::write_session`].
#[derive(Debug)]
pub struct WriteSession<'s> {
    store: &'s Store,
}

impl WriteSession<'_> {
    /// The blob store: write with `put_deferred` (small blobs come back held
    /// for `apply`'s transaction), then `apply` syncs the files and inserts
    /// the rest.
    pub fn blobs(&self) -> &super::BlobStore {
        &self.store.blobs
    }

    /// The one write path: puts and deletes applied to a collection's draft in
    /// one transaction. With `detect_renames`, a deleted path and a new path
    /// with the same content become a rename, so the linkable keeps its uuid.
    ///
    /// `puts` may still be produced (read, hashed, written to the blob store) by
    /// other threads while this inserts rows; the session's deferred blobs are
    /// made durable just before the commit that references them. `expected`
    /// is how many puts to expect (for progress and to pick the lookup
    /// strategy). The first `Err` from `puts` aborts and rolls back.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &self,
        key: &str,
        puts: impl IntoIterator<Item = Result<BatchEntry>>,
        expected: usize,
        deletes: Vec<RelPath>,
        detect_renames: bool,
        source: Source,
        progress: &dyn super::Progress,
    ) -> Result<BatchReport> {
        self.store.apply_locked(
            key,
            None,
            puts,
            expected,
            deletes,
            detect_renames,
            source,
            progress,
        )
    }

    /// [`WriteSession::apply`] into a collection created in the same
    /// transaction if it does not exist yet (an import's new collection appears
    /// with its files, or not at all).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_creating(
        &self,
        key: &str,
        metadata: &super::CollectionMetadata,
        puts: impl IntoIterator<Item = Result<BatchEntry>>,
        expected: usize,
        deletes: Vec<RelPath>,
        detect_renames: bool,
        source: Source,
        progress: &dyn super::Progress,
    ) -> Result<BatchReport> {
        self.store.apply_locked(
            key,
            Some(metadata),
            puts,
            expected,
            deletes,
            detect_renames,
            source,
            progress,
        )
    }
}

/// What a batch wrote, before its commit is announced.
#[derive(Debug)]
pub(crate) struct Applied {
    report: BatchReport,
    slug: String,
    created: bool,
}

/// A linkable's draft-view state at a path.
#[derive(Debug, Clone)]
struct Current {
    linkable_id: i64,
    draft_version_id: Option<i64>,
    published_version_id: Option<i64>,
    /// `None` when deleted (a tombstone).
    hash: Option<String>,
    garbage_collect: bool,
}

impl Store {
    /// Writes one file's bytes to the draft.
    pub fn write(
        &self,
        key: &str,
        path: &str,
        bytes: &[u8],
        source: Source,
    ) -> Result<WriteOutcome> {
        Ok(self.write_if(key, path, bytes, source, None)?.outcome)
    }

    /// Writes one file's bytes to the draft if `expect` holds for the path's
    /// draft at the moment of the write (else [`Error::PreconditionFailed`],
    /// and nothing changes). The answer is the file as this write left it.
    pub fn write_if(
        &self,
        key: &str,
        path: &str,
        bytes: &[u8],
        source: Source,
        expect: Option<Precondition>,
    ) -> Result<Written> {
        let path = RelPath::new(path)?;
        if expect.is_some() {
            self.precheck(key, &path, expect.as_ref())?;
        }
        self.with_write_lock(|| {
            let blob = self.blobs.put(bytes)?;
            let mut entry = BatchEntry::new(path, blob, bytes);
            entry.expect = expect;
            self.write_grouped(key, entry, source)
        })
    }

    /// Like [`Store::write_if`], but the bytes come from a reader and go
    /// straight to the blob store's temp space, never whole in memory (a
    /// large asset uploaded over HTTP, a file the CLI streams). They are
    /// received *before* the writers' lock is taken: a slow or stalled client
    /// holds off no gc and, behind a waiting gc, no other writer. A unit's
    /// bytes are read back for link extraction.
    pub fn write_stream(
        &self,
        key: &str,
        path: &str,
        reader: &mut dyn std::io::Read,
        source: Source,
        expect: Option<Precondition>,
    ) -> Result<Written> {
        let path = RelPath::new(path)?;
        // Fail before reading a byte when the collection is unknown or the
        // precondition already fails.
        self.precheck(key, &path, expect.as_ref())?;
        // A small upload (most are) is held in memory and goes inline: no
        // temp file, and the write's one commit is its one sync.
        let mut head = Vec::with_capacity(8 * 1024);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut *reader, super::INLINE_MAX + 1),
            &mut head,
        )
        .map_err(|e| Error::io("reading the bytes to store", e))?;
        if head.len() as u64 <= super::INLINE_MAX {
            return self.with_write_lock(|| {
                let blob = self.blobs.put(&head)?;
                let mut entry = BatchEntry::new(path, blob, &head);
                entry.expect = expect;
                self.write_grouped(key, entry, source)
            });
        }
        let mut rest = std::io::Read::chain(std::io::Cursor::new(head), reader);
        let received = self.blobs.receive(&mut rest, true)?;
        let scan = match classify(&path).syntax {
            Some(syntax) => {
                let bytes = received.read()?;
                Some((syntax, links::extract(path.as_str(), &bytes, syntax)))
            }
            None => None,
        };
        self.with_write_lock(|| {
            let blob = self.blobs.install(received)?;
            let entry = BatchEntry {
                path,
                blob,
                scan,
                expect,
            };
            self.write_grouped(key, entry, source)
        })
    }

    /// Checks a write's collection and precondition before any blob is
    /// written, so a refused write leaves nothing behind. The check that
    /// counts is repeated inside the write's transaction; a write that loses a
    /// race there leaves only an unreferenced blob, which gc sweeps.
    fn precheck(&self, key: &str, path: &RelPath, expect: Option<&Precondition>) -> Result<()> {
        let conn = self.conn();
        let (cid, collection) = Store::find_collection(&conn, key)?;
        match expect {
            None => Ok(()),
            Some(expect) => {
                let current = lookup(&conn, cid, path.as_str())?;
                check(expect, &collection.slug, path, current.as_ref())
            }
        }
    }

    /// One file's write, answered from its own transaction.
    pub(crate) fn apply_one_locked(
        &self,
        key: &str,
        entry: BatchEntry,
        source: Source,
    ) -> Result<Written> {
        let path = entry.path.clone();
        let (report, file) = self.apply_locked_then(
            key,
            None,
            [Ok(entry)],
            1,
            Vec::new(),
            false,
            source,
            &super::NoProgress,
            |tx, cid, made| match made {
                Some(file) => Ok(Some(file)),
                None => file_at(tx, cid, path.as_str(), State::Draft),
            },
        )?;
        let file = file
            .ok_or_else(|| Error::Invalid(format!("{path} was written but is not in the draft")))?;
        Ok(Written {
            outcome: outcome(&report),
            file,
        })
    }

    /// Deletes a file in the draft (a tombstone until publish).
    pub fn delete(&self, key: &str, path: &str, source: Source) -> Result<WriteOutcome> {
        let path = RelPath::existing(path)?;
        let report = self.with_write_lock(|| {
            self.apply_locked(
                key,
                None,
                [],
                0,
                vec![path.clone()],
                false,
                source,
                &super::NoProgress,
            )
        })?;
        if report.deleted.is_empty() {
            let collection = self.collection(key)?.slug;
            return Err(Error::FileNotFound {
                collection,
                path: path.into_string(),
                at: Some("the draft".into()),
            });
        }
        Ok(WriteOutcome::Deleted)
    }

    /// Renames a file in the draft; it keeps its uuid.
    pub fn rename(&self, key: &str, from: &str, to: &str, source: Source) -> Result<WriteOutcome> {
        let from = RelPath::existing(from)?;
        let to = RelPath::new(to)?;
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (cid, collection) = Store::find_collection(&tx, key)?;
        let not_found = |path: &RelPath| Error::FileNotFound {
            collection: collection.slug.clone(),
            path: path.to_string(),
            at: Some("the draft".into()),
        };
        let current = lookup(&tx, cid, from.as_str())?
            .filter(|c| c.hash.is_some())
            .ok_or_else(|| not_found(&from))?;
        if from == to {
            return Ok(WriteOutcome::Unchanged);
        }
        if lookup(&tx, cid, to.as_str())?.is_some_and(|c| c.hash.is_some()) {
            return Err(Error::Conflict(format!(
                "{}:{to} already exists; delete it first or choose another name",
                collection.slug
            )));
        }
        if classify(&from).kind != classify(&to).kind {
            return Err(Error::Invalid(format!(
                "renaming {from} to {to} would turn a {} into a {}; write the new path and delete the old one instead",
                classify(&from).kind.as_str(),
                classify(&to).kind.as_str()
            )));
        }
        let hash = current.hash.clone().expect("filtered on a live file");
        // Links depend on how a file is read (`.html` vs `.xml`): a rename to
        // another syntax scans the content again.
        if let Some(syntax) = classify(&to).syntax {
            let scanned: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM content_scan WHERE hash = :hash AND syntax = :syntax)",
                named_params! {":hash": hash, ":syntax": syntax.as_str()},
                |r| r.get(0),
            )?;
            if !scanned {
                let bytes = self.blobs.read(&hash, true)?;
                insert_scan(
                    &tx,
                    &hash,
                    syntax,
                    &links::extract(to.as_str(), &bytes, syntax),
                )?;
            }
        }
        set_draft(&tx, cid, &current, &to, Some(&hash), source)?;
        tx.execute(
            "UPDATE collection SET updated_at = :at WHERE collection_id = :cid",
            named_params! {":at": now(), ":cid": cid},
        )?;
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        self.events.emit(Event::DraftChanged {
            collection: collection.slug,
            paths: vec![from.into_string(), to.into_string()],
        });
        Ok(WriteOutcome::Renamed)
    }

    /// Runs `f` with the writers' lock held: blobs written through the session
    /// cannot be swept by a concurrent `gc` before the session's `apply`
    /// references them. Import writes its blobs (in parallel) and applies them
    /// in one session.
    pub fn write_session<T>(&self, f: impl FnOnce(&WriteSession<'_>) -> Result<T>) -> Result<T> {
        self.with_write_lock(|| f(&WriteSession { store: self }))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_locked(
        &self,
        key: &str,
        create: Option<&super::CollectionMetadata>,
        puts: impl IntoIterator<Item = Result<BatchEntry>>,
        expected: usize,
        deletes: Vec<RelPath>,
        detect_renames: bool,
        source: Source,
        progress: &dyn super::Progress,
    ) -> Result<BatchReport> {
        self.apply_locked_then(
            key,
            create,
            puts,
            expected,
            deletes,
            detect_renames,
            source,
            progress,
            |_, _, _| Ok(()),
        )
        .map(|(report, ())| report)
    }

    /// [`Store::apply_locked`], plus `then`, run in the same transaction just
    /// before it commits (with the collection's row id): how a write's answer
    /// is read from the write itself, never from a later state another writer
    /// may already have changed.
    #[allow(clippy::too_many_arguments)]
    fn apply_locked_then<T>(
        &self,
        key: &str,
        create: Option<&super::CollectionMetadata>,
        puts: impl IntoIterator<Item = Result<BatchEntry>>,
        expected: usize,
        deletes: Vec<RelPath>,
        detect_renames: bool,
        source: Source,
        progress: &dyn super::Progress,
        then: impl FnOnce(&Connection, i64, Option<FileEntry>) -> Result<T>,
    ) -> Result<(BatchReport, T)> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (applied, answer) = self.apply_in(
            &tx,
            key,
            create,
            puts,
            expected,
            deletes,
            detect_renames,
            source,
            progress,
            then,
        )?;
        progress.phase("syncing", None);
        self.blobs.sync()?;
        progress.phase("committing", None);
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        Ok((self.announce(applied), answer))
    }

    /// Events of a committed batch; its report.
    pub(crate) fn announce(&self, applied: Applied) -> BatchReport {
        let Applied {
            mut report,
            slug,
            created,
        } = applied;
        report.created.sort();
        report.modified.sort();
        report.renamed.sort();
        report.deleted.sort();
        if created {
            self.events.emit(Event::CollectionCreated {
                collection: slug.clone(),
            });
        }
        if report.changed() > 0 {
            self.events.emit(Event::DraftChanged {
                collection: slug,
                paths: report.paths(),
            });
        }
        report
    }

    /// The batch's rows, written on `tx` (a transaction or a savepoint of
    /// one), and `then`'s answer read from them; the caller commits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_in<T>(
        &self,
        tx: &Connection,
        key: &str,
        create: Option<&super::CollectionMetadata>,
        puts: impl IntoIterator<Item = Result<BatchEntry>>,
        expected: usize,
        deletes: Vec<RelPath>,
        detect_renames: bool,
        source: Source,
        progress: &dyn super::Progress,
        then: impl FnOnce(&Connection, i64, Option<FileEntry>) -> Result<T>,
    ) -> Result<(Applied, T)> {
        let (cid, collection, created) = match (Store::find_collection(tx, key), create) {
            (Ok((cid, collection)), _) => (cid, collection, false),
            (Err(Error::CollectionNotFound(_)), Some(metadata)) => {
                let cid = super::collections::insert_collection(tx, key, metadata)?;
                let (_, collection) = Store::find_collection(tx, key)?;
                (cid, collection, true)
            }
            (Err(e), _) => return Err(e),
        };
        let mut report = BatchReport::default();
        progress.phase("importing", Some((expected + deletes.len()) as u64));
        let mut seen: HashSet<String> = HashSet::with_capacity(expected);
        // A large batch reads the draft state once instead of once per path.
        let preloaded = if expected + deletes.len() > 256 {
            Some(draft_state(tx, cid)?)
        } else {
            None
        };
        let lookup = |tx: &Connection, cid: i64, path: &str| -> Result<Option<Current>> {
            match &preloaded {
                Some(map) => Ok(map.get(path).cloned()),
                None => lookup(tx, cid, path),
            }
        };

        // Resolve deletions first, so renames can claim them.
        let mut deleted: Vec<(RelPath, Current)> = Vec::new();
        for path in deletes {
            if let Some(current) = lookup(tx, cid, path.as_str())?.filter(|c| c.hash.is_some()) {
                deleted.push((path, current));
            }
        }
        let mut rename_from: HashMap<String, Vec<usize>> = HashMap::new();
        if detect_renames {
            for (i, (_, current)) in deleted.iter().enumerate() {
                let hash = current.hash.clone().expect("live");
                rename_from.entry(hash).or_default().push(i);
            }
        }
        let mut claimed: HashSet<usize> = HashSet::new();
        // One batch, one instant: every file it creates is stamped alike.
        let at = now();
        let mut next_version_id = NextVersionId::default();
        // The file a one-file write created: its answer, known without
        // reading it back.
        let mut made: Option<FileEntry> = None;
        let mut put_count = 0usize;
        let mut scanned: HashSet<(String, Syntax)> = HashSet::new();

        for (n, entry) in puts.into_iter().enumerate() {
            let entry = entry?;
            put_count += 1;
            if n % 1024 == 0 && progress.interrupted() {
                return Err(Error::Interrupted);
            }
            progress.advance(1);
            if !seen.insert(entry.path.to_string()) {
                return Err(Error::Invalid(format!(
                    "{} appears twice in one batch",
                    entry.path
                )));
            }
            if let Some((syntax, extracted)) = &entry.scan {
                if scanned.insert((entry.blob.hash.clone(), *syntax)) {
                    insert_scan(tx, &entry.blob.hash, *syntax, extracted)?;
                }
            }
            let current = lookup(tx, cid, entry.path.as_str())?;
            if let Some(expect) = &entry.expect {
                check(expect, &collection.slug, &entry.path, current.as_ref())?;
            }
            let unchanged = current
                .as_ref()
                .is_some_and(|c| c.hash.as_deref() == Some(entry.blob.hash.as_str()));
            // Even when unchanged: a blob still missing from its home (a
            // file the move to the index could not read) is repaired by
            // writing its bytes again.
            if super::blobs::insert_inline(tx, &entry.blob)? {
                report.inline_added += 1;
            }
            match current {
                Some(_) if unchanged => {
                    report.unchanged += 1;
                }
                Some(current) => {
                    let revived = current.hash.is_none();
                    next_version_id.forget();
                    set_draft_blob(tx, cid, &current, &entry, source)?;
                    if revived {
                        report.created.push(entry.path.into_string());
                    } else {
                        report.modified.push(entry.path.into_string());
                    }
                }
                None => {
                    let from = rename_from
                        .get_mut(&entry.blob.hash)
                        .and_then(|candidates| candidates.pop());
                    match from {
                        Some(i) if classify(&deleted[i].0).kind == classify(&entry.path).kind => {
                            claimed.insert(i);
                            let (old_path, current) = &deleted[i];
                            next_version_id.forget();
                            set_draft_blob(tx, cid, current, &entry, source)?;
                            report
                                .renamed
                                .push((old_path.to_string(), entry.path.into_string()));
                        }
                        _ => {
                            made = Some(create_linkable(
                                tx,
                                cid,
                                &entry,
                                source,
                                &mut next_version_id,
                                &at,
                            )?);
                            report.created.push(entry.path.into_string());
                        }
                    }
                }
            }
        }
        for (i, (path, current)) in deleted.iter().enumerate() {
            if claimed.contains(&i) {
                continue;
            }
            progress.advance(1);
            set_draft(tx, cid, current, path, None, source)?;
            report.deleted.push(path.to_string());
        }
        let answer = then(tx, cid, made.filter(|_| put_count == 1))?;
        if report.changed() > 0 {
            // Last, and nothing waits for it: on PostgreSQL it goes with
            // the commit, one round trip fewer per write.
            tx.execute_later(
                "UPDATE collection SET updated_at = :at WHERE collection_id = :cid",
                named_params! {":at": now(), ":cid": cid},
            )?;
        }
        Ok((
            Applied {
                report,
                slug: collection.slug,
                created,
            },
            answer,
        ))
    }

    /// A number that moves whenever another connection (another process)
    /// commits to the index: how a long-running layer (folder sync) notices
    /// writes it heard no event of.
    pub fn external_changes(&self) -> Result<i64> {
        self.watch.external(|| self.conn())
    }

    /// Emits [`Event::StoreChanged`] when another process committed since
    /// `seen` (a value of [`Store::external_changes`], updated): how a
    /// long-running server tells its event stream about CLI writes.
    /// On a shared store, the events other instances sent go out too.
    pub fn announce_external_changes(&self, seen: &mut i64) -> Result<bool> {
        let now = self.external_changes()?;
        let theirs = self.watch.take_events();
        let moved = now != *seen || !theirs.is_empty();
        for event in theirs {
            self.events.emit_here(event);
        }
        if now != *seen {
            *seen = now;
            self.events.emit(Event::StoreChanged);
        }
        Ok(moved)
    }

    /// Sets the `garbage_collect` flag on a file's current version: an asset
    /// nothing links to is deleted by `gc` only when it is set.
    pub fn set_garbage_collect(&self, key: &str, path: &str, flag: bool) -> Result<()> {
        let path = RelPath::existing(path)?;
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (cid, collection) = Store::find_collection(&tx, key)?;
        let current = lookup(&tx, cid, path.as_str())?
            .filter(|c| c.hash.is_some())
            .ok_or_else(|| Error::FileNotFound {
                collection: collection.slug,
                path: path.to_string(),
                at: Some("the draft".into()),
            })?;
        let version_id = current
            .draft_version_id
            .or(current.published_version_id)
            .expect("a live file has a version");
        tx.execute(
            "UPDATE version SET garbage_collect = :flag WHERE version_id = :id",
            named_params! {":flag": flag, ":id": version_id},
        )?;
        super::cancel::commit_point()?;
        tx.commit()?;
        Ok(())
    }
}

pub(crate) fn outcome(report: &BatchReport) -> WriteOutcome {
    if !report.created.is_empty() {
        WriteOutcome::Created
    } else if !report.modified.is_empty() {
        WriteOutcome::Modified
    } else if !report.renamed.is_empty() {
        WriteOutcome::Renamed
    } else if !report.deleted.is_empty() {
        WriteOutcome::Deleted
    } else {
        WriteOutcome::Unchanged
    }
}

/// The draft-view state of every path of a collection (live ones win over
/// deleted ones at the same path), for large batches.
fn draft_state(conn: &Connection, cid: i64) -> Result<HashMap<String, Current>> {
    let mut stmt = conn.prepare(
        "SELECT v.path, l.linkable_id, l.draft_version_id, l.published_version_id, v.hash, v.garbage_collect
         FROM linkable l JOIN version v ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
         WHERE l.collection_id = :cid",
    )?;
    let mut map: HashMap<String, Current> = HashMap::new();
    let rows = stmt.query_map(named_params! {":cid": cid}, |r| {
        Ok((
            r.get::<_, String>(0)?,
            Current {
                linkable_id: r.get(1)?,
                draft_version_id: r.get(2)?,
                published_version_id: r.get(3)?,
                hash: r.get(4)?,
                garbage_collect: r.get(5)?,
            },
        ))
    })?;
    for row in rows {
        let (path, current) = row?;
        match map.get(&path) {
            Some(existing) if existing.hash.is_some() => {}
            _ => {
                map.insert(path, current);
            }
        }
    }
    Ok(map)
}

/// Whether a write's precondition holds for the path's draft `current`.
fn check(
    expect: &Precondition,
    collection: &str,
    path: &RelPath,
    current: Option<&Current>,
) -> Result<()> {
    let live = current.and_then(|c| c.hash.as_deref());
    if expect.holds(live) {
        return Ok(());
    }
    Err(Error::PreconditionFailed {
        collection: collection.to_string(),
        path: path.to_string(),
        expected: expect.describe(),
        current: live.map(str::to_string),
    })
}

/// The draft-view state of the linkable at `path`, live or deleted.
fn lookup(conn: &Connection, cid: i64, path: &str) -> Result<Option<Current>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.linkable_id, l.draft_version_id, l.published_version_id, v.hash, v.garbage_collect
         FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
         WHERE v.collection_id = :cid AND v.path = :path
           AND v.version_id = coalesce(l.draft_version_id, l.published_version_id)
         ORDER BY v.hash IS NULL LIMIT 1",
    )?;
    Ok(stmt
        .query_row(named_params! {":cid": cid, ":path": path}, |r| {
            Ok(Current {
                linkable_id: r.get(0)?,
                draft_version_id: r.get(1)?,
                published_version_id: r.get(2)?,
                hash: r.get(3)?,
                garbage_collect: r.get(4)?,
            })
        })
        .optional()?)
}

/// The row id the next new draft version gets, known without asking SQLite
/// again while only `create_linkable` inserts versions (see there).
#[derive(Default)]
struct NextVersionId(Option<i64>);

impl NextVersionId {
    fn take(&mut self, tx: &Connection) -> Result<i64> {
        let id = match self.0 {
            Some(id) => id,
            None => {
                // The bare `max(rowid)` form is what SQLite answers from the
                // b-tree's end; wrapped in an expression it would scan the table.
                let last: Option<i64> = tx
                    .prepare_cached("SELECT max(version_id) FROM version")?
                    .query_row([], |r| r.get(0))?;
                last.unwrap_or(0) + 1
            }
        };
        self.0 = Some(id + 1);
        Ok(id)
    }

    /// Someone else may have inserted a version: ask SQLite next time.
    fn forget(&mut self) {
        self.0 = None;
    }
}

fn create_linkable(
    tx: &Connection,
    cid: i64,
    entry: &BatchEntry,
    source: Source,
    next_version_id: &mut NextVersionId,
    at: &str,
) -> Result<FileEntry> {
    if tx.engine() == Engine::Postgres {
        return create_linkable_postgres(tx, cid, entry, source, at);
    }
    let version_id = next_version_id.take(tx)?;
    let uuid = uuid::Uuid::now_v7().to_string();
    // The draft's row id is chosen first so the linkable is inserted already
    // pointing at it (the pointer's foreign key is deferred): one statement
    // fewer per new file than insert-then-update.
    let linkable_id: i64 = tx
        .prepare_cached(
            "INSERT INTO linkable (uuid, collection_id, kind, draft_version_id, created_at)
             VALUES (:uuid, :cid, :kind, :version_id, :at)
             RETURNING linkable_id",
        )?
        .query_row(
            named_params! {
                ":uuid": uuid,
                ":cid": cid,
                ":kind": classify(&entry.path).kind.as_str(),
                ":version_id": version_id,
                ":at": at,
            },
            |r| r.get(0),
        )?;
    tx.prepare_cached(
        "INSERT INTO version (version_id, uuid, linkable_id, collection_id, number, path, hash, size, media_type,
            created_at, garbage_collect)
         VALUES (:version_id, :uuid, :linkable_id, :cid, NULL, :path, :hash, :size, :media_type, :at, 0)",
    )?
    .execute(named_params! {
        ":version_id": version_id,
        ":uuid": uuid::Uuid::now_v7().to_string(),
        ":linkable_id": linkable_id,
        ":cid": cid,
        ":path": entry.path.as_str(),
        ":hash": entry.blob.hash,
        ":size": entry.blob.size as i64,
        ":media_type": media_type(&entry.path),
        ":at": at,
    })?;
    insert_revision(
        tx,
        linkable_id,
        &entry.path,
        Some(&entry.blob.hash),
        entry.blob.size,
        source,
        at,
    )?;
    Ok(new_file(uuid, entry, at))
}

/// [`create_linkable`] on PostgreSQL: the linkable, its draft version and
/// the draft revision in one statement, one round trip where there would be
/// four (the version's id from the sequence the instances share, and three
/// inserts). Sub-statements of a `WITH` all run, and the foreign keys
/// between them are checked once the whole statement is done.
fn create_linkable_postgres(
    tx: &Connection,
    cid: i64,
    entry: &BatchEntry,
    source: Source,
    at: &str,
) -> Result<FileEntry> {
    let uuid = uuid::Uuid::now_v7().to_string();
    tx.prepare_cached(
        "WITH l AS (
            INSERT INTO linkable (uuid, collection_id, kind, draft_version_id, created_at)
            VALUES (:uuid, :cid, :kind, nextval(pg_get_serial_sequence('version', 'version_id')), :at)
            RETURNING linkable_id, draft_version_id
         ), v AS (
            INSERT INTO version (version_id, uuid, linkable_id, collection_id, number, path, hash,
                size, media_type, created_at, garbage_collect)
            VALUES ((SELECT draft_version_id FROM l), :version_uuid, (SELECT linkable_id FROM l),
                :cid, NULL, :path, :hash, :size, :media_type, :at, 0)
         )
         INSERT INTO draft_revision (linkable_id, path, hash, size, source, created_at)
         VALUES ((SELECT linkable_id FROM l), :path, :hash, :size, :source, :at)",
    )?
    .execute(named_params! {
        ":uuid": uuid,
        ":cid": cid,
        ":kind": classify(&entry.path).kind.as_str(),
        ":at": at,
        ":version_uuid": uuid::Uuid::now_v7().to_string(),
        ":path": entry.path.as_str(),
        ":hash": entry.blob.hash,
        ":size": entry.blob.size as i64,
        ":media_type": media_type(&entry.path),
        ":source": source.as_str(),
    })?;
    Ok(new_file(uuid, entry, at))
}

/// The entry of a file just created as linkable `uuid`: what reading its
/// draft back would give.
fn new_file(uuid: String, entry: &BatchEntry, at: &str) -> FileEntry {
    FileEntry {
        uuid,
        path: entry.path.to_string(),
        kind: classify(&entry.path).kind,
        hash: entry.blob.hash.clone(),
        size: entry.blob.size,
        media_type: media_type(&entry.path),
        version: None,
        created_at: at.to_string(),
        garbage_collect: false,
    }
}

fn set_draft_blob(
    tx: &Connection,
    cid: i64,
    current: &Current,
    entry: &BatchEntry,
    source: Source,
) -> Result<()> {
    set_draft_row(
        tx,
        cid,
        current,
        &entry.path,
        Some((&entry.blob.hash, entry.blob.size)),
        source,
    )
}

/// Sets the draft of a linkable to `path` with `hash` (None: a tombstone),
/// keeping the size of the current content for renames.
fn set_draft(
    tx: &Connection,
    cid: i64,
    current: &Current,
    path: &RelPath,
    hash: Option<&str>,
    source: Source,
) -> Result<()> {
    let content = match hash {
        Some(hash) => {
            let size: i64 = tx.query_row(
                "SELECT size FROM version WHERE hash = :hash LIMIT 1",
                named_params! {":hash": hash},
                |r| r.get(0),
            )?;
            Some((hash, size as u64))
        }
        None => None,
    };
    set_draft_row(tx, cid, current, path, content, source)
}

fn set_draft_row(
    tx: &Connection,
    cid: i64,
    current: &Current,
    path: &RelPath,
    content: Option<(&str, u64)>,
    source: Source,
) -> Result<()> {
    let at = now();
    let (hash, size) = match content {
        Some((hash, size)) => (Some(hash), size),
        None => (None, 0),
    };
    let linkable_id = current.linkable_id;
    // Deleting a file that was never published removes it outright: there is no
    // history to keep.
    if hash.is_none() && current.published_version_id.is_none() {
        tx.execute(
            "UPDATE linkable SET draft_version_id = NULL WHERE linkable_id = :id",
            named_params! {":id": linkable_id},
        )?;
        tx.execute(
            "DELETE FROM linkable WHERE linkable_id = :id",
            named_params! {":id": linkable_id},
        )?;
        return Ok(());
    }
    // Writing the published state back is no change at all: drop the draft.
    let mut tombstone_path = None;
    if let Some(published) = current.published_version_id {
        let (p_path, p_hash): (String, Option<String>) = tx
            .prepare_cached("SELECT path, hash FROM version WHERE version_id = :id")?
            .query_row(named_params! {":id": published}, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        // A deletion happens where the file was published: a file renamed in
        // the draft and then deleted is a deletion of its published path.
        if hash.is_none() {
            tombstone_path = Some(RelPath::existing(&p_path)?);
        }
        if p_path == path.as_str() && p_hash.as_deref() == hash {
            if let Some(draft) = current.draft_version_id {
                tx.execute(
                    "UPDATE linkable SET draft_version_id = NULL WHERE linkable_id = :id",
                    named_params! {":id": linkable_id},
                )?;
                tx.execute(
                    "DELETE FROM version WHERE version_id = :id",
                    named_params! {":id": draft},
                )?;
            }
            insert_revision(tx, linkable_id, path, hash, size, source, &at)?;
            return Ok(());
        }
    }
    let path = tombstone_path.as_ref().unwrap_or(path);
    let media_type = media_type(path);
    match current.draft_version_id {
        Some(draft) => {
            tx.prepare_cached(
                "UPDATE version SET path = :path, hash = :hash, size = :size, media_type = :media_type,
                    created_at = :at WHERE version_id = :id",
            )?
            .execute(named_params! {
                ":path": path.as_str(), ":hash": hash, ":size": size as i64,
                ":media_type": media_type, ":at": at, ":id": draft,
            })?;
        }
        None => {
            let draft: i64 = tx
                .prepare_cached(
                    "INSERT INTO version (uuid, linkable_id, collection_id, number, path, hash, size, media_type,
                        created_at, garbage_collect)
                     VALUES (:uuid, :linkable_id, :cid, NULL, :path, :hash, :size, :media_type, :at, :gc)
                     RETURNING version_id",
                )?
                .query_row(
                    named_params! {
                        ":uuid": uuid::Uuid::now_v7().to_string(),
                        ":linkable_id": linkable_id, ":cid": cid, ":path": path.as_str(), ":hash": hash,
                        ":size": size as i64, ":media_type": media_type, ":at": at, ":gc": current.garbage_collect,
                    },
                    |r| r.get(0),
                )?;
            tx.prepare_cached(
                "UPDATE linkable SET draft_version_id = :draft WHERE linkable_id = :id",
            )?
            .execute(named_params! {":draft": draft, ":id": linkable_id})?;
        }
    }
    insert_revision(tx, linkable_id, path, hash, size, source, &at)
}

fn insert_revision(
    tx: &Connection,
    linkable_id: i64,
    path: &RelPath,
    hash: Option<&str>,
    size: u64,
    source: Source,
    at: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO draft_revision (linkable_id, path, hash, size, source, created_at)
         VALUES (:id, :path, :hash, :size, :source, :at)",
    )?
    .execute(named_params! {
        ":id": linkable_id, ":path": path.as_str(), ":hash": hash, ":size": size as i64,
        ":source": source.as_str(), ":at": at,
    })?;
    Ok(())
}
