//! Link scans: the links and problems of each content, extracted once per
//! (content hash, syntax) and kept in `content_scan`/`link`, and the rescan
//! of every content when the extraction rules change.

use super::error::Result;
use super::files::classify;
use super::links::{self, Extracted, Syntax, Target};
use super::path::RelPath;
use crate::store::db::sql::{named_params, Connection, Engine, ToSql, Value};
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
    let tx =
        conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
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
        .collect::<crate::store::db::sql::Result<_>>()?;
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
            "INSERT INTO content_scan (hash, syntax, problems, blocks, block_type, display_name)
             VALUES (:hash, :syntax, :problems, :blocks, :block_type, :display_name)
             ON CONFLICT DO NOTHING",
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
    if tx.engine() == Engine::Postgres {
        return insert_links_postgres(tx, hash, syntax, &extracted.links);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO link (hash, syntax, ordinal, kind, target, written, line, target_path, target_key)
         VALUES (:hash, :syntax, :ordinal, :kind, :target, :written, :line, :target_path, :target_key)",
    )?;
    for (ordinal, link) in extracted.links.iter().enumerate() {
        let (target_path, target_key) = lookup_keys(&link.target);
        stmt.execute(named_params! {
            ":hash": hash,
            ":syntax": syntax.as_str(),
            ":ordinal": ordinal as i64,
            ":kind": link.kind.as_str(),
            ":target": stored_json(&link.target)?,
            ":written": link.written,
            ":line": link.line,
            ":target_path": target_path,
            ":target_key": target_key,
        })?;
    }
    Ok(())
}

/// How many links one statement inserts on PostgreSQL: each statement is a
/// round trip, and each row count a statement prepared once per connection.
const LINKS_PER_STATEMENT: usize = 16;

/// The links of one content on PostgreSQL, [`LINKS_PER_STATEMENT`] rows per
/// statement (SQLite, in the process, takes them one by one at no cost).
fn insert_links_postgres(
    tx: &Connection,
    hash: &str,
    syntax: Syntax,
    links: &[links::RawLink],
) -> Result<()> {
    const COLUMNS: usize = 7;
    for (chunk_no, chunk) in links.chunks(LINKS_PER_STATEMENT).enumerate() {
        let mut sql = String::from(
            "INSERT INTO link (hash, syntax, ordinal, kind, target, written, line, target_path, target_key) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(2 + chunk.len() * COLUMNS);
        values.push(Value::Text(hash.into()));
        values.push(Value::Text(syntax.as_str().into()));
        for (i, link) in chunk.iter().enumerate() {
            let (target_path, target_key) = lookup_keys(&link.target);
            let first = 3 + i * COLUMNS;
            let row: Vec<String> = (first..first + COLUMNS).map(|n| format!("?{n}")).collect();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(?1, ?2, {})", row.join(", ")));
            let text = |t: Option<String>| t.map_or(Value::Null, |t| Value::Text(t.into_bytes()));
            values.extend([
                Value::Integer((chunk_no * LINKS_PER_STATEMENT + i) as i64),
                Value::Text(link.kind.as_str().into()),
                Value::Text(stored_json(&link.target)?.into_bytes()),
                Value::Text(link.written.clone().into_bytes()),
                Value::Integer(link.line.into()),
                text(target_path),
                text(target_key),
            ]);
        }
        let names: Vec<String> = (1..=values.len()).map(|n| n.to_string()).collect();
        let params: Vec<(&str, &dyn ToSql)> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.as_str(), v as &dyn ToSql))
            .collect();
        tx.prepare_cached(&sql)?.execute(params.as_slice())?;
    }
    Ok(())
}

/// A link's target as the `link` table's `target` column holds it: empty
/// for a one-path target (most links: its path is the row's `target_path`,
/// so the JSON would only repeat it), JSON for any other. Rows written
/// before hold JSON for every target; [`stored_target`] reads both.
fn stored_json(target: &Target) -> Result<String> {
    Ok(match target {
        Target::Path { .. } => String::new(),
        other => serde_json::to_string(other)?,
    })
}

/// A link's target from its `target` and `target_path` columns (see
/// `stored_json`).
pub(crate) fn stored_target(json: &str, target_path: Option<&str>) -> Result<Target> {
    match (json, target_path) {
        ("", Some(path)) => Ok(Target::Path {
            path: path.to_owned(),
        }),
        ("", None) => Err(super::error::Error::Invalid(
            "a link row with neither a target nor a target path".into(),
        )),
        (json, _) => Ok(serde_json::from_str(json)?),
    }
}

/// A link's uuid, made from what identifies the link: the first 10 bytes of
/// its content's hash, the syntax the content was read as, and its ordinal
/// in the content, as a version 8 UUID (RFC 9562: the layout is ours). It is
/// the same in every store and after every rescan, and [`parse_link_uuid`]
/// takes it back apart, so the `link` table needs no uuid column or index.
///
/// ```text
/// bytes 0-5  hash 0-5   6  version 8 | syntax   7  hash 6
///       8    variant    9-11  hash 7-9          12-15  ordinal (big-endian)
/// ```
pub(crate) fn link_uuid(hash: &str, syntax: &str, ordinal: i64) -> String {
    let mut h = [0u8; 10];
    for (i, byte) in h.iter_mut().enumerate() {
        *byte = hash
            .get(2 * i..2 * i + 2)
            .and_then(|x| u8::from_str_radix(x, 16).ok())
            .unwrap_or(0);
    }
    let code = match syntax {
        "xml" => 0,
        "html" => 1,
        _ => 2,
    };
    let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX).to_be_bytes();
    let bytes = [
        h[0], h[1], h[2], h[3], h[4], h[5], code, h[6], 0, h[7], h[8], h[9], ordinal[0],
        ordinal[1], ordinal[2], ordinal[3],
    ];
    uuid::Uuid::new_v8(bytes).to_string()
}

/// What [`link_uuid`] made a uuid from: the hash's first 20 hex digits, the
/// syntax and the ordinal; `None` for any other uuid.
pub(crate) fn parse_link_uuid(text: &str) -> Option<(String, Syntax, i64)> {
    let uuid = uuid::Uuid::parse_str(text).ok()?;
    if uuid.get_version_num() != 8 {
        return None;
    }
    let b = uuid.as_bytes();
    let syntax = match b[6] & 0x0f {
        0 => Syntax::Xml,
        1 => Syntax::Html,
        2 => Syntax::Json,
        _ => return None,
    };
    if b[8] & 0x3f != 0 {
        return None;
    }
    let prefix: String = [b[0], b[1], b[2], b[3], b[4], b[5], b[7], b[9], b[10], b[11]]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    let ordinal = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
    Some((prefix, syntax, i64::from(ordinal)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_path_target_is_stored_as_its_path_and_others_as_json_and_both_read_back() {
        let path = Target::Path {
            path: "static/a \"b\".png".into(),
        };
        let (target_path, _) = lookup_keys(&path);
        assert_eq!(stored_json(&path).unwrap(), "");
        assert_eq!(
            stored_target("", target_path.as_deref()).unwrap(),
            path,
            "read back from its target_path"
        );
        // A row written before keeps its JSON, and reads the same.
        let json = serde_json::to_string(&path).unwrap();
        assert_eq!(stored_target(&json, target_path.as_deref()).unwrap(), path);
        for other in [
            Target::AnyOf {
                paths: vec!["a.xml".into(), "b.xml".into()],
            },
            Target::UrlName {
                url_name: "x".into(),
            },
        ] {
            let stored = stored_json(&other).unwrap();
            assert!(!stored.is_empty());
            let (target_path, _) = lookup_keys(&other);
            assert_eq!(
                stored_target(&stored, target_path.as_deref()).unwrap(),
                other
            );
        }
        assert!(stored_target("", None).is_err(), "nothing to read");
    }

    #[test]
    fn a_link_uuid_is_made_from_its_content_syntax_and_ordinal_and_taken_apart_again() {
        let hash = "cbabc621b2468284d94ffb67e2a52468c2f1d478";
        let uuid = link_uuid(hash, "html", 70_000);
        assert_eq!(uuid, link_uuid(hash, "html", 70_000), "the same every time");
        let parsed = uuid::Uuid::parse_str(&uuid).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(
            parse_link_uuid(&uuid),
            Some(("cbabc621b2468284d94f".to_string(), Syntax::Html, 70_000))
        );
        for other in [
            link_uuid(hash, "xml", 70_000),
            link_uuid(hash, "html", 69_999),
            link_uuid("cbabc621b2468284d94e00000000000000000000", "html", 70_000),
        ] {
            assert_ne!(other, uuid, "each part counts");
        }
        assert_eq!(
            parse_link_uuid(&link_uuid(hash, "json", 0)).map(|p| p.1),
            Some(Syntax::Json)
        );
        // A random uuid (as the previous release gave links) is not one.
        assert_eq!(parse_link_uuid(&uuid::Uuid::now_v7().to_string()), None);
        assert_eq!(parse_link_uuid("not-a-uuid"), None);
    }
}
