//! The writers' lock: many writers at once, or one blob sweep (`gc`), across
//! threads and processes sharing a data dir.
//!
//! A writer holds it shared from its first blob write until the commit that
//! references the blobs; `gc` holds it exclusively while it sweeps, so it never
//! removes a blob a running import is about to reference. Across processes it
//! is an advisory file lock on `DATA/lock`; within a process, where file locks
//! are per open file and would not exclude, an `RwLock` plus a holder count.

use super::error::{Error, Result};
use std::fs::File;
use std::path::Path;
use std::sync::{Mutex, RwLock};

#[derive(Debug)]
pub(crate) struct WriteLock {
    file: File,
    in_process: RwLock<()>,
    /// Writers in this process holding the file lock shared.
    holders: Mutex<usize>,
}

impl WriteLock {
    pub(crate) fn open(path: &Path) -> Result<WriteLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(WriteLock {
            file,
            in_process: RwLock::new(()),
            holders: Mutex::new(0),
        })
    }

    /// Runs `f` as one of possibly many writers.
    pub(crate) fn shared<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _guard = self.in_process.read().unwrap_or_else(|p| p.into_inner());
        {
            let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
            if *holders == 0 {
                self.file
                    .lock_shared()
                    .map_err(|e| Error::io("taking the store's write lock", e))?;
            }
            *holders += 1;
        }
        let result = f();
        let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        *holders -= 1;
        if *holders == 0 {
            let _ = self.file.unlock();
        }
        result
    }

    /// Runs `f` with no writer anywhere.
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _guard = self.in_process.write().unwrap_or_else(|p| p.into_inner());
        self.file
            .lock()
            .map_err(|e| Error::io("taking the store's exclusive lock for gc", e))?;
        let result = f();
        let _ = self.file.unlock();
        result
    }
}
