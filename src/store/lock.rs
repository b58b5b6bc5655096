//! The writers' lock: many writers at once, or one blob sweep (`gc`), across
//! threads and processes sharing a data dir.
//!
//! A writer holds it shared from the moment it installs its first blob until
//! the commit that references the blobs; `gc` holds it exclusively while it
//! sweeps, so it never removes a blob a running write is about to reference.
//! Across processes it is an advisory file lock on `DATA/lock`; within a
//! process, where file locks are per open file and would not exclude, a small
//! state behind a mutex and a condition variable.
//!
//! A sweep must not starve behind a stream of writers whose holds overlap
//! (a busy server, an import loop): file locks have no queue, and a shared
//! lock is granted while an exclusive one waits. So a second file,
//! `DATA/lock.gate`, is a turnstile: every writer passes it (shared, for the
//! moment it takes the lock), and a sweep holds it exclusively while it waits
//! and sweeps, so writers that come after a waiting sweep, in any process,
//! wait behind it.
//!
//! On a shared store (a PostgreSQL index), instances do not share a data
//! dir, so the file lock alone cannot keep one instance's sweep from another
//! instance's uncommitted uploads: a writer about to upload (the contents
//! call a hook) also takes the index's sweep lock shared, held until the
//! instance has no writer left, and a sweep takes it exclusively
//! (`db::postgres::SweepLock`, a session advisory lock). A sweep waits for
//! it in PostgreSQL's lock queue, where instances that come later queue
//! behind it (one whose writes overlap without a pause keeps its hold, and
//! the sweep gives up at its timeout). Writes that upload nothing pay
//! nothing for it.
//!
//! Nobody waits for it forever. A writer waits behind a sweep (and a sweep
//! behind writers) at most the store's lock timeout, then gets
//! [`Error::Busy`] saying who holds it: a server answers 503 with
//! `Retry-After` instead of queueing requests without end, and a CLI `gc`
//! behind a busy server gives up with a message instead of hanging. A sweep
//! that is waiting goes before writers that come after it (otherwise a steady
//! stream of writers would starve it), and waiting work that its caller
//! withdrew ([`super::cancel`]) stops waiting at once. After a second of
//! waiting, the store's lock notice (if one is set) is told what it waits
//! for, so a terminal can say so.

use super::cancel;
use super::db::postgres::SweepLock;
use super::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a writer or a sweep waits for the lock unless the store is told
/// otherwise ([`super::Store::set_lock_timeout`]).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// After this long waiting, the notice is told.
const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Told what a lock waits for, once per wait that lasts over a second.
pub type LockNotice = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Debug, Default)]
struct State {
    /// Writers in this process holding the lock (and so the file lock shared).
    writers: usize,
    /// A writer of this process is taking the file lock for the others.
    acquiring: bool,
    /// A sweep of this process holds the lock.
    sweeping: bool,
    /// Sweeps of this process waiting: writers that come later wait behind them.
    sweeps_waiting: usize,
}

pub(crate) struct WriteLock {
    path: PathBuf,
    file: File,
    /// The turnstile (see the module doc); each pass opens it anew, since
    /// file locks belong to an open file and passes overlap.
    gate: PathBuf,
    state: Mutex<State>,
    changed: Condvar,
    timeout_ms: AtomicU64,
    notice: Mutex<Option<LockNotice>>,
    /// On a shared store, the same lock across instances (taken after the
    /// file lock, let go before it).
    across: std::sync::OnceLock<Arc<SweepLock>>,
}

impl std::fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteLock")
            .field("path", &self.path)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// One wait: its deadline, and whether the notice was told yet.
struct Wait<'a> {
    lock: &'a WriteLock,
    started: Instant,
    deadline: Instant,
    noticed: bool,
}

impl Wait<'_> {
    /// Sleeps a little (or on the condition variable, if `guard` is given);
    /// errs when the deadline passed or the work was withdrawn.
    fn tick(&mut self, what: &dyn Fn() -> String) -> Result<()> {
        if cancel::withdrawn() {
            return Err(Error::Interrupted);
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Error::Busy(format!(
                "gave up after {} s waiting for {}; try again later",
                (now - self.started).as_secs(),
                what()
            )));
        }
        if !self.noticed && now - self.started >= NOTICE_AFTER {
            self.noticed = true;
            let notice = self
                .lock
                .notice
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(notice) = notice {
                notice(&format!(
                    "waiting for {} (giving up in {} s)",
                    what(),
                    (self.deadline - now).as_secs()
                ));
            }
        }
        Ok(())
    }

    fn left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100))
    }
}

impl WriteLock {
    pub(crate) fn open(path: &Path) -> Result<WriteLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let gate = path.with_extension("gate");
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&gate)
            .map_err(|e| Error::io(format!("opening {}", gate.display()), e))?;
        Ok(WriteLock {
            path: path.to_path_buf(),
            file,
            gate,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            timeout_ms: AtomicU64::new(DEFAULT_LOCK_TIMEOUT.as_millis() as u64),
            notice: Mutex::new(None),
            across: std::sync::OnceLock::new(),
        })
    }

    /// Makes the lock reach every instance of a shared store: sweeps take
    /// `across` too, and writers when they first upload (the returned hook,
    /// which the contents call before each upload).
    pub(crate) fn reach_instances(
        &self,
        across: SweepLock,
    ) -> Arc<dyn Fn() -> Result<()> + Send + Sync> {
        across.set_timeout(Duration::from_millis(
            self.timeout_ms.load(Ordering::Relaxed),
        ));
        let across = Arc::new(across);
        let _ = self.across.set(across.clone());
        Arc::new(move || across.hold_shared())
    }

    /// A sweep's hold across instances: waits in PostgreSQL's queue (so
    /// writers that come later wait behind it) until the deadline.
    fn across_exclusive(&self, wait: &mut Wait<'_>) -> Result<()> {
        let Some(across) = self.across.get() else {
            return Ok(());
        };
        if across.exclusive(Duration::from_millis(1))? {
            return Ok(());
        }
        let what = "writers on other instances of the shared store to finish, to collect \
                    garbage alone";
        let notice = self
            .notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let left = wait.deadline.saturating_duration_since(Instant::now());
        if let Some(notice) = notice {
            notice(&format!(
                "waiting for {what} (giving up in {} s)",
                left.as_secs()
            ));
        }
        if across.exclusive(left)? {
            return Ok(());
        }
        Err(Error::Busy(format!(
            "gave up after {} s waiting for {what}; try again later",
            wait.started.elapsed().as_secs()
        )))
    }

    pub(crate) fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms
            .store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
        if let Some(across) = self.across.get() {
            across.set_timeout(timeout);
        }
    }

    pub(crate) fn set_notice(&self, notice: Option<LockNotice>) {
        *self.notice.lock().unwrap_or_else(|p| p.into_inner()) = notice;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait(&self) -> Wait<'_> {
        let started = Instant::now();
        Wait {
            lock: self,
            started,
            deadline: started + Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed)),
            noticed: false,
        }
    }

    /// Waits on the condition variable for a change of state (bounded).
    fn sleep<'g>(&self, guard: MutexGuard<'g, State>, wait: &Wait<'_>) -> MutexGuard<'g, State> {
        self.changed
            .wait_timeout(guard, wait.left())
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0)
    }

    /// Takes the turnstile (shared to pass it, exclusive to hold it for a
    /// sweep); the lock lasts as long as the returned file is open.
    fn gate(&self, wait: &mut Wait<'_>, shared: bool, what: &dyn Fn() -> String) -> Result<File> {
        let gate = File::options()
            .write(true)
            .open(&self.gate)
            .map_err(|e| Error::io(format!("opening {}", self.gate.display()), e))?;
        poll_lock(&gate, &self.gate, wait, shared, what)?;
        Ok(gate)
    }

    /// Runs `f` as one of possibly many writers.
    pub(crate) fn shared<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut wait = self.wait();
        let gate = self.gate(&mut wait, true, &|| {
            format!(
                "the store's write lock: a gc is waiting for it or sweeping {}",
                self.path.parent().unwrap_or(&self.path).display()
            )
        })?;
        let mut state = self.state();
        loop {
            if !state.sweeping && state.sweeps_waiting == 0 && !state.acquiring {
                if state.writers > 0 {
                    state.writers += 1;
                    break;
                }
                state.acquiring = true;
                drop(state);
                let what = || {
                    format!(
                        "the store's write lock: another process is collecting garbage in {} \
                         (`blockstore gc`)",
                        self.path.parent().unwrap_or(&self.path).display()
                    )
                };
                let taken = poll_lock(&self.file, &self.path, &mut wait, true, &what);
                state = self.state();
                state.acquiring = false;
                self.changed.notify_all();
                taken?;
                state.writers = 1;
                break;
            }
            let sweeping = state.sweeping || state.sweeps_waiting > 0;
            let what = move || {
                if sweeping {
                    "the store's write lock: a gc in this process is sweeping blobs".to_string()
                } else {
                    "the store's write lock".to_string()
                }
            };
            wait.tick(&what)?;
            state = self.sleep(state, &wait);
        }
        drop(state);
        // Through: a sweep that comes now waits for this writer, not before it.
        drop(gate);
        let result = f();
        let mut state = self.state();
        state.writers -= 1;
        if state.writers == 0 {
            if let Some(across) = self.across.get() {
                across.release_shared();
            }
            let _ = self.file.unlock();
            self.changed.notify_all();
        }
        result
    }

    /// Runs `f` with no writer anywhere.
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut wait = self.wait();
        // Held until the sweep is done: writers that come later wait at it.
        let _gate = self.gate(&mut wait, false, &|| {
            format!(
                "another gc of {} to finish",
                self.path.parent().unwrap_or(&self.path).display()
            )
        })?;
        let mut state = self.state();
        state.sweeps_waiting += 1;
        loop {
            if state.writers == 0 && !state.sweeping && !state.acquiring {
                break;
            }
            let writers = state.writers;
            let what = move || {
                format!(
                    "{} of this process to finish, to collect garbage alone",
                    super::plural(writers as u64, "writer")
                )
            };
            if let Err(e) = wait.tick(&what) {
                state.sweeps_waiting -= 1;
                self.changed.notify_all();
                return Err(e);
            }
            state = self.sleep(state, &wait);
        }
        state.sweeps_waiting -= 1;
        state.sweeping = true;
        drop(state);
        let what = || {
            format!(
                "other processes writing to {} to finish (a server or an import on the same \
                 data dir), to collect garbage alone",
                self.path.parent().unwrap_or(&self.path).display()
            )
        };
        let result = poll_lock(&self.file, &self.path, &mut wait, false, &what).and_then(|()| {
            let result = self.across_exclusive(&mut wait).and_then(|()| {
                let result = f();
                if let Some(across) = self.across.get() {
                    let _ = across.unlock(false);
                }
                result
            });
            let _ = self.file.unlock();
            result
        });
        let mut state = self.state();
        state.sweeping = false;
        self.changed.notify_all();
        drop(state);
        result
    }
}

/// Polls a file lock (held by another process) until it is ours.
fn poll_lock(
    file: &File,
    path: &Path,
    wait: &mut Wait<'_>,
    shared: bool,
    what: &dyn Fn() -> String,
) -> Result<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        let taken = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match taken {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(
                    format!("taking the store's lock {}", path.display()),
                    e,
                ))
            }
        }
        wait.tick(what)?;
        std::thread::sleep(pause.min(wait.left()));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_behind_a_sweep_give_up_after_the_timeout_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Arc::new(WriteLock::open(&dir.path().join("lock")).unwrap());
        lock.set_timeout(Duration::from_millis(300));
        let (held, release) = (
            Arc::new(std::sync::Barrier::new(2)),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let sweeper = {
            let (lock, held, release) = (lock.clone(), held.clone(), release.clone());
            std::thread::spawn(move || {
                lock.exclusive(|| {
                    held.wait();
                    release.wait();
                    Ok(())
                })
            })
        };
        held.wait();
        let refused = lock.shared(|| Ok(()));
        match refused {
            Err(Error::Busy(message)) => assert!(message.contains("gc"), "{message}"),
            other => panic!("expected Busy, got {other:?}"),
        }
        release.wait();
        sweeper.join().unwrap().unwrap();
        lock.shared(|| Ok(())).unwrap();
    }

    #[test]
    fn a_waiting_sweep_goes_before_later_writers_and_withdrawn_work_stops_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Arc::new(WriteLock::open(&dir.path().join("lock")).unwrap());
        let (held, release) = (
            Arc::new(std::sync::Barrier::new(2)),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let writer = {
            let (lock, held, release) = (lock.clone(), held.clone(), release.clone());
            std::thread::spawn(move || {
                lock.shared(|| {
                    held.wait();
                    release.wait();
                    Ok(())
                })
            })
        };
        held.wait();
        let sweeper = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.exclusive(|| Ok(())))
        };
        while lock.state().sweeps_waiting == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A later writer queues behind the waiting sweep; withdrawn, it stops.
        let token = cancel::Cancel::new();
        assert!(token.cancel());
        let withdrawn = token.scope(|| lock.shared(|| Ok(())));
        assert!(
            matches!(withdrawn, Err(Error::Interrupted)),
            "{withdrawn:?}"
        );
        release.wait();
        writer.join().unwrap().unwrap();
        sweeper.join().unwrap().unwrap();
    }
}
