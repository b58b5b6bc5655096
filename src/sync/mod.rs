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
//! Faults are reported as [`Notice`]s, never fatal: a folder that goes away
//! (deleted, moved, unmounted) pauses the sync without touching the draft
//! until it returns; an unreadable file or folder is skipped (and its draft
//! files kept); a full inotify watch table falls back to polling; a lost
//! event queue or a failed batch leads to a full rescan.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod watch;

pub use watch::{
    spawn, watch, Notice, SyncHandle, WatchOptions, DEFAULT_DEBOUNCE, DEFAULT_POLL_INTERVAL,
};

use crate::store::{
    At, BatchEntry, BatchReport, CollectionMetadata, Error, NoProgress, Precondition, RelPath,
    Result, Source, Store,
};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The file that holds a folder's own ignore patterns.
pub const IGNORE_FILE: &str = ".blockstoreignore";

/// Patterns never synced: version control, editor swap, lock, autosave and
/// backup files (vim's `4913` write probe too), OS litter.
/// Conflict copies (`PATH.conflict-<hash>`) are for the person to look at and
/// stay out of the collection too.
const ALWAYS_IGNORED: &[&str] = &[
    ".git/",
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    ".~lock.*#",
    "4913",
    ".DS_Store",
    "*.conflict-*",
    IGNORE_FILE,
];

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
            !rel.as_os_str().is_empty()
                && self
                    .gitignore
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

    /// `abs` relative to the root, for reports (lossy for non-UTF-8 names).
    fn display(&self, abs: &Path) -> String {
        abs.strip_prefix(&self.root)
            .unwrap_or(abs)
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/")
    }
}

/// A file or folder the sync left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Relative to the synced folder.
    pub path: String,
    pub reason: String,
}

/// What a walk of the folder found.
#[derive(Default)]
struct Scan {
    /// Every file the rules keep, by collection path.
    files: BTreeMap<RelPath, PathBuf>,
    skipped: Vec<Skipped>,
    /// Folders that could not be read: the draft's files under them stay.
    unreadable: Vec<String>,
}

impl Scan {
    /// Whether the draft's file at `path` must stay although the walk did not
    /// see it (it sits in a folder that could not be read).
    fn keeps(&self, path: &str) -> bool {
        self.unreadable
            .iter()
            .any(|dir| path.starts_with(dir.as_str()) && path[dir.len()..].starts_with('/'))
    }
}

/// Walks the folder (or the subfolder `from`) with the rules: unreadable
/// entries and names that are no collection path are skipped and reported.
fn scan(rules: &Rules, from: &Path) -> Result<Scan> {
    let mut out = Scan::default();
    let walker = walkdir::WalkDir::new(from)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !rules.ignored(e.path(), e.file_type().is_dir()));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let at = e.path().map(Path::to_path_buf).unwrap_or_default();
                if e.depth() == 0 {
                    return Err(Error::io(format!("reading {}", at.display()), e.into()));
                }
                match e.io_error().map(std::io::Error::kind) {
                    // Gone while walking: the watcher reports it.
                    Some(std::io::ErrorKind::NotFound) => continue,
                    Some(std::io::ErrorKind::PermissionDenied) => {
                        let path = rules.display(&at);
                        out.skipped.push(Skipped {
                            path: path.clone(),
                            reason: "permission denied: the folder cannot be read; its files in the draft are kept".into(),
                        });
                        out.unreadable.push(path);
                        continue;
                    }
                    _ => return Err(Error::io(format!("reading {}", at.display()), e.into())),
                }
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        match rules.rel_path(entry.path()) {
            Some(path) => {
                out.files.insert(path, entry.path().to_path_buf());
            }
            None => out.skipped.push(Skipped {
                path: rules.display(entry.path()),
                reason: format!(
                    "not a valid collection path (UTF-8, no control characters); rename it or add it to {IGNORE_FILE}"
                ),
            }),
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
    /// Files and folders left alone (unreadable, invalid names).
    pub skipped: Vec<Skipped>,
}

/// Brings the folder and the draft of `slug` together once: an empty folder
/// gets the draft's tree; otherwise the folder wins into the draft (a
/// collection that does not exist yet is created). With `dry_run` nothing is
/// written and the report says what would change.
pub fn reconcile(store: &Store, slug: &str, dir: &Path, dry_run: bool) -> Result<ReconcileReport> {
    reconcile_agreed(store, slug, dir, dry_run).map(|(report, _)| report)
}

/// [`reconcile`], also returning what both sides hold afterwards by path
/// (as the reconcile saw and wrote it: a write another process makes
/// meanwhile is not taken as agreed, so the live sync carries it over).
fn reconcile_agreed(
    store: &Store,
    slug: &str,
    dir: &Path,
    dry_run: bool,
) -> Result<(ReconcileReport, BTreeMap<String, String>)> {
    let mut agreed = BTreeMap::new();
    must_be_folder(dir)?;
    let rules = Rules::load(dir)?;
    let mut scan = scan(&rules, dir)?;
    let draft = match store.files(slug, At::Draft) {
        Ok(files) => files,
        // A synced collection exists from the start, even for an empty folder.
        Err(Error::CollectionNotFound(_)) if !dry_run => {
            store.create_collection(slug, &CollectionMetadata::default())?;
            Vec::new()
        }
        Err(Error::CollectionNotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut report = ReconcileReport {
        collection: slug.to_string(),
        dir: dir.to_path_buf(),
        dry_run,
        ..ReconcileReport::default()
    };
    if scan.files.is_empty() && scan.skipped.is_empty() && !draft.is_empty() {
        report.direction = "folder_written".into();
        for file in &draft {
            if rules.ignored(&dir.join(&file.path), false) {
                continue;
            }
            report.written_to_folder.push(file.path.clone());
            if !dry_run {
                let bytes = store.blobs().read(&file.hash, true)?;
                write_file(&dir.join(&file.path), &bytes)?;
                agreed.insert(file.path.clone(), file.hash.clone());
            }
        }
        return Ok((report, agreed));
    }
    report.direction = "folder_wins".into();
    // The plan, by hashing: only what differs is read again and written.
    let current: BTreeMap<&str, &str> = draft
        .iter()
        .map(|f| (f.path.as_str(), f.hash.as_str()))
        .collect();
    let mut puts = Vec::new();
    let mut new_hashes = BTreeMap::new();
    for (path, abs) in std::mem::take(&mut scan.files) {
        let hash = match read_file(&abs) {
            Ok(bytes) => crate::store::hash_bytes(&bytes),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(Error::Io { source, .. }) => {
                scan.skipped
                    .push(unreadable_because(path.as_str(), &source));
                // Kept as it is in the draft, like a file in an unreadable
                // folder; agreed as the draft has it, so that once readable
                // its bytes count as a change.
                if let Some(hash) = current.get(path.as_str()) {
                    agreed.insert(path.as_str().to_string(), hash.to_string());
                }
                scan.files.insert(path, abs);
                continue;
            }
            Err(e) => return Err(e),
        };
        agreed.insert(path.as_str().to_string(), hash.clone());
        match current.get(path.as_str()) {
            Some(h) if *h == hash => report.unchanged += 1,
            Some(_) => {
                report.modified.push(path.as_str().to_string());
                puts.push((path.clone(), Content::Disk(abs.clone())));
            }
            None => {
                new_hashes.insert(path.clone(), hash);
                puts.push((path.clone(), Content::Disk(abs.clone())));
            }
        }
        scan.files.insert(path, abs);
    }
    let deletes: Vec<RelPath> = draft
        .iter()
        .filter_map(|f| RelPath::existing(&f.path).ok())
        .filter(|p| !scan.files.contains_key(p) && !scan.keeps(p.as_str()))
        // Ignored paths are not the folder's to delete.
        .filter(|p| !rules.ignored(&dir.join(p.as_str()), false))
        .collect();
    report.skipped = scan.skipped;
    if dry_run {
        let mut gone: BTreeMap<String, String> = deletes
            .iter()
            .map(|p| (current[p.as_str()].to_string(), p.as_str().to_string()))
            .collect();
        for (path, hash) in new_hashes {
            match gone.remove(&hash) {
                Some(from) => report.renamed.push((from, path.as_str().to_string())),
                None => report.created.push(path.as_str().to_string()),
            }
        }
        report.deleted = gone.into_values().collect();
        report.deleted.sort();
        return Ok((report, BTreeMap::new()));
    }
    let unchanged = report.unchanged;
    if puts.is_empty() && deletes.is_empty() {
        return Ok((report, agreed));
    }
    let (changes, skipped) = apply(store, slug, puts, deletes, true)?;
    for s in &skipped {
        agreed.remove(&s.path);
    }
    report.created = changes.created;
    report.modified = changes.modified;
    report.deleted = changes.deleted;
    report.renamed = changes.renamed;
    report.unchanged = unchanged;
    report.skipped.extend(skipped);
    Ok((report, agreed))
}

/// The error for a synced folder that is not there.
fn must_be_folder(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{} is not a folder; create it (an empty folder receives the collection's files)",
        dir.display()
    )))
}

/// A file that could not be read: the draft keeps its last version.
fn unreadable_because(path: &str, error: &std::io::Error) -> Skipped {
    let why = if error.kind() == std::io::ErrorKind::PermissionDenied {
        "permission denied".to_string()
    } else {
        error.to_string()
    };
    Skipped {
        path: path.to_string(),
        reason: format!("{why}: the file cannot be read; the draft keeps its last version"),
    }
}

/// Where a file's new bytes come from.
enum Content {
    /// Read from the folder inside the write session.
    Disk(PathBuf),
    /// Already read (and compared) by the caller, with what the draft must
    /// still hold at the path when the transaction writes it.
    Bytes(Vec<u8>, Option<Precondition>),
}

/// Writes `puts` and `deletes` into the draft in one transaction (renames
/// recognised by content); `create`: creating the collection if needed (the
/// start-up reconcile; a live batch for a deleted collection must not bring
/// it back). Files that vanished since they were seen are left to the next
/// batch; unreadable ones are skipped and returned. A put's precondition is
/// checked inside the transaction.
fn apply(
    store: &Store,
    slug: &str,
    puts: Vec<(RelPath, Content)>,
    deletes: Vec<RelPath>,
    create: bool,
) -> Result<(BatchReport, Vec<Skipped>)> {
    let mut skipped = Vec::new();
    let report = store.write_session(|session| {
        let mut entries = Vec::with_capacity(puts.len());
        for (path, content) in puts {
            let (bytes, expect) = match content {
                Content::Bytes(bytes, expect) => (bytes, expect),
                Content::Disk(abs) => match read_file(&abs) {
                    Ok(bytes) => (bytes, None),
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        continue
                    }
                    Err(Error::Io { source, .. }) => {
                        skipped.push(unreadable_because(path.as_str(), &source));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let blob = session.blobs().put_deferred(&bytes)?;
            let mut entry = BatchEntry::new(path, blob, &bytes);
            entry.expect = expect;
            entries.push(Ok(entry));
        }
        let expected = entries.len();
        if create {
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
        } else {
            session.apply(
                slug,
                entries,
                expected,
                deletes,
                true,
                Source::Sync,
                &NoProgress,
            )
        }
    })?;
    Ok((report, skipped))
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

/// The state of one folder ↔ draft pair between batches: the rules, and what
/// both sides held when they last agreed, by path (the base that tells an
/// echo of our own write from a change, and a change from a conflict).
struct Pair<'a> {
    store: &'a Store,
    slug: &'a str,
    rules: Rules,
    known: BTreeMap<String, String>,
}

impl Pair<'_> {
    /// Writes the draft's state at `paths` into the folder where the folder
    /// still holds what both sides last agreed on. Where the folder changed
    /// too, the folder's version is left to win the draft (its change reaches
    /// `carry_to_draft`, which reports the conflict) and the draft's bytes are
    /// kept beside it as the conflict copy. A path that cannot be written is
    /// skipped and returned; the others go on.
    fn carry_to_folder(&mut self, paths: &BTreeSet<String>) -> Result<(SyncedBatch, Vec<Skipped>)> {
        let mut report = BatchReport::default();
        let mut skipped = Vec::new();
        for path in paths {
            match self.carry_one_to_folder(path, &mut report) {
                Ok(()) => {}
                Err(e @ Error::CollectionNotFound(_)) => return Err(e),
                Err(e) => skipped.push(Skipped {
                    path: path.clone(),
                    reason: format!("not written into the folder: {e}"),
                }),
            }
        }
        Ok((self.batch("to_folder", report, Vec::new()), skipped))
    }

    fn carry_one_to_folder(&mut self, path: &str, report: &mut BatchReport) -> Result<()> {
        let draft = match self.store.file(self.slug, path, At::Draft) {
            Ok(file) => Some(file.hash),
            Err(Error::FileNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let base = self.known.get(path).cloned();
        if draft == base {
            return Ok(()); // an echo of our own write, or nothing new
        }
        let abs = self.rules.root.join(path);
        if self.rules.ignored(&abs, false) {
            return Ok(());
        }
        let disk = match std::fs::read(&abs) {
            Ok(bytes) => Some(crate::store::hash_bytes(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(format!("reading {}", abs.display()), e)),
        };
        if disk != base && disk != draft {
            // Changed on both sides: the folder's copy wins (through the
            // watcher); keep the store's beside it.
            if let Some(hash) = &draft {
                self.keep_conflict(path, hash)?;
            }
            return Ok(());
        }
        match &draft {
            Some(hash) => {
                write_file(&abs, &self.store.blobs().read(hash, true)?)?;
                if base.is_some() {
                    report.modified.push(path.to_string());
                } else {
                    report.created.push(path.to_string());
                }
                self.known.insert(path.to_string(), hash.clone());
            }
            None => {
                match std::fs::remove_file(&abs) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(format!("removing {}", abs.display()), e)),
                }
                report.deleted.push(path.to_string());
                self.known.remove(path);
            }
        }
        Ok(())
    }

    /// Saves the draft's bytes `hash` of `path` as `PATH.conflict-<short hash>`.
    fn keep_conflict(&self, path: &str, hash: &str) -> Result<String> {
        let copy = format!("{path}.conflict-{}", &hash[..8]);
        write_file(
            &self.rules.root.join(&copy),
            &self.store.blobs().read(hash, true)?,
        )?;
        Ok(copy)
    }

    fn batch(&self, direction: &str, changes: BatchReport, conflicts: Vec<String>) -> SyncedBatch {
        SyncedBatch {
            collection: self.slug.to_string(),
            direction: direction.into(),
            changes,
            conflicts,
        }
    }

    /// Every draft path that differs from what both sides last agreed on.
    fn store_changes(&self) -> Result<BTreeSet<String>> {
        let draft = self.store.files(self.slug, At::Draft)?;
        let now: BTreeMap<&str, &str> = draft
            .iter()
            .map(|f| (f.path.as_str(), f.hash.as_str()))
            .collect();
        let mut changed = BTreeSet::new();
        for (path, hash) in &now {
            if self.known.get(*path).map(String::as_str) != Some(*hash) {
                changed.insert(path.to_string());
            }
        }
        for path in self.known.keys() {
            if !now.contains_key(path.as_str()) {
                changed.insert(path.clone());
            }
        }
        Ok(changed)
    }

    /// Every path to look at in a full rescan: all files on disk and all
    /// agreed paths (those gone from disk become deletes).
    fn everything(&self) -> BTreeSet<PathBuf> {
        let mut touched: BTreeSet<PathBuf> = self
            .known
            .keys()
            .map(|path| self.rules.root.join(path))
            .collect();
        touched.insert(self.rules.root.clone());
        touched
    }

    /// Applies what the folder now holds at each touched path: a file is
    /// written, a folder is walked (moved in whole), a missing path deletes
    /// the draft's file there and everything under it.
    fn carry_to_draft(
        &mut self,
        touched: &BTreeSet<PathBuf>,
    ) -> Result<(SyncedBatch, Vec<Skipped>)> {
        // A draft write that lands between the conflict check and the
        // transaction fails the transaction's precondition: look again (its
        // bytes then become the conflict copy).
        let mut attempt = 0;
        loop {
            match self.carry_to_draft_once(touched) {
                Err(Error::PreconditionFailed { .. }) if attempt < 3 => attempt += 1,
                result => return result,
            }
        }
    }

    fn carry_to_draft_once(
        &mut self,
        touched: &BTreeSet<PathBuf>,
    ) -> Result<(SyncedBatch, Vec<Skipped>)> {
        let mut puts: BTreeMap<RelPath, PathBuf> = BTreeMap::new();
        let mut gone: Vec<RelPath> = Vec::new();
        let mut walked = Scan::default();
        for abs in touched {
            let meta = std::fs::symlink_metadata(abs);
            let is_dir = meta.as_ref().is_ok_and(|m| m.is_dir());
            if self.rules.ignored(abs, is_dir) {
                continue;
            }
            match meta {
                Ok(m) if m.is_file() => match self.rules.rel_path(abs) {
                    Some(path) => {
                        puts.insert(path, abs.clone());
                    }
                    None => walked.skipped.push(Skipped {
                        path: self.rules.display(abs),
                        reason: format!("not a valid collection path (UTF-8, no control characters); rename it or add it to {IGNORE_FILE}"),
                    }),
                },
                Ok(m) if m.is_dir() => match scan(&self.rules, abs) {
                    Ok(found) => {
                        puts.extend(found.files);
                        walked.skipped.extend(found.skipped);
                        walked.unreadable.extend(found.unreadable);
                    }
                    Err(e) => {
                        let path = self.rules.display(abs);
                        walked.skipped.push(Skipped {
                            path: path.clone(),
                            reason: format!("{e}; its files in the draft are kept"),
                        });
                        walked.unreadable.push(path);
                    }
                },
                Ok(_) => {}
                // Only "not there" is gone; any other failure to look (an
                // unreadable folder above it, an I/O error on a network
                // share) keeps the draft's files.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    if let Some(path) = self.rules.rel_path(abs) {
                        gone.push(path);
                    }
                }
                Err(e) => walked.skipped.push(Skipped {
                    path: self.rules.display(abs),
                    reason: format!("{e}; the draft keeps it as it was"),
                }),
            }
        }
        let mut skipped = walked.skipped.clone();
        // A vanished path may have been a folder: every file under it that
        // the folder had (a draft file it never had is not its to delete)
        // goes.
        let mut deletes = Vec::new();
        for path in &gone {
            let prefix = format!("{}/", path.as_str());
            for known in self.known.keys() {
                if (known == path.as_str() || known.starts_with(&prefix))
                    && !walked.keeps(known)
                    && !self.rules.ignored(&self.rules.root.join(known), false)
                {
                    if let Ok(p) = RelPath::new(known) {
                        deletes.push(p);
                    }
                }
            }
        }
        deletes.sort();
        deletes.dedup();
        // A file that still holds what both sides last agreed on did not
        // change on disk (the event was our own write, or a touch): the folder
        // has nothing to say about it.
        let mut contents: BTreeMap<RelPath, Vec<u8>> = BTreeMap::new();
        for (path, abs) in &puts {
            let bytes = match std::fs::read(abs) {
                Ok(bytes) => bytes,
                // Gone since it was seen: the next batch records the delete.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    skipped.push(unreadable_because(path.as_str(), &e));
                    continue;
                }
            };
            if self.known.get(path.as_str()) == Some(&crate::store::hash_bytes(&bytes)) {
                continue;
            }
            contents.insert(path.clone(), bytes);
        }
        if contents.is_empty() && deletes.is_empty() {
            return Ok((
                self.batch("to_draft", BatchReport::default(), Vec::new()),
                skipped,
            ));
        }
        // A path the store changed since both sides last agreed (or made
        // while the folder did not have it), and the folder changed too: the
        // folder wins, the store's bytes are kept beside it.
        let mut conflicts = Vec::new();
        let mut seen: BTreeMap<RelPath, Option<String>> = BTreeMap::new();
        for path in contents.keys().chain(deletes.iter()) {
            let draft = match self.store.file(self.slug, path.as_str(), At::Draft) {
                Ok(file) => Some(file.hash),
                Err(Error::FileNotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            if draft.as_ref() != self.known.get(path.as_str()) {
                if let Some(hash) = &draft {
                    conflicts.push(self.keep_conflict(path.as_str(), hash)?);
                }
            }
            seen.insert(path.clone(), draft);
        }
        let puts = contents
            .into_iter()
            .map(|(path, bytes)| {
                let expect = match seen.get(&path).cloned().flatten() {
                    Some(hash) => Precondition::Hash(hash),
                    None => Precondition::Absent,
                };
                (path, Content::Bytes(bytes, Some(expect)))
            })
            .collect();
        let (changes, more) = apply(self.store, self.slug, puts, deletes, false)?;
        skipped.extend(more);
        // What the draft now holds at these paths is what the folder holds.
        for path in changes.created.iter().chain(&changes.modified) {
            if let Ok(file) = self.store.file(self.slug, path, At::Draft) {
                self.known.insert(path.clone(), file.hash);
            }
        }
        for (from, to) in &changes.renamed {
            self.known.remove(from);
            if let Ok(file) = self.store.file(self.slug, to, At::Draft) {
                self.known.insert(to.clone(), file.hash);
            }
        }
        for path in &changes.deleted {
            self.known.remove(path);
        }
        Ok((self.batch("to_draft", changes, conflicts), skipped))
    }
}
