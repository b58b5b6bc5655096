//! The library through its public API: drafts, publish, history, diff, revert,
//! renames, dedup, gc, malformed units and bad input.

use crate::common::*;
use blockstore::olx::{import_dir, ImportOptions};
use blockstore::store::{
    At, ChangeStatus, CollectionMetadata, Direction, Error, ErrorKind, FileQuery, GcOptions,
    NoProgress, PublishOptions, Source,
};

fn publish(store: &blockstore::Store, slug: &str, message: &str) -> i64 {
    store
        .publish(
            slug,
            &PublishOptions {
                message: message.into(),
                strict: false,
            },
        )
        .expect("publish succeeds")
        .number
}

fn import(
    store: &blockstore::Store,
    root: &std::path::Path,
    slug: &str,
) -> blockstore::olx::ImportReport {
    let options = ImportOptions {
        collection: Some(slug.into()),
        ..ImportOptions::default()
    };
    import_dir(store, root, &options, &NoProgress).expect("import succeeds")
}

#[test]
fn a_draft_publish_history_diff_revert_cycle_keeps_every_version_browsable() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "html/a.html", b"<p>one</p>", Source::Cli)
        .unwrap();
    t.write("demo", "problem/p.xml", b"<problem/>", Source::Cli)
        .unwrap();
    assert_eq!(t.status("demo").unwrap().len(), 2, "two pending changes");
    assert_eq!(publish(&t, "demo", "first"), 1);
    assert!(
        t.status("demo").unwrap().is_empty(),
        "publish empties the draft"
    );

    t.write("demo", "html/a.html", b"<p>two</p>", Source::Cli)
        .unwrap();
    t.write("demo", "html/b.html", b"<p>new</p>", Source::Api)
        .unwrap();
    t.delete("demo", "problem/p.xml", Source::Cli).unwrap();
    let diff = t.diff("demo", At::Version(1), At::Draft).unwrap();
    let summary: Vec<(ChangeStatus, &str)> = diff
        .entries
        .iter()
        .map(|c| (c.status, c.path.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (ChangeStatus::Modified, "html/a.html"),
            (ChangeStatus::Added, "html/b.html"),
            (ChangeStatus::Deleted, "problem/p.xml"),
        ],
        "diff from version 1 to the draft"
    );
    assert_eq!(publish(&t, "demo", "second"), 2);

    // Version 1 is still browsable as it was.
    let (_, v1) = t.read("demo", "html/a.html", At::Version(1)).unwrap();
    assert_eq!(v1, b"<p>one</p>");
    let (_, v2) = t.read("demo", "html/a.html", At::Latest).unwrap();
    assert_eq!(v2, b"<p>two</p>");
    assert!(
        t.file("demo", "problem/p.xml", At::Version(1)).is_ok(),
        "deleted later, present in v1"
    );
    let gone = t.file("demo", "problem/p.xml", At::Version(2)).unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "deleted in version 2");
    let paths: Vec<String> = t
        .files("demo", At::Version(1))
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(paths, vec!["html/a.html", "problem/p.xml"]);

    // History of one path: numbered versions newest first, and draft revisions.
    let history = t.history("demo", "html/a.html").unwrap();
    let numbers: Vec<Option<i64>> = history.versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, vec![Some(2), Some(1)]);
    assert_eq!(history.revisions.len(), 2, "each save is a draft revision");

    let text = t
        .text_diff("demo", "html/a.html", At::Version(1), At::Version(2))
        .unwrap();
    assert!(
        text.contains("-<p>one</p>") && text.contains("+<p>two</p>"),
        "unified diff:\n{text}"
    );

    // Revert discards the draft, whole or by path.
    t.write("demo", "html/a.html", b"<p>three</p>", Source::Cli)
        .unwrap();
    t.write("demo", "html/c.html", b"<p>c</p>", Source::Cli)
        .unwrap();
    let reverted = t.revert("demo", Some("html/a.html")).unwrap();
    assert_eq!(reverted.discarded, vec!["html/a.html"]);
    assert_eq!(
        t.read("demo", "html/a.html", At::Draft).unwrap().1,
        b"<p>two</p>"
    );
    assert!(
        t.file("demo", "html/c.html", At::Draft).is_ok(),
        "a path revert leaves other drafts"
    );
    t.revert("demo", None).unwrap();
    assert!(t.status("demo").unwrap().is_empty());
    assert!(
        t.file("demo", "html/c.html", At::Draft).is_err(),
        "a never-published file disappears on revert"
    );

    // Numbers only grow: a revert never frees a number.
    t.write("demo", "html/a.html", b"<p>four</p>", Source::Cli)
        .unwrap();
    assert_eq!(publish(&t, "demo", "third"), 3);
    let history = t.history("demo", "html/a.html").unwrap();
    assert_eq!(history.versions[0].number, Some(3));
    let fsck = t.fsck(&NoProgress).unwrap();
    assert!(fsck.is_clean(), "{:?}", fsck.problems);
}

#[test]
fn a_unit_with_many_links_keeps_each_in_document_order_with_its_line() {
    // More links than one statement inserts on PostgreSQL (16), and not a
    // multiple of it.
    let t = TestStore::new();
    t.create_collection("many", &CollectionMetadata::default())
        .unwrap();
    let mut xml = String::from("<vertical display_name=\"Many\">\n");
    for i in 0..37 {
        xml.push_str(&format!("  <html url_name=\"h{i:02}\"/>\n"));
    }
    xml.push_str("</vertical>\n");
    t.write("many", "vertical/many.xml", xml.as_bytes(), Source::Cli)
        .unwrap();
    let links = t
        .links("many", "vertical/many.xml", At::Draft, Direction::Out)
        .unwrap();
    let found: Vec<(String, u32)> = links.iter().map(|l| (l.written.clone(), l.line)).collect();
    let expected: Vec<(String, u32)> = (0..37).map(|i| (format!("h{i:02}"), i + 2)).collect();
    assert_eq!(found, expected);
    for link in &links {
        assert_eq!(t.link(&link.uuid).unwrap().line, link.line);
    }
    // The same content at another path is scanned once: its links are
    // found from there too.
    t.write("many", "vertical/again.xml", xml.as_bytes(), Source::Cli)
        .unwrap();
    let again = t
        .links("many", "vertical/again.xml", At::Draft, Direction::Out)
        .unwrap();
    assert_eq!(again.len(), 37);
}

/// A write stamps its collection's `updated_at` (on PostgreSQL that update
/// waits to go with the commit): alone, in a group of concurrent writes,
/// and in a batch.
#[test]
fn every_kind_of_write_stamps_the_collections_updated_at() {
    let t = TestStore::new();
    t.create_collection("stamp", &CollectionMetadata::default())
        .unwrap();
    let stamp = || t.collection("stamp").unwrap().updated_at;
    let mut last = stamp();
    let mut moved = |what: &str| {
        let now = stamp();
        assert!(now > last, "{what}: {now} after {last}");
        last = now;
    };
    t.write("stamp", "html/a.html", b"<p>a</p>", Source::Cli)
        .unwrap();
    moved("one write");
    std::thread::scope(|scope| {
        for n in 0..4 {
            let store = &t.store;
            scope.spawn(move || {
                let path = format!("html/g{n}.html");
                store
                    .write_if("stamp", &path, b"<p>g</p>", Source::Api, None)
                    .unwrap();
            });
        }
    });
    moved("concurrent writes");
    let tree = t.dir.path().join("tree");
    write_tree(&tree, &[("html/b.html", b"<p>b</p>")]);
    import(&t, &tree, "stamp");
    moved("an import");
}

/// A write that creates a file answers with the file as reading it back
/// gives (the answer is made from what the write inserted, not read back).
#[test]
fn a_created_files_answer_is_what_reading_it_back_gives() {
    let t = TestStore::new();
    t.create_collection("ans", &CollectionMetadata::default())
        .unwrap();
    let asset: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    for (path, bytes) in [
        ("html/a.html", &b"<p>a</p>"[..]),
        ("problem/p.xml", b"<problem/>"),
        ("static/x.bin", &asset),
    ] {
        let written = t.write_if("ans", path, bytes, Source::Api, None).unwrap();
        assert_eq!(written.outcome, blockstore::store::WriteOutcome::Created);
        assert_eq!(
            written.file,
            t.file("ans", path, At::Draft).unwrap(),
            "{path}"
        );
    }
    // Written again (modified), it is read back as before.
    let written = t
        .write_if("ans", "html/a.html", b"<p>b</p>", Source::Api, None)
        .unwrap();
    assert_eq!(
        written.file,
        t.file("ans", "html/a.html", At::Draft).unwrap()
    );
}

#[test]
fn a_rename_keeps_the_uuid_and_shows_as_a_rename() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "html/a.html", b"<p>a</p>", Source::Cli)
        .unwrap();
    publish(&t, "demo", "one");
    let before = t.file("demo", "html/a.html", At::Draft).unwrap();
    t.rename("demo", "html/a.html", "html/renamed.html", Source::Cli)
        .unwrap();
    let after = t.file("demo", "html/renamed.html", At::Draft).unwrap();
    assert_eq!(
        before.uuid, after.uuid,
        "a rename keeps the linkable's uuid"
    );
    let report = t.publish("demo", &PublishOptions::default()).unwrap();
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.changes[0].status, ChangeStatus::Renamed);
    assert_eq!(report.changes[0].old_path.as_deref(), Some("html/a.html"));
    let detail = t.version("demo", 2).unwrap();
    assert_eq!(
        detail.entries[0].status,
        ChangeStatus::Renamed,
        "the publish log records the rename"
    );
    assert!(t.file("demo", "html/a.html", At::Version(2)).is_err());
    assert!(t.file("demo", "html/a.html", At::Version(1)).is_ok());
}

#[test]
fn deleting_then_recreating_a_path_revives_its_uuid_with_a_new_number() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "static/x.png", b"png", Source::Cli)
        .unwrap();
    publish(&t, "demo", "one");
    let uuid = t.file("demo", "static/x.png", At::Draft).unwrap().uuid;
    t.delete("demo", "static/x.png", Source::Cli).unwrap();
    assert!(
        t.file("demo", "static/x.png", At::Draft).is_err(),
        "deleted in the draft"
    );
    assert!(
        t.file("demo", "static/x.png", At::Latest).is_ok(),
        "still published until publish"
    );
    let report = t.publish("demo", &PublishOptions::default()).unwrap();
    assert_eq!(report.changes[0].status, ChangeStatus::Deleted);
    t.write("demo", "static/x.png", b"png2", Source::Cli)
        .unwrap();
    publish(&t, "demo", "three");
    let file = t.file("demo", "static/x.png", At::Latest).unwrap();
    assert_eq!(
        file.uuid, uuid,
        "re-adding a deleted path revives the linkable"
    );
    assert_eq!(file.version, Some(3), "version 2 was the deletion");
}

#[test]
fn writing_the_published_bytes_back_is_no_change_and_empty_publish_is_refused() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    let err = t.publish("demo", &PublishOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::NothingToPublish { .. }),
        "an empty collection has nothing to publish: {err}"
    );
    t.write("demo", "a.xml", b"<a/>", Source::Cli).unwrap();
    publish(&t, "demo", "one");
    t.write("demo", "a.xml", b"<b/>", Source::Cli).unwrap();
    t.write("demo", "a.xml", b"<a/>", Source::Cli).unwrap();
    assert!(
        t.status("demo").unwrap().is_empty(),
        "back to the published bytes: no draft"
    );
    let before = snapshot(&t);
    let err = t.publish("demo", &PublishOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("nothing to publish"), "{err}");
    assert_eq!(snapshot(&t), before, "a refused publish changes nothing");
}

#[test]
fn reimporting_the_same_tree_changes_nothing_and_a_moved_file_keeps_its_uuid() {
    let t = TestStore::new();
    let first = import(&t, &sample_course(), "sample");
    assert_eq!(first.changes.created.len() as u64, first.files);
    publish(&t, "sample", "import");
    let again = import(&t, &sample_course(), "sample");
    assert_eq!(again.changes.changed(), 0, "same bytes: no new versions");
    assert_eq!(again.new_blobs, 0);
    assert!(t.status("sample").unwrap().is_empty());

    // Move one file in a copy of the tree: the import sees a rename.
    let copy = t.dir.path().join("copy");
    for (path, bytes) in tree_files(&sample_course()) {
        write_tree(&copy, &[(&path, &bytes)]);
    }
    let uuid = t
        .file("sample", "static/olx-tree.png", At::Draft)
        .unwrap()
        .uuid;
    std::fs::rename(
        copy.join("static/olx-tree.png"),
        copy.join("static/olx-tree-moved.png"),
    )
    .unwrap();
    let moved = import(&t, &copy, "sample");
    assert_eq!(
        moved.changes.renamed,
        vec![(
            "static/olx-tree.png".to_string(),
            "static/olx-tree-moved.png".to_string()
        )]
    );
    assert_eq!(
        t.file("sample", "static/olx-tree-moved.png", At::Draft)
            .unwrap()
            .uuid,
        uuid
    );
}

#[test]
fn two_collections_importing_the_same_tree_store_each_blob_once() {
    let t = TestStore::new();
    let a = import(&t, &sample_course(), "a");
    let b = import(&t, &sample_course(), "b");
    assert_eq!(
        a.new_blobs,
        tree_files(&sample_course())
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len() as u64
    );
    assert_eq!(
        b.new_blobs, 0,
        "the second import finds every blob already stored"
    );
    let blobs = t.blobs().list().unwrap();
    assert_eq!(
        blobs.blobs.len() as u64,
        a.new_blobs,
        "one blob per distinct content"
    );
}

#[test]
fn malformed_xml_is_stored_flagged_and_refused_only_by_a_strict_publish() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write(
        "demo",
        "html/page.html",
        b"<p>unclosed <b>html is fine",
        Source::Cli,
    )
    .unwrap();
    t.write(
        "demo",
        "problem/p.xml",
        b"<problem>\n  <p>half written\n",
        Source::Cli,
    )
    .unwrap();
    let (_, bytes) = t.read("demo", "problem/p.xml", At::Draft).unwrap();
    assert_eq!(
        bytes, b"<problem>\n  <p>half written\n",
        "a malformed unit is stored as it is"
    );
    let report = t.link_report("demo", At::Draft).unwrap();
    let malformed: Vec<&str> = report.malformed.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        malformed,
        vec!["problem/p.xml"],
        "HTML bodies never count as malformed"
    );
    assert!(report.malformed[0].problems[0].line >= 1);

    let before = snapshot(&t);
    let err = t
        .publish(
            "demo",
            &PublishOptions {
                message: String::new(),
                strict: true,
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::MalformedUnits { paths, .. } if paths == &vec!["problem/p.xml".to_string()]),
        "{err}"
    );
    assert_eq!(
        snapshot(&t),
        before,
        "a refused strict publish changes nothing"
    );

    let published = t.publish("demo", &PublishOptions::default()).unwrap();
    assert_eq!(
        published.malformed.len(),
        1,
        "a normal publish goes ahead and warns"
    );
    t.write(
        "demo",
        "problem/p.xml",
        b"<problem><p>fixed</p></problem>",
        Source::Cli,
    )
    .unwrap();
    assert!(
        t.link_report("demo", At::Draft)
            .unwrap()
            .malformed
            .is_empty(),
        "fixing clears the flag"
    );
    t.publish(
        "demo",
        &PublishOptions {
            message: String::new(),
            strict: true,
        },
    )
    .expect("strict publish of a fixed unit");
}

#[test]
fn bad_paths_unknown_slugs_and_bad_slugs_are_refused_and_change_nothing() {
    let t = TestStore::new();
    import(&t, &sample_course(), "sample");
    let before = snapshot(&t);
    for bad in [
        "../etc/passwd",
        "/etc/passwd",
        "a/../../b",
        "a\0b",
        "a\\b",
        "",
        "a//b",
    ] {
        let err = t.write("sample", bad, b"x", Source::Cli).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Invalid,
            "{bad:?} must be refused: {err}"
        );
        assert!(t.delete("sample", bad, Source::Cli).is_err());
    }
    let err = t.write("nope", "a.xml", b"x", Source::Cli).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains("nope"),
        "the message names the slug: {err}"
    );
    for bad in ["has space", "../x", "", "a/b"] {
        let err = t
            .create_collection(bad, &CollectionMetadata::default())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{bad:?}");
    }
    let err = t
        .create_collection("sample", &CollectionMetadata::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "slugs are unique");
    assert!(
        t.file("sample", "course.xml", At::Version(7)).is_err(),
        "unknown version"
    );
    assert_eq!(snapshot(&t), before, "nothing changed");
}

#[cfg(unix)]
#[test]
fn an_import_with_a_non_utf8_file_name_fails_naming_the_file_and_changes_nothing() {
    use std::os::unix::ffi::OsStrExt;
    let t = TestStore::new();
    import(&t, &sample_course(), "sample");
    let before = snapshot(&t);
    let tree = t.dir.path().join("bad");
    write_tree(&tree, &[("course.xml", b"<course/>")]);
    std::fs::write(
        tree.join(std::ffi::OsStr::from_bytes(b"bad\xffname.xml")),
        b"<x/>",
    )
    .unwrap();
    let options = ImportOptions {
        collection: Some("sample".into()),
        ..ImportOptions::default()
    };
    let err = import_dir(&t, &tree, &options, &NoProgress).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert_eq!(snapshot(&t), before);
    // A new collection is not left behind by a failed import.
    let options = ImportOptions {
        collection: Some("fresh".into()),
        ..ImportOptions::default()
    };
    assert!(import_dir(&t, &tree, &options, &NoProgress).is_err());
    assert!(t.collection("fresh").is_err());
}

#[test]
fn gc_deletes_old_versions_but_never_protected_ones_and_dry_run_changes_nothing() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    for (n, body) in ["one", "two", "three"].iter().enumerate() {
        t.write("demo", "html/a.html", body.as_bytes(), Source::Cli)
            .unwrap();
        t.write("demo", "html/keep.html", b"same", Source::Cli)
            .unwrap();
        publish(&t, "demo", &format!("v{}", n + 1));
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = blockstore::store::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    t.write("demo", "html/a.html", b"four", Source::Cli)
        .unwrap();
    publish(&t, "demo", "v4");
    t.write("demo", "html/a.html", b"draft", Source::Cli)
        .unwrap();

    let before = snapshot(&t);
    let blobs_before = t.blobs().list().unwrap().blobs.len();
    let dry = t
        .gc(&GcOptions {
            cutoff: cutoff.clone(),
            dry_run: true,
        })
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(snapshot(&t), before, "a dry run changes nothing");
    assert_eq!(t.blobs().list().unwrap().blobs.len(), blobs_before);

    let report = t
        .gc(&GcOptions {
            cutoff,
            dry_run: false,
        })
        .unwrap();
    assert_eq!(
        report.versions_deleted, dry.versions_deleted,
        "the dry run reported what gc did"
    );
    assert_eq!(report.bytes_freed, dry.bytes_freed);
    // Collection versions 1-3 are older than the cutoff and not the latest, so
    // they are pruned; versions 1-3 of html/a.html served only them and go. v4 is
    // the latest published version and the draft is the draft: both stay.
    let numbers: Vec<Option<i64>> = t
        .history("demo", "html/a.html")
        .unwrap()
        .versions
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(
        numbers,
        vec![None, Some(4)],
        "only the draft and the latest published version survive"
    );
    let keep: Vec<Option<i64>> = t
        .history("demo", "html/keep.html")
        .unwrap()
        .versions
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(
        keep,
        vec![Some(1)],
        "a file's latest published version is never collected, however old"
    );
    assert_eq!(report.collection_versions_pruned, 3);
    assert!(
        t.files("demo", At::Version(4)).is_ok(),
        "the latest collection version stays browsable"
    );
    assert!(
        t.files("demo", At::Version(1)).is_err(),
        "a pruned collection version says so"
    );
    assert_eq!(report.blobs_deleted, 3, "blobs of one, two and three");
    assert_eq!(
        t.read("demo", "html/a.html", At::Draft).unwrap().1,
        b"draft"
    );
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn gc_removes_an_orphaned_asset_only_when_its_flag_allows() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write(
        "demo",
        "course.xml",
        b"<course><html url_name=\"a\"/></course>",
        Source::Cli,
    )
    .unwrap();
    t.write("demo", "html/a.xml", b"<html filename=\"a\"/>", Source::Cli)
        .unwrap();
    t.write(
        "demo",
        "html/a.html",
        b"<img src=\"/static/used.png\">",
        Source::Cli,
    )
    .unwrap();
    t.write("demo", "static/used.png", b"used", Source::Cli)
        .unwrap();
    t.write("demo", "static/orphan.png", b"orphan", Source::Cli)
        .unwrap();
    t.write("demo", "static/pinned.png", b"pinned", Source::Cli)
        .unwrap();
    publish(&t, "demo", "one");
    let far_past = "2000-01-01T00:00:00.000000Z".to_string();

    let report = t
        .gc(&GcOptions {
            cutoff: far_past.clone(),
            dry_run: false,
        })
        .unwrap();
    assert!(
        report.orphans_deleted.is_empty(),
        "no flag set: nothing is deleted"
    );

    t.set_garbage_collect("demo", "static/orphan.png", true)
        .unwrap();
    t.set_garbage_collect("demo", "static/used.png", true)
        .unwrap();
    let dry = t
        .gc(&GcOptions {
            cutoff: far_past.clone(),
            dry_run: true,
        })
        .unwrap();
    assert_eq!(dry.orphans_deleted, vec!["demo:static/orphan.png"]);
    assert!(
        t.file("demo", "static/orphan.png", At::Draft).is_ok(),
        "a dry run deletes nothing"
    );
    let report = t
        .gc(&GcOptions {
            cutoff: far_past,
            dry_run: false,
        })
        .unwrap();
    assert_eq!(
        report.orphans_deleted,
        vec!["demo:static/orphan.png"],
        "only the flagged orphan goes"
    );
    assert!(t.file("demo", "static/orphan.png", At::Draft).is_err());
    assert!(
        t.file("demo", "static/used.png", At::Draft).is_ok(),
        "a linked asset stays despite its flag"
    );
    assert!(
        t.file("demo", "static/pinned.png", At::Draft).is_ok(),
        "an unflagged orphan stays"
    );
    assert!(
        t.file("demo", "static/orphan.png", At::Latest).is_ok(),
        "the deletion is a draft change until publish"
    );
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn fsck_finds_a_corrupted_and_a_missing_blob() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "a.xml", b"<a/>", Source::Cli).unwrap();
    t.write("demo", "b.xml", b"<b/>", Source::Cli).unwrap();
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
    let a = t.file("demo", "a.xml", At::Draft).unwrap().hash;
    let b = t.file("demo", "b.xml", At::Draft).unwrap().hash;
    tamper_blob(&t.data_dir(), &a, b"<tampered/>");
    remove_blob(&t.data_dir(), &b);
    let report = t.fsck(&NoProgress).unwrap();
    let codes: Vec<&str> = report.problems.iter().map(|p| p.code).collect();
    assert!(
        codes.contains(&"corrupt_blob") && codes.contains(&"missing_blob"),
        "{codes:?}"
    );
    let err = t.read("demo", "a.xml", At::Draft).unwrap_err();
    assert!(
        matches!(err, Error::CorruptBlob { .. }),
        "reads are verified: {err}"
    );
}

#[test]
fn events_follow_the_publish_lifecycle() {
    use blockstore::store::Event;
    let t = TestStore::new();
    let mut events = t.subscribe();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "a.xml", b"<a/>", Source::Api).unwrap();
    publish(&t, "demo", "one");
    t.write("demo", "a.xml", b"<b/>", Source::Api).unwrap();
    t.revert("demo", None).unwrap();
    t.delete_collection("demo").unwrap();
    let kinds: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| {
            serde_json::to_value(&e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "collection.created",
            "draft.changed",
            "collection.published",
            "draft.changed",
            "collection.reverted",
            "collection.deleted"
        ]
    );
    let _ = Event::CollectionCreated {
        collection: String::new(),
    };
}

#[test]
fn fsck_finds_rows_that_break_the_model() {
    let Some(t) = TestStore::embedded() else {
        return;
    };
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "a.xml", b"<a/>", Source::Cli).unwrap();
    publish(&t, "demo", "one");
    t.write("demo", "a.xml", b"<b/>", Source::Cli).unwrap();
    publish(&t, "demo", "two");
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
    // Make version 1 of a.xml live forever: versions 1 and 2 now overlap.
    let conn = rusqlite::Connection::open(t.data_dir().join("store.db")).unwrap();
    conn.execute(
        "UPDATE version SET superseded_in = NULL WHERE number = 1",
        [],
    )
    .unwrap();
    drop(conn);
    let report = t.fsck(&NoProgress).unwrap();
    let codes: Vec<&str> = report.problems.iter().map(|p| p.code).collect();
    assert!(codes.contains(&"duplicate_path"), "{:?}", report.problems);
}

#[test]
fn gc_in_another_thread_waits_for_a_write_session_and_never_sweeps_its_blobs() {
    use blockstore::store::{BatchEntry, RelPath};
    use std::sync::mpsc::channel;
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    let (written_tx, written_rx) = channel();
    let (go_tx, go_rx) = channel::<()>();
    std::thread::scope(|scope| {
        let t = &t;
        let session = scope.spawn(move || {
            t.write_session(|session| {
                let bytes = b"<p>written before gc, committed after</p>";
                let blob = session.blobs().put_deferred(bytes)?;
                written_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                let path = RelPath::new("html/late.html")?;
                let entry = BatchEntry::new(path, blob, bytes);
                session.apply(
                    "demo",
                    [Ok(entry)],
                    1,
                    Vec::new(),
                    false,
                    Source::Api,
                    &NoProgress,
                )
            })
        });
        written_rx.recv().unwrap();
        // Another writer in the same process comes and goes meanwhile.
        t.write("demo", "html/other.html", b"<p>other</p>", Source::Api)
            .unwrap();
        let gc = scope.spawn(move || {
            t.gc(&GcOptions {
                cutoff: blockstore::store::now(),
                dry_run: false,
            })
            .unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !gc.is_finished(),
            "gc waits while a write session holds blobs it has not committed"
        );
        go_tx.send(()).unwrap();
        session.join().unwrap().expect("the session commits");
        gc.join().unwrap();
    });
    let (_, bytes) = t
        .read("demo", "html/late.html", At::Draft)
        .expect("the session's blob survived gc");
    assert_eq!(bytes, b"<p>written before gc, committed after</p>");
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn reverting_one_path_never_puts_two_files_at_one_path() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write("c", "html/p.html", b"one", Source::Cli).unwrap();
    publish(&t, "c", "one");
    t.rename("c", "html/p.html", "html/q.html", Source::Cli)
        .unwrap();
    t.write("c", "html/p.html", b"new", Source::Cli).unwrap();
    let before = snapshot(&t);
    let err = t.revert("c", Some("html/q.html")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(
        err.to_string().contains("html/p.html"),
        "the message names the contested path: {err}"
    );
    assert_eq!(snapshot(&t), before, "a refused revert changes nothing");
    t.revert("c", None)
        .expect("reverting everything is always possible");
    assert_eq!(t.read("c", "html/p.html", At::Draft).unwrap().1, b"one");
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn the_publish_log_stays_right_after_gc_deletes_old_versions() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write("c", "a.xml", b"<a/>", Source::Cli).unwrap();
    t.write("c", "b.xml", b"<b/>", Source::Cli).unwrap();
    publish(&t, "c", "one");
    t.write("c", "a.xml", b"<a2/>", Source::Cli).unwrap();
    t.delete("c", "b.xml", Source::Cli).unwrap();
    publish(&t, "c", "two");
    let before: Vec<(ChangeStatus, String)> = t
        .version("c", 2)
        .unwrap()
        .entries
        .into_iter()
        .map(|c| (c.status, c.path))
        .collect();
    assert_eq!(
        before,
        vec![
            (ChangeStatus::Modified, "a.xml".into()),
            (ChangeStatus::Deleted, "b.xml".into())
        ]
    );
    let report = t
        .gc(&GcOptions {
            cutoff: "9999-01-01T00:00:00.000000Z".into(),
            dry_run: false,
        })
        .unwrap();
    assert!(
        report.versions_deleted > 0,
        "gc deleted the versions collection version 1 needed"
    );
    let after: Vec<(ChangeStatus, String)> = t
        .version("c", 2)
        .unwrap()
        .entries
        .into_iter()
        .map(|c| (c.status, c.path))
        .collect();
    assert_eq!(
        after, before,
        "the log of the retained version 2 does not change"
    );
}

#[test]
fn gc_keeps_an_asset_a_unit_links_to_even_without_a_root_file() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write(
        "c",
        "html/a.html",
        b"<img src=\"/static/x.png\">",
        Source::Cli,
    )
    .unwrap();
    t.write("c", "static/x.png", b"png", Source::Cli).unwrap();
    publish(&t, "c", "one");
    t.set_garbage_collect("c", "static/x.png", true).unwrap();
    let report = t
        .gc(&GcOptions {
            cutoff: "2000-01-01T00:00:00.000000Z".into(),
            dry_run: false,
        })
        .unwrap();
    assert!(
        report.orphans_deleted.is_empty(),
        "a linked asset is not an orphan: {:?}",
        report.orphans_deleted
    );
    assert!(t.file("c", "static/x.png", At::Draft).is_ok());
}

#[test]
fn a_rename_to_another_syntax_reads_the_links_again_and_a_rename_then_delete_deletes_the_published_path(
) {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write(
        "c",
        "html/a.html",
        b"<p><img src=\"/static/x.png\"/></p>",
        Source::Cli,
    )
    .unwrap();
    t.write("c", "policies/x.json", b"{}", Source::Cli).unwrap();
    t.write("c", "html/.xml", b"junk", Source::Cli).unwrap();
    publish(&t, "c", "one");
    t.rename("c", "html/a.html", "html/a.xml", Source::Cli)
        .unwrap();
    let links = t
        .links("c", "html/a.xml", At::Draft, Direction::Out)
        .unwrap();
    assert_eq!(
        links.len(),
        1,
        "the XML reading of the same bytes finds the image"
    );
    t.rename("c", "policies/x.json", "policies/x.xml", Source::Cli)
        .unwrap();
    assert!(
        t.fsck(&NoProgress).unwrap().is_clean(),
        "{:?}",
        t.fsck(&NoProgress).unwrap().problems
    );
    assert_eq!(
        t.rename("c", "html/a.xml", "html/a.xml", Source::Cli)
            .unwrap(),
        blockstore::store::WriteOutcome::Unchanged
    );

    t.delete("c", "html/a.xml", Source::Cli).unwrap();
    let status = t.status("c").unwrap();
    let deleted = status
        .iter()
        .find(|c| c.status == ChangeStatus::Deleted)
        .unwrap();
    assert_eq!(
        deleted.path, "html/a.html",
        "the deletion is of the published path"
    );
    assert!(deleted.old_path.is_none());
    t.write("c", "html/a.xml", b"<new/>", Source::Cli).unwrap();
    let history = t.history("c", "html/a.xml").unwrap();
    assert!(
        history.versions.iter().all(|v| v.number.is_none()),
        "a new file, not the deleted one revived"
    );
}

#[test]
fn a_text_diff_follows_a_rename() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write("c", "html/a.html", b"one\ntwo\nthree\n", Source::Cli)
        .unwrap();
    publish(&t, "c", "one");
    t.rename("c", "html/a.html", "html/b.html", Source::Cli)
        .unwrap();
    t.write("c", "html/b.html", b"one\n2\nthree\n", Source::Cli)
        .unwrap();
    for path in ["html/b.html", "html/a.html"] {
        let text = t.text_diff("c", path, At::Version(1), At::Draft).unwrap();
        assert!(
            text.starts_with("--- a/html/a.html (version 1)\n+++ b/html/b.html (draft)\n"),
            "{text}"
        );
        assert!(
            text.contains("-two\n+2\n") && !text.contains("-one"),
            "only the changed line:\n{text}"
        );
    }
}

#[test]
fn one_batch_can_mix_new_files_with_changes_to_published_ones() {
    use blockstore::store::{BatchEntry, RelPath};
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    // Small batches look each path up; large ones preload the draft state.
    for count in [6usize, 300] {
        let slug = format!("mix{count}");
        t.create_collection(&slug, &CollectionMetadata::default())
            .unwrap();
        for i in 0..count {
            t.write(
                &slug,
                &format!("html/old{i}.html"),
                b"<p>v1</p>",
                Source::Cli,
            )
            .unwrap();
        }
        publish(&t, &slug, "first");
        // New files and changed published files alternate, so every new draft
        // version is created right after one made for a change.
        let report = t
            .write_session(|session| {
                let mut entries = Vec::new();
                for i in 0..count {
                    for (path, bytes) in [
                        (format!("html/old{i}.html"), format!("<p>v2 {i}</p>")),
                        (format!("html/new{i}.html"), format!("<p>new {i}</p>")),
                    ] {
                        let blob = session.blobs().put_deferred(bytes.as_bytes())?;
                        let path = RelPath::new(&path)?;
                        entries.push(Ok(BatchEntry::new(path, blob, bytes.as_bytes())));
                    }
                }
                let expected = entries.len();
                session.apply(
                    &slug,
                    entries,
                    expected,
                    Vec::new(),
                    false,
                    Source::Cli,
                    &NoProgress,
                )
            })
            .expect("the mixed batch applies");
        assert_eq!(report.created.len(), count);
        assert_eq!(report.modified.len(), count);
        assert_eq!(publish(&t, &slug, "second"), 2);
        let (_, bytes) = t.read(&slug, "html/new3.html", At::Latest).unwrap();
        assert_eq!(bytes, b"<p>new 3</p>");
        let (_, bytes) = t.read(&slug, "html/old3.html", At::Latest).unwrap();
        assert_eq!(bytes, b"<p>v2 3</p>");
    }
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn file_pages_follow_writes_from_this_store_and_from_another_process() {
    let t = TestStore::new();
    t.create_collection("paged", &CollectionMetadata::default())
        .unwrap();
    for i in 0..5 {
        t.write("paged", &format!("html/p{i}.html"), b"<p/>", Source::Cli)
            .unwrap();
    }
    t.write("paged", "static/a.png", b"png", Source::Cli)
        .unwrap();
    let page = |offset, limit| {
        let (count, files) = t
            .files_page(
                "paged",
                At::Draft,
                &FileQuery {
                    prefix: "html/".into(),
                    ..FileQuery::default()
                },
                offset,
                limit,
            )
            .unwrap();
        (
            count,
            files.into_iter().map(|f| f.file.path).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        page(0, 2),
        (5, vec!["html/p0.html".into(), "html/p1.html".into()])
    );
    assert_eq!(page(4, 2), (5, vec!["html/p4.html".into()]));
    let (assets, _) = t
        .files_page(
            "paged",
            At::Draft,
            &FileQuery {
                kind: Some(blockstore::store::LinkableKind::Asset),
                ..FileQuery::default()
            },
            0,
            10,
        )
        .unwrap();
    assert_eq!(assets, 1);
    // A write through this store is seen at once (the cached listing is stale).
    t.write("paged", "html/p5.html", b"<p/>", Source::Cli)
        .unwrap();
    assert_eq!(page(0, 100).0, 6);
    t.delete("paged", "html/p0.html", Source::Cli).unwrap();
    assert_eq!(page(0, 1), (5, vec!["html/p1.html".into()]));
    // So is one by another connection (another process, in real life).
    let other = blockstore::Store::open(t.data_dir()).unwrap();
    other
        .write("paged", "html/p6.html", b"<p/>", Source::Cli)
        .unwrap();
    assert_eq!(page(0, 100).0, 6);
    // And a publish changes what "latest" lists.
    assert_eq!(
        t.files_page("paged", At::Latest, &FileQuery::default(), 0, 100)
            .unwrap()
            .0,
        7,
        "no version yet: latest is the draft"
    );
    publish(&t, "paged", "one");
    other
        .write("paged", "html/p7.html", b"<p/>", Source::Cli)
        .unwrap();
    assert_eq!(
        t.files_page("paged", At::Latest, &FileQuery::default(), 0, 100)
            .unwrap()
            .0,
        7
    );
    assert_eq!(
        t.files_page("paged", At::Draft, &FileQuery::default(), 0, 100)
            .unwrap()
            .0,
        8
    );
}

#[test]
fn a_schema_1_store_migrates_and_its_versions_get_uuids() {
    let Some(t) = TestStore::embedded() else {
        return;
    };
    t.create_collection("old", &CollectionMetadata::default())
        .unwrap();
    t.write("old", "html/a.html", b"<p>1</p>", Source::Cli)
        .unwrap();
    publish(&t, "old", "one");
    t.write("old", "html/a.html", b"<p>2</p>", Source::Cli)
        .unwrap();
    let dir = t.data_dir();
    let TestStore { dir: _keep, store } = t;
    drop(store);
    // Turn it back into what a schema-1 binary wrote.
    to_schema_4(&dir);
    {
        let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        conn.execute_batch(
            "DROP INDEX version_uuid; ALTER TABLE version DROP COLUMN uuid; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = blockstore::Store::open(&dir).expect("a schema-1 store migrates");
    let history = store.history("old", "html/a.html").unwrap();
    let uuids: Vec<&str> = history.versions.iter().map(|v| v.uuid.as_str()).collect();
    assert_eq!(uuids.len(), 2);
    assert_ne!(uuids[0], uuids[1]);
    for uuid in &uuids {
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{uuid} is a uuid");
        assert_eq!(store.version_by_uuid(uuid).unwrap().version.uuid, *uuid);
    }
    // New versions get uuids from the code.
    store
        .write("old", "html/b.html", b"<p>b</p>", Source::Cli)
        .unwrap();
    let b = store.history("old", "html/b.html").unwrap();
    assert!(uuid::Uuid::parse_str(&b.versions[0].uuid).is_ok());
    assert!(store.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn the_blob_store_never_joins_a_non_hash_into_a_path() {
    let store = TestStore::new();
    for bad in ["../../../../etc/passwd", "/etc/passwd", "ab", "AB12"] {
        let err = store.blobs().open_blob(bad).unwrap_err();
        assert_eq!(
            err.kind(),
            blockstore::store::ErrorKind::Invalid,
            "{bad}: {err}"
        );
        assert!(store.blobs().contents().remove(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_kept_link_report_follows_every_commit_here_and_in_another_process() {
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write(
        "demo",
        "html/a.html",
        b"<p><img src=\"/static/pic.png\"></p>",
        Source::Cli,
    )
    .unwrap();
    let broken = |store: &blockstore::Store| {
        store
            .link_report("demo", At::Draft)
            .unwrap()
            .broken
            .iter()
            .map(|l| l.source_path.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(broken(&t), ["html/a.html"]);
    assert_eq!(broken(&t), ["html/a.html"], "asked again: the same");
    // A write through this store.
    t.write("demo", "static/pic.png", b"\x89PNG", Source::Cli)
        .unwrap();
    assert!(broken(&t).is_empty(), "the asset now exists");
    // A write by another process (its own connection to the same index).
    let other = run_cli(&t.data_dir(), &["delete", "demo:static/pic.png"]);
    assert!(other.status.success(), "{}", stderr(&other));
    assert_eq!(broken(&t), ["html/a.html"], "the other process's delete");
    // Each state keeps its own report.
    assert_eq!(publish(&t, "demo", "v1"), 1);
    t.write("demo", "static/pic.png", b"\x89PNG", Source::Cli)
        .unwrap();
    assert!(broken(&t).is_empty());
    let v1 = t.link_report("demo", At::Version(1)).unwrap().broken;
    assert_eq!(v1.len(), 1, "version 1 still lacks the asset");
}

/// A listing names each file as the course does: the root element's
/// display_name and type (an html body takes its pointer's), the version that
/// published it, and sorts and filters by them; folders count draft changes.
#[test]
fn listings_carry_display_names_and_the_version_that_changed_each_file() {
    use blockstore::store::{Sort, SortKey};
    let t = TestStore::new();
    t.create_collection("named", &CollectionMetadata::default())
        .unwrap();
    let files: &[(&str, &[u8])] = &[
        (
            "html/intro.xml",
            br#"<html filename="intro" display_name="Welcome &amp; hello"/>"#,
        ),
        ("html/intro.html", b"<p>Hi</p>"),
        (
            "problem/p1.xml",
            br#"<problem display_name="Zebra quiz"><p/></problem>"#,
        ),
        (
            "problem/p2.xml",
            br#"<problem display_name="  "><p/></problem>"#,
        ),
        ("static/a.png", b"png"),
    ];
    for (path, bytes) in files {
        t.write("named", path, bytes, Source::Cli).unwrap();
    }
    publish(&t, "named", "one");
    t.write(
        "named",
        "problem/p3.xml",
        br#"<problem display_name="apple"/>"#,
        Source::Cli,
    )
    .unwrap();
    let list = |query: FileQuery| {
        t.files_page("named", At::Draft, &query, 0, 100)
            .unwrap()
            .1
            .into_iter()
            .map(|r| (r.file.path, r.display_name, r.block_type, r.changed_in))
            .collect::<Vec<_>>()
    };
    let all = list(FileQuery::default());
    let row = |path: &str| all.iter().find(|r| r.0 == path).cloned().unwrap();
    assert_eq!(
        row("html/intro.xml"),
        (
            "html/intro.xml".into(),
            Some("Welcome & hello".into()),
            Some("html".into()),
            Some(1)
        )
    );
    assert_eq!(
        row("html/intro.html").1.as_deref(),
        Some("Welcome & hello"),
        "a body takes its pointer's name"
    );
    assert_eq!(row("html/intro.html").2, None);
    assert_eq!(
        row("problem/p2.xml").1,
        None,
        "a blank display_name is none"
    );
    assert_eq!(row("static/a.png").1, None);
    assert_eq!(
        row("problem/p3.xml").3,
        None,
        "a draft change was published in no version"
    );

    let by_name = list(FileQuery {
        prefix: "problem/".into(),
        sort: Sort {
            key: SortKey::DisplayName,
            descending: false,
        },
        ..FileQuery::default()
    });
    type Row = (String, Option<String>, Option<String>, Option<i64>);
    let paths = |rows: &[Row]| rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        paths(&by_name),
        ["problem/p3.xml", "problem/p1.xml", "problem/p2.xml"],
        "by name, ignoring case, nameless last"
    );
    let by_name_down = list(FileQuery {
        prefix: "problem/".into(),
        sort: "-display_name".parse().unwrap(),
        ..FileQuery::default()
    });
    assert_eq!(
        paths(&by_name_down),
        ["problem/p1.xml", "problem/p3.xml", "problem/p2.xml"],
        "nameless last both ways"
    );
    let newest = list(FileQuery {
        sort: "-changed_in".parse().unwrap(),
        ..FileQuery::default()
    });
    assert_eq!(
        newest[0].0, "problem/p3.xml",
        "the draft change is the newest"
    );
    assert!("bogus".parse::<Sort>().is_err());
    let found = list(FileQuery {
        contains: Some("ZEBRA".into()),
        ..FileQuery::default()
    });
    assert_eq!(
        paths(&found),
        ["problem/p1.xml"],
        "the filter reads display names too"
    );

    let folders = t.folders("named", At::Draft, "").unwrap();
    let problem = folders.iter().find(|f| f.name == "problem").unwrap();
    assert_eq!((problem.files, problem.draft_changes), (3, 1));
    assert_eq!(
        folders
            .iter()
            .find(|f| f.name == "html")
            .unwrap()
            .draft_changes,
        0
    );
    let published = t.folders("named", At::Latest, "").unwrap();
    assert!(published.iter().all(|f| f.draft_changes == 0));
}

/// A first page is read by its own bounded query, and folders by one pass;
/// both must answer exactly what the whole listing does (in every state,
/// with every filter, and with folder names that sort apart from their
/// paths: `a-b/` comes before `a/`).
#[test]
fn first_pages_and_folders_answer_as_the_whole_listing_does() {
    use blockstore::store::LinkableKind;
    let t = TestStore::new();
    t.create_collection("pages", &CollectionMetadata::default())
        .unwrap();
    let files: &[(&str, &[u8])] = &[
        (
            "course.xml",
            br#"<course url_name="r" org="o" course="c"/>"#,
        ),
        ("a/x.xml", br#"<vertical display_name="A x"/>"#),
        ("a/deep/y.xml", br#"<problem display_name="Y"/>"#),
        ("a-b/z.xml", br#"<html display_name="Z"/>"#),
        ("a.txt", b"top"),
        (
            "html/h.xml",
            br#"<html filename="h" display_name="Named h"/>"#,
        ),
        ("html/h.html", b"<p>body</p>"),
        ("html/other.html", b"<p>no pointer</p>"),
        ("static/\u{e9}t\u{e9}.png", b"png"),
        ("static/img/b.png", b"png2"),
    ];
    for (path, bytes) in files {
        t.write("pages", path, bytes, Source::Cli).unwrap();
    }
    publish(&t, "pages", "one");
    t.write(
        "pages",
        "a/new.xml",
        br#"<html display_name="New"/>"#,
        Source::Cli,
    )
    .unwrap();
    t.delete("pages", "a-b/z.xml", Source::Cli).unwrap();
    publish(&t, "pages", "two");
    t.write(
        "pages",
        "a/x.xml",
        br#"<vertical display_name="A x 2"/>"#,
        Source::Cli,
    )
    .unwrap();
    t.write(
        "pages",
        "html/h.xml",
        br#"<html filename="h" display_name="Renamed"/>"#,
        Source::Cli,
    )
    .unwrap();
    t.delete("pages", "a.txt", Source::Cli).unwrap();
    let mut queries = Vec::new();
    for prefix in [
        "",
        "a",
        "a/",
        "a-",
        "html/",
        "static/",
        "static/\u{e9}",
        "zzz/",
    ] {
        for kind in [None, Some(LinkableKind::Unit), Some(LinkableKind::Asset)] {
            for direct in [false, true] {
                queries.push(FileQuery {
                    prefix: prefix.to_string(),
                    kind,
                    direct,
                    ..FileQuery::default()
                });
            }
        }
    }
    for at in [At::Draft, At::Latest, At::Version(1)] {
        for query in &queries {
            for limit in [1, 2, 100] {
                // A store of its own, so no kept listing answers instead.
                let fresh = blockstore::Store::open(t.data_dir()).unwrap();
                let first = fresh.files_page("pages", at, query, 0, limit).unwrap();
                let (count, all) = fresh.files_page("pages", at, query, 0, usize::MAX).unwrap();
                let expected: Vec<_> = all.into_iter().take(limit).collect();
                assert_eq!(first, (count, expected), "{at:?} {query:?} limit {limit}");
            }
        }
        for prefix in ["", "a/", "html/", "static/", "zzz/"] {
            let fresh = blockstore::Store::open(t.data_dir()).unwrap();
            let folders = fresh.folders("pages", at, prefix).unwrap();
            let query = FileQuery {
                prefix: prefix.to_string(),
                ..FileQuery::default()
            };
            let (_, all) = fresh
                .files_page("pages", at, &query, 0, usize::MAX)
                .unwrap();
            let mut expected: Vec<(String, usize, usize)> = Vec::new();
            for row in &all {
                let rest = &row.file.path[prefix.len()..];
                let Some((name, _)) = rest.split_once('/') else {
                    continue;
                };
                let draft = usize::from(row.file.version.is_none());
                match expected.last_mut() {
                    Some(last) if last.0 == name => {
                        last.1 += 1;
                        last.2 += draft;
                    }
                    _ => expected.push((name.to_string(), 1, draft)),
                }
            }
            let got: Vec<_> = folders
                .iter()
                .map(|f| (f.name.clone(), f.files, f.draft_changes))
                .collect();
            assert_eq!(got, expected, "{at:?} folders of {prefix:?}");
            assert!(folders
                .iter()
                .all(|f| f.path == format!("{prefix}{}/", f.name)));
        }
    }
}

/// A store scanned before names were recorded (rules version 1) gets them
/// at its next open, with the links extracted again in the same pass.
#[test]
fn a_store_scanned_by_older_rules_gets_block_names_at_open() {
    let Some(t) = TestStore::embedded() else {
        return;
    };
    t.create_collection("old", &CollectionMetadata::default())
        .unwrap();
    t.write(
        "old",
        "problem/p.xml",
        br#"<problem display_name="Quiz"/>"#,
        Source::Cli,
    )
    .unwrap();
    let dir = t.data_dir();
    let TestStore { dir: _keep, store } = t;
    drop(store);
    {
        let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        conn.execute_batch(
            "UPDATE content_scan SET display_name = NULL, block_type = NULL;
             UPDATE link_rules SET version = 1;",
        )
        .unwrap();
    }
    let store = blockstore::Store::open(&dir).unwrap();
    let (_, rows) = store
        .files_page("old", At::Draft, &FileQuery::default(), 0, 10)
        .unwrap();
    assert_eq!(rows[0].display_name.as_deref(), Some("Quiz"));
    assert_eq!(rows[0].block_type.as_deref(), Some("problem"));
}

/// Reads go to their own WAL connections: one that arrives while an import
/// holds the write transaction (here: in its "committing" phase, inside the
/// transaction) is answered at once, from the last commit, instead of
/// waiting for the import to end.
#[test]
fn a_read_during_a_write_transaction_does_not_wait_and_sees_the_last_commit() {
    use blockstore::store::Progress;
    use std::sync::{mpsc, Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(blockstore::Store::open(dir.path()).unwrap());
    store
        .create_collection("c", &CollectionMetadata::default())
        .unwrap();
    store
        .write("c", "html/a.html", b"<p>a</p>", Source::Cli)
        .unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("html")).unwrap();
    std::fs::write(tree.join("html/a.html"), b"<p>a</p>").unwrap();
    std::fs::write(tree.join("html/b.html"), b"<p>b</p>").unwrap();

    /// At "committing", reads from another thread and waits for the answer.
    struct ReadMidCommit {
        store: Arc<blockstore::Store>,
        answer: Mutex<Option<(usize, bool)>>,
    }
    impl Progress for ReadMidCommit {
        fn phase(&self, name: &str, _total: Option<u64>) {
            if name != "committing" {
                return;
            }
            let (send, receive) = mpsc::channel();
            let store = self.store.clone();
            std::thread::spawn(move || {
                let files = store.files("c", At::Draft).unwrap().len();
                let b = store.file("c", "html/b.html", At::Draft).is_ok();
                let _ = send.send((files, b));
            });
            let answer = receive
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("a read is answered while the import holds its write transaction");
            *self.answer.lock().unwrap() = Some(answer);
        }
    }
    let progress = ReadMidCommit {
        store: store.clone(),
        answer: Mutex::new(None),
    };
    let options = ImportOptions {
        collection: Some("c".into()),
        ..ImportOptions::default()
    };
    import_dir(&store, &tree, &options, &progress).unwrap();
    assert_eq!(
        *progress.answer.lock().unwrap(),
        Some((1, false)),
        "the read saw the last commit: one file, not yet the importing b.html"
    );
    assert!(store.file("c", "html/b.html", At::Draft).is_ok());
}

/// Small files read often come from memory, but only until the next commit,
/// by this store or by another process: never a stale answer.
#[test]
fn hot_reads_are_served_from_memory_only_until_anything_commits() {
    let t = TestStore::new();
    t.create_collection("hot", &CollectionMetadata::default())
        .unwrap();
    t.write("hot", "html/a.html", b"<p>one</p>", Source::Cli)
        .unwrap();
    assert!(t.cached_read("hot", "html/a.html", At::Draft).is_none());
    // What a read kept, read again from memory. On PostgreSQL the token is
    // the server's snapshot, which any commit on the server moves (another
    // test's, in another database): read again until none came between.
    let kept = |path: &str| {
        (0..100)
            .find_map(|_| {
                t.read_hot("hot", path, At::Draft).unwrap();
                t.cached_read("hot", path, At::Draft)
            })
            .expect("a read is kept until something commits")
    };
    let (_, bytes) = t.read_hot("hot", "html/a.html", At::Draft).unwrap();
    assert_eq!(&*bytes.unwrap(), b"<p>one</p>");
    let hot = kept("html/a.html");
    assert_eq!(
        (hot.bytes.as_deref(), hot.file.path.as_str()),
        (Some(&b"<p>one</p>"[..]), "html/a.html")
    );
    assert!(
        t.cached_read("hot", "html/a.html", At::Latest).is_none(),
        "each state its own entry"
    );
    // A write here retires it.
    t.write("hot", "html/a.html", b"<p>two</p>", Source::Cli)
        .unwrap();
    assert!(t.cached_read("hot", "html/a.html", At::Draft).is_none());
    let (_, bytes) = t.read_hot("hot", "html/a.html", At::Draft).unwrap();
    assert_eq!(&*bytes.unwrap(), b"<p>two</p>");
    // So does one by another process (another Store on the same dir).
    let other = blockstore::Store::open(t.data_dir()).unwrap();
    other
        .write("hot", "html/a.html", b"<p>three</p>", Source::Cli)
        .unwrap();
    assert!(t.cached_read("hot", "html/a.html", At::Draft).is_none());
    let (_, bytes) = t.read_hot("hot", "html/a.html", At::Draft).unwrap();
    assert_eq!(&*bytes.unwrap(), b"<p>three</p>");
    // Of a large file, only the entry is kept, and as long.
    let big = vec![b'x'; blockstore::store::HOT_FILE_MAX as usize + 1];
    t.write("hot", "static/big.bin", &big, Source::Cli).unwrap();
    let (file, bytes) = t.read_hot("hot", "static/big.bin", At::Draft).unwrap();
    assert!(bytes.is_none() && file.size == big.len() as u64);
    let hot = kept("static/big.bin");
    assert!(hot.bytes.is_none() && hot.file.hash == file.hash);
    other
        .write("hot", "static/big.bin", b"small now", Source::Cli)
        .unwrap();
    assert!(t.cached_read("hot", "static/big.bin", At::Draft).is_none());
}

#[test]
fn concurrent_writes_share_commits_and_each_answer_is_its_own() {
    use blockstore::store::{Error, Precondition, WriteOutcome};
    let t = TestStore::new();
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    let (threads, each) = (16, 20);
    let shared_wins = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for n in 0..threads {
            let (store, shared_wins) = (&t.store, &shared_wins);
            scope.spawn(move || {
                for i in 0..each {
                    let path = format!("html/t{n}-{i}.html");
                    let body = format!("<p>{n} {i}</p>");
                    let written = store
                        .write_if("demo", &path, body.as_bytes(), Source::Api, None)
                        .unwrap();
                    assert_eq!(written.outcome, WriteOutcome::Created);
                    assert_eq!(written.file.path, path);
                    assert_eq!(
                        written.file.hash,
                        blockstore::store::hash_bytes(body.as_bytes()),
                        "the answer is this write's own"
                    );
                    if i == each / 2 {
                        // All threads race to create one file: one wins, and
                        // a loser refused inside a group (its savepoint rolled
                        // back) takes no other write down with it.
                        let body = format!("<p>{n}</p>");
                        match store.write_if(
                            "demo",
                            "html/shared.html",
                            body.as_bytes(),
                            Source::Api,
                            Some(Precondition::Absent),
                        ) {
                            Ok(_) => {
                                shared_wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(Error::PreconditionFailed { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(shared_wins.into_inner(), 1, "one writer creates the file");
    let files = t.files("demo", At::Draft).unwrap();
    assert_eq!(files.len(), threads * each + 1);
    for file in files.iter().filter(|f| f.path != "html/shared.html") {
        let (_, bytes) = t.read("demo", &file.path, At::Draft).unwrap();
        let name = file
            .path
            .trim_start_matches("html/t")
            .trim_end_matches(".html");
        assert_eq!(
            bytes,
            format!("<p>{}</p>", name.replace('-', " ")).as_bytes()
        );
    }
    let (groups, writes) = t.write_groups();
    eprintln!("{writes} writes in {groups} commits");
    assert!(
        writes > (threads * each) as u64,
        "every write went through a group ({writes})"
    );
    assert!(
        groups < writes,
        "{threads} concurrent writers shared no commit ({groups} groups for {writes} writes)"
    );
    assert!(t.fsck(&NoProgress).unwrap().is_clean());
}

#[test]
fn closing_a_store_checkpoints_and_removes_its_wal() {
    let Some(t) = TestStore::embedded() else {
        return;
    };
    t.create_collection("demo", &CollectionMetadata::default())
        .unwrap();
    t.write("demo", "a.xml", b"<a/>", Source::Cli).unwrap();
    // Reads open the pool's connections, which now outlive nothing.
    t.files("demo", At::Draft).unwrap();
    t.read("demo", "a.xml", At::Draft).unwrap();
    let data = t.data_dir();
    assert!(
        data.join("store.db-wal").exists(),
        "an open store has a WAL"
    );
    let TestStore { dir: _keep, store } = t;
    drop(store);
    assert!(
        !data.join("store.db-wal").exists(),
        "the last connection to close checkpoints the WAL and removes it"
    );
    let store = blockstore::Store::open(&data).unwrap();
    assert_eq!(store.read("demo", "a.xml", At::Draft).unwrap().1, b"<a/>");
}

#[test]
fn many_concurrent_link_reports_never_wait_on_each_other_for_blob_reads() {
    // Each report holds a read connection while it reads blobs (the course
    // file, library files): with more reports than read connections, blob
    // reads must not need one of the same connections.
    let t = TestStore::new();
    for n in 0..5 {
        import(&t, &sample_course(), &format!("c{n}"));
    }
    t.write("c0", "html/x.html", b"<p>x</p>", Source::Cli)
        .unwrap();
    // Detached threads on a store of their own: a deadlock fails the test
    // at the deadline instead of hanging it.
    let store = std::sync::Arc::new(blockstore::Store::open(t.data_dir()).unwrap());
    let (done, finished) = std::sync::mpsc::channel();
    for n in 0..8 {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let report = store.link_report(&format!("c{}", n % 5), At::Draft);
            let _ = done.send(report.map(|r| r.broken.len()));
        });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for _ in 0..8 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        finished
            .recv_timeout(left)
            .expect("a link report is stuck: the read pool deadlocked")
            .expect("a link report");
    }
}
