//! The browser UI: `ui/`'s static files, embedded at compile time and served
//! at `/`.
//!
//! The UI has no build step, so fingerprinting happens here: every file is
//! served under `/ui/<build id>/`, where the id is a hash of all of `ui/`. A
//! new binary with a changed UI gets new URLs, so those files can be cached
//! forever (`immutable`), while the page itself (`index.html`, answered for
//! `/` and every view's URL under `/c/`, so deep links and reloads work) is
//! `no-cache` and names the current id. ES modules import each other by
//! relative URL, so they stay inside the id's folder without being rewritten.
//!
//! The page's Content-Security-Policy allows only its own scripts and styles
//! and frames only from this origin (stored HTML and SVG are shown in
//! sandboxed frames, and `raw` adds its own `sandbox` policy): stored content
//! is never active in the UI's origin.

use super::error::ApiError;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use blake2::{Blake2b512, Digest};
use include_dir::{include_dir, Dir};
use std::sync::OnceLock;

static UI: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/ui");

/// The hash of every embedded file's path and bytes: the assets' URL prefix.
pub(crate) fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut files = Vec::new();
        collect(&UI, &mut files);
        files.sort_by_key(|f| f.path());
        let mut hasher = Blake2b512::new();
        for file in files {
            hasher.update(file.path().to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update((file.contents().len() as u64).to_le_bytes());
            hasher.update(file.contents());
        }
        hex::encode(&hasher.finalize()[..6])
    })
}

fn collect<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
    out.extend(dir.files());
    for sub in dir.dirs() {
        collect(sub, out);
    }
}

/// The policy of the page: nothing runs but the UI's own modules.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; \
    frame-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// `GET /` and every view's URL: the page, naming the current asset folder
/// and hinting what its view will load first. `data_hints` is false when the
/// server wants a token: a `preload` cannot send one.
/// What answers a URL nothing else does: a browser (a GET asking for HTML,
/// outside `/api/`) gets the UI's page with status 404, whose router shows
/// its own not-found view with a way back; anything else the API's JSON 404.
pub(crate) async fn not_found(
    method: axum::http::Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    data_hints: bool,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let is_get = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    if is_get && wants_html && !uri.path().starts_with("/api/") {
        let mut response = page(uri, data_hints).await;
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    super::api::no_route(uri).await.into_response()
}

pub(crate) async fn page(uri: Uri, data_hints: bool) -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let template = PAGE.get_or_init(|| {
        let template = UI
            .get_file("index.html")
            .and_then(|f| f.contents_utf8())
            .unwrap_or(
            "<!doctype html><title>Blockstore</title><p>ui/index.html is missing from this build.",
        );
        template.replace("{{ASSETS}}", &format!("/ui/{}", build_id()))
    });
    let html = template.replace("{{HINTS}}", &hints(uri.path(), data_hints));
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page names the build's assets: always ask again.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    common_headers(headers);
    response
}

/// `GET /ui/{id}/{*file}`: one embedded file, cached for good when `id` is
/// this build's.
pub(crate) async fn asset(Path((id, file)): Path<(String, String)>) -> Response {
    let Some(found) = UI.get_file(&file).filter(|_| file != "index.html") else {
        return ApiError::not_found(format!("no UI file {file:?} in this build")).into_response();
    };
    let media_type = mime_guess::from_path(&file)
        .first_raw()
        .map(|m| match m {
            // Module scripts must be served as JavaScript.
            "application/javascript" | "text/javascript" => "text/javascript; charset=utf-8",
            "text/css" => "text/css; charset=utf-8",
            other => other,
        })
        .unwrap_or("application/octet-stream");
    let mut response = (StatusCode::OK, found.contents()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    let cache = if id == build_id() {
        "public, max-age=31536000, immutable"
    } else {
        // An old page asking for an older build's file gets today's bytes, and
        // must not keep them under the old name.
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    common_headers(headers);
    response
}

/// The `<link>`s that let a first load of `path` fetch its view's modules
/// (`modulepreload`) and, with `data`, the API answers a collection's page
/// starts from (`preload` as fetch, taken over by the UI's own `fetch` of
/// the same URL) while `app.js` is still loading; without them each waits
/// for the one before. Mirrors `app.js`'s routes; a path it does not know
/// gets no hints (and the UI's own "not found").
fn hints(path: &str, data: bool) -> String {
    let assets = format!("/ui/{}", build_id());
    let mut modules: &[&str] = &[];
    let mut fetches = Vec::new();
    // Only slugs that `encodeURIComponent` leaves alone, so the URL is the
    // very one the UI will ask for (nothing here needs HTML escaping either).
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    };
    if path == "/" {
        modules = &["views/collections.js"];
        fetches.push("/api/v1/collections?page_size=100".to_string());
    } else if let Some(rest) = path.strip_prefix("/c/") {
        let mut parts = rest.splitn(3, '/');
        let slug = parts.next().unwrap_or_default();
        let view = parts.next().unwrap_or_default();
        // A collection tab ends the path; anything after it is no view.
        let tab = parts.next().is_none()
            && matches!(view, "" | "outline" | "files" | "history" | "links");
        modules = match view {
            _ if tab => &["views/collection.js", "views/files.js"],
            // A folder of the Files tab (`/c/SLUG/files/html/`).
            "files" => &["views/collection.js", "views/files.js"],
            "f" => &[
                "views/file.js",
                "views/collection.js",
                "views/files.js",
                "highlight.js",
                "diff.js",
                "problem.js",
            ],
            "v" | "diff" => &[
                "views/version.js",
                "views/collection.js",
                "views/files.js",
                "highlight.js",
                "diff.js",
            ],
            "graph" => &["views/graph.js", "views/collection.js", "views/files.js"],
            _ => &[],
        };
        if plain(slug) && (tab || view == "files") {
            fetches.push(format!("/api/v1/collections/{slug}"));
            if view == "outline" {
                fetches.push(format!("/api/v1/collections/{slug}/outline?version=draft"));
            }
        }
    }
    let mut out = String::new();
    for module in modules {
        out.push_str(&format!(
            "<link rel=\"modulepreload\" href=\"{assets}/{module}\">\n"
        ));
    }
    if data {
        for url in fetches {
            out.push_str(&format!(
                "<link rel=\"preload\" href=\"{url}\" as=\"fetch\" crossorigin>\n"
            ));
        }
    }
    out
}

fn common_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}
