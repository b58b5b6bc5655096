//! Collections: create, list, show, update metadata, delete. Owns the
//! `collection` table's SQL.

use super::error::{Error, Result};
use super::events::Event;
use super::model::{Collection, CollectionMetadata, CollectionSummary};
use super::{now, Store};
use crate::store::db::sql::{named_params, OptionalExtension};

/// Whether `slug` is a valid collection slug: URL-safe, 1-100 characters.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug.as_bytes()[0].is_ascii_alphanumeric()
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Inserts a collection row (inside the caller's transaction, so an import can
/// create its collection and fill it all or nothing).
pub(crate) fn insert_collection(
    tx: &crate::store::db::sql::Connection,
    slug: &str,
    metadata: &CollectionMetadata,
) -> Result<i64> {
    if !valid_slug(slug) {
        return Err(Error::InvalidSlug {
            slug: slug.to_string(),
        });
    }
    let exists: Option<i64> = tx
        .query_row(
            "SELECT collection_id FROM collection WHERE slug = :slug",
            named_params! {":slug": slug},
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_some() {
        return Err(Error::CollectionExists(slug.to_string()));
    }
    let at = now();
    Ok(tx.query_row(
        "INSERT INTO collection (uuid, slug, title, description, owner, author, license, created_at, updated_at)
         VALUES (:uuid, :slug, :title, :description, :owner, :author, :license, :at, :at)
         RETURNING collection_id",
        named_params! {
            ":uuid": uuid::Uuid::now_v7().to_string(),
            ":slug": slug,
            ":title": metadata.title.as_deref().unwrap_or(slug),
            ":description": metadata.description.as_deref().unwrap_or(""),
            ":owner": metadata.owner.as_deref().unwrap_or(""),
            ":author": metadata.author.as_deref().unwrap_or(""),
            ":license": metadata.license.as_deref().unwrap_or(""),
            ":at": at,
        },
        |r| r.get(0),
    )?)
}

/// Deletes a collection's rows (its history cascades), inside the caller's
/// transaction.
pub(crate) fn delete_collection_rows(
    tx: &crate::store::db::sql::Connection,
    id: i64,
) -> Result<()> {
    // Pointers first, so the cascade meets no deferred reference.
    tx.execute(
        "UPDATE linkable SET draft_version_id = NULL, published_version_id = NULL
         WHERE collection_id = :id",
        named_params! {":id": id},
    )?;
    tx.execute(
        "DELETE FROM collection WHERE collection_id = :id",
        named_params! {":id": id},
    )?;
    Ok(())
}

impl Store {
    /// Creates a collection. The slug must be unique and URL-safe.
    pub fn create_collection(
        &self,
        slug: &str,
        metadata: &CollectionMetadata,
    ) -> Result<Collection> {
        if !valid_slug(slug) {
            return Err(Error::InvalidSlug {
                slug: slug.to_string(),
            });
        }
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        insert_collection(&tx, slug, metadata)?;
        let (_, collection) = Store::find_collection(&tx, slug)?;
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        self.events.emit(Event::CollectionCreated {
            collection: collection.slug.clone(),
        });
        Ok(collection)
    }

    /// One collection by uuid or slug.
    pub fn collection(&self, key: &str) -> Result<Collection> {
        Ok(Store::find_collection(&*self.reader()?, key)?.1)
    }

    /// Every collection with counts of its draft state, by slug.
    pub fn collections(&self) -> Result<Vec<CollectionSummary>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(
            "SELECT c.slug,
                (SELECT count(*) FROM linkable l JOIN version v
                   ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 WHERE l.collection_id = c.collection_id AND v.hash IS NOT NULL AND l.kind = 'unit'),
                (SELECT count(*) FROM linkable l JOIN version v
                   ON v.version_id = coalesce(l.draft_version_id, l.published_version_id)
                 WHERE l.collection_id = c.collection_id AND v.hash IS NOT NULL AND l.kind = 'asset'),
                (SELECT max(number) FROM collection_version cv WHERE cv.collection_id = c.collection_id),
                (SELECT created_at FROM collection_version cv WHERE cv.collection_id = c.collection_id
                 ORDER BY number DESC LIMIT 1),
                (SELECT count(*) FROM linkable l WHERE l.collection_id = c.collection_id
                 AND l.draft_version_id IS NOT NULL)
             FROM collection c ORDER BY c.slug",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u64>(1)?,
                    r.get::<_, u64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, u64>(5)?,
                ))
            })?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(
                |(slug, units, assets, latest_version, latest_published_at, draft_changes)| {
                    Ok(CollectionSummary {
                        collection: Store::find_collection(&conn, &slug)?.1,
                        units,
                        assets,
                        latest_version,
                        latest_published_at,
                        draft_changes,
                    })
                },
            )
            .collect()
    }

    /// One collection's summary.
    pub fn collection_summary(&self, key: &str) -> Result<CollectionSummary> {
        let slug = self.collection(key)?.slug;
        self.collections()?
            .into_iter()
            .find(|c| c.collection.slug == slug)
            .ok_or(Error::CollectionNotFound(slug))
    }

    /// Changes metadata fields; `None` leaves a field as it is. The change is a
    /// draft change: the next publish snapshots it.
    pub fn update_collection(
        &self,
        key: &str,
        metadata: &CollectionMetadata,
    ) -> Result<Collection> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (id, old) = Store::find_collection(&tx, key)?;
        tx.execute(
            "UPDATE collection SET title = :title, description = :description, owner = :owner,
                author = :author, license = :license, updated_at = :at WHERE collection_id = :id",
            named_params! {
                ":title": metadata.title.as_ref().unwrap_or(&old.title),
                ":description": metadata.description.as_ref().unwrap_or(&old.description),
                ":owner": metadata.owner.as_ref().unwrap_or(&old.owner),
                ":author": metadata.author.as_ref().unwrap_or(&old.author),
                ":license": metadata.license.as_ref().unwrap_or(&old.license),
                ":at": now(),
                ":id": id,
            },
        )?;
        let (_, collection) = Store::find_collection(&tx, key)?;
        super::cancel::commit_point()?;
        tx.commit()?;
        Ok(collection)
    }

    /// Deletes a collection and its whole history. Its blobs become garbage for
    /// `gc` (they may be shared with other collections).
    pub fn delete_collection(&self, key: &str) -> Result<Collection> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (id, collection) = Store::find_collection(&tx, key)?;
        delete_collection_rows(&tx, id)?;
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        self.events.emit(Event::CollectionDeleted {
            collection: collection.slug.clone(),
        });
        Ok(collection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        for ok in ["demo", "OpenedX.DemoX.2026", "a-b_c", "7"] {
            assert!(valid_slug(ok), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b", "../x", "é", &"x".repeat(101)] {
            assert!(!valid_slug(bad), "{bad:?}");
        }
    }
}
