//! Withdrawing a write whose caller stopped waiting for it.
//!
//! A server answers a request that took too long with an error (408), and a
//! client that hangs up gets no answer at all. The work behind such a request
//! may still be queued on a worker thread — waiting for the writers' lock
//! behind a gc, say. Applied later, it would change the store after its caller
//! was told it failed, and could overwrite a newer write that was
//! acknowledged. So an error answer must be final: the work is withdrawn.
//!
//! A [`Cancel`] is shared between the caller and the work. The work passes a
//! *commit point* right before each commit ([`commit_point`], called inside the
//! write's transaction, under its lock): there it either finds itself
//! withdrawn and rolls back, or marks itself committing. [`Cancel::cancel`]
//! withdraws the work only if it has not reached a commit point; once it has,
//! the caller must wait for the result and report it, because it is what
//! happened. One atomic decides between the two, so a request is never both
//! answered with an error and applied.
//!
//! The token reaches the store through the thread that runs the work
//! ([`Cancel::scope`]), so every write path — single files, imports,
//! publish, revert, gc, collection changes — is covered without threading a
//! parameter through each of them; work outside any scope always commits.

use super::error::{Error, Result};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const OPEN: u8 = 0;
const COMMITTING: u8 = 1;
const CANCELLED: u8 = 2;

/// The shared state of one piece of work: open, committing, or withdrawn.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicU8>);

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Withdraws the work. True when it will never commit (it had not
    /// reached a commit point, or was withdrawn before); false when it is
    /// committing or has committed, and its result must be waited for.
    pub fn cancel(&self) -> bool {
        match self
            .0
            .compare_exchange(OPEN, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == CANCELLED,
        }
    }

    /// Whether the work was withdrawn.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) == CANCELLED
    }

    /// Runs `f` on this thread with this token governing every commit it makes.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Restore(Option<Cancel>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let _restore = Restore(previous);
        f()
    }

    pub(crate) fn begin_commit(&self) -> bool {
        match self
            .0
            .compare_exchange(OPEN, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == COMMITTING,
        }
    }
}

/// Called right before a write commits: `Err(Interrupted)` (roll back) when
/// the work on this thread was withdrawn, else the work is committing from
/// now on and can no longer be withdrawn.
pub(crate) fn commit_point() -> Result<()> {
    let allowed = CURRENT.with(|c| c.borrow().as_ref().is_none_or(Cancel::begin_commit));
    if allowed {
        Ok(())
    } else {
        Err(Error::Interrupted)
    }
}

/// The work this thread runs for, if any: what a write handed to another
/// thread (a group commit's leader) is withdrawn through.
pub(crate) fn current() -> Option<Cancel> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the work on this thread was withdrawn (to stop waiting early).
pub(crate) fn withdrawn() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(Cancel::is_cancelled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_and_commit_exclude_each_other() {
        let token = Cancel::new();
        assert!(token.scope(commit_point).is_ok());
        assert!(!token.cancel(), "committing work cannot be withdrawn");
        assert!(
            token.scope(commit_point).is_ok(),
            "a second commit of the same work goes on"
        );

        let token = Cancel::new();
        assert!(token.cancel());
        assert!(token.cancel(), "withdrawing twice is still withdrawn");
        assert!(matches!(token.scope(commit_point), Err(Error::Interrupted)));
        assert!(token.scope(withdrawn));
        // Outside any scope, work always commits.
        assert!(commit_point().is_ok());
        assert!(!withdrawn());
    }
}
