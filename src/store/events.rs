//! Store events: the publish lifecycle signals Studio listened for, delivered to
//! in-process subscribers after the change they describe has committed.
//!
//! The bus is a list of channel senders; a subscriber that went away is dropped
//! on the next send. The server's SSE stream is one such subscriber.

use serde::Serialize;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    #[serde(rename = "gc.finished")]
    GcFinished {
        versions_deleted: u64,
        blobs_deleted: u64,
        bytes_freed: u64,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Bus {
    subscribers: Mutex<Vec<Sender<Event>>>,
}

impl Bus {
    pub(crate) fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        self.lock().push(tx);
        rx
    }

    pub(crate) fn emit(&self, event: Event) {
        self.lock().retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sender<Event>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }
}
