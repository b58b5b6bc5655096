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

    let broken = cli_json(data, &["links", SLUG, "--broken"]);
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
    let blob = data.join("blobs").join(&hash[..2]).join(&hash[2..]);
    std::fs::write(&blob, b"not the original bytes").unwrap();
    let out = run_cli(data, &["fsck"]);
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
    assert!(stdout(&out).contains("corrupt_blob"), "{}", stdout(&out));
}

#[test]
fn the_data_dir_comes_from_the_flag_else_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let from_env = dir.path().join("env");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .args(["collections", "create", "viaenv"])
        .env("BLOCKSTORE_DATA_DIR", &from_env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        from_env.join("store.db").is_file(),
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
        .env("BLOCKSTORE_DATA_DIR", dir.path())
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
        dir.path().join("store.db").is_file(),
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
    let conn = rusqlite::Connection::open(data.join("store.db")).unwrap();
    conn.pragma_update(None, "user_version", blockstore::store::SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
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
        .args(["--data-dir", data.to_str().unwrap(), "files", SLUG])
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
