//! Benchmarks of archives in and out: the archive figures in `BENCHMARKS.md`.
//!
//! One run measures, side by side, and prints a Markdown table on stdout
//! (progress on stderr). Every command is the release `blockstore` binary or a
//! system tool run as a child process, so all sides pay process start alike:
//!
//! 1. **Demo course import as .tar.gz vs tar + git**: `blockstore import
//!    demo.tar.gz` into a fresh data dir, against `tar -xzf demo.tar.gz`
//!    followed by `git init && git add -A && git commit` of what it unpacked;
//!    interleaved repetitions, medians. Target: import ≤ tar + git. Needs
//!    `../shared/fixtures/openedx-demo-course` (skipped with a message without).
//! 2. **Export of a 100,000-unit collection to .tar.gz** (a `gen_olx` tree,
//!    imported once): `blockstore export SLUG out.tar.gz` against `tar -czf` of
//!    the same collection exported as a folder. Target: throughput ≥ 80 % of
//!    tar's, i.e. tar's time ÷ ours ≥ 0.8; the export's peak RSS ≤ 100 MB (GNU
//!    time `%M`, or polled `VmHWM`).
//! 3. **dump + restore of that store**: `blockstore dump FILE` and `blockstore
//!    restore FILE` into an empty data dir; MB/s of the store's size (index +
//!    blobs) for each.
//!
//! ```text
//! cargo build --release --bin blockstore --example gen_olx
//! cargo bench --bench archive                 # 100,000 units, a few minutes
//! cargo bench --bench archive -- --quick      # 10,000 units, a smoke run
//! ```
//!
//! Nothing here asserts a time; a target that is not met is reported, not failed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod common;
use common::*;

struct Options {
    units: u64,
    reps: usize,
    work: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        units: 100_000,
        reps: 3,
        work: std::env::temp_dir().join("blockstore-bench-archive"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.units = 10_000;
                options.reps = 2;
            }
            "--units" => {
                options.units = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--units N")?
            }
            "--reps" => {
                options.reps = args.next().and_then(|v| v.parse().ok()).ok_or("--reps N")?
            }
            "--work" => options.work = args.next().ok_or("--work DIR")?.into(),
            // cargo bench passes --bench; ignore it and anything else of libtest's.
            _ => {}
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("usage: cargo bench --bench archive -- [--quick] [--units N] [--reps N] [--work DIR] ({e})");
            return ExitCode::from(2);
        }
    };
    let bins = find_bins();
    let _ = fs::remove_dir_all(&options.work);
    fs::create_dir_all(&options.work).expect("a work dir");
    let rss = RssProbe::detect();
    let mut report = Report::default();
    eprintln!("machine: {}", machine(&options.work));

    demo_import(&bins, &options, &mut report);
    let store = large_export(&bins, &options, &rss, &mut report);
    dump_restore(&bins, &options, &store, &mut report);

    println!("{}", report.markdown());
    println!(
        "machine: {}; load average before: {}; peak RSS by {}",
        machine(&options.work),
        loadavg(),
        rss.describe()
    );
    let _ = fs::remove_dir_all(&options.work);
    ExitCode::SUCCESS
}

fn sh(script: &str) -> f64 {
    run(Command::new("sh").arg("-c").arg(script)).0
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// Figure 1: the demo course as a Studio-style .tar.gz.
fn demo_import(bins: &Bins, options: &Options, report: &mut Report) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/openedx-demo-course/demo-course");
    if !fixture.join("course").is_dir() {
        eprintln!("figure 1 skipped: {} is missing", fixture.display());
        report.add(
            1,
            "demo course .tar.gz import",
            "≤ tar -xzf + git",
            "no fixture",
            Verdict::Skipped,
        );
        return;
    }
    let work = options.work.join("demo");
    fs::create_dir_all(&work).unwrap();
    let archive = work.join("demo.tar.gz");
    sh(&format!(
        "tar -czf {} -C {} course",
        quote(&archive),
        quote(&fixture)
    ));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for rep in 0..options.reps.max(3) {
        let data = work.join(format!("data-{rep}"));
        settle(&work);
        let mut cmd = bins.bs(&data);
        cmd.arg("import").arg(&archive);
        ours.push(run(&mut cmd).0);
        let unpack = work.join(format!("git-{rep}"));
        fs::create_dir_all(&unpack).unwrap();
        settle(&work);
        theirs.push(sh(&format!(
            "tar -xzf {a} -C {u} && cd {u}/course && git init -q && git add -A && \
             git -c user.name=bench -c user.email=bench@example.org commit -qm import",
            a = quote(&archive),
            u = quote(&unpack)
        )));
        let _ = fs::remove_dir_all(&data);
        let _ = fs::remove_dir_all(&unpack);
    }
    let (ours, theirs) = (median(&ours), median(&theirs));
    report.add(
        1,
        "demo course .tar.gz: `blockstore import` vs `tar -xzf` + `git init/add/commit`",
        "≤ 1.0×",
        format!("{} vs {} ({:.2}×)", secs(ours), secs(theirs), ours / theirs),
        verdict(ours <= theirs),
    );
}

/// Figure 2: export of a large collection; returns its data dir.
fn large_export(bins: &Bins, options: &Options, rss: &RssProbe, report: &mut Report) -> PathBuf {
    let work = options.work.join("large");
    fs::create_dir_all(&work).unwrap();
    let tree = work.join("tree");
    let assets = (options.units / 10).max(1);
    eprintln!("generating {} units + {assets} assets", options.units);
    bins.gen(&tree, options.units, assets);
    let data = work.join("data");
    let mut import = bins.bs(&data);
    import
        .args(["import", "--collection", "big", "--publish"])
        .arg(&tree);
    run(&mut import);
    let _ = fs::remove_dir_all(&tree);
    let folder = work.join("folder");
    let mut export_dir = bins.bs(&data);
    export_dir.args(["export", "big"]).arg(&folder);
    run(&mut export_dir);
    let (bytes, files, _) = dir_size(&folder);

    let (mut ours, mut theirs, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..options.reps {
        let out = work.join(format!("ours-{rep}.tar.gz"));
        settle(&work);
        let args = os(&[&"--data-dir", &data, &"export", &"big", &out]);
        let (wall, peak, _) = rss.run(&bins.blockstore, &args, &work);
        ours.push(wall);
        peaks.push(peak as f64);
        let theirs_out = work.join(format!("tar-{rep}.tar.gz"));
        settle(&work);
        theirs.push(sh(&format!(
            "tar -czf {} -C {} .",
            quote(&theirs_out),
            quote(&folder)
        )));
        let _ = fs::remove_file(&out);
        let _ = fs::remove_file(&theirs_out);
    }
    let (ours, theirs, peak) = (median(&ours), median(&theirs), max(&peaks));
    let ratio = theirs / ours;
    report.add(
        2,
        format!(
            "export of {} files ({}) to .tar.gz: throughput vs `tar -czf` of the same folder",
            thousands(files),
            mb(bytes)
        ),
        "≥ 0.80×",
        format!(
            "{} ({:.1} MB/s) vs {} ({:.1} MB/s): {ratio:.2}×",
            secs(ours),
            bytes as f64 / 1e6 / ours,
            secs(theirs),
            bytes as f64 / 1e6 / theirs
        ),
        verdict(ratio >= 0.8),
    );
    report.add(
        2,
        "export peak RSS",
        "≤ 100 MB",
        mb(peak as u64),
        verdict(peak <= 100e6),
    );
    let _ = fs::remove_dir_all(&folder);
    data
}

/// Figure 3: dump and restore of the large store.
fn dump_restore(bins: &Bins, options: &Options, data: &Path, report: &mut Report) {
    let work = options.work.join("dump");
    fs::create_dir_all(&work).unwrap();
    let (blob_bytes, _, _) = dir_size(&data.join("blobs"));
    let index = fs::metadata(data.join("store.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let size = blob_bytes + index;
    let (mut dumps, mut restores, mut archive) = (Vec::new(), Vec::new(), 0);
    for rep in 0..options.reps {
        let file = work.join(format!("store-{rep}.tar.gz"));
        settle(&work);
        let mut dump = bins.bs(data);
        dump.arg("dump").arg(&file);
        dumps.push(run(&mut dump).0);
        archive = fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let target = work.join(format!("restored-{rep}"));
        settle(&work);
        let mut restore = bins.bs(&target);
        restore.arg("restore").arg(&file);
        restores.push(run(&mut restore).0);
        let _ = fs::remove_file(&file);
        let _ = fs::remove_dir_all(&target);
    }
    let (dump, restore) = (median(&dumps), median(&restores));
    report.info(
        3,
        format!(
            "dump of the store ({} index + blobs) to one archive ({})",
            mb(size),
            mb(archive)
        ),
        format!("{} = {:.1} MB/s", secs(dump), size as f64 / 1e6 / dump),
    );
    report.info(
        3,
        "restore of that dump into an empty data dir",
        format!(
            "{} = {:.1} MB/s",
            secs(restore),
            size as f64 / 1e6 / restore
        ),
    );
}

/// Bytes, files and folders under `root`.
fn dir_size(root: &Path) -> (u64, u64, u64) {
    let (mut bytes, mut files, mut dirs) = (0, 0, 0);
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() {
            files += 1;
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        } else if entry.file_type().is_dir() {
            dirs += 1;
        }
    }
    (bytes, files, dirs)
}
