//! Named drafts through the library: staged changes over a base version,
//! committed into collection versions of their own, beside an untouched
//! working draft.

use crate::common::*;
use blockstore::store::{
    At, CollectionMetadata, Error, GcOptions, PublishOptions, RelPath, Source, Stage,
};

fn path(p: &str) -> RelPath {
    RelPath::new(p).unwrap()
}

fn read(t: &TestStore, at: At, p: &str) -> Option<Vec<u8>> {
    match t.read("c", p, at) {
        Ok((_, bytes)) => Some(bytes),
        Err(Error::FileNotFound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

fn publish(t: &TestStore) -> i64 {
    t.publish("c", &PublishOptions::default()).unwrap().number
}

#[test]
fn two_named_drafts_commit_apart_and_leave_the_working_draft_alone() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write("c", "html/a.html", b"<p>a1</p>", Source::Cli)
        .unwrap();
    t.write("c", "html/b.html", b"<p>b1</p>", Source::Cli)
        .unwrap();
    assert_eq!(publish(&t), 1);
    // A pending edit in the working draft, before and after the commits.
    t.write("c", "html/a.html", b"<p>a-working</p>", Source::Cli)
        .unwrap();

    let one = t.create_named_draft("c", "one").unwrap();
    let two = t.create_named_draft("c", "two").unwrap();
    assert_eq!((one.base, two.base), (Some(1), Some(1)));
    assert!(matches!(
        t.create_named_draft("c", "one"),
        Err(Error::Conflict(_))
    ));

    t.stage(
        &one.uuid,
        &[
            (path("html/b.html"), Stage::Put(b"<p>b-one</p>")),
            (path("html/new.html"), Stage::Put(b"<p>new</p>")),
        ],
    )
    .unwrap();
    t.stage(&two.uuid, &[(path("html/b.html"), Stage::Delete)])
        .unwrap();

    let (_, files) = t.named_draft_files(&one.uuid).unwrap();
    let listed: Vec<(&str, bool)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.modified))
        .collect();
    assert_eq!(
        listed,
        [
            ("html/a.html", false),
            ("html/b.html", true),
            ("html/new.html", true)
        ]
    );
    let (_, files) = t.named_draft_files(&two.uuid).unwrap();
    assert_eq!(files.len(), 1, "two's view has b deleted: {files:?}");

    let report = t.commit_named_draft(&one.uuid, "from one").unwrap();
    assert_eq!(report.number, 2);
    assert_eq!(report.changes.len(), 2, "{:?}", report.changes);
    assert_eq!(
        read(&t, At::Version(2), "html/b.html").unwrap(),
        b"<p>b-one</p>"
    );
    assert_eq!(
        read(&t, At::Version(2), "html/new.html").unwrap(),
        b"<p>new</p>"
    );
    assert_eq!(
        read(&t, At::Version(2), "html/a.html").unwrap(),
        b"<p>a1</p>"
    );
    // Version 1 is as it was.
    assert_eq!(
        read(&t, At::Version(1), "html/b.html").unwrap(),
        b"<p>b1</p>"
    );
    assert_eq!(read(&t, At::Version(1), "html/new.html"), None);

    // The committed draft is rebased and empty; the other keeps its change.
    let (one_now, staged) = t.named_draft_changes(&one.uuid).unwrap();
    assert_eq!((one_now.base, staged.len()), (Some(2), 0));
    let (two_now, staged) = t.named_draft_changes(&two.uuid).unwrap();
    assert_eq!((two_now.base, staged.len()), (Some(1), 1));

    // The working draft: its pending edit stays pending, the rest follows
    // the new version.
    assert_eq!(
        read(&t, At::Draft, "html/a.html").unwrap(),
        b"<p>a-working</p>"
    );
    assert_eq!(read(&t, At::Draft, "html/b.html").unwrap(), b"<p>b-one</p>");
    assert_eq!(read(&t, At::Draft, "html/new.html").unwrap(), b"<p>new</p>");
    let status = t.status("c").unwrap();
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0].path, "html/a.html");

    // A native publish after it numbers on from there.
    assert_eq!(publish(&t), 3);
    assert_eq!(
        read(&t, At::Version(3), "html/a.html").unwrap(),
        b"<p>a-working</p>"
    );
    assert_eq!(
        read(&t, At::Version(3), "html/new.html").unwrap(),
        b"<p>new</p>"
    );
    let log = t.versions("c").unwrap();
    assert_eq!(log.len(), 3);
}

#[test]
fn a_stale_base_overwrites_newer_versions_and_says_so() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    t.write("c", "a.txt", b"a1", Source::Cli).unwrap();
    assert_eq!(publish(&t), 1);
    let old = t.create_named_draft("c", "old").unwrap();
    let fresh = t.create_named_draft("c", "fresh").unwrap();
    t.stage(&fresh.uuid, &[(path("b.txt"), Stage::Put(b"b"))])
        .unwrap();
    assert_eq!(t.commit_named_draft(&fresh.uuid, "").unwrap().number, 2);
    t.stage(&old.uuid, &[(path("c.txt"), Stage::Put(b"c"))])
        .unwrap();
    let report = t.commit_named_draft(&old.uuid, "stale").unwrap();
    assert_eq!(report.number, 3);
    // As Blockstore did: version 3 is version 1 + c.txt, without b.txt.
    assert_eq!(read(&t, At::Version(3), "b.txt"), None);
    assert_eq!(read(&t, At::Version(3), "c.txt").unwrap(), b"c");
    assert_eq!(read(&t, At::Version(3), "a.txt").unwrap(), b"a1");
    let detail = t.version("c", 3).unwrap();
    let from = detail.version.committed_from.expect("recorded");
    assert_eq!(from["draft"], "old");
    assert_eq!(from["base"], 1);
    assert_eq!(from["latest"], 2);
    assert!(t.version("c", 2).unwrap().version.committed_from.is_some());
    assert!(t.version("c", 1).unwrap().version.committed_from.is_none());
}

#[test]
fn an_unchanged_draft_commits_an_identical_version_and_deleted_drafts_are_gone() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    let d = t.create_named_draft("c", "d").unwrap();
    assert_eq!(d.base, None);
    // An empty draft on an empty collection commits version 1, as
    // Blockstore's own test expects.
    assert_eq!(t.commit_named_draft(&d.uuid, "").unwrap().number, 1);
    t.stage(&d.uuid, &[(path("x.txt"), Stage::Put(b""))])
        .unwrap();
    assert_eq!(t.commit_named_draft(&d.uuid, "").unwrap().number, 2);
    let again = t.commit_named_draft(&d.uuid, "").unwrap();
    assert_eq!((again.number, again.changes.len()), (3, 0));
    assert_eq!(read(&t, At::Version(3), "x.txt").unwrap(), b"");

    let named: Vec<String> = t
        .named_drafts(Some("c"))
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(named, ["d"]);
    t.delete_named_draft(&d.uuid).unwrap();
    assert!(matches!(t.named_draft(&d.uuid), Err(Error::NotFound(_))));
    assert!(matches!(
        t.delete_named_draft(&d.uuid),
        Err(Error::NotFound(_))
    ));
    assert!(t.named_drafts(None).unwrap().is_empty());
}

#[test]
fn staged_contents_survive_gc_and_a_bad_path_changes_nothing() {
    let t = TestStore::new();
    t.create_collection("c", &CollectionMetadata::default())
        .unwrap();
    let d = t.create_named_draft("c", "d").unwrap();
    let big = vec![7u8; 300 * 1024]; // a blob file, not inline
    t.stage(
        &d.uuid,
        &[
            (path("static/big.bin"), Stage::Put(&big)),
            (path("html/a.html"), Stage::Put(b"<p>staged</p>")),
        ],
    )
    .unwrap();
    let before = t.named_draft(&d.uuid).unwrap();
    t.gc(&GcOptions::older_than_days(0, false)).unwrap();
    let fsck = t.fsck(&blockstore::store::NoProgress).unwrap();
    assert!(fsck.problems.is_empty(), "{:?}", fsck.problems);
    assert!(
        RelPath::new("../x").is_err(),
        "paths are checked before staging"
    );
    assert!(t
        .stage(
            &d.uuid,
            &[
                (path("a.txt"), Stage::Put(b"1")),
                (path("a.txt"), Stage::Put(b"2"))
            ]
        )
        .is_err());
    assert_eq!(t.named_draft(&d.uuid).unwrap(), before, "nothing changed");
    t.commit_named_draft(&d.uuid, "").unwrap();
    assert_eq!(read(&t, At::Version(1), "static/big.bin").unwrap(), big);
    assert_eq!(
        read(&t, At::Version(1), "html/a.html").unwrap(),
        b"<p>staged</p>"
    );
}
