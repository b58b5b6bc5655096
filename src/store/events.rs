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
    forward: std::sync::Mutex<Option<Forward>>,
}

type Forward = (std::sync::mpsc::Sender<Event>, std::thread::JoinHandle<()>);

impl Drop for Bus {
    /// The events still gathered go out before the store closes (a CLI
    /// command's, whose process ends next).
    fn drop(&mut self) {
        let forward = self.forward.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((sender, thread)) = forward.take() {
            drop(sender);
            let _ = thread.join();
        }
    }
}

impl Default for Bus {
    fn default() -> Bus {
        Bus {
            sender: tokio::sync::broadcast::Sender::new(EVENT_BUFFER),
            forward: std::sync::Mutex::new(None),
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
    /// In the order they were emitted.
    pub events: Vec<Event>,
}

/// PostgreSQL's limit on a notice's payload is 8,000 bytes.
const NOTICE_MAX: usize = 7_900;

/// Events emitted within this long of the first go out in one notice: a
/// notice costs the server work on every instance, and the others poll for
/// them every 500 ms anyway.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// `events` as notices' payloads of at most [`NOTICE_MAX`] bytes; an event
/// that alone is larger is left out (the others hear `store.changed`).
fn payloads(from: &str, events: Vec<Event>) -> Vec<String> {
    let mut out = Vec::new();
    let mut notice = Notice {
        from: from.to_string(),
        events: Vec::new(),
    };
    let mut last: Option<String> = None;
    for event in events {
        notice.events.push(event);
        let Ok(text) = serde_json::to_string(&notice) else {
            notice.events.pop();
            continue;
        };
        if text.len() <= NOTICE_MAX {
            last = Some(text);
            continue;
        }
        let event = notice.events.pop().expect("just pushed");
        out.extend(last.take());
        notice.events = vec![event];
        match serde_json::to_string(&notice) {
            Ok(text) if text.len() <= NOTICE_MAX => last = Some(text),
            _ => notice.events.clear(),
        }
    }
    out.extend(last);
    out
}

impl Bus {
    pub(crate) fn subscribe(&self) -> Receiver<Event> {
        self.sender.subscribe()
    }

    /// Emits an event of this instance's (and tells the other instances).
    pub(crate) fn emit(&self, event: Event) {
        if event != Event::StoreChanged {
            let forward = self.forward.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((sender, _)) = forward.as_ref() {
                let _ = sender.send(event.clone());
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
    pub(crate) fn reach_instances(
        &self,
        url: &crate::store::db::postgres::IndexUrl,
        from: &str,
    ) -> crate::store::Result<()> {
        let mut forward = self.forward.lock().unwrap_or_else(|p| p.into_inner());
        if forward.is_some() {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::channel::<Event>();
        let (url, from) = (url.clone(), from.to_string());
        let spawned = std::thread::Builder::new()
            .name("blockstore-events".into())
            .spawn(move || {
                let mut client: Option<postgres::Client> = None;
                // Ends when the bus (the store) is dropped; what it
                // gathered then goes out first.
                while let Ok(first) = rx.recv() {
                    let mut events = vec![first];
                    let until = std::time::Instant::now() + GATHER;
                    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                        match rx.recv_timeout(left) {
                            Ok(event) => events.push(event),
                            Err(_) => break,
                        }
                    }
                    for payload in payloads(&from, events) {
                        if client.as_ref().is_none_or(postgres::Client::is_closed) {
                            client = crate::store::db::postgres::connect(&url).ok();
                        }
                        let Some(c) = client.as_mut() else { break };
                        if c.execute("SELECT pg_notify($1, $2)", &[&EVENTS_CHANNEL, &payload])
                            .is_err()
                        {
                            client = None;
                        }
                    }
                }
            });
        let thread = spawned.map_err(|e| {
            crate::store::Error::io(
                "starting the thread that sends events to other instances",
                e,
            )
        })?;
        *forward = Some((tx, thread));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_out_in_notices_under_postgresqls_limit_in_order() {
        let event = |n: usize| Event::DraftChanged {
            collection: "c".into(),
            paths: vec![format!("html/{n:04}-{}.html", "x".repeat(60))],
        };
        let huge = Event::DraftChanged {
            collection: "c".into(),
            paths: vec!["y".repeat(NOTICE_MAX)],
        };
        let mut events: Vec<Event> = (0..300).map(event).collect();
        events.insert(150, huge);
        let out = payloads("me", events);
        assert!(out.len() > 1, "split into several notices");
        let mut got = Vec::new();
        for text in &out {
            assert!(text.len() <= NOTICE_MAX, "{}", text.len());
            let notice: Notice = serde_json::from_str(text).unwrap();
            assert_eq!(notice.from, "me");
            got.extend(notice.events);
        }
        // Every event but the one too large for any notice, in order.
        assert_eq!(got, (0..300).map(event).collect::<Vec<_>>());
    }
}
