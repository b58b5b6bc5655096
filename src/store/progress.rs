//! Progress reporting and interruption for long operations (import, publish,
//! gc, fsck). The library never draws anything: it calls a [`Progress`] sink the
//! caller supplies (the CLI draws a bar on a terminal, a server could send events).

use std::sync::atomic::{AtomicBool, Ordering};

/// A sink for progress of one long operation.
pub trait Progress: Sync {
    /// A new phase starts, with the number of steps if known.
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    /// `n` more steps of the current phase are done.
    fn advance(&self, _n: u64) {}
    /// Whether the caller asked to stop; operations check it between steps and
    /// return `Error::Interrupted` without committing.
    fn interrupted(&self) -> bool {
        false
    }
}

/// Reports nothing and never interrupts.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Interrupt flag only (for tests and embedding).
impl Progress for AtomicBool {
    fn interrupted(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}
