//! The Blockstore v1 REST API (`../shared/BLOCKSTORE-V1.md`) under
//! `/blockstore/`, so edx-platform's historical `blockstore_api` client runs
//! unchanged against this store.
//!
//! Why a module of its own, with its own router and error shapes. The v1
//! contract is the original's, down to its quirks: routing failures are
//! Django's HTML 404, unknown objects `{"detail":"Not found."}`, field errors
//! `{"field":["msg"]}`, draft errors bare arrays, auth is DRF's `Token`
//! scheme. None of that is the native API's shape (`{"error":{…}}`), so the
//! v1 paths are matched here by hand and answered here, while the model stays
//! in the store: a v1 bundle is a collection, a v1 collection a group of
//! collections (`store/collection_groups.rs`), a v1 draft a named draft
//! (`store/named.rs`), a v1 commit a collection version.
//!
//! - `mod.rs`: routing, the token check, bodies, errors.
//! - `shapes.rs`: the response shapes, exactly as §2.3 lists their keys.
//! - `drafts.rs`: drafts, their PATCH (base64 files) and commit.
//! - `media.rs`: the file URLs, served without a token.
//!
//! Off unless a key is configured (`serve --v1-token`, `BLOCKSTORE_V1_TOKENS`):
//! then every `/blockstore/` path answers 404 naming the option.

mod drafts;
mod media;
mod shapes;

use super::error::ApiError;
use super::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use blake2::{Blake2b512, Digest};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// Where the v1 API lives.
const BASE: &str = "/blockstore";

pub(crate) fn routes(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route(BASE, axum::routing::any(handle))
        .route("/blockstore/", axum::routing::any(handle))
        .route("/blockstore/{*rest}", axum::routing::any(handle))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
}

/// The configured v1 keys, as digests (compared in constant time, whatever
/// their length).
#[derive(Debug, Default, Clone)]
pub(crate) struct Tokens(Vec<Vec<u8>>);

impl Tokens {
    pub(crate) fn new(keys: &[String]) -> Tokens {
        Tokens(
            keys.iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .map(digest)
                .collect(),
        )
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn accepts(&self, key: &str) -> bool {
        let given = digest(key);
        // Every key is compared, so the time says nothing of which matched.
        self.0
            .iter()
            .fold(false, |ok, k| ok | bool::from(k.ct_eq(&given)))
    }
}

fn digest(key: &str) -> Vec<u8> {
    Blake2b512::digest(key.as_bytes()).to_vec()
}

/// A v1 answer that is not a success, in the original's shapes.
pub(crate) enum V1Error {
    /// A path the original's router did not match: Django's HTML 404.
    Routing,
    /// `{"detail": "Not found."}`
    NotFound,
    /// `{"detail": MESSAGE}` with a status.
    Detail(StatusCode, String),
    /// 400 `{"field": ["message", …]}`
    Fields(BTreeMap<String, Vec<String>>),
    /// 400 `["message"]`, as draft PATCH and commit errors were.
    List(Vec<String>),
    /// 405 with `Allow`.
    Method(Method, &'static str),
    /// A failure of our own (busy, full disk, internal), in the native shape.
    Native(ApiError),
    /// An answer made already (a 401 with its `WWW-Authenticate`), boxed:
    /// a response is large and errors travel through every `?`.
    Response(Box<Response>),
}

impl V1Error {
    pub(crate) fn field(name: &str, message: impl Into<String>) -> V1Error {
        V1Error::Fields(BTreeMap::from([(name.to_string(), vec![message.into()])]))
    }
}

impl From<crate::store::Error> for V1Error {
    fn from(e: crate::store::Error) -> V1Error {
        use crate::store::Error;
        match e {
            Error::NotFound(_)
            | Error::CollectionNotFound(_)
            | Error::VersionNotFound { .. }
            | Error::FileNotFound { .. } => V1Error::NotFound,
            other => V1Error::Native(ApiError::from(other)),
        }
    }
}

impl From<ApiError> for V1Error {
    fn from(e: ApiError) -> V1Error {
        if e.status == StatusCode::NOT_FOUND {
            V1Error::NotFound
        } else {
            V1Error::Native(e)
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        match self {
            V1Error::Routing => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n",
            )
                .into_response(),
            V1Error::NotFound => json_response(StatusCode::NOT_FOUND, &json!({"detail": "Not found."})),
            V1Error::Detail(status, message) => json_response(status, &json!({"detail": message})),
            V1Error::Fields(fields) => json_response(StatusCode::BAD_REQUEST, &fields),
            V1Error::List(messages) => json_response(StatusCode::BAD_REQUEST, &messages),
            V1Error::Method(method, allow) => {
                let mut response = json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({"detail": format!("Method \"{method}\" not allowed.")}),
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
            V1Error::Native(e) => e.into_response(),
            V1Error::Response(response) => *response,
        }
    }
}

pub(crate) type V1Result = Result<Response, V1Error>;

/// A JSON answer: compact, raw UTF-8, keys in the shapes' order.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// What a handler needs to know of its request.
pub(crate) struct Call {
    pub state: AppState,
    pub method: Method,
    /// `http://HOST`, for absolute URLs as the original made them.
    pub origin: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Call {
    /// An absolute URL of a v1 path (`api/v1/…` or `media/…`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{BASE}/{path}", self.origin)
    }

    /// A flat request body (create and update): JSON, or a form as
    /// Blockstore's own tests posted. Each value as JSON.
    pub(crate) fn fields(&self) -> Result<Map<String, Value>, V1Error> {
        if self.body.is_empty() {
            return Ok(Map::new());
        }
        let kind = self.content_type.as_deref().unwrap_or("application/json");
        if kind.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&self.body).map_err(|e| {
                    V1Error::Detail(StatusCode::BAD_REQUEST, format!("Form parse error - {e}"))
                })?;
            return Ok(pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect());
        }
        if kind.starts_with("application/json") {
            return match serde_json::from_slice::<Value>(&self.body) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(V1Error::field(
                    "non_field_errors",
                    "Invalid data. Expected a dictionary, but got a different type.",
                )),
                Err(e) => Err(V1Error::Detail(
                    StatusCode::BAD_REQUEST,
                    format!("JSON parse error - {e}"),
                )),
            };
        }
        Err(V1Error::Detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Unsupported media type \"{}\" in request.",
                kind.split(';').next().unwrap_or(kind)
            ),
        ))
    }

    /// A query parameter, percent-decoded.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Runs store work on the blocking pool.
    pub(crate) async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::store::Store) -> crate::store::Result<T> + Send + 'static,
    ) -> Result<T, V1Error> {
        Ok(self.state.blocking(f).await?)
    }
}

/// Whether `s` is a lowercase UUID as the original's routes matched them.
/// Any version is accepted: collections created natively have v7 uuids.
pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// A UUID as Django's `UUIDField` took it (hex with or without dashes, any
/// case), in its canonical lowercase form; None when it is not one.
pub(crate) fn canonical_uuid(text: &str) -> Option<String> {
    let plain = text.to_ascii_lowercase().replace('-', "");
    if plain.len() != 32 || !plain.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &plain[..8],
        &plain[8..12],
        &plain[12..16],
        &plain[16..20],
        &plain[20..]
    ))
}

/// The original's time format: UTC, microseconds, `Z`; no fraction when it
/// is zero.
pub(crate) fn v1_time(stored: &str) -> String {
    stored.replace(".000000Z", "Z")
}

/// Every `/blockstore/…` request.
async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix(BASE).unwrap_or("").to_string();
    if state.v1_tokens.is_empty() {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"detail": "The Blockstore v1 API is off: start the server with --v1-token KEY \
                    (or BLOCKSTORE_V1_TOKENS=KEY1,KEY2) to serve it under /blockstore/api/v1/."}),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let call = Call {
        state,
        method,
        origin: format!("http://{host}"),
        query: uri.query().map(str::to_string),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .map(|s| s.to_ascii_lowercase()),
        body,
    };
    let answer = if let Some(api) = path.strip_prefix("/api/v1/") {
        match authenticate(&call.state, &headers) {
            Ok(()) => api_route(&call, api).await,
            Err(e) => Err(e),
        }
    } else if path == "/health/" {
        health(&call).await
    } else if let Some(media) = path.strip_prefix("/media/") {
        media::serve(&call, media).await
    } else {
        Err(V1Error::Routing)
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// DRF's TokenAuthentication, as the original answered it.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<(), V1Error> {
    let refuse = |detail: &str| {
        let mut response = json_response(StatusCode::UNAUTHORIZED, &json!({"detail": detail}));
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        Err(V1Error::Response(Box::new(response)))
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return refuse("Authentication credentials were not provided.");
    };
    let value = value.to_str().unwrap_or("");
    let mut parts = value.split_whitespace();
    let token = |scheme: &str| scheme.eq_ignore_ascii_case("token");
    match (parts.next(), parts.next(), parts.next()) {
        (Some(scheme), Some(key), None) if token(scheme) => {
            if state.v1_tokens.accepts(key) {
                Ok(())
            } else {
                refuse("Invalid token.")
            }
        }
        (Some(scheme), None, _) if token(scheme) => {
            refuse("Invalid token header. No credentials provided.")
        }
        (Some(scheme), Some(_), Some(_)) if token(scheme) => {
            refuse("Invalid token header. Token string should not contain spaces.")
        }
        _ => refuse("Authentication credentials were not provided."),
    }
}

/// `GET /blockstore/health/`, in Django's `JsonResponse` spacing.
async fn health(call: &Call) -> V1Result {
    if !matches!(call.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Err(V1Error::Method(call.method.clone(), "GET, HEAD, OPTIONS"));
    }
    // One cheap read of the index, as the original asked its database.
    let ok = call
        .store(|s| s.external_changes().map(|_| ()))
        .await
        .is_ok();
    let (status, word) = if ok {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"overall_status\": \"{word}\", \"detailed_status\": {{\"database_status\": \"{word}\"}}}}"
        ),
    )
        .into_response())
}

/// The methods each kind of path takes, as `Allow` lists them.
const LIST_CREATE: &str = "GET, POST, HEAD, OPTIONS";
const DETAIL: &str = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS";
const VERSION_DETAIL: &str = "GET, PUT, PATCH, HEAD, OPTIONS";
const LIST_ONLY: &str = "GET, HEAD, OPTIONS";
const DRAFT_DETAIL: &str = "GET, PATCH, DELETE, HEAD, OPTIONS";
const COMMIT: &str = "POST, OPTIONS";

/// 405 unless the call's method is in `allow`; OPTIONS answers here.
fn allowed(call: &Call, allow: &'static str) -> Result<Option<Response>, V1Error> {
    let method = call.method.as_str();
    if !allow.split(", ").any(|m| m == method) {
        return Err(V1Error::Method(call.method.clone(), allow));
    }
    if call.method == Method::OPTIONS {
        let mut response = json_response(
            StatusCode::OK,
            &json!({
                "renders": ["application/json"],
                "parses": ["application/json", "application/x-www-form-urlencoded"],
            }),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return Ok(Some(response));
    }
    Ok(None)
}

fn reads(call: &Call) -> bool {
    matches!(call.method, Method::GET | Method::HEAD)
}

/// Routes `/blockstore/api/v1/{api}` as the original's URL patterns did:
/// no trailing slashes, lowercase UUIDs for collections and bundles.
async fn api_route(call: &Call, api: &str) -> V1Result {
    let segments: Vec<&str> = api.split('/').collect();
    match segments.as_slice() {
        [""] => {
            if let Some(options) = allowed(call, LIST_ONLY)? {
                return Ok(options);
            }
            #[derive(serde::Serialize)]
            struct Index {
                bundles: String,
                bundle_versions: String,
                collections: String,
                drafts: String,
            }
            Ok(json_response(
                StatusCode::OK,
                &Index {
                    bundles: call.url("api/v1/bundles"),
                    bundle_versions: call.url("api/v1/bundle_versions"),
                    collections: call.url("api/v1/collections"),
                    drafts: call.url("api/v1/drafts"),
                },
            ))
        }
        ["collections"] => {
            if let Some(options) = allowed(call, LIST_CREATE)? {
                return Ok(options);
            }
            if reads(call) {
                shapes::list_groups(call).await
            } else {
                shapes::create_group(call).await
            }
        }
        ["collections", uuid] if is_uuid(uuid) => {
            if let Some(options) = allowed(call, DETAIL)? {
                return Ok(options);
            }
            let uuid = uuid.to_string();
            match call.method {
                Method::DELETE => {
                    call.store(move |s| s.delete_group(&uuid)).await?;
                    Ok(no_content())
                }
                Method::PUT | Method::PATCH => shapes::update_group(call, uuid).await,
                _ => shapes::get_group(call, uuid).await,
            }
        }
        ["bundles"] => {
            if let Some(options) = allowed(call, LIST_CREATE)? {
                return Ok(options);
            }
            if reads(call) {
                shapes::list_bundles(call).await
            } else {
                shapes::create_bundle(call).await
            }
        }
        ["bundles", uuid] if is_uuid(uuid) => {
            if let Some(options) = allowed(call, DETAIL)? {
                return Ok(options);
            }
            let uuid = uuid.to_string();
            match call.method {
                Method::DELETE => {
                    shapes::bundle_key(call, &uuid).await?;
                    call.store(move |s| s.delete_collection(&uuid)).await?;
                    Ok(no_content())
                }
                Method::PUT | Method::PATCH => shapes::update_bundle(call, uuid).await,
                _ => shapes::get_bundle(call, uuid).await,
            }
        }
        ["bundle_versions"] => {
            if let Some(options) = allowed(call, LIST_ONLY)? {
                return Ok(options);
            }
            shapes::list_versions(call).await
        }
        ["bundle_versions", id] => {
            let Some((uuid, n)) = id.split_once(',').filter(|(u, n)| {
                is_uuid(u) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            }) else {
                return Err(V1Error::Routing);
            };
            if let Some(options) = allowed(call, VERSION_DETAIL)? {
                return Ok(options);
            }
            let number: i64 = n.parse().map_err(|_| V1Error::NotFound)?;
            let uuid = uuid.to_string();
            match call.method {
                Method::PUT | Method::PATCH => shapes::update_version(call, uuid, number).await,
                _ => shapes::get_version(call, uuid, number, true).await,
            }
        }
        ["drafts"] => {
            if let Some(options) = allowed(call, LIST_CREATE)? {
                return Ok(options);
            }
            if reads(call) {
                drafts::list(call).await
            } else {
                drafts::create(call).await
            }
        }
        ["drafts", id] if !id.is_empty() && !id.contains('.') => {
            if let Some(options) = allowed(call, DRAFT_DETAIL)? {
                return Ok(options);
            }
            let id = id.to_string();
            match call.method {
                Method::DELETE => {
                    call.store(move |s| s.delete_named_draft(&id)).await?;
                    Ok(no_content())
                }
                Method::PATCH => drafts::patch(call, id).await,
                _ => drafts::get(call, id).await,
            }
        }
        ["drafts", id, "commit"] if !id.is_empty() && !id.contains('.') => {
            if let Some(options) = allowed(call, COMMIT)? {
                return Ok(options);
            }
            drafts::commit(call, id.to_string()).await
        }
        _ => Err(V1Error::Routing),
    }
}
