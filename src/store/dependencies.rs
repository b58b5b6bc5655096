//! Dependencies: named links from a collection version to a version of
//! another collection — what Blockstore v1 called links between bundles
//! (a course using a library). Each records its target (`direct`) and,
//! flattened, de-duplicated and sorted, everything the target depends on
//! (`indirect`), so a reader needs no walk.
//!
//! A collection version keeps its dependencies (a native publish carries the
//! latest version's forward; a named draft's commit applies its staged
//! changes to its base's). Cycles are refused when a change is staged: a
//! target that is the collection itself, or depends on it.
//!
//! A version's snapshot digest lives here too: v1 clients see it as the
//! version's `hash_digest` and as each dependency's `snapshot_digest`.

use super::error::{Error, Result};
use super::files::{contents, State};
use super::model::Content;
use super::Store;
use crate::store::db::sql::{named_params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A collection version a dependency names.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct DependencyRef {
    /// The collection's uuid.
    pub collection: String,
    /// The version as it was given (0: the latest at the time it was set,
    /// kept as 0, as Blockstore did).
    pub version: i64,
    /// The snapshot digest of the version it resolved to.
    pub snapshot_digest: String,
}

/// A named dependency of a collection version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dependency {
    pub name: String,
    pub direct: DependencyRef,
    /// Everything `direct` depends on, flattened and sorted.
    pub indirect: Vec<DependencyRef>,
}

/// The stored value of a dependency (its name is the row's key).
#[derive(Serialize, Deserialize)]
struct Stored {
    direct: DependencyRef,
    indirect: Vec<DependencyRef>,
}

fn encode(d: &Dependency) -> Result<String> {
    Ok(serde_json::to_string(&Stored {
        direct: d.direct.clone(),
        indirect: d.indirect.clone(),
    })?)
}

fn decode(name: String, json: &str) -> Result<Dependency> {
    let stored: Stored = serde_json::from_str(json)?;
    Ok(Dependency {
        name,
        direct: stored.direct,
        indirect: stored.indirect,
    })
}

/// The dependencies of collection version `number` of collection `cid`, by
/// name.
pub(crate) fn of_version(conn: &Connection, cid: i64, number: i64) -> Result<Vec<Dependency>> {
    let rows = conn
        .prepare_cached(
            "SELECT d.name, d.dependency FROM collection_version_dependency d
             JOIN collection_version cv ON cv.collection_version_id = d.collection_version_id
             WHERE cv.collection_id = :cid AND cv.number = :n ORDER BY d.name",
        )?
        .query_map(named_params! {":cid": cid, ":n": number}, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(name, json)| decode(name, &json))
        .collect()
}

/// Records `dependencies` as those of collection version row `cv_id`.
pub(crate) fn record(conn: &Connection, cv_id: i64, dependencies: &[Dependency]) -> Result<()> {
    for d in dependencies {
        conn.prepare_cached(
            "INSERT INTO collection_version_dependency (collection_version_id, name, dependency)
             VALUES (:cv, :name, :dependency)",
        )?
        .execute(named_params! {":cv": cv_id, ":name": d.name, ":dependency": encode(d)?})?;
    }
    Ok(())
}

/// A new version carries its predecessor's dependencies (a native publish
/// does not change them).
pub(crate) fn carry_forward(conn: &Connection, cid: i64, from: i64, cv_id: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO collection_version_dependency (collection_version_id, name, dependency)
         SELECT :cv, d.name, d.dependency FROM collection_version_dependency d
         JOIN collection_version cv ON cv.collection_version_id = d.collection_version_id
         WHERE cv.collection_id = :cid AND cv.number = :from",
    )?
    .execute(named_params! {":cv": cv_id, ":cid": cid, ":from": from})?;
    Ok(())
}

/// The staged dependency changes of named draft row `draft_id`: name → new
/// value, or None for a deletion.
pub(crate) fn staged(
    conn: &Connection,
    draft_id: i64,
) -> Result<BTreeMap<String, Option<Dependency>>> {
    let rows = conn
        .prepare_cached(
            "SELECT name, dependency FROM named_draft_dependency WHERE named_draft_id = :id",
        )?
        .query_map(named_params! {":id": draft_id}, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?
        .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(name, json)| {
            let value = json.map(|j| decode(name.clone(), &j)).transpose()?;
            Ok((name, value))
        })
        .collect()
}

/// A base's dependencies with staged changes applied, by name, each with
/// whether it is staged (`modified`).
pub(crate) fn composed(
    base: Vec<Dependency>,
    staged: &BTreeMap<String, Option<Dependency>>,
) -> Vec<(Dependency, bool)> {
    let mut all: BTreeMap<String, (Dependency, bool)> = base
        .into_iter()
        .map(|d| (d.name.clone(), (d, false)))
        .collect();
    for (name, change) in staged {
        match change {
            Some(d) => {
                all.insert(name.clone(), (d.clone(), true));
            }
            None => {
                all.remove(name);
            }
        }
    }
    all.into_values().collect()
}

/// A version's snapshot digest: BLAKE2b-160 of the compact JSON of
/// `[collection uuid, created_at, [[path, [false, size, hash]], …],
/// [dependency names]]` — Blockstore's recipe over what we store. Clients
/// treat it as opaque; it is stable for a version.
pub fn snapshot_digest(
    collection: &str,
    created_at: &str,
    files: &[Content],
    dependencies: &[String],
) -> String {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::json!([f.path, [false, f.size, f.hash]]))
        .collect();
    let doc = serde_json::json!([collection, created_at, files, dependencies]);
    super::hash_bytes(doc.to_string().as_bytes())
}

/// The snapshot digest of version `number` of collection `cid` (uuid
/// `uuid`).
pub(crate) fn digest_of(conn: &Connection, cid: i64, uuid: &str, number: i64) -> Result<String> {
    let created_at: String = conn
        .prepare_cached(
            "SELECT created_at FROM collection_version WHERE collection_id = :cid AND number = :n",
        )?
        .query_row(named_params! {":cid": cid, ":n": number}, |r| r.get(0))?;
    let files = contents(conn, cid, State::Version(number))?;
    let names: Vec<String> = of_version(conn, cid, number)?
        .into_iter()
        .map(|d| d.name)
        .collect();
    Ok(snapshot_digest(uuid, &created_at, &files, &names))
}

/// Resolves a dependency named `name` on version `version` (0: the latest)
/// of the collection with uuid `target`, for collection `own` (a uuid).
/// Refused, with the message a v1 client expects, when the version does not
/// exist or the dependency would make a cycle.
pub(crate) fn resolve(
    conn: &Connection,
    own: &str,
    name: &str,
    target: &str,
    version: i64,
) -> Result<Dependency> {
    let missing = || {
        Error::Invalid(format!(
            "BundleVersion ({target}, {version}) referenced in Link {name} does not exist."
        ))
    };
    let found: Option<(i64, String)> = conn
        .query_row(
            "SELECT collection_id, uuid FROM collection WHERE uuid = :uuid",
            named_params! {":uuid": target},
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((tid, tuuid)) = found else {
        return Err(missing());
    };
    let number: Option<i64> = if version == 0 {
        conn.query_row(
            "SELECT max(number) FROM collection_version WHERE collection_id = :cid",
            named_params! {":cid": tid},
            |r| r.get(0),
        )?
    } else {
        conn.query_row(
            "SELECT number FROM collection_version WHERE collection_id = :cid AND number = :n",
            named_params! {":cid": tid, ":n": version},
            |r| r.get(0),
        )
        .optional()?
    };
    let Some(number) = number.filter(|n| *n >= 1) else {
        return Err(missing());
    };
    let mut indirect: Vec<DependencyRef> = Vec::new();
    for d in of_version(conn, tid, number)? {
        indirect.push(d.direct);
        indirect.extend(d.indirect);
    }
    indirect.sort();
    indirect.dedup();
    // A dependency on itself is a cycle too (Blockstore let a direct
    // self-link through by comparing an object with a uuid).
    if tuuid == own || indirect.iter().any(|d| d.collection == own) {
        return Err(Error::Invalid(
            "Link cycle detected: Cannot create draft.".into(),
        ));
    }
    Ok(Dependency {
        name: name.to_string(),
        direct: DependencyRef {
            collection: tuuid.clone(),
            version,
            snapshot_digest: digest_of(conn, tid, &tuuid, number)?,
        },
        indirect,
    })
}

/// Stages dependency changes in named draft row `draft_id` (of collection
/// `own`, based on `base`): a value equal to the base's (same target and
/// version) is no change, a deletion of a name the base lacks only drops
/// what was staged. Checked whole before anything is written.
pub(crate) fn stage(
    conn: &Connection,
    draft_id: i64,
    own: (i64, &str),
    base: Option<i64>,
    changes: &[(String, Option<(String, i64)>)],
) -> Result<()> {
    let base: BTreeMap<String, Dependency> = match base {
        Some(n) => of_version(conn, own.0, n)?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut resolved = Vec::with_capacity(changes.len());
    for (name, change) in changes {
        let value = match change {
            Some((target, version)) => Some(resolve(conn, own.1, name, target, *version)?),
            None => None,
        };
        resolved.push((name, value));
    }
    for (name, value) in resolved {
        let in_base = base.get(name.as_str());
        let staged: Option<Option<String>> = match (&value, in_base) {
            (Some(d), Some(b))
                if b.direct.collection == d.direct.collection
                    && b.direct.version == d.direct.version =>
            {
                None
            }
            (Some(d), _) => Some(Some(encode(d)?)),
            (None, Some(_)) => Some(None),
            (None, None) => None,
        };
        conn.prepare_cached(
            "DELETE FROM named_draft_dependency WHERE named_draft_id = :id AND name = :name",
        )?
        .execute(named_params! {":id": draft_id, ":name": name})?;
        if let Some(json) = staged {
            conn.prepare_cached(
                "INSERT INTO named_draft_dependency (named_draft_id, name, dependency)
                 VALUES (:id, :name, :dependency)",
            )?
            .execute(named_params! {":id": draft_id, ":name": name, ":dependency": json})?;
        }
    }
    Ok(())
}

impl Store {
    /// The dependencies of a collection version, by name.
    pub fn dependencies(&self, key: &str, number: i64) -> Result<Vec<Dependency>> {
        let conn = self.reader()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        let exists: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM collection_version WHERE collection_id = :cid AND number = :n",
                named_params! {":cid": cid, ":n": number},
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(Error::VersionNotFound {
                collection: collection.slug,
                number,
            });
        }
        of_version(&conn, cid, number)
    }

    /// A collection version's snapshot digest.
    pub fn snapshot_digest(&self, key: &str, number: i64) -> Result<String> {
        let conn = self.reader()?;
        let _snapshot = conn.unchecked_transaction()?;
        let (cid, collection) = Store::find_collection(&conn, key)?;
        digest_of(&conn, cid, &collection.uuid, number).map_err(|e| match e {
            Error::Sqlite(rusqlite::Error::QueryReturnedNoRows) => Error::VersionNotFound {
                collection: collection.slug,
                number,
            },
            other => other,
        })
    }
}
