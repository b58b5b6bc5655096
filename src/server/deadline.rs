//! Request deadlines whose error answers are final.
//!
//! A timeout that only drops the handler's future is not enough: the store
//! work it started keeps running on the blocking pool (waiting for a lock, say)
//! and would change the store after the client was told the request failed.
//! So every API request runs under a [`Cancel`] (carried to the blocking
//! pool by [`super::AppState::blocking`]): when the deadline passes, or the
//! request is dropped unanswered (the client hung up, shutdown's grace ran
//! out), the work is withdrawn — unless it already reached its commit point,
//! in which case the deadline waits for it and the answer reports what was
//! done. One atomic decides, so an error answer and an applied write never go
//! together.

use super::error::ApiError;
use crate::store::Cancel;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

tokio::task_local! {
    static CURRENT: Cancel;
}

/// The token of the request being handled on this task, if any.
pub(crate) fn current() -> Option<Cancel> {
    CURRENT.try_with(Cancel::clone).ok()
}

/// Withdraws the request's work if the request is dropped before it answered.
struct WithdrawOnDrop(Cancel);

impl Drop for WithdrawOnDrop {
    fn drop(&mut self) {
        // After an answer this is a no-op: committed work stays committed, and
        // work that never reached a commit point has nothing left to withdraw.
        self.0.cancel();
    }
}

/// Middleware: the rest of the request under a fresh [`Cancel`], answered with
/// 408 when `timeout` (if any) passes before the work reached its commit point.
pub(crate) async fn deadline(
    State(timeout): State<Option<Duration>>,
    request: Request,
    next: Next,
) -> Response {
    let cancel = Cancel::new();
    let _withdraw = WithdrawOnDrop(cancel.clone());
    let work = CURRENT.scope(cancel.clone(), next.run(request));
    let Some(timeout) = timeout else {
        return work.await;
    };
    tokio::pin!(work);
    // Most answers are ready at once (a cached read): those need no timer,
    // whose registration was a measurable part of such a request.
    let first = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
    if let Poll::Ready(response) = first {
        return response;
    }
    match tokio::time::timeout(timeout, &mut work).await {
        Ok(response) => response,
        Err(_) if cancel.cancel() => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than the server's request timeout ({} s); nothing was \
                 changed",
                timeout.as_secs()
            ),
        )
        .into_response(),
        // Committing already: the answer must say what was done.
        Err(_) => work.await,
    }
}
