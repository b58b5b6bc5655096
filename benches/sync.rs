//! Folder sync figures (issue 5), with the release binary as a child process:
//!
//! 1. **Save → visible**: `blockstore serve --sync lat=DIR`; each of N saves
//!    (alternating a plain truncate-and-write and an editor-style temp file +
//!    rename) is timed from the moment the write returns until
//!    `GET /api/v1/collections/lat/files/{path}?version=draft` answers with
//!    the new content's hash (polled every millisecond). p50 and p95; target
//!    p95 ≤ 300 ms, debounce (75 ms) included.
//! 2. **Start-up reconcile of a folder already in sync**: a `gen_olx` tree of
//!    about 10,000 files imported, then `blockstore --json sync big DIR`
//!    timed from spawn to its `reconciled` line (process start, store open,
//!    watcher registration, hashing every file). Median of 3; target ≤ 2 s.
//! 3. **Idle CPU** of that sync: user + system time of the process over a
//!    quiet window, from `/proc/PID/stat`; target ~0%.
//!
//! `cargo bench --bench sync [-- --saves N --units N --idle-secs N --work DIR]`

use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

mod common;
use common::*;

struct Options {
    saves: usize,
    units: u64,
    idle_secs: u64,
    work: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        saves: 1000,
        units: 9_000,
        idle_secs: 10,
        work: std::env::temp_dir().join("blockstore-bench-sync"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{name} N"))
        };
        match arg.as_str() {
            "--saves" => options.saves = number("--saves")? as usize,
            "--units" => options.units = number("--units")?,
            "--idle-secs" => options.idle_secs = number("--idle-secs")?,
            "--work" => options.work = args.next().ok_or("--work DIR")?.into(),
            _ => {} // cargo bench passes --bench
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("usage: cargo bench --bench sync -- [--saves N] [--units N] [--idle-secs N] [--work DIR] ({e})");
            return ExitCode::from(2);
        }
    };
    let bins = find_bins();
    let _ = fs::remove_dir_all(&options.work);
    fs::create_dir_all(&options.work).expect("a work dir");
    let mut report = Report::default();
    eprintln!("machine: {}", machine(&options.work));
    save_to_visible(&bins, &options, &mut report);
    reconcile_and_idle(&bins, &options, &mut report);
    println!("{}", report.markdown());
    println!(
        "machine: {}; load average after: {}",
        machine(&options.work),
        loadavg()
    );
    let _ = fs::remove_dir_all(&options.work);
    ExitCode::SUCCESS
}

fn save_to_visible(bins: &Bins, options: &Options, report: &mut Report) {
    let folder = options.work.join("lat");
    let data = options.work.join("lat-data");
    fs::create_dir_all(folder.join("html")).unwrap();
    fs::write(folder.join("course.xml"), "<course/>").unwrap();
    for i in 0..10 {
        fs::write(folder.join(format!("html/p{i}.html")), "<p>start</p>").unwrap();
    }
    let mut cmd = bins.bs(&data);
    cmd.args(["--json", "serve", "--addr", "127.0.0.1:0", "--sync"])
        .arg(format!("lat={}", folder.display()));
    let server = Running::start(cmd);
    let addr = server.url().trim_start_matches("http://").to_string();
    let mut latencies = Vec::with_capacity(options.saves);
    for i in 0..options.saves {
        let path = format!("html/p{}.html", i % 10);
        let content = format!("<p>save {i}</p>\n");
        let expected = blockstore::store::hash_bytes(content.as_bytes());
        let target = folder.join(&path);
        if i % 2 == 0 {
            fs::write(&target, &content).unwrap();
        } else {
            let tmp = folder.join(format!("html/.p{}.html.tmp~", i % 10));
            fs::write(&tmp, &content).unwrap();
            fs::rename(&tmp, &target).unwrap();
        }
        let saved = Instant::now();
        let url = format!("/api/v1/collections/lat/files/{path}?version=draft");
        loop {
            if let Some((200, body)) = http(&addr, &url) {
                let detail: serde_json::Value = serde_json::from_slice(&body).unwrap();
                if detail["hash"] == expected.as_str() {
                    break;
                }
            }
            assert!(
                saved.elapsed() < Duration::from_secs(30),
                "save {i} never became visible"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies.push(saved.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(10));
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let (p50, p95) = (pct(0.50), pct(0.95));
    report.info(
        1,
        format!(
            "save → visible via GET files?version=draft: p50 over {} saves",
            latencies.len()
        ),
        secs(p50),
    );
    report.add(
        1,
        "save → visible: p95 (debounce 75 ms included)",
        "≤ 300 ms",
        secs(p95),
        verdict(p95 <= 0.300),
    );
    report.info(1, "save → visible: max", secs(max(&latencies)));
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" closing the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn reconcile_and_idle(bins: &Bins, options: &Options, report: &mut Report) {
    let tree = options.work.join("big");
    let data = options.work.join("big-data");
    bins.gen(&tree, options.units, options.units / 9);
    let files = walkdir::WalkDir::new(&tree)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .count();
    run(bins.bs(&data).arg("import").arg(&tree).args(["-c", "big"]));
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        drop(last.take());
        settle(&options.work);
        let mut cmd = bins.bs(&data);
        cmd.args(["--json", "sync", "big"]).arg(&tree);
        let start = Instant::now();
        let sync = Running::start(cmd);
        let reconciled = sync.line_with("direction");
        times.push(start.elapsed().as_secs_f64());
        assert_eq!(
            reconciled["unchanged"].as_u64(),
            Some(files as u64),
            "the folder is in sync: {reconciled}"
        );
        last = Some(sync);
    }
    let t = median(&times);
    report.add(
        2,
        format!(
            "start-up reconcile of {} files already in sync (spawn → report), median of 3",
            thousands(files as u64)
        ),
        "≤ 2 s",
        secs(t),
        verdict(t <= 2.0),
    );
    let sync = last.expect("a running sync");
    std::thread::sleep(Duration::from_secs(2));
    let pid = sync.child.id();
    let before = cpu_ticks(pid);
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(options.idle_secs));
    let used = (cpu_ticks(pid) - before) as f64 / clock_ticks();
    let share = used / window.elapsed().as_secs_f64() * 100.0;
    report.add(
        3,
        format!(
            "idle CPU of the sync on {} files over {} s",
            thousands(files as u64),
            options.idle_secs
        ),
        "~0%",
        format!("{share:.2}% ({:.0} ms of CPU)", used * 1000.0),
        verdict(share < 0.5),
    );
}
