//! Figures of the REST issue, measured on the release binary as a user runs it:
//!
//! 1. Start-up: from spawning `blockstore serve` on a 100,000-unit store to its
//!    first 200 on `/api/v1/health` (target ≤ 200 ms), and the idle RSS after
//!    start (target ≤ 50 MB).
//! 2. `wrk` on loopback, 2 threads, 32 connections, 10 s: `GET raw` of a 4 KB
//!    unit (target ≥ 15,000 req/s, p99 ≤ 10 ms), and the same bytes from
//!    `python3 -m http.server` for a ratio.
//! 3. A page of 100 files from the 100,000-file collection (target p50 ≤ 5 ms),
//!    with `wrk` on one connection.
//!    With Debian's `nginx` installed, the same bytes from nginx too (the
//!    issue 17 reference: `GET raw` ≥ 0.5× nginx). `--raw-only` runs only
//!    this figure, on the sample course plus the 4 KB unit.
//! 4. Reads during an import (issue 17): `wrk -t1 -c16 -d5s` on `GET raw` of a
//!    unit, idle, then while the same server imports a 10,000-file `.tar.gz`
//!    (`POST …/import?publish=true`, sent with curl); goal: p99 during the
//!    import ≤ 2× the idle p99. `--reads-under-import` runs only this one, on
//!    the sample course, and `--bin PATH` measures another build's binary.
//!
//! 5. The demo course over REST (issue 17): `benches/demo_rest.py` (Python's
//!    `http.client`, one keep-alive connection) writes it one PUT per file,
//!    publishes, and reads it back one GET per file, 3 runs on a fresh server;
//!    goals ≤ 0.36 s and ≤ 0.22 s (100× the original Blockstore's 35.6 s and
//!    22.3 s). Beside it, the floor a durable PUT cannot go under here: one
//!    bare SQLite commit on the data dir's filesystem plus one request that
//!    does nothing, times the files. `--demo-rest` runs only this one (needs `python3` and
//!    `../shared/fixtures`).
//!
//! 6. Concurrent writers (issue 17's group commit): `wrk` PUTs of new small
//!    units (a distinct path and body per request, Lua script) for 5 s on 1
//!    connection, then on 16: with group commit the 16 share commits, so
//!    their rate is a multiple of the one's instead of the same fsync-bound
//!    rate. `--concurrent-puts` runs only this one (`--bin` for another build).
//!
//! 7. The original Blockstore's workload over the v1 API (issue 18):
//!    `benches/v1_rest.py` creates a collection, a bundle and a draft, PATCHes
//!    every file of the demo course one per request (base64 JSON), commits,
//!    and reads every file back through the version's file URLs, 3 runs on a
//!    fresh server started with `--v1-token`; goals ≤ 0.35 s to write and
//!    ≤ 0.22 s to read (100× the original's 35.4 s and 22.3 s; its commit
//!    took 0.22 s). `--v1-rest` runs only this one (needs `python3` and
//!    `../shared/fixtures`).
//!
//! Run with `cargo bench --bench server` (needs `wrk`: `apt-get install wrk`;
//! without it the wrk figures are reported as skipped). Prints a Markdown
//! table on stdout, progress on stderr. Nothing is asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::http;
mod shared_store;
// The tests' Garage: a real S3-compatible object store on loopback.
#[allow(dead_code)]
#[path = "../tests/it/garage.rs"]
mod garage;
// The tests' PostgreSQL: a throwaway cluster on a Unix socket.
#[path = "../tests/it/postgres.rs"]
#[allow(dead_code, unused_imports)]
mod postgres;

fn release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release")
}

fn build() -> (PathBuf, PathBuf) {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--bin",
            "blockstore",
            "--example",
            "gen_olx",
            "--example",
            "raw_floor",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release build works");
    let dir = release_dir();
    (dir.join("blockstore"), dir.join("examples").join("gen_olx"))
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits (up to 2 s) until a server just started answers `path` on `addr`.
fn wait_until_serving(addr: &str, path: &str) {
    for _ in 0..200 {
        if http(addr, path).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn put(addr: &str, path: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

struct Serving {
    running: common::Running,
    addr: String,
    started: Instant,
}

fn serve(bin: &Path, data: &Path) -> Serving {
    serve_with(bin, data, &[])
}

/// [`serve`] with more `serve` options.
fn serve_with(bin: &Path, data: &Path, extra: &[&str]) -> Serving {
    serve_env(bin, data, extra, &[])
}

/// [`serve_with`] with more environment (an object store's credentials).
fn serve_env(bin: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serving {
    let started = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir")
        .arg(data)
        .args(["--json", "serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .envs(env.iter().copied());
    let running = common::Running::start(cmd);
    let addr = running.url().trim_start_matches("http://").to_string();
    Serving {
        running,
        addr,
        started,
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// (requests/s, p50 ms, p99 ms) from `wrk --latency`.
fn wrk(url: &str, threads: u32, connections: u32, seconds: u32) -> Option<(f64, f64, f64)> {
    wrk_with(url, threads, connections, seconds, None)
}

/// [`wrk`], its requests made by a Lua `script` when given.
fn wrk_with(
    url: &str,
    threads: u32,
    connections: u32,
    seconds: u32,
    script: Option<&Path>,
) -> Option<(f64, f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        &format!("-t{threads}"),
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd.arg(url).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let pct = |p: &str| -> Option<f64> {
        let v = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(p))?
            .split_whitespace()
            .nth(1)?
            .to_string();
        let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic())?);
        let num: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => num / 1000.0,
            "ms" => num,
            "s" => num * 1000.0,
            _ => return None,
        })
    };
    let errors = text.contains("Non-2xx") || text.contains("Socket errors");
    if errors {
        eprintln!("  wrk reported errors:\n{text}");
    }
    Some((rate, pct("50%")?, pct("99%")?))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (mut bin, gen) = build();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bin") {
        bin = PathBuf::from(args.get(i + 1).expect("--bin PATH"));
    }
    let work = tempfile::tempdir().expect("a scratch dir");
    if args.iter().any(|a| a == "--raw-only") {
        let s = sample_server(&bin, work.path(), "big");
        let unit = unit_4k();
        assert!(matches!(
            put(
                &s.addr,
                "/api/v1/collections/big/raw/html/bench4k.html",
                &unit
            ),
            200 | 201
        ));
        let url = format!(
            "http://{}/api/v1/collections/big/raw/html/bench4k.html",
            s.addr
        );
        for (what, target, measured, met) in raw_against_nginx(&url, &unit, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--concurrent-puts") {
        let s = sample_server(&bin, work.path(), "sample");
        for (what, target, measured, met) in concurrent_puts(&s, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--demo-rest") {
        for (what, target, measured, met) in demo_rest(&bin, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--objects") {
        for (what, target, measured, met) in objects(&bin, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--shared-demo") {
        for (what, target, measured, met) in shared_store::shared_demo(&bin, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--shared") {
        for (what, target, measured, met) in shared_store::shared(&bin, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--v1-rest") {
        for (what, target, measured, met) in v1_rest(&bin, work.path()) {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    if args.iter().any(|a| a == "--reads-under-import") {
        let s = sample_server(&bin, work.path(), "sample");
        for (what, target, measured, met) in
            reads_under_import(&s, &gen, work.path(), "sample", "html/html_welcome.html")
        {
            println!("| {what} | {target} | {measured} | {met} |");
        }
        return;
    }
    let tree = work.path().join("tree");
    let data = work.path().join("data");
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut row = |what: &str, target: &str, measured: String, met: Option<bool>| {
        eprintln!("  {what}: {measured}");
        rows.push((
            what.to_string(),
            target.to_string(),
            measured,
            match met {
                Some(true) => "met".into(),
                Some(false) => "**not met**".into(),
                None => "–".into(),
            },
        ));
    };

    eprintln!("[setup] a 100,000-unit collection");
    let status = Command::new(&gen)
        .args(["--units", "100000", "--assets", "0"])
        .arg(&tree)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(&bin)
        .arg("--data-dir")
        .arg(&data)
        .args(["import"])
        .arg(&tree)
        .args(["--collection", "big", "--publish"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    eprintln!("[1] start-up and idle RSS");
    let mut starts = Vec::new();
    let mut rss = 0;
    for _ in 0..5 {
        let s = serve(&bin, &data);
        loop {
            if let Some((200, _)) = http(&s.addr, "/api/v1/health") {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        starts.push(s.started.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_secs(1));
        rss = rss.max(rss_kb(s.running.child.id()));
    }
    let start = median(&mut starts);
    row(
        "process start to first 200 on /api/v1/health, 100,000-unit store (median of 5)",
        "≤ 200 ms",
        format!("{start:.1} ms"),
        Some(start <= 200.0),
    );
    row(
        "idle RSS 1 s after start (max of 5, VmRSS)",
        "≤ 50 MB",
        format!("{:.1} MB", rss as f64 / 1024.0),
        Some(rss as f64 / 1024.0 <= 50.0),
    );

    let s = serve(&bin, &data);
    let unit = unit_4k();
    assert!(matches!(
        put(
            &s.addr,
            "/api/v1/collections/big/raw/html/bench4k.html",
            &unit
        ),
        200 | 201
    ));
    let raw_url = format!(
        "http://{}/api/v1/collections/big/raw/html/bench4k.html",
        s.addr
    );
    let have_wrk = Command::new("wrk").arg("--version").output().is_ok();
    if !have_wrk {
        row(
            "wrk figures",
            "–",
            "skipped: wrk is not installed (apt-get install wrk)".into(),
            None,
        );
    } else {
        eprintln!("[2] GET raw of a 4 KB unit, wrk -t2 -c32 -d10s");
        if let Some((rate, _p50, p99)) = wrk(&raw_url, 2, 32, 10) {
            row(
                "`GET raw` 4 KB unit: requests/s",
                "≥ 15,000",
                format!("{rate:.0}"),
                Some(rate >= 15_000.0),
            );
            row(
                "`GET raw` 4 KB unit: p99 latency",
                "≤ 10 ms",
                format!("{p99:.2} ms"),
                Some(p99 <= 10.0),
            );
            // The same bytes from a static file server.
            let static_dir = work.path().join("static");
            std::fs::create_dir_all(&static_dir).unwrap();
            std::fs::write(static_dir.join("bench4k.html"), &unit).unwrap();
            let port = free_port();
            let mut py = Command::new("python3")
                .args([
                    "-m",
                    "http.server",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                ])
                .current_dir(&static_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 http.server starts");
            let py_addr = format!("127.0.0.1:{port}");
            wait_until_serving(&py_addr, "/bench4k.html");
            if let Some((py_rate, _, py_p99)) =
                wrk(&format!("http://{py_addr}/bench4k.html"), 2, 32, 10)
            {
                row(
                    "`python3 -m http.server`, same 4 KB file: requests/s (p99)",
                    "–",
                    format!("{py_rate:.0} ({py_p99:.2} ms)"),
                    None,
                );
                row(
                    "blockstore / http.server throughput",
                    "–",
                    format!("{:.1}×", rate / py_rate),
                    None,
                );
            }
            let _ = py.kill();
            let _ = py.wait();
            for (what, target, measured, met) in raw_against_nginx(&raw_url, &unit, work.path()) {
                let met = match met.as_str() {
                    "met" => Some(true),
                    "–" => None,
                    _ => Some(false),
                };
                row(&what, &target, measured, met);
            }
        }
        eprintln!("[3] a page of 100 files from 100,000, wrk -t1 -c1 -d5s");
        let page_url = format!(
            "http://{}/api/v1/collections/big/files?page=500&page_size=100",
            s.addr
        );
        let (status, body) = http(
            &s.addr,
            "/api/v1/collections/big/files?page=500&page_size=100",
        )
        .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        if let Some((_, p50, p99)) = wrk(&page_url, 1, 1, 5) {
            row(
                "page of 100 files (page 500) from 100,000: p50 (p99)",
                "p50 ≤ 5 ms",
                format!("{p50:.2} ms ({p99:.2} ms)"),
                Some(p50 <= 5.0),
            );
        }
    }
    if have_wrk {
        eprintln!("[4] reads during a 10,000-file import");
        for (what, target, measured, met) in
            reads_under_import(&s, &gen, work.path(), "big", "html/bench4k.html")
        {
            rows.push((what, target, measured, met));
        }
    }
    drop(s);
    println!("| measure | target | measured | met? |\n|---|---|---|---|");
    for (what, target, measured, met) in rows {
        println!("| {what} | {target} | {measured} | {met} |");
    }
}

/// Figure 4: `GET raw` of `path` under 16 connections, idle and while the
/// server imports a 10,000-file archive into a new collection.
fn reads_under_import(
    s: &Serving,
    gen: &Path,
    work: &Path,
    slug: &str,
    path: &str,
) -> Vec<(String, String, String, String)> {
    let tree = work.join("import10k");
    let archive = work.join("import10k.tar.gz");
    let status = Command::new(gen)
        .args(["--units", "10000", "--assets", "0"])
        .arg(&tree)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let url = format!("http://{}/api/v1/collections/{slug}/raw/{path}", s.addr);
    let Some((_, idle50, idle99)) = wrk(&url, 1, 16, 5) else {
        return vec![];
    };
    let mut import = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total}",
            "-X",
            "POST",
        ])
        .args(["-H", "Content-Type: application/gzip", "--data-binary"])
        .arg(format!("@{}", archive.display()))
        .arg(format!(
            "http://{}/api/v1/collections/imported/import?publish=true",
            s.addr
        ))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    std::thread::sleep(Duration::from_millis(300));
    let during = wrk(&url, 1, 16, 5);
    let mut answer = String::new();
    import
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut answer)
        .unwrap();
    import.wait().unwrap();
    eprintln!("  import: {answer}");
    let Some((_, busy50, busy99)) = during else {
        return vec![];
    };
    vec![
        (
            "`GET raw`, 16 connections, idle: p50 / p99".into(),
            "–".into(),
            format!("{idle50:.2} / {idle99:.2} ms"),
            "–".into(),
        ),
        (
            "the same while the server imports a 10,000-file archive: p50 / p99 (import: HTTP status, seconds)".into(),
            "p99 ≤ 2× idle".into(),
            format!("{busy50:.2} / {busy99:.2} ms ({:.1}× idle; import {answer})", busy99 / idle99),
            if busy99 <= 2.0 * idle99 { "met".into() } else { "**not met**".into() },
        ),
    ]
}

/// A 4,096-byte HTML unit.
fn unit_4k() -> Vec<u8> {
    let mut v = b"<html><body>".to_vec();
    while v.len() < 4096 - 14 {
        v.extend_from_slice(b"<p>lorem ipsum dolor sit amet</p>\n");
    }
    v.truncate(4096 - 14);
    v.extend_from_slice(b"</body></html>");
    assert_eq!(v.len(), 4096);
    v
}

/// `GET raw` of the unit at `url` and the same bytes from nginx (when Debian's
/// `nginx` is installed; `worker_processes auto`, access log off), each
/// `wrk -t2 -c32 -d10s`, and the ratio.
fn raw_against_nginx(url: &str, unit: &[u8], work: &Path) -> Vec<(String, String, String, String)> {
    let Some((rate, _, p99)) = wrk(url, 2, 32, 10) else {
        return vec![];
    };
    let mut rows = vec![(
        "`GET raw` 4 KB unit, wrk -t2 -c32: requests/s (p99)".to_string(),
        "p99 ≤ 5 ms".to_string(),
        format!("{rate:.0} ({p99:.2} ms)"),
        if p99 <= 5.0 {
            "met".into()
        } else {
            "**not met**".into()
        },
    )];
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(nginx) = nginx else {
        rows.push((
            "nginx, same bytes".into(),
            "–".into(),
            "skipped: nginx is not installed (apt-get install nginx)".into(),
            "–".into(),
        ));
        return rows;
    };
    let dir = work.join("nginx");
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/bench4k.html"), unit).unwrap();
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\ndaemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let mut server = Command::new(&nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let addr = format!("127.0.0.1:{port}");
    wait_until_serving(&addr, "/bench4k.html");
    if let Some((ngx_rate, _, ngx_p99)) = wrk(&format!("http://{addr}/bench4k.html"), 2, 32, 10) {
        rows.push((
            "nginx, same bytes: requests/s (p99)".into(),
            "–".into(),
            format!("{ngx_rate:.0} ({ngx_p99:.2} ms)"),
            "–".into(),
        ));
        rows.push((
            "blockstore / nginx throughput".into(),
            "≥ 0.5×".into(),
            format!("{:.2}×", rate / ngx_rate),
            if rate / ngx_rate >= 0.5 {
                "met".into()
            } else {
                "**not met**".into()
            },
        ));
    }
    // The floor of this server stack: a minimal axum server, the same
    // runtime, the same bytes from memory (`examples/raw_floor.rs`).
    let floor_port = free_port();
    let floor_addr = format!("127.0.0.1:{floor_port}");
    let mut floor = Command::new(release_dir().join("examples/raw_floor"))
        .arg(&floor_addr)
        .arg(dir.join("www/bench4k.html"))
        .stdout(Stdio::null())
        .spawn()
        .expect("raw_floor starts");
    wait_until_serving(&floor_addr, "/bench4k.html");
    if let Some((floor_rate, _, floor_p99)) =
        wrk(&format!("http://{floor_addr}/bench4k.html"), 2, 32, 10)
    {
        rows.push((
            "floor: minimal axum, same runtime, same bytes from memory (`examples/raw_floor.rs`): requests/s (p99)".into(),
            "–".into(),
            format!("{floor_rate:.0} ({floor_p99:.2} ms)"),
            "–".into(),
        ));
        rows.push((
            "blockstore / floor throughput".into(),
            "–".into(),
            format!("{:.2}×", rate / floor_rate),
            "–".into(),
        ));
    }
    let _ = floor.kill();
    let _ = floor.wait();
    // nginx's workers outlive a killed master: ask the master to stop them
    // (`-s stop`, SIGTERM), and kill it only if it does not.
    let stopped = Command::new(&nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&dir)
        .args(["-s", "stop"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !stopped {
        let _ = server.kill();
    }
    let _ = server.wait();
    rows
}

/// A server on a fresh data dir holding the sample course as `slug`, published.
fn sample_server(bin: &Path, work: &Path, slug: &str) -> Serving {
    let data = work.join("small");
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sample-course");
    let status = Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .arg("import")
        .arg(&sample)
        .args(["--collection", slug, "--publish"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    serve(bin, &data)
}

/// Runs a Python bench script and parses the JSON object it prints.
fn python_report(script: &Path, args: &[String]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A report's list of per-run seconds under `key`.
fn runs_of(report: &serde_json::Value, key: &str) -> Vec<f64> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// Per-run seconds as the table lists them.
fn listed(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The floor row of a durable-write figure: per file, one bare commit
/// (measured before and after the runs) plus one request that does nothing
/// (`requests`: their total seconds, same client).
fn floor_row(
    what: &str,
    before_ms: f64,
    after_ms: f64,
    requests: f64,
    files: u64,
) -> (String, String, String, String) {
    let f = files as f64;
    (
        format!("floor: per file, one bare SQLite commit (WAL, FULL, settled; median of 200) + {what}"),
        "–".into(),
        format!(
            "({before_ms:.2} ms before the runs, {after_ms:.2} ms after + {:.2} ms) × {files} = {:.3} s to {:.3} s",
            requests * 1000.0 / f,
            before_ms.min(after_ms) * f / 1000.0 + requests,
            before_ms.max(after_ms) * f / 1000.0 + requests
        ),
        "–".into(),
    )
}

/// Figure 5: the demo course over REST, and the fsync floor beside it.
fn demo_rest(bin: &Path, work: &Path) -> Vec<(String, String, String, String)> {
    let data = work.join("demo-rest");
    let s = serve(bin, &data);
    demo_rest_on(&s, &data)
}

/// [`demo_rest`] on a server already started on the empty store in `data`.
fn demo_rest_on(s: &Serving, data: &Path) -> Vec<(String, String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = root.join("../shared/fixtures/openedx-demo-course/demo-course/course");
    assert!(tree.is_dir(), "needs {}", tree.display());
    // This VM's disk flushes in 0.2 ms or in 4 ms, by the minute: the floor
    // is taken before and after the runs.
    let commit_before = commit_probe(data);
    while http(&s.addr, "/api/v1/health").map(|r| r.0) != Some(200) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = python_report(
        &root.join("benches/demo_rest.py"),
        &[
            format!("http://{}", s.addr),
            tree.display().to_string(),
            "--runs".into(),
            "3".into(),
        ],
    );
    let files = report["files"].as_u64().unwrap();
    let (mut put, mut get) = (runs_of(&report, "put_publish"), runs_of(&report, "get"));
    let (put_all, get_all) = (listed(&put), listed(&get));
    let (put_median, get_median) = (median(&mut put), median(&mut get));
    let mut health = runs_of(&report, "health");
    let health_median = median(&mut health);
    let commit_after = commit_probe(data);
    let met = |ok: bool| if ok { "met" } else { "**not met**" }.to_string();
    vec![
        (
            format!("demo course ({files} files), one PUT per file + publish, http.client, median of 3 (runs)"),
            "≤ 0.36 s".into(),
            format!("{put_median:.3} s ({put_all}); {:.0}× the original Blockstore's 35.6 s", 35.6 / put_median),
            met(put_median <= 0.36),
        ),
        floor_row(
            "one request that does nothing (GET /api/v1/health, same client)",
            commit_before,
            commit_after,
            health_median,
            files,
        ),
        (
            "demo course read back, one GET per file, same client, median of 3 (runs)".to_string(),
            "≤ 0.22 s".into(),
            format!("{get_median:.3} s ({get_all}); {:.0}× the original's 22.3 s", 22.3 / get_median),
            met(get_median <= 0.22),
        ),
    ]
}

/// Figure 7: the original Blockstore's workload over the v1 API.
fn v1_rest(bin: &Path, work: &Path) -> Vec<(String, String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = root.join("../shared/fixtures/openedx-demo-course/demo-course/course");
    assert!(tree.is_dir(), "needs {}", tree.display());
    let data = work.join("v1-rest");
    let key = "bench-key";
    let s = serve_with(bin, &data, &["--v1-token", key]);
    let commit_before = commit_probe(&data);
    while http(&s.addr, "/api/v1/health").map(|r| r.0) != Some(200) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = python_report(
        &root.join("benches/v1_rest.py"),
        &[
            format!("http://{}", s.addr),
            tree.display().to_string(),
            key.into(),
            "--runs".into(),
            "3".into(),
        ],
    );
    let files = report["files"].as_u64().unwrap();
    let runs = |key: &str| runs_of(&report, key);
    let (mut write, mut commit, mut read) = (runs("write"), runs("commit"), runs("read"));
    let (write_all, commit_all, read_all) = (listed(&write), listed(&commit), listed(&read));
    let (write, commit, read) = (median(&mut write), median(&mut commit), median(&mut read));
    let index = median(&mut runs("index"));
    let commit_after = commit_probe(&data);
    let met = |ok: bool| if ok { "met" } else { "**not met**" }.to_string();
    vec![
        (
            format!(
                "v1: demo course ({files} files), one base64 PATCH per file, median of 3 (runs)"
            ),
            "≤ 0.35 s".into(),
            format!(
                "{write:.3} s ({write_all}); {:.0}× the original Blockstore's 35.4 s",
                35.4 / write
            ),
            met(write <= 0.35),
        ),
        floor_row(
            "one authenticated request that does nothing (GET of the v1 index, same client)",
            commit_before,
            commit_after,
            index,
            files,
        ),
        (
            "v1: commit of that draft".into(),
            "– (the original: 0.22 s)".into(),
            format!(
                "{:.1} ms ({commit_all}); {:.0}× the original's",
                commit * 1000.0,
                0.22 / commit
            ),
            "–".into(),
        ),
        (
            "v1: read back, the version then every file URL".into(),
            "≤ 0.22 s".into(),
            format!(
                "{read:.3} s ({read_all}); {:.0}× the original's 22.3 s",
                22.3 / read
            ),
            met(read <= 0.22),
        ),
    ]
}

/// Figure 6: PUTs/s of new small units from 1 and from 16 connections.
fn concurrent_puts(s: &Serving, work: &Path) -> Vec<(String, String, String, String)> {
    let script = work.join("puts.lua");
    std::fs::write(
        &script,
        r#"counter = 0
request = function()
  counter = counter + 1
  local id = tostring(math.random(1, 1000000000)) .. "-" .. counter
  return wrk.format("PUT", "/api/v1/collections/sample/raw/html/w" .. id .. ".html", nil, "<p>" .. id .. "</p>")
end
"#,
    )
    .unwrap();
    let url = format!("http://{}/", s.addr);
    let run = |connections: u32| {
        wrk_with(&url, 1, connections, 5, Some(&script))
            .expect("wrk runs")
            .0
    };
    let one = run(1);
    let sixteen = run(16);
    vec![
        (
            "PUT of a new small unit, 1 connection (wrk, 5 s)".into(),
            "–".into(),
            format!("{one:.0} req/s"),
            "–".into(),
        ),
        (
            "the same from 16 connections (group commit shares their syncs)".into(),
            "> 1 connection's rate".into(),
            format!("{sixteen:.0} req/s ({:.1}× one connection)", sixteen / one),
            if sixteen > one { "met" } else { "**not met**" }.into(),
        ),
    ]
}

/// The median of 200 bare SQLite commits (WAL, synchronous=FULL, a 3 KB
/// row each, after 1,200 to settle the WAL) in `dir`, in ms: what one
/// durable write cannot go under here.
fn commit_probe(dir: &Path) -> f64 {
    std::fs::create_dir_all(dir).unwrap();
    let probe = dir.join("commit-probe.db");
    let conn = rusqlite::Connection::open(&probe).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute("CREATE TABLE t (b BLOB)", []).unwrap();
    // Past the WAL's first checkpoint (1,000 pages), frames overwrite a
    // WAL file of settled size, as in a store that has been written to.
    let mut commits = Vec::new();
    for n in 0..1400 {
        let t = Instant::now();
        conn.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
            .unwrap();
        if n >= 1200 {
            commits.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", probe.display()));
    }
    median(&mut commits)
}

/// Issue 20's contents figures, embedded blob files against contents in a
/// real Garage on loopback (same machine, same run): `GET raw` p50 (`wrk
/// -t1 -c1 -d5s`) of a 4 KB unit (inline in the index for both: the same
/// path) and of a 1 MiB asset (a file, or an object), and the demo course
/// written over REST one PUT per file + publish (needs `../shared`).
fn objects(bin: &Path, work: &Path) -> Vec<(String, String, String, String)> {
    let g = garage::garage();
    let env = g.env();
    let mut rows = Vec::new();
    let mut p50 = std::collections::BTreeMap::new();
    let mut demo = std::collections::BTreeMap::new();
    let asset: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for backend in ["files", "Garage", "Garage, cache off"] {
        let data = work.join(format!("objects-{}", backend.replace([',', ' '], "")));
        let url = g.contents_url("bench");
        let extra: Vec<&str> = match backend {
            "files" => Vec::new(),
            _ => vec!["--contents", &url],
        };
        let mut env = env.to_vec();
        if backend.ends_with("cache off") {
            env.push(("BLOCKSTORE_CONTENTS_CACHE_MB", "0"));
        }
        let created = Command::new(bin)
            .arg("--data-dir")
            .arg(&data)
            .args(&extra)
            .args(["collections", "create", "bench"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success());
        let s = serve_env(bin, &data, &[], &env);
        let c = "/api/v1/collections";
        assert!(matches!(
            put(&s.addr, &format!("{c}/bench/raw/html/u.html"), &unit_4k()),
            200 | 201
        ));
        assert!(matches!(
            put(&s.addr, &format!("{c}/bench/raw/static/a.bin"), &asset),
            200 | 201
        ));
        for (what, path) in [
            ("4 KB unit", "html/u.html"),
            ("1 MiB asset", "static/a.bin"),
        ] {
            let url = format!("http://{}{c}/bench/raw/{path}", s.addr);
            if let Some((rate, p50_ms, p99_ms)) = wrk(&url, 1, 1, 5) {
                eprintln!(
                    "  {backend} {what}: {rate:.0} req/s, p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms"
                );
                p50.insert((what, backend), (p50_ms, p99_ms, rate));
            }
        }
        drop(s);
        if backend.ends_with("cache off") {
            continue;
        }
        let demo_data = work.join(format!("demo-{backend}"));
        let s = serve_env(bin, &demo_data, &extra, &env);
        let row = demo_rest_on(&s, &demo_data).remove(0);
        demo.insert(backend, row.2);
    }
    for (what, backend) in [
        ("4 KB unit", "Garage"),
        ("1 MiB asset", "Garage"),
        ("1 MiB asset", "Garage, cache off"),
    ] {
        let (Some(files), Some(objects)) = (p50.get(&(what, "files")), p50.get(&(what, backend)))
        else {
            continue;
        };
        rows.push((
            format!(
                "`GET raw` p50 of a {what}, contents in {backend} vs blob files (wrk -t1 -c1 -d5s)"
            ),
            "≤ 2× the embedded store's".into(),
            format!(
                "{:.3} ms vs {:.3} ms ({:.2}×); p99 {:.2} vs {:.2} ms; {:.0} vs {:.0} req/s",
                objects.0,
                files.0,
                objects.0 / files.0,
                objects.1,
                files.1,
                objects.2,
                files.2
            ),
            if objects.0 <= 2.0 * files.0 {
                "met".into()
            } else {
                "**not met**".into()
            },
        ));
    }
    // The demo course imported from its folder by the CLI (one transaction;
    // its large files uploaded before it commits), median of 3.
    let tree = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/openedx-demo-course/demo-course/course");
    let mut imports = Vec::new();
    for backend in ["files", "Garage"] {
        let mut runs = Vec::new();
        for run in 0..3 {
            let data = work.join(format!("import-{}-{run}", backend.to_lowercase()));
            let url = g.contents_url("import");
            let mut cmd = Command::new(bin);
            cmd.arg("--data-dir").arg(&data);
            if backend == "Garage" {
                cmd.args(["--contents", &url]);
            }
            let started = Instant::now();
            let status = cmd
                .arg("import")
                .arg(&tree)
                .args(["-c", "demo"])
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            runs.push(started.elapsed().as_secs_f64());
        }
        let all = listed(&runs);
        imports.push((backend, median(&mut runs), all));
    }
    if let [(_, files, files_all), (_, objects, objects_all)] = imports.as_slice() {
        rows.push((
            "`blockstore import` of the demo course folder (800 files, 78 over 16 KiB), median of 3".into(),
            "–".into(),
            format!(
                "Garage {objects:.3} s ({objects_all}) vs files {files:.3} s ({files_all}): {:.2}×",
                objects / files
            ),
            "–".into(),
        ));
    }
    for (backend, measured) in demo {
        rows.push((
            format!("demo course, one PUT per file + publish, median of 3, contents: {backend}"),
            "≤ 3× the embedded store's (with PostgreSQL too)".into(),
            measured,
            "–".into(),
        ));
    }
    rows
}
