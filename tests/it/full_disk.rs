//! A full disk, for real: the data dir on a small tmpfs mounted in a user and
//! mount namespace of its own (the test re-runs itself in there), filled by a
//! large upload, archive or folder, or by a filler file. Every write that runs out of space is refused as such — 507
//! over REST, exit 7 and a message naming the data dir and the space in the
//! CLI, never "corrupt archive" or 500 — and leaves the store as it was and
//! usable once space is freed.

use crate::archive::RawTar;
use crate::common::*;
use crate::server::Server;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set, for a test run inside the namespace, to the tmpfs's mount point.
const INSIDE: &str = "BLOCKSTORE_TEST_SMALL_DISK";

/// Runs the `#[ignore]`d test `inner` (this module's) in a fresh user and
/// mount namespace with a tmpfs of `size` mounted on a temp dir, so the
/// server, the CLI and the test's own store checks all see the small disk.
/// (The test binary runs itself: a threaded process cannot enter a new user
/// namespace, and SQLite resolves `/proc/PID/root/...` paths back to `/`.)
fn on_small_disk(size: &str, inner: &str) {
    let available = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs t /mnt"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    require_machine(
        "mount a tmpfs in a user and mount namespace (`unshare -rm`, util-linux; \
         needs unprivileged user namespaces: on Debian sysctl \
         kernel.unprivileged_userns_clone=1, on Ubuntu \
         kernel.apparmor_restrict_unprivileged_userns=0)",
        available,
    );
    let mount_point = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=\"$1\" blockstore-full \"$2\" && shift 2 && exec \"$@\"",
            "sh",
            size,
            mount_point.path().to_str().unwrap(),
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            &format!("full_disk::{inner}"),
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, mount_point.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{inner} on a {size} tmpfs failed:\n{stdout}\n{stderr}"
    );
}

/// The small disk's mount point, inside the namespace; `None` when run
/// directly (the outer test runs it).
fn small_disk() -> Option<PathBuf> {
    std::env::var_os(INSIDE).map(PathBuf::from)
}

/// Fills what is left of the disk at `root` with a file, returned.
fn fill(root: &Path) -> PathBuf {
    let path = root.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [1024 * 1024, 4096, 1] {
        let bytes = vec![7u8; chunk];
        while file.write_all(&bytes).is_ok() {}
    }
    path
}

fn free(root: &Path) -> u64 {
    let s = rustix::fs::statvfs(root).unwrap();
    s.f_bavail * s.f_frsize
}

/// `n` bytes no compressor shrinks and no other test shares.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A collection `c` with `n` small draft files (nothing published), imported
/// by the CLI into the data dir on `disk`.
fn store_with_drafts(disk: &Path, n: usize) -> PathBuf {
    let data = disk.join("data");
    let tree = tempfile::tempdir().unwrap();
    for i in 0..n {
        let name = format!("html/page{i:04}.html");
        write_tree(
            tree.path(),
            &[(&name, format!("<p>page {i}</p>").as_bytes())],
        );
    }
    cli_json(&data, &["import", tree.path().to_str().unwrap(), "-c", "c"]);
    data
}

/// Checks that a message says the disk is full and names the data dir, and
/// does not blame the input.
#[track_caller]
fn says_disk_full(message: &str, data: &Path) {
    assert!(message.contains("is full"), "{message}");
    assert!(
        message.contains(data.to_str().unwrap()),
        "names the data dir {}: {message}",
        data.display()
    );
    assert!(!message.contains("corrupt"), "{message}");
    assert!(!message.contains("truncated"), "{message}");
}

#[test]
#[ignore = "needs user and mount namespaces (unshare -rm); .ci/run runs it"]
fn a_full_disk_is_507_over_rest_and_leaves_the_store_as_it_was() {
    on_small_disk("16m", "inside_rest");
}

#[test]
#[ignore = "run inside a namespace by a_full_disk_is_507_over_rest_and_leaves_the_store_as_it_was"]
fn inside_rest() {
    let Some(disk) = small_disk() else {
        return;
    };
    let data = store_with_drafts(&disk, 1000);
    let before = observable(&data);
    assert!(before.contains("fsck clean: true"), "{before}");
    let server = Server::start_in(&data, &[]);
    let big = random_bytes(24 * 1024 * 1024, 1);

    // PUT raw: the body does not fit.
    let resp = server.put("/api/v1/collections/c/raw/static/big.bin", &big);
    assert_eq!(resp.expect_error(507), "insufficient_storage");
    let error = &resp.json()["error"];
    says_disk_full(error["message"].as_str().unwrap(), &data);
    assert!(error["details"]["needed"].as_u64().unwrap() > 0, "{error}");

    // An archive whose files do not fit: a full disk, not a corrupt archive.
    let archive = RawTar::new()
        .file("course/html/a.html", b"<p>a</p>")
        .file("course/static/big.bin", &big)
        .tar_gz();
    let resp = server
        .request("POST", "/api/v1/collections/c/import")
        .header("Content-Type", "application/gzip")
        .body(&archive)
        .send();
    assert_eq!(resp.expect_error(507), "insufficient_storage");
    let error = &resp.json()["error"];
    let message = error["message"].as_str().unwrap();
    says_disk_full(message, &data);
    assert!(message.contains("nothing was imported"), "{message}");
    assert!(
        error["details"]["needed"].as_u64().unwrap() >= big.len() as u64,
        "{error}"
    );
    assert_eq!(observable(&data), before, "the refused writes left nothing");

    // Publish on a disk with no byte left: SQLite's SQLITE_FULL.
    let filler = fill(&disk);
    let resp = server.json(
        "POST",
        "/api/v1/collections/c/publish",
        json!({"message": "on a full disk"}),
    );
    assert_eq!(resp.expect_error(507), "insufficient_storage");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(observable(&data), before, "the failed publish left nothing");

    // Usable once there is space again.
    let resp = server.json(
        "POST",
        "/api/v1/collections/c/publish",
        json!({"message": "space again"}),
    );
    assert_eq!(
        resp.status,
        201,
        "{}",
        &resp.text()[..200.min(resp.body.len())]
    );
    assert_eq!(resp.json()["number"], 1);
    server
        .put("/api/v1/collections/c/raw/html/after.html", b"<p>after</p>")
        .expect(201);
    drop(server);
    assert!(observable(&data).contains("fsck clean: true"));
}

#[test]
#[ignore = "needs user and mount namespaces (unshare -rm); .ci/run runs it"]
fn a_full_disk_in_the_cli_exits_7_naming_the_data_dir_and_the_space() {
    on_small_disk("16m", "inside_cli");
}

#[test]
#[ignore = "run inside a namespace by a_full_disk_in_the_cli_exits_7_naming_the_data_dir_and_the_space"]
fn inside_cli() {
    let Some(disk) = small_disk() else {
        return;
    };
    let data = store_with_drafts(&disk, 1000);
    let before = observable(&data);
    let outside = tempfile::tempdir().unwrap();
    let big = random_bytes(24 * 1024 * 1024, 2);

    // An archive.
    let archive = outside.path().join("big.tar.gz");
    std::fs::write(
        &archive,
        RawTar::new()
            .file("course/html/a.html", b"<p>a</p>")
            .file("course/static/big.bin", &big)
            .tar_gz(),
    )
    .unwrap();
    // A folder.
    let folder = outside.path().join("folder");
    write_tree(
        &folder,
        &[("html/a.html", b"<p>a</p>"), ("static/big.bin", &big)],
    );
    for (what, target) in [("archive", &archive), ("folder", &folder)] {
        let out = run_cli(&data, &["import", target.to_str().unwrap(), "-c", "c"]);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(7), "{what}: {message}");
        says_disk_full(&message, &data);
        // The whole file's size, which the tar header or the folder told.
        assert!(
            message.contains("needed at least 24.0 MiB"),
            "{what}: {message}"
        );
        assert!(message.contains("free now"), "{what}: {message}");
        assert!(
            message.contains("nothing was imported"),
            "{what}: {message}"
        );
        assert_eq!(observable(&data), before, "{what}: the store is as it was");
    }

    // Publish on a disk with no byte left: opening the store fails (SQLite
    // cannot grow store.db-shm); with 64 KiB left, it opens and the
    // publish's transaction fails (SQLITE_FULL).
    let filler = fill(&disk);
    assert!(free(&disk) < 4096);
    for room in [0, 64 * 1024] {
        let size = std::fs::metadata(&filler).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(size - room)
            .unwrap();
        let out = run_cli(&data, &["publish", "c", "-m", "on a full disk"]);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(7), "{room} bytes free: {message}");
        says_disk_full(&message, &data);
    }
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        observable(&data),
        before,
        "the failed publishes left nothing"
    );

    // Usable once there is space again.
    let published = cli_json(&data, &["publish", "c", "-m", "space again"]);
    assert_eq!(published["number"], 1);
    assert!(observable(&data).contains("fsck clean: true"));
}
