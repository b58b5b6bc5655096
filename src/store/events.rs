//! Store events: the publish lifecycle signals Studio listened for, delivered to
//! in-process subscribers after the change they describe has committed.
//!
//! The bus is a bounded broadcast channel (tokio's, usable without a runtime:
//! `try_recv`, `blocking_recv`, or `recv().await`). The server's SSE stream is
//! one subscriber; the desktop shell and tests are others.
//!
//! On a shared store the bus also reaches the other instances: each event is
//! handed to a thread of its own that sends it as a PostgreSQL notice
//! (`NOTIFY blockstore_events`, off the writer's path: the commit is
//! announced already, by its own notice inside the transaction), and each
//! instance's change watch hears the others' and emits them on its bus. A
//! notice lost (an instance killed right after its commit, a payload over
//! PostgreSQL's 8,000 bytes) still leaves the others a `store.changed`.

use serde::{Deserialize, Serialize};
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};
pub use tokio::sync::broadcast::Receiver;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// On a shared store: to the thread that tells the other instances.
    forward: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Event>>>,
}

impl Default for Bus {
    fn default() -> Bus {
        Bus {
            sender: tokio::sync::broadcast::Sender::new(EVENT_BUFFER),
            forward: std::sync::OnceLock::new(),
        }
    }
}

/// The channel other instances' events arrive on.
pub(crate) const EVENTS_CHANNEL: &str = "blockstore_events";

/// What a notice on [`EVENTS_CHANNEL`] carries.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Notice {
    /// The sending instance (its writer connection's id).
    pub from: String,
    pub event: Event,
}

/// PostgreSQL's limit on a notice's payload is 8,000 bytes.
const NOTICE_MAX: usize = 7_900;

impl Bus {
    pub(crate) fn subscribe(&self) -> Receiver<Event> {
        self.sender.subscribe()
    }

    /// Emits an event of this instance's (and tells the other instances).
    pub(crate) fn emit(&self, event: Event) {
        if let Some(forward) = self.forward.get() {
            if event != Event::StoreChanged {
                let _ = forward
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .send(event.clone());
            }
        }
        self.emit_here(event);
    }

    /// Emits an event on this instance's bus only (one another instance
    /// sent).
    pub(crate) fn emit_here(&self, event: Event) {
        // No subscriber is not an error: the event is simply not wanted.
        let _ = self.sender.send(event);
    }

    /// Tells the other instances of the shared store at `url` of every event
    /// emitted from now on, as instance `from`.
    pub(crate) fn reach_instances(&self, url: &crate::store::db::postgres::IndexUrl, from: &str) {
        let (tx, rx) = std::sync::mpsc::channel::<Event>();
        if self.forward.set(std::sync::Mutex::new(tx)).is_err() {
            return;
        }
        let (url, from) = (url.clone(), from.to_string());
        let spawned = std::thread::Builder::new()
            .name("blockstore-events".into())
            .spawn(move || {
                let mut client: Option<postgres::Client> = None;
                // Ends when the bus (the store) is dropped.
                while let Ok(event) = rx.recv() {
                    let notice = Notice {
                        from: from.clone(),
                        event,
                    };
                    let Ok(payload) = serde_json::to_string(&notice) else {
                        continue;
                    };
                    if payload.len() > NOTICE_MAX {
                        continue;
                    }
                    if client.as_ref().is_none_or(postgres::Client::is_closed) {
                        client = crate::store::db::postgres::connect(&url).ok();
                    }
                    let Some(c) = client.as_mut() else { continue };
                    if c.execute("SELECT pg_notify($1, $2)", &[&EVENTS_CHANNEL, &payload])
                        .is_err()
                    {
                        client = None;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot tell other instances of this one's events: {e}");
        }
    }
}
