//! Shared test helpers: a store in a temp dir, the real binary, the shared
//! fixture, and the project's own sample course.
//!
//! Tests that need what a laptop may lack (`../shared`, Chromium, a kernel
//! feature) are `#[ignore = "needs ..."]`: `cargo test` reports them as
//! ignored, and `cargo test -- --include-ignored` (what `.ci/run` runs) runs
//! them. Their helpers here ([`shared_fixture`], [`demo_course`],
//! [`demo_library`], [`require_machine`]) panic, naming what is missing and
//! how to get it, rather than let a test pass without running.

#![allow(dead_code)]

use blockstore::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A store in a fresh temp dir, removed on drop.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl TestStore {
    /// A new store in a temp dir: embedded, or with its index on the test
    /// cluster under `BLOCKSTORE_TEST_INDEX=postgres` (so the library's
    /// tests run on both engines).
    pub fn new() -> TestStore {
        let dir = tempfile::tempdir().expect("a temp dir");
        let index = crate::postgres::index_args().get(1).cloned();
        let store = Store::open_with(
            dir.path().join("data"),
            &blockstore::store::OpenOptions {
                index,
                ..Default::default()
            },
        )
        .expect("a fresh store opens");
        TestStore { dir, store }
    }

    /// A new embedded store, for a test that reaches into its SQLite file;
    /// `None` (the reason printed) under `BLOCKSTORE_TEST_INDEX`.
    pub fn embedded() -> Option<TestStore> {
        if std::env::var(crate::postgres::INDEX_ENV).is_ok_and(|v| !v.is_empty()) {
            eprintln!("skipped on a PostgreSQL index: this test edits the SQLite file");
            return None;
        }
        Some(TestStore::new())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's own sample course export (always present).
pub fn sample_course() -> PathBuf {
    repo().join("examples/sample-course")
}

/// The project's own sample library export (always present).
pub fn sample_library() -> PathBuf {
    repo().join("examples/sample-library")
}

/// A folder of `../shared/fixtures`; panics, naming it, when the checkout
/// has no `../shared`. Only for `#[ignore = "needs ../shared fixtures"]`
/// tests.
#[track_caller]
pub fn shared_fixture(relative: &str) -> PathBuf {
    let path = repo().join("../shared/fixtures").join(relative);
    assert!(
        path.is_dir(),
        "the shared fixture {} is missing: this test needs ../shared (the \
         project's shared repository, cloned beside this one); without it, \
         run `cargo test` without --include-ignored",
        path.display()
    );
    path
}

/// Asserts that this machine can do `what` (a tool, a kernel feature):
/// panics, naming it, when `available` is false. Only for tests that are
/// `#[ignore = "needs ..."]` (or that need it only where a laptop never is).
#[track_caller]
pub fn require_machine(what: &str, available: bool) {
    assert!(
        available,
        "this machine cannot {what}; without it, run `cargo test` without \
         --include-ignored"
    );
}

/// The demo course export root (`.../demo-course/course`); panics without
/// `../shared`.
#[track_caller]
pub fn demo_course() -> PathBuf {
    shared_fixture("openedx-demo-course/demo-course/course")
}

/// The demo library export root (`.../demo-content-library/library`);
/// panics without `../shared`.
#[track_caller]
pub fn demo_library() -> PathBuf {
    shared_fixture("openedx-demo-course/demo-content-library/library")
}

/// Opens the store in `data` in-process, with the test object store's
/// credentials when a test has started it (a store whose contents are in
/// Garage needs them; one of files ignores them).
pub fn open_existing(data: &Path) -> Store {
    let options = blockstore::store::OpenOptions {
        credentials: crate::garage::credentials_if_started(),
        ..Default::default()
    };
    Store::open_with(data, &options).expect("the store opens")
}

/// Runs the real `blockstore` binary against `data_dir`.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> Output {
    run_cli_stdin(data_dir, args, None)
}

/// Runs the real binary with bytes on stdin.
pub fn run_cli_stdin(data_dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_blockstore"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(crate::garage::backend_args(data_dir))
        .args(args)
        .env_remove("BLOCKSTORE_DATA_DIR")
        .envs(crate::garage::env_if_started())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the blockstore binary starts");
    {
        let mut pipe = child.stdin.take().expect("piped stdin");
        if let Some(bytes) = stdin {
            // A command may exit without reading its stdin (a refusal):
            // then the pipe is closed, and its exit is the answer.
            if let Err(e) = pipe.write_all(bytes) {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe,
                    "stdin accepts the bytes: {e}"
                );
            }
        }
    }
    child
        .wait_with_output()
        .expect("the blockstore binary finishes")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the binary with `--json` and parses stdout, asserting success.
pub fn cli_json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = run_cli(data_dir, &all);
    assert!(
        output.status.success(),
        "blockstore {args:?} failed: {}",
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

/// Every file under `root` (relative path -> bytes), skipping `.git/`.
pub fn tree_files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Writes `files` (relative path -> bytes) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (path, bytes) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
}

/// A snapshot of everything observable about a store, to prove an operation
/// changed nothing: every collection's files, versions and drafts.
pub fn snapshot(store: &Store) -> String {
    use blockstore::store::At;
    let mut out = String::new();
    for c in store.collections().unwrap() {
        let slug = &c.collection.slug;
        out += &format!("{}\n", serde_json::to_string(&c).unwrap());
        out += &format!(
            "{}\n",
            serde_json::to_string(&store.files(slug, At::Draft).unwrap()).unwrap()
        );
        out += &format!(
            "{}\n",
            serde_json::to_string(&store.versions(slug).unwrap()).unwrap()
        );
        out += &format!(
            "{}\n",
            serde_json::to_string(&store.status(slug).unwrap()).unwrap()
        );
    }
    out
}

/// [`snapshot`] of the store in `data`, plus fsck's verdict and every file
/// in its blob store: what "changed nothing" means, down to stray blobs.
pub fn observable(data: &Path) -> String {
    let store = open_existing(data);
    let mut out = snapshot(&store);
    let fsck = store.fsck(&blockstore::store::NoProgress).unwrap();
    out += &format!("fsck clean: {}\n", fsck.is_clean());
    // Every blob (inline or file) and every stray file beside them.
    let listing = store.blobs().list().unwrap();
    let mut blobs: Vec<String> = listing
        .blobs
        .iter()
        .map(|(hash, size)| format!("{hash} {size}"))
        .chain(listing.stray.iter().map(|p| p.display().to_string()))
        .collect();
    blobs.sort();
    out + &blobs.join("\n")
}

/// The splitmix64 generator: tiny and seeded, so a failing test reproduces.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `0..n` (0 when `n` is 0), for indexing.
    pub fn index(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// Overwrites the bytes of blob `hash` of the store in `data` wherever it
/// lives (a row of the index or a file): how a test damages one.
pub fn tamper_blob(data: &Path, hash: &str, bytes: &[u8]) {
    let rows = match crate::postgres::index_of(data) {
        Some(mut index) => index
            .execute(
                "UPDATE blob SET bytes = $2 WHERE hash = $1",
                &[&hash, &bytes],
            )
            .unwrap() as usize,
        None => rusqlite::Connection::open(data.join("store.db"))
            .unwrap()
            .execute(
                "UPDATE blob SET bytes = ?2 WHERE hash = ?1",
                rusqlite::params![hash, bytes],
            )
            .unwrap(),
    };
    if rows == 0 {
        std::fs::write(blob_file(data, hash), bytes).unwrap();
    }
}

/// Removes blob `hash` of the store in `data` wherever it lives.
pub fn remove_blob(data: &Path, hash: &str) {
    let rows = match crate::postgres::index_of(data) {
        Some(mut index) => index
            .execute("DELETE FROM blob WHERE hash = $1", &[&hash])
            .unwrap() as usize,
        None => rusqlite::Connection::open(data.join("store.db"))
            .unwrap()
            .execute("DELETE FROM blob WHERE hash = ?1", [hash])
            .unwrap(),
    };
    if rows == 0 {
        std::fs::remove_file(blob_file(data, hash)).unwrap();
    }
}

/// Where blob `hash` lives when it is a file.
pub fn blob_file(data: &Path, hash: &str) -> std::path::PathBuf {
    data.join("blobs").join(&hash[..2]).join(&hash[2..])
}

/// Turns the (closed) store in `data` into what a schema-4 binary wrote:
/// every blob a file, no `blob` tables.
pub fn to_schema_4(data: &Path) {
    let conn = rusqlite::Connection::open(data.join("store.db")).unwrap();
    {
        let mut stmt = conn.prepare("SELECT hash, bytes FROM blob").unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let hash: String = row.get(0).unwrap();
            let bytes: Vec<u8> = row.get(1).unwrap();
            std::fs::write(blob_file(data, &hash), bytes).unwrap();
        }
    }
    conn.execute_batch(
        "DROP TABLE blob; DROP TABLE blob_move;
         DROP TABLE named_draft_dependency; DROP TABLE collection_version_dependency;
         DROP TABLE named_draft_change; DROP TABLE named_draft;
         DROP INDEX collection_group_member; DROP TABLE collection_group;
         ALTER TABLE collection DROP COLUMN group_id; ALTER TABLE collection DROP COLUMN v1_slug;
         ALTER TABLE collection_version DROP COLUMN committed_from;
         PRAGMA user_version = 4;",
    )
    .unwrap();
}
