//! Collections (our groups), bundles (our collections) and bundle versions
//! (our collection versions) in the v1 shapes of BLOCKSTORE-V1.md §2.3: each
//! a struct whose fields are the exact key set, in the order the original
//! emitted them.

use super::{canonical_uuid, is_uuid, json_response, media, v1_time, Call, V1Error, V1Result};
use crate::store::{
    At, Collection, CollectionGroup, CollectionMetadata, Dependency, DependencyRef, NamedDraft,
};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Serialize)]
pub(crate) struct GroupOut {
    title: String,
    url: String,
    uuid: String,
}

#[derive(Serialize)]
pub(crate) struct BundleOut {
    collection: Option<String>,
    collection_uuid: Option<String>,
    description: String,
    drafts: BTreeMap<String, String>,
    slug: String,
    title: String,
    url: String,
    uuid: String,
    versions: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct VersionOut {
    bundle: String,
    bundle_uuid: String,
    change_description: String,
    url: String,
    version_num: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<SnapshotOut>,
}

#[derive(Serialize)]
pub(crate) struct SnapshotOut {
    hash_digest: String,
    created_at: String,
    files: BTreeMap<String, FileOut>,
    links: BTreeMap<String, LinkOut>,
}

#[derive(Serialize)]
pub(crate) struct FileOut {
    url: String,
    size: u64,
    hash_digest: String,
}

fn group_out(call: &Call, g: CollectionGroup) -> GroupOut {
    GroupOut {
        title: g.title,
        url: call.url(&format!("api/v1/collections/{}", g.uuid)),
        uuid: g.uuid,
    }
}

/// A bundle: the collection, its number of versions and its named drafts.
pub(crate) fn bundle_out(
    call: &Call,
    c: &Collection,
    latest: Option<i64>,
    drafts: &[NamedDraft],
) -> BundleOut {
    BundleOut {
        collection: c
            .group
            .as_ref()
            .map(|g| call.url(&format!("api/v1/collections/{g}"))),
        collection_uuid: c.group.clone(),
        description: c.description.clone(),
        drafts: drafts
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    call.url(&format!("api/v1/drafts/{}", d.uuid)),
                )
            })
            .collect(),
        slug: c.v1_slug.clone().unwrap_or_else(|| c.slug.clone()),
        title: c.title.clone(),
        url: call.url(&format!("api/v1/bundles/{}", c.uuid)),
        uuid: c.uuid.clone(),
        versions: (1..=latest.unwrap_or(0))
            .map(|n| call.url(&format!("api/v1/bundle_versions/{},{n}", c.uuid)))
            .collect(),
    }
}

/// The committed URL of a file of a bundle: content-addressed, stable.
pub(crate) fn committed_url(call: &Call, bundle: &str, path: &str, hash: &str) -> String {
    call.url(&format!(
        "media/{bundle}/snapshot_data/{hash}{}",
        media::extension(path)
    ))
}

/// A dependency as v1 showed a link: `direct`, `indirect` (and, in a
/// draft, `modified`), each reference exactly `bundle_uuid, version,
/// snapshot_digest`.
pub(crate) fn link_out(d: &Dependency, modified: Option<bool>) -> LinkOut {
    let reference = |r: &DependencyRef| RefOut {
        bundle_uuid: r.collection.clone(),
        version: r.version,
        snapshot_digest: r.snapshot_digest.clone(),
    };
    LinkOut {
        direct: reference(&d.direct),
        indirect: d.indirect.iter().map(reference).collect(),
        modified,
    }
}

#[derive(Serialize)]
pub(crate) struct LinkOut {
    direct: RefOut,
    indirect: Vec<RefOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified: Option<bool>,
}

#[derive(Serialize)]
pub(crate) struct RefOut {
    bundle_uuid: String,
    version: i64,
    snapshot_digest: String,
}

/// DRF's checks of one string field.
pub(crate) fn text(
    fields: &Map<String, Value>,
    name: &str,
    required: bool,
    max: usize,
    blank_ok: bool,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<String> {
    let mut fail = |m: &str| {
        errors.insert(name.to_string(), vec![m.to_string()]);
        None
    };
    match fields.get(name) {
        None if required => fail("This field is required."),
        None => None,
        Some(Value::Null) => fail("This field may not be null."),
        Some(Value::String(s)) if s.trim().is_empty() && !blank_ok => {
            fail("This field may not be blank.")
        }
        Some(Value::String(s)) if s.chars().count() > max => fail(&format!(
            "Ensure this field has no more than {max} characters."
        )),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => fail("Not a valid string."),
    }
}

/// A field naming an object by uuid (`collection_uuid`, `bundle_uuid`):
/// its value when it is one.
pub(crate) fn uuid_field(
    fields: &Map<String, Value>,
    name: &str,
    required: bool,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<String> {
    let value = text(fields, name, required, 100, false, errors)?;
    if let Some(uuid) = canonical_uuid(&value) {
        return Some(uuid);
    }
    errors.insert(
        name.to_string(),
        vec![format!("“{value}” is not a valid UUID.")],
    );
    None
}

fn done(errors: BTreeMap<String, Vec<String>>) -> Result<(), V1Error> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(V1Error::Fields(errors))
    }
}

pub(crate) async fn list_groups(call: &Call) -> V1Result {
    let groups = call.store(|s| s.groups()).await?;
    let out: Vec<GroupOut> = groups.into_iter().map(|g| group_out(call, g)).collect();
    Ok(json_response(StatusCode::OK, &out))
}

pub(crate) async fn create_group(call: &Call) -> V1Result {
    let fields = call.fields()?;
    let mut errors = BTreeMap::new();
    let title = text(&fields, "title", true, 180, false, &mut errors);
    done(errors)?;
    let title = title.unwrap_or_default();
    let group = call.store(move |s| s.create_group(&title)).await?;
    Ok(json_response(StatusCode::CREATED, &group_out(call, group)))
}

pub(crate) async fn get_group(call: &Call, uuid: String) -> V1Result {
    let group = call.store(move |s| s.group(&uuid)).await?;
    Ok(json_response(StatusCode::OK, &group_out(call, group)))
}

pub(crate) async fn update_group(call: &Call, uuid: String) -> V1Result {
    let key = uuid.clone();
    call.store(move |s| s.group(&key)).await?;
    let fields = call.fields()?;
    let mut errors = BTreeMap::new();
    let required = call.method == axum::http::Method::PUT;
    let title = text(&fields, "title", required, 180, false, &mut errors);
    done(errors)?;
    let group = call
        .store(move |s| match title {
            Some(title) => s.set_group_title(&uuid, &title),
            None => s.group(&uuid),
        })
        .await?;
    Ok(json_response(StatusCode::OK, &group_out(call, group)))
}

/// The collection a bundle uuid names (404 JSON when none).
pub(crate) async fn bundle_key(call: &Call, uuid: &str) -> Result<Collection, V1Error> {
    let key = uuid.to_string();
    let collection = call.store(move |s| s.collection(&key)).await?;
    if collection.uuid != uuid {
        return Err(V1Error::NotFound);
    }
    Ok(collection)
}

/// Whether a v1 slug is one: Unicode letters, digits, `_` and `-`.
fn valid_v1_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

const SLUG_MESSAGE: &str =
    "Enter a valid “slug” consisting of Unicode letters, numbers, underscores, or hyphens.";

pub(crate) async fn list_bundles(call: &Call) -> V1Result {
    // The filters come from the query string, or, when it is empty, from a
    // JSON body (a long uuid list once overflowed the URL).
    let body_fields = if call.query.as_deref().unwrap_or("").is_empty() && !call.body.is_empty() {
        call.fields().unwrap_or_default()
    } else {
        Map::new()
    };
    let get = |name: &str| -> Option<String> {
        call.param(name).or_else(|| match body_fields.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        })
    };
    let uuids: Option<Vec<String>> = get("uuid").map(|v| {
        v.split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect()
    });
    let search = get("text_search").map(|s| s.to_lowercase());
    let group = get("collection__uuid");
    if let Some(group) = &group {
        if !is_uuid(&group.to_ascii_lowercase()) {
            return Err(V1Error::field("collection__uuid", "Enter a valid UUID."));
        }
    }
    let (collections, drafts) = call
        .store(|s| Ok((s.collections()?, s.named_drafts(None)?)))
        .await?;
    if let Some(uuids) = &uuids {
        for u in uuids {
            if !collections.iter().any(|c| &c.collection.uuid == u) {
                return Err(V1Error::field(
                    "uuid",
                    format!("Select a valid choice. {u} is not one of the available choices."),
                ));
            }
        }
    }
    let out: Vec<BundleOut> = collections
        .iter()
        .filter(|c| {
            uuids
                .as_ref()
                .is_none_or(|u| u.contains(&c.collection.uuid))
        })
        .filter(|c| {
            group
                .as_ref()
                .is_none_or(|g| c.collection.group.as_deref() == Some(&g.to_ascii_lowercase()))
        })
        .filter(|c| {
            search.as_ref().is_none_or(|q| {
                let c = &c.collection;
                c.title.to_lowercase().contains(q)
                    || c.v1_slug
                        .as_deref()
                        .unwrap_or(&c.slug)
                        .to_lowercase()
                        .contains(q)
                    || c.description.to_lowercase().contains(q)
            })
        })
        .map(|c| {
            let own: Vec<NamedDraft> = drafts
                .iter()
                .filter(|d| d.collection_uuid == c.collection.uuid)
                .cloned()
                .collect();
            bundle_out(call, &c.collection, c.latest_version, &own)
        })
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

/// A bundle by uuid, with its versions and drafts.
pub(crate) async fn read_bundle(call: &Call, uuid: String) -> Result<BundleOut, V1Error> {
    let collection = bundle_key(call, &uuid).await?;
    let (summary, drafts) = call
        .store(move |s| Ok((s.collection_summary(&uuid)?, s.named_drafts(Some(&uuid))?)))
        .await?;
    Ok(bundle_out(
        call,
        &collection,
        summary.latest_version,
        &drafts,
    ))
}

pub(crate) async fn get_bundle(call: &Call, uuid: String) -> V1Result {
    Ok(json_response(
        StatusCode::OK,
        &read_bundle(call, uuid).await?,
    ))
}

/// A bundle's fields from a create (`required`: all but the description)
/// or an update (PUT: the same; PATCH: any), checked as the original's
/// serializer did, every field's errors together.
struct BundleFields {
    group: Option<String>,
    slug: Option<String>,
    title: Option<String>,
    description: Option<String>,
}

async fn bundle_fields(call: &Call, required: bool) -> Result<BundleFields, V1Error> {
    let fields = call.fields()?;
    let mut errors = BTreeMap::new();
    let group = uuid_field(&fields, "collection_uuid", required, &mut errors);
    let slug = text(&fields, "slug", required, 10_000, false, &mut errors);
    if let Some(slug) = &slug {
        if !valid_v1_slug(slug) {
            errors.insert("slug".into(), vec![SLUG_MESSAGE.into()]);
        }
    }
    let title = text(&fields, "title", required, 180, false, &mut errors);
    let description = text(&fields, "description", false, 10_000, true, &mut errors);
    if let Some(group) = &group {
        let key = group.clone();
        if call.store(move |s| s.group(&key)).await.is_err() {
            errors.insert(
                "collection_uuid".into(),
                vec![format!("Object with uuid={group} does not exist.")],
            );
        }
    }
    done(errors)?;
    Ok(BundleFields {
        group,
        slug,
        title,
        description,
    })
}

pub(crate) async fn create_bundle(call: &Call) -> V1Result {
    let f = bundle_fields(call, true).await?;
    let metadata = CollectionMetadata {
        title: f.title,
        description: Some(f.description.unwrap_or_default()),
        ..CollectionMetadata::default()
    };
    let (group, slug) = (f.group, f.slug.unwrap_or_default());
    let collection = call
        .store(move |s| s.create_grouped_collection(group.as_deref(), &slug, &metadata))
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &bundle_out(call, &collection, None, &[]),
    ))
}

pub(crate) async fn update_bundle(call: &Call, uuid: String) -> V1Result {
    bundle_key(call, &uuid).await?;
    let required = call.method == axum::http::Method::PUT;
    let BundleFields {
        group,
        slug,
        title,
        description,
    } = bundle_fields(call, required).await?;
    let key = uuid.clone();
    call.store(move |s| {
        if title.is_some() || description.is_some() {
            s.update_collection(
                &key,
                &CollectionMetadata {
                    title,
                    description,
                    ..CollectionMetadata::default()
                },
            )?;
        }
        if let Some(slug) = &slug {
            s.set_v1_slug(&key, Some(slug))?;
        }
        if let Some(group) = &group {
            s.set_collection_group(&key, Some(group))?;
        }
        Ok(())
    })
    .await?;
    get_bundle(call, uuid).await
}

/// One version of a bundle, with its snapshot when asked.
pub(crate) async fn version_out(
    call: &Call,
    uuid: String,
    number: i64,
    with_snapshot: bool,
) -> Result<VersionOut, V1Error> {
    bundle_key(call, &uuid).await?;
    let key = uuid.clone();
    let (version, files, dependencies, digest) = call
        .store(move |s| {
            let version = s.version(&key, number)?.version;
            if !with_snapshot {
                return Ok((version, Vec::new(), Vec::new(), String::new()));
            }
            let files = s.files(&key, At::Version(number))?;
            let dependencies = s.dependencies(&key, number)?;
            let digest = s.snapshot_digest(&key, number)?;
            Ok((version, files, dependencies, digest))
        })
        .await?;
    let snapshot = with_snapshot.then(|| SnapshotOut {
        hash_digest: digest,
        created_at: v1_time(&version.created_at),
        files: files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    FileOut {
                        url: committed_url(call, &uuid, &f.path, &f.hash),
                        size: f.size,
                        hash_digest: f.hash.clone(),
                    },
                )
            })
            .collect(),
        links: dependencies
            .into_iter()
            .map(|d| (d.name.clone(), link_out(&d, None)))
            .collect(),
    });
    Ok(VersionOut {
        bundle: call.url(&format!("api/v1/bundles/{uuid}")),
        url: call.url(&format!("api/v1/bundle_versions/{uuid},{number}")),
        bundle_uuid: uuid,
        change_description: version.message,
        version_num: number,
        snapshot,
    })
}

pub(crate) async fn get_version(
    call: &Call,
    uuid: String,
    number: i64,
    with_snapshot: bool,
) -> V1Result {
    let out = version_out(call, uuid, number, with_snapshot).await?;
    Ok(json_response(StatusCode::OK, &out))
}

pub(crate) async fn update_version(call: &Call, uuid: String, number: i64) -> V1Result {
    version_out(call, uuid.clone(), number, false).await?;
    let fields = call.fields()?;
    let mut errors = BTreeMap::new();
    let message = text(
        &fields,
        "change_description",
        false,
        1000,
        true,
        &mut errors,
    );
    done(errors)?;
    if let Some(message) = message {
        let key = uuid.clone();
        call.store(move |s| s.set_version_message(&key, number, &message))
            .await?;
    }
    get_version(call, uuid, number, false).await
}

pub(crate) async fn list_versions(call: &Call) -> V1Result {
    let bundle = call.param("bundle__uuid");
    let group = call.param("bundle__collection__uuid");
    let collections = call.store(|s| s.collections()).await?;
    let mut out = Vec::new();
    for c in collections {
        let c = c.collection;
        if bundle.as_ref().is_some_and(|b| *b != c.uuid) {
            continue;
        }
        if group.as_ref().is_some_and(|g| Some(g) != c.group.as_ref()) {
            continue;
        }
        let key = c.uuid.clone();
        let versions = call.store(move |s| s.versions(&key)).await?;
        for v in versions.into_iter().rev() {
            out.push(VersionOut {
                bundle: call.url(&format!("api/v1/bundles/{}", c.uuid)),
                bundle_uuid: c.uuid.clone(),
                change_description: v.message,
                url: call.url(&format!("api/v1/bundle_versions/{},{}", c.uuid, v.number)),
                version_num: v.number,
                snapshot: None,
            });
        }
    }
    Ok(json_response(StatusCode::OK, &out))
}
