//! Link scans: the links and problems of each content, extracted once per
//! (content hash, syntax) and kept in `content_scan`/`link`, and the rescan
//! of every content when the extraction rules change.

use super::error::Result;
use super::files::classify;
use super::links::{self, Extracted, Syntax, Target};
use super::path::RelPath;
use rusqlite::{named_params, Connection};
use std::collections::HashSet;

/// Extracts every stored content's links again when they were made by older
/// rules than [`links::RULES_VERSION`] (a store written by a previous release,
/// or restored from its dump). One transaction: killed half-way, it is rolled
/// back and done again at the next open. A content whose blob cannot be read
/// is left unscanned, which `fsck` reports.
pub(crate) fn rescan_links(conn: &mut Connection, blobs: &super::BlobStore) -> Result<()> {
    let current: i64 = conn.query_row("SELECT max(version) FROM link_rules", [], |r| r.get(0))?;
    if current >= links::RULES_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Re-read under the lock: another process may have done it meanwhile.
    let current: i64 = tx.query_row("SELECT max(version) FROM link_rules", [], |r| r.get(0))?;
    if current >= links::RULES_VERSION {
        return Ok(());
    }
    tx.execute("DELETE FROM link", [])?;
    tx.execute("DELETE FROM content_scan", [])?;
    let contents: Vec<(String, String)> = tx
        .prepare("SELECT DISTINCT path, hash FROM version WHERE hash IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut done: HashSet<(String, Syntax)> = HashSet::new();
    for (path, hash) in contents {
        let Ok(rel) = RelPath::existing(&path) else {
            continue;
        };
        let Some(syntax) = classify(&rel).syntax else {
            continue;
        };
        if !done.insert((hash.clone(), syntax)) {
            continue;
        }
        let Ok(bytes) = blobs.read(&hash, false) else {
            continue;
        };
        insert_scan(&tx, &hash, syntax, &links::extract(&path, &bytes, syntax))?;
    }
    tx.execute(
        "UPDATE link_rules SET version = :v",
        named_params! {":v": links::RULES_VERSION},
    )?;
    tx.commit()?;
    Ok(())
}

/// Records the links and problems of one content, once per (hash, syntax).
pub(crate) fn insert_scan(
    tx: &Connection,
    hash: &str,
    syntax: Syntax,
    extracted: &Extracted,
) -> Result<()> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO content_scan (hash, syntax, problems, blocks, block_type, display_name)
             VALUES (:hash, :syntax, :problems, :blocks, :block_type, :display_name)",
        )?
        .execute(named_params! {
            ":hash": hash,
            ":syntax": syntax.as_str(),
            ":problems": serde_json::to_string(&extracted.problems)?,
            ":blocks": serde_json::to_string(&extracted.blocks)?,
            ":block_type": extracted.root.as_ref().map(|r| r.block_type.as_str()),
            ":display_name": extracted.root.as_ref().and_then(|r| r.display_name.as_deref()),
        })?;
    if inserted == 0 {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO link (uuid, hash, syntax, ordinal, kind, target, written, line, target_path, target_key)
         VALUES (:uuid, :hash, :syntax, :ordinal, :kind, :target, :written, :line, :target_path, :target_key)",
    )?;
    for (ordinal, link) in extracted.links.iter().enumerate() {
        let (target_path, target_key) = lookup_keys(&link.target);
        stmt.execute(named_params! {
            ":uuid": uuid::Uuid::now_v7().to_string(),
            ":hash": hash,
            ":syntax": syntax.as_str(),
            ":ordinal": ordinal as i64,
            ":kind": link.kind.as_str(),
            ":target": serde_json::to_string(&link.target)?,
            ":written": link.written,
            ":line": link.line,
            ":target_path": target_path,
            ":target_key": target_key,
        })?;
    }
    Ok(())
}

/// The indexed keys a link is found by when looking for incoming links: the
/// path it names (its first candidate), and a typed secondary key (`name:` the
/// file name all candidates share, `static:` an asset-name key, `url:` a
/// url_name, `path:` a second path, `library:`, `collection:`).
pub(crate) fn lookup_keys(target: &Target) -> (Option<String>, Option<String>) {
    let name_of = |p: &str| format!("name:{}", p.rsplit('/').next().unwrap_or(p));
    match target {
        Target::Path { path } => (Some(path.clone()), None),
        Target::AnyOf { paths } => (paths.first().cloned(), paths.first().map(|p| name_of(p))),
        Target::Body { filename, .. } => (
            None,
            Some(format!("name:{}", links::bodies::last_name(filename))),
        ),
        Target::Static { name } | Target::CourseAsset { name, .. } => (
            Some(format!("static/{name}")),
            Some(format!("static:{}", links::asset_name_key(name))),
        ),
        Target::UrlName { url_name } => (None, Some(format!("url:{url_name}"))),
        Target::Courseware {
            chapter,
            sequential,
        } => {
            let paths = links::jumps::courseware_paths(chapter, sequential.as_deref());
            (
                paths.last().cloned(),
                paths.first().map(|p| format!("path:{p}")),
            )
        }
        Target::Block {
            block_type,
            url_name,
        } => (
            Some(links::pointers::pointer_path(block_type, url_name)),
            None,
        ),
        Target::Library { org, library } => (None, Some(format!("library:{org}+{library}"))),
        Target::Collection { collection, .. } => (None, Some(format!("collection:{collection}"))),
        Target::Url { .. } => (None, None),
    }
}
