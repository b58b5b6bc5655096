//! OLX over HTTP: `POST .../import` streams a `.tar.gz`/`.tar` request body
//! into a collection, `GET .../export` streams a reproducible archive of the
//! draft or a published version back, `GET .../outline` is the block tree.
//!
//! Both stream: the import reads the body through the same checks as
//! `blockstore import` (hostile entries; size, entry and expansion-ratio
//! limits, set by `serve --archive-max-*`) while hashing
//! it into the blob store; the export writes the archive into a bounded
//! channel that feeds the response body, so neither holds a collection in
//! memory and a slow client slows the producer down. They live outside the
//! request timeout (like the event stream): an archive takes as long as its
//! bytes take, and the upload limit bounds the import.

use super::api::{parse_at, AtQuery};
use super::error::{ApiError, ErrorBody};
use super::raw::{header_str, upload_reader};
use super::AppState;
#[allow(unused_imports)] // named only by the OpenAPI annotations
use crate::olx::{
    export::top_folder, export::write_archive, import_archive, ArchiveFormat, ArchiveLimits,
    ExportFormat, ImportOptions, ImportReport,
};
use crate::store::{NoProgress, Source};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::io::{self, BufRead, Write};
use utoipa::IntoParams;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(v1!("/import"), post(import_named))
        .route(v1!("/collections/{c}/import"), post(import))
        .route(v1!("/collections/{c}/export"), get(export))
        .route(v1!("/collections/{c}/outline"), get(outline))
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/outline", tag = "archives", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), AtQuery), responses((status = 200, description = "The block tree (course → chapter → sequential → vertical → block) with display names, orphans and broken pointers", body = crate::olx::Outline), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn outline(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(c) = p?;
    let Query(q) = q?;
    let at = parse_at(q.version.as_deref(), crate::store::At::Draft)?;
    let outline = state
        .blocking(move |s| crate::olx::outline(s, &c, at))
        .await?;
    Ok(axum::Json(outline).into_response())
}

/// `?publish=&message=` of an import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// `true`: publish right after importing.
    #[param(pattern = "^(true|false)$")]
    publish: Option<String>,
    /// The publish message (with `publish=true`).
    message: Option<String>,
    /// The uploaded file's name (`course.tar.gz`), for messages.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    name: Option<String>,
}

/// `?name=&publish=&message=` of an import that names its own collection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NamedImportQuery {
    /// The uploaded file's name (`course.tar.gz`): the collection's name
    /// when the archive is no course, library or backup, and in messages.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    name: String,
    /// `true`: publish right after importing.
    #[param(pattern = "^(true|false)$")]
    publish: Option<String>,
    /// The publish message (with `publish=true`).
    message: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/import", tag = "archives", params(NamedImportQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "As for /api/v1/collections/{c}/import; the collection is named as `blockstore import FILE` names it: ORG.COURSE.RUN from course.xml, ORG.LIBRARY from library.xml, a backup's package key, else the archive's one top folder or `name` without its extension"), responses((status = 201, description = "Imported into a new collection", body = ImportReport), (status = 200, description = "Imported into an existing collection", body = ImportReport), (status = 400, description = "Not an archive, or a refused one, or no collection name can be derived; nothing was imported", body = ErrorBody), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not an archive type", body = ErrorBody), (status = 507, description = "The disk holding the data dir is full; nothing was imported", body = ErrorBody)))]
pub(crate) async fn import_named(
    State(state): State<AppState>,
    q: Result<Query<NamedImportQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let q = ImportQuery {
        publish: q.publish,
        message: q.message,
        name: Some(q.name),
    };
    import_body(state, None, q, headers, body).await
}

#[utoipa::path(post, path = "/api/v1/collections/{c}/import", tag = "archives", params(("c" = String, Path, description = "Collection slug or uuid; created if missing", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), ImportQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An OLX export as .tar.gz or .tar, or a Learning Core backup (.zip, as lp_dump writes it), recognised by its first bytes (Content-Type application/gzip, application/x-tar, application/zip or application/octet-stream); a tar's one top-level folder such as course/ is stripped, and the draft becomes exactly its tree (a backup: its published state a new version, its draft's differences the draft)"), responses((status = 201, description = "Imported into a new collection", body = ImportReport), (status = 200, description = "Imported into an existing collection", body = ImportReport), (status = 400, description = "Not an archive, or a refused one (unsafe entries, over the size, entry or expansion-ratio limits of `blockstore serve --archive-max-bytes/--archive-max-entries/--archive-max-ratio`, truncated); nothing was imported", body = ErrorBody), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody), (status = 413, description = "The body is over the limit", body = ErrorBody), (status = 415, description = "The body is not an archive type", body = ErrorBody), (status = 507, description = "The disk holding the data dir is full; nothing was imported", body = ErrorBody)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<ImportQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(c) = p?;
    let Query(q) = q?;
    import_body(state, Some(c), q, headers, body).await
}

/// An import into `c`, or into the collection the archive names.
async fn import_body(
    state: AppState,
    c: Option<String>,
    q: ImportQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(name) = &q.name {
        if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "name: give the uploaded file's name (1 to 255 characters, no control characters)",
            ));
        }
    }
    let name = q.name.clone().unwrap_or_else(|| "request body".into());
    let publish = match q.publish.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "publish={other:?}: use true or false"
            )))
        }
    };
    if let Some(kind) = header_str(&headers, header::CONTENT_TYPE)? {
        let essence = kind.split(';').next().unwrap_or("").trim();
        let accepted = [
            "application/gzip",
            "application/x-gzip",
            "application/x-tar",
            "application/x-gtar",
            "application/x-compressed-tar",
            "application/octet-stream",
            "application/zip",
            "application/x-zip-compressed",
        ];
        if !accepted.iter().any(|a| a.eq_ignore_ascii_case(essence)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Type {essence:?} is no archive: send the .tar.gz as application/gzip (a .tar as application/x-tar, a Learning Core backup as application/zip)"),
            ));
        }
    }
    let limit = state.upload_limit;
    let archive_limits = state.archive_limits;
    let (limited, upload) = upload_reader(&headers, body, limit)?;
    let options = ImportOptions {
        collection: c,
        publish,
        message: q.message,
        source: Source::Api,
    };
    let imported = state
        .blocking(move |s| {
            let mut reader = io::BufReader::with_capacity(256 * 1024, limited);
            let head = reader
                .fill_buf()
                .map_err(|e| crate::store::Error::io("reading the request body", e))?;
            if head.is_empty() {
                return Err(crate::store::Error::Invalid(
                    "the request body is empty: send a .tar.gz or .tar of an OLX export, or a Learning Core backup (.zip)".into(),
                ));
            }
            if crate::olx::learning_core::is_zip(head) {
                // A Learning Core backup: a zip is read from its end, so the
                // body is spooled to a temp file first (within the upload
                // limit), removed when the import ends.
                let spool = std::env::temp_dir().join(format!(
                    "blockstore-upload-{}-{}.zip",
                    std::process::id(),
                    uuid::Uuid::new_v4()
                ));
                let copied = (|| -> std::io::Result<()> {
                    let mut file = std::fs::File::create(&spool)?;
                    io::copy(&mut reader, &mut file)?;
                    file.sync_all()
                })();
                let result = copied
                    .map_err(|e| crate::store::Error::io("receiving the backup", e))
                    .and_then(|()| {
                        crate::olx::learning_core::import_backup_named(
                            s,
                            &spool,
                            &name,
                            &options,
                            archive_limits,
                            &NoProgress,
                        )
                    });
                let _ = std::fs::remove_file(&spool);
                return result;
            }
            let format = ArchiveFormat::sniff(head).ok_or_else(|| {
                crate::store::Error::Invalid(
                    "the request body is neither gzip, tar nor zip: send a .tar.gz or .tar of an OLX export, or a Learning Core backup (.zip)"
                        .into(),
                )
            })?;
            import_archive(
                s,
                &mut reader,
                format,
                &name,
                &options,
                archive_limits,
                &NoProgress,
            )
        })
        .await;
    let report = imported.map_err(|e| upload.explain(e))?;
    let status = if report.created_collection {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(report)).into_response())
}

/// `?version=&format=` of an export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `tar.gz` (the default) or `tar`: the OLX tree; `learning-core`: a
    /// Learning Core backup (`lp_load` reads it), the state asked for as its
    /// published state, or by default the latest version and the draft's
    /// differences as its drafts.
    #[param(pattern = "^(tar\\.gz|tar|learning-core)$")]
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/collections/{c}/export", tag = "archives", params(("c" = String, Path, description = "Collection slug or uuid", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), AtQuery, ExportQuery), responses((status = 200, description = "A reproducible archive: one top-level folder (course/, library/ or the slug), sorted entries, fixed mtimes and owners", content((Vec<u8> = "application/gzip"), (Vec<u8> = "application/x-tar"), (Vec<u8> = "application/zip"))), (status = 400, description = "Bad input: a malformed body, path or parameter", body = ErrorBody), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody), (status = 404, description = "Unknown collection, path, version or uuid", body = ErrorBody)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    at: Result<Query<AtQuery>, QueryRejection>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(c) = p?;
    let Query(at) = at?;
    let Query(q) = q?;
    let at = parse_at(at.version.as_deref(), crate::store::At::Draft)?;
    let (format, extension, media_type) = match q.format.as_deref() {
        None | Some("tar.gz") => (ExportFormat::TarGz, "tar.gz", "application/gzip"),
        Some("tar") => (ExportFormat::Tar, "tar", "application/x-tar"),
        Some("learning-core") => return export_backup(state, c, at).await,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format={other:?}: use tar.gz, tar or learning-core"
            )))
        }
    };
    // Resolve before the first byte, so an unknown collection or version is a
    // 404 with a JSON body, not a broken download.
    let (slug, files) = state
        .blocking(move |s| {
            let collection = s.collection(&c)?;
            let files = s.files(&c, at)?;
            Ok((collection.slug, files))
        })
        .await?;
    let name = match at {
        crate::store::At::Version(n) => format!("{slug}-v{n}.{extension}"),
        crate::store::At::Latest => format!("{slug}-latest.{extension}"),
        crate::store::At::Draft => format!("{slug}-draft.{extension}"),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let top = top_folder(&files, &slug);
        let out = ChannelWriter {
            sender: sender.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let written = write_archive(&store, &files, &top, format, out, &NoProgress);
        if let Err(e) = written {
            // The status line is sent: all that is left is to cut the body
            // short, which the client sees as a broken download.
            tracing::warn!(error = %e, "export stopped");
            let _ = sender.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The export as a Learning Core backup. A zip is written with seeks, so it
/// is built whole in a temp file first (unlinked once open), then sent: any
/// error is an answer with a status, not a broken download.
async fn export_backup(
    state: AppState,
    c: String,
    at: crate::store::At,
) -> Result<Response, ApiError> {
    let (slug, file) = state
        .blocking(move |s| {
            let collection = s.collection(&c)?;
            let version = match at {
                crate::store::At::Version(n) => {
                    s.version(&collection.slug, n)?;
                    Some(n)
                }
                crate::store::At::Latest => s.versions(&collection.slug)?.first().map(|v| v.number),
                crate::store::At::Draft => None,
            };
            let path = std::env::temp_dir().join(format!(
                "blockstore-export-{}-{}.zip",
                std::process::id(),
                uuid::Uuid::new_v4()
            ));
            let written = (|| -> crate::store::Result<std::fs::File> {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| crate::store::Error::io("creating the backup's temp file", e))?;
                let _ = std::fs::remove_file(&path);
                let mut out = io::BufWriter::new(file);
                crate::olx::learning_core::write_backup(
                    s,
                    &collection.slug,
                    version,
                    &mut out,
                    &NoProgress,
                )?;
                let mut file = out
                    .into_inner()
                    .map_err(|e| crate::store::Error::io("writing the backup", e.into_error()))?;
                io::Seek::seek(&mut file, io::SeekFrom::Start(0))
                    .map_err(|e| crate::store::Error::io("reading the backup back", e))?;
                Ok(file)
            })();
            let _ = std::fs::remove_file(&path);
            Ok((collection.slug, written?))
        })
        .await?;
    let name = match at {
        crate::store::At::Version(n) => format!("{slug}-v{n}.zip"),
        crate::store::At::Latest => format!("{slug}-latest.zip"),
        crate::store::At::Draft => format!("{slug}-draft.zip"),
    };
    let length = file.metadata().map(|m| m.len()).ok();
    let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut out = ChannelWriter {
            sender: sender.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = io::copy(&mut file, &mut out).and_then(|_| out.flush()) {
            tracing::warn!(error = %e, "export stopped");
            let _ = sender.blocking_send(Err(e));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Bytes per body chunk sent to the client.
const CHUNK: usize = 64 * 1024;

/// A `Write` that hands full chunks to the response body; fails (ending the
/// export) when the client has gone away.
struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
