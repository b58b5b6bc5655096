//! What the benches share: the results table, child processes (the release
//! binaries, peak RSS of a child), small formatting helpers and a description
//! of the machine the figures were taken on.
#![allow(dead_code)] // each bench uses its own subset

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Results

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    Info,
    Skipped,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**not met**",
            Verdict::Info => "–",
            Verdict::Skipped => "skipped",
        })
    }
}

pub fn verdict(ok: bool) -> Verdict {
    if ok {
        Verdict::Met
    } else {
        Verdict::NotMet
    }
}

pub struct Row {
    pub figure: u8,
    pub what: String,
    pub target: String,
    pub value: String,
    pub verdict: Verdict,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    pub fn add(
        &mut self,
        figure: u8,
        what: impl Into<String>,
        target: impl Into<String>,
        value: impl Into<String>,
        verdict: Verdict,
    ) {
        let row = Row {
            figure,
            what: what.into(),
            target: target.into(),
            value: value.into(),
            verdict,
        };
        eprintln!(
            "  [{}] {}: {} (target {}) {}",
            row.figure, row.what, row.value, row.target, row.verdict
        );
        self.rows.push(row);
    }

    pub fn info(&mut self, figure: u8, what: impl Into<String>, value: impl Into<String>) {
        self.add(figure, what, "–", value, Verdict::Info);
    }

    pub fn markdown(&self) -> String {
        let mut out =
            String::from("| # | measure | target | measured | met? |\n|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.figure,
                r.what.replace('|', "\\|"),
                r.target,
                r.value,
                r.verdict
            ));
        }
        out
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

/// Seconds as a short human figure.
pub fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

// ---------------------------------------------------------------------------
// Child processes

/// A `blockstore` child (stdin closed, stderr dropped, `RUST_LOG=warn`)
/// whose stdout lines arrive on a channel; killed on drop. What `serve
/// --json` and `sync --json` benches read their start-up lines from.
pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("blockstore starts");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The next stdout line that parses as JSON with `key`.
    pub fn line_with(&self, key: &str) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(120))
                .expect("blockstore prints its line");
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                if !value[key].is_null() {
                    return value;
                }
            }
        }
    }

    /// `serve --json`'s URL (`http://127.0.0.1:PORT`, no trailing `/`).
    pub fn url(&self) -> String {
        self.line_with("url")["url"]
            .as_str()
            .expect("serve prints its URL")
            .trim_end_matches('/')
            .to_string()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Bins {
    pub blockstore: PathBuf,
    pub gen_olx: PathBuf,
}

/// `target/release/deps/store-HASH` → `target/release`.
pub fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the bench runs from target/<profile>/deps")
        .to_path_buf()
}

pub fn cargo_build(what: &[&str], release: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building: cargo build --release {}", what.join(" "));
    let mut cmd = Command::new(cargo);
    cmd.arg("build").arg("--release").args(what);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(target) = release.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let status = cmd.status().expect("running cargo");
    assert!(status.success(), "cargo build --release {what:?} failed");
}

pub fn find_bins() -> Bins {
    let release = release_dir();
    let exe = std::env::consts::EXE_SUFFIX;
    let mut blockstore = release.join(format!("blockstore{exe}"));
    if !blockstore.is_file() {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_blockstore"));
        if built.is_file() {
            blockstore = built;
        } else {
            cargo_build(&["--bin", "blockstore"], &release);
        }
    }
    let gen_olx = release.join("examples").join(format!("gen_olx{exe}"));
    if !gen_olx.is_file() {
        cargo_build(&["--example", "gen_olx"], &release);
    }
    assert!(blockstore.is_file(), "{} is missing", blockstore.display());
    assert!(gen_olx.is_file(), "{} is missing", gen_olx.display());
    Bins {
        blockstore,
        gen_olx,
    }
}

impl Bins {
    pub fn bs(&self, data: &Path) -> Command {
        let mut cmd = Command::new(&self.blockstore);
        cmd.arg("--data-dir").arg(data);
        cmd.env_remove("BLOCKSTORE_DATA_DIR");
        cmd
    }

    pub fn gen(&self, out: &Path, units: u64, assets: u64) {
        if out.exists() {
            fs::remove_dir_all(out).expect("removing an old generated tree");
        }
        let mut cmd = Command::new(&self.gen_olx);
        cmd.args([
            "--units",
            &units.to_string(),
            "--assets",
            &assets.to_string(),
        ])
        .arg(out);
        run(&mut cmd);
    }
}

/// One `GET` over a fresh connection: status and body, or `None` if the
/// server is not (yet) there.
pub fn http(addr: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| raw[p + 4..].to_vec())
        .unwrap_or_default();
    Some((status, body))
}

/// Runs a command to completion; its wall time and stdout. A failure is a bug.
pub fn run(cmd: &mut Command) -> (f64, String) {
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Flushes the filesystem's dirty pages (the bench's own setup writes: a copied
/// or changed tree, removed data dirs) before a timed command, so that an
/// import's `syncfs` does not pay for them.
pub fn settle(dir: &Path) {
    #[cfg(target_os = "linux")]
    let done = fs::File::open(dir)
        .ok()
        .is_some_and(|f| rustix::fs::syncfs(&f).is_ok());
    #[cfg(not(target_os = "linux"))]
    let done = false;
    if !done {
        let _ = Command::new("sync").status();
    }
}

/// How the peak RSS of a child is measured.
#[derive(Debug, Clone)]
pub enum RssProbe {
    /// GNU time's `%M`: the kernel's `ru_maxrss` of the child, from `wait4`.
    GnuTime(PathBuf),
    /// `VmHWM` of `/proc/PID/status`, polled every millisecond until exit.
    PollVmHwm,
}

impl RssProbe {
    pub fn detect() -> RssProbe {
        let time = PathBuf::from("/usr/bin/time");
        let gnu = Command::new(&time)
            .arg("--version")
            .output()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text).contains("GNU")
            })
            .unwrap_or(false);
        if gnu {
            RssProbe::GnuTime(time)
        } else {
            RssProbe::PollVmHwm
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            RssProbe::GnuTime(_) => "GNU time %M (ru_maxrss)",
            RssProbe::PollVmHwm => "polled /proc/PID/status VmHWM",
        }
    }

    /// Runs `program args`, returning wall seconds, peak RSS in bytes, stdout.
    pub fn run(&self, program: &Path, args: &[OsString], scratch: &Path) -> (f64, u64, String) {
        let stdout_path = scratch.join("child.stdout");
        let stderr_path = scratch.join("child.stderr");
        let stdout = fs::File::create(&stdout_path).expect("scratch file");
        let stderr = fs::File::create(&stderr_path).expect("scratch file");
        let rss_path = scratch.join("child.rss");
        let mut cmd = match self {
            RssProbe::GnuTime(time) => {
                let mut cmd = Command::new(time);
                cmd.args(["-f", "%M", "-o"]).arg(&rss_path).arg(program);
                cmd
            }
            RssProbe::PollVmHwm => Command::new(program),
        };
        cmd.args(args)
            .env_remove("BLOCKSTORE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let mut hwm_kib = 0u64;
        let status = match self {
            RssProbe::GnuTime(_) => child.wait().expect("waiting for the child"),
            RssProbe::PollVmHwm => {
                let status_file = format!("/proc/{}/status", child.id());
                loop {
                    if let Ok(text) = fs::read_to_string(&status_file) {
                        if let Some(kib) = text
                            .lines()
                            .find_map(|l| l.strip_prefix("VmHWM:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                        {
                            hwm_kib = hwm_kib.max(kib);
                        }
                    }
                    if let Some(status) = child.try_wait().expect("polling the child") {
                        break status;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let elapsed = start.elapsed().as_secs_f64();
        assert!(
            status.success(),
            "{cmd:?} failed ({status}):\n{}",
            fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        if let RssProbe::GnuTime(_) = self {
            hwm_kib = fs::read_to_string(&rss_path)
                .ok()
                .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
                .expect("GNU time wrote the peak RSS");
        }
        (
            elapsed,
            hwm_kib * 1024,
            fs::read_to_string(&stdout_path).unwrap_or_default(),
        )
    }
}

pub fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

// ---------------------------------------------------------------------------
// The machine

pub fn machine(work: &Path) -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let work = fs::canonicalize(work).unwrap_or_else(|_| work.to_path_buf());
    let fs_type = fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|t| {
            t.lines()
                .filter_map(|l| {
                    let mut f = l.split_whitespace();
                    let (dev, point, kind) = (f.next()?, f.next()?, f.next()?);
                    work.starts_with(point)
                        .then(|| (point.len(), format!("{kind} ({dev} on {point})")))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, s)| s)
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{cores} cores, {cpu}, {mem} RAM, scratch on {fs_type}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews times.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
