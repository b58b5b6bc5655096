//! Raw content: `GET|PUT|DELETE /api/v1/collections/{c}/raw/{*path}`.
//!
//! Reads stream the blob with its media type, `ETag` (the content hash),
//! `Content-Length`, `If-None-Match` (304) and single `Range`s (206), so a
//! browser can seek in a video. Writes stream the body into the blob store
//! under the upload limit, never whole in memory, with `If-Match` /
//! `If-None-Match: *` checked inside the write's transaction. Stored HTML and
//! SVG are served with `Content-Security-Policy: sandbox`, so they are never
//! active content in the API's origin.

use super::api::{parse_at, AtQuery};
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::{At, BlobReader, Precondition, Source, WriteOutcome, Written, INLINE_MAX};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::TryStreamExt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        v1!("/collections/{c}/raw/{*path}"),
        get(read_raw).put(write_raw).delete(delete_raw),
    )
}

fn etag(hash: &str) -> String {
    format!("\"{hash}\"")
}

/// The entity tags of an `If-Match`/`If-None-Match` value (`*` is `None`).
fn entity_tags(value: &str) -> Option<Vec<String>> {
    if value.trim() == "*" {
        return None;
    }
    Some(
        value
            .split(',')
            .map(|t| {
                let t = t.trim();
                let t = t.strip_prefix("W/").unwrap_or(t);
                t.trim_matches('"').to_string()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

pub(crate) fn header_str(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<&str>, ApiError> {
    headers
        .get(&name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request(format!("the {name} header is not ASCII")))
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/raw/{path}", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("path" = String, Path, description = "File path inside the collection, e.g. html/intro.html: relative, no empty, . or .. component, no backslash or control character; each name at most 255 bytes (the pattern bounds it to 63 characters, which any UTF-8 fits)", pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$", max_length = 1024), AtQuery, ("Range" = Option<String>, Header, nullable = false, description = "bytes=START-END (one range)"), ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag: 304 when it still matches"), ("If-Range" = Option<String>, Header, nullable = false, description = "Apply Range only if this ETag matches")), responses((status = 200, description = "The bytes, with Content-Type, ETag (the content hash) and Content-Length", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "One range of the bytes", content_type = "application/octet-stream", body = Vec<u8>), (status = 304, description = "If-None-Match matched"), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 416, description = "The Range does not fit the file", body = ErrorBody)))]
pub(crate) async fn read_raw(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<AtQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((c, path)) = p?;
    let Query(q) = q?;
    let at = parse_at(q.version.as_deref(), At::Draft)?;
    // A small file read since the last commit comes from memory, with no
    // hop to the blocking pool (`Store::cached_read`); a larger one's entry
    // does, and its blob is opened on the pool.
    let cached = state.store.cached_read(&c, &path, at);
    let (file, blob): (std::borrow::Cow<'_, _>, _) = match &cached {
        Some(hot) if hot.bytes.is_some() => (
            std::borrow::Cow::Borrowed(&hot.file),
            Content::Bytes(axum::body::Bytes::from_owner(
                hot.bytes.clone().expect("matched on Some"),
            )),
        ),
        cached => {
            let cached = cached.clone();
            let (file, blob) = state
                .blocking(move |s| {
                    let (file, hot) = match cached {
                        Some(hot) => (hot.file.clone(), None),
                        None => s.read_hot(&c, &path, at)?,
                    };
                    if let Some(bytes) = hot {
                        return Ok((file, Content::Bytes(axum::body::Bytes::from_owner(bytes))));
                    }
                    let mut blob = match s.blobs().open_blob(&file.hash)? {
                        BlobReader::Inline(bytes) => {
                            return Ok((file, Content::Bytes(bytes.into_inner().into())));
                        }
                        BlobReader::File(blob) => blob,
                    };
                    // Mid-sized contents are read here, on the blocking thread
                    // that already has the file open: one hop to the blocking
                    // pool per request instead of one per read.
                    if file.size <= READ_WHOLE_LIMIT {
                        let mut bytes = Vec::with_capacity(file.size as usize);
                        blob.read_to_end(&mut bytes).map_err(|e| {
                            crate::store::Error::io(format!("reading blob {}", file.hash), e)
                        })?;
                        return Ok((file, Content::Bytes(bytes.into())));
                    }
                    Ok((file, Content::File(blob)))
                })
                .await?;
            (std::borrow::Cow::Owned(file), blob)
        }
    };
    let tag = etag(&file.hash);
    let mut response_headers = HeaderMap::new();
    let h = |v: &str| {
        HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("application/octet-stream"))
    };
    response_headers.insert(header::ETAG, h(&tag));
    response_headers.insert(header::CONTENT_TYPE, h(&file.media_type));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // The draft changes under the same URL: caches must ask again (a 304 is cheap).
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response_headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(INERT_CSP),
    );
    if let Some(value) = header_str(&headers, header::IF_NONE_MATCH)? {
        let matches = match entity_tags(value) {
            None => true,
            Some(tags) => tags.contains(&file.hash),
        };
        if matches {
            return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
        }
    }
    let total = file.size;
    // `If-Range` with another tag: the client's partial copy is stale, send it all.
    let range_applies = match header_str(&headers, header::IF_RANGE)? {
        None => true,
        Some(value) => entity_tags(value).is_some_and(|tags| tags.contains(&file.hash)),
    };
    let range = match header_str(&headers, header::RANGE)? {
        Some(value) if range_applies => Some(value),
        _ => None,
    };
    if let Some(value) = range {
        // A Range that does not parse is ignored (RFC 9110 §14.2); one that
        // parses but lies outside the file is a 416.
        let ranges = http_range_header::parse_range_header(value)
            .map(|r| r.validate(total))
            .unwrap_or(Ok(Vec::new()));
        match ranges {
            Ok(ranges) if ranges.len() == 1 => {
                let (start, end) = (*ranges[0].start(), *ranges[0].end());
                let len = end - start + 1;
                response_headers.insert(
                    header::CONTENT_RANGE,
                    h(&format!("bytes {start}-{end}/{total}")),
                );
                response_headers.insert(header::CONTENT_LENGTH, h(&len.to_string()));
                let body = match blob {
                    Content::Bytes(bytes) => Body::from(bytes.slice(start as usize..=end as usize)),
                    Content::File(blob) => {
                        let mut blob = tokio::fs::File::from_std(blob);
                        blob.seek(std::io::SeekFrom::Start(start))
                            .await
                            .map_err(|e| {
                                ApiError::from(crate::store::Error::io("seeking in a blob", e))
                            })?;
                        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                            blob.take(len),
                            STREAM_CHUNK,
                        ))
                    }
                };
                return Ok((StatusCode::PARTIAL_CONTENT, response_headers, body).into_response());
            }
            // Several ranges would need multipart/byteranges: send it all instead,
            // which RFC 9110 allows.
            Ok(_) => {}
            Err(_) => {
                response_headers.insert(header::CONTENT_RANGE, h(&format!("bytes */{total}")));
                let mut response = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("Range {value:?} does not fit a file of {total} bytes"),
                )
                .into_response();
                response.headers_mut().extend(response_headers);
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response.headers_mut().remove(header::CONTENT_LENGTH);
                return Ok(response);
            }
        }
    }
    response_headers.insert(header::CONTENT_LENGTH, h(&total.to_string()));
    let body = match blob {
        Content::Bytes(bytes) => Body::from(bytes),
        Content::File(blob) => Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            tokio::fs::File::from_std(blob),
            STREAM_CHUNK,
        )),
    };
    Ok((StatusCode::OK, response_headers, body).into_response())
}

/// Contents up to this size are served from memory; larger ones stream.
const READ_WHOLE_LIMIT: u64 = 1024 * 1024;

/// Bytes a streamed content is read in per hop to the blocking pool (the
/// default 4 KiB made a 3 MB asset 700 hops: 60 ms on loopback).
const STREAM_CHUNK: usize = 256 * 1024;

/// The policy stored bytes are served under (raw files, draft revisions):
/// stored HTML or SVG opened directly is sandboxed, so it never runs in the
/// API's origin.
pub(crate) const INERT_CSP: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'";

/// A blob's bytes, read whole, or its open file for streaming.
enum Content {
    Bytes(axum::body::Bytes),
    File(std::fs::File),
}

/// What went wrong with an upload's body, if anything: over the limit, or
/// the client's bytes themselves were broken (a malformed chunked body, a
/// connection cut mid-body). A write that failed for either reason is the
/// client's fault (413, 400), not the store's (500).
#[derive(Debug, Default)]
pub(crate) struct UploadStatus {
    over: AtomicBool,
    broken: std::sync::Mutex<Option<String>>,
    limit: u64,
    /// What `Content-Length` announced: on a full disk, the space needed.
    pub(crate) declared: Option<u64>,
}

impl UploadStatus {
    /// The answer for a write of this upload that failed with `e`.
    pub(crate) fn explain(&self, e: ApiError) -> ApiError {
        if self.over.load(Ordering::Relaxed) {
            return ApiError::too_large(self.limit);
        }
        match &*self.broken.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => ApiError::bad_request(format!(
                "the request body could not be read: {why}; nothing was written"
            )),
            None => e,
        }
    }
}

/// Reads at most `limit` bytes of a body, recording in [`UploadStatus`] why
/// a read failed.
pub(crate) struct Limited<R> {
    inner: R,
    left: u64,
    status: Arc<UploadStatus>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                *self.status.broken.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                return Err(e);
            }
        };
        if n as u64 > self.left {
            self.status.over.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("the upload is over the limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A streamed request body as a blocking reader that stops at `limit` bytes
/// (refused up front when `Content-Length` says more), and the status that
/// tells a failed write's cause.
pub(crate) fn upload_reader(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<(Limited<impl Read + Send + 'static>, Arc<UploadStatus>), ApiError> {
    let declared = header_str(headers, header::CONTENT_LENGTH)?
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request("Content-Length is not a number"))
        })
        .transpose()?;
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let status = Arc::new(UploadStatus {
        limit,
        declared,
        ..UploadStatus::default()
    });
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    Ok((
        Limited {
            inner: reader,
            left: limit,
            status: status.clone(),
        },
        status,
    ))
}

fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    // An empty header names no condition: it is as if it were absent.
    let given = |name: header::HeaderName| -> Result<Option<&str>, ApiError> {
        Ok(header_str(headers, name)?.filter(|v| !v.trim().is_empty()))
    };
    if let Some(value) = given(header::IF_MATCH)? {
        return match entity_tags(value) {
            None => Ok(Some(Precondition::Exists)),
            Some(mut tags) if tags.len() == 1 => Ok(Some(Precondition::Hash(tags.remove(0)))),
            Some(tags) => Ok(Some(Precondition::AnyOf(tags))),
        };
    }
    if let Some(value) = given(header::IF_NONE_MATCH)? {
        return Ok(Some(match entity_tags(value) {
            None => Precondition::Absent,
            Some(tags) => Precondition::NoneOf(tags),
        }));
    }
    Ok(None)
}

#[utoipa::path(put, path = "/api/v1/collections/{c}/raw/{path}", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("path" = String, Path, description = "File path inside the collection, e.g. html/intro.html: relative, no empty, . or .. component, no backslash or control character; each name at most 255 bytes (the pattern bounds it to 63 characters, which any UTF-8 fits)", pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$", max_length = 1024), ("If-Match" = Option<String>, Header, nullable = false, description = "Write only if the draft holds this ETag (or * : exists)"), ("If-None-Match" = Option<String>, Header, nullable = false, description = "* : write only if the path does not exist; ETags: only if the draft holds none of them")), request_body(content = Option<Vec<u8>>, content_type = "application/octet-stream", description = "The file's bytes; none or empty writes an empty file"), responses((status = 201, description = "Created", body = WriteAnswer), (status = 200, description = "Modified or unchanged", body = WriteAnswer), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 412, description = "If-Match / If-None-Match did not hold", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody)))]
pub(crate) async fn write_raw(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<AtQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((c, path)) = p?;
    let Query(q) = q?;
    if q.version.is_some_and(|v| v != "draft") {
        return Err(ApiError::bad_request(
            "writes go to the draft; drop ?version= (published versions never change)",
        ));
    }
    let expect = precondition(&headers)?;
    let limit = state.upload_limit;
    let small = header_str(&headers, header::CONTENT_LENGTH)?
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n <= INLINE_MAX.min(limit));
    let Written { outcome, file } = match small {
        // A small body (most units) is read here, on the runtime, and
        // written inline in one hop to the blocking pool: no stream bridge.
        Some(declared) => {
            let bytes = axum::body::to_bytes(body, declared as usize)
                .await
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "the request body could not be read: {e}; nothing was written"
                    ))
                })?;
            state
                .blocking(move |s| {
                    s.write_if(&c, &path, &bytes, Source::Api, expect)
                        .map_err(|e| e.needing_at_least(declared))
                })
                .await?
        }
        None => {
            let (mut reader, upload) = upload_reader(&headers, body, limit)?;
            let declared = upload.declared;
            state
                .blocking(move |s| {
                    s.write_stream(&c, &path, &mut reader, Source::Api, expect)
                        .map_err(|e| e.needing_at_least(declared.unwrap_or(0)))
                })
                .await
                .map_err(|e| upload.explain(e))?
        }
    };
    let status = if outcome == WriteOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let etag_value = HeaderValue::from_str(&etag(&file.hash));
    let mut response = (status, axum::Json(WriteAnswer { outcome, file })).into_response();
    if let Ok(tag) = etag_value {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/collections/{c}/raw/{path}", tag = "files", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ("path" = String, Path, description = "File path inside the collection, e.g. html/intro.html: relative, no empty, . or .. component, no backslash or control character; each name at most 255 bytes (the pattern bounds it to 63 characters, which any UTF-8 fits)", pattern = "^(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61})(?:/(?:[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,62}|\\.[^./\\\\\\u0000-\\u001f\\u007f-\\u009f][^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{0,61}|\\.\\.[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]{1,61}))*$", max_length = 1024)), responses((status = 200, body = DeleteAnswer), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn delete_raw(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((c, path)) = p?;
    let outcome = state
        .blocking(move |s| s.delete(&c, &path, Source::Api))
        .await?;
    Ok(axum::Json(DeleteAnswer { outcome }).into_response())
}

/// What a PUT did, and the file as that PUT left it in the draft.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct WriteAnswer {
    outcome: WriteOutcome,
    file: crate::store::FileEntry,
}

/// What a DELETE did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeleteAnswer {
    outcome: WriteOutcome,
}
