//! Learning Core backups in, with zips these tests write as `lp_dump` does
//! (`entities/…/component_versions/vN/`, TOML per entity, folder names
//! `slugify`d and hashed on clashes): the tree each state becomes, and
//! hostile or broken backups refused with nothing changed.

use crate::common::*;
use blockstore::olx::{import_path, ArchiveLimits, ImportOptions};
use blockstore::store::{At, NoProgress};
use std::io::Write;

/// A zip of (name, bytes); a name ending in `/` is a folder entry.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in entries {
            if let Some(folder) = name.strip_suffix('/') {
                zip.add_directory(folder, options).unwrap();
            } else {
                zip.start_file(*name, options).unwrap();
                zip.write_all(bytes).unwrap();
            }
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// A zip with two entries named `a.txt` (the writer refuses to make one:
/// the second's name is patched in place).
fn duplicate_names() -> Vec<u8> {
    let zip = zip_of(&[
        ("package.toml", PACKAGE.as_bytes()),
        ("a.txt", b"1"),
        ("q.txt", b"2"),
    ]);
    let mut out = Vec::with_capacity(zip.len());
    let mut i = 0;
    while i < zip.len() {
        if zip[i..].starts_with(b"q.txt") {
            out.extend_from_slice(b"a.txt");
            i += 5;
        } else {
            out.push(zip[i]);
            i += 1;
        }
    }
    out
}

const PACKAGE: &str = r#"[meta]
format_version = 1
created_at = 2026-12-03T23:23:29.751757Z

[learning_package]
title = "Test Library"
key = "lib:TestOrg:test-lib"
description = "A library from Learning Core"
created = 2025-01-02T03:04:05Z
updated = 2025-01-02T03:04:05Z
"#;

fn component(
    key: &str,
    draft: Option<i64>,
    published: Option<i64>,
    titles: &[(i64, &str)],
) -> String {
    let mut t = format!(
        "[entity]\ncan_stand_alone = true\nkey = \"{key}\"\ncreated = 2025-01-02T03:05:05Z\n\n"
    );
    if let Some(d) = draft {
        t += &format!("[entity.draft]\nversion_num = {d}\n\n");
    }
    t += "[entity.published]\n";
    if let Some(p) = published {
        t += &format!("version_num = {p}\n");
    }
    t += "\n# ### Versions\n";
    for (n, title) in titles {
        t += &format!("\n[[version]]\ntitle = \"{title}\"\nversion_num = {n}\n");
    }
    t
}

/// A backup with what `lp_dump` writes for the awkward cases.
fn sample() -> Vec<u8> {
    let problem = component(
        "xblock.v1:problem:intro",
        Some(2),
        Some(1),
        &[(2, "Intro v2"), (1, "Intro")],
    );
    let odd = component(
        "xblock.v1:problem:My Problem.v2",
        Some(1),
        Some(1),
        &[(1, "Odd key")],
    );
    let html_shared = component(
        "xblock.v1:html:shared",
        Some(1),
        Some(1),
        &[(1, "Shared html")],
    );
    let problem_shared = component(
        "xblock.v1:problem:shared",
        Some(1),
        Some(1),
        &[(1, "Shared problem")],
    );
    let gone = component(
        "xblock.v1:html:gone",
        None,
        Some(1),
        &[(1, "Deleted in the draft")],
    );
    let blank = component("xblock.v1:html:blank", Some(1), Some(1), &[(1, "Blank")]);
    let unit = "[entity]\ncan_stand_alone = true\nkey = \"unit-1\"\ncreated = 2025-01-02T03:05:05Z\n\n[entity.draft]\nversion_num = 1\n\n[entity.published]\nversion_num = 1\n\n[entity.container.unit]\n\n[[version]]\ntitle = \"Unit & <one>\"\nversion_num = 1\n\n[version.container]\nchildren = [\"xblock.v1:problem:intro\", \"xblock.v1:problem:My Problem.v2\", \"xblock.v1:html:elsewhere\"]\n".to_string();
    let collection = "[collection]\ntitle = \"Mine\"\nkey = \"mine\"\ndescription = \"\"\ncreated = 2025-01-02T03:05:05Z\nentities = [\"xblock.v1:problem:intro\", \"unit-1\"]\n";
    zip_of(&[
        ("package.toml", PACKAGE.as_bytes()),
        ("entities/", b""),
        ("entities/unit-1.toml", unit.as_bytes()),
        ("entities/xblock.v1/problem/intro.toml", problem.as_bytes()),
        (
            "entities/xblock.v1/problem/intro/component_versions/v1/block.xml",
            b"<problem>one</problem>",
        ),
        (
            "entities/xblock.v1/problem/intro/component_versions/v1/static/a.png",
            b"\x89PNG one",
        ),
        (
            "entities/xblock.v1/problem/intro/component_versions/v1/static/empty.txt",
            b"",
        ),
        (
            "entities/xblock.v1/problem/intro/component_versions/v2/block.xml",
            b"<problem>two</problem>",
        ),
        (
            "entities/xblock.v1/problem/intro/component_versions/v2/static/empty.txt",
            b"",
        ),
        // slugify("My Problem.v2") is the folder; the key is in the TOML.
        (
            "entities/xblock.v1/problem/my-problemv2.toml",
            odd.as_bytes(),
        ),
        (
            "entities/xblock.v1/problem/my-problemv2/component_versions/v1/block.xml",
            b"<problem>odd</problem>",
        ),
        (
            "entities/xblock.v1/html/shared.toml",
            html_shared.as_bytes(),
        ),
        (
            "entities/xblock.v1/html/shared/component_versions/v1/block.xml",
            b"<html>shared</html>",
        ),
        // The second "shared" got a hashed folder.
        (
            "entities/xblock.v1/problem/shared_ba2abe.toml",
            problem_shared.as_bytes(),
        ),
        (
            "entities/xblock.v1/problem/shared_ba2abe/component_versions/v1/block.xml",
            b"<problem>shared</problem>",
        ),
        ("entities/xblock.v1/html/gone.toml", gone.as_bytes()),
        (
            "entities/xblock.v1/html/gone/component_versions/v1/block.xml",
            b"<html>gone</html>",
        ),
        // lp_dump writes no empty text file: an empty block.xml leaves an
        // empty version folder.
        ("entities/xblock.v1/html/blank.toml", blank.as_bytes()),
        ("entities/xblock.v1/html/blank/component_versions/v1/", b""),
        ("collections/mine.toml", collection.as_bytes()),
    ])
}

fn import(t: &TestStore, zip: &[u8]) -> blockstore::store::Result<blockstore::olx::ImportReport> {
    let path = t.dir.path().join("backup.zip");
    std::fs::write(&path, zip).unwrap();
    import_path(
        t,
        &path,
        &ImportOptions::default(),
        ArchiveLimits::default(),
        &NoProgress,
    )
}

fn read(t: &TestStore, at: At, path: &str) -> Option<Vec<u8>> {
    t.read("TestOrg.test-lib", path, at).ok().map(|(_, b)| b)
}

#[test]
fn a_backup_becomes_a_published_version_and_its_draft_differences() {
    let t = TestStore::new();
    let report = import(&t, &sample()).unwrap();
    assert_eq!(report.collection, "TestOrg.test-lib");
    let c = t.collection("TestOrg.test-lib").unwrap();
    assert_eq!(c.title, "Test Library");
    assert_eq!(c.description, "A library from Learning Core");
    let v1 = At::Version(1);
    // Components by their own keys, byte for byte, empty files included.
    assert_eq!(
        read(&t, v1, "problem/intro/definition.xml").unwrap(),
        b"<problem>one</problem>"
    );
    assert_eq!(
        read(&t, v1, "problem/intro/static/a.png").unwrap(),
        b"\x89PNG one"
    );
    assert_eq!(read(&t, v1, "problem/intro/static/empty.txt").unwrap(), b"");
    assert_eq!(
        read(&t, v1, "problem/My Problem.v2/definition.xml").unwrap(),
        b"<problem>odd</problem>"
    );
    assert_eq!(
        read(&t, v1, "html/shared/definition.xml").unwrap(),
        b"<html>shared</html>"
    );
    assert_eq!(
        read(&t, v1, "problem/shared/definition.xml").unwrap(),
        b"<problem>shared</problem>"
    );
    assert_eq!(
        read(&t, v1, "html/gone/definition.xml").unwrap(),
        b"<html>gone</html>"
    );
    // The unit names its children in order, an unknown one kept visibly.
    let unit = String::from_utf8(read(&t, v1, "vertical/unit-1/definition.xml").unwrap()).unwrap();
    assert_eq!(
        unit,
        "<vertical display_name=\"Unit &amp; &lt;one&gt;\">\n  <xblock-include definition=\"problem/intro\"/>\n  <xblock-include definition=\"problem/My Problem.v2\"/>\n  <!-- a child not in the backup: xblock.v1:html:elsewhere -->\n</vertical>\n"
    );
    // What OLX cannot say, and Learning Core's collections, verbatim.
    assert_eq!(
        read(&t, v1, "learning_core/package.toml").unwrap(),
        PACKAGE.as_bytes()
    );
    assert!(read(&t, v1, "learning_core/collections/mine.toml").is_some());
    let entities: toml::Table =
        String::from_utf8(read(&t, v1, "learning_core/entities.toml").unwrap())
            .unwrap()
            .parse()
            .unwrap();
    let listed = entities["entity"].as_array().unwrap();
    assert_eq!(listed.len(), 7, "the blank component too");
    let intro = listed
        .iter()
        .find(|e| e["key"].as_str() == Some("xblock.v1:problem:intro"))
        .unwrap();
    assert_eq!(
        (intro["title"].as_str(), intro["version_num"].as_integer()),
        (Some("Intro"), Some(1))
    );
    assert_eq!(intro["folder"].as_str(), Some("problem/intro"));

    // The draft: the later version, a deletion, the draft's titles.
    let status: Vec<(char, String)> = t
        .status("TestOrg.test-lib")
        .unwrap()
        .into_iter()
        .map(|c| (c.status.letter(), c.path))
        .collect();
    assert_eq!(
        status,
        [
            ('D', "html/gone/definition.xml".to_string()),
            ('M', "learning_core/entities.toml".into()),
            ('M', "problem/intro/definition.xml".into()),
            ('D', "problem/intro/static/a.png".into()),
        ]
    );
    let draft_entities =
        String::from_utf8(read(&t, At::Draft, "learning_core/entities.toml").unwrap()).unwrap();
    assert!(
        draft_entities.contains("Intro v2") && !draft_entities.contains("Deleted in the draft")
    );
    // The outline reads it as a bundle.
    let outline = blockstore::olx::outline(&t, "TestOrg.test-lib", At::Version(1)).unwrap();
    assert_eq!(outline.kind, blockstore::olx::OutlineKind::Bundle);
    // Importing it again changes nothing.
    let again = import(&t, &sample()).unwrap();
    assert_eq!(again.changes.changed(), 0);
    assert_eq!(t.versions("TestOrg.test-lib").unwrap().len(), 1);
}

#[test]
fn hostile_and_broken_backups_are_refused_naming_the_entry_and_change_nothing() {
    let t = TestStore::new();
    import(&t, &sample()).unwrap();
    let before = observable(&t.data_dir());
    let unit_without_files = component(
        "xblock.v1:html:nofiles",
        Some(1),
        Some(1),
        &[(1, "No files")],
    );
    let missing_version = component("xblock.v1:html:v9", Some(9), Some(9), &[(1, "One")]);
    let stray_member =
        "[collection]\ntitle = \"x\"\nkey = \"x\"\nentities = [\"xblock.v1:html:nobody\"]\n";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            zip_of(&[("package.toml", PACKAGE.as_bytes()), ("../evil.txt", b"x")]),
            "../evil.txt",
        ),
        (
            zip_of(&[("package.toml", PACKAGE.as_bytes()), ("/abs.txt", b"x")]),
            "/abs.txt",
        ),
        (duplicate_names(), "appears twice"),
        (
            zip_of(&[("entities/x.toml", b"[entity]\nkey='x'")]),
            "no package.toml",
        ),
        (
            zip_of(&[("package.toml", b"not [toml")]),
            "package.toml is not valid TOML",
        ),
        (
            zip_of(&[("package.toml", b"[learning_package]\nkey = 'lib:a:b'\n")]),
            "format_version",
        ),
        (
            zip_of(&[
                ("package.toml", PACKAGE.as_bytes()),
                (
                    "entities/xblock.v1/html/nofiles.toml",
                    unit_without_files.as_bytes(),
                ),
            ]),
            "component_versions/v1/ folder",
        ),
        (
            zip_of(&[
                ("package.toml", PACKAGE.as_bytes()),
                (
                    "entities/xblock.v1/html/v9.toml",
                    missing_version.as_bytes(),
                ),
            ]),
            "version_num = 9",
        ),
        (
            zip_of(&[
                ("package.toml", PACKAGE.as_bytes()),
                ("collections/x.toml", stray_member.as_bytes()),
            ]),
            "xblock.v1:html:nobody",
        ),
        (
            b"PK\x03\x04 this is not a zip at all".to_vec(),
            "not a readable zip",
        ),
    ];
    for (zip, expected) in cases {
        let err = import(&t, &zip).expect_err(expected).to_string();
        assert!(err.contains(expected), "{expected:?} in: {err}");
        assert!(err.contains("backup.zip"), "names the file: {err}");
    }
    // A bomb: stopped at the limit.
    let big = vec![0u8; 2 * 1024 * 1024];
    let bomb = zip_of(&[("package.toml", PACKAGE.as_bytes()), ("big.bin", &big)]);
    let path = t.dir.path().join("bomb.zip");
    std::fs::write(&path, bomb).unwrap();
    let limits = ArchiveLimits {
        max_bytes: 1024 * 1024,
        ..ArchiveLimits::default()
    };
    let err = import_path(&t, &path, &ImportOptions::default(), limits, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert_eq!(
        observable(&t.data_dir()),
        before,
        "no refused backup changed anything"
    );
}

#[test]
fn a_real_lp_dump_imports_with_every_file_lp_load_would_lose() {
    // tests/learning_core/sample.zip: written by openedx-core 0.36's lp_dump
    // (tests/learning_core/make_samples.py; its FORMAT.md describes it).
    let t = TestStore::new();
    let zip = std::fs::read(repo().join("tests/learning_core/sample.zip")).unwrap();
    let report = import(&t, &zip).unwrap();
    let slug = report.collection.clone();
    assert_eq!(slug, "SampleOrg.sample-lib");
    let at = |at: At, path: &str| t.read(&slug, path, at).ok().map(|(_, b)| b);
    let v1 = At::Version(1);
    // A key slugify changes, and the second of two types sharing a key (a
    // hashed folder in the zip): lp_load restores them with no files.
    assert!(at(v1, "problem/My Problem.v2/definition.xml").is_some());
    assert!(at(v1, "problem/My Problem.v2/static/figure.png").is_some());
    assert!(at(v1, "problem/shared/definition.xml").is_some());
    assert!(at(v1, "html/shared/definition.xml").is_some());
    assert_eq!(at(v1, "html/intro-html/static/empty.bin").unwrap(), b"");
    // A component deleted in the draft, one only in the draft.
    assert!(at(v1, "html/to-delete/definition.xml").is_some());
    assert!(at(At::Draft, "html/to-delete/definition.xml").is_none());
    assert!(at(v1, "video/Draft Only/definition.xml").is_none());
    assert!(at(At::Draft, "video/Draft Only/definition.xml").is_some());
    // The section → subsection → units tree reads as an outline.
    let outline = blockstore::olx::outline(&t, &slug, v1).unwrap();
    assert_eq!(
        outline.roots[0].display_name.as_deref(),
        Some("Section One")
    );
    assert_eq!(outline.roots[0].children[0].children.len(), 2, "two units");
    assert_eq!(outline.broken.len(), 0);
}

/// Every file of a state, path → content hash.
fn state(t: &TestStore, slug: &str, at: At) -> Vec<(String, String)> {
    t.files(slug, at)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.hash))
        .collect()
}

#[test]
fn an_exported_backup_imports_back_to_the_same_collection() {
    for source in [
        sample(),
        std::fs::read(repo().join("tests/learning_core/sample.zip")).unwrap(),
    ] {
        let t = TestStore::new();
        let slug = import(&t, &source).unwrap().collection;
        let out = t.dir.path().join("out").join("backup.zip");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let report =
            blockstore::olx::learning_core::export_backup(&t, &slug, None, &out, &NoProgress)
                .unwrap();
        assert!(report.files > 0);
        let again = TestStore::new();
        std::fs::copy(&out, again.dir.path().join("backup.zip")).unwrap();
        let path = again.dir.path().join("backup.zip");
        again_import(&again, &path);
        for at in [At::Version(1), At::Draft] {
            assert_eq!(
                state(&again, &slug, at),
                state(&t, &slug, at),
                "{slug} {at}"
            );
        }
        // An existing path is never overwritten.
        let err = blockstore::olx::learning_core::export_backup(&t, &slug, None, &out, &NoProgress)
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}

/// The entries of a zip, name → bytes (folders left out).
fn unzip(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        if entry.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        out.insert(entry.name().unwrap().to_string(), bytes);
    }
    out
}

fn toml_of(bytes: &[u8]) -> toml::Table {
    std::str::from_utf8(bytes).unwrap().parse().unwrap()
}

/// A store holding the real `lp_dump` sample (`tests/learning_core/sample.zip`)
/// imported, and its collection's slug.
fn sample_store() -> (TestStore, String) {
    let t = TestStore::new();
    let zip = std::fs::read(repo().join("tests/learning_core/sample.zip")).unwrap();
    let slug = import(&t, &zip).unwrap().collection;
    (t, slug)
}

/// A store holding the OLX export at `path` as collection `slug`, published.
fn published(path: &std::path::Path, slug: &str) -> TestStore {
    let t = TestStore::new();
    let options = ImportOptions {
        collection: Some(slug.into()),
        publish: true,
        ..ImportOptions::default()
    };
    import_path(&t, path, &options, ArchiveLimits::default(), &NoProgress).unwrap();
    t
}

#[test]
fn an_olx_library_becomes_a_package_of_components_and_comes_back_as_written() {
    let t = published(&sample_library(), "questions");
    // A draft edit: the package's draft differs from its published state.
    let edited = b"<problem display_name=\"Edited\"><p>new</p></problem>\n";
    t.write(
        "questions",
        "problem/lib_prob_root_file.xml",
        edited,
        Default::default(),
    )
    .unwrap();
    let out = t.dir.path().join("questions.zip");
    let report =
        blockstore::olx::learning_core::export_backup(&t, "questions", None, &out, &NoProgress)
            .unwrap();
    assert_eq!(report.left_out, 0, "a library's every file is a block");
    let zip = unzip(&out);

    // The library is the package: its key and title from library.xml.
    let package = toml_of(&zip["package.toml"]);
    let lp = package["learning_package"].as_table().unwrap();
    assert_eq!(lp["key"].as_str(), Some("lib:BlockstoreX:OLXQuestions"));
    assert_eq!(lp["title"].as_str(), Some("OLX Practice Question Bank"));
    assert_eq!(package["meta"]["format_version"].as_integer(), Some(1));

    // Each block a component, its file byte for byte as block.xml.
    for name in ["lib_prob_body_file", "lib_prob_asset_name"] {
        let base = format!("entities/xblock.v1/problem/{name}");
        let entity = toml_of(&zip[&format!("{base}.toml")]);
        assert_eq!(
            entity["entity"]["key"].as_str(),
            Some(format!("xblock.v1:problem:{name}").as_str())
        );
        assert_eq!(
            entity["entity"]["published"]["version_num"].as_integer(),
            Some(1)
        );
        assert_eq!(
            entity["entity"]["draft"]["version_num"].as_integer(),
            Some(1)
        );
        let original = std::fs::read(sample_library().join(format!("problem/{name}.xml"))).unwrap();
        assert_eq!(
            zip[&format!("{base}/component_versions/v1/block.xml")],
            original
        );
    }
    // The edited one: published v1 as it was, the draft a v2 with the edit.
    let base = "entities/xblock.v1/problem/lib_prob_root_file";
    let entity = toml_of(&zip[&format!("{base}.toml")]);
    assert_eq!(
        entity["entity"]["published"]["version_num"].as_integer(),
        Some(1)
    );
    assert_eq!(
        entity["entity"]["draft"]["version_num"].as_integer(),
        Some(2)
    );
    let versions = entity["version"].as_array().unwrap();
    assert_eq!(versions[0]["title"].as_str(), Some("Edited"));
    assert_eq!(
        zip[&format!("{base}/component_versions/v2/block.xml")],
        edited
    );
    assert_eq!(
        zip[&format!("{base}/component_versions/v1/block.xml")],
        std::fs::read(sample_library().join("problem/lib_prob_root_file.xml")).unwrap()
    );

    // Imported back: the bundle layout, each block as written, in both states.
    let again = TestStore::new();
    let slug = import(&again, &std::fs::read(&out).unwrap())
        .unwrap()
        .collection;
    assert_eq!(slug, "BlockstoreX.OLXQuestions");
    let read = |at: At, path: &str| again.read(&slug, path, at).map(|(_, b)| b).ok();
    assert_eq!(
        read(At::Version(1), "problem/lib_prob_root_file/definition.xml").unwrap(),
        std::fs::read(sample_library().join("problem/lib_prob_root_file.xml")).unwrap()
    );
    assert_eq!(
        read(At::Draft, "problem/lib_prob_root_file/definition.xml").unwrap(),
        edited
    );
}

#[test]
fn an_olx_course_becomes_sections_subsections_units_and_components_with_their_assets() {
    let t = published(&sample_course(), "course");
    let out = t.dir.path().join("course.zip");
    let report =
        blockstore::olx::learning_core::export_backup(&t, "course", Some(1), &out, &NoProgress)
            .unwrap();
    // about/overview.html, course/2026.xml and the two policies have no
    // place in a package; every asset is linked from some block.
    assert_eq!(report.left_out, 4);
    let zip = unzip(&out);
    let package = toml_of(&zip["package.toml"]);
    assert_eq!(
        package["learning_package"]["key"].as_str(),
        Some("lib:BlockstoreX:OLX101")
    );
    // Its title is the course's display name, from its own file.
    assert_eq!(
        package["learning_package"]["title"].as_str(),
        Some("OLX in Practice")
    );

    // The tree: a unit lists its components in order, a subsection its
    // units, a section its subsections.
    let children = |key: &str| -> (String, Vec<String>) {
        let t = toml_of(&zip[&format!("entities/{key}.toml")]);
        let kind = t["entity"]["container"]
            .as_table()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        let list = t["version"][0]["container"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        (kind, list)
    };
    assert_eq!(
        children("vert_welcome"),
        (
            "unit".to_string(),
            vec![
                "xblock.v1:html:html_welcome".to_string(),
                "xblock.v1:video:video_olx_tour".to_string()
            ]
        )
    );
    let (kind, units) = children("seq_orientation");
    assert_eq!(kind, "subsection");
    assert!(units.contains(&"vert_welcome".to_string()), "{units:?}");
    let (kind, subsections) = children("ch_welcome");
    assert_eq!(kind, "section");
    assert!(subsections.contains(&"seq_orientation".to_string()));

    // An html block with a body file: the body inline, as Learning Core
    // keeps html; the image it shows beside it, byte for byte.
    let base = "entities/xblock.v1/html/html_welcome/component_versions/v1";
    let block = String::from_utf8(zip[&format!("{base}/block.xml")].clone()).unwrap();
    let body = std::fs::read_to_string(sample_course().join("html/html_welcome.html")).unwrap();
    assert!(
        block.starts_with("<html display_name=\"Welcome to OLX in Practice\"><![CDATA[")
            && block.contains(&body),
        "{block}"
    );
    assert_eq!(
        zip[&format!("{base}/static/blockstorex-logo.png")],
        std::fs::read(sample_course().join("static/blockstorex-logo.png")).unwrap()
    );
    // A problem keeps its file as written, with the asset it names.
    let base = "entities/xblock.v1/problem/prob_identify_folder/component_versions/v1";
    assert_eq!(
        zip[&format!("{base}/block.xml")],
        std::fs::read(sample_course().join("problem/prob_identify_folder.xml")).unwrap()
    );
    assert!(zip.contains_key(&format!("{base}/static/olx-tree.png")));
    // --at: one version, no drafts.
    assert!(!zip.keys().any(|k| k.contains("/v2/")));

    // An empty collection is an empty package, named after it.
    t.create_collection("plain", &Default::default()).unwrap();
    let empty = t.dir.path().join("plain.zip");
    blockstore::olx::learning_core::export_backup(&t, "plain", None, &empty, &NoProgress).unwrap();
    let zip = unzip(&empty);
    assert_eq!(zip.len(), 1);
    assert_eq!(
        toml_of(&zip["package.toml"])["learning_package"]["key"].as_str(),
        Some("lib:blockstore:plain")
    );
}

fn again_import(t: &TestStore, path: &std::path::Path) {
    import_path(
        t,
        path,
        &ImportOptions::default(),
        ArchiveLimits::default(),
        &NoProgress,
    )
    .unwrap();
}

#[test]
fn the_cli_imports_and_exports_backups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let zip = repo().join("tests/learning_core/sample.zip");
    let imported = cli_json(&data, &["import", zip.to_str().unwrap()]);
    assert_eq!(imported["collection"], "SampleOrg.sample-lib");
    let out = dir.path().join("again.backup");
    let exported = run_cli(
        &data,
        &[
            "export",
            "SampleOrg.sample-lib",
            out.to_str().unwrap(),
            "--format",
            "learning-core",
        ],
    );
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(std::fs::read(&out).unwrap().starts_with(b"PK\x03\x04"));
    // By its name, a .zip is a backup too; --at exports one version alone.
    let v1 = dir.path().join("v1.zip");
    let exported = run_cli(
        &data,
        &["export", "SampleOrg.sample-lib@1", v1.to_str().unwrap()],
    );
    assert!(exported.status.success(), "{}", stderr(&exported));
    // A backup with a bad entry: exit 2, the file and the entry named.
    let bad = dir.path().join("bad.zip");
    std::fs::write(
        &bad,
        zip_of(&[("package.toml", PACKAGE.as_bytes()), ("../x", b"x")]),
    )
    .unwrap();
    let refused = run_cli(&data, &["import", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("bad.zip") && stderr(&refused).contains("../x"));
}

#[test]
fn a_backup_posted_to_the_rest_import_is_imported() {
    let server = crate::server::Server::start(&[]);
    let zip = std::fs::read(repo().join("tests/learning_core/sample.zip")).unwrap();
    let report = server
        .request("POST", "/api/v1/collections/lib/import")
        .header("Content-Type", "application/zip")
        .body(&zip)
        .send()
        .expect(201);
    assert_eq!(report["collection"], "lib");
    let raw =
        server.get("/api/v1/collections/lib/raw/problem/My%20Problem.v2/definition.xml?version=1");
    assert_eq!(raw.status, 200, "{}", raw.text());
    // A broken one: 400, nothing imported.
    let bad = zip_of(&[("package.toml", PACKAGE.as_bytes()), ("../x", b"x")]);
    let refused = server
        .request("POST", "/api/v1/collections/other/import")
        .header("Content-Type", "application/zip")
        .body(&bad)
        .send();
    assert_eq!(refused.expect_error(400), "invalid");
    assert_eq!(server.get("/api/v1/collections/other").status, 404);
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(&format!(
                "blockstore-upload-{}-",
                server.child.as_ref().unwrap().id()
            ))
        })
        .collect();
    assert!(leftovers.is_empty(), "the spooled upload is removed");

    // Out again as a backup: the latest version and the draft, or one version.
    let exported = server.get("/api/v1/collections/lib/export?format=learning-core");
    assert_eq!(exported.status, 200, "{}", exported.text());
    assert_eq!(exported.header("content-type"), Some("application/zip"));
    assert!(exported
        .header("content-disposition")
        .is_some_and(|d| d.contains("lib-draft.zip")));
    let report = server
        .request("POST", "/api/v1/collections/again/import")
        .header("Content-Type", "application/zip")
        .body(&exported.body)
        .send()
        .expect(201);
    assert_eq!(report["collection"], "again");
    for version in ["1", "draft"] {
        let files = |c: &str| {
            let page = server
                .get(&format!(
                    "/api/v1/collections/{c}/files?version={version}&page_size=1000"
                ))
                .expect(200);
            assert!(page["count"].as_u64().unwrap() > 10);
            let mut listed: Vec<(String, String)> = page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["path"].to_string(), f["hash"].to_string()))
                .collect();
            listed.sort();
            listed
        };
        assert_eq!(files("again"), files("lib"), "@{version}");
    }
    let v1 = server.get("/api/v1/collections/lib/export?format=learning-core&version=1");
    assert_eq!(v1.status, 200);
    assert!(v1.body.starts_with(b"PK\x03\x04"));
    // An OLX library written through REST goes out as a package too.
    server
        .json(
            "POST",
            "/api/v1/collections",
            serde_json::json!({"slug": "olx"}),
        )
        .expect(201);
    server
        .put(
            "/api/v1/collections/olx/raw/library.xml",
            br#"<library org="O" library="L" display_name="D"><html url_name="h"/></library>"#,
        )
        .expect(201);
    server
        .put(
            "/api/v1/collections/olx/raw/html/h.xml",
            br#"<html display_name="H"><p>hi</p></html>"#,
        )
        .expect(201);
    let olx = server.get("/api/v1/collections/olx/export?format=learning-core");
    assert_eq!(olx.status, 200, "{}", olx.text());
    let path = std::env::temp_dir().join(format!("olx-{}.zip", std::process::id()));
    std::fs::write(&path, &olx.body).unwrap();
    let zip = unzip(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        zip["entities/xblock.v1/html/h/component_versions/v1/block.xml"],
        br#"<html display_name="H"><p>hi</p></html>"#
    );
    // Unknown collection or version, or a bad format: 4xx with JSON.
    assert_eq!(
        server
            .get("/api/v1/collections/nope/export?format=learning-core")
            .expect_error(404),
        "not_found"
    );
    assert_eq!(
        server
            .get("/api/v1/collections/lib/export?format=learning-core&version=9")
            .status,
        404
    );
    assert_eq!(
        server
            .get("/api/v1/collections/lib/export?format=zip")
            .expect_error(400),
        "invalid"
    );
}

#[test]
fn an_import_with_no_collection_is_named_as_the_cli_names_it() {
    let server = crate::server::Server::start(&[]);
    let import = |name: &str, content_type: &str, body: &[u8]| {
        server
            .request("POST", &format!("/api/v1/import?name={name}"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let zip = std::fs::read(repo().join("tests/learning_core/sample.zip")).unwrap();
    let report = import("sample.zip", "application/zip", &zip).expect(201);
    assert_eq!(report["collection"], "SampleOrg.sample-lib");
    // A course export: ORG.COURSE.RUN from its course.xml.
    let course = crate::archive::RawTar::new()
        .tree(&sample_course(), "course")
        .tar_gz();
    let report = import("whatever.tar.gz", "application/gzip", &course).expect(201);
    assert_eq!(report["collection"], "BlockstoreX.OLX101.2026");
    // Any other tree: its one top folder's name, else the archive's.
    let tree = crate::archive::RawTar::new()
        .file("notes/a.html", b"<p>a</p>")
        .tar_gz();
    let report = import("my-notes.tar.gz", "application/gzip", &tree).expect(201);
    assert_eq!(report["collection"], "notes");
    let tree = crate::archive::RawTar::new()
        .file("a.html", b"<p>a</p>")
        .file("b/c.html", b"<p>c</p>")
        .tar_gz();
    let report = import("my-notes.tar.gz", "application/gzip", &tree).expect(201);
    assert_eq!(report["collection"], "my-notes");
    // A refused archive names the file it was given.
    let refused = import("broken.zip", "application/zip", b"PK\x03\x04 not a zip");
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("broken.zip"), "{}", refused.text());
    assert_eq!(
        import("", "application/zip", &zip).expect_error(400),
        "invalid"
    );
    let unnamed = server
        .request("POST", "/api/v1/import")
        .header("Content-Type", "application/zip")
        .body(&zip)
        .send();
    assert_eq!(unnamed.expect_error(400), "invalid");
    assert_eq!(
        server.get("/api/v1/collections").expect(200)["count"],
        4,
        "the refusals imported nothing"
    );
}

#[test]
fn a_components_static_links_reach_its_own_files_and_nothing_is_orphaned() {
    use blockstore::store::links::Resolution;
    use blockstore::store::Direction;
    let (t, slug) = sample_store();
    // `/static/photo.png` in a component's block.xml is its own file, as
    // Learning Core's runtime serves it (not the collection's static/).
    let out = t
        .links(
            &slug,
            "html/intro-html/definition.xml",
            At::Draft,
            Direction::Out,
        )
        .unwrap();
    let photo = out
        .iter()
        .find(|l| l.written.contains("photo.png"))
        .expect("the img link");
    assert_eq!(
        photo.resolution,
        Resolution::Resolved {
            path: "html/intro-html/static/photo.png".into()
        }
    );
    let incoming = t
        .links(
            &slug,
            "html/intro-html/static/photo.png",
            At::Draft,
            Direction::In,
        )
        .unwrap();
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    assert_eq!(incoming[0].source_path, "html/intro-html/definition.xml");
    // Every file is a component's, a container's or the package's record.
    for at in [At::Version(1), At::Draft] {
        let report = t.link_report(&slug, at).unwrap();
        assert_eq!(report.broken_loaded, 0, "{at}: {:?}", report.broken);
        assert!(report.orphans.is_empty(), "{at}: {:?}", report.orphans);
    }
    // A file beside no block is still an orphan.
    t.write(&slug, "stray/loose.png", b"x", Default::default())
        .unwrap();
    let report = t.link_report(&slug, At::Draft).unwrap();
    assert_eq!(report.orphans, vec!["stray/loose.png".to_string()]);
}

#[test]
fn an_export_over_a_damaged_blob_fails_naming_the_file_and_leaves_no_zip() {
    let (t, slug) = sample_store();
    let (entry, _) = t
        .read(
            &slug,
            "problem/intro-problem/static/diagram.png",
            At::Version(1),
        )
        .unwrap();
    tamper_blob(&t.data_dir(), &entry.hash, b"short");
    let out = t.dir.path().join("out.zip");
    let err = blockstore::olx::learning_core::export_backup(&t, &slug, None, &out, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("diagram.png") && err.contains("fsck"), "{err}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(left.is_empty(), "no partial file is left: {left:?}");
}

#[test]
fn a_block_added_after_the_import_travels_as_a_new_entity() {
    let (t, slug) = sample_store();
    let write = |path: &str, bytes: &[u8]| {
        t.write(&slug, path, bytes, Default::default()).unwrap();
    };
    let block = br#"<problem display_name="Added here"><p>new</p></problem>"#;
    write("problem/added one/definition.xml", block);
    write("problem/added one/static/a.png", b"png");
    let (_, unit) = t
        .read(&slug, "vertical/unit-1/definition.xml", At::Draft)
        .unwrap();
    let unit = String::from_utf8(unit).unwrap().replace(
        "</vertical>",
        "  <xblock-include definition=\"problem/added one\"/>\n</vertical>",
    );
    write("vertical/unit-1/definition.xml", unit.as_bytes());
    let out = t.dir.path().join("out.zip");
    blockstore::olx::learning_core::export_backup(&t, &slug, None, &out, &NoProgress).unwrap();
    let zip = unzip(&out);
    let base = "entities/xblock.v1/problem/added one";
    let entity = toml_of(&zip[&format!("{base}.toml")]);
    assert_eq!(
        entity["entity"]["key"].as_str(),
        Some("xblock.v1:problem:added one")
    );
    assert_eq!(
        entity["entity"]["draft"]["version_num"].as_integer(),
        Some(1)
    );
    assert!(entity["entity"]["published"].get("version_num").is_none());
    assert_eq!(entity["version"][0]["title"].as_str(), Some("Added here"));
    assert_eq!(
        zip[&format!("{base}/component_versions/v1/block.xml")],
        block
    );
    assert_eq!(
        zip[&format!("{base}/component_versions/v1/static/a.png")],
        b"png"
    );
    // The unit's draft names it, after its own children.
    let unit = toml_of(&zip["entities/unit-1.toml"]);
    let children: Vec<&str> = unit["version"][0]["container"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(children.last(), Some(&"xblock.v1:problem:added one"));
    assert_eq!(unit["entity"]["draft"]["version_num"].as_integer(), Some(3));
}

/// A collection of the files given, in its draft.
fn tree_store(files: &[(&str, &[u8])]) -> TestStore {
    let t = TestStore::new();
    t.create_collection("c", &Default::default()).unwrap();
    for (path, bytes) in files {
        t.write("c", path, bytes, Default::default()).unwrap();
    }
    t
}

fn export_zip(
    t: &TestStore,
) -> (
    blockstore::olx::ExportReport,
    std::collections::BTreeMap<String, Vec<u8>>,
) {
    let out = t.dir.path().join("c.zip");
    let report =
        blockstore::olx::learning_core::export_backup(t, "c", None, &out, &NoProgress).unwrap();
    (report, unzip(&out))
}

#[test]
fn a_bundle_block_goes_out_with_its_own_files_once_and_the_collections_it_links() {
    let t = tree_store(&[
        (
            "problem/p/definition.xml",
            br#"<problem display_name="P"><img src="/static/fig.png"/><img src="/static/logo.png"/></problem>"#,
        ),
        ("problem/p/static/fig.png", b"own"),
        ("problem/p/static/data.toml", b"x = 1"),
        ("static/fig.png", b"the collection's"),
        ("static/logo.png", b"logo"),
    ]);
    let (report, zip) = export_zip(&t);
    let v1 = "entities/xblock.v1/problem/p/component_versions/v1";
    let media: Vec<&str> = zip
        .keys()
        .filter_map(|k| k.strip_prefix(&format!("{v1}/")))
        .collect();
    // Its own fig.png (not the collection's), the collection's logo, once
    // each; the .toml lp_load would take for an entity is left out.
    assert_eq!(media, ["block.xml", "static/fig.png", "static/logo.png"]);
    assert_eq!(zip[&format!("{v1}/static/fig.png")], b"own");
    assert_eq!(zip[&format!("{v1}/static/logo.png")], b"logo");
    // Left out: the collection's fig.png (no block uses it) and data.toml.
    assert_eq!(report.left_out, 2);
}

#[test]
fn inline_blocks_without_url_names_become_one_component_each() {
    let t = tree_store(&[(
        "vertical/v.xml",
        br#"<vertical display_name="V"><html display_name="A">a</html><html display_name="B">b</html></vertical>"#,
    )]);
    let (_, zip) = export_zip(&t);
    let unit = toml_of(&zip["entities/v.toml"]);
    let children: Vec<&str> = unit["version"][0]["container"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        children,
        ["xblock.v1:html:v-html-1", "xblock.v1:html:v-html-2"]
    );
    assert_eq!(
        zip["entities/xblock.v1/html/v-html-1/component_versions/v1/block.xml"],
        br#"<html display_name="A">a</html>"#
    );
    assert_eq!(
        zip["entities/xblock.v1/html/v-html-2/component_versions/v1/block.xml"],
        br#"<html display_name="B">b</html>"#
    );
}

#[test]
fn a_key_no_file_can_be_named_by_is_encoded_and_stays_inside_its_folder() {
    let (t, slug) = sample_store();
    // A folder added here whose key (decoded) would climb out of entities/.
    t.write(
        &slug,
        "problem/a%2F..%2F..%2Fx/definition.xml",
        b"<problem/>",
        Default::default(),
    )
    .unwrap();
    let out = t.dir.path().join("out.zip");
    blockstore::olx::learning_core::export_backup(&t, &slug, None, &out, &NoProgress).unwrap();
    let zip = unzip(&out);
    assert!(
        zip.keys()
            .all(|k| !k.split('/').any(|p| p == ".." || p == ".")),
        "{:?}",
        zip.keys().collect::<Vec<_>>()
    );
    let base = "entities/xblock.v1/problem/a%2F..%2F..%2Fx";
    assert_eq!(
        toml_of(&zip[&format!("{base}.toml")])["entity"]["key"].as_str(),
        Some("xblock.v1:problem:a/../../x")
    );
    assert_eq!(
        zip[&format!("{base}/component_versions/v1/block.xml")],
        b"<problem/>"
    );
    // Imported again, the key comes back, in the folder it had.
    let again = TestStore::new();
    let slug = import(&again, &std::fs::read(&out).unwrap())
        .unwrap()
        .collection;
    assert_eq!(
        again
            .read(&slug, "problem/a%2F..%2F..%2Fx/definition.xml", At::Draft)
            .unwrap()
            .1,
        b"<problem/>"
    );
}
