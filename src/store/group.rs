//! Group commit: concurrent single-file writes share one transaction, and so
//! one sync, instead of queueing for one fsync each.
//!
//! A write puts its job in the queue, then waits for the leader's lock.
//! Whoever holds it takes every job queued by then, runs each in a savepoint
//! of one transaction (a job that fails — a precondition, an unknown
//! collection — rolls back its own savepoint only), commits once, and hands
//! each job its answer. A waiting write finds its answer ready when it gets
//! the lock, or leads the next group with what queued meanwhile. Each job's
//! answer is read inside its own savepoint, so it describes exactly its
//! write. Each job's cancellation (a request that timed out) is honoured at
//! its own commit point, as if it ran alone. If the group's commit fails,
//! none of it is written, and every job runs again alone, so each gets its
//! own error.

use super::cancel::{self, Cancel};
use super::error::{Error, Result};
use super::files::{file_at, State};
use super::model::{FileEntry, Source, Written};
use super::write::{outcome, Applied, BatchEntry};
use super::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Vec<Job>>,
    leader: Mutex<()>,
    groups: AtomicU64,
    writes: AtomicU64,
}

#[derive(Debug)]
struct Job {
    key: String,
    entry: BatchEntry,
    source: Source,
    cancel: Option<Cancel>,
    answer: Arc<Mutex<Option<Answer>>>,
}

/// A job's rows, written in its savepoint, and its file as they left it.
type JobDone = (Applied, Option<FileEntry>);

#[derive(Debug)]
enum Answer {
    Done(Result<Written>),
    /// The group failed to commit: run the write alone.
    Alone(BatchEntry),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// One file's write, committed with whatever other single-file writes
    /// are waiting at the same moment. Call it under the writers' lock.
    pub(crate) fn write_grouped(
        &self,
        key: &str,
        entry: BatchEntry,
        source: Source,
    ) -> Result<Written> {
        let answer = Arc::new(Mutex::new(None));
        lock(&self.group.queue).push(Job {
            key: key.to_string(),
            entry,
            source,
            cancel: cancel::current(),
            answer: answer.clone(),
        });
        let _leader = lock(&self.group.leader);
        if lock(&answer).is_none() {
            // Not taken by an earlier group: this write leads the next one.
            let jobs = std::mem::take(&mut *lock(&self.group.queue));
            self.run_group(jobs);
        }
        let answer = lock(&answer).take();
        match answer {
            Some(Answer::Done(result)) => result,
            Some(Answer::Alone(entry)) => self.apply_one_locked(key, entry, source),
            // The leader panicked mid-group (its transaction rolled back).
            None => Err(Error::io(
                "committing a group of writes",
                std::io::Error::other("the write was left unanswered; nothing of it was written"),
            )),
        }
    }

    /// How many groups committed, and how many writes they held (since open).
    #[doc(hidden)]
    pub fn write_groups(&self) -> (u64, u64) {
        (
            self.group.groups.load(Ordering::Relaxed),
            self.group.writes.load(Ordering::Relaxed),
        )
    }

    fn run_group(&self, jobs: Vec<Job>) {
        let alone = |jobs: Vec<Job>| {
            for job in jobs {
                *lock(&job.answer) = Some(Answer::Alone(job.entry));
            }
        };
        let mut conn = self.conn();
        let mut tx = match conn
            .transaction_with_behavior(crate::store::db::sql::TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            // Another process held the index for the whole busy timeout:
            // every job would wait as long again, one after the other.
            Err(e) if e.is_busy() => {
                for job in jobs {
                    *lock(&job.answer) = Some(Answer::Done(Err(Error::Busy(format!(
                        "another process kept the store's index locked: {e}; try again"
                    )))));
                }
                return;
            }
            Err(_) => return alone(jobs),
        };
        let mut results: Vec<(Job, Result<JobDone>)> = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            let result = (|| {
                let savepoint = tx.savepoint()?;
                let path = job.entry.path.clone();
                let applied = self.apply_in(
                    &savepoint,
                    &job.key,
                    None,
                    [Ok(job.entry.clone())],
                    1,
                    Vec::new(),
                    false,
                    job.source,
                    &super::NoProgress,
                    |conn, cid, made| match made {
                        Some(file) => Ok(Some(file)),
                        None => file_at(conn, cid, path.as_str(), State::Draft),
                    },
                )?;
                if job.cancel.as_ref().is_some_and(|c| !c.begin_commit()) {
                    savepoint.rollback()?;
                    return Err(Error::Interrupted);
                }
                savepoint.commit()?;
                Ok(applied)
            })();
            let failed = result.is_err();
            results.push((job, result));
            // Some errors (a full disk, an I/O error) make SQLite roll back
            // the whole transaction, not just the statement: what this group
            // wrote so far is gone, so every job runs again alone.
            if failed && tx.is_autocommit() {
                drop(tx);
                drop(conn);
                return alone(
                    results
                        .into_iter()
                        .map(|(job, _)| job)
                        .chain(jobs)
                        .collect(),
                );
            }
        }
        let committed = self.blobs.sync().and_then(|()| Ok(tx.commit()?));
        drop(conn);
        if committed.is_err() {
            return alone(results.into_iter().map(|(job, _)| job).collect());
        }
        self.group.groups.fetch_add(1, Ordering::Relaxed);
        self.group
            .writes
            .fetch_add(results.len() as u64, Ordering::Relaxed);
        for (job, result) in results {
            let path = job.entry.path.clone();
            let answer = result.and_then(|(applied, file)| {
                let report = self.announce(applied);
                let file = file.ok_or_else(|| {
                    Error::Invalid(format!("{path} was written but is not in the draft"))
                })?;
                Ok(Written {
                    outcome: outcome(&report),
                    file,
                })
            });
            *lock(&job.answer) = Some(Answer::Done(answer));
        }
    }
}
