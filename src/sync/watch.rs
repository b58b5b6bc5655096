//! The live half of a sync: one loop that follows the folder (notify behind a
//! debouncer) and the store (its event bus, plus SQLite's data version for
//! other processes), carries each side's changes to the other, and turns
//! every fault into a [`Notice`] instead of an exit.
//!
//! The loop blocks on one channel fed by the file watcher and by a small
//! thread forwarding store events, and wakes on its own only every
//! [`TICK`] (to look for other processes' writes and check that the folder
//! is still the one it started on), so an idle sync costs next to nothing.

use super::{
    must_be_folder, reconcile_agreed, scan, Pair, ReconcileReport, Rules, Skipped, SyncedBatch,
};
use crate::store::{BatchReport, Error, Event, Result, Store};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the folder must be quiet before a batch of changes is read.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(75);

/// How often the loop wakes on its own: other processes' writes to the index
/// (which send no events here) and the folder's identity are looked at.
const TICK: Duration = Duration::from_millis(250);

/// How long a batch with vanished paths waits for the other half of a move.
const MOVE_WINDOW: Duration = Duration::from_millis(750);

/// How often a polled folder is walked when the native watcher cannot be used.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long after a failed batch the full rescan that repairs it runs; each
/// failure in a row doubles it, up to `RETRY_MAX`.
const RETRY: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// The shortest debounce: the debouncer's thread ticks at a quarter of it.
const MIN_DEBOUNCE: Duration = Duration::from_millis(10);

/// The longest a burst is gathered before it is applied.
const GATHER_LIMIT: Duration = Duration::from_secs(1);

/// How a folder is watched.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long the folder must be quiet before changes are read.
    pub debounce: Duration,
    /// Poll the folder at this interval instead of using the native watcher
    /// (network and shared folders, where inotify sees nothing).
    pub poll: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: DEFAULT_DEBOUNCE,
            poll: None,
        }
    }
}

/// What a running sync reports: changes carried over, and faults it handled.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The start-up reconcile is done (always the first notice, unless the
    /// watcher had to fall back to polling first).
    Reconciled(ReconcileReport),
    /// Changes made on one side were carried to the other.
    Synced(SyncedBatch),
    /// Files or folders left alone (unreadable, invalid names); the draft
    /// keeps what it had for them.
    Skipped {
        collection: String,
        skipped: Vec<Skipped>,
    },
    /// The folder went away (deleted, moved, unmounted): nothing is synced,
    /// and the draft is left as it is, until it returns.
    Paused {
        collection: String,
        dir: PathBuf,
        reason: String,
    },
    /// The folder is back and was brought level with the draft again.
    Resumed { collection: String, dir: PathBuf },
    /// The native watcher cannot follow the folder: it is polled instead.
    Polling {
        collection: String,
        dir: PathBuf,
        reason: String,
        interval_ms: u64,
    },
    /// Something went wrong with a batch; a full rescan repairs it shortly.
    Failed { collection: String, reason: String },
    /// The sync ended (the collection was deleted); the folder is left as it is.
    Stopped { collection: String, reason: String },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Reconciled(r) => {
                let verb = if r.dry_run { "would" } else { "did" };
                if r.direction == "folder_written" {
                    write!(
                        f,
                        "{}: start-up: the folder was empty; {verb} write {} into {}",
                        r.collection,
                        crate::store::plural(r.written_to_folder.len() as u64, "file"),
                        r.dir.display()
                    )
                } else {
                    write!(
                        f,
                        "{}: start-up: the folder wins; {verb} change the draft: {} created, {} modified, {} renamed, {} deleted, {} unchanged",
                        r.collection,
                        r.created.len(),
                        r.modified.len(),
                        r.renamed.len(),
                        r.deleted.len(),
                        r.unchanged
                    )
                }
            }
            Notice::Synced(batch) => {
                let side = if batch.direction == "to_folder" {
                    "folder"
                } else {
                    "draft"
                };
                let c = &batch.changes;
                let mut parts = Vec::new();
                for (what, paths) in [
                    ("created", &c.created),
                    ("modified", &c.modified),
                    ("deleted", &c.deleted),
                ] {
                    if !paths.is_empty() {
                        parts.push(format!("{what} {}", paths.join(", ")));
                    }
                }
                for (from, to) in &c.renamed {
                    parts.push(format!("renamed {from} -> {to}"));
                }
                for copy in &batch.conflicts {
                    parts.push(format!(
                        "CONFLICT: the folder's version won, the draft's is kept as {copy}"
                    ));
                }
                write!(f, "{} {side}: {}", batch.collection, parts.join("; "))
            }
            Notice::Skipped {
                collection,
                skipped,
            } => {
                let list: Vec<String> = skipped
                    .iter()
                    .map(|s| format!("{} ({})", s.path, s.reason))
                    .collect();
                write!(f, "{collection}: skipped {}", list.join("; "))
            }
            Notice::Paused {
                collection,
                dir,
                reason,
            } => write!(
                f,
                "{collection}: paused: {reason}; the draft is left as it is until {} returns",
                dir.display()
            ),
            Notice::Resumed { collection, dir } => {
                write!(f, "{collection}: resumed: {} is back", dir.display())
            }
            Notice::Polling {
                collection,
                reason,
                interval_ms,
                ..
            } => write!(
                f,
                "{collection}: {reason}; polling the folder every {interval_ms} ms instead"
            ),
            Notice::Failed { collection, reason } => {
                write!(f, "{collection}: {reason}; rescanning shortly")
            }
            Notice::Stopped { collection, reason } => write!(f, "{collection}: stopped: {reason}"),
        }
    }
}

/// What wakes the loop.
enum Msg {
    Fs(notify_debouncer_full::DebounceEventResult),
    /// Paths the poller saw change.
    Touched(Vec<PathBuf>),
    /// Draft paths changed through the store (API, CLI in this process, revert).
    Store(Vec<String>),
    /// The store's events came faster than they were read: compare everything.
    Lagged,
    /// The collection was deleted.
    Deleted,
}

/// Syncs `dir` and the draft of `slug` until `stop` is set: starts the
/// watcher, runs the start-up [`reconcile`] (reported as
/// [`Notice::Reconciled`]), then reads each debounced batch of folder changes
/// into the draft in one transaction and writes draft changes made elsewhere
/// into the folder; `on_notice` hears of every change and every fault.
/// Returns an error only when the sync cannot start (the watcher is
/// registered before the reconcile, so no change falls between the two).
pub fn watch(
    store: &Store,
    slug: &str,
    dir: &Path,
    options: &WatchOptions,
    stop: &AtomicBool,
    on_notice: &mut dyn FnMut(Notice),
) -> Result<()> {
    must_be_folder(dir)?;
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    let mut root = match RootId::of(&dir) {
        Some(root) => root,
        None => return must_be_folder(&dir),
    };
    let debounce = options.debounce.max(MIN_DEBOUNCE);
    let (tx, rx) = std::sync::mpsc::channel();
    // Subscribed before the first look at the draft, so no change falls
    // between the two.
    let _forwarder = Forwarder::start(store.subscribe(), slug, tx.clone())?;
    let mut reporter = Reporter {
        slug,
        on_notice,
        reported: BTreeSet::new(),
        last_failure: None,
    };
    let mut fs = Some(FsWatch::start(&dir, options, &tx, &mut reporter)?);
    let mut external = store.external_changes()?;
    let (report, known) = reconcile_agreed(store, slug, &dir, false)?;
    let mut pair = Pair {
        store,
        slug,
        rules: Rules::load(&dir)?,
        known,
    };
    let skipped = report.skipped.clone();
    reporter.notice(Notice::Reconciled(report));
    reporter.skipped(skipped);
    // Paused: the folder's state seen at the last tick, to resume only once
    // a returned folder has stopped changing (a restore being copied in).
    let mut paused: Option<Option<BTreeMap<PathBuf, Stamp>>> = None;
    let mut rescan_at: Option<Instant> = None;
    let mut retry = RETRY;
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut incoming = Incoming::default();
        match rx.recv_timeout(TICK) {
            Ok(msg) => incoming.take(msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if !incoming.touched.is_empty() {
            // Gather what follows within one more quiet window: a burst
            // becomes one transaction, and the two halves of a move (which
            // the debouncer may hand over in consecutive ticks) meet, so the
            // move is seen as a rename and the file keeps its uuid. Bounded,
            // so a folder that never goes quiet (a growing log) still syncs
            // and the sync still stops when asked.
            let until = Instant::now() + GATHER_LIMIT.max(debounce * 10);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                match rx.recv_timeout(debounce) {
                    Ok(msg) => incoming.take(msg),
                    Err(_) => break,
                }
            }
            // A path that vanished may be the first half of a move whose
            // second half (a folder's files, rescanned by the watcher) comes
            // later: wait for it a little, so the move keeps its uuids
            // instead of becoming a delete and a create. (Also lets a folder
            // being deleted whole finish going, so it pauses the sync rather
            // than emptying the draft.)
            if incoming
                .touched
                .iter()
                .any(|p| std::fs::symlink_metadata(p).is_err())
            {
                let until = Instant::now() + MOVE_WINDOW;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    match rx.recv_timeout(left) {
                        Ok(msg) => incoming.take(msg),
                        Err(_) => break,
                    }
                }
            }
        }
        if incoming.deleted {
            reporter.collection_deleted();
            return Ok(());
        }
        let tick = last_tick.elapsed() >= TICK;
        if tick {
            last_tick = Instant::now();
            match store.external_changes() {
                Ok(version) => {
                    incoming.resync_store |= version != external;
                    external = version;
                }
                Err(e) => reporter.failed(&e),
            }
        }
        if let Some(settling) = &mut paused {
            if !tick {
                continue;
            }
            let Some(now) = RootId::of(&dir).filter(|now| now.returned(&root)) else {
                *settling = None;
                continue;
            };
            // Back, and unchanged since the last tick: resume. The watcher
            // starts first, so nothing that changes during the resume is
            // missed.
            let stamps = Poller::stamps(&dir);
            if settling.as_ref() != Some(&stamps) {
                *settling = Some(stamps);
                continue;
            }
            root = now;
            match FsWatch::start(&dir, options, &tx, &mut reporter) {
                Ok(watcher) => fs = Some(watcher),
                Err(e) => {
                    reporter.failed(&e);
                    continue;
                }
            }
            match resume(&mut pair, &dir, &mut reporter) {
                Ok(()) => {
                    paused = None;
                    reporter.notice(Notice::Resumed {
                        collection: slug.to_string(),
                        dir: dir.clone(),
                    });
                }
                Err(e) => {
                    fs = None;
                    reporter.failed(&e);
                }
            }
            continue;
        }
        // The folder must still be the one the sync started on before its
        // events (or a rescan) mean anything: deleted, moved away or
        // unmounted, its files "vanish", and the draft must not follow.
        if let Some(reason) = root.gone(&dir) {
            fs = None;
            paused = Some(None);
            reporter.notice(Notice::Paused {
                collection: slug.to_string(),
                dir: dir.clone(),
                reason,
            });
            continue;
        }
        for error in std::mem::take(&mut incoming.errors) {
            let polling = fs.as_ref().is_some_and(|w| w.polling);
            if matches!(error.kind, notify::ErrorKind::MaxFilesWatch) && !polling {
                // A folder created after the start could not be watched: the
                // table is full. Poll from now on, and look at everything.
                drop(fs.take());
                match FsWatch::poll(&dir, options, &tx, limit_reason(), &mut reporter) {
                    Ok(watcher) => fs = Some(watcher),
                    Err(e) => reporter.failed(&e),
                }
            } else {
                reporter.notice(Notice::Failed {
                    collection: slug.to_string(),
                    reason: format!("the folder watcher reported: {error}"),
                });
            }
            rescan_at = Some(Instant::now());
        }
        if fs.is_none() {
            // The watcher could not be restarted: try again each tick.
            if tick {
                match FsWatch::start(&dir, options, &tx, &mut reporter) {
                    Ok(watcher) => {
                        fs = Some(watcher);
                        rescan_at = Some(Instant::now());
                    }
                    Err(e) => reporter.failed(&e),
                }
            }
            continue;
        }
        if incoming.rescan {
            rescan_at = Some(Instant::now());
        }
        if incoming
            .touched
            .iter()
            .any(|p| p == &dir.join(super::IGNORE_FILE))
        {
            match Rules::load(&dir) {
                Ok(rules) => {
                    pair.rules = rules;
                    // Files the old rules left out may be in now.
                    rescan_at = Some(Instant::now());
                }
                Err(e) => reporter.failed(&e),
            }
        }
        if rescan_at.is_some_and(|at| at <= Instant::now()) {
            rescan_at = None;
            incoming.touched.extend(pair.everything());
            incoming.resync_store = true;
        }
        // The folder's changes first: where both sides changed, the folder
        // wins and the draft's version becomes the conflict copy.
        let mut failed = false;
        if !incoming.touched.is_empty() {
            match pair.carry_to_draft(&incoming.touched) {
                Ok((batch, skipped)) => reporter.batch(batch, skipped),
                Err(Error::CollectionNotFound(_)) => {
                    reporter.collection_deleted();
                    return Ok(());
                }
                Err(e) => {
                    reporter.failed(&e);
                    failed = true;
                }
            }
        }
        if incoming.resync_store {
            match pair.store_changes() {
                Ok(paths) => incoming.from_store.extend(paths),
                Err(Error::CollectionNotFound(_)) => {
                    reporter.collection_deleted();
                    return Ok(());
                }
                Err(e) => {
                    reporter.failed(&e);
                    failed = true;
                }
            }
        }
        if !incoming.from_store.is_empty() {
            match pair.carry_to_folder(&incoming.from_store) {
                Ok((batch, skipped)) => reporter.batch(batch, skipped),
                Err(e) => {
                    reporter.failed(&e);
                    failed = true;
                }
            }
        }
        // A failed batch is repaired by a full rescan, later each time it
        // fails again (up to a minute apart), so a lasting fault costs little.
        if failed {
            rescan_at = Some(Instant::now() + retry);
            retry = (retry * 2).min(RETRY_MAX);
        } else if !incoming.touched.is_empty() || !incoming.from_store.is_empty() {
            retry = RETRY;
            reporter.last_failure = None;
        }
    }
    Ok(())
}

/// Brings a folder that came back level with the draft: an empty one gets
/// the draft's tree, otherwise each side's changes since they last agreed
/// are carried over as in a live batch (both changed: the folder wins, the
/// draft's version is kept as a conflict copy).
fn resume(pair: &mut Pair<'_>, dir: &Path, reporter: &mut Reporter<'_, '_>) -> Result<()> {
    pair.rules = Rules::load(dir)?;
    let found = scan(&pair.rules, dir)?;
    if found.files.is_empty() && found.skipped.is_empty() {
        let (report, known) = reconcile_agreed(pair.store, pair.slug, dir, false)?;
        pair.known = known;
        let changes = BatchReport {
            created: report.written_to_folder,
            ..BatchReport::default()
        };
        reporter.batch(pair.batch("to_folder", changes, Vec::new()), Vec::new());
        return Ok(());
    }
    let (batch, skipped) = pair.carry_to_draft(&pair.everything())?;
    reporter.batch(batch, skipped);
    let changed = pair.store_changes()?;
    let (batch, skipped) = pair.carry_to_folder(&changed)?;
    reporter.batch(batch, skipped);
    Ok(())
}

/// What one wake-up of the loop brought.
#[derive(Default)]
struct Incoming {
    /// Folder paths that may have changed.
    touched: BTreeSet<PathBuf>,
    /// Draft paths changed through the store.
    from_store: BTreeSet<String>,
    /// Compare the whole draft with what both sides last agreed on.
    resync_store: bool,
    /// The watcher lost events: look at the whole folder.
    rescan: bool,
    errors: Vec<notify::Error>,
    deleted: bool,
}

impl Incoming {
    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Fs(Ok(events)) => {
                // Reads are left out: the watcher reports opens, its own and ours.
                for event in events.iter().filter(|e| !e.kind.is_access()) {
                    self.rescan |= event.need_rescan();
                    self.touched.extend(event.paths.iter().cloned());
                }
            }
            Msg::Fs(Err(errors)) => self.errors.extend(errors),
            Msg::Touched(paths) => self.touched.extend(paths),
            Msg::Store(paths) => self.from_store.extend(paths),
            Msg::Lagged => self.resync_store = true,
            Msg::Deleted => self.deleted = true,
        }
    }
}

/// Hands notices to the caller, leaving out empty batches and skips already
/// reported.
struct Reporter<'a, 'b> {
    slug: &'a str,
    on_notice: &'b mut dyn FnMut(Notice),
    /// Skipped paths already reported (until they sync again).
    reported: BTreeSet<String>,
    /// The last failure reported: the same one again is not repeated until
    /// something synced in between.
    last_failure: Option<String>,
}

impl Reporter<'_, '_> {
    fn notice(&mut self, notice: Notice) {
        (self.on_notice)(notice);
    }

    fn failed(&mut self, error: &Error) {
        let reason = error.to_string();
        if self.last_failure.as_ref() == Some(&reason) {
            return;
        }
        self.last_failure = Some(reason.clone());
        self.notice(Notice::Failed {
            collection: self.slug.to_string(),
            reason,
        });
    }

    fn collection_deleted(&mut self) {
        self.notice(Notice::Stopped {
            collection: self.slug.to_string(),
            reason: "the collection was deleted; the folder is left as it is".into(),
        });
    }

    /// Reports the skips not reported yet.
    fn skipped(&mut self, skipped: Vec<Skipped>) {
        let fresh: Vec<Skipped> = skipped
            .into_iter()
            .filter(|s| self.reported.insert(s.path.clone()))
            .collect();
        if !fresh.is_empty() {
            self.notice(Notice::Skipped {
                collection: self.slug.to_string(),
                skipped: fresh,
            });
        }
    }

    fn batch(&mut self, batch: SyncedBatch, skipped: Vec<Skipped>) {
        let c = &batch.changes;
        for path in c.created.iter().chain(&c.modified) {
            self.reported.remove(path);
        }
        self.skipped(skipped);
        if batch.changes.changed() > 0 || !batch.conflicts.is_empty() {
            self.notice(Notice::Synced(batch));
        }
    }
}

/// The running file watcher; dropping it stops it.
struct FsWatch {
    _debouncer: Box<dyn std::any::Any>,
    polling: bool,
}

impl FsWatch {
    /// The native watcher (inotify on Linux), or polling when asked for or
    /// when the native one cannot follow this folder (says so in a notice).
    fn start(
        dir: &Path,
        options: &WatchOptions,
        tx: &Sender<Msg>,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<FsWatch> {
        if options.poll.is_some() {
            return FsWatch::poll(dir, options, tx, "asked for with --poll".into(), reporter);
        }
        let handler = forward(tx);
        let native =
            notify_debouncer_full::new_debouncer(options.debounce.max(MIN_DEBOUNCE), None, handler)
                .and_then(|mut debouncer| {
                    debouncer.watch(dir, notify::RecursiveMode::Recursive)?;
                    Ok(debouncer)
                });
        match native {
            Ok(debouncer) => Ok(FsWatch {
                _debouncer: Box::new(debouncer),
                polling: false,
            }),
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                FsWatch::poll(dir, options, tx, limit_reason(), reporter)
            }
            // Anything else the native watcher cannot do (an unreadable
            // folder inside, the inotify instance limit, a file system
            // without events): polling still works.
            Err(e) => FsWatch::poll(
                dir,
                options,
                tx,
                format!("the native watcher failed ({e})"),
                reporter,
            ),
        }
    }

    fn poll(
        dir: &Path,
        options: &WatchOptions,
        tx: &Sender<Msg>,
        reason: String,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<FsWatch> {
        let interval = options.poll.unwrap_or(DEFAULT_POLL_INTERVAL);
        let poller = Poller::start(dir, interval, tx.clone())?;
        reporter.notice(Notice::Polling {
            collection: reporter.slug.to_string(),
            dir: dir.to_path_buf(),
            reason,
            interval_ms: interval.as_millis() as u64,
        });
        Ok(FsWatch {
            _debouncer: Box::new(poller),
            polling: true,
        })
    }
}

/// Walks the folder every interval and reports the paths whose size, times
/// or inode changed. (notify's `PollWatcher` compares modification times in
/// whole seconds, so a second save within the same second went unseen.)
struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a poll remembers of a path: length, modification and change times
/// in nanoseconds, inode.
type Stamp = (u64, i128, i128, u64);

impl Poller {
    fn start(dir: &Path, interval: Duration, tx: Sender<Msg>) -> Result<Poller> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let dir = dir.to_path_buf();
        let mut before = Poller::stamps(&dir);
        let thread = std::thread::Builder::new()
            .name("blockstore-sync-poll".into())
            .spawn(move || loop {
                std::thread::park_timeout(interval);
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let now = Poller::stamps(&dir);
                let mut touched: Vec<PathBuf> = now
                    .iter()
                    .filter(|(path, stamp)| before.get(*path) != Some(stamp))
                    .map(|(path, _)| path.clone())
                    .collect();
                touched.extend(before.keys().filter(|p| !now.contains_key(*p)).cloned());
                before = now;
                if !touched.is_empty() && tx.send(Msg::Touched(touched)).is_err() {
                    break;
                }
            })
            .map_err(|e| Error::io("starting the folder poller", e))?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }

    fn stamps(dir: &Path) -> BTreeMap<PathBuf, Stamp> {
        walkdir::WalkDir::new(dir)
            .min_depth(1)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
            .filter_map(std::result::Result::ok)
            // Files only: a folder's times change with every entry, and a
            // touched folder is walked whole; its files speak for it.
            .filter(|e| !e.file_type().is_dir())
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((e.into_path(), stamp(&meta)))
            })
            .collect()
    }
}

#[cfg(unix)]
fn stamp(meta: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    (
        meta.len(),
        ns(meta.mtime(), meta.mtime_nsec()),
        ns(meta.ctime(), meta.ctime_nsec()),
        meta.ino(),
    )
}

#[cfg(not(unix))]
fn stamp(meta: &std::fs::Metadata) -> Stamp {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    (meta.len(), mtime, 0, 0)
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn forward(tx: &Sender<Msg>) -> impl FnMut(notify_debouncer_full::DebounceEventResult) + Send {
    let tx = tx.clone();
    move |result| {
        let _ = tx.send(Msg::Fs(result));
    }
}

fn limit_reason() -> String {
    "the inotify watch limit is reached (raise it with `sudo sysctl fs.inotify.max_user_watches=524288`)".into()
}

/// Which folder the sync started on: a folder deleted and made again, moved
/// away, or with its file system unmounted is a different folder.
#[derive(Debug, Clone, Copy)]
struct RootId {
    dev: u64,
    ino: u64,
    /// A mount point (its device differs from its parent's).
    mount_point: bool,
}

impl RootId {
    fn of(dir: &Path) -> Option<RootId> {
        let meta = std::fs::metadata(dir).ok().filter(|m| m.is_dir())?;
        let (dev, ino) = ids(&meta);
        let mount_point = dir
            .parent()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|parent| ids(&parent).0 != dev);
        Some(RootId {
            dev,
            ino,
            mount_point,
        })
    }

    /// Why the folder at `dir` is no longer the one the sync follows.
    fn gone(&self, dir: &Path) -> Option<String> {
        match RootId::of(dir) {
            None => Some(format!("{} is gone (deleted or moved)", dir.display())),
            Some(now) if self.mount_point && !now.mount_point => {
                Some(format!("{} was unmounted", dir.display()))
            }
            Some(now) if (now.dev, now.ino) != (self.dev, self.ino) => {
                Some(format!("{} was replaced by another folder", dir.display()))
            }
            Some(_) => None,
        }
    }

    /// Whether the folder the sync paused for is back (a mount point must be
    /// mounted again; any other folder may be a new one at the same path).
    fn returned(&self, before: &RootId) -> bool {
        !before.mount_point || self.mount_point
    }
}

#[cfg(unix)]
fn ids(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn ids(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// Forwards the store's events about one collection into the loop's channel,
/// on a thread of its own, until dropped.
struct Forwarder {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    fn start(
        mut events: crate::store::events::Receiver<Event>,
        slug: &str,
        tx: Sender<Msg>,
    ) -> Result<Forwarder> {
        use crate::store::events::RecvError;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Error::io("starting the sync's event listener", e))?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let slug = slug.to_string();
        let thread = std::thread::Builder::new()
            .name("blockstore-sync-events".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        let next = tokio::select! {
                            _ = &mut stopped => break,
                            next = events.recv() => next,
                        };
                        let msg = match next {
                            Ok(Event::DraftChanged { collection, paths })
                            | Ok(Event::CollectionReverted { collection, paths })
                                if collection == slug =>
                            {
                                Msg::Store(paths)
                            }
                            Ok(Event::CollectionDeleted { collection }) if collection == slug => {
                                Msg::Deleted
                            }
                            Ok(_) => continue,
                            Err(RecvError::Lagged(_)) => Msg::Lagged,
                            Err(RecvError::Closed) => break,
                        };
                        if tx.send(msg).is_err() {
                            break;
                        }
                    }
                })
            })
            .map_err(|e| Error::io("starting the sync's event listener", e))?;
        Ok(Forwarder {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A sync running on a thread of its own (as `serve --sync` runs them).
pub struct SyncHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl SyncHandle {
    /// Asks the sync to stop and waits for it: at most about a second (a
    /// batch being gathered or applied finishes first).
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Invalid("the sync thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs [`watch`] for `slug` and `dir` on a thread of its own; `on_notice`
/// hears its notices there. Returns once the start-up reconcile is done,
/// with its report, or with the error that kept the sync from starting.
pub fn spawn(
    store: Arc<Store>,
    slug: &str,
    dir: &Path,
    options: WatchOptions,
    mut on_notice: impl FnMut(Notice) + Send + 'static,
) -> Result<(SyncHandle, ReconcileReport)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (slug, dir) = (slug.to_string(), dir.to_path_buf());
    let flag = stop.clone();
    let (ready, reconciled) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(format!("blockstore-sync-{slug}"))
        .spawn(move || {
            let mut ready = Some(ready);
            let mut notices = |notice: Notice| {
                if let Notice::Reconciled(report) = &notice {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(report.clone());
                    }
                }
                on_notice(notice);
            };
            watch(&store, &slug, &dir, &options, &flag, &mut notices)
        })
        .map_err(|e| Error::io("starting a sync thread", e))?;
    let mut handle = SyncHandle {
        stop,
        thread: Some(thread),
    };
    match reconciled.recv() {
        Ok(report) => Ok((handle, report)),
        // The thread ended before reconciling: its error says why.
        Err(_) => match handle.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => Err(e),
            _ => Err(Error::Invalid(
                "the sync thread ended before it started".into(),
            )),
        },
    }
}
