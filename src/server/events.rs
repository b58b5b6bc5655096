//! `GET /api/v1/events`: the store's events as server-sent events.
//!
//! Each SSE `event:` is the event's type (`draft.changed`, ...) and its `data:`
//! the event as JSON. A client that falls more than the bus's buffer behind gets
//! a `lagged` event saying how many it missed, then the stream goes on: it is
//! never stuck and never unbounded. Streams end when the server shuts down.

use super::AppState;
use crate::store::events::RecvError;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

async fn events(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = state.store.subscribe();
    let shutdown = state.shutdown.clone();
    let stream = futures_util::stream::unfold(
        (receiver, shutdown),
        |(mut receiver, mut shutdown)| async move {
            if *shutdown.borrow() {
                return None;
            }
            let next = tokio::select! {
                next = receiver.recv() => next,
                _ = shutdown.changed() => return None,
            };
            let event = match next {
                Ok(event) => {
                    let json = serde_json::to_value(&event).unwrap_or_default();
                    let kind = json["type"].as_str().unwrap_or("event").to_string();
                    SseEvent::default().event(kind).data(json.to_string())
                }
                Err(RecvError::Lagged(missed)) => SseEvent::default()
                    .event("lagged")
                    .data(serde_json::json!({"type": "lagged", "missed": missed}).to_string()),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(event), (receiver, shutdown)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
