//! Garbage collection, the proposal's two cases done safely, then a blob sweep.
//!
//! 1. Versions older than the cutoff are deleted, never a draft, never a
//!    linkable's latest published version, never a version a retained collection
//!    version still needs. Collection versions older than the cutoff (except each
//!    collection's latest) stop being retained and are marked pruned.
//! 2. An asset no live unit links to any more is deleted in the draft (a
//!    tombstone, published with the next publish) when its `garbage_collect` flag
//!    is set.
//!
//! Then draft revisions older than the cutoff, link rows of contents nothing
//! uses, and blobs no row references (inline rows, then files) are removed. A dry run does all of it in a
//! transaction that is rolled back, and reports the same numbers.

use super::error::Result;
use super::events::Event;
use super::files::State;
use super::model::{At, LinkableKind, Source};
use super::path::RelPath;
use super::{format_time, now, NoProgress, Store};
use crate::store::db::sql::named_params;
use serde::Serialize;
use std::collections::HashSet;

/// What to collect.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Versions, collection versions and draft revisions created before this
    /// instant (RFC 3339, as [`crate::store::now`] writes) are old.
    pub cutoff: String,
    /// Report only; change nothing.
    pub dry_run: bool,
}

impl GcOptions {
    /// Collect what is older than `days` days.
    pub fn older_than_days(days: u64, dry_run: bool) -> GcOptions {
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(days as i64);
        GcOptions {
            cutoff: format_time(cutoff),
            dry_run,
        }
    }
}

/// What a GC freed (or, in a dry run, would free).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct GcReport {
    pub dry_run: bool,
    pub cutoff: String,
    pub versions_deleted: u64,
    pub collection_versions_pruned: u64,
    pub revisions_deleted: u64,
    /// Orphaned assets deleted in the draft, as `slug:path`.
    pub orphans_deleted: Vec<String>,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    pub stray_files_deleted: u64,
    /// Leftovers of killed dumps and restores removed (see fsck's `debris`),
    /// by path, and their bytes.
    pub debris_deleted: Vec<String>,
    pub debris_bytes_freed: u64,
}

impl Store {
    /// Runs GC (or its dry run).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let mut report = GcReport {
            dry_run: options.dry_run,
            cutoff: options.cutoff.clone(),
            ..GcReport::default()
        };
        // Everything under the exclusive lock: no writer can link an asset
        // between finding it orphaned and deleting it, nor add a blob the sweep
        // would take for garbage.
        self.lock.exclusive(|| {
            // Case 2 first, through the ordinary write path, so orphans become
            // draft tombstones exactly as a user's delete would.
            let orphans = self.collectable_orphans()?;
            if !options.dry_run {
                for (slug, path) in &orphans {
                    let path = RelPath::existing(path)?;
                    self.apply_locked(
                        slug,
                        None,
                        [],
                        0,
                        vec![path],
                        false,
                        Source::Gc,
                        &NoProgress,
                    )?;
                }
            }
            report.orphans_deleted = orphans
                .into_iter()
                .map(|(s, p)| format!("{s}:{p}"))
                .collect();
            self.gc_locked(options, &mut report)
        })?;
        // Killed dumps' and restores' leftovers: no lock needed, a running
        // one's are never taken for them (see `debris`).
        let leftovers = super::debris::of_store(&self.dir)?;
        for debris in leftovers.removable() {
            report
                .debris_deleted
                .push(debris.path.display().to_string());
            report.debris_bytes_freed += debris.bytes;
        }
        if !options.dry_run {
            leftovers.remove()?;
        }
        if !options.dry_run {
            self.events.emit(Event::GcFinished {
                versions_deleted: report.versions_deleted,
                blobs_deleted: report.blobs_deleted,
                bytes_freed: report.bytes_freed,
            });
        }
        Ok(report)
    }

    fn gc_locked(&self, options: &GcOptions, report: &mut GcReport) -> Result<()> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let at = now();
        report.collection_versions_pruned = tx.execute(
            "UPDATE collection_version SET pruned_at = :at
             WHERE pruned_at IS NULL AND created_at < :cutoff
               AND number < (SELECT max(number) FROM collection_version m
                             WHERE m.collection_id = collection_version.collection_id)
               AND number NOT IN (SELECT base_number FROM named_draft d
                                  WHERE d.collection_id = collection_version.collection_id
                                    AND base_number IS NOT NULL)",
            named_params! {":at": at, ":cutoff": options.cutoff},
        )? as u64;
        report.versions_deleted = tx.execute(
            "DELETE FROM version
             WHERE number IS NOT NULL AND created_at < :cutoff
               AND version_id NOT IN (SELECT published_version_id FROM linkable WHERE published_version_id IS NOT NULL)
               AND NOT EXISTS (
                 SELECT 1 FROM collection_version cv
                 WHERE cv.collection_id = version.collection_id AND cv.pruned_at IS NULL
                   AND cv.number >= version.published_in
                   AND (version.superseded_in IS NULL OR cv.number < version.superseded_in))",
            named_params! {":cutoff": options.cutoff},
        )? as u64;
        report.revisions_deleted = tx.execute(
            "DELETE FROM draft_revision WHERE created_at < :cutoff",
            named_params! {":cutoff": options.cutoff},
        )? as u64;
        tx.execute(
            "DELETE FROM content_scan WHERE hash NOT IN (SELECT hash FROM version WHERE hash IS NOT NULL)
               AND hash NOT IN (SELECT hash FROM named_draft_change WHERE hash IS NOT NULL)",
            [],
        )?;
        let referenced: HashSet<String> = referenced_hashes(&tx)?.into_iter().collect();
        // Inline blobs nothing references go with the rows, in this
        // transaction; blob files after it commits.
        let inline = super::blobs::inline_hashes(&tx)?;
        let inline_garbage: Vec<&(String, u64)> = inline
            .iter()
            .filter(|(hash, _)| !referenced.contains(hash))
            .collect();
        for (hash, _) in &inline_garbage {
            tx.execute(
                "DELETE FROM blob WHERE hash = :hash",
                named_params! {":hash": hash},
            )?;
        }
        let inline: HashSet<&String> = inline.iter().map(|(hash, _)| hash).collect();
        let listing = self.blobs.contents().list()?;
        // A file whose blob the index holds too (a move into the index killed
        // before it removed the file) is garbage as well.
        // An object younger than the grace period may be an upload whose
        // row is about to commit in another process: not judged yet.
        let recent: HashSet<&String> = listing.recent.iter().collect();
        let garbage: Vec<&(String, u64)> = listing
            .blobs
            .iter()
            .filter(|(hash, _)| {
                (!referenced.contains(hash) && !recent.contains(hash))
                    // The file copy goes only when the row is sound.
                    || (inline.contains(hash)
                        && super::blobs::read_inline(&tx, hash)
                            .ok()
                            .flatten()
                            .is_some_and(|bytes| super::hash_bytes(&bytes) == **hash))
            })
            .collect();
        report.blobs_deleted = (garbage.len() + inline_garbage.len()) as u64;
        report.bytes_freed = garbage
            .iter()
            .chain(&inline_garbage)
            .map(|(_, size)| size)
            .sum();
        report.stray_files_deleted = listing.stray.len() as u64;
        if options.dry_run {
            tx.rollback()?;
            return Ok(());
        }
        // A prefix shared with another store would lose that store's
        // contents to this sweep: check the mark first.
        if let Some(objects) = self.blobs.contents().objects() {
            objects.check_owner()?;
        }
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        // Rows are gone and committed; the blobs are unreferenced, and writers are
        // held off by the exclusive lock, so removing them cannot dangle a row.
        for (hash, _) in garbage {
            self.blobs.contents().remove(hash)?;
        }
        for stray in &listing.stray {
            self.blobs.contents().remove_stray(stray)?;
        }
        Ok(())
    }

    /// Removes blobs that a failed write (a refused archive import) stored
    /// before it failed, unless something references them by now. Under the
    /// exclusive lock, like gc's sweep: no writer can be about to reference one.
    pub fn discard_blobs(&self, hashes: &[String]) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        self.lock.exclusive(|| {
            let referenced: HashSet<String> =
                referenced_hashes(&self.conn())?.into_iter().collect();
            for hash in hashes {
                if !referenced.contains(hash) {
                    self.blobs.contents().remove(hash)?;
                }
            }
            Ok(())
        })
    }

    /// Assets of the draft state that nothing live links to and whose current
    /// version has `garbage_collect` set, as (slug, path).
    fn collectable_orphans(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for summary in self.collections()? {
            let slug = summary.collection.slug;
            let report = self.link_report(&slug, At::Draft)?;
            // DESIGN: an asset "that no current unit links to" — not merely one
            // unreachable from a root.
            let orphans: HashSet<&str> = report.unlinked.iter().map(String::as_str).collect();
            let flagged = {
                let conn = self.conn();
                let (cid, _) = Store::find_collection(&conn, &slug)?;
                super::files::tree(&conn, cid, State::Draft)?
            };
            for file in flagged {
                if file.kind == LinkableKind::Asset
                    && file.garbage_collect
                    && orphans.contains(file.path.as_str())
                {
                    out.push((slug.clone(), file.path));
                }
            }
        }
        Ok(out)
    }
}

/// Every blob hash the index references, sorted: each version's (drafts
/// included), each draft revision's and each named draft's staged change's.
/// What gc keeps, fsck verifies, a dump carries and a failed import may not
/// discard.
pub(crate) fn referenced_hashes(conn: &crate::store::db::sql::Connection) -> Result<Vec<String>> {
    // A dump's index is checked before it is migrated: one older than named
    // drafts (schema 7) has no staged changes to name.
    let named: bool = match conn.sqlite() {
        Some(sqlite) => sqlite.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'named_draft_change'",
            [],
            |r| r.get(0),
        )?,
        // PostgreSQL's schema starts where SQLite's named drafts are.
        None => true,
    };
    let sql = if named {
        "SELECT hash FROM version WHERE hash IS NOT NULL
         UNION SELECT hash FROM draft_revision WHERE hash IS NOT NULL
         UNION SELECT hash FROM named_draft_change WHERE hash IS NOT NULL ORDER BY 1"
    } else {
        "SELECT hash FROM version WHERE hash IS NOT NULL
         UNION SELECT hash FROM draft_revision WHERE hash IS NOT NULL ORDER BY 1"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<crate::store::db::sql::Result<_>>()?)
}
