//! Folder sync with the real `notify` watcher on real temp folders: the
//! start-up reconcile, then live edits following into the draft. Every wait
//! polls the store with a generous deadline instead of sleeping a fixed time.

use crate::common::*;
use blockstore::store::{At, Store};
use blockstore::sync::{reconcile, spawn, Notice, SyncHandle, WatchOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// A sync running on its own thread (as `serve --sync` runs them) until
/// dropped, with every notice it gave.
struct Running {
    handle: Option<SyncHandle>,
    notices: Arc<Mutex<Vec<Notice>>>,
}

impl Running {
    fn start(store: &Arc<Store>, slug: &str, dir: &Path) -> Running {
        Running::with(store, slug, dir, WatchOptions::default())
    }

    fn with(store: &Arc<Store>, slug: &str, dir: &Path, options: WatchOptions) -> Running {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let seen = notices.clone();
        // Returns once the watcher is registered and the start-up reconcile done.
        let (handle, _reconciled) = spawn(store.clone(), slug, dir, options, move |n| {
            seen.lock().unwrap().push(n)
        })
        .unwrap();
        Running {
            handle: Some(handle),
            notices,
        }
    }

    /// Batches that changed the draft or the folder.
    fn batches(&self) -> usize {
        self.notices()
            .iter()
            .filter(|n| matches!(n, Notice::Synced(_)))
            .count()
    }

    fn notices(&self) -> Vec<Notice> {
        self.notices.lock().unwrap().clone()
    }

    /// Waits for a notice that `matches`, failing with `what` after the deadline.
    fn wait_notice(&self, what: &str, matches: impl Fn(&Notice) -> bool) -> Notice {
        let mut found = None;
        wait_until(what, || {
            found = self.notices().into_iter().find(|n| matches(n));
            found.is_some()
        });
        found.unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let result = handle.stop();
            if !std::thread::panicking() {
                result.expect("the sync ends cleanly");
            }
        }
    }
}

/// Polls until `cond` holds, failing with `what` after the deadline.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn draft(store: &Store, slug: &str) -> Vec<(String, String, String)> {
    store
        .files(slug, At::Draft)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.hash, f.uuid))
        .collect()
}

fn uuid_of(store: &Store, slug: &str, path: &str) -> Option<String> {
    store.file(slug, path, At::Draft).ok().map(|f| f.uuid)
}

fn setup() -> (tempfile::TempDir, Arc<Store>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("data")).unwrap());
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    (dir, store, folder)
}

#[test]
fn start_up_reconcile_fills_an_empty_side_and_lets_the_folder_win() {
    let (_dir, store, folder) = setup();
    blockstore::olx::import_dir(
        &store,
        &sample_course(),
        &blockstore::olx::ImportOptions {
            collection: Some("course".into()),
            ..Default::default()
        },
        &blockstore::store::NoProgress,
    )
    .unwrap();
    // An empty folder receives the draft, byte for byte.
    let report = reconcile(&store, "course", &folder, false).unwrap();
    assert_eq!(report.direction, "folder_written");
    assert_eq!(report.written_to_folder.len(), 42);
    assert_eq!(tree_files(&folder), tree_files(&sample_course()));
    // In sync: nothing changes.
    let again = reconcile(&store, "course", &folder, false).unwrap();
    assert_eq!(again.direction, "folder_wins");
    assert_eq!(again.unchanged, 42);
    assert!(again.created.is_empty() && again.modified.is_empty() && again.deleted.is_empty());

    // Both sides changed: the folder wins; a dry run says so and changes nothing.
    std::fs::write(folder.join("html/html_welcome.html"), "<p>from disk</p>").unwrap();
    std::fs::rename(
        folder.join("static/olx-tree.png"),
        folder.join("static/tree.png"),
    )
    .unwrap();
    std::fs::remove_file(folder.join("about/overview.html")).unwrap();
    std::fs::write(folder.join("notes.swp"), "editor litter").unwrap();
    let before = snapshot(&store);
    let dry = reconcile(&store, "course", &folder, true).unwrap();
    assert_eq!(snapshot(&store), before, "a dry run changes nothing");
    assert_eq!(dry.modified, ["html/html_welcome.html"]);
    assert_eq!(
        dry.renamed,
        [(
            "static/olx-tree.png".to_string(),
            "static/tree.png".to_string()
        )]
    );
    assert_eq!(dry.deleted, ["about/overview.html"]);
    let uuid = uuid_of(&store, "course", "static/olx-tree.png").unwrap();
    let done = reconcile(&store, "course", &folder, false).unwrap();
    assert_eq!(done.modified, dry.modified);
    assert_eq!(done.renamed, dry.renamed);
    assert_eq!(done.deleted, dry.deleted);
    assert_eq!(uuid_of(&store, "course", "static/tree.png"), Some(uuid));
    assert!(uuid_of(&store, "course", "notes.swp").is_none(), "ignored");

    // An empty collection takes the folder.
    let other = reconcile(&store, "fresh", &folder, false).unwrap();
    assert_eq!(other.direction, "folder_wins");
    assert_eq!(other.created.len(), 41);
}

#[test]
fn live_edits_follow_into_the_draft_and_moves_keep_their_uuid() {
    let (_dir, store, folder) = setup();
    write_tree(
        &folder,
        &[
            ("course.xml", b"<course/>"),
            ("html/a.html", b"<p>a</p>"),
            ("static/logo.png", b"png bytes"),
        ],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);

    // Create.
    std::fs::write(folder.join("html/b.html"), "<p>b</p>").unwrap();
    wait_until("b.html created", || {
        uuid_of(&store, "c", "html/b.html").is_some()
    });
    // Modify.
    std::fs::write(folder.join("html/a.html"), "<p>a, edited</p>").unwrap();
    wait_until("a.html modified", || {
        store
            .read("c", "html/a.html", At::Draft)
            .is_ok_and(|(_, b)| b == b"<p>a, edited</p>")
    });
    // Rename keeps the uuid.
    let logo = uuid_of(&store, "c", "static/logo.png").unwrap();
    std::fs::rename(
        folder.join("static/logo.png"),
        folder.join("static/brand.png"),
    )
    .unwrap();
    wait_until("logo renamed", || {
        uuid_of(&store, "c", "static/brand.png").is_some()
    });
    assert_eq!(uuid_of(&store, "c", "static/brand.png"), Some(logo));
    assert!(uuid_of(&store, "c", "static/logo.png").is_none());
    // Delete.
    std::fs::remove_file(folder.join("html/b.html")).unwrap();
    wait_until("b.html deleted", || {
        uuid_of(&store, "c", "html/b.html").is_none()
    });
    // Ignored files never arrive; .blockstoreignore adds patterns.
    std::fs::write(folder.join(".blockstoreignore"), "drafts-local/\n*.bak\n").unwrap();
    std::fs::create_dir(folder.join("drafts-local")).unwrap();
    for (name, bytes) in [
        ("html/a.html.swp", "swap"),
        ("html/a.html~", "backup"),
        ("html/.#a.html", "lock"),
        (".DS_Store", "finder"),
        ("notes.bak", "bak"),
        ("drafts-local/x.xml", "<x/>"),
    ] {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    std::fs::write(folder.join("html/c.html"), "<p>c</p>").unwrap();
    wait_until("c.html created", || {
        uuid_of(&store, "c", "html/c.html").is_some()
    });
    let paths: Vec<String> = draft(&store, "c").into_iter().map(|f| f.0).collect();
    assert_eq!(
        paths,
        [
            "course.xml",
            "html/a.html",
            "html/c.html",
            "static/brand.png"
        ]
    );
    drop(running);
    // Every change was recorded as a sync revision.
    let history = store.history("c", "html/a.html").unwrap();
    assert!(history
        .revisions
        .iter()
        .all(|r| serde_json::to_value(r).unwrap()["source"] == "sync"));
}

#[test]
fn an_editor_style_atomic_save_is_one_draft_change() {
    let (_dir, store, folder) = setup();
    write_tree(&folder, &[("html/page.html", b"<p>v1</p>")]);
    reconcile(&store, "c", &folder, false).unwrap();
    let uuid = uuid_of(&store, "c", "html/page.html").unwrap();
    let revisions = |s: &Store| s.history("c", "html/page.html").unwrap().revisions.len();
    let before = revisions(&store);
    let running = Running::start(&store, "c", &folder);
    // Write a temp file beside it, then rename it over the original (what
    // JetBrains IDEs, many scripts and `sed -i` do).
    let tmp = folder.join("html/page.html___jb_tmp___");
    std::fs::write(&tmp, "<p>v2, half").unwrap();
    std::fs::write(&tmp, "<p>v2, whole</p>").unwrap();
    std::fs::rename(&tmp, folder.join("html/page.html")).unwrap();
    wait_until("the save arrives", || {
        store
            .read("c", "html/page.html", At::Draft)
            .is_ok_and(|(_, b)| b == b"<p>v2, whole</p>")
    });
    // Give a stray second batch the chance to show up, then check.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        revisions(&store),
        before + 1,
        "one draft revision for one save"
    );
    assert_eq!(uuid_of(&store, "c", "html/page.html"), Some(uuid.clone()));
    let paths: Vec<String> = draft(&store, "c").into_iter().map(|f| f.0).collect();
    assert_eq!(paths, ["html/page.html"], "the temp file never arrived");
    // Truncate, then write: also one revision.
    let before = revisions(&store);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(folder.join("html/page.html")).unwrap();
        f.write_all(b"<p>v3</p>").unwrap();
    }
    wait_until("v3 arrives", || {
        store
            .read("c", "html/page.html", At::Draft)
            .is_ok_and(|(_, b)| b == b"<p>v3</p>")
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(revisions(&store), before + 1);
    // Vim's save: a swap file while editing, a `4913` probe file, the
    // original renamed to a `~` backup, the new file written, the backup removed.
    let before = revisions(&store);
    let page = folder.join("html/page.html");
    std::fs::write(folder.join("html/.page.html.swp"), "swap").unwrap();
    std::fs::write(folder.join("html/4913"), "").unwrap();
    std::fs::remove_file(folder.join("html/4913")).unwrap();
    std::fs::rename(&page, folder.join("html/page.html~")).unwrap();
    std::fs::write(&page, "<p>v4</p>").unwrap();
    std::fs::remove_file(folder.join("html/page.html~")).unwrap();
    wait_until("v4 arrives", || {
        store
            .read("c", "html/page.html", At::Draft)
            .is_ok_and(|(_, b)| b == b"<p>v4</p>")
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(revisions(&store), before + 1, "one revision for vim's save");
    assert_eq!(uuid_of(&store, "c", "html/page.html"), Some(uuid));
    let paths: Vec<String> = draft(&store, "c").into_iter().map(|f| f.0).collect();
    assert_eq!(paths, ["html/page.html"], "no swap, probe or backup file");
    assert!(running.batches() >= 3);
}

#[test]
fn a_burst_of_10000_files_and_a_folder_rename_of_100_arrive_in_few_transactions() {
    let (_dir, store, folder) = setup();
    write_tree(&folder, &[("course.xml", b"<course/>")]);
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    std::fs::create_dir_all(folder.join("burst")).unwrap();
    for i in 0..10_000 {
        std::fs::write(
            folder.join(format!("burst/u{i:04}.xml")),
            format!("<html display_name=\"{i}\"/>"),
        )
        .unwrap();
    }
    wait_until("10,000 files in the draft", || {
        store.files("c", At::Draft).unwrap().len() == 10_001
    });
    let after_burst = running.batches();
    assert!(
        after_burst <= 50,
        "a burst is coalesced: {after_burst} transactions for 10,000 files"
    );

    // A folder of 100 files renamed: every file keeps its uuid.
    std::fs::create_dir(folder.join("unit")).unwrap();
    for i in 0..100 {
        std::fs::write(
            folder.join(format!("unit/p{i:03}.xml")),
            format!("<problem n=\"{i}\"/>"),
        )
        .unwrap();
    }
    wait_until("100 files in unit/", || {
        store.files("c", At::Draft).unwrap().len() == 10_101
    });
    let uuids: Vec<String> = (0..100)
        .map(|i| uuid_of(&store, "c", &format!("unit/p{i:03}.xml")).unwrap())
        .collect();
    std::fs::rename(folder.join("unit"), folder.join("moved")).unwrap();
    wait_until("unit/ moved to moved/", || {
        uuid_of(&store, "c", "moved/p099.xml").is_some()
            && uuid_of(&store, "c", "unit/p000.xml").is_none()
    });
    for (i, uuid) in uuids.iter().enumerate() {
        assert_eq!(
            uuid_of(&store, "c", &format!("moved/p{i:03}.xml")).as_ref(),
            Some(uuid),
            "p{i:03} kept its uuid"
        );
    }
    assert_eq!(store.files("c", At::Draft).unwrap().len(), 10_101);
}

#[test]
fn sync_dry_run_through_the_cli_reports_and_changes_nothing() {
    let (dir, _store, folder) = setup();
    let data = dir.path().join("data");
    cli_json(&data, &["seed"]);
    write_tree(&folder, &[("course.xml", b"<course url_name=\"x\"/>")]);
    let before = observable(&data);
    let out = run_cli(
        &data,
        &[
            "--json",
            "sync",
            "BlockstoreX.OLX101.2026",
            folder.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["direction"], "folder_wins");
    assert_eq!(report["modified"], serde_json::json!(["course.xml"]));
    assert_eq!(report["deleted"].as_array().unwrap().len(), 43);
    assert_eq!(observable(&data), before);
    let missing = run_cli(
        &data,
        &["sync", "x", dir.path().join("nope").to_str().unwrap()],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("not a folder"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn draft_changes_made_elsewhere_land_in_the_folder_without_an_echo() {
    let (_dir, store, folder) = setup();
    write_tree(
        &folder,
        &[("html/a.html", b"<p>a</p>"), ("html/b.html", b"<p>b</p>")],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    store
        .publish("c", &blockstore::store::PublishOptions::default())
        .unwrap();
    let running = Running::start(&store, "c", &folder);
    let revisions = |s: &Store, p: &str| s.history("c", p).unwrap().revisions.len();

    // A write through the API lands in the folder, once: the watcher's sight
    // of that file is an echo, not a new revision.
    let before = revisions(&store, "html/a.html");
    store
        .write(
            "c",
            "html/a.html",
            b"<p>from the API</p>",
            blockstore::store::Source::Api,
        )
        .unwrap();
    wait_until("the API write in the folder", || {
        std::fs::read(folder.join("html/a.html")).is_ok_and(|b| b == b"<p>from the API</p>")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        revisions(&store, "html/a.html"),
        before + 1,
        "no echo revision"
    );
    // A new file and a delete.
    store
        .write(
            "c",
            "html/new.html",
            b"<p>new</p>",
            blockstore::store::Source::Api,
        )
        .unwrap();
    store
        .delete("c", "html/b.html", blockstore::store::Source::Api)
        .unwrap();
    wait_until("new.html written, b.html removed", || {
        folder.join("html/new.html").is_file() && !folder.join("html/b.html").exists()
    });
    // Revert puts the published files back into the folder.
    store.revert("c", None).unwrap();
    wait_until("the folder reverted", || {
        std::fs::read(folder.join("html/a.html")).is_ok_and(|b| b == b"<p>a</p>")
            && folder.join("html/b.html").is_file()
            && !folder.join("html/new.html").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        store.status("c").unwrap().is_empty(),
        "nothing pending after the revert"
    );
    drop(running);
}

#[test]
fn a_change_on_both_sides_keeps_both() {
    let (_dir, store, folder) = setup();
    write_tree(&folder, &[("html/a.html", b"<p>base</p>")]);
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    // The disk changes, and before the watcher has read it (it waits for
    // the folder to be quiet) the store changes too: whichever side the sync
    // looks at first, both changed since they last agreed.
    std::fs::write(folder.join("html/a.html"), "<p>disk again</p>").unwrap();
    store
        .write(
            "c",
            "html/a.html",
            b"<p>store again</p>",
            blockstore::store::Source::Api,
        )
        .unwrap();
    wait_until("the disk's bytes in the draft", || {
        store
            .read("c", "html/a.html", At::Draft)
            .is_ok_and(|(_, b)| b == b"<p>disk again</p>")
    });
    let copies: Vec<String> = std::fs::read_dir(folder.join("html"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".conflict-"))
        .collect();
    assert!(!copies.is_empty(), "a conflict copy is kept");
    let kept: Vec<Vec<u8>> = copies
        .iter()
        .map(|c| std::fs::read(folder.join("html").join(c)).unwrap())
        .collect();
    assert!(
        kept.iter().any(|b| b == b"<p>store again</p>"),
        "the store's bytes are in a conflict copy"
    );
    // Conflict copies stay out of the collection.
    std::thread::sleep(Duration::from_millis(500));
    assert!(draft(&store, "c")
        .iter()
        .all(|f| !f.0.contains(".conflict-")));
    drop(running);
}

#[test]
fn a_write_from_another_process_lands_in_the_folder() {
    let (dir, store, folder) = setup();
    write_tree(&folder, &[("html/a.html", b"<p>a</p>")]);
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    // The real binary, a second process: no in-process event reaches the sync.
    let out = run_cli_stdin(
        &dir.path().join("data"),
        &["write", "c:html/a.html"],
        Some(b"<p>from the CLI</p>"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(&dir.path().join("data"), &["delete", "c:html/a.html"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli_stdin(
        &dir.path().join("data"),
        &["write", "c:html/b.html"],
        Some(b"<p>b from the CLI</p>"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    wait_until("the CLI's changes in the folder", || {
        !folder.join("html/a.html").exists()
            && std::fs::read(folder.join("html/b.html"))
                .is_ok_and(|b| b == b"<p>b from the CLI</p>")
    });
    drop(running);
}

#[test]
fn a_half_written_xml_save_is_a_flagged_draft_until_it_is_fixed() {
    use blockstore::store::{Error, PublishOptions};
    let (_dir, store, folder) = setup();
    write_tree(
        &folder,
        &[
            ("course.xml", b"<course/>"),
            ("problem/p.xml", b"<problem><p>ok</p></problem>"),
        ],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    let half: &[u8] = b"<problem>\n  <p>half written\n";
    std::fs::write(folder.join("problem/p.xml"), half).unwrap();
    wait_until("the half-written file in the draft", || {
        store
            .read("c", "problem/p.xml", At::Draft)
            .is_ok_and(|(_, b)| b == half)
    });
    let report = store.link_report("c", At::Draft).unwrap();
    let flagged: Vec<&str> = report.malformed.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(flagged, ["problem/p.xml"], "kept, and flagged");
    let strict = PublishOptions {
        message: String::new(),
        strict: true,
    };
    let before = snapshot(&store);
    let err = store.publish("c", &strict).unwrap_err();
    assert!(matches!(err, Error::MalformedUnits { .. }), "{err}");
    assert_eq!(
        snapshot(&store),
        before,
        "the refused publish changes nothing"
    );

    std::fs::write(
        folder.join("problem/p.xml"),
        b"<problem><p>fixed</p></problem>",
    )
    .unwrap();
    wait_until("the flag cleared", || {
        store
            .link_report("c", At::Draft)
            .is_ok_and(|r| r.malformed.is_empty())
    });
    store.publish("c", &strict).unwrap();
    drop(running);
}

#[test]
fn a_deleted_folder_pauses_the_sync_and_a_new_one_resumes_it() {
    let (_dir, store, folder) = setup();
    write_tree(
        &folder,
        &[
            ("course.xml", b"<course/>"),
            ("html/a.html", b"<p>a</p>"),
            ("html/b.html", b"<p>b</p>"),
        ],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    let before = draft(&store, "c");
    std::fs::remove_dir_all(&folder).unwrap();
    running.wait_notice("paused", |n| matches!(n, Notice::Paused { .. }));
    assert_eq!(
        draft(&store, "c"),
        before,
        "a deleted folder does not empty the draft"
    );
    // A write while paused waits in the draft.
    store
        .write(
            "c",
            "html/c.html",
            b"<p>c</p>",
            blockstore::store::Source::Api,
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(!folder.exists(), "nothing is written while paused");

    // The folder comes back empty: it receives the draft.
    std::fs::create_dir(&folder).unwrap();
    running.wait_notice("resumed", |n| matches!(n, Notice::Resumed { .. }));
    wait_until("the draft written into the new folder", || {
        tree_files(&folder).len() == 4
    });
    assert_eq!(
        std::fs::read(folder.join("html/c.html")).unwrap(),
        b"<p>c</p>"
    );
    // And live edits follow again.
    std::fs::write(folder.join("html/d.html"), "<p>d</p>").unwrap();
    wait_until("d.html in the draft", || {
        uuid_of(&store, "c", "html/d.html").is_some()
    });
}

#[test]
fn a_folder_moved_away_pauses_and_back_again_brings_its_edits() {
    let (dir, store, folder) = setup();
    write_tree(
        &folder,
        &[
            ("course.xml", b"<course/>"),
            ("html/a.html", b"<p>a</p>"),
            ("html/b.html", b"<p>b</p>"),
        ],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    let before = draft(&store, "c");
    let away = dir.path().join("away");
    std::fs::rename(&folder, &away).unwrap();
    running.wait_notice("paused", |n| matches!(n, Notice::Paused { .. }));
    // Edits in the moved folder are not this sync's business until it is back
    // (its watcher would report them under the old paths).
    std::fs::write(away.join("html/a.html"), "<p>a, edited away</p>").unwrap();
    std::fs::remove_file(away.join("html/b.html")).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(draft(&store, "c"), before);

    std::fs::rename(&away, &folder).unwrap();
    running.wait_notice("resumed", |n| matches!(n, Notice::Resumed { .. }));
    wait_until("the edits made while away in the draft", || {
        uuid_of(&store, "c", "html/b.html").is_none()
            && store
                .read("c", "html/a.html", At::Draft)
                .is_ok_and(|(_, b)| b == b"<p>a, edited away</p>")
    });
}

#[test]
fn deleting_the_collection_stops_the_sync_and_leaves_the_folder() {
    let (_dir, store, folder) = setup();
    write_tree(&folder, &[("html/a.html", b"<p>a</p>")]);
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    store.delete_collection("c").unwrap();
    running.wait_notice("stopped", |n| matches!(n, Notice::Stopped { .. }));
    assert_eq!(
        std::fs::read(folder.join("html/a.html")).unwrap(),
        b"<p>a</p>"
    );
}

/// `blockstore --json sync SLUG DIR` as a separate process, started through
/// `wrapper` (a command that runs the rest of its arguments), with its
/// notices (JSON lines on stdout) collected.
struct SyncProcess {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl SyncProcess {
    fn start(wrapper: &[&str], data: &Path, slug: &str, folder: &Path) -> SyncProcess {
        use std::io::BufRead;
        let (program, pre) = match wrapper.split_first() {
            Some((program, pre)) => (program.to_string(), pre.to_vec()),
            None => (env!("CARGO_BIN_EXE_blockstore").to_string(), Vec::new()),
        };
        let mut command = std::process::Command::new(program);
        command.args(pre);
        if !wrapper.is_empty() {
            command.arg(env!("CARGO_BIN_EXE_blockstore"));
        }
        let mut child = command
            .arg("--data-dir")
            .arg(data)
            .args(crate::garage::backend_args(data))
            .args(["--json", "sync", slug])
            .arg(folder)
            .env_remove("BLOCKSTORE_DATA_DIR")
            .envs(crate::garage::env_if_started())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the sync starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (out, seen) = (child.stdout.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    seen.lock().unwrap().push(value);
                }
            }
        });
        SyncProcess { child, lines }
    }

    /// Waits for a JSON line that `matches`.
    fn wait_line(
        &mut self,
        what: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut found = None;
        wait_until(what, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the sync exited ({status}) while waiting for: {what}");
            }
            found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|v| matches(v))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }
}

impl Drop for SyncProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_draft(data: &Path, slug: &str, path: &str) -> Option<Vec<u8>> {
    let store = Store::open(data).ok()?;
    store.read(slug, path, At::Draft).ok().map(|(_, b)| b)
}

fn command_works(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn an_unreadable_file_is_skipped_and_reported_and_the_rest_syncs() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, store, folder) = setup();
    let data = dir.path().join("data");
    write_tree(
        &folder,
        &[
            ("html/a.html", b"<p>a</p>"),
            ("html/secret.html", b"<p>v1</p>"),
        ],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    drop(store);
    // Root reads anything: run the sync as root without the capabilities
    // that bypass file permissions.
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let wrapper: &[&str] = if is_root {
        &[
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-all",
        ]
    } else {
        &[]
    };
    if is_root {
        require_machine(
            "drop root's file capabilities, which running this test as root needs \
             (setpriv, from util-linux: apt-get install util-linux; or run the tests \
             as a user other than root)",
            command_works("setpriv", &["--bounding-set=-dac_override", "true"]),
        );
    }
    std::fs::write(folder.join("html/secret.html"), "<p>v2</p>").unwrap();
    std::fs::set_permissions(
        folder.join("html/secret.html"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let mut sync = SyncProcess::start(wrapper, &data, "c", &folder);
    let report = sync.wait_line("the start-up report", |v| v["direction"].is_string());
    assert_eq!(report["skipped"][0]["path"], "html/secret.html", "{report}");
    assert!(report["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("permission denied"));
    assert!(report["deleted"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(
        read_draft(&data, "c", "html/secret.html").unwrap(),
        b"<p>v1</p>"
    );
    // The rest syncs.
    std::fs::write(folder.join("html/a.html"), "<p>a2</p>").unwrap();
    wait_until("a.html synced", || {
        read_draft(&data, "c", "html/a.html").is_some_and(|b| b == b"<p>a2</p>")
    });
    // Readable again: the change event brings it in.
    std::fs::set_permissions(
        folder.join("html/secret.html"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    wait_until("secret.html synced once readable", || {
        read_draft(&data, "c", "html/secret.html").is_some_and(|b| b == b"<p>v2</p>")
    });
}

#[test]
#[ignore = "needs user namespaces (unshare -r); .ci/run runs it"]
fn a_full_inotify_watch_table_falls_back_to_polling() {
    let (dir, store, folder) = setup();
    let data = dir.path().join("data");
    for i in 0..10 {
        write_tree(&folder, &[(&format!("d{i}/x.html"), b"<p>x</p>")]);
    }
    reconcile(&store, "c", &folder, false).unwrap();
    drop(store);
    // A user namespace of our own has its own inotify limits: 3 watches,
    // fewer than the 11 folders.
    let limited = [
        "unshare",
        "-r",
        "sh",
        "-c",
        "echo 3 > /proc/sys/user/max_inotify_watches && exec \"$@\"",
        "sh",
    ];
    require_machine(
        "lower the inotify limit in a user namespace (`unshare -r`, util-linux; \
         needs unprivileged user namespaces: on Debian sysctl \
         kernel.unprivileged_userns_clone=1, on Ubuntu \
         kernel.apparmor_restrict_unprivileged_userns=0)",
        command_works(
            "unshare",
            &[
                "-r",
                "sh",
                "-c",
                "echo 3 > /proc/sys/user/max_inotify_watches",
            ],
        ),
    );
    let mut sync = SyncProcess::start(&limited, &data, "c", &folder);
    let polling = sync.wait_line("the polling notice", |v| v["type"] == "polling");
    assert!(
        polling["reason"]
            .as_str()
            .unwrap()
            .contains("inotify watch limit"),
        "{polling}"
    );
    std::fs::write(folder.join("d7/x.html"), "<p>polled</p>").unwrap();
    wait_until("the change seen by polling", || {
        read_draft(&data, "c", "d7/x.html").is_some_and(|b| b == b"<p>polled</p>")
    });
    // A second save right after (within the same second) is seen too.
    std::fs::write(folder.join("d7/x.html"), "<p>polled again</p>").unwrap();
    wait_until("the second save seen by polling", || {
        read_draft(&data, "c", "d7/x.html").is_some_and(|b| b == b"<p>polled again</p>")
    });
}

#[test]
#[ignore = "needs user and mount namespaces (unshare -rm, nsenter); .ci/run runs it"]
fn an_unmounted_folder_pauses_and_remounting_resumes() {
    let (dir, store, folder) = setup();
    let data = dir.path().join("data");
    // The folder itself stays empty: its files live on the tmpfs mounted on it.
    let src = dir.path().join("src");
    write_tree(&src, &[("html/a.html", b"<p>a</p>")]);
    reconcile(&store, "c", &src, false).unwrap();
    drop(store);
    require_machine(
        "mount a tmpfs in a user and mount namespace (`unshare -rm` and `nsenter`, \
         util-linux; needs unprivileged user namespaces: on Debian sysctl \
         kernel.unprivileged_userns_clone=1, on Ubuntu \
         kernel.apparmor_restrict_unprivileged_userns=0)",
        command_works("unshare", &["-rm", "sh", "-c", "mount -t tmpfs t /mnt"]),
    );
    // The folder becomes a tmpfs mount (in the sync's own mount namespace)
    // holding the same files.
    let script =
        "mount -t tmpfs blockstore-test \"$1\" && cp -r \"$2\"/. \"$1\" && shift 2 && exec \"$@\"";
    let (f, s) = (folder.to_str().unwrap(), src.to_str().unwrap());
    let mut sync = SyncProcess::start(
        &["unshare", "-rm", "sh", "-c", script, "sh", f, s],
        &data,
        "c",
        &folder,
    );
    sync.wait_line("the start-up report", |v| v["direction"].is_string());
    let pid = sync.child.id().to_string();
    let inside = |args: &[&str]| {
        let status = std::process::Command::new("nsenter")
            .args(["-t", &pid, "-U", "-m", "--preserve-credentials"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "nsenter {args:?}");
    };
    // What the sync sees at the folder's path, from outside its namespace.
    let seen = PathBuf::from(format!("/proc/{pid}/root")).join(folder.strip_prefix("/").unwrap());
    std::thread::sleep(Duration::from_millis(500));
    inside(&["umount", f]);
    let paused = sync.wait_line("paused", |v| v["type"] == "paused");
    assert!(
        paused["reason"].as_str().unwrap().contains("unmounted"),
        "{paused}"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        read_draft(&data, "c", "html/a.html").unwrap(),
        b"<p>a</p>",
        "the draft is kept"
    );
    assert_eq!(
        std::fs::read_dir(&seen).unwrap().count(),
        0,
        "nothing is written into the bare mount point"
    );
    // Remounted with an edit made meanwhile (filled aside, then bound in
    // whole, so the sync sees it appear with its files).
    let stage = dir.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    let st = stage.to_str().unwrap();
    inside(&[
        "sh",
        "-c",
        "mount -t tmpfs blockstore-test \"$1\" && mkdir \"$1/html\" && printf '<p>a, remounted</p>' > \"$1/html/a.html\" && mount --bind \"$1\" \"$2\"",
        "sh",
        st,
        f,
    ]);
    sync.wait_line("resumed", |v| v["type"] == "resumed");
    wait_until("the remounted folder's edit in the draft", || {
        read_draft(&data, "c", "html/a.html").is_some_and(|b| b == b"<p>a, remounted</p>")
    });
}

#[test]
fn serve_with_sync_pairs_follows_each_folder_and_streams_draft_changed() {
    use crate::server::Server;
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    write_tree(&one, &[("html/a.html", b"<p>a</p>")]);
    std::fs::create_dir(&two).unwrap();
    // `two` exists in the store only: its empty folder receives it.
    let seed = dir.path().join("seed");
    write_tree(&seed, &[("html/t.html", b"<p>t</p>")]);
    cli_json(&data, &["import", seed.to_str().unwrap(), "-c", "two"]);
    let pair = |slug: &str, folder: &Path| format!("{slug}={}", folder.display());
    let server = Server::start_in(
        &data,
        &["--sync", &pair("one", &one), "--sync", &pair("two", &two)],
    );
    assert_eq!(
        std::fs::read(two.join("html/t.html")).unwrap(),
        b"<p>t</p>",
        "the start-up reconcile ran before the server answered"
    );
    server
        .get("/api/v1/collections/one/files/html/a.html?version=draft")
        .expect(200);

    // A save in a synced folder: draft.changed on the event stream, and the
    // file through the API.
    let (head, mut stream) = server.request("GET", "/api/v1/events").open();
    assert_eq!(head.status, 200);
    std::fs::write(one.join("html/new.html"), "<p>new</p>").unwrap();
    let event = loop {
        let mut line = String::new();
        assert!(stream.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let event: serde_json::Value = serde_json::from_str(data).unwrap();
            if event["type"] == "draft.changed" {
                break event;
            }
        }
    };
    assert_eq!(event["collection"], "one");
    assert_eq!(event["paths"], serde_json::json!(["html/new.html"]));
    let detail = server
        .get("/api/v1/collections/one/files/html/new.html?version=draft")
        .expect(200);
    assert_eq!(detail["path"], "html/new.html");

    // Two-way: an API write to the other collection lands in its folder.
    server
        .put("/api/v1/collections/two/raw/html/api.html", b"<p>api</p>")
        .expect(201);
    wait_until("the API write in folder two", || {
        std::fs::read(two.join("html/api.html")).is_ok_and(|b| b == b"<p>api</p>")
    });
    let mut server = server;
    assert!(server.stop().success(), "the syncs stop with the server");
}

#[test]
fn serve_refuses_a_malformed_or_doubled_sync_pair() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_cli(
        &data,
        &["serve", "--addr", "127.0.0.1:0", "--sync", "nodir"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SLUG=DIR"), "{}", stderr(&out));
    let folder = dir.path().join("f");
    std::fs::create_dir(&folder).unwrap();
    let pair = format!("a={}", folder.display());
    let other = format!("b={}", folder.display());
    let out = run_cli(
        &data,
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--sync",
            &pair,
            "--sync",
            &other,
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already synced"), "{}", stderr(&out));
    let missing = format!("a={}", dir.path().join("missing").display());
    let out = run_cli(
        &data,
        &["serve", "--addr", "127.0.0.1:0", "--sync", &missing],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a folder"), "{}", stderr(&out));
}

#[test]
fn ignored_files_in_the_draft_are_not_the_folders_to_delete() {
    let (_dir, store, folder) = setup();
    write_tree(
        &folder,
        &[("html/a.html", b"<p>a</p>"), ("static/logo.png", b"png")],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    // The folder now leaves images out (and no longer has them).
    std::fs::write(folder.join(".blockstoreignore"), "*.png\n").unwrap();
    std::fs::remove_file(folder.join("static/logo.png")).unwrap();
    let report = reconcile(&store, "c", &folder, false).unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    assert!(uuid_of(&store, "c", "static/logo.png").is_some());
    // Live too: deleting the folder that held it leaves it in the draft.
    let running = Running::start(&store, "c", &folder);
    std::fs::remove_dir(folder.join("static")).unwrap();
    std::fs::remove_file(folder.join("html/a.html")).unwrap();
    wait_until("a.html deleted", || {
        uuid_of(&store, "c", "html/a.html").is_none()
    });
    assert!(uuid_of(&store, "c", "static/logo.png").is_some());
    drop(running);
}

#[test]
fn a_collection_deleted_by_another_process_is_not_brought_back_by_a_save() {
    let (dir, store, folder) = setup();
    let data = dir.path().join("data");
    write_tree(
        &folder,
        &[("html/a.html", b"<p>a</p>"), ("html/b.html", b"<p>b</p>")],
    );
    reconcile(&store, "c", &folder, false).unwrap();
    let running = Running::start(&store, "c", &folder);
    let out = run_cli(&data, &["collections", "delete", "c", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(folder.join("html/a.html"), "<p>a, saved after</p>").unwrap();
    running.wait_notice("stopped", |n| matches!(n, Notice::Stopped { .. }));
    assert!(store.collection("c").is_err(), "not recreated");
    assert_eq!(
        std::fs::read(folder.join("html/b.html")).unwrap(),
        b"<p>b</p>"
    );
    assert_eq!(
        std::fs::read(folder.join("html/a.html")).unwrap(),
        b"<p>a, saved after</p>"
    );
}
