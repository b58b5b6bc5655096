//! The JSON endpoints of DESIGN.md's REST contract (raw content is in
//! `raw.rs`, the event stream in `events.rs`). Each handler parses, calls the
//! store, and answers; lists are paginated as `{count, next, previous, results}`.

use super::error::{ApiError, ErrorBody};
use super::AppState;
#[allow(unused_imports)] // some are named only by the OpenAPI annotations
use crate::store::{
    At, Collection, CollectionMetadata, CollectionSummary, CollectionVersion,
    CollectionVersionDetail, Diff, Direction, FileEntry, FileQuery, Folder, GcOptions, GcReport,
    History, LinkInfo, LinkReport, Linkable, LinkableKind, ListedFile, PublishOptions,
    PublishReport, RenameReport, RevertReport, Sort, Source, VersionDetail,
};
use crate::store::{NamedDraft, StagedChange};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1", get(index))
        .route(v1!("/health"), get(health))
        .route(
            v1!("/collections"),
            get(list_collections).post(create_collection),
        )
        .route(
            v1!("/collections/{c}"),
            get(get_collection)
                .patch(update_collection)
                .delete(delete_collection),
        )
        .route(v1!("/collections/{c}/files"), get(list_files))
        .route(v1!("/collections/{c}/folders"), get(list_folders))
        .route(v1!("/collections/{c}/files/{*path}"), get(file_detail))
        .route(v1!("/collections/{c}/publish"), post(publish))
        .route(v1!("/collections/{c}/revert"), post(revert))
        .route(v1!("/collections/{c}/rename"), post(rename))
        .route(v1!("/collections/{c}/versions"), get(list_versions))
        .route(v1!("/collections/{c}/drafts"), get(list_named_drafts))
        .route(v1!("/collections/{c}/drafts/{name}"), get(named_draft))
        .route(v1!("/collections/{c}/versions/{n}"), get(version_detail))
        .route(v1!("/collections/{c}/diff"), get(diff))
        .route(v1!("/collections/{c}/history/{*path}"), get(history))
        .route(v1!("/collections/{c}/links"), get(links))
        .route(v1!("/units/{uuid}"), get(unit))
        .route(v1!("/assets/{uuid}"), get(asset))
        .route(v1!("/units/{uuid}/versions"), get(unit_versions))
        .route(v1!("/assets/{uuid}/versions"), get(asset_versions))
        .route(v1!("/links/{uuid}"), get(link))
        .route(v1!("/versions/{uuid}"), get(version_by_uuid))
        .route(v1!("/gc"), post(gc))
        .route(v1!("/seed"), post(seed))
}

// ---------------------------------------------------------------------------
// Parsing helpers

/// `?page=&page_size=`, shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// Page number, from 1.
    #[param(value_type = Option<u64>, minimum = 1)]
    page: Option<String>,
    /// Items per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
}

pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

/// One page of a list, as every list endpoint answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

fn number(name: &str, value: Option<&str>, default: usize, max: usize) -> ApiResult<usize> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name}={v:?}: use a whole number from 1 to {max}"))
            }),
    }
}

fn page_link(uri: &Uri, page: usize) -> String {
    let mut pairs: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let page = format!("page={page}");
    pairs.push(&page);
    format!("{}?{}", uri.path(), pairs.join("&"))
}

/// Cuts one page out of `items`. A page past the end is a 404, as in Django
/// REST framework (which the old Blockstore API used), except page 1 of an
/// empty list.
pub(crate) fn paginate<T: Serialize>(
    items: Vec<T>,
    params: &PageParams,
    uri: &Uri,
) -> ApiResult<Json<Page<T>>> {
    let (page, size) = page_numbers(params)?;
    let count = items.len();
    let start = (page - 1).saturating_mul(size);
    let results: Vec<T> = items.into_iter().skip(start).take(size).collect();
    page_of(count, results, page, size, uri)
}

/// The page number and size asked for (defaults: 1 and 100).
fn page_numbers(params: &PageParams) -> ApiResult<(usize, usize)> {
    let page = number("page", params.page.as_deref(), 1, usize::MAX)?;
    let size = number(
        "page_size",
        params.page_size.as_deref(),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    Ok((page, size))
}

/// Wraps one page's `results` of `count` items in all.
fn page_of<T: Serialize>(
    count: usize,
    results: Vec<T>,
    page: usize,
    size: usize,
    uri: &Uri,
) -> ApiResult<Json<Page<T>>> {
    let start = (page - 1).saturating_mul(size);
    if start >= count && page > 1 {
        return Err(ApiError::not_found(format!(
            "page {page} is past the end ({}, {size} per page)",
            crate::store::plural(count as u64, "item")
        )));
    }
    let next = (start.saturating_add(size) < count).then(|| page_link(uri, page + 1));
    let previous = (page > 1).then(|| page_link(uri, page - 1));
    Ok(Json(Page {
        count,
        next,
        previous,
        results,
    }))
}

pub(crate) fn parse_at(value: Option<&str>, default: At) -> ApiResult<At> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<At>()
            .map_err(|e| ApiError::bad_request(format!("version={v:?}: {e}"))),
    }
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(ApiError::from)
}

pub(crate) fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(p)| p).map_err(ApiError::from)
}

// ---------------------------------------------------------------------------
// Handlers

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always "ok" when the server answers.
    status: String,
    /// This build's version.
    version: String,
    schema_version: i64,
    data_dir: String,
}

/// Where things are: what `GET /api/v1` answers, so a person or a client
/// that lands on the API's root finds its way.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiIndex {
    name: String,
    version: String,
    /// The OpenAPI 3 document describing every endpoint.
    openapi: String,
    /// The browser UI.
    ui: String,
    health: String,
    collections: String,
    events: String,
}

/// The API's index: links to the OpenAPI document, the UI and the main
/// endpoints
#[utoipa::path(get, path = "/api/v1", tag = "server", responses((status = 200, body = ApiIndex), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody)))]
pub(crate) async fn index() -> Json<ApiIndex> {
    Json(ApiIndex {
        name: "Blockstore appliance".into(),
        version: crate::VERSION.into(),
        openapi: "/api/v1/openapi.json".into(),
        ui: "/".into(),
        health: "/api/v1/health".into(),
        collections: "/api/v1/collections".into(),
        events: "/api/v1/events".into(),
    })
}

#[utoipa::path(get, path = "/api/v1/health", tag = "server", responses((status = 200, body = Health), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: crate::VERSION.into(),
        schema_version: crate::store::SCHEMA_VERSION,
        data_dir: state.store.dir().display().to_string(),
    })
}

#[utoipa::path(get, path = "/api/v1/collections", tag = "collections", params(PageParams), responses((status = 200, body = Page<CollectionSummary>), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn list_collections(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    page: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let page = query(page)?;
    let all = state.blocking(|s| s.collections()).await?;
    paginate(all, &page, &uri)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCollection {
    /// 1-100 characters of a-z, A-Z, 0-9, '-', '_', '.', starting with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    slug: String,
    title: Option<String>,
    description: Option<String>,
    owner: Option<String>,
    author: Option<String>,
    license: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/collections", tag = "collections", request_body = NewCollection, responses((status = 201, body = Collection), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 409, description = "Conflict with the store's state", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody)))]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let new: NewCollection = object_json(&headers, &body, false)?;
    let metadata = CollectionMetadata {
        title: new.title,
        description: new.description,
        owner: new.owner,
        author: new.author,
        license: new.license,
    };
    let created = state
        .blocking(move |s| s.create_collection(&new.slug, &metadata))
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(get, path = "/api/v1/collections/{c}", tag = "collections", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), responses((status = 200, body = CollectionSummary), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn get_collection(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let c = path(c)?;
    let summary = state.blocking(move |s| s.collection_summary(&c)).await?;
    Ok(Json(summary).into_response())
}

#[utoipa::path(patch, path = "/api/v1/collections/{c}", tag = "collections", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), request_body = CollectionMetadata, responses((status = 200, body = Collection), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody)))]
pub(crate) async fn update_collection(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let c = path(c)?;
    let metadata: CollectionMetadata = object_json(&headers, &body, false)?;
    let updated = state
        .blocking(move |s| s.update_collection(&c, &metadata))
        .await?;
    Ok(Json(updated).into_response())
}

#[utoipa::path(delete, path = "/api/v1/collections/{c}", tag = "collections", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), responses((status = 200, description = "The deleted collection", body = Collection), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn delete_collection(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let c = path(c)?;
    let deleted = state.blocking(move |s| s.delete_collection(&c)).await?;
    Ok(Json(deleted).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FilesQuery {
    /// A version number, `latest`, or `draft` (the default).
    #[param(pattern = "^(draft|latest|[1-9][0-9]{0,17})$")]
    version: Option<String>,
    /// Only paths starting with this.
    prefix: Option<String>,
    /// `unit` or `asset`.
    #[param(value_type = Option<LinkableKind>)]
    kind: Option<String>,
    /// `true`: only files directly in the `prefix` folder.
    #[param(pattern = "^(true|false)$")]
    direct: Option<String>,
    /// Only files whose path or display name contains this text (ignoring case).
    #[param(max_length = 1024)]
    q: Option<String>,
    /// The order: `path` (the default), `display_name`, `kind`, `size` or
    /// `changed_in`; `-` before it for descending (`-size`).
    #[param(pattern = "^-?(path|display_name|kind|size|changed_in)$")]
    sort: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/files", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), FilesQuery, PageParams), responses((status = 200, description = "A page of files, each with its block's display_name and block_type (from its root element; an html body shows its pointer's) and changed_in, the collection version that published it (null: a draft change)", body = Page<ListedFile>), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn list_files(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    c: Result<Path<String>, PathRejection>,
    q: Result<Query<FilesQuery>, QueryRejection>,
    page: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let c = path(c)?;
    let q = query(q)?;
    let page = query(page)?;
    let at = parse_at(q.version.as_deref(), At::Draft)?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some("unit") => Some(LinkableKind::Unit),
        Some("asset") => Some(LinkableKind::Asset),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "kind={other:?}: use unit or asset"
            )))
        }
    };
    if q.q.as_ref().is_some_and(|text| text.chars().count() > 1024) {
        return Err(ApiError::bad_request("q: use at most 1024 characters"));
    }
    let file_query = FileQuery {
        prefix: q.prefix.unwrap_or_default(),
        kind,
        direct: flag("direct", q.direct.as_deref())?,
        contains: q.q.filter(|text| !text.is_empty()),
        sort: match q.sort.as_deref() {
            None => Sort::default(),
            Some(text) => text
                .parse()
                .map_err(|e: String| ApiError::bad_request(format!("sort={e}")))?,
        },
    };
    let (number, size) = page_numbers(&page)?;
    let offset = (number - 1).saturating_mul(size);
    let (count, files) = state
        .blocking(move |s| s.files_page(&c, at, &file_query, offset, size))
        .await?;
    page_of(count, files, number, size, &uri)
}

/// A `true`/`false` query parameter (absent is false).
fn flag(name: &str, value: Option<&str>) -> ApiResult<bool> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name}={other:?}: use true or false"
        ))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FoldersQuery {
    /// A version number, `latest`, or `draft` (the default).
    #[param(pattern = "^(draft|latest|[1-9][0-9]{0,17})$")]
    version: Option<String>,
    /// The folder to list, e.g. `html/` (default: the top).
    #[param(max_length = 1024)]
    prefix: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/folders", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), FoldersQuery), responses((status = 200, description = "The folders directly inside `prefix`, with their file counts and draft changes (the files directly inside are `files?prefix=P&direct=true`)", body = Vec<Folder>), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn list_folders(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    q: Result<Query<FoldersQuery>, QueryRejection>,
) -> ApiResult {
    let c = path(c)?;
    let q = query(q)?;
    let at = parse_at(q.version.as_deref(), At::Draft)?;
    let prefix = q.prefix.unwrap_or_default();
    if prefix.chars().count() > 1024 {
        return Err(ApiError::bad_request("prefix: use at most 1024 characters"));
    }
    // A folder is named with or without its trailing '/'.
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix
    } else {
        format!("{prefix}/")
    };
    let folders = state.blocking(move |s| s.folders(&c, at, &prefix)).await?;
    Ok(Json(folders).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AtQuery {
    /// A version number, `latest`, or `draft` (the default).
    #[param(pattern = "^(draft|latest|[1-9][0-9]{0,17})$")]
    pub(crate) version: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/files/{path}", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("path" = String, Path, description = "File path inside the collection, e.g. html/intro.html: relative, no empty, . or .. component, no backslash or control character; each name at most 255 bytes (the pattern bounds it to 63 characters, which any UTF-8 fits)", pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$", max_length = 1024), AtQuery), responses((status = 200, body = FileDetail), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn file_detail(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> ApiResult {
    let (c, file_path) = path(p)?;
    let at = parse_at(query(q)?.version.as_deref(), At::Draft)?;
    let body = state
        .blocking(move |s| {
            Ok(FileDetail {
                file: s.file(&c, &file_path, at)?,
                links: s.links(&c, &file_path, at, Direction::Out)?,
                incoming: s.links(&c, &file_path, at, Direction::In)?,
            })
        })
        .await?;
    Ok(Json(body).into_response())
}

/// A file's metadata with the links it makes and the links made to it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileDetail {
    #[serde(flatten)]
    file: FileEntry,
    links: Vec<LinkInfo>,
    incoming: Vec<LinkInfo>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    message: Option<String>,
    #[serde(default)]
    strict: bool,
}

/// A body that may be absent (no bytes) or `null` (then `T::default()`),
/// else must be a JSON object.
fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> ApiResult<T> {
    // Only no body at all: whitespace is no JSON document, and a client
    // that sends one meant to send something.
    if body.is_empty() {
        return Ok(T::default());
    }
    object_json(headers, body, true)
}

/// A body that must be a JSON object (serde would also read a struct from an
/// array, which the schema does not allow).
fn object_json<T: serde::de::DeserializeOwned + Default>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    null_is_default: bool,
) -> ApiResult<T> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    let bad = |e: String| ApiError::bad_request(format!("malformed JSON body: {e}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    match value {
        serde_json::Value::Null if null_is_default => Ok(T::default()),
        serde_json::Value::Object(_) => {
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))
        }
        other => Err(bad(format!("expected a JSON object, got {other}"))),
    }
}

#[utoipa::path(post, path = "/api/v1/collections/{c}/publish", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), request_body(content = Option<PublishBody>, description = "Optional; an empty body publishes with an empty message"), responses((status = 201, body = PublishReport), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 409, description = "Conflict with the store's state", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody)))]
pub(crate) async fn publish(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let c = path(c)?;
    let body: PublishBody = optional_json(&headers, &body)?;
    let report = state
        .blocking(move |s| {
            s.publish(
                &c,
                &PublishOptions {
                    message: body.message.unwrap_or_default(),
                    strict: body.strict,
                },
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// A rename in the draft.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameBody {
    /// The file's path now.
    #[schema(
        pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$",
        max_length = 1024
    )]
    from: String,
    /// Its new path (the same rules as any path: relative, no `..`).
    #[schema(
        pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$",
        max_length = 1024
    )]
    to: String,
}

#[utoipa::path(post, path = "/api/v1/collections/{c}/rename", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), request_body = RenameBody, responses((status = 200, description = "Renamed in the draft; `broken` lists the references that named the old path and no longer resolve", body = RenameReport), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 409, description = "Conflict with the store's state", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody)))]
pub(crate) async fn rename(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let c = path(c)?;
    let body: RenameBody = object_json(&headers, &body, false)?;
    let report = state
        .blocking(move |s| s.rename_reporting(&c, &body.from, &body.to, Source::Api))
        .await?;
    Ok(Json(report).into_response())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevertBody {
    /// Discard only this path's draft.
    #[schema(
        pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$",
        max_length = 1024
    )]
    path: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/collections/{c}/revert", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), request_body(content = Option<RevertBody>, description = "Optional; without a path every draft is discarded"), responses((status = 200, body = RevertReport), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 409, description = "Conflict with the store's state", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody)))]
pub(crate) async fn revert(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let c = path(c)?;
    let body: RevertBody = optional_json(&headers, &body)?;
    let report = state
        .blocking(move |s| s.revert(&c, body.path.as_deref()))
        .await?;
    Ok(Json(report).into_response())
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/versions", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), PageParams), responses((status = 200, body = Page<CollectionVersion>), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn list_versions(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    c: Result<Path<String>, PathRejection>,
    page: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let c = path(c)?;
    let page = query(page)?;
    let versions = state.blocking(move |s| s.versions(&c)).await?;
    paginate(versions, &page, &uri)
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/drafts", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")), responses((status = 200, description = "The collection's named drafts (besides its working draft), by name", body = Vec<NamedDraft>), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn list_named_drafts(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let c = path(c)?;
    let drafts = state.blocking(move |s| s.named_drafts(Some(&c))).await?;
    Ok(Json(drafts).into_response())
}

/// A named draft with its staged changes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NamedDraftDetail {
    #[serde(flatten)]
    draft: NamedDraft,
    changes: Vec<StagedChange>,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/drafts/{name}", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("name" = String, Path, description = "The named draft's name")), responses((status = 200, description = "The named draft and its staged changes (a null hash: a deletion)", body = NamedDraftDetail), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn named_draft(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (c, name) = path(p)?;
    let (draft, changes) = state
        .blocking(move |s| {
            let draft = s.named_draft_by_name(&c, &name)?;
            s.named_draft_changes(&draft.uuid)
        })
        .await?;
    Ok(Json(NamedDraftDetail { draft, changes }).into_response())
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/versions/{n}", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("n" = i64, Path, description = "Collection version number", minimum = 1), StatsQuery), responses((status = 200, body = CollectionVersionDetail), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn version_detail(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult {
    let (c, n) = path(p)?;
    let q = query(q)?;
    let n = match n.parse::<At>() {
        Ok(At::Version(n)) => n,
        _ => {
            return Err(ApiError::bad_request(format!(
                "{n:?} is not a version number (1, 2, ...)"
            )))
        }
    };
    let stats = flag("stats", q.stats.as_deref())?;
    let detail = state
        .blocking(move |s| {
            let mut detail = s.version(&c, n)?;
            if stats {
                s.line_stats(&mut detail.entries)?;
            }
            Ok(detail)
        })
        .await?;
    Ok(Json(detail).into_response())
}

/// `stats=true`: count the lines each change adds and removes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// `true`: each text change carries `lines` (added, removed), for change
    /// sets of up to 5,000 files.
    #[param(pattern = "^(true|false)$")]
    stats: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffQuery {
    /// A version number, `latest` (the default) or `draft`.
    #[param(pattern = "^(draft|latest|[1-9][0-9]{0,17})$")]
    from: Option<String>,
    /// A version number, `latest` or `draft` (the default).
    #[param(pattern = "^(draft|latest|[1-9][0-9]{0,17})$")]
    to: Option<String>,
    /// One path: answer with its unified text diff.
    #[param(
        pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$",
        max_length = 1024
    )]
    path: Option<String>,
    /// `true`: each text change carries `lines` (added, removed), for change
    /// sets of up to 5,000 files.
    #[param(pattern = "^(true|false)$")]
    stats: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/diff", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), DiffQuery), responses((status = 200, body = DiffAnswer), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn diff(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult {
    let c = path(c)?;
    let q = query(q)?;
    let from = parse_at(q.from.as_deref(), At::Latest)?;
    let to = parse_at(q.to.as_deref(), At::Draft)?;
    let stats = flag("stats", q.stats.as_deref())?;
    let body = state
        .blocking(move |s| match q.path {
            Some(p) => {
                let diff = s.text_diff(&c, &p, from, to)?;
                Ok(DiffAnswer::Text(TextDiff {
                    path: p,
                    from,
                    to,
                    diff,
                }))
            }
            None => {
                let mut diff = s.diff(&c, from, to)?;
                if stats {
                    s.line_stats(&mut diff.entries)?;
                }
                Ok(DiffAnswer::Paths(diff))
            }
        })
        .await?;
    Ok(Json(body).into_response())
}

/// What changed between two states: per path, or (with `path=`) as a unified diff.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum DiffAnswer {
    Paths(Diff),
    Text(TextDiff),
}

/// A unified text diff of one path.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TextDiff {
    path: String,
    from: At,
    to: At,
    diff: String,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/history/{path}", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("path" = String, Path, description = "File path inside the collection, e.g. html/intro.html: relative, no empty, . or .. component, no backslash or control character; each name at most 255 bytes (the pattern bounds it to 63 characters, which any UTF-8 fits)", pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$", max_length = 1024)), responses((status = 200, body = History), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn history(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (c, file_path) = path(p)?;
    let history = state.blocking(move |s| s.history(&c, &file_path)).await?;
    Ok(Json(history).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LinksQuery {
    /// One file's links; without it, the collection's report.
    #[param(
        pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$",
        max_length = 1024
    )]
    path: Option<String>,
    /// `out` (the default: links the file makes) or `in` (links to it).
    #[param(pattern = "^(in|out)$")]
    direction: Option<String>,
    /// `true`: only broken links (for the report: `broken` and its two
    /// counts; the other lists are left empty).
    #[param(value_type = Option<bool>)]
    broken: Option<String>,
    /// A version number, `latest`, or `draft` (the default).
    #[param(pattern = "^(draft|latest|[1-9][0-9]{0,17})$")]
    version: Option<String>,
}

/// Links of one file, or the link report of a collection state
///
/// The report reads the collection as edx-platform reads an OLX export
/// (`course.xml`/`library.xml`, the course-level folders, the run's policy,
/// drafts). `broken` lists every link that names nothing, each saying whether
/// its file is `loaded`: `broken_loaded` break the course, `broken_unloaded`
/// are in files edx-platform never loads. `external` (absolute URLs, other
/// courses' assets) and `platform` (edx-platform's own static files) are
/// listed apart and are never broken. `orphans` are files the course never
/// uses: not loaded, and no loaded file names them as an asset. `unlinked`
/// are files no file links to at all; an unlinked asset is what gc deletes
/// when its `garbage_collect` flag is set.
#[utoipa::path(get, path = "/api/v1/collections/{c}/links", tag = "links", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), LinksQuery), responses((status = 200, body = LinksAnswer), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn links(
    State(state): State<AppState>,
    c: Result<Path<String>, PathRejection>,
    q: Result<Query<LinksQuery>, QueryRejection>,
) -> ApiResult {
    let c = path(c)?;
    let q = query(q)?;
    let at = parse_at(q.version.as_deref(), At::Draft)?;
    let direction = match q.direction.as_deref() {
        None | Some("out") => Direction::Out,
        Some("in") => Direction::In,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "direction={other:?}: use out or in"
            )))
        }
    };
    let broken = match q.broken.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "broken={other:?}: use true or false"
            )))
        }
    };
    let body = state
        .blocking(move |s| match q.path {
            Some(p) => {
                let mut links = s.links(&c, &p, at, direction)?;
                if broken {
                    links.retain(|l| {
                        matches!(l.resolution, crate::store::links::Resolution::Broken { .. })
                    });
                }
                let direction = if direction == Direction::In {
                    "in"
                } else {
                    "out"
                };
                Ok(LinksAnswer::File(FileLinks {
                    path: p,
                    direction: direction.into(),
                    links,
                }))
            }
            None => {
                let mut report = s.link_report(&c, at)?;
                if broken {
                    // Only the broken links: the report's other lists stay empty.
                    report.ambiguous.clear();
                    report.orphans.clear();
                    report.unlinked.clear();
                    report.external.clear();
                    report.platform.clear();
                    report.malformed.clear();
                }
                Ok(LinksAnswer::Report(report))
            }
        })
        .await?;
    Ok(Json(body).into_response())
}

/// One file's links, or the collection's report (with `broken=true`, only
/// its broken links).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum LinksAnswer {
    File(FileLinks),
    Report(LinkReport),
}

/// The links a file makes (`direction=out`) or receives (`in`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileLinks {
    path: String,
    direction: String,
    links: Vec<LinkInfo>,
}

/// The 404 for a uuid asked for as the wrong kind (a unit's uuid under
/// `/assets/`, or the reverse), naming the right endpoint.
fn wrong_kind(uuid: &str, actual: LinkableKind, wanted: LinkableKind) -> Option<ApiError> {
    let a = |k: LinkableKind| {
        if k == LinkableKind::Unit {
            "a unit"
        } else {
            "an asset"
        }
    };
    (actual != wanted).then(|| {
        ApiError::not_found(format!(
            "{uuid} is {}, not {}: use /api/v1/{}s/{uuid}",
            a(actual),
            a(wanted),
            actual.as_str()
        ))
    })
}

async fn linkable_of_kind(state: &AppState, uuid: String, kind: LinkableKind) -> ApiResult {
    let found = state.blocking(move |s| s.linkable(&uuid)).await?;
    match wrong_kind(&found.uuid, found.kind, kind) {
        Some(error) => Err(error),
        None => Ok(Json(found).into_response()),
    }
}

#[utoipa::path(get, path = "/api/v1/units/{uuid}", tag = "uuids", params(("uuid" = String, Path, description = "A uuid")), responses((status = 200, body = Linkable), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn unit(
    State(state): State<AppState>,
    u: Result<Path<String>, PathRejection>,
) -> ApiResult {
    linkable_of_kind(&state, path(u)?, LinkableKind::Unit).await
}

#[utoipa::path(get, path = "/api/v1/assets/{uuid}", tag = "uuids", params(("uuid" = String, Path, description = "A uuid")), responses((status = 200, body = Linkable), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn asset(
    State(state): State<AppState>,
    u: Result<Path<String>, PathRejection>,
) -> ApiResult {
    linkable_of_kind(&state, path(u)?, LinkableKind::Asset).await
}

async fn versions_of_kind(state: &AppState, uuid: String, kind: LinkableKind) -> ApiResult {
    let history = state.blocking(move |s| s.linkable_history(&uuid)).await?;
    match wrong_kind(&history.uuid, history.kind, kind) {
        Some(error) => Err(error),
        None => Ok(Json(history).into_response()),
    }
}

#[utoipa::path(get, path = "/api/v1/units/{uuid}/versions", tag = "uuids", params(("uuid" = String, Path, description = "A uuid")), responses((status = 200, body = History), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn unit_versions(
    State(state): State<AppState>,
    u: Result<Path<String>, PathRejection>,
) -> ApiResult {
    versions_of_kind(&state, path(u)?, LinkableKind::Unit).await
}

#[utoipa::path(get, path = "/api/v1/assets/{uuid}/versions", tag = "uuids", params(("uuid" = String, Path, description = "A uuid")), responses((status = 200, body = History), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn asset_versions(
    State(state): State<AppState>,
    u: Result<Path<String>, PathRejection>,
) -> ApiResult {
    versions_of_kind(&state, path(u)?, LinkableKind::Asset).await
}

#[utoipa::path(get, path = "/api/v1/links/{uuid}", tag = "uuids", params(("uuid" = String, Path, description = "A uuid")), responses((status = 200, body = LinkInfo), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn link(
    State(state): State<AppState>,
    u: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let uuid = path(u)?;
    let link = state.blocking(move |s| s.link(&uuid)).await?;
    Ok(Json(link).into_response())
}

#[utoipa::path(get, path = "/api/v1/versions/{uuid}", tag = "uuids", params(("uuid" = String, Path, description = "A uuid")), responses((status = 200, body = VersionDetail), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn version_by_uuid(
    State(state): State<AppState>,
    u: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let uuid = path(u)?;
    let version = state.blocking(move |s| s.version_by_uuid(&uuid)).await?;
    Ok(Json(version).into_response())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GcBody {
    /// Versions older than this many days are collected (default 30).
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 100000)]
    #[serde(default, deserialize_with = "whole_number")]
    older_than_days: Option<u64>,
    #[serde(default)]
    dry_run: bool,
}

/// A whole number that JSON may spell `386` or `386.0` (JSON Schema counts
/// both as integers).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    n.map(|n| {
        n.as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number >= 0")))
    })
    .transpose()
}

/// gc's default age, as the CLI's `--older-than 30d`.
const DEFAULT_GC_DAYS: u64 = 30;

#[utoipa::path(post, path = "/api/v1/gc", tag = "server", request_body(content = Option<GcBody>, description = "Optional; default: older than 30 days, for real"), responses((status = 200, body = GcReport), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not JSON", body = ErrorBody)))]
pub(crate) async fn gc(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let body: GcBody = optional_json(&headers, &body)?;
    let days = body.older_than_days.unwrap_or(DEFAULT_GC_DAYS);
    if days > 100_000 {
        return Err(ApiError::bad_request(format!(
            "older_than_days={days}: use at most 100000"
        )));
    }
    let report = state
        .blocking(move |s| s.gc(&GcOptions::older_than_days(days, body.dry_run)))
        .await?;
    Ok(Json(report).into_response())
}

#[utoipa::path(post, path = "/api/v1/seed", tag = "server", responses((status = 201, description = "The bundled sample course (two published versions) and library, as `blockstore seed` loads them", body = crate::olx::seed::SeedReport), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 409, description = "Conflict with the store's state", body = ErrorBody)))]
pub(crate) async fn seed(State(state): State<AppState>) -> ApiResult {
    let report = state
        .blocking(|s| crate::olx::seed::seed_samples(s, &crate::store::NoProgress))
        .await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

pub(crate) async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint at {}; the API lives under /api/v1 (see /api/v1/openapi.json)",
        uri.path()
    ))
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method (see /api/v1/openapi.json)",
    )
}
