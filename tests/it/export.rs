//! Export: a collection state back out as its OLX tree, byte for byte, as a
//! directory or a reproducible archive.

use crate::common::*;

#[test]
fn the_sample_course_round_trips_through_a_directory_and_a_reproducible_archive() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let course = sample_course();
    let imported = cli_json(
        &data,
        &[
            "import",
            course.to_str().unwrap(),
            "-c",
            "sample",
            "--publish",
        ],
    );
    assert_eq!(imported["collection"], "sample");

    // A directory: the same paths and bytes as the tree imported.
    let out = dir.path().join("exported");
    let report = cli_json(&data, &["export", "sample", out.to_str().unwrap()]);
    assert_eq!(
        report["files"].as_u64().unwrap() as usize,
        tree_files(&course).len()
    );
    assert_eq!(tree_files(&out), tree_files(&course));

    // An archive: one top-level `course/` folder, the same tree inside, and the
    // same bytes every time.
    let a = dir.path().join("a.tar.gz");
    let b = dir.path().join("b.tar.gz");
    cli_json(&data, &["export", "sample", a.to_str().unwrap()]);
    cli_json(&data, &["export", "sample", b.to_str().unwrap()]);
    let a_bytes = std::fs::read(&a).unwrap();
    assert_eq!(
        a_bytes,
        std::fs::read(&b).unwrap(),
        "archives are reproducible"
    );
    assert_eq!(&a_bytes[..2], &[0x1f, 0x8b], "gzip");
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&a)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar runs");
    assert!(tar.success());
    assert_eq!(tree_files(&unpacked.join("course")), tree_files(&course));

    // A published version, after the draft moved on.
    run_cli_stdin(
        &data,
        &["write", "sample:html/html_welcome.html"],
        Some(b"<p>changed</p>"),
    );
    let v1 = dir.path().join("v1");
    cli_json(
        &data,
        &["export", "sample", v1.to_str().unwrap(), "--at", "1"],
    );
    assert_eq!(tree_files(&v1), tree_files(&course));
    let at_slug = dir.path().join("v1-at-slug");
    cli_json(&data, &["export", "sample@1", at_slug.to_str().unwrap()]);
    assert_eq!(
        tree_files(&at_slug),
        tree_files(&course),
        "SLUG@N is --at N"
    );
    let draft = dir.path().join("draft");
    cli_json(&data, &["export", "sample", draft.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(draft.join("html/html_welcome.html")).unwrap(),
        b"<p>changed</p>"
    );
}

#[test]
fn export_never_overwrites_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_json(
        &data,
        &["import", sample_course().to_str().unwrap(), "-c", "sample"],
    );
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), b"mine").unwrap();
    let refused = run_cli(&data, &["export", "sample", taken.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("already exists"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(taken.join("keep.txt")).unwrap(), b"mine");
    let unknown = run_cli(
        &data,
        &["export", "nope", dir.path().join("x").to_str().unwrap()],
    );
    assert_eq!(unknown.status.code(), Some(3));
    let missing_version = run_cli(
        &data,
        &[
            "export",
            "sample",
            dir.path().join("y").to_str().unwrap(),
            // The older spelling still works (hidden alias of --at).
            "--version",
            "9",
        ],
    );
    assert_eq!(missing_version.status.code(), Some(3));
    // Nothing half-written is left behind by the failures.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["data", "taken"]);
}

#[test]
#[ignore = "needs ../shared fixtures"]
fn the_demo_course_and_library_export_byte_for_byte() {
    let (course, library) = (demo_course(), demo_library());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (root, slug) in [(&course, "demo"), (&library, "lib")] {
        cli_json(&data, &["import", root.to_str().unwrap(), "-c", slug]);
        let out = dir.path().join(format!("{slug}-out"));
        cli_json(&data, &["export", slug, out.to_str().unwrap()]);
        assert_eq!(tree_files(&out), tree_files(root), "{slug} round-trips");
    }
}
