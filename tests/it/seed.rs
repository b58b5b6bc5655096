//! `blockstore seed`: the bundled samples with history to browse, `--from`
//! any export, `--reset` only when confirmed.

use crate::common::*;
use blockstore::store::At;

const COURSE: &str = "BlockstoreX.OLX101.2026";
const LIBRARY: &str = "BlockstoreX.OLXQuestions";

#[test]
fn seed_loads_the_samples_with_two_course_versions_and_one_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = cli_json(&data, &["seed"]);
    let collections = report["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 2);
    assert_eq!(collections[0]["collection"], COURSE);
    assert_eq!(collections[0]["title"], "OLX in Practice");
    assert_eq!(collections[0]["versions"], serde_json::json!([1, 2]));
    assert_eq!(collections[1]["collection"], LIBRARY);
    assert_eq!(collections[1]["versions"], serde_json::json!([1]));

    let store = open_existing(&data);
    // Version 1 is the sample course exactly; version 2 adds the overlay.
    let v1: std::collections::BTreeMap<String, Vec<u8>> = store
        .files(COURSE, At::Version(1))
        .unwrap()
        .into_iter()
        .map(|f| {
            let bytes = store.read(COURSE, &f.path, At::Version(1)).unwrap().1;
            (f.path, bytes)
        })
        .collect();
    assert_eq!(v1, tree_files(&sample_course()));
    let diff = store.diff(COURSE, At::Version(1), At::Version(2)).unwrap();
    let mut changed: Vec<(String, String)> = diff
        .entries
        .iter()
        .map(|c| {
            let value = serde_json::to_value(c).unwrap();
            (
                value["path"].as_str().unwrap().to_string(),
                value["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            ("html/html_welcome.html", "modified"),
            ("problem/prob_publish_cycle.xml", "added"),
            ("static/publish-cycle.svg", "added"),
            ("vertical/vert_structure_quiz.xml", "modified"),
        ]
        .map(|(p, s)| (p.to_string(), s.to_string()))
    );
    // Links: the new problem's diagram resolves; the one deliberate broken
    // reference is still there; the video and its transcript are linked.
    let report = store.link_report(COURSE, At::Latest).unwrap();
    let broken: Vec<&str> = report.broken.iter().map(|l| l.written.as_str()).collect();
    assert_eq!(broken, ["/static/missing-diagram.png"]);
    let incoming = store
        .links(
            COURSE,
            "static/publish-cycle.svg",
            At::Latest,
            blockstore::store::Direction::In,
        )
        .unwrap();
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].source_path, "problem/prob_publish_cycle.xml");
    assert!(store
        .file(COURSE, "video/video_olx_tour.xml", At::Latest)
        .is_ok());
    assert!(store.status(COURSE).unwrap().is_empty(), "nothing pending");
    assert!(store
        .fsck(&blockstore::store::NoProgress)
        .unwrap()
        .is_clean());
}

#[test]
fn seeding_twice_is_refused_and_reset_needs_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_json(&data, &["seed"]);
    let before = observable(&data);
    let again = run_cli(&data, &["seed"]);
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    assert!(stderr(&again).contains("--reset"), "{}", stderr(&again));
    // --reset on a non-terminal without --yes: refused, nothing deleted.
    let unconfirmed = run_cli_stdin(&data, &["seed", "--reset"], Some(b"y\n"));
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert!(
        stderr(&unconfirmed).contains("--yes"),
        "{}",
        stderr(&unconfirmed)
    );
    assert_eq!(observable(&data), before);
    let old_uuid = {
        let store = open_existing(&data);
        store.collection(COURSE).unwrap().uuid
    };

    // A --from that does not exist is found out before --reset deletes.
    let typo = run_cli(
        &data,
        &["seed", "--reset", "--yes", "--from", "/no/such/export"],
    );
    assert!(!typo.status.success());
    assert!(
        stderr(&typo).contains("/no/such/export"),
        "{}",
        stderr(&typo)
    );
    assert_eq!(observable(&data), before);

    // Confirmed: everything goes, the samples come back as new collections,
    // and the blob store holds nothing the new store does not reference.
    let fresh = cli_json(&data, &["seed", "--reset", "--yes"]);
    assert_eq!(
        fresh["reset"]["collections_deleted"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let store = open_existing(&data);
    assert_ne!(store.collection(COURSE).unwrap().uuid, old_uuid);
    assert_eq!(store.versions(COURSE).unwrap().len(), 2);
    let gc = store
        .gc(&blockstore::store::GcOptions::older_than_days(3650, true))
        .unwrap();
    assert_eq!(gc.blobs_deleted, 0, "reset left no unreferenced blob");
    assert!(store
        .fsck(&blockstore::store::NoProgress)
        .unwrap()
        .is_clean());
}

#[test]
fn seed_from_loads_and_publishes_any_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let archive = dir.path().join("lib.tar.gz");
    std::fs::write(
        &archive,
        crate::archive::RawTar::new()
            .tree(&sample_library(), "library")
            .tar_gz(),
    )
    .unwrap();
    let report = cli_json(
        &data,
        &[
            "seed",
            "--from",
            archive.to_str().unwrap(),
            "-c",
            "questions",
        ],
    );
    assert_eq!(report["collections"][0]["collection"], "questions");
    assert_eq!(report["collections"][0]["files"], 4);
    assert_eq!(report["collections"][0]["versions"], serde_json::json!([1]));
    let log = cli_json(&data, &["log", "questions"]);
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
}

#[test]
fn seed_publish_dump_restore_reproduces_every_listing_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_json(&data, &["seed"]);
    run_cli_stdin(
        &data,
        &["write", &format!("{COURSE}:html/html_hierarchy.html")],
        Some(b"<p>A third version.</p>"),
    );
    cli_json(&data, &["publish", COURSE, "-m", "Version 3"]);
    // A pending draft change travels too.
    run_cli_stdin(
        &data,
        &["write", &format!("{LIBRARY}:problem/draft_only.xml")],
        Some(b"<problem display_name=\"Draft\"/>"),
    );
    let dump = dir.path().join("store.tar.gz");
    cli_json(&data, &["dump", dump.to_str().unwrap()]);
    let restored = dir.path().join("restored");
    cli_json(&restored, &["restore", dump.to_str().unwrap()]);

    // Everything a user can list, as the CLI prints it, is equal.
    let listing = |data: &std::path::Path| {
        let mut out = vec![cli_json(data, &["collections"])];
        for slug in [COURSE, LIBRARY] {
            out.push(cli_json(data, &["log", slug]));
            out.push(cli_json(data, &["status", slug]));
            out.push(cli_json(data, &["files", &format!("{slug}@draft")]));
            out.push(cli_json(data, &["links", slug]));
            out.push(cli_json(data, &["outline", slug]));
            let versions = cli_json(data, &["log", slug]);
            for v in versions.as_array().unwrap() {
                let n = v["number"].as_i64().unwrap();
                out.push(cli_json(data, &["files", &format!("{slug}@{n}")]));
                if n > 1 {
                    out.push(cli_json(
                        data,
                        &["diff", slug, &(n - 1).to_string(), &n.to_string()],
                    ));
                }
            }
        }
        out.push(cli_json(
            data,
            &["log", &format!("{COURSE}:html/html_hierarchy.html")],
        ));
        out
    };
    let before = listing(&data);
    assert!(before.len() > 12);
    assert_eq!(listing(&restored), before);
    let fsck = run_cli(&restored, &["fsck"]);
    assert!(fsck.status.success(), "{}", stdout(&fsck));
}
