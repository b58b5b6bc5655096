//! v1 drafts: the store's named drafts. A PATCH stages base64 files (and
//! deletions) exactly as the original validated them, all checks before any
//! write; a commit makes a collection version of the draft and rebases it.

use super::shapes::{committed_url, link_out, text, uuid_field, LinkOut};
use super::{canonical_uuid, json_response, v1_time, Call, V1Error, V1Result};
use crate::store::{NamedDraft, RelPath, Stage};
use axum::http::StatusCode;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct DraftOut {
    uuid: String,
    url: String,
    bundle: String,
    bundle_uuid: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    staged_draft: Option<StagedOut>,
}

#[derive(Serialize)]
struct StagedOut {
    base_snapshot: Option<String>,
    created_at: String,
    updated_at: String,
    files: BTreeMap<String, DraftFileOut>,
    links: BTreeMap<String, LinkOut>,
}

#[derive(Serialize)]
struct DraftFileOut {
    url: String,
    size: u64,
    hash_digest: String,
    modified: bool,
}

fn draft_out(call: &Call, d: &NamedDraft, staged: Option<StagedOut>) -> DraftOut {
    DraftOut {
        uuid: d.uuid.clone(),
        url: call.url(&format!("api/v1/drafts/{}", d.uuid)),
        bundle: call.url(&format!("api/v1/bundles/{}", d.collection_uuid)),
        bundle_uuid: d.collection_uuid.clone(),
        name: d.name.clone(),
        staged_draft: staged,
    }
}

/// What Python's `quote` leaves as it is: letters, digits and `-_.~`.
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The URL of a staged file: its draft and path (percent-encoded).
fn staged_url(call: &Call, draft: &str, path: &str) -> String {
    let encoded: Vec<String> = path
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, UNRESERVED_KEPT).to_string())
        .collect();
    call.url(&format!("media/{draft}/data/{}", encoded.join("/")))
}

pub(crate) async fn list(call: &Call) -> V1Result {
    let drafts = call.store(|s| s.named_drafts(None)).await?;
    let out: Vec<DraftOut> = drafts.iter().map(|d| draft_out(call, d, None)).collect();
    Ok(json_response(StatusCode::OK, &out))
}

pub(crate) async fn create(call: &Call) -> V1Result {
    let fields = call.fields()?;
    let mut errors = BTreeMap::new();
    let bundle = uuid_field(&fields, "bundle_uuid", true, &mut errors);
    let name = text(&fields, "name", true, 180, false, &mut errors);
    if let Some(bundle) = &bundle {
        let key = bundle.clone();
        let known = call.store(move |s| s.collection(&key)).await;
        if !known.is_ok_and(|c| &c.uuid == bundle) {
            errors.insert(
                "bundle_uuid".into(),
                vec![format!("Object with uuid={bundle} does not exist.")],
            );
        }
    }
    if !errors.is_empty() {
        return Err(V1Error::Fields(errors));
    }
    let (bundle, name) = (bundle.unwrap_or_default(), name.unwrap_or_default());
    let created = call
        .store(move |s| s.create_named_draft(&bundle, &name))
        .await;
    match created {
        Ok(draft) => Ok(json_response(
            StatusCode::CREATED,
            &draft_out(call, &draft, None),
        )),
        Err(V1Error::Native(e)) if e.status == StatusCode::CONFLICT => Err(V1Error::field(
            "non_field_errors",
            "The fields bundle_uuid, name must make a unique set.",
        )),
        Err(e) => Err(e),
    }
}

pub(crate) async fn get(call: &Call, id: String) -> V1Result {
    let (draft, files, base, links) = call
        .store(move |s| {
            let (draft, files) = s.named_draft_files(&id)?;
            let base = match draft.base {
                Some(n) => Some(s.snapshot_digest(&draft.collection_uuid, n)?),
                None => None,
            };
            let (_, links) = s.named_draft_dependencies(&id)?;
            Ok((draft, files, base, links))
        })
        .await?;
    let bundle = draft.collection_uuid.clone();
    let staged = StagedOut {
        base_snapshot: base,
        created_at: v1_time(&draft.created_at),
        updated_at: v1_time(&draft.updated_at),
        files: files
            .iter()
            .map(|f| {
                let url = if f.modified {
                    staged_url(call, &draft.uuid, &f.path)
                } else {
                    committed_url(call, &bundle, &f.path, &f.hash)
                };
                (
                    f.path.clone(),
                    DraftFileOut {
                        url,
                        size: f.size,
                        hash_digest: f.hash.clone(),
                        modified: f.modified,
                    },
                )
            })
            .collect(),
        links: links
            .iter()
            .map(|(d, modified)| (d.name.clone(), link_out(d, Some(*modified))))
            .collect(),
    };
    Ok(json_response(
        StatusCode::OK,
        &draft_out(call, &draft, Some(staged)),
    ))
}

/// Whether the original accepted a file name: not absolute, no `//`, no
/// `..` component, at most 500 characters — and, ours, a valid store path.
fn file_name(path: &str) -> Option<RelPath> {
    if path.starts_with('/')
        || path.contains("//")
        || path.split('/').any(|p| p == "..")
        || path.chars().count() > 500
    {
        return None;
    }
    RelPath::new(path).ok()
}

/// Python's non-validating base64: characters outside the alphabet are
/// dropped, missing padding is an error.
fn decode(name: &str, value: &str) -> Result<Vec<u8>, String> {
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    // Clients send clean base64 (the usual case is checked, not copied).
    let kept: std::borrow::Cow<'_, [u8]> = if value.bytes().all(|b| alphabet(&b)) {
        std::borrow::Cow::Borrowed(value.as_bytes())
    } else {
        std::borrow::Cow::Owned(value.bytes().filter(alphabet).collect())
    };
    let data_len = kept.iter().rposition(|b| *b != b'=').map_or(0, |p| p + 1);
    let data = &kept[..data_len];
    let padding_error =
        || format!("Error decoding file {name}: Incorrect padding (check if it's base64 encoded?)");
    if data.contains(&b'=') {
        // Padding in the middle: data after the end of the encoding.
        return Err(padding_error());
    }
    if data.len() % 4 == 1 {
        return Err(format!(
            "Error decoding file {name}: Invalid base64-encoded string: number of data characters ({}) cannot be 1 more than a multiple of 4 (check if it's base64 encoded?)",
            data.len()
        ));
    }
    if !kept.len().is_multiple_of(4) {
        return Err(padding_error());
    }
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
    .decode(data)
    .map_err(|_| padding_error())
}

pub(crate) async fn patch(call: &Call, id: String) -> V1Result {
    let body: Value = if call.body.is_empty() {
        Value::Object(Default::default())
    } else {
        if call
            .content_type
            .as_deref()
            .is_some_and(|t| !t.starts_with("application/json"))
        {
            return Err(V1Error::List(vec![
                "A draft PATCH is JSON: {\"files\": {path: base64 or null}, \"links\": {…}}".into(),
            ]));
        }
        serde_json::from_slice(&call.body)
            .map_err(|e| V1Error::List(vec![format!("JSON parse error - {e}")]))?
    };
    let Value::Object(body) = body else {
        return Err(V1Error::List(vec![
            "Invalid data. Expected a dictionary, but got a different type.".into(),
        ]));
    };
    // Everything is checked before anything is written.
    let mut staged: Vec<(RelPath, Option<Vec<u8>>)> = Vec::new();
    match body.get("files") {
        None | Some(Value::Null) => {}
        Some(Value::Object(files)) => {
            for (name, value) in files {
                let path = file_name(name).ok_or_else(|| {
                    V1Error::List(vec![format!("\"{name}\" is not a valid file name")])
                })?;
                match value {
                    Value::Null => staged.push((path, None)),
                    Value::String(b64) => {
                        let bytes = decode(name, b64).map_err(|m| V1Error::List(vec![m]))?;
                        staged.push((path, Some(bytes)));
                    }
                    _ => {
                        return Err(V1Error::List(vec![format!(
                            "File {name}: the value must be a base64 string, or null to delete it"
                        )]))
                    }
                }
            }
        }
        Some(_) => {
            return Err(V1Error::List(vec![
                "\"files\" must map paths to base64 strings or null".into(),
            ]))
        }
    }
    let mut links: Vec<(String, Option<(String, i64)>)> = Vec::new();
    match body.get("links") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                links.push((name.clone(), link_change(name, value)?));
            }
        }
        Some(_) => {
            return Err(V1Error::List(vec![
                "\"links\" must map names to {\"bundle_uuid\", \"version\"} or null".into(),
            ]))
        }
    }
    call.store(move |s| {
        let changes: Vec<(RelPath, Stage<'_>)> = staged
            .iter()
            .map(|(path, bytes)| {
                (
                    path.clone(),
                    match bytes {
                        Some(bytes) => Stage::Put(bytes),
                        None => Stage::Delete,
                    },
                )
            })
            .collect();
        s.stage_with_dependencies(&id, &changes, &links)
    })
    .await
    .map_err(|e| match e {
        // The store's refusals of a link (no such version, a cycle) carry
        // the original's messages.
        V1Error::Native(e) if e.status == StatusCode::BAD_REQUEST => V1Error::List(vec![e.message]),
        other => other,
    })?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

/// One link of a PATCH: its target (a bundle uuid and a version, 0 for the
/// latest) or None to delete it, checked as the original did.
fn link_change(name: &str, value: &Value) -> Result<Option<(String, i64)>, V1Error> {
    let refuse = |m: String| Err(V1Error::List(vec![m]));
    let link = match value {
        Value::Null => return Ok(None),
        Value::Object(link) => link,
        _ => return refuse(format!("Link {name} has no 'bundle_uuid' specified.")),
    };
    let Some(bundle) = link.get("bundle_uuid") else {
        return refuse(format!("Link {name} has no 'bundle_uuid' specified."));
    };
    let Some(version) = link.get("version") else {
        return refuse(format!("Link {name} has no 'version' specified."));
    };
    let version = match version {
        Value::Bool(b) => {
            return refuse(format!(
                "Link {name}: {} must be an integer.",
                if *b { "True" } else { "False" }
            ))
        }
        Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
        other => return refuse(format!("Link {name}: {other} must be an integer.")),
    };
    let text = match bundle {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let Some(uuid) = canonical_uuid(&text) else {
        return refuse(format!("Link {name}: {text} is not a valid UUID."));
    };
    Ok(Some((uuid, version)))
}

pub(crate) async fn commit(call: &Call, id: String) -> V1Result {
    let key = id.clone();
    let draft = call.store(move |s| s.named_draft(&key)).await?;
    let key = id.clone();
    let report = call.store(move |s| s.commit_named_draft(&key, "")).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({
            "bundle_version": call.url(&format!(
                "api/v1/bundle_versions/{},{}", draft.collection_uuid, report.number
            )),
            "updated_draft": call.url(&format!("api/v1/drafts/{id}")),
        }),
    ))
}
