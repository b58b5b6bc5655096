//! `fsck`: checks that the index and the blob store agree and that every row
//! obeys the model's invariants. It only reads; repairs are `gc`'s (garbage) or
//! a human's (anything else), so a report says which is which.

use super::error::Result;
use super::Store;
use crate::store::db::sql::Connection;
use serde::Serialize;
use std::collections::HashSet;

/// One problem fsck found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsckProblem {
    /// A short stable code: `sqlite`, `missing_blob`, `corrupt_blob`,
    /// `draft_pointer`, `published_pointer`, `stray_draft`, `duplicate_path`,
    /// `version_numbers`, `missing_scan`, `invalid_path`, `long_name`.
    pub code: &'static str,
    pub message: String,
}

/// What fsck checked and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    pub collections: u64,
    pub versions: u64,
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    /// Blobs no row references: harmless, `gc` removes them.
    pub unreferenced_blobs: u64,
    /// Leftover temp files: harmless, `gc` removes them.
    pub stray_files: u64,
    /// What killed dumps and restores left (partial archives, staging
    /// stores): harmless, `gc` removes them (except `restore_aside`).
    pub debris: Vec<super::Debris>,
    /// Copies in the local cache of an object store's contents that did not
    /// hash to their names: removed (the bucket holds the bytes).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_copies_removed: u64,
    pub problems: Vec<FsckProblem>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Checks the whole store. Every referenced blob is re-hashed.
    pub fn fsck(&self, progress: &dyn super::Progress) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let referenced: Vec<String> = {
            let conn = self.conn();
            check_rows(&conn, &mut report)?;
            super::gc::referenced_hashes(&conn)?
        };
        progress.phase("verifying blobs", Some(referenced.len() as u64));
        for hash in &referenced {
            if progress.interrupted() {
                return Err(super::Error::Interrupted);
            }
            progress.advance(1);
            report.blobs_checked += 1;
            match self.blobs.rehash(hash) {
                Ok((actual, size)) if actual == *hash => report.bytes_checked += size,
                Ok((actual, _)) => report.problems.push(FsckProblem {
                    code: "corrupt_blob",
                    message: format!("blob {hash} hashes to {actual}"),
                }),
                Err(super::Error::CorruptBlob { actual, .. }) => {
                    report.problems.push(FsckProblem {
                        code: "corrupt_blob",
                        message: format!("blob {hash} hashes to {actual}"),
                    })
                }
                Err(super::Error::MissingBlob(_)) => report.problems.push(FsckProblem {
                    code: "missing_blob",
                    message: format!("blob {hash} is referenced but missing"),
                }),
                Err(e) => return Err(e),
            }
        }
        let inline = super::blobs::inline_hashes(&self.conn())?;
        let listing = self.blobs.contents().list()?;
        let referenced: HashSet<&String> = referenced.iter().collect();
        let inlined: HashSet<&String> = inline.iter().map(|(hash, _)| hash).collect();
        // Unreferenced: rows and files nothing references, and files whose
        // blob the index holds too (what a killed move leaves); gc removes both.
        report.unreferenced_blobs = inline
            .iter()
            .chain(&listing.blobs)
            .filter(|(hash, _)| !referenced.contains(hash))
            .count() as u64
            + listing
                .blobs
                .iter()
                .filter(|(hash, _)| referenced.contains(hash) && inlined.contains(hash))
                .count() as u64;
        report.stray_files = listing.stray.len() as u64;
        report.debris = super::debris::of_store(&self.dir)?.debris;
        if let Some(objects) = self.blobs.contents().objects() {
            report.cache_copies_removed = objects.check_cache();
        }
        Ok(report)
    }
}

/// SQLite's own checks of its file: pages and indexes, and foreign keys.
fn check_sqlite(
    conn: &rusqlite::Connection,
    problem: &mut impl FnMut(&'static str, String),
) -> Result<()> {
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        problem("sqlite", format!("integrity_check: {integrity}"));
    }
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let violations = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} row {:?} -> {}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for v in violations {
        problem("sqlite", format!("foreign key violation: {v}"));
    }
    Ok(())
}

fn check_rows(conn: &Connection, report: &mut FsckReport) -> Result<()> {
    let mut problem =
        |code: &'static str, message: String| report.problems.push(FsckProblem { code, message });
    // PostgreSQL checks its pages and keys itself (it refuses a commit that
    // breaks a key); SQLite's file is checked here.
    if let Some(sqlite) = conn.sqlite() {
        check_sqlite(sqlite, &mut problem)?;
    }
    let checks: &[(&'static str, &str, &str)] = &[

        (
            "draft_pointer",
            "a linkable's draft must be its own unnumbered version",
            "SELECT l.uuid FROM linkable l LEFT JOIN version v ON v.version_id = l.draft_version_id
             WHERE l.draft_version_id IS NOT NULL
               AND (v.version_id IS NULL OR v.number IS NOT NULL OR v.linkable_id != l.linkable_id)",
        ),
        (
            "published_pointer",
            "a linkable's published version must be its own highest numbered version",
            "SELECT l.uuid FROM linkable l LEFT JOIN version v ON v.version_id = l.published_version_id
             WHERE (l.published_version_id IS NOT NULL
                    AND (v.version_id IS NULL OR v.number IS NULL OR v.linkable_id != l.linkable_id
                         OR v.number != l.last_number OR v.superseded_in IS NOT NULL))
                OR (l.published_version_id IS NULL AND l.draft_version_id IS NULL)",
        ),
        (
            "stray_draft",
            "an unnumbered version that is not its linkable's draft (a half-done publish)",
            "SELECT v.path FROM version v JOIN linkable l ON l.linkable_id = v.linkable_id
             WHERE v.number IS NULL AND (l.draft_version_id IS NULL OR l.draft_version_id != v.version_id)",
        ),
        (
            "version_numbers",
            "a published version must belong to an existing collection version",
            "SELECT v.path FROM version v WHERE v.number IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM collection_version cv WHERE cv.collection_id = v.collection_id AND cv.number = v.published_in)",
        ),
        (
            "duplicate_path",
            "two live files of a draft share a path",
            "SELECT v.path FROM linkable l JOIN version v
               ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
             WHERE v.hash IS NOT NULL GROUP BY v.collection_id, v.path HAVING count(*) > 1",
        ),
    ];
    for (code, what, sql) in checks {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        for row in rows {
            problem(code, format!("{what}: {row}"));
        }
    }
    // Every unit version's content was scanned for links in the syntax its
    // path is read in (the classification is code, not SQL).
    let mut stmt = conn.prepare(
        "SELECT DISTINCT v.path, v.hash,
                EXISTS (SELECT 1 FROM content_scan s WHERE s.hash = v.hash AND s.syntax = 'xml'),
                EXISTS (SELECT 1 FROM content_scan s WHERE s.hash = v.hash AND s.syntax = 'html'),
                EXISTS (SELECT 1 FROM content_scan s WHERE s.hash = v.hash AND s.syntax = 'json')
         FROM version v WHERE v.hash IS NOT NULL",
    )?;
    let mut rows = stmt.query([])?;
    let mut long_names = HashSet::new();
    while let Some(row) = rows.next()? {
        let path: String = row.get(0)?;
        let (xml, html, json): (bool, bool, bool) = (row.get(2)?, row.get(3)?, row.get(4)?);
        let Ok(rel) = super::path::RelPath::existing(&path) else {
            problem(
                "invalid_path",
                format!("a stored path is not valid: {path:?}"),
            );
            continue;
        };
        // Accepted before names were limited: readable, but `export` cannot
        // write it back.
        if super::path::RelPath::new(&path).is_err() && long_names.insert(path.clone()) {
            problem(
                "long_name",
                format!(
                    "a stored path has a name over {} bytes, which export cannot write \
                     (rename it, or delete it and publish): {path}",
                    super::path::MAX_NAME_BYTES
                ),
            );
        }
        let scanned = match super::files::classify(&rel).syntax {
            Some(super::links::Syntax::Xml) => xml,
            Some(super::links::Syntax::Html) => html,
            Some(super::links::Syntax::Json) => json,
            None => true,
        };
        if !scanned {
            problem(
                "missing_scan",
                format!("a unit version's content has no link scan: {path}"),
            );
        }
    }
    drop(rows);
    drop(stmt);
    // Two files of one collection version sharing a path: the live ranges
    // [published_in, superseded_in) of a path's versions must not overlap. One
    // ordered scan, linear in the number of versions.
    let mut stmt = conn.prepare(
        "SELECT collection_id, path, published_in, superseded_in FROM version
         WHERE hash IS NOT NULL AND published_in IS NOT NULL
         ORDER BY collection_id, path, published_in",
    )?;
    let mut rows = stmt.query([])?;
    let mut previous: Option<(i64, String, i64)> = None; // collection, path, live until
    while let Some(row) = rows.next()? {
        let (collection, path, from, until): (i64, String, i64, Option<i64>) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let until = until.unwrap_or(i64::MAX);
        if let Some((pc, pp, p_until)) = &previous {
            if *pc == collection && *pp == path && from < *p_until {
                problem(
                    "duplicate_path",
                    format!("two files of collection version {from} share a path: {path}"),
                );
            }
        }
        let keep_until = match &previous {
            Some((pc, pp, p_until)) if *pc == collection && *pp == path => until.max(*p_until),
            _ => until,
        };
        previous = Some((collection, path, keep_until));
    }
    drop(rows);
    drop(stmt);
    let mut stmt = conn.prepare(
        "SELECT c.slug, count(*), max(cv.number) FROM collection c JOIN collection_version cv USING (collection_id)
         GROUP BY c.collection_id HAVING count(*) != max(cv.number)",
    )?;
    let gaps = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    for slug in gaps {
        problem(
            "version_numbers",
            format!("{slug}: collection version numbers have a gap"),
        );
    }
    report.collections = conn.query_row("SELECT count(*) FROM collection", [], |r| r.get(0))?;
    report.versions = conn.query_row("SELECT count(*) FROM version", [], |r| r.get(0))?;
    Ok(())
}
