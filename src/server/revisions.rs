//! `…/collections/{c}/revisions/{id}`: a file's draft revisions (every save
//! since it was created, listed by `…/history/{path}`) read back, compared
//! and restored, so the UI can offer an editor's local history. The raw
//! bytes are served with the same inert headers as `…/raw/{path}`.

use super::api::{path, query, ApiResult};
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::{media_type, Against, DraftRevision, RelPath, Source, WriteOutcome};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(v1!("/collections/{c}/revisions/{id}"), get(revision))
        .route(
            v1!("/collections/{c}/revisions/{id}/raw"),
            get(revision_raw),
        )
        .route(
            v1!("/collections/{c}/revisions/{id}/diff"),
            get(revision_diff),
        )
        .route(
            v1!("/collections/{c}/revisions/{id}/restore"),
            post(restore),
        )
}

fn id(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("{text:?} is not a revision id (1, 2, ...)")))
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/revisions/{id}", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("id" = i64, Path, description = "A draft revision's id (from the file's history)", minimum = 1)), responses((status = 200, body = DraftRevision), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn revision(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (c, n) = path(p)?;
    let n = id(&n)?;
    let (revision, _) = state.blocking(move |s| s.revision(&c, n)).await?;
    Ok(Json(revision).into_response())
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/revisions/{id}/raw", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("id" = i64, Path, description = "A draft revision's id (from the file's history)", minimum = 1)), responses((status = 200, description = "The bytes that save wrote, with the path's Content-Type", content_type = "application/octet-stream", body = Vec<u8>), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection or revision, or a revision that deleted the file", body = ErrorBody)))]
pub(crate) async fn revision_raw(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (c, n) = path(p)?;
    let n = id(&n)?;
    let (revision, bytes) = state.blocking(move |s| s.revision(&c, n)).await?;
    let Some(bytes) = bytes else {
        return Err(ApiError::not_found(format!(
            "revision {n} deleted {}: it has no bytes",
            revision.path
        )));
    };
    let media = RelPath::existing(&revision.path)
        .map(|p| media_type(&p))
        .unwrap_or_else(|_| "application/octet-stream".into());
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&media)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // A revision never changes.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::raw::INERT_CSP),
    );
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgainstQuery {
    /// `draft` (the default): the file's draft now; or another revision's id
    /// of the same file.
    #[param(pattern = "^(draft|[1-9][0-9]{0,17})$")]
    against: Option<String>,
}

/// A unified diff from a revision to the draft or another revision.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RevisionDiff {
    id: i64,
    /// `draft`, or the other revision's id.
    against: String,
    diff: String,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/revisions/{id}/diff", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("id" = i64, Path, description = "A draft revision's id (from the file's history)", minimum = 1), AgainstQuery), responses((status = 200, body = RevisionDiff), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter, or revisions of two files", body = ErrorBody), (status = 404, description = "Unknown collection or revision", body = ErrorBody)))]
pub(crate) async fn revision_diff(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<AgainstQuery>, QueryRejection>,
) -> ApiResult {
    let (c, n) = path(p)?;
    let n = id(&n)?;
    let q = query(q)?;
    let (against, label) = match q.against.as_deref() {
        None | Some("draft") => (Against::Draft, "draft".to_string()),
        Some(other) => {
            let other = id(other).map_err(|_| {
                ApiError::bad_request(format!("against={other:?}: use draft or a revision id"))
            })?;
            (Against::Revision(other), other.to_string())
        }
    };
    let diff = state
        .blocking(move |s| s.revision_diff(&c, n, against))
        .await?;
    Ok(Json(RevisionDiff {
        id: n,
        against: label,
        diff,
    })
    .into_response())
}

/// What a restore did to the draft.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RestoreAnswer {
    outcome: WriteOutcome,
    /// The revision whose bytes the draft now holds.
    restored: DraftRevision,
}

#[utoipa::path(post, path = "/api/v1/collections/{c}/revisions/{id}/restore", tag = "history", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("id" = i64, Path, description = "A draft revision's id (from the file's history)", minimum = 1)), responses((status = 200, description = "The draft holds the revision's bytes again (a new save; `unchanged` when it already did)", body = RestoreAnswer), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection or revision", body = ErrorBody)))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (c, n) = path(p)?;
    let n = id(&n)?;
    let (outcome, restored) = state
        .blocking(move |s| {
            let outcome = s.restore_revision(&c, n, Source::Api)?;
            Ok((outcome, s.revision(&c, n)?.0))
        })
        .await?;
    Ok(Json(RestoreAnswer { outcome, restored }).into_response())
}
