//! Store events: the publish lifecycle signals Studio listened for, delivered to
//! in-process subscribers after the change they describe has committed.
//!
//! The bus is a bounded broadcast channel (tokio's, usable without a runtime:
//! `try_recv`, `blocking_recv`, or `recv().await`). The server's SSE stream is
//! one subscriber; the desktop shell and tests are others.

use serde::Serialize;
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};
pub use tokio::sync::broadcast::Receiver;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "draft.changed")]
    DraftChanged {
        collection: String,
        paths: Vec<String>,
    },
    #[serde(rename = "collection.published")]
    CollectionPublished {
        collection: String,
        version: i64,
        paths: Vec<String>,
    },
    #[serde(rename = "collection.reverted")]
    CollectionReverted {
        collection: String,
        paths: Vec<String>,
    },
    #[serde(rename = "collection.created")]
    CollectionCreated { collection: String },
    #[serde(rename = "collection.deleted")]
    CollectionDeleted { collection: String },
    /// Another process (the CLI, a second server) committed to the store: what
    /// changed is not known here, so listeners re-read what they show.
    #[serde(rename = "store.changed")]
    StoreChanged,
    #[serde(rename = "gc.finished")]
    GcFinished {
        versions_deleted: u64,
        blobs_deleted: u64,
        bytes_freed: u64,
    },
}

/// Events a subscriber may fall behind by before it misses some.
pub const EVENT_BUFFER: usize = 1024;

/// A bounded broadcast: a slow subscriber cannot make the store hold events
/// without limit; it misses the oldest ones and its next receive says how many
/// (`RecvError::Lagged`), which the SSE stream turns into a `lagged` event.
#[derive(Debug)]
pub(crate) struct Bus {
    sender: tokio::sync::broadcast::Sender<Event>,
}

impl Default for Bus {
    fn default() -> Bus {
        Bus {
            sender: tokio::sync::broadcast::Sender::new(EVENT_BUFFER),
        }
    }
}

impl Bus {
    pub(crate) fn subscribe(&self) -> Receiver<Event> {
        self.sender.subscribe()
    }

    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is not an error: the event is simply not wanted.
        let _ = self.sender.send(event);
    }
}
