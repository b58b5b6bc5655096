//! Contents in an S3-compatible object store (a real Garage, see
//! `garage.rs`): the same store, CLI and REST answers as with blob files,
//! the location recorded in the data dir, credentials never in a URL, gc's
//! grace period, and a clear 503 / exit 69 when the object store is down.

use crate::common::*;
use crate::garage::garage;
use crate::server::Server;
use blockstore::store::{
    At, CollectionMetadata, GcOptions, NoProgress, OpenOptions, PublishOptions, Source,
};
use blockstore::Store;
use std::time::Duration;

fn open(data: &std::path::Path, contents: Option<&str>) -> blockstore::Result<Store> {
    Store::open_with(
        data,
        &OpenOptions {
            contents: contents.map(str::to_string),
            credentials: Some(garage().credentials()),
            ..Default::default()
        },
    )
}

/// These tests choose each store's contents themselves: under
/// `BLOCKSTORE_TEST_CONTENTS=garage` (which puts every new store in the
/// bucket) they have nothing to add and stand aside.
fn suite_mode() -> bool {
    let on = std::env::var(crate::garage::CONTENTS_ENV).is_ok_and(|v| v == "garage");
    if on {
        eprintln!(
            "skipped under {}=garage: this test picks its stores' contents itself",
            crate::garage::CONTENTS_ENV
        );
    }
    on
}

/// Points the store in `data` at a loopback port nothing listens on, as
/// if its object store were down (the record's URL line only: the store's
/// id stays). Returns the record as it was, to put back, and the port.
fn endpoint_down(data: &std::path::Path) -> (String, u16) {
    let recorded = std::fs::read_to_string(data.join("contents")).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url_line = recorded.lines().next().unwrap();
    let mut url = blockstore::store::ContentsUrl::parse(url_line).unwrap();
    url.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let down = url.to_string();
    assert_ne!(down, url_line, "the endpoint is in the record");
    std::fs::write(data.join("contents"), recorded.replacen(url_line, &down, 1)).unwrap();
    (recorded, port)
}

/// What `common::observable` tells of a store, for one in the bucket.
fn observable_in_bucket(data: &std::path::Path) -> String {
    let store = open(data, None).unwrap();
    let mut out = snapshot(&store);
    let fsck = store.fsck(&NoProgress).unwrap();
    out += &format!("fsck clean: {}\n", fsck.is_clean());
    let listing = store.blobs().list().unwrap();
    for (hash, size) in &listing.blobs {
        out += &format!("{hash} {size}\n");
    }
    out
}

/// Bytes of `n` that differ from every other test's (no dedup across tests).
fn large(n: usize, seed: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut rng = SplitMix64(seed.bytes().fold(7u64, |h, b| h * 31 + b as u64));
    while out.len() < n {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(n);
    out
}

#[test]
#[ignore = "needs garage"]
fn a_store_keeps_large_contents_in_the_bucket_and_reads_them_back() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let url = g.contents_url("library");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let big = large(300_000, "big");
    {
        let store = open(&data, Some(&url)).unwrap();
        assert!(store.blobs().contents().objects().is_some());
        store
            .create_collection("demo", &CollectionMetadata::default())
            .unwrap();
        store
            .write("demo", "static/big.bin", &big, Source::Cli)
            .unwrap();
        store
            .write("demo", "html/a.html", b"<p>small</p>", Source::Cli)
            .unwrap();
        store
            .publish(
                "demo",
                &PublishOptions {
                    message: "one".into(),
                    strict: false,
                },
            )
            .unwrap();
        let (file, bytes) = store.read("demo", "static/big.bin", At::Draft).unwrap();
        assert_eq!(bytes, big);
        // The large blob is an object, not a file under the data dir.
        assert!(store
            .blobs()
            .contents()
            .has(&file.hash, big.len() as u64)
            .unwrap());
        assert!(!blob_file(&data, &file.hash).exists());
        let report = store.fsck(&NoProgress).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.unreferenced_blobs, 0);
    }
    // The data dir records where its contents are; later opens need no option.
    let recorded = std::fs::read_to_string(data.join("contents")).unwrap();
    assert!(
        recorded.starts_with("s3://blockstore-tests/library-"),
        "{recorded}"
    );
    let store = open(&data, None).unwrap();
    assert_eq!(
        store
            .read("demo", "static/big.bin", At::Version(1))
            .unwrap()
            .1,
        big
    );
    drop(store);
    assert_eq!(open(&data, Some(&url)).unwrap().dir(), data);
    // Another place for the same store is refused, naming both.
    let elsewhere = g.contents_url("elsewhere");
    let e = open(&data, Some(&elsewhere)).unwrap_err().to_string();
    assert!(
        e.contains("keeps its contents in s3://blockstore-tests/library-"),
        "{e}"
    );
    // A second store on the same prefix is refused: its gc would take this
    // one's contents.
    let twin = dir.path().join("twin");
    let e = open(&twin, Some(&url)).unwrap_err();
    assert_eq!(e.kind(), blockstore::store::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("belongs to another store"), "{e}");
    assert!(!twin.join("contents").exists());
    // A bucket that is not there (or that the key cannot open) is refused
    // before anything is recorded.
    let nowhere = dir.path().join("nowhere");
    let missing = format!(
        "s3://no-such-bucket-here/x?endpoint={}&region=garage",
        g.endpoint
    );
    let e = open(&nowhere, Some(&missing)).unwrap_err();
    assert_eq!(e.kind(), blockstore::store::ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("no-such-bucket-here"), "{e}");
    assert!(!nowhere.join("contents").exists());
    // So is moving a store that already has contents of its own.
    let local = dir.path().join("local");
    let store = open(&local, None).unwrap();
    store
        .create_collection("x", &CollectionMetadata::default())
        .unwrap();
    drop(store);
    let e = open(&local, Some(&url)).unwrap_err().to_string();
    assert!(e.contains("cannot move"), "{e}");
    assert!(!local.join("contents").exists());
}

#[test]
#[ignore = "needs garage"]
fn gc_leaves_young_objects_alone_and_removes_old_unreferenced_ones() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = open(&data, Some(&g.contents_url("gc"))).unwrap();
    store
        .create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    let kept = large(40_000, "kept");
    store
        .write("demo", "static/kept.bin", &kept, Source::Cli)
        .unwrap();
    // An upload no row references yet: another instance's write in flight,
    // or what a killed one left.
    let orphan = store
        .blobs()
        .contents()
        .put(&large(50_000, "orphan"))
        .unwrap();
    let report = store.gc(&GcOptions::older_than_days(0, false)).unwrap();
    assert_eq!(report.blobs_deleted, 0, "young objects are not judged");
    assert!(store
        .blobs()
        .contents()
        .has(&orphan.hash, orphan.size)
        .unwrap());
    store
        .blobs()
        .contents()
        .objects()
        .unwrap()
        .set_grace(Duration::ZERO);
    // A prefix whose mark names another store (two stores pointed at one
    // prefix by hand) is never swept: this store's index cannot know the
    // other's contents.
    let record = store.blobs().contents().objects().unwrap().record();
    let mark = object_store::path::Path::from(format!("{}/blockstore-store", record.url.prefix));
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&record.url.bucket)
        .with_endpoint(&g.endpoint)
        .with_region(crate::garage::REGION)
        .with_allow_http(true)
        .with_access_key_id(crate::garage::KEY_ID)
        .with_secret_access_key(crate::garage::SECRET)
        .build()
        .unwrap();
    let put_mark = |id: &str| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(object_store::ObjectStoreExt::put(
                &bucket,
                &mark,
                format!("{id}\n").into_bytes().into(),
            ))
            .unwrap();
    };
    put_mark("00000000-0000-4000-8000-000000000000");
    let e = store.gc(&GcOptions::older_than_days(0, false)).unwrap_err();
    assert_eq!(e.kind(), blockstore::store::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("belongs to another store"), "{e}");
    assert!(store
        .blobs()
        .contents()
        .has(&orphan.hash, orphan.size)
        .unwrap());
    put_mark(&record.store);
    // Past the grace period, the unreferenced object goes and the
    // referenced one stays.
    let report = store.gc(&GcOptions::older_than_days(0, false)).unwrap();
    assert_eq!(report.blobs_deleted, 1);
    assert_eq!(report.bytes_freed, 50_000);
    assert!(!store
        .blobs()
        .contents()
        .has(&orphan.hash, orphan.size)
        .unwrap());
    assert_eq!(
        store.read("demo", "static/kept.bin", At::Draft).unwrap().1,
        kept
    );
    let report = store.fsck(&NoProgress).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
#[ignore = "needs garage"]
fn the_cli_imports_exports_and_checks_a_store_in_the_bucket() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = g.contents_url("cli");
    // The sample course and a few large files: a folder import uploads them
    // side by side before its one transaction commits.
    let course = dir.path().join("course");
    let mut files: Vec<(String, Vec<u8>)> = tree_files(&sample_course()).into_iter().collect();
    for n in 0..12 {
        files.push((
            format!("static/big-{n}.bin"),
            large(40_000 + n * 1000, &format!("cli {n}")),
        ));
    }
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    write_tree(&course, &files);
    let out = run_cli(
        &data,
        &[
            "--contents",
            &url,
            "import",
            course.to_str().unwrap(),
            "-c",
            "sample",
            "--publish",
            "-m",
            "seed",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Later commands read the recorded location.
    let export = dir.path().join("out");
    let out = run_cli(&data, &["export", "sample", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree_files(&export), tree_files(&course));
    let out = run_cli(&data, &["fsck"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // Credentials on the command line are refused before anything is
    // opened, and the message does not repeat them.
    let other = dir.path().join("other");
    let out = run_cli(
        &other,
        &[
            "--contents",
            "s3://AKIAEXAMPLE:hunter2secret@blockstore-tests",
            "collections",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("AWS_SECRET_ACCESS_KEY"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("hunter2secret"), "{}", stderr(&out));
    assert!(!other.join("contents").exists());
}

#[test]
#[ignore = "needs garage"]
fn rest_reads_and_writes_large_files_through_the_bucket() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = g.contents_url("rest");
    let server = Server::start_in(&data, &[]);
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();
    let out = run_cli(&data, &["--contents", &url, "collections"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start_in(&data, &[]);
    server
        .json(
            "POST",
            "/api/v1/collections",
            serde_json::json!({"slug": "demo"}),
        )
        .expect(201);
    let big = large(2_000_000, "rest");
    server
        .put("/api/v1/collections/demo/raw/static/big.bin", &big)
        .expect(201);
    let resp = server.get("/api/v1/collections/demo/raw/static/big.bin");
    assert_eq!(resp.status, 200);
    assert!(resp.body == big, "the bytes come back whole");
    let resp = server
        .request("GET", "/api/v1/collections/demo/raw/static/big.bin")
        .header("Range", "bytes=1000-1999")
        .send();
    assert_eq!(resp.status, 206);
    assert!(resp.body == big[1000..2000], "the range comes back");
    let hash = blockstore::store::hash_bytes(&big);
    assert!(!blob_file(&data, &hash).exists());
}

#[test]
#[ignore = "needs garage"]
fn an_unreachable_object_store_is_a_503_and_exit_69_naming_it() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = g.contents_url("down");
    let big = large(100_000, "down");
    {
        let store = open(&data, Some(&url)).unwrap();
        store
            .create_collection("demo", &CollectionMetadata::default())
            .unwrap();
        store
            .write("demo", "static/big.bin", &big, Source::Cli)
            .unwrap();
        store
            .write("demo", "html/a.html", b"<p>small</p>", Source::Cli)
            .unwrap();
    }
    // The same bucket, as if its endpoint were down: nothing listens there.
    let before = observable_in_bucket(&data);
    let (recorded, port) = endpoint_down(&data);

    let out = run_cli(&data, &["show", "demo:static/big.bin"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("object store"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains(crate::garage::SECRET), "{message}");

    let server = Server::start_in(&data, &[]);
    let resp = server.get("/api/v1/collections/demo/raw/static/big.bin");
    assert_eq!(resp.expect_error(503), "unavailable");
    // Small contents live in the index: still served.
    let resp = server.get("/api/v1/collections/demo/raw/html/a.html");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"<p>small</p>");
    // A large write is refused as a whole, and changes nothing.
    server
        .put(
            "/api/v1/collections/demo/raw/static/new.bin",
            &large(70_000, "new"),
        )
        .expect(503);
    drop(server);
    // Back up: the store is as it was.
    std::fs::write(data.join("contents"), recorded).unwrap();
    assert_eq!(observable_in_bucket(&data), before);
}

#[test]
#[ignore = "needs garage"]
fn dump_and_restore_move_a_store_between_files_and_the_bucket_both_ways() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let dir = tempfile::tempdir().unwrap();
    let (local, shared, back) = (
        dir.path().join("local"),
        dir.path().join("shared"),
        dir.path().join("back"),
    );
    let big = large(120_000, "moving");
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &big).unwrap();
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", stderr(&out));
    ok(run_cli(
        &local,
        &["import", sample_course().to_str().unwrap(), "-c", "sample"],
    ));
    ok(run_cli(
        &local,
        &["write", "sample:static/big.bin", file.to_str().unwrap()],
    ));
    ok(run_cli(&local, &["publish", "sample", "-m", "one"]));
    let dump = dir.path().join("local.dump");
    ok(run_cli(&local, &["dump", dump.to_str().unwrap()]));

    // Files -> bucket: the restored store reads its large contents there.
    let url = g.contents_url("restored");
    ok(run_cli(
        &shared,
        &["--contents", &url, "restore", dump.to_str().unwrap()],
    ));
    assert!(std::fs::read_to_string(shared.join("contents"))
        .unwrap()
        .starts_with("s3://blockstore-tests/restored-"));
    let hash = blockstore::store::hash_bytes(&big);
    assert!(!blob_file(&shared, &hash).exists(), "no file left behind");
    let store = open(&shared, None).unwrap();
    assert!(store
        .blobs()
        .contents()
        .has(&hash, big.len() as u64)
        .unwrap());
    assert_eq!(
        store
            .read("sample", "static/big.bin", At::Version(1))
            .unwrap()
            .1,
        big
    );
    assert!(store.fsck(&NoProgress).unwrap().problems.is_empty());
    assert_eq!(snapshot(&store), snapshot(&open_existing(&local)));
    drop(store);

    // Bucket -> files: a dump of it restores anywhere, as blob files.
    let again = dir.path().join("shared.dump");
    ok(run_cli(&shared, &["dump", again.to_str().unwrap()]));
    ok(run_cli(&back, &["restore", again.to_str().unwrap()]));
    assert!(!back.join("contents").exists());
    assert!(blob_file(&back, &hash).exists());
    assert_eq!(observable(&back), observable(&local));
}

#[test]
#[ignore = "needs garage"]
fn reads_are_served_from_a_verified_local_cache_that_fsck_keeps_honest() {
    if suite_mode() {
        return;
    }
    let g = garage();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = g.contents_url("cache");
    let big = large(200_000, "cached");
    let hash = blockstore::store::hash_bytes(&big);
    let copy = data.join("cache").join(&hash[..2]).join(&hash[2..]);
    {
        let store = open(&data, Some(&url)).unwrap();
        store
            .create_collection("demo", &CollectionMetadata::default())
            .unwrap();
        store
            .write("demo", "static/big.bin", &big, Source::Cli)
            .unwrap();
        assert!(!copy.exists(), "a write caches nothing");
        assert_eq!(
            store.read("demo", "static/big.bin", At::Draft).unwrap().1,
            big
        );
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            big,
            "a read leaves a whole copy"
        );
    }
    // With the object store down, a cached read is still served (its bytes
    // are their name's: never stale); fsck checks the bucket itself, so it
    // says the bucket is down.
    let (recorded, _) = endpoint_down(&data);
    {
        let store = open(&data, None).unwrap();
        assert_eq!(
            store.read("demo", "static/big.bin", At::Draft).unwrap().1,
            big
        );
        let e = store.fsck(&NoProgress).unwrap_err();
        assert_eq!(e.kind(), blockstore::store::ErrorKind::Unavailable, "{e}");
    }
    std::fs::write(data.join("contents"), &recorded).unwrap();
    // A damaged copy is found by fsck and removed; the next read fetches
    // the bucket's bytes again.
    let mut damaged = big.clone();
    damaged[1000] ^= 1;
    std::fs::write(&copy, &damaged).unwrap();
    let store = open(&data, None).unwrap();
    let report = store.fsck(&NoProgress).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.cache_copies_removed, 1);
    assert!(!copy.exists());
    assert_eq!(
        store.read("demo", "static/big.bin", At::Draft).unwrap().1,
        big
    );
    assert_eq!(std::fs::read(&copy).unwrap(), big);
    // gc removing an object removes its copy too.
    let orphan = store
        .blobs()
        .contents()
        .put(&large(30_000, "orphan copy"))
        .unwrap();
    store.blobs().contents().read(&orphan.hash, true).unwrap();
    let orphan_copy = data
        .join("cache")
        .join(&orphan.hash[..2])
        .join(&orphan.hash[2..]);
    assert!(orphan_copy.exists());
    store
        .blobs()
        .contents()
        .objects()
        .unwrap()
        .set_grace(Duration::ZERO);
    assert_eq!(
        store
            .gc(&GcOptions::older_than_days(0, false))
            .unwrap()
            .blobs_deleted,
        1
    );
    assert!(!orphan_copy.exists());
    assert!(copy.exists(), "a referenced blob's copy stays");
}
