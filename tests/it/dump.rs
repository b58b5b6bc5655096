//! Whole-store dump and restore: a store with history (two collections, two
//! publishes, renames, deletes, a pending draft) goes through a dump and comes
//! back equal in every listing and hash; a non-empty target needs `--force`;
//! damaged or hostile dumps are refused with a clear message and change
//! nothing; an older dump is migrated; `gc` waits for a running dump.

use crate::common::*;
use blockstore::olx::{import_dir, ImportOptions};
use blockstore::store::{
    restore, At, Direction, ErrorKind, GcOptions, NoProgress, Progress, PublishOptions,
    RestoreOptions, Source,
};
use blockstore::Store;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The sample course and library with history: the course published twice
/// (a modify, an add, a delete, a rename and a metadata change in between),
/// then a pending draft (a modify, an add, a delete); the library published
/// once.
fn seed(store: &Store) {
    seed_with(store, true);
}

/// [`seed`], optionally without its one large asset (slow to hash and
/// compress in a debug build, so kept out of the many-case tests).
fn seed_with(store: &Store, large_asset: bool) {
    let import = |root: PathBuf, slug: &str, message: &str| {
        import_dir(
            store,
            &root,
            &ImportOptions {
                collection: Some(slug.into()),
                publish: true,
                message: Some(message.into()),
                ..Default::default()
            },
            &NoProgress,
        )
        .expect("the sample imports");
    };
    import(sample_course(), "course", "first import");
    store
        .write(
            "course",
            "html/html_welcome.html",
            b"<p>Welcome, changed. <img src=\"/static/olx-tree.png\"/></p>",
            Source::Cli,
        )
        .unwrap();
    store
        .write(
            "course",
            "static/new-asset.txt",
            b"an asset added in version 2",
            Source::Api,
        )
        .unwrap();
    if large_asset {
        store
            .write("course", "static/video-poster.bin", &large(), Source::Cli)
            .unwrap();
    }
    // Larger than the inline limit: a blob file, whatever else is inline.
    let diagram: Vec<u8> = (0..blockstore::store::INLINE_MAX as usize + 4096)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    store
        .write("course", "static/diagram.bin", &diagram, Source::Cli)
        .unwrap();
    store
        .delete("course", "problem/prob_tree_depth.xml", Source::Cli)
        .unwrap();
    store
        .rename(
            "course",
            "static/olx-cheatsheet.pdf",
            "static/handouts/olx-cheatsheet.pdf",
            Source::Cli,
        )
        .unwrap();
    store
        .update_collection(
            "course",
            &blockstore::store::CollectionMetadata {
                title: Some("Sample course, revised".into()),
                license: Some("CC-BY-4.0".into()),
                ..Default::default()
            },
        )
        .unwrap();
    store
        .publish(
            "course",
            &PublishOptions {
                message: "second".into(),
                ..Default::default()
            },
        )
        .unwrap();
    store
        .write(
            "course",
            "html/html_welcome.html",
            b"<p>Welcome, a draft not yet published.</p>",
            Source::Sync,
        )
        .unwrap();
    store
        .write(
            "course",
            "html/draft_only.html",
            b"<p>only in the draft</p>",
            Source::Cli,
        )
        .unwrap();
    store
        .delete("course", "static/olx-tour-en.srt", Source::Cli)
        .unwrap();
    import(sample_library(), "library", "library import");
}

/// Bytes larger than what restore reads whole (it streams them).
fn large() -> Vec<u8> {
    let mut rng = SplitMix64(4);
    (0..(1 << 20) + 4096).map(|_| rng.next() as u8).collect()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

/// Everything observable about a store, as text: collections and their
/// metadata, the publish log, every version's detail, files, links report and
/// diff to the next, the draft and its status, each file's history and links,
/// and the bytes of every blob any of it names.
fn fingerprint(store: &Store) -> String {
    let mut out = String::new();
    let mut hashes = std::collections::BTreeSet::new();
    for summary in store.collections().unwrap() {
        let slug = summary.collection.slug.clone();
        out += &format!("collection {}\n", json(&summary));
        let versions = store.versions(&slug).unwrap();
        out += &format!("log {}\n", json(&versions));
        let mut states: Vec<At> = versions.iter().map(|v| At::Version(v.number)).collect();
        for v in &versions {
            out += &format!(
                "version {}\n",
                json(&store.version(&slug, v.number).unwrap())
            );
        }
        states.push(At::Draft);
        for (i, at) in states.iter().enumerate() {
            let files = store.files(&slug, *at).unwrap();
            out += &format!("files {at:?} {}\n", json(&files));
            out += &format!(
                "links {at:?} {}\n",
                json(&store.link_report(&slug, *at).unwrap())
            );
            if let Some(next) = states.get(i + 1) {
                out += &format!(
                    "diff {at:?} {next:?} {}\n",
                    json(&store.diff(&slug, *at, *next).unwrap())
                );
            }
            for f in &files {
                hashes.insert(f.hash.clone());
            }
        }
        out += &format!("status {}\n", json(&store.status(&slug).unwrap()));
        for f in store.files(&slug, At::Draft).unwrap() {
            out += &format!(
                "history {} {}\n",
                f.path,
                json(&store.history(&slug, &f.path).unwrap())
            );
            for direction in [Direction::Out, Direction::In] {
                out += &format!(
                    "links {} {direction:?} {}\n",
                    f.path,
                    json(&store.links(&slug, &f.path, At::Draft, direction).unwrap())
                );
            }
        }
    }
    for hash in hashes {
        // A verified read: the bytes hash to the name, so name and length
        // stand for the bytes.
        let bytes = store.blobs().read(&hash, true).unwrap();
        out += &format!("blob {hash} {}\n", bytes.len());
    }
    out
}

/// Names in a directory (to prove nothing was left beside a target).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file under `root` with its size and hash.
fn hashed_tree(root: &Path) -> Vec<(String, usize, String)> {
    tree_files(root)
        .into_iter()
        .map(|(path, bytes)| (path, bytes.len(), blockstore::store::hash_bytes(&bytes)))
        .collect()
}

fn force() -> RestoreOptions {
    RestoreOptions {
        force: true,
        ..Default::default()
    }
}

#[test]
fn a_restored_store_equals_the_dumped_one_in_every_listing_and_hash() {
    let source = TestStore::new();
    seed(&source);
    let before = fingerprint(&source);
    assert!(before.contains("draft_only.html") && before.contains("library"));
    let file = source.dir.path().join("store.dump.tar.gz");
    let dumped = source.dump(&file, &NoProgress).unwrap();
    assert_eq!(dumped.collections, 2);
    assert!(
        dumped.blobs + dumped.inline_blobs > 40,
        "every referenced blob: {dumped:?}"
    );
    assert_eq!(
        dumped.archive_bytes,
        std::fs::metadata(&file).unwrap().len()
    );
    assert_eq!(
        names(source.dir.path()),
        ["data", "store.dump.tar.gz"],
        "no temp file is left beside the dump"
    );
    assert_eq!(fingerprint(&source), before, "a dump changes nothing");

    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nested/restored");
    let report = restore(&target, &file, &RestoreOptions::default(), &NoProgress).unwrap();
    assert!(!report.replaced);
    assert_eq!(report.manifest.format, "blockstore-dump");
    assert_eq!(
        report.manifest.schema_version,
        blockstore::store::SCHEMA_VERSION
    );
    assert_eq!(report.manifest.blockstore_version, blockstore::VERSION);
    assert_eq!(report.manifest.slugs, ["course", "library"]);
    assert_eq!(report.manifest.blobs, dumped.blobs);
    assert_eq!(report.manifest.bytes, dumped.bytes);
    assert_eq!(names(&dir.path().join("nested")), ["restored"]);

    let restored = Store::open(&target).unwrap();
    assert_eq!(fingerprint(&restored), before);
    let fsck = restored.fsck(&NoProgress).unwrap();
    assert!(fsck.is_clean(), "{:?}", fsck.problems);
    assert_eq!(fsck.unreferenced_blobs, 0);
    assert_eq!(fsck.stray_files, 0);
    assert_eq!(fsck.blobs_checked, dumped.blobs + dumped.inline_blobs);

    // The restored store goes on as the original would: the pending draft
    // publishes as version 3 in both, with the same changes.
    let publish = |store: &Store| {
        let report = store
            .publish(
                "course",
                &PublishOptions {
                    message: "third".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        (report.number, json(&report.changes))
    };
    assert_eq!(publish(&restored), publish(&source));
    assert_eq!(
        json(
            &restored
                .diff("course", At::Version(2), At::Version(3))
                .unwrap()
        ),
        json(
            &source
                .diff("course", At::Version(2), At::Version(3))
                .unwrap()
        )
    );
}

#[test]
fn dump_and_restore_through_the_binary_give_the_same_log_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(&Store::open(&data).unwrap());
    let file = dir.path().join("store.dump.tar.gz");
    let dumped = cli_json(&data, &["dump", file.to_str().unwrap()]);
    assert_eq!(dumped["collections"], 2);

    let copy = dir.path().join("copy");
    let restored = cli_json(&copy, &["restore", file.to_str().unwrap()]);
    assert_eq!(restored["manifest"]["collections"], 2);
    assert_eq!(restored["replaced"], false);
    for args in [
        &["log", "course"][..],
        &["log", "course:html/html_welcome.html"],
        &["diff", "course", "1", "2"],
        &["diff", "course"],
        &["status", "course"],
        &["links", "course"],
        &["collections"],
        &["show", "course:html/html_welcome.html@1"],
    ] {
        let a = run_cli(&data, args);
        let b = run_cli(&copy, args);
        assert!(a.status.success(), "{args:?}: {}", stderr(&a));
        assert_eq!(stdout(&a), stdout(&b), "blockstore {args:?}");
    }
    let fsck = run_cli(&copy, &["fsck"]);
    assert!(fsck.status.success(), "{}", stdout(&fsck));

    // The text output names what was done.
    let again = dir.path().join("again");
    let text = run_cli(&again, &["restore", file.to_str().unwrap()]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("restored 2 collections"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn a_non_empty_store_is_replaced_only_with_force_and_keeps_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    seed(&Store::open(&source).unwrap());
    let file = dir.path().join("dump.tar.gz");
    cli_json(&source, &["dump", file.to_str().unwrap()]);

    // A store with a collection of its own, and a server log.
    let data = dir.path().join("data");
    {
        let store = Store::open(&data).unwrap();
        store
            .create_collection("mine", &Default::default())
            .unwrap();
        store.write("mine", "a.xml", b"<a/>", Source::Cli).unwrap();
    }
    std::fs::create_dir(data.join("logs")).unwrap();
    std::fs::write(data.join("logs/blockstore.log"), "a log line\n").unwrap();
    let before = snapshot(&Store::open(&data).unwrap());
    let listing = hashed_tree(&data);
    let refused = run_cli(&data, &["restore", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--force")
            && stderr(&refused).contains("a store with 1 collection"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        hashed_tree(&data),
        listing,
        "not a byte of the data dir changed"
    );
    assert_eq!(snapshot(&Store::open(&data).unwrap()), before);
    assert_eq!(names(dir.path()), ["data", "dump.tar.gz", "source"]);

    let forced = cli_json(&data, &["restore", "--force", file.to_str().unwrap()]);
    assert_eq!(forced["replaced"], true);
    assert!(forced["leftover"].is_null());
    assert_eq!(
        fingerprint(&Store::open(&data).unwrap()),
        fingerprint(&Store::open(&source).unwrap())
    );
    assert!(Store::open(&data).unwrap().collection("mine").is_err());
    assert_eq!(
        std::fs::read_to_string(data.join("logs/blockstore.log")).unwrap(),
        "a log line\n",
        "the data dir's logs stay"
    );
    assert_eq!(names(dir.path()), ["data", "dump.tar.gz", "source"]);

    // An empty store (opened, never written) needs no --force.
    let empty = dir.path().join("empty");
    drop(Store::open(&empty).unwrap());
    let report = restore(&empty, &file, &RestoreOptions::default(), &NoProgress).unwrap();
    assert!(!report.replaced);
}

#[test]
fn a_directory_that_is_not_a_data_dir_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let source = TestStore::new();
    seed(&source);
    let file = dir.path().join("dump.tar.gz");
    source.dump(&file, &NoProgress).unwrap();
    let home = dir.path().join("home");
    write_tree(
        &home,
        &[("notes.txt", b"mine"), ("src/main.rs", b"fn main() {}")],
    );
    for force in [false, true] {
        let err = restore(
            &home,
            &file,
            &RestoreOptions {
                force,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("notes.txt, src"), "{err}");
    }
    assert_eq!(tree_files(&home).len(), 2);
    assert_eq!(names(dir.path()), ["dump.tar.gz", "home"]);
}

#[test]
fn dump_never_overwrites_a_file() {
    let store = TestStore::new();
    seed(&store);
    let file = store.dir.path().join("taken.tar.gz");
    std::fs::write(&file, b"precious").unwrap();
    let err = store.dump(&file, &NoProgress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    let cli = run_cli(&store.data_dir(), &["dump", file.to_str().unwrap()]);
    assert_eq!(cli.status.code(), Some(2));
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    assert_eq!(names(store.dir.path()), ["data", "taken.tar.gz"]);
}

/// One entry of a dump, as read back for rewriting.
#[derive(Clone)]
struct Entry {
    name: String,
    kind: tar::EntryType,
    bytes: Vec<u8>,
}

fn read_entries(file: &Path) -> Vec<Entry> {
    let gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(file).unwrap());
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let kind = e.header().entry_type();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            Entry { name, kind, bytes }
        })
        .collect()
}

/// Writes entries as a gzip'd tar, names verbatim (even unsafe ones).
fn write_entries(file: &Path, entries: &[Entry]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(file).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for e in entries {
        let mut header = tar::Header::new_gnu();
        let name = e.name.as_bytes();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(e.kind);
        header.set_size(e.bytes.len() as u64);
        header.set_mode(0o644);
        if e.kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        tar.append(&header, e.bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn manifest_of(entries: &[Entry]) -> serde_json::Value {
    serde_json::from_slice(&entries[0].bytes).unwrap()
}

fn set_manifest(entries: &mut [Entry], manifest: &serde_json::Value) {
    entries[0].bytes = serde_json::to_vec(manifest).unwrap();
}

/// Changes a dump's index with `edit` (through a copy at `db`) and makes its
/// manifest agree, as a hand-made dump would.
fn edit_index(entries: &mut [Entry], db: &Path, edit: impl FnOnce(&rusqlite::Connection)) {
    std::fs::write(db, &entries[1].bytes).unwrap();
    edit(&rusqlite::Connection::open(db).unwrap());
    entries[1].bytes = std::fs::read(db).unwrap();
    let mut m = manifest_of(entries);
    m["index_bytes"] = entries[1].bytes.len().into();
    m["index_hash"] = blockstore::store::hash_bytes(&entries[1].bytes).into();
    set_manifest(entries, &m);
}

fn first_blob(entries: &[Entry]) -> usize {
    entries
        .iter()
        .position(|e| e.name.contains("/blobs/"))
        .unwrap()
}

#[test]
fn damaged_and_hostile_dumps_are_refused_and_change_nothing() {
    let source = TestStore::new();
    seed_with(&source, false);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    source.dump(&good, &NoProgress).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let entries = read_entries(&good);
    assert_eq!(entries[0].name, "blockstore-dump/manifest.json");
    assert_eq!(entries[1].name, "blockstore-dump/store.db");

    // A store that --force would replace, to prove it stays as it is.
    let target = dir.path().join("target");
    {
        let store = Store::open(&target).unwrap();
        store
            .create_collection("keep", &Default::default())
            .unwrap();
        store.write("keep", "k.xml", b"<k/>", Source::Cli).unwrap();
    }
    let before = snapshot(&Store::open(&target).unwrap());

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let rewrite = |f: &dyn Fn(&mut Vec<Entry>)| -> Vec<u8> {
        let mut edited = entries.clone();
        f(&mut edited);
        let path = dir.path().join("edited.tar.gz");
        write_entries(&path, &edited);
        let out = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        out
    };
    cases.push((
        "truncated in half",
        bytes[..bytes.len() / 2].to_vec(),
        "corrupt or truncated",
    ));
    cases.push((
        "truncated gzip trailer",
        bytes[..bytes.len() - 4].to_vec(),
        "corrupt or truncated",
    ));
    cases.push(("empty file", Vec::new(), "not a gzip file"));
    cases.push((
        "not gzip",
        b"<course>not an archive</course>".to_vec(),
        "not a gzip file",
    ));
    cases.push((
        "trailing garbage",
        [bytes.clone(), b"garbage".to_vec()].concat(),
        "corrupt or truncated",
    ));
    cases.push((
        "a blob whose bytes do not match its name",
        rewrite(&|e| {
            let i = first_blob(e);
            e[i].bytes[0] ^= 0xff;
        }),
        "hash to",
    ));
    cases.push((
        "a blob renamed",
        rewrite(&|e| {
            let i = first_blob(e);
            let last = e[i].name.pop().unwrap();
            e[i].name.push(if last == '0' { '1' } else { '0' });
        }),
        "hash to",
    ));
    cases.push((
        "a blob missing",
        rewrite(&|e| {
            let i = first_blob(e);
            e.remove(i);
        }),
        "truncated or incomplete",
    ));
    cases.push((
        "a blob missing, the manifest adjusted",
        rewrite(&|e| {
            let i = first_blob(e);
            let gone = e.remove(i);
            let mut m = manifest_of(e);
            m["blobs"] = (m["blobs"].as_u64().unwrap() - 1).into();
            m["bytes"] = (m["bytes"].as_u64().unwrap() - gone.bytes.len() as u64).into();
            set_manifest(e, &m);
        }),
        "which its index references, is not in it",
    ));
    cases.push((
        "a duplicate blob",
        rewrite(&|e| {
            let i = first_blob(e);
            let dup = e[i].clone();
            e.insert(i, dup);
        }),
        "a duplicate",
    ));
    cases.push((
        "no manifest",
        rewrite(&|e| {
            e.remove(0);
        }),
        "not blockstore-dump/manifest.json",
    ));
    cases.push((
        "the manifest not first",
        rewrite(&|e| e.swap(0, 1)),
        "not blockstore-dump/manifest.json",
    ));
    cases.push((
        "a manifest of another format",
        rewrite(&|e| {
            let mut m = manifest_of(e);
            m["format"] = "something-else".into();
            set_manifest(e, &m);
        }),
        "not \"blockstore-dump\"",
    ));
    cases.push((
        "a manifest that is not JSON",
        rewrite(&|e| e[0].bytes = b"{not json".to_vec()),
        "is not valid",
    ));
    cases.push((
        "a newer format version",
        rewrite(&|e| {
            let mut m = manifest_of(e);
            m["format_version"] = 2.into();
            set_manifest(e, &m);
        }),
        "format version 2",
    ));
    cases.push((
        "an index that does not match the manifest's hash",
        rewrite(&|e| {
            let last = e[1].bytes.len() - 1;
            e[1].bytes[last] ^= 0x01;
        }),
        "store.db hashes to",
    ));
    cases.push((
        "an entry with ../",
        rewrite(&|e| {
            e.push(Entry {
                name: "blockstore-dump/../../evil.txt".into(),
                kind: tar::EntryType::Regular,
                bytes: b"evil".to_vec(),
            })
        }),
        "an unsafe path",
    ));
    cases.push((
        "an absolute path",
        rewrite(&|e| {
            e.push(Entry {
                name: "/tmp/evil.txt".into(),
                kind: tar::EntryType::Regular,
                bytes: b"evil".to_vec(),
            })
        }),
        "an unsafe path",
    ));
    cases.push((
        "a symlink",
        rewrite(&|e| {
            let i = first_blob(e);
            e[i].kind = tar::EntryType::Symlink;
            e[i].bytes.clear();
        }),
        "not a regular file",
    ));
    cases.push((
        "a device",
        rewrite(&|e| {
            e.push(Entry {
                name: "blockstore-dump/blobs/00/dev".into(),
                kind: tar::EntryType::Char,
                bytes: Vec::new(),
            })
        }),
        "not a regular file",
    ));
    cases.push((
        "an unexpected file",
        rewrite(&|e| {
            e.push(Entry {
                name: "blockstore-dump/README".into(),
                kind: tar::EntryType::Regular,
                bytes: b"hello".to_vec(),
            })
        }),
        "unexpected entry",
    ));

    for (what, dump, message) in &cases {
        let file = dir.path().join("bad.tar.gz");
        std::fs::write(&file, dump).unwrap();
        // Into a new dir: nothing is created. Into a store, even with
        // --force: nothing changes.
        let fresh = dir.path().join("fresh");
        let err = restore(&fresh, &file, &RestoreOptions::default(), &NoProgress).expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Invalid, "{what}: {err}");
        assert!(err.to_string().contains(message), "{what}: {err}");
        assert!(
            err.to_string().contains("bad.tar.gz"),
            "{what}: the message names the file: {err}"
        );
        assert!(!fresh.exists(), "{what}");
        let err = restore(&target, &file, &force(), &NoProgress).expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Invalid, "{what}: {err}");
        assert_eq!(snapshot(&Store::open(&target).unwrap()), before, "{what}");
        assert_eq!(
            names(dir.path()),
            ["bad.tar.gz", "good.tar.gz", "target"],
            "{what}: nothing is left behind"
        );
    }

    // Through the binary: exit 2, one clear line, the store unchanged.
    let file = dir.path().join("bad.tar.gz");
    std::fs::write(&file, &cases[0].1).unwrap();
    let cli = run_cli(&target, &["restore", "--force", file.to_str().unwrap()]);
    assert_eq!(cli.status.code(), Some(2), "{}", stderr(&cli));
    assert!(stderr(&cli).starts_with("error: "), "{}", stderr(&cli));
    assert_eq!(snapshot(&Store::open(&target).unwrap()), before);
}

#[test]
fn a_large_streamed_blob_that_does_not_match_its_name_is_refused() {
    let source = TestStore::new();
    source.create_collection("c", &Default::default()).unwrap();
    source
        .write("c", "static/large.bin", &large(), Source::Cli)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    source.dump(&good, &NoProgress).unwrap();
    let mut entries = read_entries(&good);
    let i = entries
        .iter()
        .position(|e| e.bytes.len() > 1 << 20)
        .unwrap();
    entries[i].bytes[1 << 19] ^= 0xff;
    let bad = dir.path().join("bad.tar.gz");
    write_entries(&bad, &entries);
    let target = dir.path().join("target");
    let err = restore(&target, &bad, &RestoreOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("hash to"), "{err}");
    assert_eq!(names(dir.path()), ["bad.tar.gz", "good.tar.gz"]);
    // The same archive unedited restores, the large blob included.
    restore(&target, &good, &RestoreOptions::default(), &NoProgress).unwrap();
    let restored = Store::open(&target).unwrap();
    assert_eq!(
        restored.read("c", "static/large.bin", At::Draft).unwrap().1,
        large()
    );
}

#[test]
fn a_dump_of_a_newer_schema_is_refused_as_incompatible() {
    let source = TestStore::new();
    seed(&source);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    source.dump(&good, &NoProgress).unwrap();
    let mut entries = read_entries(&good);
    let mut m = manifest_of(&entries);
    m["schema_version"] = (blockstore::store::SCHEMA_VERSION + 1).into();
    set_manifest(&mut entries, &m);
    let newer = dir.path().join("newer.tar.gz");
    write_entries(&newer, &entries);
    let fresh = dir.path().join("fresh");
    let err = restore(&fresh, &newer, &RestoreOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    let cli = run_cli(&fresh, &["restore", newer.to_str().unwrap()]);
    assert_eq!(cli.status.code(), Some(6), "{}", stderr(&cli));
    assert!(!fresh.exists());
}

#[test]
fn a_dump_of_an_older_schema_is_migrated_on_restore() {
    let source = TestStore::new();
    seed(&source);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    source.dump(&good, &NoProgress).unwrap();
    // Turn the dump's index into a schema-1 one: 0002 added version.uuid,
    // 0005 moved small blobs from files into the index.
    let mut entries = read_entries(&good);
    let db = dir.path().join("old.db");
    std::fs::write(&db, &entries[1].bytes).unwrap();
    let mut blob_entries = Vec::new();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn.prepare("SELECT hash, bytes FROM blob").unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let hash: String = row.get(0).unwrap();
            blob_entries.push(Entry {
                name: format!("blockstore-dump/blobs/{}/{}", &hash[..2], &hash[2..]),
                kind: tar::EntryType::Regular,
                bytes: row.get(1).unwrap(),
            });
        }
        drop(rows);
        drop(stmt);
        conn.execute_batch(
            "DROP INDEX version_uuid; ALTER TABLE version DROP COLUMN uuid;
             DROP TABLE blob; DROP TABLE blob_move;
             DROP TABLE named_draft_dependency; DROP TABLE collection_version_dependency;
         DROP TABLE named_draft_change; DROP TABLE named_draft;
         DROP INDEX collection_group_member; DROP TABLE collection_group;
         ALTER TABLE collection DROP COLUMN group_id; ALTER TABLE collection DROP COLUMN v1_slug;
             ALTER TABLE collection_version DROP COLUMN committed_from;
             PRAGMA user_version = 1; VACUUM;",
        )
        .unwrap();
    }
    assert!(
        blob_entries.len() > 40,
        "the seed's small blobs were inline"
    );
    entries[1].bytes = std::fs::read(&db).unwrap();
    let mut m = manifest_of(&entries);
    m["blobs"] = (m["blobs"].as_u64().unwrap() + blob_entries.len() as u64).into();
    m["bytes"] = (m["bytes"].as_u64().unwrap()
        + blob_entries
            .iter()
            .map(|e| e.bytes.len() as u64)
            .sum::<u64>())
    .into();
    m.as_object_mut().unwrap().remove("inline_blobs");
    entries.extend(blob_entries);
    entries[2..].sort_by(|a, b| a.name.cmp(&b.name));
    m["schema_version"] = 1.into();
    m["index_bytes"] = entries[1].bytes.len().into();
    m["index_hash"] = blockstore::store::hash_bytes(&entries[1].bytes).into();
    set_manifest(&mut entries, &m);
    let old = dir.path().join("old.tar.gz");
    write_entries(&old, &entries);

    let target = dir.path().join("restored");
    let report = restore(&target, &old, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_eq!(report.manifest.schema_version, 1);
    assert_eq!(report.schema_version, blockstore::store::SCHEMA_VERSION);
    let restored = Store::open(&target).unwrap();
    assert!(restored.fsck(&NoProgress).unwrap().is_clean());
    assert_eq!(
        json(&restored.versions("course").unwrap()),
        json(&source.versions("course").unwrap())
    );
    let files = restored.files("course", At::Draft).unwrap();
    let original = source.files("course", At::Draft).unwrap();
    let key = |f: &blockstore::store::FileEntry| (f.uuid.clone(), f.path.clone(), f.hash.clone());
    assert_eq!(
        files.iter().map(key).collect::<Vec<_>>(),
        original.iter().map(key).collect::<Vec<_>>()
    );
}

/// A progress sink that, at the dump's first blob, says so and waits to be
/// released: the dump is then mid-stream, holding the writers' lock.
struct Pause {
    reached: AtomicBool,
    release: AtomicBool,
}

impl Progress for Pause {
    fn advance(&self, _n: u64) {
        if !self.reached.swap(true, Ordering::SeqCst) {
            let start = std::time::Instant::now();
            while !self.release.load(Ordering::SeqCst) && start.elapsed().as_secs() < 20 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

#[test]
fn gc_waits_for_a_running_dump_so_the_snapshot_keeps_its_blobs() {
    let source = TestStore::new();
    seed(&source);
    let before = fingerprint(&source);
    let file = source.dir.path().join("dump.tar.gz");
    let pause = Pause {
        reached: AtomicBool::new(false),
        release: AtomicBool::new(false),
    };
    std::thread::scope(|s| {
        let dump = s.spawn(|| source.dump(&file, &pause));
        while !pause.reached.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The library's blobs become garbage, and gc would sweep them.
        source.delete_collection("library").unwrap();
        let gc = s.spawn(|| source.gc(&GcOptions::older_than_days(0, false)));
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!gc.is_finished(), "gc must wait for the dump");
        pause.release.store(true, Ordering::SeqCst);
        dump.join().unwrap().expect("the dump completes");
        let gc = gc.join().unwrap().unwrap();
        assert!(gc.blobs_deleted > 0, "the library's blobs were garbage");
    });
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("restored");
    restore(&target, &file, &RestoreOptions::default(), &NoProgress).unwrap();
    let restored = Store::open(&target).unwrap();
    assert_eq!(fingerprint(&restored), before, "the snapshot, whole");
    assert!(restored.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn an_interrupted_dump_or_restore_leaves_nothing() {
    let source = TestStore::new();
    seed(&source);
    let stop = AtomicBool::new(true);
    let file = source.dir.path().join("dump.tar.gz");
    let err = source.dump(&file, &stop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert_eq!(names(source.dir.path()), ["data"]);

    source.dump(&file, &NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("restored");
    let err = restore(&target, &file, &RestoreOptions::default(), &stop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn a_dump_is_a_plain_tar_gz_with_the_manifest_first() {
    let source = TestStore::new();
    seed(&source);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.tar.gz");
    source.dump(&file, &NoProgress).unwrap();
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&file)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar runs");
    assert!(tar.success(), "the system's tar reads a dump");
    let files = tree_files(&unpacked.join("blockstore-dump"));
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["format"], "blockstore-dump");
    assert_eq!(manifest["format_version"], 1);
    let blobs: Vec<_> = files.keys().filter(|k| k.starts_with("blobs/")).collect();
    assert_eq!(blobs.len() as u64, manifest["blobs"].as_u64().unwrap());
    for name in blobs {
        let hash = name["blobs/".len()..].replace('/', "");
        assert_eq!(blockstore::store::hash_bytes(&files[name]), hash);
    }
    let entries = read_entries(&file);
    let order: Vec<&str> = entries.iter().take(2).map(|e| e.name.as_str()).collect();
    assert_eq!(
        order,
        ["blockstore-dump/manifest.json", "blockstore-dump/store.db"]
    );
    let names: Vec<&String> = entries.iter().skip(2).map(|e| &e.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "blobs in hash order");
}

#[test]
fn a_dump_whose_index_carries_a_trigger_is_refused() {
    let source = TestStore::new();
    seed(&source);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    source.dump(&good, &NoProgress).unwrap();
    // A trigger that would point the next write's row at a file outside the
    // blob store, were it restored and run.
    let mut entries = read_entries(&good);
    let db = dir.path().join("planted.db");
    edit_index(&mut entries, &db, |conn| {
        conn.execute_batch(
            "CREATE TRIGGER planted AFTER INSERT ON version BEGIN
               UPDATE version SET hash = '../../../../etc/passwd' WHERE version_id = NEW.version_id;
             END; VACUUM;",
        )
        .unwrap();
    });
    let planted = dir.path().join("planted.tar.gz");
    write_entries(&planted, &entries);
    let target = dir.path().join("restored");
    let err = restore(&target, &planted, &RestoreOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("trigger planted"), "{err}");
    assert!(!target.exists());
}

/// A store of `mib` MiB of incompressible assets in 4 MiB files: slow enough
/// to dump or restore (in a debug build) that a run can be killed midway.
fn noisy_store(data: &Path, mib: u64) -> Store {
    let store = Store::open(data).unwrap();
    store
        .create_collection("noise", &Default::default())
        .unwrap();
    let mut rng = SplitMix64(8);
    for n in 0..mib / 4 {
        let bytes: Vec<u8> = (0..(4 << 20) / 8)
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
        store
            .write(
                "noise",
                &format!("static/noise-{n}.bin"),
                &bytes,
                Source::Cli,
            )
            .unwrap();
    }
    store
}

/// Starts the real binary on `data` with `args`, waits until `midway` says
/// the run is well under way, and returns it running. Panics if it ends first.
fn start_until(data: &Path, args: &[&str], midway: impl Fn() -> bool) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .arg("--data-dir")
        .arg(data)
        .args(crate::garage::backend_args(data))
        .args(args)
        .env_remove("BLOCKSTORE_DATA_DIR")
        .envs(crate::garage::env_if_started())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !midway() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("blockstore {args:?} ended ({status}) before it could be caught midway");
        }
        assert!(start.elapsed().as_secs() < 120, "{args:?} never got midway");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child
}

/// SIGKILLs `child` and reaps it; returns its process id (now a dead one's).
fn kill(mut child: std::process::Child) -> u32 {
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    pid
}

/// Names in `dir` starting with `prefix`, as full paths.
fn starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    found.sort();
    found
}

/// fsck's `debris` as (kind, path), sorted.
fn fsck_debris(data: &Path) -> Vec<(String, PathBuf)> {
    let report = cli_json(data, &["fsck"]);
    let mut found: Vec<(String, PathBuf)> = report["debris"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert!(d["bytes"].as_u64().is_some(), "{d}");
            (
                d["kind"].as_str().unwrap().to_string(),
                PathBuf::from(d["path"].as_str().unwrap()),
            )
        })
        .collect();
    found.sort();
    found
}

/// A partial dump's two files (archive, index), sorted by kind.
fn dump_debris(partials: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = partials
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            let kind = if name.contains(".partial-") {
                "dump_partial"
            } else {
                "dump_index"
            };
            (kind.to_string(), p.clone())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn killed_dumps_leave_debris_that_fsck_reports_gc_and_the_next_dump_remove() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(noisy_store(&data, 32));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let file = out.join("store.tar.gz");
    let arg = file.to_str().unwrap();
    let partials = || starting(&out, ".store.tar.gz.");
    let registered = || {
        std::fs::read_dir(data.join("partial-dumps"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let midway = || {
        partials().iter().any(|p| {
            p.to_string_lossy().contains(".partial-")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 1 << 20)
        })
    };

    // A running dump's files are never touched: not by fsck, not by another
    // dump to the same name (of another store), which cleans up beside it.
    let running = start_until(&data, &["dump", arg], midway);
    // Held where it is (still running, as its store sees it: its process is
    // alive), so it cannot finish while the checks below run on a busy machine.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &running.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let live = partials();
    assert_eq!(live.len(), 2, "the archive so far and the index: {live:?}");
    assert_eq!(
        registered(),
        1,
        "the dump registered itself in the data dir"
    );
    assert_eq!(fsck_debris(&data), [], "a running dump is no debris");
    let small = dir.path().join("small");
    drop(Store::open(&small).unwrap());
    cli_json(&small, &["dump", arg]);
    assert!(
        live.iter().all(|p| p.exists()),
        "the running dump's files stay"
    );
    std::fs::remove_file(&file).unwrap();

    // Killed: its files stay behind, and fsck reports them, human and JSON.
    let dead_pid = kill(running);
    assert_eq!(partials(), live, "what a killed dump leaves");
    assert_eq!(fsck_debris(&data), dump_debris(&live));
    let human = run_cli(&data, &["fsck"]);
    assert_eq!(
        human.status.code(),
        Some(0),
        "debris is no problem: {}",
        stdout(&human)
    );
    let text = stdout(&human);
    assert!(
        text.contains("2 leftovers of killed dumps and restores"),
        "{text}"
    );
    for p in &live {
        assert!(text.contains(&p.display().to_string()), "{text}");
    }
    assert!(text.contains("gc removes them"), "{text}");

    // gc --dry-run names them and keeps them; gc removes them.
    let dry = cli_json(&data, &["gc", "--dry-run"]);
    assert_eq!(dry["debris_deleted"].as_array().unwrap().len(), 2, "{dry}");
    assert!(dry["debris_bytes_freed"].as_u64().unwrap() > 1 << 20);
    assert_eq!(partials(), live);
    let gc = cli_json(&data, &["gc"]);
    let mut deleted: Vec<PathBuf> = gc["debris_deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    deleted.sort();
    assert_eq!(deleted, live);
    assert_eq!(partials(), Vec::<PathBuf>::new(), "gc removed them");
    assert_eq!(registered(), 0, "and the registration");
    assert_eq!(fsck_debris(&data), []);

    // Killed again; and an unregistered partial of an older binary beside
    // the same name (its process gone), and one beside another name.
    let second = kill(start_until(&data, &["dump", arg], midway));
    assert_eq!(partials().len(), 2);
    let legacy = out.join(format!(".store.tar.gz.partial-{dead_pid}"));
    std::fs::write(&legacy, b"half an archive").unwrap();
    let other = out.join(format!(".other.tar.gz.partial-{second}"));
    std::fs::write(&other, b"another output's").unwrap();
    // The next dump removes the lot and writes a whole archive.
    let report = cli_json(&data, &["dump", arg]);
    assert_eq!(report["blobs"], 8);
    assert_eq!(
        partials(),
        Vec::<PathBuf>::new(),
        "the next dump cleaned up"
    );
    assert_eq!(registered(), 0);
    assert!(
        other.exists(),
        "another name's unregistered file is not this dump's to judge"
    );
    assert_eq!(
        names(&out),
        [
            ".other.tar.gz.partial-".to_string() + &second.to_string(),
            "store.tar.gz".into()
        ]
    );
    let restored = dir.path().join("restored");
    restore(&restored, &file, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_eq!(
        fingerprint(&Store::open(&restored).unwrap()),
        fingerprint(&Store::open(&data).unwrap())
    );
}

#[test]
fn killed_restores_leave_debris_that_fsck_reports_gc_and_the_next_restore_remove() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noise.tar.gz");
    noisy_store(&dir.path().join("source"), 32)
        .dump(&file, &NoProgress)
        .unwrap();
    let arg = file.to_str().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open(&data).unwrap();
        store
            .create_collection("mine", &Default::default())
            .unwrap();
        store.write("mine", "a.xml", b"<a/>", Source::Cli).unwrap();
    }
    let before = snapshot(&Store::open(&data).unwrap());
    let staging = || starting(dir.path(), ".data.restore-");
    let midway = || {
        staging().iter().any(|s| {
            walkdir::WalkDir::new(s)
                .into_iter()
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum::<u64>()
                > 4 << 20
        })
    };

    // A running restore's staging store is never touched: fsck does not
    // report it, gc of the data dir does not remove it.
    let running = start_until(&data, &["restore", "--force", arg], midway);
    let live = staging();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(fsck_debris(&data), [], "a running restore is no debris");
    let gc = cli_json(&data, &["gc"]);
    assert_eq!(gc["debris_deleted"], serde_json::json!([]), "{gc}");
    assert!(
        live[0].join("store.db").exists(),
        "the running restore's store stays"
    );

    // Killed: the staging store stays, the data dir is as it was.
    let dead_pid = kill(running);
    assert_eq!(staging(), live);
    assert_eq!(snapshot(&Store::open(&data).unwrap()), before);
    let expected = vec![("restore_staging".to_string(), live[0].clone())];
    assert_eq!(fsck_debris(&data), expected);
    let text = stdout(&run_cli(&data, &["fsck"]));
    assert!(
        text.contains(&format!("leftover {}", live[0].display()))
            && text.contains("a restore's staging store")
            && text.contains("gc removes them"),
        "{text}"
    );
    let dry = cli_json(&data, &["gc", "--dry-run"]);
    assert_eq!(
        dry["debris_deleted"],
        serde_json::json!([live[0].display().to_string()])
    );
    assert!(dry["debris_bytes_freed"].as_u64().unwrap() > 4 << 20);
    assert_eq!(staging(), live, "a dry run removes nothing");
    cli_json(&data, &["gc"]);
    assert_eq!(staging(), Vec::<PathBuf>::new(), "gc removed it");
    assert_eq!(snapshot(&Store::open(&data).unwrap()), before);

    // Killed again, plus an older binary's staging folder (its process
    // gone): the next restore removes both, and restores.
    kill(start_until(&data, &["restore", "--force", arg], midway));
    let legacy = dir.path().join(format!(
        ".data.restore-{dead_pid}-{}",
        "0123456789abcdef0123456789abcdef"
    ));
    std::fs::create_dir_all(legacy.join("blobs")).unwrap();
    assert_eq!(staging().len(), 2);
    let done = cli_json(&data, &["restore", "--force", arg]);
    assert_eq!(done["replaced"], true);
    assert_eq!(
        staging(),
        Vec::<PathBuf>::new(),
        "the next restore cleaned up"
    );
    assert_eq!(names(dir.path()), ["data", "noise.tar.gz", "source"]);
    assert_eq!(
        fingerprint(&Store::open(&data).unwrap()),
        fingerprint(&Store::open(dir.path().join("source")).unwrap())
    );
}

#[test]
fn a_dump_whose_index_holds_a_damaged_inline_blob_is_refused() {
    let source = TestStore::new();
    seed_with(&source, false);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    let dumped = source.dump(&good, &NoProgress).unwrap();
    assert!(dumped.inline_blobs > 40, "{dumped:?}");
    let mut entries = read_entries(&good);
    let db = dir.path().join("index.db");
    edit_index(&mut entries, &db, |conn| {
        conn.execute(
            "UPDATE blob SET bytes = X'00' WHERE blob_id = (SELECT min(blob_id) FROM blob)",
            [],
        )
        .unwrap();
    });
    let bad = dir.path().join("bad.tar.gz");
    write_entries(&bad, &entries);
    let target = dir.path().join("restored");
    let err = restore(&target, &bad, &RestoreOptions::default(), &NoProgress).unwrap_err();
    assert!(
        err.to_string().contains("hash to") && err.to_string().contains("corrupt"),
        "{err}"
    );
    assert!(!target.exists(), "a refused restore creates nothing");
}
