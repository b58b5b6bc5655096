//! The outline: the block tree of a collection state read back from its OLX
//! (the sample course and library, the demo fixture, bundles, generated trees
//! with orphans, legacy pointers, missing files and malformed XML), through the
//! library and through the real binary.
//!
//! Expected trees come from examples/README.md, from the fixture's files read
//! here with a plain text scan, or from the trees the tests write themselves;
//! the link report (an independent reachability walk over the stored `child`
//! links) must agree with the outline about which block files are orphans.

use crate::common::*;
use blockstore::olx::{import_dir, outline, ImportOptions, Outline, OutlineKind, OutlineNode};
use blockstore::store::links::{LinkKind, Target};
use blockstore::store::{At, NoProgress, PublishOptions, Source, Store};
use std::collections::BTreeSet;
use std::path::Path;

const SAMPLE: &str = "BlockstoreX.OLX101.2026";

fn import(store: &Store, root: &Path, slug: &str) {
    let options = ImportOptions {
        collection: Some(slug.to_owned()),
        ..ImportOptions::default()
    };
    import_dir(store, root, &options, &NoProgress).expect("import succeeds");
}

fn publish(store: &Store, slug: &str) -> i64 {
    store
        .publish(
            slug,
            &PublishOptions {
                message: "m".into(),
                strict: false,
            },
        )
        .expect("publish succeeds")
        .number
}

/// One line per node, indented two spaces a level: `type/url_name` and markers.
fn shape(nodes: &[OutlineNode]) -> String {
    fn walk(node: &OutlineNode, depth: usize, out: &mut String) {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&node.block_type);
        if let Some(url_name) = &node.url_name {
            out.push('/');
            out.push_str(url_name);
        }
        for (flag, word) in [
            (node.inline, "inline"),
            (node.missing, "missing"),
            (node.cycle, "cycle"),
            (node.error.is_some(), "error"),
            (node.external.is_some(), "external"),
        ] {
            if flag {
                out.push_str(" (");
                out.push_str(word);
                out.push(')');
            }
        }
        out.push('\n');
        for child in &node.children {
            walk(child, depth + 1, out);
        }
    }
    let mut out = String::new();
    for node in nodes {
        walk(node, 0, &mut out);
    }
    out
}

/// Every node, depth first.
fn all_nodes(nodes: &[OutlineNode]) -> Vec<&OutlineNode> {
    let mut out = Vec::new();
    let mut stack: Vec<&OutlineNode> = nodes.iter().rev().collect();
    while let Some(node) = stack.pop() {
        out.push(node);
        stack.extend(node.children.iter().rev());
    }
    out
}

/// Paths of the files the nodes stand for (inline and missing nodes aside).
fn file_paths(nodes: &[OutlineNode]) -> BTreeSet<String> {
    all_nodes(nodes)
        .into_iter()
        .filter(|n| !n.inline && !n.missing && n.external.is_none())
        .map(|n| n.path.clone())
        .collect()
}

/// `display_name` of a file's first element, by a plain text scan (enough for
/// the hand-written and Studio-written files used here).
fn scanned_display_name(text: &str) -> Option<String> {
    let first_tag_end = text.find('>')?;
    let tag = &text[..first_tag_end];
    let at = tag.find(" display_name=\"")? + " display_name=\"".len();
    let len = tag[at..].find('"')?;
    Some(
        tag[at..at + len]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Block files as the link report sees them: its orphans that are XML under
/// a block folder.
fn report_block_orphans(store: &Store, slug: &str, at: At) -> BTreeSet<String> {
    store
        .link_report(slug, at)
        .unwrap()
        .orphans
        .into_iter()
        .filter(|p| p.ends_with(".xml") && p.contains('/') && !p.starts_with("static/"))
        .collect()
}

fn find<'a>(nodes: &'a [OutlineNode], url_name: &str) -> &'a OutlineNode {
    all_nodes(nodes)
        .into_iter()
        .find(|n| n.url_name.as_deref() == Some(url_name))
        .unwrap_or_else(|| panic!("no node {url_name} in\n{}", shape(nodes)))
}

#[test]
fn the_sample_course_outline_is_the_tree_in_examples_readme() {
    let t = TestStore::new();
    import(&t, &sample_course(), SAMPLE);
    let o = outline(&t, SAMPLE, At::Draft).unwrap();
    assert_eq!(o.collection, SAMPLE);
    assert_eq!(o.kind, OutlineKind::Course);
    assert_eq!(o.at, At::Draft);
    assert_eq!(o.roots.len(), 1, "a course has one root");
    // examples/README.md's tree, line by line.
    assert_eq!(
        shape(&o.roots),
        "\
course/2026
  chapter/ch_welcome
    sequential/seq_orientation
      vertical/vert_welcome
        html/html_welcome
        video/video_olx_tour
      vertical/vert_course_map
        html/html_course_map
  chapter/ch_structure
    sequential/seq_outline
      vertical/vert_hierarchy
        html/html_hierarchy
        done/done_hierarchy (inline)
      vertical/vert_file_layout
        html/html_file_layout
    sequential/seq_outline_check
      vertical/vert_structure_quiz
        problem/prob_tree_depth
        problem/prob_count_verticals
  chapter/ch_references
    sequential/seq_static
      vertical/vert_static_paths
        html/html_static_paths
      vertical/vert_jump_links
        html/html_jump_links
    sequential/seq_references_quiz
      vertical/vert_references_quiz
        problem/prob_identify_folder
"
    );
    let root = &o.roots[0];
    assert_eq!(root.path, "course/2026.xml", "course.xml points at it");
    assert_eq!(root.display_name.as_deref(), Some("OLX in Practice"));
    let chapters: Vec<Option<&str>> = root
        .children
        .iter()
        .map(|c| c.display_name.as_deref())
        .collect();
    assert_eq!(
        chapters,
        vec![
            Some("Welcome to OLX"),
            Some("The Shape of a Course"),
            Some("Files That Point at Files")
        ]
    );
    // Every block file's node carries the display name its file has.
    let course = sample_course();
    for node in all_nodes(&o.roots).into_iter().filter(|n| !n.inline) {
        let text = std::fs::read_to_string(course.join(&node.path)).unwrap();
        assert_eq!(
            node.display_name,
            scanned_display_name(&text),
            "{}",
            node.path
        );
        assert_eq!(node.error, None, "{}", node.path);
    }
    let done = find(&o.roots, "done_hierarchy");
    assert_eq!(
        (done.inline, done.path.as_str(), done.missing),
        (true, "vertical/vert_hierarchy.xml", false),
        "the inline pure XBlock is defined in its vertical's file"
    );
    assert!(o.orphans.is_empty(), "no orphans: {:?}", o.orphans);
    assert!(o.broken.is_empty(), "nothing broken: {:?}", o.broken);
    assert_eq!(o.blocks, 28, "1 course, 3 + 5 + 8, 10 leaves, 1 inline");
    assert!(!o.truncated);
    // Every block file is in the tree, once.
    let reached = file_paths(&o.roots);
    let block_files: BTreeSet<String> = tree_files(&course)
        .into_keys()
        .filter(|p| p.ends_with(".xml") && p.contains('/'))
        .collect();
    assert_eq!(reached, block_files);
}

#[test]
#[ignore = "needs ../shared fixtures"]
fn the_demo_course_has_its_six_chapters_in_course_order_with_their_display_names() {
    let root = demo_course();
    let t = TestStore::new();
    import(&t, &root, "demo");
    let o = outline(&t, "demo", At::Draft).unwrap();
    assert_eq!(o.kind, OutlineKind::Course);
    let course = &o.roots[0];
    assert_eq!(course.path, "course/DemoCourse.xml");
    assert_eq!(course.display_name.as_deref(), Some("Open edX Demo Course"));
    let chapters: Vec<(&str, &str)> = course
        .children
        .iter()
        .map(|c| {
            assert_eq!(c.block_type, "chapter");
            (
                c.url_name.as_deref().unwrap(),
                c.display_name.as_deref().unwrap(),
            )
        })
        .collect();

    // Course order and names read again from the files with a text scan.
    let course_xml = std::fs::read_to_string(root.join("course/DemoCourse.xml")).unwrap();
    let scanned: Vec<(String, String)> = course_xml
        .split("<chapter url_name=\"")
        .skip(1)
        .map(|rest| {
            let url_name = rest[..rest.find('"').unwrap()].to_owned();
            let text =
                std::fs::read_to_string(root.join(format!("chapter/{url_name}.xml"))).unwrap();
            (url_name, scanned_display_name(&text).unwrap())
        })
        .collect();
    let scanned: Vec<(&str, &str)> = scanned
        .iter()
        .map(|(u, n)| (u.as_str(), n.as_str()))
        .collect();
    assert_eq!(chapters, scanned);
    let names: Vec<&str> = chapters.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        names,
        vec![
            "Module 1: Dive into the Open edX® platform!",
            "Module 2: Crafting Captivating Content",
            "Module 3: Ace the Assessments!",
            "Module 4: Social Learning: Engaging Through Interaction",
            "Module 5: Your Open edX Community",
            "Conclusion",
        ],
        "the demo course's six chapters in course order"
    );
    for chapter in &course.children {
        assert!(
            !chapter.children.is_empty(),
            "{:?} has sequentials",
            chapter.display_name
        );
    }

    // Every block file of the export is in the tree; nothing is broken or lost;
    // the inline pure XBlocks (done, poll, …) are there too.
    let block_folders = [
        "chapter",
        "sequential",
        "vertical",
        "html",
        "problem",
        "video",
        "lti",
        "annotatable",
        "library_content",
        "course",
    ];
    let block_files: BTreeSet<String> = tree_files(&root)
        .into_keys()
        .filter(|p| {
            p.ends_with(".xml")
                && block_folders
                    .iter()
                    .any(|f| p.starts_with(&format!("{f}/")))
        })
        .collect();
    assert_eq!(file_paths(&o.roots), block_files);
    assert!(o.orphans.is_empty(), "{}", shape(&o.orphans));
    assert!(o.broken.is_empty(), "{:?}", o.broken);
    assert!(report_block_orphans(&t, "demo", At::Draft).is_empty());
    let inline: Vec<&str> = all_nodes(&o.roots)
        .into_iter()
        .filter(|n| n.inline)
        .map(|n| n.block_type.as_str())
        .collect();
    assert!(inline.contains(&"done"), "{inline:?}");
    assert!(inline.contains(&"poll"), "{inline:?}");
    assert!(
        all_nodes(&o.roots).iter().all(|n| n.error.is_none()),
        "the demo course parses"
    );
}

#[test]
fn libraries_are_outlined_from_library_xml() {
    let t = TestStore::new();
    import(&t, &sample_library(), "lib");
    let o = outline(&t, "lib", At::Draft).unwrap();
    assert_eq!(o.kind, OutlineKind::Library);
    let root = &o.roots[0];
    assert_eq!(
        (
            root.block_type.as_str(),
            root.path.as_str(),
            root.display_name.as_deref()
        ),
        ("library", "library.xml", Some("OLX Practice Question Bank"))
    );
    let problems: Vec<(&str, &str, &str)> = root
        .children
        .iter()
        .map(|c| {
            (
                c.block_type.as_str(),
                c.url_name.as_deref().unwrap(),
                c.display_name.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        vec![
            ("problem", "lib_prob_root_file", "The Root of an Export"),
            (
                "problem",
                "lib_prob_body_file",
                "Two Files per Text Component"
            ),
            ("problem", "lib_prob_asset_name", "Spaces in File Names"),
        ]
    );
    assert!(o.orphans.is_empty() && o.broken.is_empty());
}

#[test]
#[ignore = "needs ../shared fixtures"]
fn the_demo_library_is_outlined_in_library_xml_order_with_its_display_names() {
    let t = TestStore::new();
    let demo = demo_library();
    import(&t, &demo, "demo-lib");
    let o = outline(&t, "demo-lib", At::Draft).unwrap();
    assert_eq!(o.kind, OutlineKind::Library);
    let root = &o.roots[0];
    assert_eq!(
        root.display_name.as_deref(),
        Some("Respiratory System Question Bank 1")
    );
    let library_xml = std::fs::read_to_string(demo.join("library.xml")).unwrap();
    let listed: Vec<&str> = library_xml
        .split("<problem url_name=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(listed.len(), 6, "the demo library lists six problems");
    let outlined: Vec<&str> = root
        .children
        .iter()
        .map(|c| c.url_name.as_deref().unwrap())
        .collect();
    assert_eq!(outlined, listed, "in library.xml's order");
    for child in &root.children {
        let text = std::fs::read_to_string(demo.join(&child.path)).unwrap();
        assert_eq!(child.display_name, scanned_display_name(&text));
        assert!(child.display_name.is_some(), "{}", child.path);
    }
    assert!(o.orphans.is_empty() && o.broken.is_empty());
}

#[test]
fn a_blockstore_bundle_is_outlined_from_its_includes() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    write_tree(
        &bundle,
        &[
            (
                "unit/unit1/definition.xml",
                b"<unit display_name=\"Unit One\">\n  <xblock-include definition=\"html/intro\"/>\n  <xblock-include definition=\"problem/q1\" usage_hint=\"q\"/>\n  <xblock-include source=\"shared\" definition=\"problem/p9\"/>\n  <xblock-include definition=\"html/gone\"/>\n</unit>\n",
            ),
            (
                "unit/unit2/definition.xml",
                b"<unit display_name=\"Unit Two\">\n  <xblock-include definition=\"html/intro\"/>\n</unit>\n",
            ),
            (
                "html/intro/definition.xml",
                b"<html display_name=\"Intro\"><![CDATA[<p>Hi</p>]]></html>\n",
            ),
            (
                "problem/q1/definition.xml",
                b"<problem display_name=\"Q1\"><multiplechoiceresponse/></problem>\n",
            ),
            (
                "unit/unit3/definition.xml",
                b"<unit display_name=\"Unit Three\"><xblock-include definition=\"unit/unit3\"/></unit>",
            ),
            ("html/intro/static/pic.png", b"\x89PNG"),
        ],
    );
    let t = TestStore::new();
    import(&t, &bundle, "bundle");
    let o = outline(&t, "bundle", At::Draft).unwrap();
    assert_eq!(o.kind, OutlineKind::Bundle);
    assert_eq!(
        shape(&o.roots),
        "\
unit/unit1
  html/intro
  problem/q1
  problem/p9 (external)
  html/gone (missing)
unit/unit2
  html/intro
unit/unit3
  unit/unit3 (cycle)
",
        "the definitions nothing includes are the roots, in path order; a loop is cut"
    );
    let unit1 = &o.roots[0];
    assert_eq!(unit1.path, "unit/unit1/definition.xml");
    assert_eq!(unit1.display_name.as_deref(), Some("Unit One"));
    assert_eq!(unit1.children[0].path, "html/intro/definition.xml");
    assert_eq!(unit1.children[0].display_name.as_deref(), Some("Intro"));
    assert_eq!(unit1.children[2].external.as_deref(), Some("shared"));
    assert!(o.orphans.is_empty(), "a bundle has no orphans");
    assert_eq!(o.broken.len(), 1, "{:?}", o.broken);
    let broken = &o.broken[0];
    assert_eq!(broken.source_path, "unit/unit1/definition.xml");
    assert_eq!(broken.kind, LinkKind::Include);
    assert_eq!(broken.written, "html/gone");
    assert_eq!(
        broken.target,
        Target::Path {
            path: "html/gone/definition.xml".into()
        }
    );
}

#[test]
fn unreferenced_block_files_are_orphans_with_their_subtrees() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("course");
    let sample = tree_files(&sample_course());
    let files: Vec<(&str, &[u8])> = sample
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    write_tree(&root, &files);
    write_tree(
        &root,
        &[
            (
                "vertical/x.xml",
                b"<vertical display_name=\"Lost Unit\">\n  <html url_name=\"html_x\"/>\n</vertical>\n",
            ),
            (
                "html/html_x.xml",
                b"<html display_name=\"Lost Text\"><p>x</p></html>\n",
            ),
            (
                "vertical/loop_a.xml",
                b"<vertical display_name=\"A\">\n  <vertical url_name=\"loop_b\"/>\n</vertical>\n",
            ),
            (
                "vertical/loop_b.xml",
                b"<vertical display_name=\"B\">\n  <vertical url_name=\"loop_a\"/>\n</vertical>\n",
            ),
        ],
    );
    let t = TestStore::new();
    import(&t, &root, "c");
    let o = outline(&t, "c", At::Draft).unwrap();
    assert_eq!(o.roots[0].children.len(), 3, "the course is unchanged");
    assert_eq!(
        shape(&o.orphans),
        "\
vertical/loop_a
  vertical/loop_b
    vertical/loop_a (cycle)
vertical/x
  html/html_x
",
        "the top of each unreachable group, with what it holds; a loop is cut"
    );
    let x = &o.orphans[1];
    assert_eq!(
        (x.path.as_str(), x.display_name.as_deref()),
        ("vertical/x.xml", Some("Lost Unit"))
    );
    assert_eq!(
        x.children[0].display_name.as_deref(),
        Some("Lost Text"),
        "orphans are read like the tree"
    );
    // The link report's own reachability walk finds the same files.
    assert_eq!(
        file_paths(&o.orphans),
        report_block_orphans(&t, "c", At::Draft)
    );
    assert_eq!(
        file_paths(&o.orphans),
        BTreeSet::from(
            [
                "vertical/x.xml",
                "html/html_x.xml",
                "vertical/loop_a.xml",
                "vertical/loop_b.xml"
            ]
            .map(String::from)
        )
    );
}

/// A hand-written course: pointers, inline trees, legacy `filename=` pointers
/// in both folders, a missing chapter, a malformed chapter and a loop.
#[test]
fn legacy_pointers_inline_trees_missing_files_bad_xml_and_loops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("course");
    write_tree(
        &root,
        &[
            (
                "course.xml",
                b"<course url_name=\"run\" org=\"O\" course=\"C\"/>\n",
            ),
            (
                "course/run.xml",
                br#"<course display_name="Generated &amp; Hand-Written">
  <chapter url_name="ch1"/>
  <chapter display_name="Inline Chapter" url_name="ch_inline">
    <sequential display_name="Inline Sequence">
      <vertical display_name="Inline Unit">
        <html display_name="Inline Text"><p>hi <a href="/jump_to_id/ch1">x</a></p></html>
        <problem filename="MIT/x/BK7.problem" weight="1"/>
      </vertical>
    </sequential>
  </chapter>
  <chapter url_name="ch_missing"/>
  <chapter url_name="ch_bad"/>
  <wiki slug="O.C.run"/>
  <textbook title="Book" book_url="https://example.com/"/>
</course>
"#,
            ),
            (
                "chapter/ch1.xml",
                b"<chapter display_name=\"One\"><sequential url_name=\"s1\"/></chapter>",
            ),
            (
                "sequential/s1.xml",
                b"<sequential display_name=\"S1\"><vertical url_name=\"v1\"/></sequential>",
            ),
            (
                "vertical/v1.xml",
                b"<vertical display_name=\"V1\">\n  <sequential url_name=\"s1\"/>\n  <problem filename=\"legacy_two\"/>\n</vertical>",
            ),
            (
                "problem/MIT/x/BK7.problem.xml",
                b"<problem display_name=\"BK7\"><p>q</p></problem>",
            ),
            (
                "problems/legacy_two.xml",
                b"<problem display_name=\"Two\"/>",
            ),
            (
                "chapter/ch_bad.xml",
                b"<chapter display_name=\"Bad\">\n  <sequential url_name=\"s_ok\"/>\n  <p></q>\n  <sequential url_name=\"s_after\"/>\n</chapter>\n",
            ),
            (
                "sequential/s_ok.xml",
                b"<sequential display_name=\"OK\"/>",
            ),
            ("policies/run/policy.json", b"{}"),
        ],
    );
    let t = TestStore::new();
    import(&t, &root, "gen");
    let o = outline(&t, "gen", At::Draft).unwrap();
    assert_eq!(
        shape(&o.roots),
        "\
course/run
  chapter/ch1
    sequential/s1
      vertical/v1
        sequential/s1 (cycle)
        problem/legacy_two
  chapter/ch_inline (inline)
    sequential (inline)
      vertical (inline)
        html (inline)
        problem/MIT/x/BK7.problem
  chapter/ch_missing (missing)
  chapter/ch_bad (error)
    sequential/s_ok
"
    );
    let course = &o.roots[0];
    assert_eq!(
        course.display_name.as_deref(),
        Some("Generated & Hand-Written"),
        "display names are unescaped"
    );
    let legacy = find(&o.roots, "legacy_two");
    assert_eq!(
        (legacy.path.as_str(), legacy.display_name.as_deref()),
        ("problems/legacy_two.xml", Some("Two")),
        "a legacy pointer falls back to the plural folder"
    );
    let bk7 = find(&o.roots, "MIT/x/BK7.problem");
    assert_eq!(
        (bk7.path.as_str(), bk7.display_name.as_deref(), bk7.inline),
        ("problem/MIT/x/BK7.problem.xml", Some("BK7"), false)
    );
    let inline = &course.children[1];
    assert_eq!(
        inline.path, "course/run.xml",
        "defined in the course's file"
    );
    assert_eq!(inline.display_name.as_deref(), Some("Inline Chapter"));
    assert_eq!(
        inline.children[0].children[0].children[0]
            .display_name
            .as_deref(),
        Some("Inline Text")
    );
    let missing = &course.children[2];
    assert_eq!(missing.path, "chapter/ch_missing.xml");
    assert_eq!(o.broken.len(), 1, "{:?}", o.broken);
    assert_eq!(
        (
            o.broken[0].source_path.as_str(),
            o.broken[0].kind,
            o.broken[0].written.as_str()
        ),
        ("course/run.xml", LinkKind::Child, "ch_missing")
    );
    let bad = &course.children[3];
    let error = bad.error.as_deref().unwrap();
    assert!(error.contains("line 3"), "{error}");
    assert_eq!(
        bad.display_name.as_deref(),
        Some("Bad"),
        "what parsed is kept"
    );
    assert!(o.orphans.is_empty(), "{}", shape(&o.orphans));
    assert!(!o.truncated);

    // The store's link report agrees: the same broken pointer, the same
    // malformed file, and no block file unreachable.
    let report = t.link_report("gen", At::Draft).unwrap();
    let broken: Vec<(&str, &str)> = report
        .broken
        .iter()
        .map(|l| (l.source_path.as_str(), l.written.as_str()))
        .collect();
    assert_eq!(broken, vec![("course/run.xml", "ch_missing")]);
    let malformed: Vec<&str> = report.malformed.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(malformed, vec!["chapter/ch_bad.xml"]);
    assert!(report_block_orphans(&t, "gen", At::Draft).is_empty());
}

#[test]
fn malformed_xml_in_one_file_spoils_only_that_block() {
    let t = TestStore::new();
    import(&t, &sample_course(), SAMPLE);
    t.write(
        SAMPLE,
        "vertical/vert_welcome.xml",
        b"<vertical display_name=\"Welcome\">\n  <html url_name=\"html_welcome\"/>\n  <video url_name=\"video_olx_tour\">\n</vertical>\n",
        Source::Cli,
    )
    .unwrap();
    t.write(SAMPLE, "chapter/ch_references.xml", b"", Source::Cli)
        .unwrap();
    let o = outline(&t, SAMPLE, At::Draft).unwrap();
    let welcome = find(&o.roots, "vert_welcome");
    assert!(
        welcome.error.as_deref().unwrap().starts_with("line 4:"),
        "{:?}",
        welcome.error
    );
    assert_eq!(welcome.display_name.as_deref(), Some("Welcome"));
    assert_eq!(shape(&welcome.children), "html/html_welcome\n");
    let references = find(&o.roots, "ch_references");
    assert!(
        references.error.as_deref().unwrap().contains("no root"),
        "{:?}",
        references.error
    );
    assert_eq!(references.block_type, "chapter", "from the pointer");
    assert!(references.children.is_empty());
    // Everything else is intact.
    assert_eq!(o.roots[0].children.len(), 3);
    assert_eq!(
        find(&o.roots, "vert_hierarchy").children.len(),
        2,
        "other verticals keep their blocks"
    );
    // What the broken files no longer reach is orphaned, as the link report says.
    assert_eq!(
        file_paths(&o.orphans),
        report_block_orphans(&t, SAMPLE, At::Draft)
    );
    let orphans: Vec<&str> = o.orphans.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(
        orphans,
        vec![
            "sequential/seq_references_quiz.xml",
            "sequential/seq_static.xml",
            "video/video_olx_tour.xml"
        ]
    );
}

#[test]
fn a_published_version_keeps_its_outline_after_the_draft_changes() {
    let t = TestStore::new();
    import(&t, &sample_course(), SAMPLE);
    assert_eq!(publish(&t, SAMPLE), 1);
    let before = outline(&t, SAMPLE, At::Draft).unwrap();
    t.write(
        SAMPLE,
        "chapter/ch_welcome.xml",
        b"<chapter display_name=\"Hello, OLX\">\n  <sequential url_name=\"seq_orientation\"/>\n</chapter>\n",
        Source::Cli,
    )
    .unwrap();
    t.write(
        SAMPLE,
        "course/2026.xml",
        b"<course display_name=\"OLX in Practice\">\n  <chapter url_name=\"ch_welcome\"/>\n  <chapter url_name=\"ch_structure\"/>\n</course>\n",
        Source::Cli,
    )
    .unwrap();

    let draft = outline(&t, SAMPLE, At::Draft).unwrap();
    let names = |o: &Outline| -> Vec<String> {
        o.roots[0]
            .children
            .iter()
            .map(|c| c.display_name.clone().unwrap())
            .collect()
    };
    assert_eq!(names(&draft), vec!["Hello, OLX", "The Shape of a Course"]);
    let orphans: Vec<&str> = draft.orphans.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(
        orphans,
        vec!["chapter/ch_references.xml"],
        "the dropped chapter is an orphan, with its subtree"
    );
    assert_eq!(
        file_paths(&draft.orphans).len(),
        9,
        "the chapter, 2 sequentials, 3 verticals and 3 leaves: {}",
        shape(&draft.orphans)
    );

    let v1 = outline(&t, SAMPLE, At::Version(1)).unwrap();
    assert_eq!(v1.at, At::Version(1));
    assert_eq!(
        names(&v1),
        vec![
            "Welcome to OLX",
            "The Shape of a Course",
            "Files That Point at Files"
        ]
    );
    assert!(v1.orphans.is_empty());
    assert_eq!(
        shape(&v1.roots),
        shape(&before.roots),
        "version 1 is what the draft was"
    );
    let latest = outline(&t, SAMPLE, At::Latest).unwrap();
    assert_eq!(
        latest.at,
        At::Version(1),
        "latest is resolved to its number"
    );
    assert_eq!(shape(&latest.roots), shape(&v1.roots));
    assert!(outline(&t, SAMPLE, At::Version(2)).is_err());
    assert!(outline(&t, "no-such-collection", At::Draft).is_err());
}

#[test]
fn the_cli_draws_the_tree_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let course = sample_course();
    cli_json(
        &data,
        &["import", course.to_str().unwrap(), "--publish", "-m", "one"],
    );
    let out = run_cli(&data, &["outline", SAMPLE]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("{SAMPLE} (draft): course, 28 blocks, 0 orphans, 0 broken")
    );
    assert_eq!(
        lines[1],
        "course/2026 \"OLX in Practice\"  [course/2026.xml]"
    );
    assert_eq!(lines[2], "├── chapter/ch_welcome \"Welcome to OLX\"");
    assert_eq!(
        lines[3],
        "│   └── sequential/seq_orientation \"Orientation\""
    );
    assert!(
        text.contains("│   │   │   └── done/done_hierarchy  (inline)\n"),
        "{text}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("            └── problem/prob_identify_folder \"Find the Text\"")
    );
    assert_eq!(lines.len(), 29, "a header and 28 blocks:\n{text}");

    // An orphan and a missing pointer show up in the text.
    let out = run_cli_stdin(
        &data,
        &["write", &format!("{SAMPLE}:vertical/vert_course_map.xml")],
        Some(b"<vertical display_name=\"Map\">\n  <html url_name=\"html_gone\"/>\n</vertical>\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&run_cli(&data, &["outline", &format!("{SAMPLE}@draft")]));
    assert!(
        text.starts_with(&format!(
            "{SAMPLE} (draft): course, 29 blocks, 1 orphan, 1 broken\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("│       └── vertical/vert_course_map \"Map\"\n│           └── html/html_gone  MISSING html/html_gone.xml\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "\norphans (1), not reachable from the root:\nhtml/html_course_map \"Course Map\"  [html/html_course_map.xml]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\nbroken (1):\nvertical/vert_course_map.xml: <html \"html_gone\"> -> html/html_gone.xml (missing)\n"
        ),
        "{text}"
    );

    // --json is the library's Outline, for the draft and for version 1.
    let json = cli_json(&data, &["outline", &format!("{SAMPLE}@1")]);
    assert_eq!(json["kind"], "course");
    assert_eq!(json["at"], serde_json::json!({"version": 1}));
    assert_eq!(
        json["roots"][0]["children"][0]["children"][0]["children"][1]["display_name"],
        "A Map of This Course",
        "version 1 still has the old vertical"
    );
    let draft_json = cli_json(&data, &["outline", SAMPLE]);
    let store = open_existing(&data);
    let library = outline(&store, SAMPLE, At::Draft).unwrap();
    assert_eq!(draft_json, serde_json::to_value(&library).unwrap());
    assert_eq!(draft_json["broken"][0]["target"]["type"], "path");
    drop(store);

    // Errors: an unknown collection, a version that is not there, a bad version.
    let out = run_cli(&data, &["outline", "nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"nope\" not found"),
        "{}",
        stderr(&out)
    );
    let out = run_cli(&data, &["outline", &format!("{SAMPLE}@7")]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = run_cli(&data, &["outline", &format!("{SAMPLE}@0")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_tree_without_a_root_file_and_a_very_deep_chain_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let files: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| {
            (
                format!("vertical/v{i:03}.xml"),
                format!(
                    "<vertical display_name=\"Level {i}\"><vertical url_name=\"v{:03}\"/></vertical>",
                    i + 1
                )
                .into_bytes(),
            )
        })
        .collect();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    write_tree(&root, &files);
    let t = TestStore::new();
    import(&t, &root, "deep");
    let o = outline(&t, "deep", At::Draft).unwrap();
    assert_eq!(o.kind, OutlineKind::Tree);
    assert!(o.truncated, "the depth bound was hit");
    fn depth(node: &OutlineNode) -> usize {
        1 + node.children.iter().map(depth).max().unwrap_or(0)
    }
    assert_eq!(o.roots[0].path, "vertical/v000.xml", "the top of the chain");
    assert_eq!(
        depth(&o.roots[0]),
        65,
        "levels 0..=64, the last not expanded"
    );
    let mut last = &o.roots[0];
    while let Some(child) = last.children.first() {
        last = child;
    }
    assert!(
        last.error.as_deref().unwrap().contains("not expanded"),
        "{last:?}"
    );
    // The rest of the chain is still shown, as a further root.
    assert_eq!(o.roots[1].path, "vertical/v065.xml");
    assert_eq!(o.broken.len(), 1, "v099 points at v100: {:?}", o.broken);
    assert!(o.orphans.is_empty(), "a tree has roots, not orphans");
}

/// A Studio export with unpublished units under `drafts/`, imported from a
/// folder and outlined by the real binary (OLX-RULES "Drafts").
#[test]
fn studio_drafts_hang_under_their_parents_in_the_cli_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("course");
    write_tree(
        &root,
        &[
            (
                "course.xml",
                b"<course url_name=\"R\" org=\"O\" course=\"C\"/>\n",
            ),
            (
                "course/R.xml",
                b"<course display_name=\"C\">\n  <chapter url_name=\"ch\"/>\n</course>\n",
            ),
            (
                "chapter/ch.xml",
                b"<chapter display_name=\"Ch\">\n  <sequential url_name=\"s1\"/>\n</chapter>\n",
            ),
            (
                "sequential/s1.xml",
                b"<sequential display_name=\"S1\">\n  <vertical url_name=\"v\"/>\n</sequential>\n",
            ),
            (
                "vertical/v.xml",
                b"<vertical display_name=\"V\">\n  <html url_name=\"h\"/>\n</vertical>\n",
            ),
            ("html/h.xml", b"<html display_name=\"Published H\"/>\n"),
            (
                "drafts/vertical/dv.xml",
                b"<vertical display_name=\"Draft Unit\" index_in_children_list=\"0\" parent_url=\"block-v1:O+C+R+type@sequential+block@s1\">\n  <html url_name=\"h\"/>\n</vertical>\n",
            ),
            ("drafts/html/h.xml", b"<html display_name=\"Draft H\"/>\n"),
            (
                "drafts/vertical/._dv.xml",
                b"<vertical index_in_children_list=\"0\"/>\n",
            ),
        ],
    );
    let data = dir.path().join("data");
    cli_json(
        &data,
        &["import", root.to_str().unwrap(), "--collection", "d"],
    );
    let out = run_cli(&data, &["outline", "d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        concat!(
            "d (draft): course, 7 blocks, 0 orphans, 0 broken\n",
            "course/R \"C\"  [course/R.xml]\n",
            "└── chapter/ch \"Ch\"\n",
            "    └── sequential/s1 \"S1\"\n",
            "        ├── vertical/dv \"Draft Unit\"  [draft]\n",
            "        │   └── html/h \"Draft H\"  [draft]\n",
            "        └── vertical/v \"V\"\n",
            "            └── html/h \"Published H\"\n",
        ),
        "the draft unit at index 0 of its parent, with the drafts/ copy of its html; \
         the ._ file is skipped"
    );
    let json = cli_json(&data, &["outline", "d"]);
    let s1 = &json["roots"][0]["children"][0]["children"][0];
    assert_eq!(s1["children"][0]["path"], "drafts/vertical/dv.xml");
    assert_eq!(s1["children"][0]["draft"], true);
    assert_eq!(s1["children"][0]["children"][0]["draft"], true);
    assert_eq!(s1["children"][1]["draft"], false, "the published unit");
}
