//! The real `blockstore` binary: the README's tour, `--json`, exit codes and
//! error messages.

use crate::common::*;

const SLUG: &str = "BlockstoreX.OLX101.2026";

#[test]
fn the_readme_tour_works_on_the_sample_course() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let course = sample_course();
    let import = cli_json(
        data,
        &[
            "import",
            course.to_str().unwrap(),
            "--publish",
            "-m",
            "Initial import",
        ],
    );
    assert_eq!(import["collection"], SLUG, "the slug comes from course.xml");
    assert_eq!(import["published"]["number"], 1);

    let list = cli_json(data, &["collections"]);
    assert_eq!(list[0]["slug"], SLUG);
    assert_eq!(
        list[0]["title"], "OLX in Practice",
        "the title comes from the course's display_name"
    );
    assert_eq!(list[0]["latest_version"], 1);

    // Change a unit from stdin, see it in status and diff, publish it.
    let out = run_cli_stdin(
        data,
        &["write", &format!("{SLUG}:html/html_welcome.html")],
        Some(b"<p>Welcome, edited.</p>\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&run_cli(data, &["status", SLUG])),
        "M html/html_welcome.html\n"
    );
    let diff = stdout(&run_cli(
        data,
        &[
            "diff",
            SLUG,
            "1",
            "draft",
            "--path",
            "html/html_welcome.html",
        ],
    ));
    assert!(
        diff.contains("+<p>Welcome, edited.</p>"),
        "text diff:\n{diff}"
    );
    let published = cli_json(data, &["publish", SLUG, "-m", "Edit welcome"]);
    assert_eq!(published["number"], 2);

    let shown = run_cli(data, &["show", &format!("{SLUG}:html/html_welcome.html@2")]);
    assert_eq!(stdout(&shown), "<p>Welcome, edited.</p>\n");
    let original = run_cli(data, &["show", &format!("{SLUG}:html/html_welcome.html@1")]);
    assert_eq!(
        original.stdout,
        std::fs::read(course.join("html/html_welcome.html")).unwrap(),
        "version 1 is the imported bytes"
    );

    let log = cli_json(data, &["log", SLUG]);
    assert_eq!(log[0]["number"], 2);
    assert_eq!(log[0]["message"], "Edit welcome");
    let history = cli_json(data, &["log", &format!("{SLUG}:html/html_welcome.html")]);
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);

    // `links --broken` exits 1 when something is broken, like grep.
    let output = run_cli(data, &["--json", "links", SLUG, "--broken"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let broken: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let clean = run_cli(
        data,
        &[
            "links",
            &format!("{SLUG}:html/html_welcome.html"),
            "--broken",
        ],
    );
    assert_eq!(clean.status.code(), Some(0), "nothing broken: exit 0");
    let broken: Vec<&str> = broken["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["written"].as_str().unwrap())
        .collect();
    assert_eq!(
        broken,
        vec!["/static/missing-diagram.png"],
        "the sample course's one deliberate broken reference"
    );

    let fsck = run_cli(data, &["fsck"]);
    assert!(fsck.status.success(), "{}", stdout(&fsck));
    let gc = cli_json(data, &["gc", "--dry-run", "--older-than", "0d"]);
    assert_eq!(gc["dry_run"], true);
}

#[test]
fn exit_codes_and_messages_say_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let code = |args: &[&str]| run_cli(data, args).status.code();

    let out = run_cli(data, &["show", "nope:course.xml"]);
    assert_eq!(out.status.code(), Some(3), "unknown collection: not found");
    assert!(
        stderr(&out).contains("\"nope\" not found"),
        "{}",
        stderr(&out)
    );

    assert_eq!(code(&["collections", "create", "demo"]), Some(0));
    assert_eq!(
        code(&["collections", "create", "demo"]),
        Some(4),
        "slug taken: conflict"
    );
    assert_eq!(
        code(&["publish", "demo"]),
        Some(4),
        "nothing to publish: conflict"
    );

    let out = run_cli_stdin(data, &["write", "demo:../escape.xml"], Some(b"<x/>"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "a traversal path is invalid input"
    );
    assert!(stderr(&out).contains("'..'"), "{}", stderr(&out));

    let out = run_cli(data, &["import", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/definitely/not/here"),
        "the message names the path: {}",
        stderr(&out)
    );

    assert_eq!(code(&["no-such-command"]), Some(2), "usage error");
    assert_eq!(
        code(&["collections", "delete", "demo"]),
        Some(2),
        "deleting needs --yes"
    );
    assert_eq!(code(&["collections", "delete", "demo", "--yes"]), Some(0));
}

#[test]
fn fsck_exits_5_when_a_blob_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let course = sample_course();
    cli_json(data, &["import", course.to_str().unwrap()]);
    let files = cli_json(data, &["files", SLUG]);
    let hash = files[0]["hash"].as_str().unwrap();
    tamper_blob(data, hash, b"not the original bytes");
    let out = run_cli(data, &["fsck"]);
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
    assert!(stdout(&out).contains("corrupt_blob"), "{}", stdout(&out));
}

#[test]
fn the_data_dir_comes_from_the_flag_else_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let from_env = dir.path().join("env");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .args(crate::garage::backend_args(&from_env))
        .args(["collections", "create", "viaenv"])
        .env("BLOCKSTORE_DATA_DIR", &from_env)
        .envs(crate::garage::env_if_started())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        from_env.join("store.db").is_file() || from_env.join("index").is_file(),
        "BLOCKSTORE_DATA_DIR is used"
    );
    let list = cli_json(&from_env, &["collections"]);
    assert_eq!(list[0]["slug"], "viaenv");
}

#[test]
fn running_with_no_command_serves_until_sigterm() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .args(crate::garage::backend_args(dir.path()))
        .env("BLOCKSTORE_DATA_DIR", dir.path())
        .envs(crate::garage::env_if_started())
        .env("BLOCKSTORE_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("no URL in {line:?}")
        });
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "{response:?} (read: {read:?})"
    );
    assert!(
        dir.path().join("store.db").is_file() || dir.path().join("index").is_file(),
        "it serves BLOCKSTORE_DATA_DIR"
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success(), "SIGTERM stops it cleanly");
}

#[test]
fn a_store_from_a_newer_binary_is_refused_with_exit_code_6() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    assert!(run_cli(data, &["collections", "create", "demo"])
        .status
        .success());
    match crate::postgres::index_of(data) {
        Some(mut index) => {
            index
                .execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, 'future', '')",
                    &[&(blockstore::store::postgres::PG_SCHEMA_VERSION + 1)],
                )
                .unwrap();
        }
        None => {
            let conn = rusqlite::Connection::open(data.join("store.db")).unwrap();
            conn.pragma_update(None, "user_version", blockstore::store::SCHEMA_VERSION + 1)
                .unwrap();
        }
    }
    let out = run_cli(data, &["collections"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("newer"),
        "the message says why: {}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_command_quietly_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let course = sample_course();
    cli_json(data, &["import", course.to_str().unwrap()]);
    // `blockstore files … | head -0`: the reader is gone before we print.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .args(["--data-dir", data.to_str().unwrap()])
        .args(crate::garage::backend_args(data))
        .args(["files", SLUG])
        .envs(crate::garage::env_if_started())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_ne!(out.status.code(), Some(101), "no panic exit code");
}

#[test]
fn an_empty_path_or_a_negative_age_is_refused_not_taken_as_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    assert!(run_cli(data, &["collections", "create", "demo"])
        .status
        .success());
    assert!(run_cli_stdin(data, &["write", "demo:a.xml"], Some(b"<a/>"))
        .status
        .success());
    let out = run_cli(data, &["revert", "demo:"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "`demo:` is an empty path: {}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&run_cli(data, &["status", "demo"])),
        "A a.xml\n",
        "nothing was reverted"
    );
    for age in ["-3d", "5é", "3w"] {
        let out = run_cli(data, &["gc", "--older-than", age]);
        assert_eq!(out.status.code(), Some(2), "{age}: {}", stderr(&out));
    }
}

/// How far `write` and `show` may go in memory for a 200 MiB file: they
/// stream, so what they hold does not grow with the file.
const STREAMING_RSS_LIMIT: u64 = 32 << 20;

/// The same for a store whose index is on PostgreSQL: each connection (the
/// writer, a reader, the change watch and its listener, the events sender)
/// is a client with a runtime of its own; measured 30.5-33.5 MiB here.
const STREAMING_RSS_LIMIT_POSTGRES: u64 = 48 << 20;

/// The same for a store whose contents are in an object store: an upload
/// goes in parts of 5 MiB (S3's smallest), up to two sent at once while a
/// third fills, each held until its part is acknowledged, and the HTTP
/// client and its runtime add their own.
const STREAMING_RSS_LIMIT_OBJECTS: u64 = 64 << 20;

/// Runs the real binary with `args` (stdin from `stdin`, else empty), hands
/// its stdout to `drain` on a thread while it runs, and returns its exit
/// status, stderr, peak RSS in bytes and what `drain` returned. The peak is
/// GNU time's `%M` (the kernel's `ru_maxrss` from `wait4`) when
/// `/usr/bin/time` is GNU time, else `VmHWM` of `/proc/PID/status` polled
/// every millisecond (a high-water mark: the last reading is the peak, up to
/// whatever the last millisecond added).
fn run_measured<T: Send>(
    data: &std::path::Path,
    args: &[&str],
    stdin: Option<&std::path::Path>,
    drain: impl FnOnce(std::process::ChildStdout) -> T + Send,
) -> (std::process::ExitStatus, String, u64, T) {
    use std::process::{Command, Stdio};
    let scratch = tempfile::tempdir().unwrap();
    let rss_file = scratch.path().join("rss");
    let err_file = scratch.path().join("stderr");
    let gnu_time = Command::new("/usr/bin/time")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).contains("GNU"));
    let mut command = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o"])
            .arg(&rss_file)
            .arg(env!("CARGO_BIN_EXE_blockstore"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_blockstore"))
    };
    command
        .arg("--data-dir")
        .arg(data)
        .args(crate::garage::backend_args(data))
        .args(args)
        .env_remove("BLOCKSTORE_DATA_DIR")
        .envs(crate::garage::env_if_started())
        .stdin(match stdin {
            Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
            None => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_file).unwrap());
    let mut child = command.spawn().expect("the blockstore binary starts");
    let out = child.stdout.take().unwrap();
    let (status, polled_kib, drained) = std::thread::scope(|s| {
        let drained = s.spawn(move || drain(out));
        let mut kib = 0u64;
        let status_file = format!("/proc/{}/status", child.id());
        let status = loop {
            if !gnu_time {
                if let Some(now) = std::fs::read_to_string(&status_file).ok().and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                }) {
                    kib = kib.max(now);
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        (status, kib, drained.join().unwrap())
    });
    let kib = if gnu_time {
        std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
            .expect("GNU time wrote the peak RSS")
    } else {
        polled_kib
    };
    let stderr = std::fs::read_to_string(&err_file).unwrap();
    (status, stderr, kib * 1024, drained)
}

/// Whether `reader` yields exactly the bytes of the file at `expected`;
/// returns the byte count read too.
fn same_bytes(mut reader: impl std::io::Read, expected: &std::path::Path) -> (bool, u64) {
    use std::io::Read;
    let mut file = std::io::BufReader::new(std::fs::File::open(expected).unwrap());
    let (mut got, mut want) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let (mut same, mut total) = (true, 0u64);
    loop {
        let n = reader.read(&mut got).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        if same && (file.read_exact(&mut want[..n]).is_err() || got[..n] != want[..n]) {
            same = false;
        }
    }
    (same && file.read(&mut want).unwrap() == 0, total)
}

#[test]
fn write_and_show_stream_a_200_mib_file_in_bounded_memory() {
    const SIZE: u64 = 200 << 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_json(&data, &["collections", "create", "big"]);
    // 200 blocks of 1 MiB of seeded noise, each stamped with its number, so
    // a block out of place or a byte lost shows.
    let input = dir.path().join("big.bin");
    {
        use std::io::Write;
        let mut rng = SplitMix64(14);
        let mut block: Vec<u8> = (0..(1 << 17))
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
        let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for n in 0..(SIZE >> 20) {
            block[..8].copy_from_slice(&n.to_le_bytes());
            file.write_all(&block).unwrap();
        }
        file.into_inner().unwrap().sync_all().unwrap();
    }
    let drain_text = |out| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(out), &mut text).unwrap();
        text
    };
    let mut peaks = Vec::new();

    // write FILE
    let (status, err, peak, out) = run_measured(
        &data,
        &[
            "--json",
            "write",
            "big:static/big.bin",
            input.to_str().unwrap(),
        ],
        None,
        drain_text,
    );
    assert!(status.success(), "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["outcome"],
        "created"
    );
    peaks.push(("write FILE", peak));

    // write from stdin, to a second path
    let (status, err, peak, out) = run_measured(
        &data,
        &["write", "big:static/copy.bin"],
        Some(&input),
        drain_text,
    );
    assert!(status.success(), "{err}");
    assert_eq!(out, "created: big:static/copy.bin\n");
    peaks.push(("write < stdin", peak));

    // Both stored the same bytes: one hash, the whole size.
    let files = cli_json(&data, &["files", "big"]);
    assert_eq!(files.as_array().unwrap().len(), 2);
    assert_eq!(files[0]["hash"], files[1]["hash"]);
    assert_eq!(files[0]["size"], SIZE);

    // show: the bytes come back, streamed.
    let (status, err, peak, (same, total)) =
        run_measured(&data, &["show", "big:static/big.bin"], None, |out| {
            same_bytes(out, &input)
        });
    assert!(status.success(), "{err}");
    assert_eq!(total, SIZE);
    assert!(same, "show gives back the bytes written");
    peaks.push(("show", peak));

    let limit = if data.join("contents").exists() {
        STREAMING_RSS_LIMIT_OBJECTS
    } else if data.join("index").exists() {
        STREAMING_RSS_LIMIT_POSTGRES
    } else {
        STREAMING_RSS_LIMIT
    };
    for (what, peak) in peaks {
        eprintln!(
            "peak RSS of `blockstore {what}` for 200 MiB: {:.1} MiB",
            peak as f64 / 1048576.0
        );
        assert!(
            peak > 0 && peak <= limit,
            "`blockstore {what}` of a 200 MiB file peaked at {peak} bytes of RSS; \
             it must stream (at most {limit})"
        );
    }
}

#[test]
fn show_fails_on_a_corrupt_blob_after_streaming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    cli_json(data, &["collections", "create", "c"]);
    let write = run_cli_stdin(data, &["write", "c:static/a.bin"], Some(b"original bytes"));
    assert!(write.status.success(), "{}", stderr(&write));
    let files = cli_json(data, &["files", "c"]);
    let hash = files[0]["hash"].as_str().unwrap();
    tamper_blob(data, hash, b"damaged bytes!");
    let show = run_cli(data, &["show", "c:static/a.bin"]);
    assert!(!show.status.success(), "a damaged blob is a failure");
    assert!(stderr(&show).contains(hash), "{}", stderr(&show));
    // What a missing file or collection gave before: the same messages.
    let missing = run_cli(data, &["show", "c:static/none.bin"]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    let unreadable = run_cli(data, &["write", "c:static/b.bin", "/definitely/not/here"]);
    assert!(
        stderr(&unreadable).contains("reading /definitely/not/here"),
        "{}",
        stderr(&unreadable)
    );
}

/// Issue 16: one grammar for states, `SLUG[@N|@draft|@latest][:PATH]` (the
/// older `SLUG:PATH@N` kept), and errors that say which part is wrong.
#[test]
fn one_grammar_for_states_everywhere_and_errors_that_name_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let course = sample_course();
    cli_json(
        data,
        &["import", course.to_str().unwrap(), "--publish", "-m", "one"],
    );
    run_cli_stdin(
        data,
        &["write", &format!("{SLUG}:html/html_welcome.html")],
        Some(b"<p>draft</p>"),
    );
    let show = |target: &str| stdout(&run_cli(data, &["show", target]));
    let v1 = show(&format!("{SLUG}@1:html/html_welcome.html"));
    assert_ne!(v1, "<p>draft</p>", "version 1 is not the draft");
    assert_eq!(
        show(&format!("{SLUG}:html/html_welcome.html@1")),
        v1,
        "the older form"
    );
    assert_eq!(
        show(&format!("{SLUG}@draft:html/html_welcome.html")),
        "<p>draft</p>"
    );
    let files = cli_json(data, &["files", &format!("{SLUG}@1:html/")]);
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["path"].as_str().unwrap().starts_with("html/")),
        "SLUG@N:FOLDER lists the folder"
    );
    let links = cli_json(
        data,
        &["links", &format!("{SLUG}@1:html/html_welcome.html")],
    );
    assert!(links.is_array(), "a file's links at version 1");
    let outline = cli_json(data, &["outline", &format!("{SLUG}@1")]);
    assert_eq!(outline["at"]["version"], 1, "the outline of version 1");

    let bad = run_cli(
        data,
        &["show", &format!("{SLUG}@first:html/html_welcome.html")],
    );
    assert_eq!(bad.status.code(), Some(2), "bad usage");
    assert!(
        stderr(&bad).contains("`@first` is not a state"),
        "{}",
        stderr(&bad)
    );
    let no_slug = run_cli(data, &["show", "@1:html/html_welcome.html"]);
    assert!(
        stderr(&no_slug).contains("no collection before `@`"),
        "{}",
        stderr(&no_slug)
    );
    let two = run_cli(
        data,
        &["show", &format!("{SLUG}@1:html/html_welcome.html@2")],
    );
    assert!(stderr(&two).contains("two states"), "{}", stderr(&two));
    let no_file = run_cli(data, &["show", &format!("{SLUG}@1")]);
    assert!(stderr(&no_file).contains("no file"), "{}", stderr(&no_file));
}

/// Issue 16: tables print a header row, times read as ages unless
/// `--date iso`, counts are in the right number.
#[test]
fn tables_have_headers_and_times_read_as_ages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let course = sample_course();
    cli_json(
        data,
        &["import", course.to_str().unwrap(), "--publish", "-m", "one"],
    );
    let log = stdout(&run_cli(data, &["log", SLUG]));
    assert!(
        log.contains("just now") || log.contains("ago"),
        "an age: {log}"
    );
    assert!(!log.contains("(s)"), "no (s): {log}");
    let iso = stdout(&run_cli(data, &["--date", "iso", "log", SLUG]));
    let year = time::OffsetDateTime::now_utc().year().to_string();
    assert!(
        iso.contains(&format!("{year}-")) && iso.contains('T'),
        "RFC 3339: {iso}"
    );
    let files = stdout(&run_cli(data, &["files", SLUG]));
    assert!(
        files.lines().next().unwrap().starts_with("HASH"),
        "a header: {files}"
    );
    // Files speak collection versions and the course's names.
    let welcome = files
        .lines()
        .find(|l| l.contains("html/html_welcome.xml"))
        .unwrap_or_else(|| panic!("{files}"));
    assert!(welcome.contains("version 1"), "{welcome}");
    assert!(!welcome.contains(" v1 "), "{welcome}");
    assert!(
        welcome.trim_end().ends_with("Welcome to OLX in Practice"),
        "the display name: {welcome}"
    );
    let history = stdout(&run_cli(
        data,
        &["log", &format!("{SLUG}:html/html_welcome.html")],
    ));
    assert!(
        history.contains("CHANGED IN") && history.contains("version 1"),
        "{history}"
    );
    assert!(
        !history.contains(" v1 "),
        "no file-level numbers: {history}"
    );
}

/// Issue 16: a rename that breaks references says so and lists them.
#[test]
fn a_rename_that_breaks_references_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let course = sample_course();
    cli_json(data, &["import", course.to_str().unwrap()]);
    let pointing = cli_json(
        data,
        &[
            "links",
            &format!("{SLUG}:static/olx-tree.png"),
            "--incoming",
        ],
    );
    let expected: Vec<String> = pointing
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["source_path"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !expected.is_empty(),
        "the sample course shows the tree picture"
    );
    let renamed = cli_json(
        data,
        &[
            "rename",
            &format!("{SLUG}:static/olx-tree.png"),
            "static/tree.png",
        ],
    );
    let broken: Vec<String> = renamed["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["source_path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(broken, expected, "every file that named it");
    let text = run_cli(
        data,
        &[
            "rename",
            &format!("{SLUG}:static/tree.png"),
            "static/olx-tree.png",
        ],
    );
    assert!(
        !stderr(&text).contains("warning"),
        "renaming it back breaks nothing: {}",
        stderr(&text)
    );
}
