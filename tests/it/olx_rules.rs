//! Issue 15: links, orphans and gc read a course as edx-platform does
//! (`../shared/OLX-RULES.md`). One small hand-written course per rule; every
//! expected value below is written from the rule, not from the code's output.

use crate::common::*;
use blockstore::olx::{import_dir, ImportOptions};
use blockstore::store::links::{LinkKind, Resolution};
use blockstore::store::{At, Direction, GcOptions, LinkInfo, LinkReport, NoProgress};
use std::collections::BTreeSet;

const COURSE_XML: &[u8] = b"<course url_name=\"R\" org=\"O\" course=\"C\"/>\n";

/// Imports `files` (plus `course.xml` for course O/C/R) as collection `slug`.
fn course(t: &TestStore, slug: &str, files: &[(&str, &[u8])]) {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<(&str, &[u8])> = vec![("course.xml", COURSE_XML)];
    all.extend_from_slice(files);
    write_tree(dir.path(), &all);
    import_tree(t, slug, dir.path());
}

fn import_tree(t: &TestStore, slug: &str, root: &std::path::Path) {
    let options = ImportOptions {
        collection: Some(slug.to_owned()),
        ..ImportOptions::default()
    };
    import_dir(t, root, &options, &NoProgress).unwrap();
}

/// The course → chapter → sequential → vertical spine, the vertical holding
/// `children` (raw XML lines).
fn spine(children: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "course/R.xml",
            b"<course display_name=\"C\">\n  <chapter url_name=\"ch1\"/>\n</course>\n".to_vec(),
        ),
        (
            "chapter/ch1.xml",
            b"<chapter display_name=\"Ch\">\n  <sequential url_name=\"s1\"/>\n</chapter>\n"
                .to_vec(),
        ),
        (
            "sequential/s1.xml",
            b"<sequential display_name=\"S\">\n  <vertical url_name=\"v1\"/>\n</sequential>\n"
                .to_vec(),
        ),
        (
            "vertical/v1.xml",
            format!("<vertical display_name=\"V\">\n{children}</vertical>\n").into_bytes(),
        ),
    ]
}

fn with_spine<'a>(
    spine: &'a [(&'static str, Vec<u8>)],
    extra: &[(&'a str, &'a [u8])],
) -> Vec<(&'a str, &'a [u8])> {
    let mut files: Vec<(&str, &[u8])> = spine.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    files.extend_from_slice(extra);
    files
}

fn out(t: &TestStore, slug: &str, path: &str) -> Vec<LinkInfo> {
    t.links(slug, path, At::Draft, Direction::Out).unwrap()
}

fn resolved(path: &str) -> Resolution {
    Resolution::Resolved {
        path: path.to_owned(),
    }
}

fn written(list: &[LinkInfo]) -> BTreeSet<String> {
    list.iter()
        .map(|l| format!("{} {}", l.source_path, l.written))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn orphans(report: &LinkReport) -> BTreeSet<String> {
    report.orphans.iter().cloned().collect()
}

/// The report's sets at once: broken (`file written`), external, platform,
/// orphans, and the files edx-platform never loads (orphans that are not
/// assets).
fn assert_sets(
    report: &LinkReport,
    broken: &[&str],
    external: &[&str],
    platform: &[&str],
    orphaned: &[&str],
    what: &str,
) {
    assert_eq!(written(&report.broken), set(broken), "{what}: broken");
    assert_eq!(written(&report.external), set(external), "{what}: external");
    assert_eq!(written(&report.platform), set(platform), "{what}: platform");
    assert_eq!(orphans(report), set(orphaned), "{what}: orphans");
    let unloaded: BTreeSet<String> = report
        .orphans
        .iter()
        .filter(|p| !p.starts_with("static/"))
        .cloned()
        .collect();
    let expected_unloaded: BTreeSet<String> = orphaned
        .iter()
        .filter(|p| !p.starts_with("static/"))
        .map(|p| (*p).to_owned())
        .collect();
    assert_eq!(unloaded, expected_unloaded, "{what}: never loaded");
    assert!(
        report.ambiguous.is_empty(),
        "{what}: ambiguous {:?}",
        report.ambiguous
    );
}

#[test]
fn html_bodies_are_found_by_edx_platforms_back_compatible_candidates() {
    let t = TestStore::new();
    let s = spine(
        "  <html url_name=\"h1\"/>\n  <html url_name=\"h2\"/>\n  <html url_name=\"a:h3\"/>\n",
    );
    course(
        &t,
        "bodies",
        &with_spine(
            &s,
            &[
                // Found only after dropping two leading folders.
                ("html/h1.xml", b"<html filename=\"problems/x/intro\"/>"),
                ("x/intro.html", b"<p>intro</p>"),
                // `.html` written in the filename: `.html.html` is reduced.
                ("html/h2.xml", b"<html filename=\"b.html\"/>"),
                ("html/b.html", b"<p>b</p>"),
                // url_name a:h3: the file is html/a/h3.xml and its base html/a.
                ("html/a/h3.xml", b"<html filename=\"c\"/>"),
                ("html/a/c.html", b"<p>c</p>"),
                ("html/c.html", b"<p>the wrong c</p>"),
            ],
        ),
    );
    let body = |path: &str| {
        out(&t, "bodies", path)
            .into_iter()
            .find(|l| l.kind == LinkKind::Body)
            .unwrap()
            .resolution
    };
    assert_eq!(
        body("html/h1.xml"),
        resolved("x/intro.html"),
        "two folders dropped"
    );
    assert_eq!(
        body("html/h2.xml"),
        resolved("html/b.html"),
        ".html.html reduced"
    );
    assert_eq!(
        body("html/a/h3.xml"),
        resolved("html/a/c.html"),
        "base html/a"
    );
    let report = t.link_report("bodies", At::Draft).unwrap();
    assert_sets(&report, &[], &[], &[], &["html/c.html"], "bodies");
    assert!(report.broken.is_empty(), "{:?}", report.broken);
    assert_eq!(
        orphans(&report),
        set(&["html/c.html"]),
        "only the unused body"
    );
}

#[test]
fn a_legacy_problem_filename_finds_the_third_candidate_at_the_course_root() {
    let t = TestStore::new();
    let s = spine("  <problem filename=\"q\" weight=\"1\"/>\n  <vertical filename=\"gone\"/>\n");
    course(
        &t,
        "capa",
        &with_spine(&s, &[("q.xml", b"<problem><p>Q</p></problem>")]),
    );
    let links = out(&t, "capa", "vertical/v1.xml");
    assert_eq!(
        links[0].resolution,
        resolved("q.xml"),
        "problem/, problems/, then the root"
    );
    assert_eq!(
        links[1].resolution,
        Resolution::Broken {
            missing: vec!["vertical/gone.xml".to_owned()]
        },
        "a vertical knows only vertical/F.xml"
    );
    let report = t.link_report("capa", At::Draft).unwrap();
    assert_sets(&report, &["vertical/v1.xml gone"], &[], &[], &[], "capa");
    assert_eq!(
        written(&report.broken),
        set(&["vertical/v1.xml gone"]),
        "broken"
    );
    assert_eq!(
        (report.broken_loaded, report.broken_unloaded),
        (1, 0),
        "in loaded content"
    );
    assert!(
        report.orphans.is_empty(),
        "q.xml is loaded: {:?}",
        report.orphans
    );
}

#[test]
fn only_quoted_strings_are_references_and_platform_and_external_links_are_apart() {
    let t = TestStore::new();
    let s = spine("  <html url_name=\"h\"/>\n  <problem url_name=\"p\"/>\n");
    let body = concat!(
        "<p>Prose that mentions /static/prose.png is text.</p>\n",
        "<img src=\"/static/images/Two block swing.png\">\n",
        "<div data-x=\"{&quot;i&quot;: &quot;/static/encoded.png&quot;}\"></div>\n",
        "<img src=\"/static/images/placeholder-image.png\">\n",
        "<a href=\"https://www.edx.org/\">edX</a>\n",
        "<img src=\"/c4x/O/C/asset/mine.png\">\n",
        "<img src=\"https://studio.edx.org/c4x/edX/DemoX/asset/theirs.png\">\n",
        "<img src=\"/asset-v1:O+C+R+type@asset+block@key.png\">\n",
        "<a href=\"/course/courseware/ch1/nope\">next</a>\n",
    );
    course(
        &t,
        "quotes",
        &with_spine(
            &s,
            &[
                ("html/h.xml", b"<html filename=\"h\"/>"),
                ("html/h.html", body.as_bytes()),
                (
                    "problem/p.xml",
                    b"<problem><p>&lt;img src=&quot;/static/text.png&quot;&gt;</p></problem>",
                ),
                ("static/images/Two block swing.png", b"png"),
                ("static/prose.png", b"png"),
                ("static/encoded.png", b"png"),
                ("static/text.png", b"png"),
                ("static/mine.png", b"png"),
                ("static/key.png", b"png"),
            ],
        ),
    );
    let report = t.link_report("quotes", At::Draft).unwrap();
    assert_sets(
        &report,
        &["html/h.html /course/courseware/ch1/nope"],
        &[
            "html/h.html https://www.edx.org/",
            "html/h.html https://studio.edx.org/c4x/edX/DemoX/asset/theirs.png",
        ],
        &["html/h.html /static/images/placeholder-image.png"],
        &["static/encoded.png", "static/prose.png"],
        "quotes",
    );
    assert_eq!(
        written(&report.broken),
        set(&["html/h.html /course/courseware/ch1/nope"]),
        "one courseware link, broken"
    );
    assert_eq!(
        report.broken[0].resolution,
        Resolution::Broken {
            missing: vec!["sequential/nope.xml".to_owned()]
        },
        "it says which half is missing"
    );
    assert_eq!(
        written(&report.external),
        set(&[
            "html/h.html https://www.edx.org/",
            "html/h.html https://studio.edx.org/c4x/edX/DemoX/asset/theirs.png",
        ]),
        "absolute URLs and another course's asset"
    );
    assert_eq!(
        written(&report.platform),
        set(&["html/h.html /static/images/placeholder-image.png"]),
        "Studio's placeholder is edx-platform's"
    );
    assert_eq!(
        orphans(&report),
        set(&["static/encoded.png", "static/prose.png"]),
        "unquoted prose and an entity-encoded string in an HTML body are no references"
    );
    let incoming = |p: &str| {
        t.links("quotes", p, At::Draft, Direction::In)
            .unwrap()
            .len()
    };
    assert_eq!(
        incoming("static/images/Two block swing.png"),
        1,
        "spaces kept"
    );
    assert_eq!(incoming("static/mine.png"), 1, "this course's c4x");
    assert_eq!(incoming("static/key.png"), 1, "this course's asset-v1");
    assert_eq!(
        incoming("static/text.png"),
        1,
        "an encoded quote in XML text"
    );
}

#[test]
fn a_drafts_pointers_resolve_under_drafts_and_draft_roots_hang_under_their_parent() {
    let t = TestStore::new();
    let s = spine("  <html url_name=\"h\"/>\n");
    course(
        &t,
        "drafts",
        &with_spine(
            &s,
            &[
                ("html/h.xml", b"<html display_name=\"published\"><p>P</p></html>"),
                (
                    "drafts/vertical/dv.xml",
                    b"<vertical display_name=\"D\" index_in_children_list=\"1\" parent_url=\"block-v1:O+C+R+type@sequential+block@s1\">\n  <html url_name=\"h\"/>\n</vertical>\n",
                ),
                ("drafts/html/h.xml", b"<html display_name=\"draft\"><p>D</p></html>"),
                // Its parent is gone: edx-platform drops it.
                (
                    "drafts/vertical/lost.xml",
                    b"<vertical index_in_children_list=\"0\" parent_url=\"block-v1:O+C+R+type@sequential+block@gone\"/>",
                ),
                // Not a draft root: never loaded, its broken link is apart.
                (
                    "drafts/vertical/old.xml",
                    b"<vertical>\n  <html url_name=\"gone\"/>\n</vertical>\n",
                ),
            ],
        ),
    );
    let links = out(&t, "drafts", "drafts/vertical/dv.xml");
    let kinds: Vec<(LinkKind, Resolution)> = links
        .iter()
        .map(|l| (l.kind, l.resolution.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (LinkKind::Parent, resolved("sequential/s1.xml")),
            (LinkKind::Child, resolved("drafts/html/h.xml")),
        ],
        "the parent, and the drafts copy of h, never html/h.xml"
    );
    assert!(links.iter().all(|l| l.loaded), "a draft root is loaded");
    let report = t.link_report("drafts", At::Draft).unwrap();
    assert_sets(
        &report,
        &[
            "drafts/vertical/old.xml gone",
            "drafts/vertical/lost.xml block-v1:O+C+R+type@sequential+block@gone",
        ],
        &[],
        &[],
        &["drafts/vertical/old.xml", "drafts/vertical/lost.xml"],
        "drafts",
    );
    assert_eq!(
        written(&report.broken),
        set(&[
            "drafts/vertical/old.xml gone",
            "drafts/vertical/lost.xml block-v1:O+C+R+type@sequential+block@gone"
        ]),
        "broken"
    );
    assert_eq!(
        (report.broken_loaded, report.broken_unloaded),
        (0, 2),
        "in files never loaded"
    );
    assert!(report.broken.iter().all(|l| !l.loaded), "says so");
    assert_eq!(
        orphans(&report),
        set(&["drafts/vertical/old.xml", "drafts/vertical/lost.xml"]),
        "orphans"
    );
}

#[test]
fn a_policy_named_asset_is_in_use_and_gc_keeps_it_whatever_its_flag() {
    let t = TestStore::new();
    let s = spine("");
    course(
        &t,
        "policy",
        &with_spine(
            &s,
            &[
                (
                    "policies/R/policy.json",
                    b"{\"course/R\": {\n  \"display_name\": \"C\",\n  \"course_image\": \"images_card.png\",\n  \"banner_image\": \"banner.png\"\n}}\n",
                ),
                ("policies/assets.json", b"{}"),
                ("policies/OLD/policy.json", b"{\"course/OLD\": {\"course_image\": \"old.png\"}}"),
                ("static/images/card.png", b"png"),
                ("static/banner.png", b"png"),
                ("static/old.png", b"png"),
                ("static/unused.png", b"png"),
            ],
        ),
    );
    let card = t
        .links("policy", "static/images/card.png", At::Draft, Direction::In)
        .unwrap();
    assert_eq!(card.len(), 1, "{card:?}");
    assert_eq!(card[0].kind, LinkKind::Policy, "a kind of its own");
    assert!(card[0].loaded, "the run's policy is loaded");
    let report = t.link_report("policy", At::Draft).unwrap();
    assert_sets(
        &report,
        &[],
        &[],
        &[],
        &[
            "policies/OLD/policy.json",
            "static/old.png",
            "static/unused.png",
        ],
        "policy",
    );
    assert_eq!(
        orphans(&report),
        set(&[
            "policies/OLD/policy.json",
            "static/old.png",
            "static/unused.png"
        ]),
        "another run's policy is not loaded, and the asset only it names is unused"
    );
    for asset in [
        "static/images/card.png",
        "static/banner.png",
        "static/unused.png",
    ] {
        t.set_garbage_collect("policy", asset, true).unwrap();
    }
    let gc = t
        .gc(&GcOptions {
            cutoff: blockstore::store::now(),
            dry_run: false,
        })
        .unwrap();
    assert_eq!(
        gc.orphans_deleted,
        vec!["policy:static/unused.png".to_owned()],
        "only the unused one"
    );
    let left: BTreeSet<String> = t
        .files("policy", At::Draft)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(
        left.contains("static/images/card.png") && left.contains("static/banner.png"),
        "kept: {left:?}"
    );
}

#[test]
fn a_library_imported_after_the_course_resolves_its_link_by_key() {
    let t = TestStore::new();
    let s = spine("  <library_content url_name=\"lc\"/>\n");
    course(
        &t,
        "with-lib",
        &with_spine(
            &s,
            &[(
                "library_content/lc.xml",
                b"<library_content source_library_id=\"library-v1:O+L\" max_count=\"1\"/>",
            )],
        ),
    );
    let report = t.link_report("with-lib", At::Draft).unwrap();
    assert_sets(
        &report,
        &["library_content/lc.xml library-v1:O+L"],
        &[],
        &[],
        &[],
        "no library yet",
    );
    assert_eq!(
        written(&report.broken),
        set(&["library_content/lc.xml library-v1:O+L"]),
        "no library yet"
    );
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[(
            "library.xml",
            b"<library xblock-family=\"xblock.v1\" org=\"O\" library=\"L\" url_name=\"library\"/>",
        )],
    );
    // A slug that says nothing of the key: found by library.xml's org and library.
    import_tree(&t, "my-lib", dir.path());
    let link = &out(&t, "with-lib", "library_content/lc.xml")[0];
    assert_eq!(
        link.resolution,
        Resolution::Collection {
            collection: "my-lib".to_owned(),
            path: Some("library.xml".to_owned())
        },
        "resolved against the live store"
    );
    assert!(
        t.link_report("with-lib", At::Draft)
            .unwrap()
            .broken
            .is_empty(),
        "no broken link"
    );
}

#[test]
fn broken_links_in_files_edx_platform_never_loads_are_counted_apart() {
    let t = TestStore::new();
    let s = spine("  <problem url_name=\"missing\"/>\n");
    course(
        &t,
        "loaded",
        &with_spine(
            &s,
            &[
                (
                    "course/old.xml",
                    b"<course>\n  <chapter url_name=\"gone\"/>\n</course>\n",
                ),
                (
                    "about/overview.html",
                    b"<img src=\"/static/images/placeholder-faculty.png\">",
                ),
                ("README.md", b"not loaded"),
            ],
        ),
    );
    let report = t.link_report("loaded", At::Draft).unwrap();
    assert_sets(
        &report,
        &["vertical/v1.xml missing", "course/old.xml gone"],
        &[],
        &["about/overview.html /static/images/placeholder-faculty.png"],
        &["README.md", "course/old.xml"],
        "loaded",
    );
    assert_eq!(
        written(&report.broken),
        set(&["vertical/v1.xml missing", "course/old.xml gone"]),
        "both broken links"
    );
    assert_eq!(
        (report.broken_loaded, report.broken_unloaded),
        (1, 1),
        "one of each"
    );
    assert_eq!(
        report.broken[0].source_path, "vertical/v1.xml",
        "loaded content first"
    );
    assert_eq!(
        orphans(&report),
        set(&["README.md", "course/old.xml"]),
        "never loaded"
    );
    assert_eq!(report.platform.len(), 1, "the about page's placeholder");
}

#[test]
fn links_made_by_older_rules_are_extracted_again_at_open() {
    let Some(t) = TestStore::embedded() else {
        return;
    };
    course(
        &t,
        "old",
        &[
            (
                "policies/R/policy.json",
                b"{\"course/R\": {\"course_image\": \"c.png\"}}",
            ),
            ("static/c.png", b"png"),
        ],
    );
    let dir = t.data_dir();
    let TestStore { dir: _keep, store } = t;
    drop(store);
    // What a store of the previous rules holds: its links gone stale.
    {
        let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        conn.execute_batch(
            "DELETE FROM link; DELETE FROM content_scan; UPDATE link_rules SET version = 0;",
        )
        .unwrap();
    }
    let store = blockstore::Store::open(&dir).unwrap();
    let card = store
        .links("old", "static/c.png", At::Draft, Direction::In)
        .unwrap();
    assert_eq!(card.len(), 1, "the policy link is back: {card:?}");
    assert!(
        store.fsck(&NoProgress).unwrap().is_clean(),
        "every content scanned"
    );
}

#[test]
fn jumps_and_courseware_links_find_blocks_defined_inline() {
    let t = TestStore::new();
    course(
        &t,
        "inline",
        &[
            (
                "course/R.xml",
                b"<course display_name=\"C\">\n  <chapter url_name=\"w1\" display_name=\"Week 1\">\n    <sequential url_name=\"s1\" display_name=\"S\">\n      <vertical url_name=\"v1\">\n        <html url_name=\"intro\" display_name=\"Intro\"><p>Hi</p></html>\n        <html url_name=\"next\"/>\n      </vertical>\n    </sequential>\n  </chapter>\n</course>\n",
            ),
            (
                "html/next.xml",
                b"<html display_name=\"Next\"><a href=\"/jump_to_id/intro\">back</a> <a href=\"/course/courseware/w1/s1\">week</a> <a href=\"/jump_to_id/nowhere\">x</a> <a href=\"/course/courseware/w1/s2\">y</a></html>",
            ),
        ],
    );
    let links = out(&t, "inline", "html/next.xml");
    let got: Vec<(String, Resolution)> = links
        .iter()
        .map(|l| (l.written.clone(), l.resolution.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/jump_to_id/intro".to_owned(), resolved("course/R.xml")),
            (
                "/course/courseware/w1/s1".to_owned(),
                resolved("course/R.xml")
            ),
            (
                "/jump_to_id/nowhere".to_owned(),
                Resolution::Broken { missing: vec![] }
            ),
            (
                "/course/courseware/w1/s2".to_owned(),
                Resolution::Broken {
                    missing: vec!["sequential/s2.xml".to_owned()]
                }
            ),
        ],
        "the file defining the block inline answers"
    );
    let report = t.link_report("inline", At::Draft).unwrap();
    assert_sets(
        &report,
        &[
            "html/next.xml /jump_to_id/nowhere",
            "html/next.xml /course/courseware/w1/s2",
        ],
        &[],
        &[],
        &[],
        "inline",
    );
}
