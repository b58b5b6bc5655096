//! Benchmarks of the Blockstore appliance: the figures in `BENCHMARKS.md`.
//!
//! One run measures, side by side, and prints a Markdown table (target,
//! measured, met or not) on stdout; progress goes to stderr:
//!
//! 1. **Demo course import vs git**: `blockstore import` of the Open edX demo
//!    course (`../shared/fixtures/openedx-demo-course/demo-course/course`,
//!    skipped with a message when absent) into a fresh data dir, against
//!    `git init && git add -A && git commit` of a fresh copy of the same tree;
//!    interleaved repetitions, medians. Target: import ≤ ½ of git.
//! 2. **Large import**: a `gen_olx` tree of 100,000 units + 10,000 assets,
//!    imported by the release `blockstore` binary as a child process: files/s
//!    (target ≥ 20,000) and the child's peak RSS (target ≤ 200 MB, read with
//!    GNU time's `%M`, i.e. `wait4`'s `ru_maxrss`, or by polling
//!    `/proc/PID/status` `VmHWM` when GNU time is missing). An in-process import
//!    of the same tree through the library reports where the time goes. Each
//!    repetition also times `cp -r` of the tree plus `sync -f`: the cost of one
//!    new file per blob on this filesystem, with no hashing and no index.
//! 3. **Publish of 10,000 drafted changes** (`blockstore publish`, child
//!    process): in a 10,000-file collection whose every file changed, and in the
//!    110,000-file collection with 10,000 files changed. Target < 1 s.
//! 4. **Queries on the 110,000-file collection**: `log`, `log SLUG:PATH`,
//!    `show`, `links`, `links --incoming` as CLI commands (wall time including
//!    process start) and in-process through the library. Target < 50 ms each.
//!    `links SLUG --broken` (the whole-collection report) is reported too.
//! 5. **Storage**: a 1,000-unit collection, 100 publishes changing 10 units each:
//!    blob bytes on disk vs unique content bytes written (target ≤ 1.05×), and
//!    `link` rows after import and after the publishes against the number of
//!    distinct contents (links are stored per content, not per version).
//!
//! Run it (the `blockstore` binary is built by `cargo bench`; the `gen_olx`
//! example is built by the bench with `cargo build --release --example gen_olx`
//! when missing, or build it first):
//!
//! ```text
//! benches/run.sh                               # the two commands below
//! cargo build --release --bin blockstore --example gen_olx
//! cargo bench --bench store                    # default sizes, about 3 minutes
//! cargo bench --bench store -- --quick         # small sizes, a smoke run
//! cargo bench --bench store -- --help          # all options
//! ```
//!
//! Nothing here asserts a time; a target that is not met is reported, not failed.
//! A failing command (a bug) does fail the run.

use blockstore::olx::{import_dir, ImportOptions};
use blockstore::store::{
    classify, hash_bytes, links, At, Direction, NoProgress, Progress, PublishOptions, RelPath,
    Source, Store,
};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;

mod common;
use common::*;
use std::time::{Duration, Instant};

const USAGE: &str = "\
cargo bench --bench store -- [OPTIONS]

  --quick                 small sizes (10,000 units, 1,000 assets, fewer repetitions)
  --units N               units in the large generated tree (default 100000)
  --assets N              assets in the large generated tree (default 10000)
  --reps N                repetitions of the demo-course import and of git (default 5)
  --import-reps N         repetitions of the large import (default 3)
  --publish-files N       files in the publish tree, all changed (default 10000)
  --publish-reps N        repetitions of that publish (default 3)
  --query-reps N          repetitions of each query (default 15)
  --storage-units N       units in the storage collection (default 1000)
  --storage-publishes N   publishes in the storage run (default 100)
  --storage-changes N     units changed per publish (default 10)
  --demo DIR              the demo course export (default
                          CARGO_MANIFEST_DIR/../shared/fixtures/openedx-demo-course/demo-course/course)
  --only LIST             figures to run, e.g. 1,5 (3 and 4 also build figure 2's collection)
  --no-breakdown          skip the in-process imports (breakdowns of figures 1 and 2)
  --work DIR              scratch folder (default: a new folder in the temp dir)
  --keep                  keep the scratch folder
";

#[derive(Debug, Clone)]
struct Options {
    units: u64,
    assets: u64,
    reps: usize,
    import_reps: usize,
    publish_files: u64,
    publish_reps: usize,
    query_reps: usize,
    storage_units: u64,
    storage_publishes: usize,
    storage_changes: usize,
    demo: PathBuf,
    only: Vec<u8>,
    breakdown: bool,
    work: Option<PathBuf>,
    keep: bool,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            units: 100_000,
            assets: 10_000,
            reps: 5,
            import_reps: 3,
            publish_files: 10_000,
            publish_reps: 3,
            query_reps: 15,
            storage_units: 1000,
            storage_publishes: 100,
            storage_changes: 10,
            demo: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/openedx-demo-course/demo-course/course"),
            only: vec![1, 2, 3, 4, 5],
            breakdown: true,
            work: None,
            keep: false,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        // --quick sets the defaults; options given with it override them.
        if args.iter().any(|a| a == "--quick") {
            o.units = 10_000;
            o.assets = 1_000;
            o.reps = 3;
            o.import_reps = 1;
            o.publish_files = 1_000;
            o.publish_reps = 2;
            o.query_reps = 5;
            o.storage_publishes = 20;
        }
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: {v:?} is not a number"))
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                // `cargo bench` passes --bench to every bench binary.
                "--bench" | "--quick" => {}
                "--units" => o.units = num(&arg, value(&arg)?)?,
                "--assets" => o.assets = num(&arg, value(&arg)?)?,
                "--reps" => o.reps = num(&arg, value(&arg)?)?,
                "--import-reps" => o.import_reps = num(&arg, value(&arg)?)?,
                "--publish-files" => o.publish_files = num(&arg, value(&arg)?)?,
                "--publish-reps" => o.publish_reps = num(&arg, value(&arg)?)?,
                "--query-reps" => o.query_reps = num(&arg, value(&arg)?)?,
                "--storage-units" => o.storage_units = num(&arg, value(&arg)?)?,
                "--storage-publishes" => o.storage_publishes = num(&arg, value(&arg)?)?,
                "--storage-changes" => o.storage_changes = num(&arg, value(&arg)?)?,
                "--demo" => o.demo = PathBuf::from(value(&arg)?),
                "--work" => o.work = Some(PathBuf::from(value(&arg)?)),
                "--keep" => o.keep = true,
                "--no-breakdown" => o.breakdown = false,
                "--only" => {
                    o.only = value(&arg)?
                        .split(',')
                        .map(|f| num::<u8>("--only", f.trim().to_string()))
                        .collect::<Result<_, _>>()?;
                }
                "-h" | "--help" => return Err(USAGE.to_string()),
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        o.reps = o.reps.max(1);
        o.import_reps = o.import_reps.max(1);
        o.publish_reps = o.publish_reps.max(1);
        o.query_reps = o.query_reps.max(1);
        o.publish_files = o.publish_files.max(20);
        o.units = o.units.max(100);
        o.storage_units = o.storage_units.max(100);
        Ok(o)
    }

    fn runs(&self, figure: u8) -> bool {
        self.only.contains(&figure)
    }
}

// ---------------------------------------------------------------------------
// Files

/// Every file under `root`, sorted, as (absolute, relative with '/').
fn tree_files(root: &Path) -> Vec<(PathBuf, String)> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            (e.path().to_path_buf(), rel)
        })
        .collect()
}

fn dir_bytes(root: &Path) -> (u64, u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut files, mut bytes, mut allocated) = (0, 0, 0);
    for e in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_file() {
            if let Ok(m) = e.metadata() {
                files += 1;
                bytes += m.len();
                allocated += m.blocks() * 512;
            }
        }
    }
    (files, bytes, allocated)
}

/// Makes a file's content new: a comment for OLX, a newline for JSON, a line
/// of text for anything else (assets).
fn change_file(path: &Path, rev: usize) {
    let mut bytes = fs::read(path).expect("reading a tree file");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "xml" | "html" | "htm" => {
            bytes.extend_from_slice(format!("<!-- bench revision {rev} -->\n").as_bytes())
        }
        "json" => bytes.push(b'\n'),
        _ => bytes.extend_from_slice(format!("bench revision {rev}\n").as_bytes()),
    }
    fs::write(path, bytes).expect("writing a tree file");
}

fn copy_tree(from: &Path, to: &Path) {
    for (abs, rel) in tree_files(from) {
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).expect("creating a folder");
        }
        fs::copy(&abs, &dest).expect("copying a file");
    }
}

fn link_rows(data: &Path) -> (u64, u64, u64) {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("store.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("opening store.db read-only");
    let count = |sql: &str| -> u64 {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .expect("counting rows") as u64
    };
    (
        count("SELECT count(*) FROM link"),
        count("SELECT count(*) FROM content_scan"),
        count("SELECT count(*) FROM version"),
    )
}

// ---------------------------------------------------------------------------
// Figure 1: the demo course, blockstore vs git

fn demo_vs_git(o: &Options, bins: &Bins, work: &Path, report: &mut Report) {
    eprintln!("\n[1] demo course import vs git");
    if !o.demo.join("course.xml").is_file() {
        let msg = format!(
            "skipped: the demo course is absent ({} has no course.xml)",
            o.demo.display()
        );
        eprintln!("  {msg}");
        report.add(
            1,
            "demo course import vs git",
            "≤ 0.5× git",
            msg,
            Verdict::Skipped,
        );
        return;
    }
    let files = tree_files(&o.demo);
    let bytes: u64 = files
        .iter()
        .map(|(p, _)| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let root = work.join("demo");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).expect("scratch");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for rep in 0..o.reps {
        let data = root.join(format!("data-{rep}"));
        let copy = root.join(format!("git-{rep}"));
        copy_tree(&o.demo, &copy);
        let mut import = bins.bs(&data);
        import.arg("import").arg(&o.demo);
        let mut git = Command::new("sh");
        git.arg("-c")
            .arg("git init -q && git add -A && git commit -q -m x")
            .current_dir(&copy)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.org")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.org");
        // Alternate which goes first, so neither always gets the warmer cache.
        if rep % 2 == 0 {
            settle(work);
            ours.push(run(&mut import).0);
            settle(work);
            theirs.push(run(&mut git).0);
        } else {
            settle(work);
            theirs.push(run(&mut git).0);
            settle(work);
            ours.push(run(&mut import).0);
        }
        eprintln!(
            "  rep {}: blockstore import {}, git {}",
            rep + 1,
            secs(*ours.last().expect("pushed")),
            secs(*theirs.last().expect("pushed"))
        );
        let _ = fs::remove_dir_all(&data);
        let _ = fs::remove_dir_all(&copy);
    }
    let (a, b) = (median(&ours), median(&theirs));
    report.info(
        1,
        format!("demo course: {} files, {}", files.len(), mb(bytes)),
        format!("{} repetitions each, medians", o.reps),
    );
    report.info(1, "`blockstore import` (fresh data dir)", secs(a));
    report.info(1, "`git init && git add -A && git commit`", secs(b));
    report.add(
        1,
        "import time / git time",
        "≤ 0.50",
        format!("{:.2}", a / b),
        verdict(a <= b / 2.0),
    );
    if o.breakdown {
        settle(work);
        let breakdown = import_breakdown(&o.demo, &root.join("data-inprocess"), "demo");
        report.info(1, "in-process import breakdown", breakdown);
    }
}

// ---------------------------------------------------------------------------
// Figure 2: the large import

/// Records when each phase of an in-process import starts.
struct PhaseClock {
    start: Instant,
    phases: Mutex<Vec<(String, Duration)>>,
}

impl PhaseClock {
    fn new() -> PhaseClock {
        PhaseClock {
            start: Instant::now(),
            phases: Mutex::new(Vec::new()),
        }
    }
}

impl Progress for PhaseClock {
    fn phase(&self, name: &str, _total: Option<u64>) {
        let now = self.start.elapsed();
        self.phases
            .lock()
            .expect("not poisoned")
            .push((name.to_string(), now));
    }
}

/// Imports `tree` in-process into a fresh `data` dir and says where the time
/// went, from the import's progress phases (the data dir is removed after).
fn import_breakdown(tree: &Path, data: &Path, slug: &str) -> String {
    let _ = fs::remove_dir_all(data);
    let store = Store::open(data).expect("opening a store");
    let clock = PhaseClock::new();
    let options = ImportOptions {
        collection: Some(slug.to_string()),
        ..ImportOptions::default()
    };
    import_dir(&store, tree, &options, &clock).expect("in-process import");
    let total = clock.start.elapsed().as_secs_f64();
    drop(store);
    let _ = fs::remove_dir_all(data);
    let phases = clock.phases.into_inner().expect("not poisoned");
    if phases.is_empty() {
        return format!("{} total (no phases reported)", secs(total));
    }
    // Each phase lasts until the next starts; the last until the import returns.
    let text = phases
        .iter()
        .enumerate()
        .map(|(i, (name, start))| {
            let end = phases.get(i + 1).map_or(total, |next| next.1.as_secs_f64());
            format!("{name} {}", secs(end - start.as_secs_f64()))
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!("{} total: {text}", secs(total))
}

struct Big {
    tree: PathBuf,
    data: PathBuf,
    slug: String,
    files: usize,
}

fn large_import(
    o: &Options,
    bins: &Bins,
    probe: &RssProbe,
    work: &Path,
    report: &mut Report,
) -> Big {
    eprintln!(
        "\n[2] import of a generated {} units + {} assets tree",
        o.units, o.assets
    );
    let tree = work.join("big-tree");
    let start = Instant::now();
    bins.gen(&tree, o.units, o.assets);
    let files = tree_files(&tree);
    let tree_bytes: u64 = files
        .iter()
        .map(|(p, _)| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    eprintln!(
        "  generated {} files ({}) in {}",
        files.len(),
        mb(tree_bytes),
        secs(start.elapsed().as_secs_f64())
    );
    let slug = "big".to_string();
    let data = work.join("big-data");
    let (mut walls, mut copies, mut rss) = (Vec::new(), Vec::new(), 0);
    let rep_dir = |rep: usize| work.join(format!("big-data-{rep}"));
    for rep in 0..o.import_reps {
        // A cold store each time, in a new folder. The previous repetition's
        // store is not removed first: deleting 110,000 files right before
        // creating 110,000 makes ext4's inode allocator skip the recently
        // freed inodes (`recently_deleted`), a cost of the bench's own
        // clean-up, not of the import. All but the last are removed after.
        let rep_data = rep_dir(rep);
        let _ = fs::remove_dir_all(&rep_data);
        settle(work);
        let args = os(&[
            &"--data-dir",
            &rep_data,
            &"import",
            &tree,
            &"--collection",
            &slug,
        ]);
        // The floor beside it: copying the same files with `cp -r` and making
        // them durable, which is what one new file per blob costs this
        // filesystem before any hashing or indexing. Alternating which runs
        // first spreads the machine's drift over both.
        let copy = work.join(format!("big-copy-{rep}"));
        let _ = fs::remove_dir_all(&copy);
        let mut cp = Command::new("sh");
        cp.arg("-c")
            .arg(r#"cp -r "$1" "$2" && sync -f "$2""#)
            .arg("sh")
            .arg(&tree)
            .arg(&copy);
        if rep % 2 == 1 {
            settle(work);
            copies.push(run(&mut cp).0);
        }
        settle(work);
        let (wall, peak, stdout) = probe.run(&bins.blockstore, &args, work);
        if rep % 2 == 0 {
            settle(work);
            copies.push(run(&mut cp).0);
        }
        eprintln!(
            "  rep {}: {} , peak RSS {}; cp -r {}; {}",
            rep + 1,
            secs(wall),
            mb(peak),
            secs(copies[rep]),
            stdout.trim().replace('\n', "; ")
        );
        walls.push(wall);
        rss = rss.max(peak);
    }
    for rep in 0..o.import_reps {
        let _ = fs::remove_dir_all(work.join(format!("big-copy-{rep}")));
    }
    // The last repetition's store serves figures 3 and 4; the others go now.
    let _ = fs::remove_dir_all(&data);
    fs::rename(rep_dir(o.import_reps - 1), &data).expect("moving the last imported store");
    for rep in 0..o.import_reps - 1 {
        let _ = fs::remove_dir_all(rep_dir(rep));
    }
    let wall = median(&walls);
    let n = files.len() as u64;
    let rate = n as f64 / wall;
    let label = format!(
        "{} units + {} assets",
        thousands(o.units),
        thousands(o.assets)
    );
    report.info(
        2,
        format!("tree: {label}"),
        format!("{} files, {}", thousands(n), mb(tree_bytes)),
    );
    report.info(
        2,
        format!(
            "`blockstore import` wall time, cold store (median of {})",
            walls.len()
        ),
        format!(
            "{} ({})",
            secs(wall),
            walls
                .iter()
                .map(|w| secs(*w))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let copy_wall = median(&copies);
    report.info(
        2,
        format!(
            "floor: `cp -r` of the same tree + `sync -f` (median of {})",
            copies.len()
        ),
        format!(
            "{} ({} files/s; runs: {})",
            secs(copy_wall),
            thousands((n as f64 / copy_wall) as u64),
            copies
                .iter()
                .map(|w| secs(*w))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    report.info(
        2,
        "import time / `cp -r` time",
        format!("{:.2}", wall / copy_wall),
    );
    report.add(
        2,
        "import throughput",
        "≥ 20,000 files/s",
        format!("{} files/s", thousands(rate as u64)),
        verdict(rate >= 20_000.0),
    );
    report.add(
        2,
        format!("import peak RSS, max of the runs ({})", probe.describe()),
        "≤ 200 MB",
        mb(rss),
        verdict(rss <= 200_000_000),
    );
    let (_, db_bytes, _) = dir_bytes(&data.join("store.db"));
    let (blobs, blob_bytes, _) = dir_bytes(&data.join("blobs"));
    report.info(
        2,
        "data dir after import",
        format!(
            "store.db {}, {} blobs {}",
            mb(db_bytes),
            thousands(blobs),
            mb(blob_bytes)
        ),
    );

    if o.breakdown {
        let data2 = work.join("big-data-inprocess");
        settle(work);
        report.info(
            2,
            "in-process import breakdown",
            import_breakdown(&tree, &data2, &slug),
        );
    }
    Big {
        tree,
        data,
        slug,
        files: files.len(),
    }
}

// ---------------------------------------------------------------------------
// Figure 3: publish

/// Parses "SLUG: published version N (C change(s))".
fn published_changes(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.split_once(" change(s))"))
        .and_then(|(head, _)| head.rsplit_once('(').map(|(_, n)| n.trim().to_string()))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn publish_small(o: &Options, bins: &Bins, work: &Path, report: &mut Report) {
    let n = o.publish_files;
    eprintln!("\n[3a] publish of {n} drafted changes in a {n}-file collection");
    let tree = work.join("pub-tree");
    bins.gen(&tree, n - n / 10, n / 10);
    let data = work.join("pub-data");
    let _ = fs::remove_dir_all(&data);
    let slug = "pub";
    run(bins
        .bs(&data)
        .args(["import", "--publish", "--collection", slug])
        .arg(&tree));
    let files = tree_files(&tree);
    let (mut publishes, mut imports) = (Vec::new(), Vec::new());
    for rep in 0..o.publish_reps {
        for (abs, _) in &files {
            change_file(abs, rep);
        }
        settle(work);
        imports.push(
            run(bins
                .bs(&data)
                .args(["import", "--collection", slug])
                .arg(&tree))
            .0,
        );
        settle(work);
        let (t, out) = run(bins.bs(&data).args(["publish", slug, "-m", "bench"]));
        let changes = published_changes(&out);
        assert_eq!(
            changes,
            files.len() as u64,
            "every file was a drafted change"
        );
        eprintln!(
            "  rep {}: publish of {changes} changes {}",
            rep + 1,
            secs(t)
        );
        publishes.push(t);
    }
    let med = median(&publishes);
    report.add(
        3,
        format!(
            "`publish` of {} changes, {}-file collection (median of {})",
            thousands(files.len() as u64),
            thousands(files.len() as u64),
            o.publish_reps
        ),
        "< 1 s",
        secs(med),
        verdict(med < 1.0),
    );
    report.info(
        3,
        format!(
            "re-import of those {} changed files",
            thousands(files.len() as u64)
        ),
        format!(
            "{} ({} files/s)",
            secs(median(&imports)),
            thousands((files.len() as f64 / median(&imports)) as u64)
        ),
    );
    let _ = fs::remove_dir_all(&data);
    let _ = fs::remove_dir_all(&tree);
}

/// Paths the queries of figure 4 look at; chosen before figure 3b so that they
/// are among its changes (two versions each).
struct Targets {
    vertical: String,
    asset: String,
}

fn pick_targets(big: &Big) -> Targets {
    let files = tree_files(&big.tree);
    let vertical = files
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.starts_with("vertical/"))
        .cloned()
        .expect("the tree has verticals");
    // The most referenced asset that exists (the links come from the store).
    let present: HashSet<&str> = files.iter().map(|(_, r)| r.as_str()).collect();
    let conn = rusqlite::Connection::open_with_flags(
        big.data.join("store.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("opening store.db read-only");
    let mut stmt = conn
        .prepare(
            "SELECT target_path, count(*) AS n FROM link WHERE target_path LIKE 'static/%'
             GROUP BY target_path ORDER BY n DESC LIMIT 50",
        )
        .expect("a query");
    let popular: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("a query")
        .filter_map(|r| r.ok())
        .collect();
    let asset = popular
        .into_iter()
        .find(|p| present.contains(p.as_str()))
        .or_else(|| {
            files
                .iter()
                .map(|(_, r)| r)
                .find(|r| r.starts_with("static/img_"))
                .cloned()
        })
        .or_else(|| {
            files
                .iter()
                .map(|(_, r)| r)
                .find(|r| r.starts_with("static/"))
                .cloned()
        })
        .unwrap_or_else(|| vertical.clone());
    Targets { vertical, asset }
}

fn publish_big(o: &Options, bins: &Bins, big: &Big, targets: &Targets, report: &mut Report) {
    eprintln!("\n[3b] publishes in the {}-file collection", big.files);
    settle(&big.data);
    let (t, out) = run(bins
        .bs(&big.data)
        .args(["publish", &big.slug, "-m", "import"]));
    report.info(
        3,
        format!(
            "`publish` of the initial {} drafts (all files)",
            thousands(published_changes(&out))
        ),
        secs(t),
    );
    let files = tree_files(&big.tree);
    let want = (o.publish_files as usize).min(files.len());
    let stride = (files.len() / want).max(1);
    // The query targets first (so they have two versions), then every stride-th file.
    let mut chosen: HashSet<usize> = files
        .iter()
        .enumerate()
        .filter(|(_, (_, rel))| *rel == targets.vertical || *rel == targets.asset)
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while chosen.len() < want {
        chosen.insert(i % files.len());
        i += stride;
        if i >= files.len() * stride {
            break;
        }
    }
    let changed = chosen.len();
    for &i in &chosen {
        change_file(&files[i].0, 0);
    }
    settle(&big.data);
    let (t_import, _) = run(bins
        .bs(&big.data)
        .args(["import", "--collection", &big.slug])
        .arg(&big.tree));
    report.info(
        3,
        format!(
            "re-import of the {}-file tree with {} changed files",
            thousands(files.len() as u64),
            thousands(changed as u64)
        ),
        format!(
            "{} ({} files/s)",
            secs(t_import),
            thousands((files.len() as f64 / t_import) as u64)
        ),
    );
    settle(&big.data);
    let (t, out) = run(bins
        .bs(&big.data)
        .args(["publish", &big.slug, "-m", "bench"]));
    let n = published_changes(&out);
    assert_eq!(n, changed as u64, "every changed file was a drafted change");
    report.add(
        3,
        format!(
            "`publish` of {} changes, {}-file collection",
            thousands(n),
            thousands(files.len() as u64)
        ),
        "< 1 s",
        secs(t),
        verdict(t < 1.0),
    );
}

// ---------------------------------------------------------------------------
// Figure 4: queries

fn queries(o: &Options, bins: &Bins, big: &Big, targets: &Targets, report: &mut Report) {
    eprintln!("\n[4] queries on the {}-file collection", big.files);
    let slug = &big.slug;
    let v = format!("{slug}:{}", targets.vertical);
    let a = format!("{slug}:{}", targets.asset);
    let commands: Vec<(String, Vec<String>, bool)> = vec![
        ("`log SLUG`".into(), vec!["log".into(), slug.clone()], true),
        (
            "`log SLUG:vertical/….xml`".into(),
            vec!["log".into(), v.clone()],
            true,
        ),
        (
            "`show SLUG:vertical/….xml`".into(),
            vec!["show".into(), v.clone()],
            true,
        ),
        (
            "`links SLUG:vertical/….xml`".into(),
            vec!["links".into(), v.clone()],
            true,
        ),
        (
            format!("`links SLUG:{} --incoming`", targets.asset),
            vec!["links".into(), a.clone(), "--incoming".into()],
            true,
        ),
        (
            "`links SLUG --broken` (whole collection)".into(),
            vec!["links".into(), slug.clone(), "--broken".into()],
            false,
        ),
    ];
    let (t, _) = run(Command::new(&bins.blockstore).arg("--version"));
    let mut starts = vec![t];
    for _ in 0..o.query_reps {
        starts.push(run(Command::new(&bins.blockstore).arg("--version")).0);
    }
    report.info(
        4,
        "process start alone (`blockstore --version`)",
        secs(median(&starts)),
    );
    for (label, args, targeted) in &commands {
        let reps = if *targeted {
            o.query_reps
        } else {
            o.query_reps.min(3)
        };
        let (_, out) = run(bins.bs(&big.data).args(args)); // warm-up
        let lines = out.lines().count();
        let times: Vec<f64> = (0..reps)
            .map(|_| run(bins.bs(&big.data).args(args)).0)
            .collect();
        let med = median(&times);
        let value = format!("{} (max {}, {lines} lines)", secs(med), secs(max(&times)));
        if *targeted {
            report.add(
                4,
                format!("CLI {label}"),
                "< 50 ms",
                value,
                verdict(med < 0.050),
            );
        } else {
            report.info(4, format!("CLI {label}"), value);
        }
    }

    let store = Store::open(&big.data).expect("opening the store");
    let time = |reps: usize, f: &mut dyn FnMut() -> usize| -> (f64, f64, usize) {
        let n = f(); // warm-up
        let times: Vec<f64> = (0..reps)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed().as_secs_f64()
            })
            .collect();
        (median(&times), max(&times), n)
    };
    let r = o.query_reps;
    let path_v = targets.vertical.as_str();
    let path_a = targets.asset.as_str();
    type Query<'a> = (&'a str, bool, Box<dyn FnMut() -> usize + 'a>);
    let calls: Vec<Query<'_>> = vec![
        (
            "`Store::versions` (log)",
            true,
            Box::new(|| store.versions(slug).expect("versions").len()),
        ),
        (
            "`Store::history` (log of a path)",
            true,
            Box::new(|| {
                let h = store.history(slug, path_v).expect("history");
                h.versions.len() + h.revisions.len()
            }),
        ),
        (
            "`Store::read` (show)",
            true,
            Box::new(|| store.read(slug, path_v, At::Draft).expect("read").1.len()),
        ),
        (
            "`Store::links` out (links)",
            true,
            Box::new(|| {
                store
                    .links(slug, path_v, At::Draft, Direction::Out)
                    .expect("links")
                    .len()
            }),
        ),
        (
            "`Store::links` in (links --incoming)",
            true,
            Box::new(|| {
                store
                    .links(slug, path_a, At::Draft, Direction::In)
                    .expect("links")
                    .len()
            }),
        ),
        (
            "`Store::link_report` (links --broken), asked again (kept)",
            false,
            Box::new(|| {
                let rep = store.link_report(slug, At::Draft).expect("report");
                rep.broken.len() + rep.ambiguous.len()
            }),
        ),
    ];
    // The whole-collection report is kept while the index is unchanged: the
    // first call is its cost (as for every `links --broken` process above),
    // the row below asks again.
    let started = Instant::now();
    let first = store.link_report(slug, At::Draft).expect("report");
    report.info(
        4,
        "in-process `Store::link_report` (links --broken), first call",
        format!(
            "{} ({} items)",
            secs(started.elapsed().as_secs_f64()),
            first.broken.len() + first.ambiguous.len()
        ),
    );
    for (label, targeted, mut f) in calls {
        let reps = if targeted { r } else { r.min(3) };
        let (med, mx, n) = time(reps, &mut *f);
        let value = format!("{} (max {}, {n} items)", secs(med), secs(mx));
        if targeted {
            report.add(
                4,
                format!("in-process {label}"),
                "< 50 ms",
                value,
                verdict(med < 0.050),
            );
        } else {
            report.info(4, format!("in-process {label}"), value);
        }
    }
}

// ---------------------------------------------------------------------------
// Figure 5: storage

/// A tiny deterministic generator (splitmix64) for picking units.
struct Pick(u64);

impl Pick {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((u128::from(z) * n as u128) >> 64) as usize
    }
}

/// Distinct contents written so far: bytes, and links by (hash, syntax).
#[derive(Default)]
struct Contents {
    hashes: HashSet<String>,
    bytes: u64,
    scans: HashMap<(String, links::Syntax), u64>,
}

impl Contents {
    fn add(&mut self, path: &str, bytes: &[u8]) {
        let hash = hash_bytes(bytes);
        if let Some(syntax) = RelPath::new(path).ok().and_then(|p| classify(&p).syntax) {
            self.scans
                .entry((hash.clone(), syntax))
                .or_insert_with(|| links::extract(path, bytes, syntax).links.len() as u64);
        }
        if self.hashes.insert(hash) {
            self.bytes += bytes.len() as u64;
        }
    }
    fn link_rows(&self) -> u64 {
        self.scans.values().sum()
    }
}

fn storage(o: &Options, bins: &Bins, work: &Path, report: &mut Report) {
    let (units, publishes, per) = (o.storage_units, o.storage_publishes, o.storage_changes);
    eprintln!("\n[5] storage: {units} units, {publishes} publishes of {per} changed units");
    let tree = work.join("storage-tree");
    bins.gen(&tree, units, units / 10);
    let data = work.join("storage-data");
    let _ = fs::remove_dir_all(&data);
    let slug = "storage";
    let store = Store::open(&data).expect("opening a store");
    let options = ImportOptions {
        collection: Some(slug.into()),
        publish: true,
        message: Some("import".into()),

        ..ImportOptions::default()
    };
    import_dir(&store, &tree, &options, &NoProgress).expect("import");
    let mut contents = Contents::default();
    let mut current: Vec<(String, Vec<u8>)> = Vec::new();
    for (abs, rel) in tree_files(&tree) {
        let bytes = fs::read(&abs).expect("reading the tree");
        contents.add(&rel, &bytes);
        current.push((rel, bytes));
    }
    let originals = current.clone();
    let (links0, scans0, versions0) = link_rows(&data);
    report.info(
        5,
        "collection (gen_olx, imported and published in-process)",
        format!(
            "{} units + {} assets, {} bytes",
            thousands(units),
            thousands(units / 10),
            thousands(contents.bytes)
        ),
    );
    // Units that can take a comment (every .xml and .html file).
    let editable: Vec<usize> = (0..current.len())
        .filter(|&i| {
            let p = &current[i].0;
            p.ends_with(".xml") || p.ends_with(".html")
        })
        .collect();
    let mut pick = Pick(7);
    // Sizes are taken settled: the WAL checkpointed into the index and
    // truncated, as it is whenever the store is idle and closed.
    let settle = |data: &Path| {
        let conn = rusqlite::Connection::open(data.join("store.db")).expect("the index");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("a checkpoint");
    };
    settle(&data);
    let (_, _, alloc_before) = dir_bytes(&data);
    let parts = |data: &Path| {
        ["store.db", "store.db-wal", "blobs"]
            .map(|name| mb(dir_bytes(&data.join(name)).2))
            .join(" / ")
    };
    let parts_before = parts(&data);
    let unique_before = contents.bytes;
    let start = Instant::now();
    for p in 0..publishes {
        let mut chosen = HashSet::new();
        while chosen.len() < per.min(editable.len()) {
            chosen.insert(editable[pick.below(editable.len())]);
        }
        let mut chosen: Vec<usize> = chosen.into_iter().collect();
        chosen.sort_unstable();
        for i in chosen {
            let (path, bytes) = &mut current[i];
            bytes.extend_from_slice(format!("<!-- publish {} -->\n", p + 1).as_bytes());
            store
                .write(slug, path, bytes, Source::Api)
                .expect("writing a unit");
            contents.add(path, bytes);
        }
        store
            .publish(
                slug,
                &PublishOptions {
                    message: format!("publish {}", p + 1),
                    strict: false,
                },
            )
            .expect("publish");
    }
    let loop_time = start.elapsed().as_secs_f64();
    let (links1, scans1, versions1) = link_rows(&data);
    let wal_at_most = mb(dir_bytes(&data.join("store.db-wal")).2);
    settle(&data);
    let (files_after, bytes_after, alloc_after) = dir_bytes(&data);
    if o.keep {
        // For a look at where the bytes went (`dbstat`), as measured.
        let kept = work.join("storage-after-publishes.db");
        fs::copy(data.join("store.db"), &kept).expect("keeping the index");
        eprintln!("  index after the publishes kept in {}", kept.display());
    }
    eprintln!("  WAL before the checkpoint: {wal_at_most}");
    eprintln!(
        "  store.db / WAL / blobs allocated: {parts_before} before, {} after",
        parts(&data)
    );
    let new_unique = contents.bytes - unique_before;
    let growth = alloc_after.saturating_sub(alloc_before);
    let ratio = growth as f64 / new_unique as f64;
    report.info(
        5,
        format!("{publishes} publishes × {per} units written with `Store::write`"),
        format!(
            "{} ({} per publish)",
            secs(loop_time),
            secs(loop_time / publishes as f64)
        ),
    );
    report.info(
        5,
        "unique content bytes written (distinct hashes)",
        format!(
            "{} bytes in {} contents, {} of them new in the publishes",
            thousands(contents.bytes),
            thousands(contents.hashes.len() as u64),
            thousands(new_unique)
        ),
    );
    report.add(
        5,
        "growth of the data dir's allocated size (`du`, index and WAL included) over the publishes / their new unique bytes",
        "≤ 2",
        format!(
            "{:.2} ({} → {} allocated; {} files, {} bytes after)",
            ratio,
            mb(alloc_before),
            mb(alloc_after),
            thousands(files_after),
            thousands(bytes_after)
        ),
        verdict(ratio <= 2.0),
    );
    report.info(
        5,
        "link rows after import",
        format!(
            "{} ({} scanned contents, {} versions)",
            thousands(links0),
            thousands(scans0),
            thousands(versions0)
        ),
    );
    report.info(
        5,
        format!("link rows after {publishes} publishes"),
        format!(
            "{} ({} scanned contents, {} versions)",
            thousands(links1),
            thousands(scans1),
            thousands(versions1)
        ),
    );
    let expected = contents.link_rows();
    let extraction = links0 > 0;
    report.add(
        5,
        "link rows = Σ links of distinct contents (extracted here with `links::extract`)",
        "equal",
        format!(
            "{} vs {} expected; {:.2} links/content before, {:.2} after; per collection version it would be ~{}",
            thousands(links1),
            thousands(expected),
            links0 as f64 / scans0.max(1) as f64,
            links1 as f64 / scans1.max(1) as f64,
            thousands(links0 * (publishes as u64 + 1))
        ),
        if extraction {
            verdict(links1 == expected && scans1 as usize == contents.scans.len())
        } else {
            Verdict::Skipped
        },
    );
    // Versions whose content already exists add no link rows.
    for (i, (path, bytes)) in originals
        .iter()
        .enumerate()
        .filter(|(i, _)| editable.contains(i))
    {
        if current[i].1 != *bytes {
            store
                .write(slug, path, bytes, Source::Api)
                .expect("writing back");
        }
    }
    let reverted = store
        .publish(
            slug,
            &PublishOptions {
                message: "back to the original contents".into(),
                strict: false,
            },
        )
        .map(|r| r.changes.len())
        .unwrap_or(0);
    let (links2, _, versions2) = link_rows(&data);
    report.add(
        5,
        format!("one more publish writing {reverted} units back to their original contents"),
        "+0 link rows",
        format!(
            "+{} versions, +{} link rows",
            thousands(versions2 - versions1),
            thousands(links2 - links1)
        ),
        if extraction {
            verdict(links2 == links1)
        } else {
            Verdict::Skipped
        },
    );
    drop(store);
    let _ = fs::remove_dir_all(&data);
    let _ = fs::remove_dir_all(&tree);
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let o = match Options::parse() {
        Ok(o) => o,
        Err(message) if message == USAGE => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let bins = find_bins();
    let work = o.work.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("blockstore-bench-{}", std::process::id()))
    });
    fs::create_dir_all(&work).expect("creating the scratch folder");
    let probe = RssProbe::detect();
    let machine = machine(&work);
    let load_before = loadavg();
    eprintln!("blockstore bench: {machine}; load average {load_before}");
    eprintln!(
        "binary: {}; scratch: {}",
        bins.blockstore.display(),
        work.display()
    );
    let started = Instant::now();
    let mut report = Report::default();

    if o.runs(1) {
        demo_vs_git(&o, &bins, &work, &mut report);
    }
    if o.runs(2) || o.runs(3) || o.runs(4) {
        let big = large_import(&o, &bins, &probe, &work, &mut report);
        if o.runs(3) {
            publish_small(&o, &bins, &work, &mut report);
        }
        let targets = pick_targets(&big);
        if o.runs(3) || o.runs(4) {
            publish_big(&o, &bins, &big, &targets, &mut report);
        }
        if o.runs(4) {
            queries(&o, &bins, &big, &targets, &mut report);
        }
    }
    if o.runs(5) {
        storage(&o, &bins, &work, &mut report);
    }

    println!(
        "\nMachine: {machine}. Load average (1/5/15 min) at start {load_before}, at end {}.\n",
        loadavg()
    );
    println!("{}", report.markdown());
    println!(
        "Total bench time {}.",
        secs(started.elapsed().as_secs_f64())
    );
    if o.keep {
        eprintln!("scratch kept in {}", work.display());
    } else {
        let _ = fs::remove_dir_all(&work);
    }
    ExitCode::SUCCESS
}
