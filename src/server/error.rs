//! The API's one error shape, `{"error": {"code", "message", "details"}}`, and
//! the mapping from store errors (by [`ErrorKind`], never by text) and from
//! axum's extractor rejections, so no client ever sees a plain-text error.

use crate::store::{Error, ErrorKind};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// An error answer: a status, a stable machine code, a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

/// The error body, as the OpenAPI document describes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: invalid, not_found, conflict,
    /// precondition_failed, payload_too_large, unsupported_media_type,
    /// cross_origin, busy,
    /// forbidden_host, unauthorized, method_not_allowed, range_not_satisfiable,
    /// not_implemented, timeout, insufficient_storage (507: the disk holding
    /// the data dir is full; nothing was written), internal.
    pub code: &'static str,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// Structured extras (e.g. the malformed paths of a strict publish), or null.
    #[schema(value_type = Object, nullable)]
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the limit of {limit} bytes (the server's limit: start it with `blockstore serve --upload-limit N`)"),
        )
        .with_details(json!({ "limit": limit }))
    }
}

/// What a 503 tells clients to wait, in seconds.
pub(crate) const RETRY_AFTER_SECS: &str = "2";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        // A 503 is always temporary here (a gc holds the store, the server is
        // full): say when to come back.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let message = e.to_string();
        let details = match &e {
            Error::MalformedUnits { paths, .. } => json!({ "malformed": paths }),
            Error::PreconditionFailed {
                expected, current, ..
            } => json!({ "expected": expected, "current": current }),
            Error::NothingToPublish { latest, .. } => json!({ "latest": latest }),
            Error::NoSpace { needed, .. } => json!({ "needed": needed }),
            _ => Value::Null,
        };
        let (status, code) = match e.kind() {
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::PreconditionFailed => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ErrorKind::Interrupted => (StatusCode::SERVICE_UNAVAILABLE, "interrupted"),
            ErrorKind::NoSpace => {
                tracing::warn!(error = %message, "the disk is full");
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
            }
            ErrorKind::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ErrorKind::Unavailable => {
                tracing::warn!(error = %message, "a service the store needs is down");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ErrorKind::Incompatible | ErrorKind::Internal => {
                tracing::error!(error = %message, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError {
            status,
            code,
            message,
            details,
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::bad_request(format!("bad path: {}", rejection.body_text()))
    }
}

/// Any error status a layer produced without our JSON body (405 from the
/// router, 408 from the timeout layer) is given one, so every 4xx/5xx a client
/// sees has the documented shape.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    // JSON errors stay; so does the UI's own not-found page (`ui::not_found`).
    let keep = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || keep {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not take that method (see /api/v1/openapi.json)",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            "the request took longer than the server's request timeout",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        _ => ("error", "the request failed"),
    };
    let mut fresh = ApiError::new(status, code, message).into_response();
    for (name, value) in response.headers() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}
