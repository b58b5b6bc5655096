//! Crash safety: imports, single-file writes and publishes run in a child
//! process (this test binary re-executed) that is killed with SIGKILL at seeded
//! pseudo-random moments, 50 times over one data directory, so every child
//! starts from whatever the previous kill left. After each kill the store must
//! open and fsck clean, every collection version the child reported must read
//! back exactly as reported, and no half-done import, write or publish may be
//! visible: the draft is the state before the interrupted step or after it, and
//! at most one unreported version exists (published, killed before it could say
//! so), which is then exactly the draft that was being published. At the end,
//! what the kills left (unreferenced blobs, temp files) is exactly what gc
//! removes. A kill point is "after the child's n-th record, plus 0–60 ms", so
//! kills spread over blob writing, transactions and the gaps between them
//! whatever the machine's speed; the per-kill log shows where each landed.
#![cfg(unix)]

use crate::common::{tree_files, write_tree, SplitMix64};
use blockstore::olx::{import_dir, ImportOptions};
use blockstore::store::{
    hash_bytes, At, Error, FileEntry, GcOptions, NoProgress, Progress, PublishOptions, Source,
};
use blockstore::Store;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set in the child: the data directory it works on.
const CHILD_ENV: &str = "BLOCKSTORE_CRASH_CHILD";
/// Set in the child: its seed.
const CHILD_SEED_ENV: &str = "BLOCKSTORE_CRASH_CHILD_SEED";
/// Set by a human to replay a run with another seed.
const SEED_ENV: &str = "BLOCKSTORE_CRASH_SEED";
const DEFAULT_SEED: u64 = 0x0b10_c5e0_c4a5_4001;
const KILLS: usize = 50;
const SLUG: &str = "crash";
/// Prefixes every record the child prints, so libtest's own output (`test
/// crash::child_worker ... `) on the same line is ignored.
const MARK: &str = "@crash ";

/// A collection state as path -> blob hash.
type Tree = BTreeMap<String, String>;

fn tree_of(files: Vec<FileEntry>) -> Tree {
    files.into_iter().map(|f| (f.path, f.hash)).collect()
}

/// The draft of the crash collection; empty when it does not exist (yet).
fn draft_of(store: &Store) -> Tree {
    match store.files(SLUG, At::Draft) {
        Ok(files) => tree_of(files),
        Err(Error::CollectionNotFound(_)) => Tree::new(),
        Err(e) => panic!("reading the draft: {e}"),
    }
}

/// A readable account of how two trees differ (the first few paths).
fn diff(actual: &Tree, expected: &Tree) -> String {
    let mut lines = Vec::new();
    for (path, hash) in actual {
        match expected.get(path) {
            None => lines.push(format!("  unexpected {path}")),
            Some(h) if h != hash => lines.push(format!("  {path}: {hash}, expected {h}")),
            Some(_) => {}
        }
    }
    for path in expected.keys().filter(|p| !actual.contains_key(*p)) {
        lines.push(format!("  missing {path}"));
    }
    let more = lines.len().saturating_sub(12);
    lines.truncate(12);
    if more > 0 {
        lines.push(format!("  … and {more} more"));
    }
    format!(
        "{} files, expected {}:\n{}",
        actual.len(),
        expected.len(),
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------
// The child: rounds of import, writes, delete, rename and publish until killed.

/// Every path a generated tree may contain (about 340, units and assets).
fn universe() -> Vec<String> {
    let mut paths = vec![
        "course.xml".to_string(),
        "course/run.xml".to_string(),
        "policies/run/policy.json".to_string(),
    ];
    paths.extend((0..20).map(|k| format!("chapter/c{k}.xml")));
    paths.extend((0..40).map(|k| format!("sequential/s{k}.xml")));
    for k in 0..60 {
        paths.push(format!("vertical/v{k}.xml"));
        paths.push(format!("html/h{k}.html"));
        paths.push(format!("html/h{k}.xml"));
        paths.push(format!("problem/p{k}.xml"));
    }
    paths.extend((0..30).map(|k| format!("static/img{k}.png")));
    paths.extend((0..4).map(|k| format!("static/video{k}.bin")));
    paths
}

/// The bytes of `path` in one of a few variants: a pure function, so children
/// and rounds share blobs and the blob store stays small.
fn content(path: &str, variant: u64) -> Vec<u8> {
    let mut rng = SplitMix64(
        path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }) ^ variant.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    if path.starts_with("static/") {
        let len = if path.contains("video") {
            rng.range(8 << 10, 24 << 10)
        } else {
            rng.range(100, 2 << 10)
        };
        return (0..len / 8)
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
    }
    const WORDS: &[&str] = &[
        "learner", "course", "unit", "problem", "answer", "video", "module", "grade", "olx",
        "block", "section", "week",
    ];
    let filler = (0..rng.range(5, 100))
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ");
    let j = rng.below(60);
    let (folder, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file.split('.').next().unwrap_or(file);
    let text = if path == "course.xml" {
        format!("<course org=\"crash\" course=\"c{variant}\" url_name=\"run\"/>\n")
    } else if path.ends_with(".json") {
        format!("{{\"course/run\": {{\"display_name\": \"Crash course {variant}\"}}}}\n")
    } else if path.ends_with(".html") {
        format!(
            "<p>{stem} variant {variant}</p>\n<img src=\"/static/img{}.png\"/>\n<p>{filler}</p>\n",
            j % 30
        )
    } else {
        format!(
            "<{folder} url_name=\"{stem}\" display_name=\"{stem} {variant}\">\n  <html url_name=\"h{j}\"/>\n  <problem url_name=\"p{j}\"/>\n  <!-- {filler} -->\n</{folder}>\n"
        )
    };
    text.into_bytes()
}

/// One record on stdout, flushed at once so it survives the kill.
fn emit(record: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{MARK}{record}\n").as_bytes())
        .and_then(|()| out.flush())
        .expect("the parent reads stdout");
}

/// Reports import phases, so the parent can tell blob writing from the index
/// transaction.
struct PhaseRecords;

impl Progress for PhaseRecords {
    fn phase(&self, name: &str, _total: Option<u64>) {
        emit(&format!("PHASE {name}"));
    }
}

/// Announces a step with the draft it must leave, runs it, checks the draft.
fn step(
    store: &Store,
    kind: &str,
    next: Tree,
    draft: &mut Tree,
    run: impl FnOnce() -> blockstore::Result<()>,
) {
    emit(&format!(
        "STEP {kind} {}",
        serde_json::to_string(&next).unwrap()
    ));
    run().unwrap_or_else(|e| panic!("{kind} failed: {e}"));
    let actual = draft_of(store);
    assert!(
        actual == next,
        "the draft after {kind} is not what it must be: {}",
        diff(&actual, &next)
    );
    *draft = next;
    emit("DONE");
}

/// The child's body: only runs when re-executed by the crash test (which
/// passes `--include-ignored`); a no-op anywhere else.
#[test]
#[ignore = "the crash test's child: run by the crash test, a no-op alone"]
fn child_worker() {
    let Some(data) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED_ENV)
        .expect("the parent passes a seed")
        .parse()
        .expect("the seed is a number");
    run_child(Path::new(&data), seed);
}

fn run_child(data: &Path, seed: u64) {
    let store = Store::open(data).expect("the store opens after a kill");
    // The tree outlives each child: every round edits it a little, as an author
    // would between imports, so a publish changes tens of files, not all of
    // them. A file torn by a kill is just another edit.
    let tree_dir = data.with_file_name("tree");
    let paths = universe();
    let mut rng = SplitMix64(seed);
    let mut draft = draft_of(&store);
    let mut tree: Tree = tree_files(&tree_dir)
        .into_iter()
        .map(|(path, bytes)| {
            let hash = hash_bytes(&bytes);
            (path, hash)
        })
        .collect();
    // A safety net should the parent fail to kill it.
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0u64.. {
        if Instant::now() > deadline {
            return;
        }
        emit(&format!("ROUND {round}"));
        let edits = if tree.len() < 50 {
            rng.range(60, 200)
        } else {
            rng.range(1, 20)
        };
        for _ in 0..edits {
            let path = &paths[rng.below(paths.len() as u64) as usize];
            if tree.contains_key(path) && tree.len() > 50 && rng.below(3) == 0 {
                let _ = std::fs::remove_file(tree_dir.join(path));
                tree.remove(path);
            } else if tree.contains_key(path) || tree.len() < 160 {
                let bytes = content(path, rng.below(6));
                write_tree(&tree_dir, &[(path, &bytes)]);
                tree.insert(path.clone(), hash_bytes(&bytes));
            }
        }
        let imported = tree.clone();
        step(&store, "import", imported, &mut draft, || {
            let options = ImportOptions {
                collection: Some(SLUG.into()),
                ..ImportOptions::default()
            };
            import_dir(&store, &tree_dir, &options, &PhaseRecords).map(drop)
        });

        for _ in 0..rng.below(4) {
            let path = &paths[rng.below(paths.len() as u64) as usize];
            let bytes = content(path, rng.below(7));
            let mut next = draft.clone();
            next.insert(path.clone(), hash_bytes(&bytes));
            step(&store, "write", next, &mut draft, || {
                store.write(SLUG, path, &bytes, Source::Cli).map(drop)
            });
        }
        if rng.below(2) == 0 && !draft.is_empty() {
            let victim = draft
                .keys()
                .nth(rng.below(draft.len() as u64) as usize)
                .unwrap()
                .clone();
            let mut next = draft.clone();
            next.remove(&victim);
            step(&store, "delete", next, &mut draft, || {
                store.delete(SLUG, &victim, Source::Cli).map(drop)
            });
        }
        if rng.below(2) == 0 && !draft.is_empty() {
            let from = draft
                .keys()
                .nth(rng.below(draft.len() as u64) as usize)
                .unwrap()
                .clone();
            // Same extension, outside static/: the kind does not change.
            let to = format!("moved/r{round}-{}", from.replace('/', "-"));
            if !draft.contains_key(&to) {
                let mut next = draft.clone();
                let hash = next.remove(&from).unwrap();
                next.insert(to.clone(), hash);
                step(&store, "rename", next, &mut draft, || {
                    store.rename(SLUG, &from, &to, Source::Cli).map(drop)
                });
            }
        }

        emit(&format!(
            "STEP publish {}",
            serde_json::to_string(&draft).unwrap()
        ));
        let options = PublishOptions {
            message: format!("round {round} of child {seed:016x}"),
            strict: false,
        };
        match store.publish(SLUG, &options) {
            Ok(report) => {
                let published = tree_of(store.files(SLUG, At::Version(report.number)).unwrap());
                assert!(
                    published == draft,
                    "version {} is not the draft it published: {}",
                    report.number,
                    diff(&published, &draft)
                );
                emit(&format!(
                    "PUBLISHED {} {}",
                    report.number,
                    serde_json::to_string(&published).unwrap()
                ));
            }
            Err(Error::NothingToPublish { .. }) => emit("DONE"),
            Err(e) => panic!("publish failed: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The parent: spawn, kill, check.

/// Sends the child's complete records as they arrive; a line torn by the kill
/// is dropped.
fn read_records(stdout: impl Read, records: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.last() != Some(&b'\n') => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                if let Some((_, record)) = text.trim_end().split_once(MARK) {
                    if records.send(record.to_string()).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// What the parent knows of the store across kills.
#[derive(Default)]
struct Known {
    /// Every collection version reported (or adopted after a kill), as published.
    versions: BTreeMap<i64, Tree>,
    /// Versions whose files were not yet all read back.
    unread: Vec<i64>,
    /// The draft as found after the last kill.
    draft: Tree,
}

/// Where a child was when it died, replayed from its records.
struct Replay {
    /// The draft the last completed step left.
    confirmed: Tree,
    /// The step under way: its kind and the draft it must leave.
    pending: Option<(String, Tree)>,
    phase: Option<String>,
    records: usize,
}

impl Replay {
    fn run(records: &[String], known: &mut Known, kill: usize) -> Replay {
        let mut replay = Replay {
            confirmed: known.draft.clone(),
            pending: None,
            phase: None,
            records: records.len(),
        };
        for record in records {
            let (word, rest) = record.split_once(' ').unwrap_or((record, ""));
            match word {
                "ROUND" => {}
                "STEP" => {
                    let (kind, json) = rest.split_once(' ').expect("STEP kind tree");
                    let tree: Tree = serde_json::from_str(json).expect("a STEP tree");
                    replay.pending = Some((kind.to_string(), tree));
                    replay.phase = None;
                }
                "PHASE" => replay.phase = Some(rest.to_string()),
                "DONE" => {
                    replay.confirmed = replay.pending.take().expect("DONE follows a STEP").1;
                }
                "PUBLISHED" => {
                    let (number, json) = rest.split_once(' ').expect("PUBLISHED n tree");
                    let number: i64 = number.parse().expect("a version number");
                    let tree: Tree = serde_json::from_str(json).expect("a PUBLISHED tree");
                    let next = known.versions.keys().max().copied().unwrap_or(0) + 1;
                    assert_eq!(
                        number,
                        next,
                        "kill {kill}: the child published version {number} after {}",
                        next - 1
                    );
                    known.versions.insert(number, tree);
                    known.unread.push(number);
                    replay.confirmed = replay.pending.take().expect("a publish STEP").1;
                }
                other => panic!("kill {kill}: unknown record {other:?}"),
            }
        }
        replay
    }

    /// Where the kill landed, for the tally.
    fn landed(&self) -> String {
        match (&self.pending, &self.phase) {
            _ if self.records == 0 => "starting up (before any record)".into(),
            (None, _) => "between steps (writing the tree, checking)".into(),
            (Some((kind, _)), Some(phase)) if kind == "import" => format!("import, {phase}"),
            (Some((kind, _)), _) => kind.clone(),
        }
    }
}

/// Reads every file of a collection version, verifying its bytes.
fn read_version(store: &Store, number: i64, tree: &Tree) {
    for (path, hash) in tree {
        // `read` verifies the bytes against the entry's hash.
        let (entry, _) = store
            .read(SLUG, path, At::Version(number))
            .unwrap_or_else(|e| panic!("version {number}: {path} does not read: {e}"));
        assert_eq!(&entry.hash, hash, "version {number}: {path}");
    }
}

/// Every known version is exactly as published; new ones read back whole, and
/// every blob any version holds reads back verified through `read` (fsck
/// re-hashed them too).
fn check_known_versions(store: &Store, known: &mut Known, when: &str) {
    for (number, tree) in &known.versions {
        let actual = tree_of(store.files(SLUG, At::Version(*number)).unwrap());
        assert!(
            actual == *tree,
            "{when}: version {number} changed: {}",
            diff(&actual, tree)
        );
    }
    for number in std::mem::take(&mut known.unread) {
        read_version(store, number, &known.versions[&number]);
    }
    let mut one_per_hash: HashMap<&str, (i64, &str)> = HashMap::new();
    for (number, tree) in &known.versions {
        for (path, hash) in tree {
            one_per_hash.entry(hash).or_insert((*number, path));
        }
    }
    for (hash, (number, path)) in one_per_hash {
        let (entry, _) = store
            .read(SLUG, path, At::Version(number))
            .unwrap_or_else(|e| panic!("{when}: version {number}: {path}: {e}"));
        assert_eq!(entry.hash, hash, "{when}: version {number}: {path}");
    }
}

/// The checks after one kill; returns whether the interrupted step (if any)
/// had committed.
fn check_after_kill(data: &Path, known: &mut Known, replay: &Replay, kill: usize) -> bool {
    let landed = replay.landed();
    let store = Store::open(data)
        .unwrap_or_else(|e| panic!("kill {kill} ({landed}): the store does not open: {e}"));
    let fsck = store.fsck(&NoProgress).expect("fsck runs");
    assert!(
        fsck.is_clean(),
        "kill {kill} ({landed}): fsck found problems: {:#?}",
        fsck.problems
    );

    // Nothing half-imported or half-written: the draft is the state before the
    // interrupted step or the state after it.
    let draft = draft_of(&store);
    let committed = match &replay.pending {
        Some((_, next)) if draft == *next => *next != replay.confirmed,
        Some((kind, next)) => {
            assert!(
                draft == replay.confirmed,
                "kill {kill}: a half-done {kind}; the draft is neither the state before it ({}) nor after it ({})",
                diff(&draft, &replay.confirmed),
                diff(&draft, next)
            );
            false
        }
        None => {
            assert!(
                draft == replay.confirmed,
                "kill {kill} ({landed}): the draft changed outside any step: {}",
                diff(&draft, &replay.confirmed)
            );
            false
        }
    };

    // Every reported version is still there; at most one more exists.
    let numbers: Vec<i64> = match store.versions(SLUG) {
        Ok(versions) => versions.iter().map(|v| v.number).collect(),
        Err(Error::CollectionNotFound(_)) => Vec::new(),
        Err(e) => panic!("listing versions: {e}"),
    };
    for number in known.versions.keys() {
        assert!(
            numbers.contains(number),
            "kill {kill} ({landed}): reported version {number} is gone; versions: {numbers:?}"
        );
    }
    let unreported: Vec<i64> = numbers
        .iter()
        .copied()
        .filter(|n| !known.versions.contains_key(n))
        .collect();
    let mut published_unreported = false;
    match unreported.as_slice() {
        [] => {}
        [number] => {
            let latest = known.versions.keys().max().copied().unwrap_or(0);
            assert_eq!(
                *number,
                latest + 1,
                "kill {kill}: an unreported version that is not the next one"
            );
            let Some((kind, publishing)) = &replay.pending else {
                panic!("kill {kill} ({landed}): version {number} appeared outside a publish");
            };
            assert_eq!(
                kind, "publish",
                "kill {kill}: version {number} appeared during a {kind}"
            );
            let tree = tree_of(store.files(SLUG, At::Version(*number)).unwrap());
            assert!(
                tree == *publishing,
                "kill {kill}: version {number} is half-published: {}",
                diff(&tree, publishing)
            );
            known.versions.insert(*number, tree);
            known.unread.push(*number);
            published_unreported = true;
        }
        more => panic!("kill {kill} ({landed}): versions {more:?} were never reported"),
    }

    check_known_versions(&store, known, &format!("kill {kill} ({landed})"));
    known.draft = draft;
    committed || published_unreported
}

#[test]
fn sigkill_mid_import_write_or_publish_never_loses_a_reported_version_or_shows_a_half_done_one() {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("crash test: seed {seed} (set {SEED_ENV} to replay another)");
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut rng = SplitMix64(seed);
    let mut known = Known::default();
    let mut tally: BTreeMap<String, (u32, u32)> = BTreeMap::new();

    for kill in 0..KILLS {
        let child_seed = rng.next();
        // The kill point: after the child's `after`-th record (a round is about
        // a dozen), then `delay` more, so kills spread over the steps whatever
        // the machine's speed, and land inside them (blob writing and syncfs
        // take tens of milliseconds, a transaction a few).
        let after = rng.below(40) as usize;
        let delay = Duration::from_millis(rng.range(if after == 0 { 5 } else { 0 }, 60));
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::child_worker",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &data)
            .env(CHILD_SEED_ENV, child_seed.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test binary re-executes");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        let reader = std::thread::spawn(move || read_records(stdout, sender));
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut records = Vec::new();
        let patience = Instant::now() + Duration::from_secs(30);
        while records.len() < after {
            match receiver.recv_timeout(patience.saturating_duration_since(Instant::now())) {
                Ok(record) => records.push(record),
                Err(_) => break,
            }
        }
        std::thread::sleep(delay);
        let exited = child.try_wait().expect("polling the child");
        let _ = child.kill();
        child.wait().expect("reaping the child");
        reader.join().unwrap();
        records.extend(receiver.try_iter());
        let errors = errors.join().unwrap();
        assert!(
            !errors.contains("panicked"),
            "kill {kill}: the child panicked:\n{errors}"
        );
        if let Some(status) = exited {
            assert!(
                status.success(),
                "kill {kill}: the child failed on its own ({status}):\n{errors}\nlast records: {:?}",
                records.iter().rev().take(3).collect::<Vec<_>>()
            );
        }
        assert!(
            records.len() >= after || exited.is_some(),
            "kill {kill}: the child stalled for 30 s after {} records:\n{errors}",
            records.len()
        );

        let replay = Replay::run(&records, &mut known, kill);
        let checking = Instant::now();
        let committed = check_after_kill(&data, &mut known, &replay, kill);
        eprintln!(
            "kill {kill} at record {after} + {delay:?}: {}{}; {} versions, {} draft files; checked in {:.0?}",
            replay.landed(),
            if committed { " (committed)" } else { "" },
            known.versions.len(),
            known.draft.len(),
            checking.elapsed()
        );
        let entry = tally.entry(replay.landed()).or_default();
        entry.0 += 1;
        entry.1 += u32::from(committed && replay.pending.is_some());
    }

    // What the kills left behind is garbage, and exactly what gc removes.
    let store = Store::open(&data).unwrap();
    let before = store.fsck(&NoProgress).unwrap();
    let gc = store
        .gc(&GcOptions::older_than_days(36500, false))
        .expect("gc runs");
    let after = store.fsck(&NoProgress).unwrap();
    assert!(
        after.is_clean() && after.unreferenced_blobs == 0 && after.stray_files == 0,
        "after gc: {after:#?}"
    );
    assert_eq!(
        (gc.blobs_deleted, gc.stray_files_deleted),
        (before.unreferenced_blobs, before.stray_files),
        "gc removes exactly the garbage fsck counted"
    );
    check_known_versions(&store, &mut known, "after gc");

    let mid_step: u32 = tally
        .iter()
        .filter(|(k, _)| !k.starts_with("starting") && !k.starts_with("between"))
        .map(|(_, (n, _))| n)
        .sum();
    eprintln!(
        "crash test: {KILLS} kills, {mid_step} mid-import/write/publish, {} versions checked, {:.1?}",
        known.versions.len(),
        started.elapsed()
    );
    eprintln!(
        "  the kills left {} unreferenced blobs and {} stray temp files; gc removed them",
        before.unreferenced_blobs, before.stray_files
    );
    for (landed, (kills, committed)) in &tally {
        eprintln!("  {kills:>3} × {landed} ({committed} had committed before the kill)");
    }
    assert!(
        !known.versions.is_empty(),
        "no child ever published; the kills came too early to test anything"
    );
}
