//! The request log: one line per request that changed something or was
//! refused or failed, at `info` (`error` for a 5xx), with its method, URI,
//! status and time; successful reads (`GET`, `HEAD` and `OPTIONS` answered
//! below 400) at `debug`, shown with `RUST_LOG=debug` and kept out of
//! `DATA_DIR/logs/blockstore.log`.
//!
//! Why reads are quiet: a browser UI, a Studio or a load test reads far
//! more than it writes, and a line per read buried the writes and errors
//! the log is read for. It also cost a third of a cached `GET raw`
//! (formatting the line twice, for stderr and the file, and writing both;
//! writing from a thread of its own gained nothing: BENCHMARKS.md, issue 17).
//!
//! Each request runs inside a `request` span (method and URI), so what a
//! handler logs names the request it served; for a read the span is at
//! `debug`, like its line.

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// Logs the request (see the module doc).
pub(crate) async fn requests(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let read = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let span = if read {
        tracing::debug_span!("request", %method, %uri)
    } else {
        tracing::info_span!("request", %method, %uri)
    };
    let start = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let _in = span.enter();
    // The fields are repeated on the line: a read's span is off at `info`.
    if status >= 500 {
        tracing::error!(%method, %uri, status, latency_ms, "request failed");
    } else if !read || status >= 400 {
        tracing::info!(%method, %uri, status, latency_ms, "request");
    } else {
        tracing::debug!(%method, %uri, status, latency_ms, "request");
    }
    response
}
