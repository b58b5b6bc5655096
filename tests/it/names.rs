//! Names every filesystem can hold: a path component over 255 bytes (what
//! ext4, XFS, btrfs and APFS hold in one name) is refused at every way in —
//! a REST PUT (400), the CLI's `write` and `rename` (exit 2), an archive
//! entry with a GNU long name or a PAX `path` record, over REST and from the
//! CLI (refused, store unchanged) — naming the name and the limit, so
//! `export` always gives the same tree back.

use crate::common::*;
use crate::server::{Server, API};
use serde_json::json;

/// A `.tar.gz` of the sample course under `course/`, then `last`'s entries.
fn archive(last: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in tree_files(&sample_course()) {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("course/{path}"), bytes.as_slice())
            .unwrap();
    }
    last(&mut tar);
    gz(&tar.into_inner().unwrap())
}

/// The course plus a file at `course/{extra}`, its name in a GNU long-name
/// entry (the tar crate writes one for a name over 100 bytes).
fn gnu_archive(extra: &str) -> Vec<u8> {
    archive(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("course/{extra}"), &b"png"[..])
            .unwrap();
    })
}

/// The same, the name in a PAX extended header's `path` record (as GNU tar
/// writes with `--format=posix`), over a short ustar name.
fn pax_archive(extra: &str) -> Vec<u8> {
    archive(|tar| {
        let full = format!("course/{extra}");
        tar.append_pax_extensions([("path", full.as_bytes())])
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_path("course/static/short.png").unwrap();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append(&header, &b"png"[..]).unwrap();
    })
}

fn gz(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// The name of 256 bytes every test uses, and one of exactly 255.
fn too_long() -> String {
    format!("{}.png", "n".repeat(252))
}

fn longest() -> String {
    format!("{}.png", "n".repeat(251))
}

#[track_caller]
fn names_the_name_and_the_limit(message: &str) {
    assert!(
        message.contains("is 256 bytes") && message.contains("at most 255 bytes"),
        "the message names the name's length and the limit: {message}"
    );
    assert!(
        message.contains("nnnnnnnnnn…nnnnnnnnn") || message.contains("nnnnnnnnnn…nnn.png"),
        "the name, shortened for display: {message}"
    );
    assert!(message.len() < 1000, "not the whole name: {message}");
}

#[test]
fn a_name_over_255_bytes_is_refused_over_rest_and_in_archives_and_the_store_is_unchanged() {
    assert_eq!(too_long().len(), 256);
    let server = Server::start(&[]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "t"}))
        .expect(201);
    let c = format!("{API}/collections/t");
    server
        .put(&format!("{c}/raw/course.xml"), b"<course/>")
        .expect(201);
    let before = observable(&server.data);

    // PUT: 400 with the JSON error, before a byte of the body is stored.
    for path in [
        format!("static/{}", too_long()),
        format!("{}/x.png", too_long()),
    ] {
        let put = server.put(&format!("{c}/raw/{path}"), &vec![7u8; 100_000]);
        assert_eq!(put.expect_error(400), "invalid");
        names_the_name_and_the_limit(put.json()["error"]["message"].as_str().unwrap());
    }
    assert_eq!(observable(&server.data), before, "no row, no blob");

    // An archive holding such an entry: refused whole, nothing left behind.
    for (kind, archive) in [
        ("gnu", gnu_archive(&format!("static/{}", too_long()))),
        ("pax", pax_archive(&format!("static/{}", too_long()))),
    ] {
        for target in ["t", "fresh"] {
            let refused = server
                .request("POST", &format!("{API}/collections/{target}/import"))
                .header("Content-Type", "application/gzip")
                .body(&archive)
                .send();
            assert_eq!(refused.expect_error(400), "invalid", "{kind} into {target}");
            names_the_name_and_the_limit(refused.json()["error"]["message"].as_str().unwrap());
        }
    }
    assert_eq!(
        observable(&server.data),
        before,
        "the store is byte for byte as it was"
    );

    // A name of exactly 255 bytes goes in every way, and export writes it back.
    let ok = format!("static/{}", longest());
    server.put(&format!("{c}/raw/{ok}"), b"png").expect(201);
    server
        .request("POST", &format!("{API}/collections/fresh/import"))
        .header("Content-Type", "application/gzip")
        .body(&pax_archive(&ok))
        .send()
        .expect(201);
    let out = tempfile::tempdir().unwrap();
    for slug in ["t", "fresh"] {
        let tree = out.path().join(slug);
        cli_json(&server.data, &["export", slug, tree.to_str().unwrap()]);
        assert_eq!(std::fs::read(tree.join(&ok)).unwrap(), b"png", "{slug}");
    }
}

#[test]
fn the_cli_refuses_a_name_over_255_bytes_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_json(&data, &["collections", "create", "t"]);
    let write = run_cli_stdin(&data, &["write", "t:course.xml"], Some(b"<course/>"));
    assert!(write.status.success(), "{}", stderr(&write));
    let before = observable(&data);
    let long = format!("t:static/{}", too_long());

    let write = run_cli_stdin(&data, &["write", &long], Some(b"png"));
    assert_eq!(write.status.code(), Some(2), "{}", stderr(&write));
    names_the_name_and_the_limit(&stderr(&write));

    let rename = run_cli(&data, &["rename", "t:course.xml", &long[2..]]);
    assert_eq!(rename.status.code(), Some(2), "{}", stderr(&rename));
    names_the_name_and_the_limit(&stderr(&rename));

    let archive = dir.path().join("course.tar.gz");
    std::fs::write(&archive, gnu_archive(&format!("static/{}", too_long()))).unwrap();
    let import = run_cli(&data, &["import", "-c", "t", archive.to_str().unwrap()]);
    assert_eq!(import.status.code(), Some(2), "{}", stderr(&import));
    names_the_name_and_the_limit(&stderr(&import));
    assert_eq!(observable(&data), before);

    // 255 bytes is fine.
    let ok = run_cli_stdin(
        &data,
        &["write", &format!("t:static/{}", longest())],
        Some(b"png"),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
}
