//! What the File menu's Import and Export items do, without a window: plain
//! functions over a [`Store`], so they are unit-tested headless (no display,
//! no dialogs) and the menu (`menu.rs`) only picks paths, runs these on a
//! background thread and shows the outcome.
//!
//! The work is the library's, called as `blockstore import PATH` and
//! `blockstore export SLUG OUT` call it: a folder or an archive, the slug
//! derived the same way (`ORG.COURSE.RUN` from `course.xml`, `ORG.LIBRARY`
//! from `library.xml`, else the folder's or archive's name), into the draft,
//! not published (a Learning Core backup `.zip`: its published state a
//! version, its draft's differences the draft, as the CLI imports it); an
//! export of the draft as a reproducible `.tar.gz`, or as a Learning Core
//! backup when the name ends in `.zip`. What
//! the desktop adds: a save dialog has already asked before replacing a file,
//! so an export may replace one (atomically, after the new archive is
//! complete), and progress is text for the window's title ([`Status`]).

use blockstore::olx::{self, ArchiveLimits, ExportReport, ImportOptions, ImportReport};
use blockstore::store::{plural, short_bytes, At, Progress, Source};
use blockstore::{Error, Result, Store};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Imports a course or library, a folder or a `.tar.gz`/`.tgz`/`.tar`
/// archive (or a Learning Core backup `.zip`), into the draft of the collection its `course.xml` or
/// `library.xml` names (created if missing), as `blockstore import PATH` does
/// with the default limits.
pub fn import_path(store: &Store, path: &Path, progress: &dyn Progress) -> Result<ImportReport> {
    let options = ImportOptions {
        collection: None,
        publish: false,
        message: None,
        // Like the CLI and the menu's seed: a local user's own action.
        source: Source::Cli,
    };
    olx::import_path(store, path, &options, ArchiveLimits::default(), progress)
}

/// Exports the draft of collection `key` (slug or uuid) as an archive at
/// `dest` (a `.zip`: a Learning Core backup of the latest version and the
/// draft's differences), replacing a file already there (the save dialog asked first):
/// the new archive is written beside it and renamed over it only once
/// complete, so a failed export leaves the old file as it was. `dest` should
/// name an archive ([`archive_path`]); a directory there is refused.
pub fn export_collection(
    store: &Store,
    key: &str,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let existing = std::fs::symlink_metadata(dest).ok();
    if existing.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(Error::Invalid(format!(
            "{} is a folder; export into a file ending in .tar.gz",
            dest.display()
        )));
    }
    let write = |to: &Path| {
        if is_backup(to) {
            olx::learning_core::export_backup(store, key, None, to, progress)
        } else {
            olx::export(store, key, At::Draft, to, progress)
        }
    };
    if existing.is_none() {
        return write(dest);
    }
    // The library never overwrites: export to a new name beside `dest` (same
    // folder, same file system, same extension so the same format), then
    // rename it over `dest`.
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fresh = dest.with_file_name(format!(".new-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let mut report = write(&fresh)?;
    if let Err(e) = std::fs::rename(&fresh, dest) {
        let _ = std::fs::remove_file(&fresh);
        return Err(Error::io(format!("replacing {}", dest.display()), e));
    }
    report.out = dest.to_path_buf();
    Ok(report)
}

/// Whether an export to `path` is a Learning Core backup (its name ends in
/// `.zip`).
fn is_backup(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// The archive a save dialog's answer names: `dest` itself when it ends in
/// `.tar.gz`, `.tgz`, `.tar` or `.zip`, else `dest` with `.tar.gz` added (a
/// name typed without one would otherwise export a folder).
pub fn archive_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if olx::ArchiveFormat::for_name(&name).is_some() || is_backup(dest) {
        dest.to_path_buf()
    } else {
        let mut with = dest.as_os_str().to_owned();
        with.push(".tar.gz");
        PathBuf::from(with)
    }
}

/// The collection a page URL shows: `SLUG` from `/c/SLUG` and `/c/SLUG/...`
/// (the UI's routes), else `None` (the collection list, a settings page).
/// Slugs are letters, digits, `-`, `_` and `.`, which URLs carry as they are,
/// so anything else is no slug.
pub fn collection_in_url(url: &tauri::Url) -> Option<String> {
    let mut segments = url.path_segments()?;
    if segments.next() != Some("c") {
        return None;
    }
    let slug = segments.next()?;
    let valid = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then(|| slug.to_string())
}

/// The archive name an export proposes: `SLUG.tar.gz`.
pub fn export_file_name(slug: &str) -> String {
    format!("{slug}.tar.gz")
}

/// What a finished import tells the user.
pub fn imported_message(path: &Path, report: &ImportReport) -> String {
    let c = &report.changes;
    let into = if report.created_collection {
        format!("into a new collection, {}", report.collection)
    } else {
        format!("into the draft of {}", report.collection)
    };
    format!(
        "Imported {} {into}: {} ({}, {}, {}).\n\
         Draft: {} added, {} modified, {} renamed, {} deleted, {} unchanged. \
         Nothing is published until you publish it.",
        path.display(),
        plural(report.files, "file"),
        plural(report.units, "unit"),
        plural(report.assets, "asset"),
        short_bytes(report.bytes),
        c.created.len(),
        c.modified.len(),
        c.renamed.len(),
        c.deleted.len(),
        c.unchanged,
    )
}

/// What a finished export tells the user.
pub fn exported_message(report: &ExportReport) -> String {
    let what = if is_backup(&report.out) {
        format!(
            "{} as a Learning Core backup (its latest version and its draft)",
            report.collection
        )
    } else {
        format!("the draft of {}", report.collection)
    };
    let mut message = format!(
        "Exported {what}: {}, {}, to {}.",
        plural(report.files, "file"),
        short_bytes(report.bytes),
        report.out.display()
    );
    if report.left_out > 0 {
        message += &format!(
            "\n{} of the collection not in the backup: a Learning Core package holds blocks \
             and the files they link to (not a course's policies, assets no block names, or \
             files lp_load would misread).",
            plural(report.left_out, "file")
        );
    }
    message
}

/// How often progress text is shown at most (phase changes are shown at
/// once): often enough to look alive, rarely enough not to flood the event
/// loop with title changes on a 100,000-file import.
const SHOW_EVERY: Duration = Duration::from_millis(100);

/// A [`Progress`] that turns the library's phases and steps into one line of
/// text ("Importing course.tar.gz… 412/676 files") and hands it to `show`
/// (the window's title), and stops the work when `stop` is set (Quit).
pub struct Status<'a> {
    what: String,
    show: &'a (dyn Fn(&str) + Sync),
    stop: &'a AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    phase: String,
    total: Option<u64>,
    done: u64,
    shown: Option<Instant>,
}

impl<'a> Status<'a> {
    /// `what` starts each line ("Importing course.tar.gz").
    pub fn new(what: String, show: &'a (dyn Fn(&str) + Sync), stop: &'a AtomicBool) -> Self {
        let status = Status {
            what,
            show,
            stop,
            state: Mutex::new(State::default()),
        };
        (status.show)(&status.text(&State::default()));
        status
    }

    fn text(&self, state: &State) -> String {
        let what = &self.what;
        match (state.total, state.done, state.phase.as_str()) {
            (_, _, "") => format!("{what}…"),
            (Some(total), done, _) => format!("{what}… {done}/{total} files"),
            (None, 0, phase) => format!("{what}… {phase}"),
            (None, done, phase) => format!("{what}… {phase}: {}", plural(done, "file")),
        }
    }

    fn update(&self, change: impl FnOnce(&mut State) -> bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let urgent = change(&mut state);
        if urgent || state.shown.is_none_or(|at| now - at >= SHOW_EVERY) {
            state.shown = Some(now);
            (self.show)(&self.text(&state));
        }
    }
}

impl Progress for Status<'_> {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.update(|state| {
            state.phase = name.to_string();
            state.total = total;
            state.done = 0;
            true
        });
    }

    fn advance(&self, n: u64) {
        self.update(|state| {
            state.done += n;
            state.total == Some(state.done)
        });
    }

    fn interrupted(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockstore::store::NoProgress;

    fn sample_course() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sample-course")
    }

    fn store(dir: &Path) -> Store {
        Store::open(dir.join("data")).expect("open a store")
    }

    /// Every line a [`Status`] showed.
    struct Shown(Mutex<Vec<String>>);

    impl Shown {
        fn new() -> Self {
            Shown(Mutex::new(Vec::new()))
        }
        fn push(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn a_folder_imports_under_the_slug_the_cli_gives_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let shown = Shown::new();
        let show = |line: &str| shown.push(line);
        let stop = AtomicBool::new(false);
        let status = Status::new("Importing sample-course".into(), &show, &stop);
        let report = import_path(&store, &sample_course(), &status).unwrap();

        let slug = olx::default_slug(&sample_course()).unwrap();
        assert_eq!(report.collection, slug);
        assert_eq!(slug, "BlockstoreX.OLX101.2026");
        assert!(report.created_collection);
        assert!(report.files > 10, "{report:?}");
        assert!(report.published.is_none(), "the import stays a draft");
        let files = store.files(&slug, At::Draft).unwrap();
        assert_eq!(files.len() as u64, report.files);

        // Scanning, then a count of the files written, then the commit.
        let lines = shown.lines();
        assert_eq!(lines[0], "Importing sample-course…");
        let all = format!(
            "Importing sample-course… {}/{} files",
            report.files, report.files
        );
        assert!(lines.contains(&all), "{lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("Importing sample-course… committing"),
            "{lines:?}"
        );

        let message = imported_message(&sample_course(), &report);
        assert!(
            message.contains("into a new collection, BlockstoreX.OLX101.2026"),
            "{message}"
        );
        assert!(
            message.contains(&format!("{} added", report.files)),
            "{message}"
        );
    }

    #[test]
    fn an_export_imports_again_as_the_same_collection() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let slug = import_path(&store, &sample_course(), &NoProgress)
            .unwrap()
            .collection;
        let dest = tmp.path().join(export_file_name(&slug));
        let shown = Shown::new();
        let show = |line: &str| shown.push(line);
        let stop = AtomicBool::new(false);
        let status = Status::new(format!("Exporting {slug}"), &show, &stop);
        let report = export_collection(&store, &slug, &dest, &status).unwrap();
        assert_eq!(report.out, dest);
        assert!(dest.is_file());
        let files = store.files(&slug, At::Draft).unwrap();
        assert_eq!(report.files, files.len() as u64);
        assert!(shown.lines().contains(&format!(
            "Exporting {slug}… {}/{} files",
            files.len(),
            files.len()
        )));
        assert!(exported_message(&report).ends_with(&format!("to {}.", dest.display())));

        // The archive, imported into another store, is the same collection.
        let other = tempfile::tempdir().unwrap();
        let other = self::store(other.path());
        let again = import_path(&other, &dest, &NoProgress).unwrap();
        assert_eq!(again.collection, slug);
        assert_eq!(again.files, files.len() as u64);
        let hashes = |store: &Store| {
            store
                .files(&slug, At::Draft)
                .unwrap()
                .into_iter()
                .map(|f| (f.path, f.hash))
                .collect::<Vec<_>>()
        };
        assert_eq!(hashes(&other), hashes(&store));

        // Imported again where it came from, it changes nothing.
        let same = import_path(&store, &dest, &NoProgress).unwrap();
        assert!(!same.created_collection);
        assert_eq!(same.changes.unchanged, files.len() as u64);
        let message = imported_message(&dest, &same);
        assert!(
            message.contains(&format!("into the draft of {slug}")),
            "{message}"
        );
        assert!(message.contains(" 0 added, 0 modified"), "{message}");
    }

    #[test]
    fn an_export_replaces_the_file_the_dialog_confirmed_but_not_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let slug = import_path(&store, &sample_course(), &NoProgress)
            .unwrap()
            .collection;
        let dest = tmp.path().join("old.tar.gz");
        std::fs::write(&dest, b"an older export").unwrap();
        export_collection(&store, &slug, &dest, &NoProgress).unwrap();
        let bytes = std::fs::read(&dest).unwrap();
        assert_eq!(
            &bytes[..2],
            &[0x1f, 0x8b],
            "a gzip stream replaced the file"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".new-"))
            .collect();
        assert!(left.is_empty(), "no temporary file stays: {left:?}");

        let folder = tmp.path().join("a-folder.tar.gz");
        std::fs::create_dir(&folder).unwrap();
        let e = export_collection(&store, &slug, &folder, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");

        let e = export_collection(
            &store,
            "no-such-course",
            &tmp.path().join("x.tar.gz"),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, Error::CollectionNotFound(_)), "{e}");
        assert!(!tmp.path().join("x.tar.gz").exists());
    }

    #[test]
    fn a_bad_archive_or_a_missing_folder_is_an_error_and_imports_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let bad = tmp.path().join("broken.tar.gz");
        std::fs::write(&bad, b"\x1f\x8b\x08\x00 not really gzip").unwrap();
        let e = import_path(&store, &bad, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("broken.tar.gz"), "{e}");

        let text = tmp.path().join("notes.txt");
        std::fs::write(&text, b"just some text").unwrap();
        let e = import_path(&store, &text, &NoProgress).unwrap_err();
        assert!(
            e.to_string()
                .contains("is neither a folder, a .tar.gz/.tgz/.tar archive nor"),
            "{e}"
        );

        let e = import_path(&store, &tmp.path().join("missing"), &NoProgress).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        assert!(store.collections().unwrap().is_empty());
    }

    #[test]
    fn quitting_stops_an_import_before_it_commits() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let show = |_: &str| {};
        let stop = AtomicBool::new(true);
        let status = Status::new("Importing".into(), &show, &stop);
        let e = import_path(&store, &sample_course(), &status).unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e}");
        assert!(store.collections().unwrap().is_empty());
    }

    #[test]
    fn the_shown_collection_comes_from_the_page_url() {
        let slug = |url: &str| collection_in_url(&url.parse().unwrap());
        assert_eq!(
            slug("http://127.0.0.1:4321/c/BlockstoreX.OLX101.2026"),
            Some("BlockstoreX.OLX101.2026".into())
        );
        assert_eq!(
            slug("http://127.0.0.1:4321/c/my-lib_2/files/html/?sort=name#top"),
            Some("my-lib_2".into())
        );
        assert_eq!(
            slug("http://127.0.0.1:4321/c/a/f/html/x.html"),
            Some("a".into())
        );
        assert_eq!(slug("http://127.0.0.1:4321/"), None);
        assert_eq!(slug("http://127.0.0.1:4321/c/"), None);
        assert_eq!(slug("http://127.0.0.1:4321/c"), None);
        assert_eq!(slug("http://127.0.0.1:4321/collections/x"), None);
        assert_eq!(slug("http://127.0.0.1:4321/c/a%20b"), None);
    }

    #[test]
    fn a_learning_core_backup_imports_and_a_zip_export_is_one() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let backup =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/learning_core/sample.zip");
        let report = import_path(&store, &backup, &NoProgress).unwrap();
        assert_eq!(report.collection, "SampleOrg.sample-lib");
        assert!(store.versions(&report.collection).unwrap().len() == 1);
        let message = imported_message(&backup, &report);
        assert!(
            message.contains("into a new collection, SampleOrg.sample-lib"),
            "{message}"
        );

        // Exported to a .zip (replacing the file the dialog confirmed), it
        // is a backup that imports as the same collection.
        let dest = tmp.path().join("lib.zip");
        std::fs::write(&dest, b"an older export").unwrap();
        let exported = export_collection(&store, &report.collection, &dest, &NoProgress).unwrap();
        assert!(std::fs::read(&dest).unwrap().starts_with(b"PK\x03\x04"));
        assert!(
            exported_message(&exported).starts_with(
                "Exported SampleOrg.sample-lib as a Learning Core backup (its latest version and its draft): "
            ),
            "{}",
            exported_message(&exported)
        );
        let other = tempfile::tempdir().unwrap();
        let other = self::store(other.path());
        import_path(&other, &dest, &NoProgress).unwrap();
        let hashes = |store: &Store, at: At| {
            store
                .files("SampleOrg.sample-lib", at)
                .unwrap()
                .into_iter()
                .map(|f| (f.path, f.hash))
                .collect::<Vec<_>>()
        };
        for at in [At::Version(1), At::Draft] {
            assert_eq!(hashes(&other, at), hashes(&store, at), "{at}");
        }

        // A course exported as a backup says what a package has no place for.
        let slug = import_path(&store, &sample_course(), &NoProgress)
            .unwrap()
            .collection;
        let dest = tmp.path().join("course.zip");
        let exported = export_collection(&store, &slug, &dest, &NoProgress).unwrap();
        assert!(exported.left_out > 0);
        assert!(
            exported_message(&exported).contains("not in the backup"),
            "{}",
            exported_message(&exported)
        );
    }

    #[test]
    fn a_save_dialog_answer_becomes_an_archive_name() {
        assert_eq!(
            archive_path(Path::new("/t/x.tar.gz")),
            Path::new("/t/x.tar.gz")
        );
        assert_eq!(archive_path(Path::new("/t/x.TGZ")), Path::new("/t/x.TGZ"));
        assert_eq!(archive_path(Path::new("/t/x.tar")), Path::new("/t/x.tar"));
        assert_eq!(
            archive_path(Path::new("/t/lib.zip")),
            Path::new("/t/lib.zip")
        );
        assert_eq!(
            archive_path(Path::new("/t/course")),
            Path::new("/t/course.tar.gz")
        );
        assert_eq!(
            archive_path(Path::new("/t/A.B.C")),
            Path::new("/t/A.B.C.tar.gz")
        );
        assert_eq!(export_file_name("A.B.C"), "A.B.C.tar.gz");
    }

    #[test]
    fn status_lines_read_as_progress() {
        let shown = Shown::new();
        let show = |line: &str| shown.push(line);
        let stop = AtomicBool::new(false);
        let status = Status::new("Importing c.tar.gz".into(), &show, &stop);
        status.phase("reading archive", None);
        std::thread::sleep(SHOW_EVERY);
        status.advance(3);
        status.phase("importing", Some(2));
        status.advance(1);
        status.advance(1);
        assert_eq!(
            shown.lines(),
            [
                "Importing c.tar.gz…",
                "Importing c.tar.gz… reading archive",
                "Importing c.tar.gz… reading archive: 3 files",
                "Importing c.tar.gz… 0/2 files",
                "Importing c.tar.gz… 2/2 files",
            ]
        );
        assert!(!status.interrupted());
        stop.store(true, Ordering::Relaxed);
        assert!(status.interrupted());
    }
}
