//! Issue 20's figures: a store shared by instances on one PostgreSQL index
//! and one Garage bucket prefix, against the embedded store, same run
//! (`cargo bench --bench server -- --shared`).
//!
//! - `GET raw` p50 and the demo course written over REST + publish, one
//!   instance on PostgreSQL + Garage vs the embedded store;
//! - three instances, 16 REST clients spread over them: every acknowledged
//!   write found afterwards, `If-Match` chains without a lost update, fsck
//!   clean;
//! - one instance killed with SIGKILL during a publish loop: the other two
//!   answer every request meanwhile, and nothing is half-published.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Row = (String, String, String, String);

/// A request's status, `ETag` and body (`Connection: close`).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new(), Vec::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err() {
        return (0, String::new(), Vec::new());
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let etag = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("etag")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    (
        status,
        etag,
        raw.get(split + 4..).unwrap_or_default().to_vec(),
    )
}

/// The paths [`raw_p50`] reads: a 4 KB unit and a 1 MiB asset.
const RAW_PATHS: [&str; 2] = ["html/u.html", "static/a.bin"];

/// Writes the files of [`RAW_PATHS`] into a new collection on `s`.
fn raw_files(s: &Serving) {
    let c = "/api/v1/collections";
    let asset: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert_eq!(
        request(
            &s.addr,
            "POST",
            c,
            "Content-Type: application/json\r\n",
            br#"{"slug":"bench"}"#
        )
        .0,
        201
    );
    assert!(matches!(
        put(
            &s.addr,
            &format!("{c}/bench/raw/{}", RAW_PATHS[0]),
            &unit_4k()
        ),
        200 | 201
    ));
    assert!(matches!(
        put(&s.addr, &format!("{c}/bench/raw/{}", RAW_PATHS[1]), &asset),
        200 | 201
    ));
}

/// `wrk`'s p50 of `GET raw` of `path` on `s`, over 3 s.
fn raw_p50(s: &Serving, label: &str, path: &str) -> f64 {
    let url = format!("http://{}/api/v1/collections/bench/raw/{path}", s.addr);
    let (rate, p50, p99) = wrk(&url, 1, 1, 3).expect("wrk runs");
    eprintln!("  {label} {path}: {rate:.0} req/s, p50 {p50:.3} ms, p99 {p99:.3} ms");
    p50
}

pub fn shared(bin: &Path, work: &Path) -> Vec<Row> {
    let g = garage::garage();
    let env = g.env();
    let pg = postgres::postgres();
    let mut rows = Vec::new();
    let shared_args = |name: &str| -> Vec<String> {
        vec![
            "--index".into(),
            pg.new_database(),
            "--contents".into(),
            g.contents_url(name),
        ]
    };

    // One instance each, side by side, the runs alternating (as the demo
    // course's, below): GET raw, median of three 3-second wrk runs.
    const ROUNDS: usize = 3;
    let embedded = serve_env(bin, &work.join("raw-embedded"), &[], &env);
    let args = shared_args("raw");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let on_pg = serve_env(bin, &work.join("raw-shared"), &args, &env);
    raw_files(&embedded);
    raw_files(&on_pg);
    for (what, path) in ["4 KB unit", "1 MiB asset"].iter().zip(RAW_PATHS) {
        let (mut e, mut s) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            e.push(raw_p50(&embedded, "embedded", path));
            s.push(raw_p50(&on_pg, "PostgreSQL + Garage", path));
        }
        let (e_all, s_all) = (listed(&e), listed(&s));
        let (e, s) = (median(&mut e), median(&mut s));
        rows.push((
            format!("`GET raw` p50 of a {what}, PostgreSQL + Garage vs the embedded store (wrk -t1 -c1 -d3s, median of {ROUNDS} alternating runs)"),
            "≤ 2× the embedded store's".into(),
            format!("{s:.3} ms vs {e:.3} ms ({:.2}×; runs {s_all} vs {e_all})", s / e),
            if s <= 2.0 * e { "met" } else { "**not met**" }.into(),
        ));
    }
    drop(embedded);
    drop(on_pg);
    rows.extend(demo(bin, work, &shared_args("demo"), &env));
    rows.extend(migrate(bin, work, &shared_args, &env));
    rows.extend(three_instances(bin, work, &shared_args("three"), &env));
    rows
}

/// The demo course written over REST and published, one instance on
/// PostgreSQL + Garage against the embedded store. Both servers run side by
/// side and the runs alternate (one warm-up each, then embedded, shared,
/// embedded, …): this disk's flush time changes by the minute, and runs
/// taken minutes apart compared its two speeds, not the two stores.
fn demo(bin: &Path, work: &Path, args: &[String], env: &[(&str, &str)]) -> Vec<Row> {
    const RUNS: usize = 5;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = root.join("../shared/fixtures/openedx-demo-course/demo-course/course");
    assert!(tree.is_dir(), "needs {}", tree.display());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let embedded = serve_env(bin, &work.join("demo-embedded"), &[], env);
    let shared = serve_env(bin, &work.join("demo-shared"), &args, env);
    for s in [&embedded, &shared] {
        while http(&s.addr, "/api/v1/health").map(|r| r.0) != Some(200) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let run = |s: &Serving| {
        let report = python_report(
            &root.join("benches/demo_rest.py"),
            &[
                format!("http://{}", s.addr),
                tree.display().to_string(),
                "--runs".into(),
                "1".into(),
            ],
        );
        runs_of(&report, "put_publish")[0]
    };
    let (warm_e, warm_s) = (run(&embedded), run(&shared));
    let (mut e, mut s) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        e.push(run(&embedded));
        s.push(run(&shared));
    }
    eprintln!(
        "  demo course: warm-up {warm_e:.3} s embedded, {warm_s:.3} s shared; runs embedded {}, shared {}",
        listed(&e),
        listed(&s)
    );
    let (e, s) = (median(&mut e), median(&mut s));
    vec![(
        format!("demo course, one PUT per file + publish (http.client, median of {RUNS} alternating runs after one warm-up), PostgreSQL + Garage vs embedded"),
        "≤ 3× the embedded store's".into(),
        format!("{s:.3} s vs {e:.3} s ({:.2}×)", s / e),
        if s <= 3.0 * e { "met" } else { "**not met**" }.into(),
    )]
}

/// Only the demo course figure (`--shared-demo`): what a change to the
/// write path moves.
pub fn shared_demo(bin: &Path, work: &Path) -> Vec<Row> {
    let g = garage::garage();
    let pg = postgres::postgres();
    let args = vec![
        "--index".into(),
        pg.new_database(),
        "--contents".into(),
        g.contents_url("demo"),
    ];
    demo(bin, work, &args, &g.env())
}

/// `migrate` of the demo course store (imported from its folder and
/// published, embedded) into a new database and bucket prefix, median of 3;
/// beside it, `cp -r` of the same data dir: the floor of moving its bytes
/// on this disk (the move also hashes them and sends them over loopback).
fn migrate(
    bin: &Path,
    work: &Path,
    shared_args: &dyn Fn(&str) -> Vec<String>,
    env: &[(&str, &str)],
) -> Vec<Row> {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/openedx-demo-course/demo-course/course");
    let (mut moves, mut copies) = (Vec::new(), Vec::new());
    let mut report = serde_json::Value::Null;
    for run in 0..3 {
        let data = work.join(format!("migrate-{run}"));
        let imported = Command::new(bin)
            .arg("--data-dir")
            .arg(&data)
            .args(["--json", "import"])
            .arg(&tree)
            .args(["-c", "demo", "--publish", "-m", "demo"])
            .envs(env.iter().copied())
            .output()
            .expect("blockstore import runs");
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let copy = work.join(format!("migrate-{run}-cp"));
        let started = Instant::now();
        let cp = Command::new("cp")
            .arg("-r")
            .arg(&data)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(cp.success());
        copies.push(started.elapsed().as_secs_f64());
        let args = shared_args("migrate");
        let started = Instant::now();
        let moved = Command::new(bin)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--json",
                "--contents",
                &args[3],
                "migrate",
                "--to",
                &args[1],
            ])
            .envs(env.iter().copied())
            .output()
            .expect("blockstore migrate runs");
        moves.push(started.elapsed().as_secs_f64());
        assert!(
            moved.status.success(),
            "{}",
            String::from_utf8_lossy(&moved.stderr)
        );
        report = serde_json::from_slice(&moved.stdout).expect("migrate --json");
    }
    let (m, c) = (median(&mut moves), median(&mut copies));
    eprintln!("  migrate: {moves:?} s; cp -r: {copies:?} s; {report}");
    vec![(
        format!(
            "`migrate` of the demo course store ({} index rows, {} blob files) into PostgreSQL + Garage, median of 3",
            report["rows"], report["blobs_sent"]
        ),
        "≤ 5 s".into(),
        format!("{m:.3} s (`cp -r` of the data dir: {c:.3} s)"),
        if m <= 5.0 { "met" } else { "**not met**" }.into(),
    )]
}

/// Three instances, 16 clients; then a SIGKILL during a publish loop.
fn three_instances(bin: &Path, work: &Path, args: &[String], env: &[(&str, &str)]) -> Vec<Row> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = serve_env(bin, &work.join("three-0"), &args, env);
    // The others name only the index: the contents record comes from it.
    let index = &args[..2];
    let mut instances = vec![
        first,
        serve_env(bin, &work.join("three-1"), index, env),
        serve_env(bin, &work.join("three-2"), index, env),
    ];
    let c = "/api/v1/collections/team";
    let json = "Content-Type: application/json\r\n";
    assert_eq!(
        request(
            &instances[0].addr,
            "POST",
            "/api/v1/collections",
            json,
            br#"{"slug":"team"}"#
        )
        .0,
        201
    );
    assert!(matches!(
        put(
            &instances[1].addr,
            &format!("{c}/raw/html/chain.html"),
            b"0"
        ),
        200 | 201
    ));

    let addrs: Vec<String> = instances.iter().map(|s| s.addr.clone()).collect();
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, Vec<u8>)>::new()));
    let (chained, refused, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..16usize {
            let (addrs, acknowledged) = (&addrs, &acknowledged);
            let (chained, refused, failed) = (&chained, &refused, &failed);
            scope.spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let on = &addrs[(client + n as usize) % 3];
                    if n.is_multiple_of(2) {
                        // A new file, written on one instance.
                        let path = format!("{c}/raw/html/c{client}-{n}.html");
                        let body = format!("<p>{client} {n}</p>").into_bytes();
                        match request(on, "PUT", &path, "", &body).0 {
                            201 | 200 => acknowledged.lock().unwrap().push((path, body)),
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    } else {
                        // The chain: read on one instance, write the next
                        // number on another, if nobody wrote since.
                        let (status, etag, body) =
                            request(on, "GET", &format!("{c}/raw/html/chain.html"), "", b"");
                        if status != 200 {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let next: u64 = String::from_utf8_lossy(&body)
                            .trim()
                            .parse::<u64>()
                            .unwrap()
                            + 1;
                        let other = &addrs[(client + n as usize + 1) % 3];
                        match request(
                            other,
                            "PUT",
                            &format!("{c}/raw/html/chain.html"),
                            &format!("If-Match: {etag}\r\n"),
                            next.to_string().as_bytes(),
                        )
                        .0
                        {
                            200 => {
                                chained.fetch_add(1, Ordering::Relaxed);
                            }
                            412 => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let acknowledged = acknowledged.lock().unwrap().clone();
    // Every acknowledged file, read back from an instance other than the
    // writer's (round robin): the same bytes.
    let lost = acknowledged
        .iter()
        .enumerate()
        .filter(|(i, (path, body))| {
            let (status, _, got) = request(&addrs[i % 3], "GET", path, "", b"");
            status != 200 || &got != body
        })
        .count();
    let (_, _, chain) = request(
        &addrs[2],
        "GET",
        &format!("{c}/raw/html/chain.html"),
        "",
        b"",
    );
    let chain: u64 = String::from_utf8_lossy(&chain)
        .trim()
        .parse()
        .unwrap_or(u64::MAX);
    let (chained, refused, failed) = (
        chained.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let fsck = Command::new(bin)
        .arg("--data-dir")
        .arg(work.join("three-1"))
        .args(["fsck"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let mut rows = vec![(
        "three instances on one PostgreSQL + Garage, 16 REST clients for 10 s: new files on one instance, \
         an If-Match chain read on one and written on another"
            .to_string(),
        "0 lost acknowledged writes, correct 412s, fsck clean".into(),
        format!(
            "{} writes acknowledged ({:.0}/s), {lost} lost; chain at {chain} after {chained} accepted and {refused} \
             refused (412) conditional writes (a lost update would leave it below); {failed} other answers; fsck {}",
            acknowledged.len() + chained as usize,
            (acknowledged.len() as f64 + chained as f64) / elapsed,
            if fsck.status.success() { "clean" } else { "**not clean**" }
        ),
        if lost == 0 && chain == chained && failed == 0 && fsck.status.success() {
            "met"
        } else {
            "**not met**"
        }
        .into(),
    )];

    // SIGKILL during a publish loop on instance 2; instances 0 and 1 are
    // read and written meanwhile.
    let stop = AtomicBool::new(false);
    let killed_at = Mutex::new(None::<Instant>);
    let (answered, unanswered) = (AtomicU64::new(0), AtomicU64::new(0));
    let victim = instances.pop().unwrap();
    let mut published = 0u64;
    std::thread::scope(|scope| {
        for client in 0..4usize {
            let (addrs, stop, answered, unanswered) = (&addrs, &stop, &answered, &unanswered);
            scope.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let on = &addrs[client % 2];
                    let path = format!("{c}/raw/html/k{client}-{n}.html");
                    let status = request(on, "PUT", &path, "", b"<p>k</p>").0;
                    let read = request(on, "GET", &format!("{c}/files?page_size=10"), "", b"").0;
                    if matches!(status, 200 | 201) && read == 200 {
                        answered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        unanswered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let loop_started = Instant::now();
        let mut victim = Some(victim);
        while loop_started.elapsed() < Duration::from_secs(6) {
            if let Some(v) = &victim {
                let body = format!("<p>{published}</p>");
                put(&v.addr, &format!("{c}/raw/html/p.html"), body.as_bytes());
                let status = request(
                    &v.addr,
                    "POST",
                    &format!("{c}/publish"),
                    json,
                    br#"{"message":"loop"}"#,
                )
                .0;
                if status == 201 {
                    published += 1;
                }
                if loop_started.elapsed() > Duration::from_secs(2) {
                    // Mid-loop: the next publish is likely in flight on the
                    // server when the signal lands (the request goes first).
                    let v = victim.take().unwrap();
                    let addr = v.addr.clone();
                    std::thread::spawn(move || {
                        request(
                            &addr,
                            "POST",
                            "/api/v1/collections/team/publish",
                            "Content-Type: application/json\r\n",
                            br#"{"message":"cut"}"#,
                        )
                    });
                    std::thread::sleep(Duration::from_millis(2));
                    let _ = Command::new("kill")
                        .args(["-KILL", &v.running.child.id().to_string()])
                        .status();
                    *killed_at.lock().unwrap() = Some(Instant::now());
                    drop(v);
                }
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let versions = request(
        &addrs[0],
        "GET",
        &format!("{c}/versions?page_size=1000"),
        "",
        b"",
    );
    let versions: serde_json::Value = serde_json::from_slice(&versions.2).unwrap_or_default();
    let numbers: Vec<i64> = versions["results"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v["number"].as_i64()).collect())
        .unwrap_or_default();
    let contiguous = {
        let mut sorted = numbers.clone();
        sorted.sort();
        sorted.iter().enumerate().all(|(i, n)| *n == i as i64 + 1)
    };
    let fsck = Command::new(bin)
        .arg("--data-dir")
        .arg(work.join("three-0"))
        .args(["fsck"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let (answered, unanswered) = (
        answered.load(Ordering::Relaxed),
        unanswered.load(Ordering::Relaxed),
    );
    rows.push((
        "kill -9 of one of the three instances during a publish loop (6 s; 4 clients writing and listing on the other two)".into(),
        "the others answer throughout; nothing half-published".into(),
        format!(
            "{answered} write+list pairs answered, {unanswered} not; {published} publishes acknowledged before the kill, \
             {} versions after it, numbered 1..{} without a gap: {contiguous}; fsck {}",
            numbers.len(),
            numbers.len(),
            if fsck.status.success() { "clean" } else { "**not clean**" }
        ),
        if unanswered == 0 && contiguous && numbers.len() as u64 >= published && fsck.status.success() {
            "met"
        } else {
            "**not met**"
        }
        .into(),
    ));
    rows
}
