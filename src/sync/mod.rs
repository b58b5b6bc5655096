//! Folder ↔ collection sync: a collection's draft kept as a plain folder that
//! any editor or script can change, with every change following into the
//! draft within a blink.
//!
//! [`reconcile`] settles the two sides once at start-up (an empty folder gets
//! the draft tree, otherwise the folder wins into the draft), and [`watch`]
//! then follows the folder with the `notify` crate behind a debouncer, so an
//! editor's save pattern (temp file + rename, truncate then write, swap files)
//! settles before it is read and becomes one draft change. Each debounced
//! batch is one store transaction (`Source::Sync` revisions), so renames are
//! recognised by content within the batch and a uuid survives a move.
//!
//! Ignored everywhere: `.git/`, `*.swp`, `*~`, `.#*`, `.DS_Store`, the
//! `.blockstoreignore` file itself and the gitignore-style patterns it holds
//! (parsed by the `ignore` crate).
//!
//! Two-way: draft changes made elsewhere (REST API, CLI, revert) are written
//! into the folder. Both directions keep `known`, what the two sides last
//! agreed on per path, so the watcher's sight of our own writes is recognised
//! as an echo (same bytes: no new revision), and a path changed on both sides
//! is a conflict: the disk's bytes win the draft and the store's are kept as
//! `PATH.conflict-<short hash>`.
//!
//! Not yet: `serve --sync`, and the watcher fault handling the issue lists
//! (folder gone, permission denied, inotify limit); see the note.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use crate::store::{
    At, BatchEntry, BatchReport, CollectionMetadata, Error, Event, NoProgress, RelPath, Result,
    Source, Store,
};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The file that holds a folder's own ignore patterns.
pub const IGNORE_FILE: &str = ".blockstoreignore";

/// Patterns never synced: version control, editor swap and backup files, OS litter.
/// Conflict copies (`PATH.conflict-<hash>`) are for the person to look at and
/// stay out of the collection too.
const ALWAYS_IGNORED: &[&str] = &[
    ".git/",
    "*.swp",
    "*~",
    ".#*",
    ".DS_Store",
    "*.conflict-*",
    IGNORE_FILE,
];

/// How long the folder must be quiet before a batch of changes is read.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(75);

/// How often another process's writes to the index are looked for.
const EXTERNAL_POLL: Duration = Duration::from_millis(250);

/// How long a batch with vanished paths waits for the other half of a move.
const MOVE_WINDOW: Duration = Duration::from_millis(750);

/// The ignore rules of a synced folder.
pub struct Rules {
    root: PathBuf,
    gitignore: Gitignore,
}

impl Rules {
    /// The built-in patterns plus the folder's `.blockstoreignore`, if any.
    pub fn load(root: &Path) -> Result<Rules> {
        let mut builder = GitignoreBuilder::new(root);
        for pattern in ALWAYS_IGNORED {
            builder
                .add_line(None, pattern)
                .map_err(|e| Error::Invalid(format!("ignore pattern {pattern:?}: {e}")))?;
        }
        let own = root.join(IGNORE_FILE);
        if own.is_file() {
            if let Some(e) = builder.add(&own) {
                return Err(Error::Invalid(format!("{}: {e}", own.display())));
            }
        }
        let gitignore = builder
            .build()
            .map_err(|e| Error::Invalid(format!("{}: {e}", own.display())))?;
        Ok(Rules {
            root: root.to_path_buf(),
            gitignore,
        })
    }

    /// Whether `abs` (under the root) is left out of the collection.
    pub fn ignored(&self, abs: &Path, is_dir: bool) -> bool {
        abs.strip_prefix(&self.root).is_ok_and(|rel| {
            self.gitignore
                .matched_path_or_any_parents(rel, is_dir)
                .is_ignore()
        })
    }

    /// The collection path of `abs`, if it is under the root and valid.
    fn rel_path(&self, abs: &Path) -> Option<RelPath> {
        let rel = abs.strip_prefix(&self.root).ok()?;
        let text = rel.to_str()?.replace(std::path::MAIN_SEPARATOR, "/");
        RelPath::new(&text).ok()
    }
}

/// Every file of the folder the rules keep, by collection path.
fn folder_files(rules: &Rules) -> Result<BTreeMap<RelPath, PathBuf>> {
    let mut out = BTreeMap::new();
    let walker = walkdir::WalkDir::new(&rules.root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !rules.ignored(e.path(), e.file_type().is_dir()));
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Error::io(format!("reading {at}"), e.into())
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        match rules.rel_path(entry.path()) {
            Some(path) => {
                out.insert(path, entry.path().to_path_buf());
            }
            None => {
                return Err(Error::Invalid(format!(
                    "{}: not a valid collection path (UTF-8, no control characters); rename it or add it to {IGNORE_FILE}",
                    entry.path().display()
                )))
            }
        }
    }
    Ok(out)
}

/// What the start-up reconcile did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub collection: String,
    pub dir: PathBuf,
    /// `folder_written`: the folder was empty and got the draft tree;
    /// `folder_wins`: the folder's files were written into the draft.
    pub direction: String,
    pub dry_run: bool,
    /// Files written into the folder (`folder_written`).
    pub written_to_folder: Vec<String>,
    /// Draft changes (`folder_wins`); with `dry_run`, what they would be.
    pub created: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
    /// (from, to), recognised by content.
    pub renamed: Vec<(String, String)>,
    pub unchanged: u64,
}

/// Brings the folder and the draft of `slug` together once: an empty folder
/// gets the draft's tree; otherwise the folder wins into the draft (a
/// collection that does not exist yet is created). With `dry_run` nothing is
/// written and the report says what would change.
pub fn reconcile(store: &Store, slug: &str, dir: &Path, dry_run: bool) -> Result<ReconcileReport> {
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a folder; create it (an empty folder receives the collection's files)",
            dir.display()
        )));
    }
    let rules = Rules::load(dir)?;
    let on_disk = folder_files(&rules)?;
    let draft = match store.files(slug, At::Draft) {
        Ok(files) => files,
        Err(Error::CollectionNotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut report = ReconcileReport {
        collection: slug.to_string(),
        dir: dir.to_path_buf(),
        dry_run,
        ..ReconcileReport::default()
    };
    if on_disk.is_empty() && !draft.is_empty() {
        report.direction = "folder_written".into();
        for file in &draft {
            report.written_to_folder.push(file.path.clone());
            if !dry_run {
                let bytes = store.blobs().read(&file.hash, true)?;
                write_file(&dir.join(&file.path), &bytes)?;
            }
        }
        return Ok(report);
    }
    report.direction = "folder_wins".into();
    let current: BTreeMap<&str, &str> = draft
        .iter()
        .map(|f| (f.path.as_str(), f.hash.as_str()))
        .collect();
    let deletes: Vec<RelPath> = draft
        .iter()
        .filter_map(|f| RelPath::new(&f.path).ok())
        .filter(|p| !on_disk.contains_key(p))
        .collect();
    if dry_run {
        let mut gone: BTreeMap<String, String> = deletes
            .iter()
            .map(|p| (current[p.as_str()].to_string(), p.as_str().to_string()))
            .collect();
        for (path, abs) in &on_disk {
            let bytes = read_file(abs)?;
            let hash = crate::store::hash_bytes(&bytes);
            match current.get(path.as_str()) {
                Some(h) if *h == hash => report.unchanged += 1,
                Some(_) => report.modified.push(path.as_str().to_string()),
                None => match gone.remove(&hash) {
                    Some(from) => report.renamed.push((from, path.as_str().to_string())),
                    None => report.created.push(path.as_str().to_string()),
                },
            }
        }
        report.deleted = gone.into_values().collect();
        report.deleted.sort();
        return Ok(report);
    }
    let puts = on_disk
        .into_iter()
        .map(|(path, abs)| (path, Content::Disk(abs)))
        .collect();
    let changes = apply(store, slug, puts, deletes)?;
    report.created = changes.created;
    report.modified = changes.modified;
    report.deleted = changes.deleted;
    report.renamed = changes.renamed;
    report.unchanged = changes.unchanged;
    Ok(report)
}

/// Where a file's new bytes come from.
enum Content {
    /// Read from the folder inside the write session.
    Disk(PathBuf),
    /// Already read (and compared) by the caller.
    Bytes(Vec<u8>),
}

/// Writes `puts` and `deletes` into the draft in one transaction (renames
/// recognised by content), creating the collection if needed.
fn apply(
    store: &Store,
    slug: &str,
    puts: Vec<(RelPath, Content)>,
    deletes: Vec<RelPath>,
) -> Result<BatchReport> {
    store.write_session(|session| {
        let mut entries = Vec::with_capacity(puts.len());
        for (path, content) in puts {
            let bytes = match content {
                Content::Bytes(bytes) => bytes,
                Content::Disk(abs) => match read_file(&abs) {
                    Ok(bytes) => bytes,
                    // Gone since it was seen: the next batch records the delete.
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        continue
                    }
                    Err(e) => return Err(e),
                },
            };
            let blob = session.blobs().put_deferred(&bytes)?;
            entries.push(Ok(BatchEntry::new(path, blob, &bytes)));
        }
        let expected = entries.len();
        session.apply_creating(
            slug,
            &CollectionMetadata::default(),
            entries,
            expected,
            deletes,
            true,
            Source::Sync,
            &NoProgress,
        )
    })
}

fn read_file(abs: &Path) -> Result<Vec<u8>> {
    std::fs::read(abs).map_err(|e| Error::io(format!("reading {}", abs.display()), e))
}

/// Writes a file whole: a temp file in the same folder, renamed into place,
/// so an editor or watcher never sees it half-written.
fn write_file(abs: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e| Error::io(format!("writing {}", abs.display()), e);
    let parent = abs.parent().expect("a file in the folder has a parent");
    std::fs::create_dir_all(parent).map_err(io)?;
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".#{name}.blockstore-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    #[allow(clippy::disallowed_methods)]
    std::fs::rename(&tmp, abs).map_err(io)
}

/// One batch of synced changes: folder → draft (`to_draft`) or draft →
/// folder (`to_folder`).
#[derive(Debug, Clone, Serialize)]
pub struct SyncedBatch {
    pub collection: String,
    pub direction: String,
    pub changes: BatchReport,
    /// Paths changed on disk and in the store since they last agreed: the
    /// disk's bytes won the draft, the store's were saved beside them as
    /// `PATH.conflict-<short hash>` (these names).
    pub conflicts: Vec<String>,
}

/// Writes the draft's state at `paths` into the folder where the folder still
/// holds what both sides last agreed on; where the folder changed too, the
/// folder wins the draft and the draft's bytes are kept as a conflict copy
/// (the watcher then brings that copy in like any new file).
fn to_folder(
    store: &Store,
    slug: &str,
    rules: &Rules,
    known: &mut BTreeMap<String, String>,
    paths: &BTreeSet<String>,
) -> Result<BatchReport> {
    let mut report = BatchReport::default();
    for path in paths {
        let draft = match store.file(slug, path, At::Draft) {
            Ok(file) => Some(file.hash),
            Err(Error::FileNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let base = known.get(path).cloned();
        if draft == base {
            continue; // an echo of our own write, or nothing new
        }
        let abs = rules.root.join(path);
        if rules.ignored(&abs, false) {
            continue;
        }
        let disk = match std::fs::read(&abs) {
            Ok(bytes) => Some(crate::store::hash_bytes(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(format!("reading {}", abs.display()), e)),
        };
        if disk != base && disk != draft {
            // Changed on both sides: the folder's copy arrives through the
            // watcher and wins; keep the store's beside it.
            if let Some(hash) = &draft {
                let copy = rules.root.join(format!("{path}.conflict-{}", &hash[..8]));
                write_file(&copy, &store.blobs().read(hash, true)?)?;
            }
            continue;
        }
        match &draft {
            Some(hash) => {
                write_file(&abs, &store.blobs().read(hash, true)?)?;
                if base.is_some() {
                    report.modified.push(path.clone());
                } else {
                    report.created.push(path.clone());
                }
                known.insert(path.clone(), hash.clone());
            }
            None => {
                match std::fs::remove_file(&abs) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(format!("removing {}", abs.display()), e)),
                }
                report.deleted.push(path.clone());
                known.remove(path);
            }
        }
    }
    Ok(report)
}

/// Follows the folder until `stop` is set: each debounced batch of changes is
/// read and applied to the draft of `slug` in one transaction; `on_batch`
/// hears of every batch that changed something. Call [`reconcile`] first.
pub fn watch(
    store: &Store,
    slug: &str,
    dir: &Path,
    debounce: Duration,
    stop: &AtomicBool,
    on_batch: &mut dyn FnMut(&SyncedBatch),
) -> Result<()> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    let mut rules = Rules::load(&dir)?;
    // Subscribed before the first look at the draft, so no change falls
    // between the two.
    let mut events = store.subscribe();
    // What both sides held when they last agreed, by path: the base that
    // tells an echo of our own write from a change, and a change from a
    // conflict.
    let mut known: BTreeMap<String, String> = store
        .files(slug, At::Draft)?
        .into_iter()
        .map(|f| (f.path, f.hash))
        .collect();
    let mut external = store.external_changes()?;
    let mut last_check = std::time::Instant::now();
    let (sender, receiver) = std::sync::mpsc::channel();
    let mut debouncer = notify_debouncer_full::new_debouncer(debounce, None, sender)
        .map_err(|e| Error::Invalid(format!("watching {}: {e}", dir.display())))?;
    debouncer
        .watch(&dir, notify::RecursiveMode::Recursive)
        .map_err(|e| Error::Invalid(format!("watching {}: {e}", dir.display())))?;
    while !stop.load(Ordering::Relaxed) {
        // Draft changes made elsewhere (REST API, CLI, revert) go to the folder.
        let mut from_store: BTreeSet<String> = BTreeSet::new();
        let mut resync = false;
        loop {
            match events.try_recv() {
                Ok(Event::DraftChanged { collection, paths })
                | Ok(Event::CollectionReverted { collection, paths })
                    if collection == slug =>
                {
                    from_store.extend(paths)
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => resync = true,
                Err(_) => break,
            }
        }
        // Another process (`blockstore write`, a second server) sends no
        // events here: a moved data version means compare the whole draft.
        if last_check.elapsed() >= EXTERNAL_POLL {
            last_check = std::time::Instant::now();
            let version = store.external_changes()?;
            resync |= version != external;
            external = version;
        }
        if resync {
            let draft = store.files(slug, At::Draft)?;
            let now: BTreeMap<&str, &str> = draft
                .iter()
                .map(|f| (f.path.as_str(), f.hash.as_str()))
                .collect();
            for (path, hash) in &now {
                if known.get(*path).map(String::as_str) != Some(*hash) {
                    from_store.insert(path.to_string());
                }
            }
            for path in known.keys() {
                if !now.contains_key(path.as_str()) {
                    from_store.insert(path.clone());
                }
            }
        }
        if !from_store.is_empty() {
            let written = to_folder(store, slug, &rules, &mut known, &from_store)?;
            if written.changed() > 0 {
                on_batch(&SyncedBatch {
                    collection: slug.to_string(),
                    direction: "to_folder".into(),
                    changes: written,
                    conflicts: Vec::new(),
                });
            }
        }
        let events = match receiver.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(events)) => events,
            // Watcher errors are reported by the next reconcile-like pass;
            // the folder is rescanned so nothing is missed.
            Ok(Err(_)) => Vec::new(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
        gather(&mut touched, &events);
        // Gather what follows within one more quiet window: a burst becomes
        // one transaction, and the two halves of a move (which the debouncer
        // may hand over in consecutive ticks) meet, so the move is seen as a
        // rename and the file keeps its uuid.
        while let Ok(more) = receiver.recv_timeout(debounce) {
            if let Ok(events) = more {
                gather(&mut touched, &events);
            }
        }
        // A path that vanished may be the first half of a move whose second
        // half (a folder's files, rescanned by the watcher) comes later: wait
        // for it a little, so the move keeps its uuids instead of becoming a
        // delete and a create.
        if touched
            .iter()
            .any(|p| std::fs::symlink_metadata(p).is_err())
        {
            let until = std::time::Instant::now() + MOVE_WINDOW;
            while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                match receiver.recv_timeout(left) {
                    Ok(Ok(events)) => gather(&mut touched, &events),
                    Ok(Err(_)) => {}
                    Err(_) => break,
                }
            }
        }
        if touched.iter().any(|p| p == &dir.join(IGNORE_FILE)) {
            rules = Rules::load(&dir)?;
        }
        let (changes, conflicts) = sync_paths(store, slug, &rules, &touched, &mut known)?;
        if changes.changed() > 0 || !conflicts.is_empty() {
            on_batch(&SyncedBatch {
                collection: slug.to_string(),
                direction: "to_draft".into(),
                changes,
                conflicts,
            });
        }
    }
    Ok(())
}

/// Adds the paths of the events that may change content to `touched`; reads
/// are left out (the watcher reports opens, including its own and ours).
fn gather(touched: &mut BTreeSet<PathBuf>, events: &[notify_debouncer_full::DebouncedEvent]) {
    for event in events.iter().filter(|e| !e.kind.is_access()) {
        touched.extend(event.paths.iter().cloned());
    }
}

/// Applies what the folder now holds at each touched path: a file is written,
/// a folder is walked (moved in whole), a missing path deletes the draft's
/// file there and everything under it.
fn sync_paths(
    store: &Store,
    slug: &str,
    rules: &Rules,
    touched: &BTreeSet<PathBuf>,
    known: &mut BTreeMap<String, String>,
) -> Result<(BatchReport, Vec<String>)> {
    let mut puts: BTreeMap<RelPath, PathBuf> = BTreeMap::new();
    let mut gone: Vec<RelPath> = Vec::new();
    for abs in touched {
        let meta = std::fs::symlink_metadata(abs);
        let is_dir = meta.as_ref().is_ok_and(|m| m.is_dir());
        if rules.ignored(abs, is_dir) {
            continue;
        }
        match meta {
            Ok(m) if m.is_file() => {
                if let Some(path) = rules.rel_path(abs) {
                    puts.insert(path, abs.clone());
                }
            }
            Ok(m) if m.is_dir() => {
                for entry in walkdir::WalkDir::new(abs)
                    .into_iter()
                    .filter_entry(|e| !rules.ignored(e.path(), e.file_type().is_dir()))
                    .filter_map(std::result::Result::ok)
                    .filter(|e| e.file_type().is_file())
                {
                    if let Some(path) = rules.rel_path(entry.path()) {
                        puts.insert(path, entry.path().to_path_buf());
                    }
                }
            }
            Ok(_) => {}
            Err(_) => {
                if let Some(path) = rules.rel_path(abs) {
                    gone.push(path);
                }
            }
        }
    }
    if puts.is_empty() && gone.is_empty() {
        return Ok((BatchReport::default(), Vec::new()));
    }
    // A vanished path may have been a folder: every draft file under it goes.
    let mut deletes = Vec::new();
    if !gone.is_empty() {
        let draft = store.files(slug, At::Draft)?;
        for path in &gone {
            let prefix = format!("{}/", path.as_str());
            for file in &draft {
                if file.path == path.as_str() || file.path.starts_with(&prefix) {
                    if let Ok(p) = RelPath::new(&file.path) {
                        deletes.push(p);
                    }
                }
            }
        }
    }
    deletes.sort();
    deletes.dedup();
    // A file that still holds what both sides last agreed on did not change
    // on disk (the event was our own write, or a touch): the folder has
    // nothing to say about it.
    let mut contents: BTreeMap<RelPath, Vec<u8>> = BTreeMap::new();
    for (path, abs) in &puts {
        let bytes = match std::fs::read(abs) {
            Ok(bytes) => bytes,
            // Gone since it was seen: the next batch records the delete.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("reading {}", abs.display()), e)),
        };
        if known.get(path.as_str()) == Some(&crate::store::hash_bytes(&bytes)) {
            continue;
        }
        contents.insert(path.clone(), bytes);
    }
    if contents.is_empty() && deletes.is_empty() {
        return Ok((BatchReport::default(), Vec::new()));
    }
    // A path the store changed since both sides last agreed, and the folder
    // changed too: the folder wins, the store's bytes are kept beside it.
    let mut conflicts = Vec::new();
    for path in contents.keys().chain(deletes.iter()) {
        let Some(base) = known.get(path.as_str()) else {
            continue;
        };
        if let Ok(file) = store.file(slug, path.as_str(), At::Draft) {
            if &file.hash != base {
                let copy = format!("{}.conflict-{}", path.as_str(), &file.hash[..8]);
                write_file(
                    &rules.root.join(&copy),
                    &store.blobs().read(&file.hash, true)?,
                )?;
                conflicts.push(copy);
            }
        }
    }
    let puts = contents
        .into_iter()
        .map(|(path, bytes)| (path, Content::Bytes(bytes)))
        .collect();
    let changes = apply(store, slug, puts, deletes)?;
    // What the draft now holds at these paths is what the folder holds.
    for path in changes.created.iter().chain(&changes.modified) {
        if let Ok(file) = store.file(slug, path, At::Draft) {
            known.insert(path.clone(), file.hash);
        }
    }
    for (from, to) in &changes.renamed {
        if let Some(hash) = known.remove(from) {
            known.insert(to.clone(), hash);
        }
        if let Ok(file) = store.file(slug, to, At::Draft) {
            known.insert(to.clone(), file.hash);
        }
    }
    for path in &changes.deleted {
        known.remove(path);
    }
    Ok((changes, conflicts))
}
