//! Groups of collections: what Blockstore v1 called a "collection", a titled
//! group of bundles (our collections). A small model of its own, kept apart
//! from the collection table's SQL: a collection is in at most one group, and
//! deleting a group deletes its collections, as deleting a v1 collection
//! deleted its bundles.

use super::collections::{insert_collection, valid_slug};
use super::error::{Error, Result};
use super::events::Event;
use super::model::{Collection, CollectionMetadata};
use super::{now, Store};
use crate::store::db::sql::{named_params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

/// A group of collections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CollectionGroup {
    pub uuid: String,
    pub title: String,
    pub created_at: String,
}

fn find_group(conn: &Connection, uuid: &str) -> Result<(i64, CollectionGroup)> {
    conn.prepare_cached(
        "SELECT group_id, uuid, title, created_at FROM collection_group WHERE uuid = :uuid",
    )?
    .query_row(named_params! {":uuid": uuid}, |r| {
        Ok((
            r.get(0)?,
            CollectionGroup {
                uuid: r.get(1)?,
                title: r.get(2)?,
                created_at: r.get(3)?,
            },
        ))
    })
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no collection group {uuid}")))
}

/// A free collection slug made from `hint` (a v1 slug, which may be
/// Unicode): its URL-safe characters, else "bundle", with the first part of
/// `uuid` added when that is taken.
fn free_slug(conn: &Connection, hint: &str, uuid: &str) -> Result<String> {
    let mut base: String = hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(80)
        .collect();
    base = base.trim_start_matches(['-', '_', '.']).to_string();
    if base.is_empty() {
        base = "bundle".into();
    }
    let taken = |slug: &str| -> Result<bool> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM collection WHERE slug = :slug",
                named_params! {":slug": slug},
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    };
    if valid_slug(&base) && !taken(&base)? {
        return Ok(base);
    }
    let slug = format!("{base}-{}", &uuid[..8]);
    if taken(&slug)? {
        return Ok(format!("{base}-{uuid}"));
    }
    Ok(slug)
}

impl Store {
    /// Creates a group of collections.
    pub fn create_group(&self, title: &str) -> Result<CollectionGroup> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO collection_group (uuid, title, created_at) VALUES (:uuid, :title, :at)",
            named_params! {":uuid": uuid, ":title": title, ":at": now()},
        )?;
        let group = find_group(&tx, &uuid)?.1;
        tx.commit()?;
        Ok(group)
    }

    /// Every group, oldest first.
    pub fn groups(&self) -> Result<Vec<CollectionGroup>> {
        let conn = self.reader()?;
        let rows = conn
            .prepare_cached(
                "SELECT uuid, title, created_at FROM collection_group ORDER BY group_id",
            )?
            .query_map([], |r| {
                Ok(CollectionGroup {
                    uuid: r.get(0)?,
                    title: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One group by uuid.
    pub fn group(&self, uuid: &str) -> Result<CollectionGroup> {
        let conn = self.reader()?;
        Ok(find_group(&conn, uuid)?.1)
    }

    /// Renames a group.
    pub fn set_group_title(&self, uuid: &str, title: &str) -> Result<CollectionGroup> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (id, _) = find_group(&tx, uuid)?;
        tx.execute(
            "UPDATE collection_group SET title = :title WHERE group_id = :id",
            named_params! {":title": title, ":id": id},
        )?;
        let group = find_group(&tx, uuid)?.1;
        tx.commit()?;
        Ok(group)
    }

    /// The collections in a group, by slug.
    pub fn group_members(&self, uuid: &str) -> Result<Vec<Collection>> {
        let conn = self.reader()?;
        let (id, _) = find_group(&conn, uuid)?;
        let slugs = conn
            .prepare_cached("SELECT slug FROM collection WHERE group_id = :id ORDER BY slug")?
            .query_map(named_params! {":id": id}, |r| r.get::<_, String>(0))?
            .collect::<crate::store::db::sql::Result<Vec<_>>>()?;
        slugs
            .iter()
            .map(|slug| Ok(Store::find_collection(&conn, slug)?.1))
            .collect()
    }

    /// Deletes a group and every collection in it, in one transaction.
    pub fn delete_group(&self, uuid: &str) -> Result<Vec<Collection>> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let (id, _) = find_group(&tx, uuid)?;
        let slugs = tx
            .prepare("SELECT slug FROM collection WHERE group_id = :id ORDER BY slug")?
            .query_map(named_params! {":id": id}, |r| r.get::<_, String>(0))?
            .collect::<crate::store::db::sql::Result<Vec<String>>>()?;
        let mut deleted = Vec::new();
        for slug in &slugs {
            let (cid, collection) = Store::find_collection(&tx, slug)?;
            super::collections::delete_collection_rows(&tx, cid)?;
            deleted.push(collection);
        }
        tx.execute(
            "DELETE FROM collection_group WHERE group_id = :id",
            named_params! {":id": id},
        )?;
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        for collection in &deleted {
            self.events.emit(Event::CollectionDeleted {
                collection: collection.slug.clone(),
            });
        }
        Ok(deleted)
    }

    /// Creates a collection in a group (or in none), its slug made from
    /// `slug_hint` (kept as its v1 slug when that is not the slug itself),
    /// with a fresh random (v4) uuid, as Blockstore gave bundles.
    pub fn create_grouped_collection(
        &self,
        group: Option<&str>,
        slug_hint: &str,
        metadata: &CollectionMetadata,
    ) -> Result<Collection> {
        let mut conn = self.conn();
        let tx =
            conn.transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)?;
        let group_id = group.map(|g| find_group(&tx, g)).transpose()?.map(|g| g.0);
        let uuid = uuid::Uuid::new_v4().to_string();
        let slug = free_slug(&tx, slug_hint, &uuid)?;
        let cid = insert_collection(&tx, &slug, metadata)?;
        tx.execute(
            "UPDATE collection SET uuid = :uuid, group_id = :group, v1_slug = :v1 WHERE collection_id = :cid",
            named_params! {
                ":uuid": uuid, ":group": group_id,
                ":v1": (slug != slug_hint).then_some(slug_hint), ":cid": cid,
            },
        )?;
        let (_, collection) = Store::find_collection(&tx, &slug)?;
        super::cancel::commit_point()?;
        tx.commit()?;
        drop(conn);
        self.events.emit(Event::CollectionCreated {
            collection: collection.slug.clone(),
        });
        Ok(collection)
    }

    /// Moves a collection into a group (or out of any, with None).
    pub fn set_collection_group(&self, key: &str, group: Option<&str>) -> Result<Collection> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (cid, _) = Store::find_collection(&tx, key)?;
        let group_id = group.map(|g| find_group(&tx, g)).transpose()?.map(|g| g.0);
        tx.execute(
            "UPDATE collection SET group_id = :group WHERE collection_id = :cid",
            named_params! {":group": group_id, ":cid": cid},
        )?;
        let collection = Store::find_collection(&tx, key)?.1;
        tx.commit()?;
        Ok(collection)
    }

    /// Sets a collection's v1 slug (None, or its own slug: the same as it).
    pub fn set_v1_slug(&self, key: &str, v1_slug: Option<&str>) -> Result<Collection> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (cid, collection) = Store::find_collection(&tx, key)?;
        let v1 = v1_slug.filter(|s| *s != collection.slug);
        tx.execute(
            "UPDATE collection SET v1_slug = :v1 WHERE collection_id = :cid",
            named_params! {":v1": v1, ":cid": cid},
        )?;
        let collection = Store::find_collection(&tx, key)?.1;
        tx.commit()?;
        Ok(collection)
    }
}
