//! `GET /api/v1/events`: the store's events as server-sent events.
//!
//! Each SSE `event:` is the event's type (`draft.changed`, ...) and its `data:`
//! the event as JSON. A client that falls more than the bus's buffer behind gets
//! a `lagged` event saying how many it missed, then the stream goes on: it is
//! never stuck and never unbounded. Streams end when the server shuts down.

use super::error::ErrorBody;
use super::AppState;
use crate::store::events::{Receiver, RecvError};
use crate::store::Event;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(v1!("/events"), get(events))
}

#[utoipa::path(get, path = "/api/v1/events", tag = "server", responses((status = 200, description = "Server-sent events: `event:` is the type (draft.changed, collection.published, collection.reverted, collection.created, collection.deleted, gc.finished, store.changed (another process committed), or lagged), `data:` the Event as JSON", content_type = "text/event-stream", body = Event), (status = 401, description = "A token is set and the request lacks it", body = ErrorBody), (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody)))]
pub(crate) async fn events(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = frames(state.store.subscribe(), state.shutdown.clone())
        .map(|(kind, data)| Ok(SseEvent::default().event(kind).data(data)));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The (event name, JSON data) frames of one subscription, until shutdown.
fn frames(
    receiver: Receiver<Event>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = (String, String)> {
    futures_util::stream::unfold(
        (receiver, shutdown),
        |(mut receiver, mut shutdown)| async move {
            if *shutdown.borrow() {
                return None;
            }
            let next = tokio::select! {
                next = receiver.recv() => next,
                _ = shutdown.changed() => return None,
            };
            let frame = match next {
                Ok(event) => {
                    let json = serde_json::to_value(&event).unwrap_or_default();
                    let kind = json["type"].as_str().unwrap_or("event").to_string();
                    (kind, json.to_string())
                }
                Err(RecvError::Lagged(missed)) => (
                    "lagged".to_string(),
                    serde_json::json!({"type": "lagged", "missed": missed}).to_string(),
                ),
                Err(RecvError::Closed) => return None,
            };
            Some((frame, (receiver, shutdown)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::events::EVENT_BUFFER;
    use crate::store::{CollectionMetadata, Store};

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_gets_lagged_then_the_newest_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let stream = frames(store.subscribe(), shutdown);
        futures_util::pin_mut!(stream);
        // More events than the buffer holds, while nobody reads.
        let total = EVENT_BUFFER + 5;
        for i in 0..total {
            store
                .create_collection(&format!("c{i}"), &CollectionMetadata::default())
                .unwrap();
        }
        let (kind, data) = stream.next().await.unwrap();
        assert_eq!(kind, "lagged");
        let data: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(data["missed"], 5);
        // Then the stream goes on with what the buffer kept, in order.
        let (kind, data) = stream.next().await.unwrap();
        assert_eq!(kind, "collection.created");
        assert!(data.contains("\"c5\""), "{data}");
        // Shutdown ends it.
        stop.send(true).unwrap();
        let mut rest = 0;
        while stream.next().await.is_some() {
            rest += 1;
        }
        assert!(rest < EVENT_BUFFER, "the stream ends at shutdown");
    }
}
