//! Draft revisions: every save to a draft is kept (`draft_revision`, written
//! by `files`), as an editor's local history keeps them, until gc's cutoff.
//! Here they are read back, compared with each other or with the draft, and
//! restored: a restore is an ordinary write of the old bytes, so it is itself
//! a new revision and can be undone the same way.

use super::error::{Error, Result};
use super::model::*;
use super::Store;
use crate::store::db::sql::{named_params, Connection, OptionalExtension};

/// What a revision is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// The file's draft now (its current path).
    Draft,
    /// Another revision of the same file.
    Revision(i64),
}

pub(crate) fn revision_from_row(
    r: &crate::store::db::sql::Row<'_>,
) -> crate::store::db::sql::Result<DraftRevision> {
    Ok(DraftRevision {
        id: r.get(0)?,
        path: r.get(1)?,
        hash: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        source: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// A revision of collection `cid`, and its linkable's id.
fn find(conn: &Connection, cid: i64, slug: &str, id: i64) -> Result<(DraftRevision, i64)> {
    conn.prepare_cached(
        "SELECT r.draft_revision_id, r.path, r.hash, r.size, r.source, r.created_at, r.linkable_id
         FROM draft_revision r JOIN linkable l ON l.linkable_id = r.linkable_id
         WHERE r.draft_revision_id = :id AND l.collection_id = :cid",
    )?
    .query_row(named_params! {":id": id, ":cid": cid}, |r| {
        Ok((revision_from_row(r)?, r.get(6)?))
    })
    .optional()?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "{slug} has no draft revision {id} (revisions are listed in a file's history; gc drops old ones)"
        ))
    })
}

/// The draft file of a linkable now: (path, hash), None when deleted.
fn draft_of(conn: &Connection, linkable_id: i64) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT v.path, v.hash FROM linkable l JOIN version v
               ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
             WHERE l.linkable_id = :id AND v.hash IS NOT NULL",
        )?
        .query_row(named_params! {":id": linkable_id}, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

impl Store {
    /// One draft revision of a collection and its bytes (None: the save was a
    /// deletion).
    pub fn revision(&self, key: &str, id: i64) -> Result<(DraftRevision, Option<Vec<u8>>)> {
        let revision = {
            let conn = self.reader()?;
            let (cid, collection) = Store::find_collection(&conn, key)?;
            find(&conn, cid, &collection.slug, id)?.0
        };
        let bytes = match &revision.hash {
            Some(hash) => Some(self.blobs.read(hash, true)?),
            None => None,
        };
        Ok((revision, bytes))
    }

    /// A unified diff from revision `id` to `against` (the draft now, or
    /// another revision of the same file); a deletion diffs as nothing.
    pub fn revision_diff(&self, key: &str, id: i64, against: Against) -> Result<String> {
        let (revision, other, other_label) = {
            let conn = self.reader()?;
            let (cid, collection) = Store::find_collection(&conn, key)?;
            let (revision, linkable) = find(&conn, cid, &collection.slug, id)?;
            match against {
                Against::Draft => {
                    let draft = draft_of(&conn, linkable)?;
                    let label = format!(
                        "{} (draft)",
                        draft.as_ref().map_or(&revision.path, |d| &d.0)
                    );
                    (revision, draft.map(|d| d.1), label)
                }
                Against::Revision(other) => {
                    let (other, other_linkable) = find(&conn, cid, &collection.slug, other)?;
                    if other_linkable != linkable {
                        return Err(Error::Invalid(format!(
                            "revisions {id} and {} are of different files ({} and {}): compare revisions of one file",
                            other.id, revision.path, other.path
                        )));
                    }
                    let label = format!("{} (revision {})", other.path, other.id);
                    (revision, other.hash, label)
                }
            }
        };
        let text = |hash: &Option<String>| -> Result<String> {
            Ok(match hash {
                Some(hash) => String::from_utf8_lossy(&self.blobs.read(hash, true)?).into_owned(),
                None => String::new(),
            })
        };
        let (old, new) = (text(&revision.hash)?, text(&other)?);
        Ok(similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("a/{} (revision {})", revision.path, revision.id),
                &format!("b/{other_label}"),
            )
            .to_string())
    }

    /// Puts revision `id`'s bytes back as the file's draft (at the file's
    /// current path, or the revision's when the file is deleted now): a new
    /// save, so the draft before the restore stays in the history. A revision
    /// that was a deletion deletes the file.
    pub fn restore_revision(&self, key: &str, id: i64, source: Source) -> Result<WriteOutcome> {
        let (revision, path) = {
            let conn = self.reader()?;
            let (cid, collection) = Store::find_collection(&conn, key)?;
            let (revision, linkable) = find(&conn, cid, &collection.slug, id)?;
            let path = draft_of(&conn, linkable)?.map_or_else(|| revision.path.clone(), |d| d.0);
            (revision, path)
        };
        match &revision.hash {
            Some(hash) => {
                let bytes = self.blobs.read(hash, true)?;
                self.write(key, &path, &bytes, source)
            }
            None => self.delete(key, &path, source),
        }
    }
}
