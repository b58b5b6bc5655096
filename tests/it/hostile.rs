//! The server tried as a hostile web page and a hostile client would (issue
//! 14): cross-site requests, racing writers, stalled uploads, slow-loris and
//! idle connections, odd `Host`s and broken bodies. Each test runs the real
//! binary on loopback and speaks raw HTTP/1.1, so every request arrives
//! exactly as written; each fails on the server before these fixes.

use crate::common::*;
use crate::server::{Resp, Server};
use blockstore::store::hash_bytes;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const API: &str = "/api/v1";

/// A small collection with published and unpublished work, and an archive.
fn prepared() -> Server {
    let server = Server::start(&[]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "c"}))
        .expect(201);
    server
        .put(
            &format!("{API}/collections/c/raw/html/a.html"),
            b"<p>published</p>",
        )
        .expect(201);
    server
        .json("POST", &format!("{API}/collections/c/publish"), json!({}))
        .expect(201);
    server
        .put(
            &format!("{API}/collections/c/raw/html/a.html"),
            b"<p>unpublished work</p>",
        )
        .expect(200);
    server
}

/// A .tar.gz of one file, as an archive import takes it.
fn archive() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let bytes = b"<p>from a hostile page</p>";
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "course/html/evil.html", &bytes[..])
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// Every state-changing operation of the OpenAPI document, as (method, URL)
/// with its path parameters filled in for the prepared collection.
fn state_changing_routes(server: &Server) -> Vec<(String, String)> {
    let doc = server.get(&format!("{API}/openapi.json")).expect(200);
    // A real, older save of the prepared file: its restore would change the draft.
    let revisions = server
        .get(&format!("{API}/collections/c/history/html/a.html"))
        .expect(200)["revisions"]
        .clone();
    let revision = revisions[revisions.as_array().unwrap().len() - 1]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "head", "options", "parameters"].contains(&method.as_str()) {
                continue;
            }
            let url = path
                .replace("{c}", "c")
                .replace("{path}", "html/a.html")
                .replace("{uuid}", "00000000-0000-0000-0000-000000000000")
                .replace("{number}", "1")
                .replace("{id}", &revision);
            assert!(
                !url.contains('{'),
                "a path parameter is left unfilled in {url}"
            );
            routes.push((method.to_uppercase(), url));
        }
    }
    assert!(
        routes.len() >= 9,
        "the document lists the state-changing routes: {routes:?}"
    );
    routes
}

/// The body a route would take from a page: JSON for most, an archive sent
/// with no Content-Type (as `fetch` sends a Blob) for import, bytes for raw.
fn hostile_body(method: &str, url: &str) -> (Option<&'static str>, Vec<u8>) {
    if url.ends_with("/import") {
        return (None, archive());
    }
    if url.contains("/raw/") {
        return (None, b"<p>overwritten by a hostile page</p>".to_vec());
    }
    let body = match (method, url) {
        (_, u) if u.ends_with("/gc") => json!({"older_than_days": 0}),
        (_, u) if u.ends_with("/collections") => json!({"slug": "evil"}),
        (_, u) if u.ends_with("/rename") => json!({"from": "html/a.html", "to": "html/evil.html"}),
        ("PATCH", _) => json!({"title": "defaced"}),
        _ => json!({}),
    };
    (Some("text/plain"), body.to_string().into_bytes())
}

#[test]
fn cross_site_requests_to_every_state_changing_route_are_refused_and_change_nothing() {
    let server = prepared();
    let before = observable(&server.data);
    let evil = "http://evil.example";
    let own = format!("http://{}", server.addr);
    let routes = state_changing_routes(&server);
    let mut refused = 0;
    for (method, url) in &routes {
        for (site, origin) in [
            (Some("cross-site"), None),
            (Some("same-site"), None),
            (Some("cross-site"), Some(evil)),
            (None, Some(evil)),
            (None, Some("null")),
            // A page of our own host on another port is another origin.
            (None, Some("http://127.0.0.1:1")),
            (Some("same-origin"), Some(evil)),
        ] {
            let (content_type, body) = hostile_body(method, url);
            let mut request = server
                .request(method, &format!("{url}?publish=true"))
                .body(&body);
            if let Some(ct) = content_type {
                request = request.header("Content-Type", ct);
            }
            if let Some(site) = site {
                request = request.header("Sec-Fetch-Site", site);
            }
            if let Some(origin) = origin {
                request = request.header("Origin", origin);
            }
            let resp = request.send();
            assert_eq!(
                resp.expect_error(403),
                "cross_origin",
                "{method} {url} with Sec-Fetch-Site {site:?}, Origin {origin:?}"
            );
            refused += 1;
        }
    }
    assert_eq!(
        observable(&server.data),
        before,
        "{refused} cross-site requests changed nothing"
    );

    // The UI's own requests (same origin) and curl's (no such headers) work,
    // and they do change the store: the refusals above were not for nothing.
    server
        .request("POST", &format!("{API}/collections/c/revert"))
        .json(json!({}))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Origin", &own)
        .send()
        .expect(200);
    assert_ne!(observable(&server.data), before);
    server
        .put(
            &format!("{API}/collections/c/raw/html/b.html"),
            b"<p>curl</p>",
        )
        .expect(201);
    server
        .request("POST", &format!("{API}/gc"))
        .json(json!({"dry_run": true}))
        .header("Sec-Fetch-Site", "none")
        .send()
        .expect(200);
    // Reads stay open to any page the CORS rules allow (none by default).
    server
        .request("GET", &format!("{API}/collections/c"))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", evil)
        .send()
        .expect(200);
}

#[test]
fn a_trusted_cors_origin_may_change_the_store() {
    let server = Server::start(&["--cors-origin", "http://localhost:3000"]);
    server
        .request("POST", &format!("{API}/collections"))
        .json(json!({"slug": "ok"}))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", "http://localhost:3000")
        .send()
        .expect(201);
    let code = server
        .request("POST", &format!("{API}/collections"))
        .json(json!({"slug": "no"}))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", "http://localhost:3001")
        .send()
        .expect_error(403);
    assert_eq!(code, "cross_origin");
}

#[test]
fn every_put_answer_carries_its_own_write_under_concurrency() {
    let server = prepared();
    let url = format!("{API}/collections/c/raw/static/shared.bin");
    let (threads, each) = (16, 40);
    let wrong: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (server, url) = (&server, &url);
                scope.spawn(move || {
                    let mut wrong = Vec::new();
                    for i in 0..each {
                        let body = format!("writer {t} write {i}").into_bytes();
                        let resp = server.put(url, &body);
                        let answer = resp.json();
                        assert!(resp.status == 200 || resp.status == 201, "{answer}");
                        let own = hash_bytes(&body);
                        let etag = resp.header("etag").unwrap_or_default().trim_matches('"');
                        if etag != own || answer["file"]["hash"] != own {
                            wrong.push(format!("{t}/{i}: ETag {etag}, own {own}"));
                        }
                    }
                    wrong
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        wrong.is_empty(),
        "{} of {} answers described another writer's write: {:?}",
        wrong.len(),
        threads * each,
        &wrong[..wrong.len().min(5)]
    );

    // Concurrent publishes each answer with the number they created.
    let numbers: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let server = &server;
                scope.spawn(move || {
                    let path = format!("{API}/collections/c/raw/html/p{t}.html");
                    server.put(&path, b"<p>p</p>").expect(201);
                    let resp =
                        server.json("POST", &format!("{API}/collections/c/publish"), json!({}));
                    match resp.status {
                        201 => Some(resp.json()["number"].as_i64().unwrap()),
                        // Another publish took this draft along first.
                        409 => None,
                        s => panic!("publish answered {s}: {}", resp.text()),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    let mut sorted = numbers.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        numbers.len(),
        "two publishes answered one number: {numbers:?}"
    );
    let versions = server
        .get(&format!("{API}/collections/c/versions"))
        .expect(200);
    for n in &numbers {
        assert!(
            versions["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["number"] == *n),
            "version {n} exists"
        );
    }
}

/// Holds the data dir's store lock from this process, as another process's
/// gc (exclusive) or writer (shared) would.
fn hold_lock(data: &std::path::Path, exclusive: bool) -> std::fs::File {
    let file = std::fs::File::options()
        .write(true)
        .open(data.join("lock"))
        .unwrap();
    if exclusive {
        file.lock().unwrap();
    } else {
        file.lock_shared().unwrap();
    }
    file
}

/// Runs the CLI with a lock timeout, failing the test (not hanging it) when
/// it runs past `limit`.
fn cli_bounded(
    data: &std::path::Path,
    args: &[&str],
    lock_secs: u64,
    limit: Duration,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .arg("--data-dir")
        .arg(data)
        .args(crate::garage::backend_args(data))
        .args(args)
        .env("BLOCKSTORE_LOCK_TIMEOUT", lock_secs.to_string())
        .envs(crate::garage::env_if_started())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "blockstore {args:?} still ran after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_stalled_upload_holds_no_lock_and_gc_runs_beside_it() {
    let server = prepared();
    let mut stalled = TcpStream::connect(&server.addr).unwrap();
    write!(
        stalled,
        "PUT {API}/collections/c/raw/static/stalled.bin HTTP/1.1\r\nHost: {}\r\nContent-Length: 100000\r\n\r\n",
        server.addr
    )
    .unwrap();
    stalled.write_all(&[7u8; 1000]).unwrap();
    stalled.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Before: the stalled upload held the writers' lock, and gc waited forever.
    let gc = cli_bounded(
        &server.data,
        &["gc", "--older-than", "0d"],
        10,
        Duration::from_secs(30),
    );
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    // A write behind that gc was never blocked either.
    server
        .put(
            &format!("{API}/collections/c/raw/html/next.html"),
            b"<p>next</p>",
        )
        .expect(201);
    // The upload completes later and lands whole: gc left its temp file alone.
    stalled.write_all(&vec![7u8; 99_000]).unwrap();
    stalled.flush().unwrap();
    let mut raw = Vec::new();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stalled.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed without answering");
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw);
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    let store = open_existing(&server.data);
    let (_, bytes) = store
        .read("c", "static/stalled.bin", blockstore::store::At::Draft)
        .unwrap();
    assert_eq!(bytes, vec![7u8; 100_000]);
    assert!(store
        .fsck(&blockstore::store::NoProgress)
        .unwrap()
        .is_clean());
}

#[test]
fn a_write_answered_with_an_error_is_never_applied_later() {
    let server = Server::start(&["--request-timeout", "1", "--lock-timeout", "30"]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "c"}))
        .expect(201);
    let url = format!("{API}/collections/c/raw/html/a.html");
    server.put(&url, b"<p>first</p>").expect(201);
    // A gc of another process holds the store: the PUT's work queues behind it
    // past the request timeout, and is answered 408.
    let gc = hold_lock(&server.data, true);
    let late = server.put(&url, b"<p>answered 408</p>");
    assert_eq!(late.expect_error(408), "timeout");
    drop(gc);
    // The CLI then writes and is acknowledged; the withdrawn PUT never lands,
    // neither over it nor anywhere in the draft's history.
    let store = open_existing(&server.data);
    store
        .write(
            "c",
            "html/a.html",
            b"<p>acknowledged</p>",
            blockstore::store::Source::Cli,
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, bytes) = store
        .read("c", "html/a.html", blockstore::store::At::Draft)
        .unwrap();
    assert_eq!(bytes, b"<p>acknowledged</p>");
    let history = serde_json::to_value(store.history("c", "html/a.html").unwrap()).unwrap();
    let late_hash = hash_bytes(b"<p>answered 408</p>");
    assert!(
        !history.to_string().contains(&late_hash),
        "the write answered 408 was applied: {history}"
    );
}

#[test]
fn a_write_behind_a_long_gc_gets_503_with_retry_after_and_changes_nothing() {
    let server = Server::start(&["--lock-timeout", "1"]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "c"}))
        .expect(201);
    let before = observable(&server.data);
    let gc = hold_lock(&server.data, true);
    let resp = server.put(&format!("{API}/collections/c/raw/html/a.html"), b"<p>x</p>");
    assert_eq!(resp.expect_error(503), "busy");
    assert!(resp.header("retry-after").is_some(), "{:?}", resp.headers);
    let message = resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("gc"),
        "says what holds the store: {message}"
    );
    drop(gc);
    assert_eq!(observable(&server.data), before);
    server
        .put(&format!("{API}/collections/c/raw/html/a.html"), b"<p>x</p>")
        .expect(201);
}

#[test]
fn cli_gc_behind_a_busy_writer_says_what_it_waits_for_and_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    run_cli(
        &data,
        &["import", sample_course().to_str().unwrap(), "--publish"],
    );
    let writer = hold_lock(&data, false);
    let out = cli_bounded(&data, &["gc"], 2, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("waiting for other processes writing to")
            && stderr.contains("gave up after"),
        "{stderr}"
    );
    drop(writer);
    let out = cli_bounded(&data, &["gc"], 2, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads until the server closes the connection; fails past `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration, mut trickle: impl FnMut(&mut TcpStream)) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
        assert!(
            started.elapsed() < limit,
            "the server still held the connection after {limit:?}"
        );
        trickle(stream);
    }
}

#[test]
fn slow_loris_and_idle_connections_are_closed() {
    let server = Server::start(&["--header-timeout", "1", "--idle-timeout", "2"]);
    // A header byte every 200 ms: never a whole head.
    let mut loris = TcpStream::connect(&server.addr).unwrap();
    write!(
        loris,
        "GET {API}/health HTTP/1.1\r\nHost: {}\r\n",
        server.addr
    )
    .unwrap();
    closed_within(&mut loris, Duration::from_secs(20), |s| {
        let _ = s.write_all(b"X");
    });
    // A connection that never sends anything.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    closed_within(&mut idle, Duration::from_secs(20), |_| {});
    // A kept-alive connection after its answer.
    let mut kept = TcpStream::connect(&server.addr).unwrap();
    write!(
        kept,
        "GET {API}/health HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    )
    .unwrap();
    closed_within(&mut kept, Duration::from_secs(20), |_| {});
    server.get(&format!("{API}/health")).expect(200);
}

#[test]
#[ignore = "needs a hard open-files limit over 4,400 (ulimit -Hn); .ci/run runs it"]
fn thousands_of_idle_connections_do_not_starve_health() {
    // This process needs the descriptors too.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    let available = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    require_machine(
        &format!(
            "open 2,100 sockets in one process: the hard open-files limit is {available}, \
             it needs over 4,400 (raise `nofile` in /etc/security/limits.conf, or \
             LimitNOFILE= for a systemd service)"
        ),
        available > 4_400,
    );
    let dir = tempfile::tempdir().unwrap();
    // Started with the usual soft limit of 1,024 files: it raises its own.
    let server = Server::start_wrapped(
        &["sh", "-c", "ulimit -Sn 1024 && exec \"$@\"", "sh"],
        &dir.path().join("data"),
        &[],
    );
    let pid = server.child.as_ref().unwrap().id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        open_files[3], open_files[4],
        "soft limit raised to the hard one: {limits}"
    );
    let idle: Vec<TcpStream> = (0..2_000)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    for _ in 0..5 {
        let resp = server.get(&format!("{API}/health"));
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    drop(idle);
}

#[test]
fn at_the_connection_cap_the_oldest_unused_connection_makes_room() {
    let server = Server::start(&["--max-connections", "20"]);
    let mut idle: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    server.get(&format!("{API}/health")).expect(200);
    // The first ones were closed to make room.
    closed_within(&mut idle[0], Duration::from_secs(20), |_| {});
    // When every connection serves a request (event streams), a newcomer is
    // told 503 at once, with the JSON error shape.
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    let streams: Vec<_> = (0..20)
        .map(|_| server.request("GET", &format!("{API}/events")).open())
        .collect();
    let resp = server.get(&format!("{API}/health"));
    assert_eq!(resp.expect_error(503), "busy");
    assert!(resp.header("retry-after").is_some());
    drop(streams);
}

#[test]
fn sigterm_closes_a_half_sent_request_after_the_grace_and_applies_nothing() {
    let mut server = Server::start(&["--shutdown-timeout", "1"]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "c"}))
        .expect(201);
    let before = observable(&server.data);
    let mut half = TcpStream::connect(&server.addr).unwrap();
    write!(
        half,
        "PUT {API}/collections/c/raw/static/half.bin HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\n",
        server.addr
    )
    .unwrap();
    half.write_all(&[1u8; 10]).unwrap();
    let mut loris = TcpStream::connect(&server.addr).unwrap();
    loris
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHo")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // `stop` fails the test when the server is not gone 5 s after SIGTERM.
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(observable(&server.data), before);
}

#[test]
fn odd_hosts_broken_bodies_and_blank_tokens_get_clear_errors() {
    let server = Server::start(&[]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "c"}))
        .expect(201);
    let before = observable(&server.data);
    // Two Host headers.
    let resp = raw(
        &server,
        &format!(
            "GET {API}/health HTTP/1.1\r\nHost: {0}\r\nHost: {0}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    );
    assert_eq!(resp.expect_error(400), "invalid");
    // An absolute-form target names the server: a foreign one is refused even
    // with our Host, ours is served.
    let foreign = raw(
        &server,
        &format!(
            "GET http://evil.example{API}/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    );
    assert!(
        foreign.status == 400 || foreign.status == 403,
        "{foreign:?}"
    );
    let ours = raw(
        &server,
        &format!(
            "GET http://{0}{API}/health HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    );
    ours.expect(200);
    // A malformed chunked body: 400, nothing written.
    let broken = raw(
        &server,
        &format!(
            "PUT {API}/collections/c/raw/static/x.bin HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nZZ\r\nnot hex\r\n0\r\n\r\n",
            server.addr
        ),
    );
    assert_eq!(broken.expect_error(400), "invalid", "{}", broken.text());
    assert_eq!(observable(&server.data), before);

    // A blank or whitespace token is refused at start.
    for token in ["", "   "] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = Command::new(env!("CARGO_BIN_EXE_blockstore"))
            .arg("--data-dir")
            .arg(&data)
            .args(crate::garage::backend_args(&data))
            .args(["serve", "--addr", "127.0.0.1:0", "--token", token])
            .env_remove("BLOCKSTORE_TOKEN")
            .envs(crate::garage::env_if_started())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "token {token:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("token is blank"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Sends `request` exactly as written and reads the answer.
fn raw(server: &Server, request: &str) -> Resp {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    Resp::parse(&out)
}
