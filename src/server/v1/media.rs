//! The v1 file URLs, downloaded with a plain GET and no token, as the
//! client did. They are unguessable: committed files by their content hash
//! under their bundle (`media/{bundle}/snapshot_data/{hash}{.ext}`, stable
//! across calls and versions), staged files by their draft's random uuid and
//! path (`media/{draft}/data/{path}`).

use super::{Call, V1Error, V1Result};
use crate::store::BlobReader;
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use std::io::Read;

/// The extension a committed file's URL carries: the path's own, when it is
/// a short alphanumeric one (the original guessed one from the MIME type),
/// so the bytes are served with a sensible `Content-Type`.
pub(crate) fn extension(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && !ext.is_empty()
                && ext.len() <= 10
                && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

pub(crate) async fn serve(call: &Call, rest: &str) -> V1Result {
    if !matches!(call.method, Method::GET | Method::HEAD) {
        return Err(V1Error::Method(call.method.clone(), "GET, HEAD"));
    }
    let (owner, rest) = rest.split_once('/').ok_or(V1Error::Routing)?;
    if !super::is_uuid(owner) {
        return Err(V1Error::Routing);
    }
    let owner = owner.to_string();
    if let Some(file) = rest.strip_prefix("snapshot_data/") {
        let hash = file.get(..40).ok_or(V1Error::Routing)?.to_string();
        if !crate::store::blobs::is_hash(&hash)
            || extension(&format!("x{}", &file[40..])) != file[40..]
        {
            return Err(V1Error::Routing);
        }
        let media_type = mime_guess::from_path(format!("x{}", &file[40..]))
            .first_or_octet_stream()
            .to_string();
        let bytes = call
            .store(move |s| {
                if !s.collection_has_content(&owner, &hash)? {
                    return Err(crate::store::Error::NotFound(format!("no file {hash}")));
                }
                read_blob(s, &hash)
            })
            .await?;
        return Ok(answer(bytes, &media_type));
    }
    if let Some(path) = rest.strip_prefix("data/") {
        let path = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| V1Error::Routing)?
            .into_owned();
        let media_type = mime_guess::from_path(&path)
            .first_or_octet_stream()
            .to_string();
        let bytes = call
            .store(move |s| {
                let (_, changes) = s.named_draft_changes(&owner)?;
                let hash = changes
                    .into_iter()
                    .find(|c| c.path == path)
                    .and_then(|c| c.hash)
                    .ok_or_else(|| crate::store::Error::NotFound(format!("no staged {path}")))?;
                read_blob(s, &hash)
            })
            .await?;
        return Ok(answer(bytes, &media_type));
    }
    Err(V1Error::Routing)
}

fn read_blob(s: &crate::store::Store, hash: &str) -> crate::store::Result<Vec<u8>> {
    match s.blobs().open_blob(hash)? {
        BlobReader::Inline(bytes) => Ok(bytes.into_inner()),
        BlobReader::File(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|e| crate::store::Error::io(format!("reading blob {hash}"), e))?;
            Ok(bytes)
        }
    }
}

fn answer(bytes: Vec<u8>, media_type: &str) -> axum::response::Response {
    let mut response = (StatusCode::OK, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::server::raw::INERT_CSP),
    );
    response
}
