//! Archive import: Studio-style `.tar.gz`/`.tar` exports streamed into a
//! collection, round trips through export, and hostile archives refused with
//! the store left exactly as it was.

use crate::common::*;
use blockstore::olx::{import_archive, import_path, ArchiveFormat, ArchiveLimits, ImportOptions};
use blockstore::store::{At, ErrorKind, NoProgress};
use std::io::Write;
use std::path::Path;

/// Builds a tar stream entry by entry, writing each header as given, so
/// hostile names and entry types arrive exactly as an attacker would write
/// them (`tar::Builder`'s own path setters refuse `..` and absolute paths).
pub struct RawTar {
    builder: tar::Builder<Vec<u8>>,
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub fn entry(
        &mut self,
        name: &[u8],
        kind: tar::EntryType,
        data: &[u8],
        link: &[u8],
    ) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name);
            gnu.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name.as_bytes(), tar::EntryType::Regular, data, b"")
    }

    /// Every file of `root` under `top/` (no folder entries, like many tools).
    pub fn tree(&mut self, root: &Path, top: &str) -> &mut Self {
        for (path, bytes) in tree_files(root) {
            let name = if top.is_empty() {
                path
            } else {
                format!("{top}/{path}")
            };
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            // append_data writes a GNU long-name entry for names over 100 bytes.
            self.builder
                .append_data(&mut header, &name, bytes.as_slice())
                .unwrap();
        }
        self
    }

    pub fn tar(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }

    pub fn tar_gz(&mut self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

/// `value` without its uuid fields, which differ between two stores.
fn without_uuids(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !k.ends_with("uuid"))
                .map(|(k, v)| (k, without_uuids(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_uuids).collect()),
        other => other,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn options(slug: &str) -> ImportOptions {
    ImportOptions {
        collection: Some(slug.to_string()),
        ..ImportOptions::default()
    }
}

#[test]
fn a_studio_style_archive_imports_like_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let course = sample_course();
    let archive = dir.path().join("course.tar.gz");
    std::fs::write(&archive, RawTar::new().tree(&course, "course").tar_gz()).unwrap();

    let from_folder = TestStore::new();
    let folder = import_path(
        &from_folder,
        &course,
        &ImportOptions::default(),
        ArchiveLimits::default(),
        &NoProgress,
    )
    .unwrap();
    let from_archive = TestStore::new();
    let report = import_path(
        &from_archive,
        &archive,
        &ImportOptions::default(),
        ArchiveLimits::default(),
        &NoProgress,
    )
    .unwrap();
    // The slug comes from course.xml inside the archive's `course/` folder.
    assert_eq!(report.collection, "BlockstoreX.OLX101.2026");
    assert_eq!(report.collection, folder.collection);
    assert_eq!(
        (report.files, report.units, report.assets, report.bytes),
        (folder.files, folder.units, folder.assets, folder.bytes)
    );
    let title = |s: &TestStore| s.collection(&report.collection).unwrap().title;
    assert_eq!(title(&from_archive), "OLX in Practice");
    let tree = |s: &TestStore| {
        s.files(&report.collection, At::Draft)
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.hash, f.size, f.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(tree(&from_archive), tree(&from_folder));
    // Links were extracted with the stripped paths: the same report.
    // (uuids differ between two stores; everything else must not).
    let links = |s: &TestStore| {
        without_uuids(
            serde_json::to_value(s.link_report(&report.collection, At::Draft).unwrap()).unwrap(),
        )
    };
    assert_eq!(links(&from_archive), links(&from_folder));

    // Importing the same archive again changes nothing.
    let again = import_path(
        &from_archive,
        &archive,
        &ImportOptions::default(),
        ArchiveLimits::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(again.changes.changed(), 0);
    assert_eq!(again.new_blobs, 0);

    // Export and import again: the same tree, byte for byte.
    let out = dir.path().join("out");
    blockstore::olx::export(
        &from_archive,
        &report.collection,
        At::Draft,
        &out,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(tree_files(&out), tree_files(&course));
}

#[test]
fn long_names_arrive_whole_through_gnu_and_pax_headers() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let long = format!("static/{}/{}.png", "deep".repeat(30), "n".repeat(80));
    write_tree(&tree, &[("course.xml", b"<course/>"), (&long, b"png")]);
    let store = TestStore::new();
    // GNU long-name entries (the tar crate writes them past 100 bytes).
    let gnu = RawTar::new().tree(&tree, "course").tar_gz();
    import_archive(
        &store,
        &mut &gnu[..],
        ArchiveFormat::TarGz,
        "gnu.tar.gz",
        &options("gnu"),
        ArchiveLimits::default(),
        &NoProgress,
    )
    .unwrap();
    // PAX records, as GNU tar writes with --format=posix.
    let pax = dir.path().join("pax.tar");
    let status = std::process::Command::new("tar")
        .args(["--format=posix", "-cf"])
        .arg(&pax)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(status.success());
    import_path(
        &store,
        &pax,
        &options("pax"),
        ArchiveLimits::default(),
        &NoProgress,
    )
    .unwrap();
    for slug in ["gnu", "pax"] {
        let paths: Vec<String> = store
            .files(slug, At::Draft)
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(paths, ["course.xml".to_string(), long.clone()], "{slug}");
    }
}

#[test]
fn plain_tar_stdin_and_system_tar_archives_import_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let library = sample_library();

    // A plain .tar, made by the system's tar with `./` prefixes and folder entries.
    let plain = dir.path().join("lib.tar");
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&plain)
        .arg("-C")
        .arg(&library)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(status.success());
    let report = cli_json(&data, &["import", plain.to_str().unwrap(), "-c", "lib"]);
    assert_eq!(report["files"], 4);
    assert_eq!(report["created_collection"], true);

    // A .tgz through stdin, with --publish.
    let tgz = RawTar::new().tree(&library, "library").tar_gz();
    let out = run_cli_stdin(
        &data,
        &["--json", "import", "-", "--publish", "-m", "from stdin"],
        Some(&tgz),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["collection"], "BlockstoreX.OLXQuestions");
    assert_eq!(report["published"]["number"], 1);

    // An archive without a telling name is recognised by its first bytes.
    let unnamed = dir.path().join("download");
    std::fs::write(&unnamed, &tgz).unwrap();
    let report = cli_json(&data, &["import", unnamed.to_str().unwrap(), "-c", "lib3"]);
    assert_eq!(report["files"], 4);

    // Both collections hold the library, byte for byte.
    let store = open_existing(&data);
    let hashes = |slug: &str| {
        store
            .files(slug, At::Draft)
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.hash))
            .collect::<Vec<_>>()
    };
    assert_eq!(hashes("lib"), hashes("BlockstoreX.OLXQuestions"));
    assert_eq!(hashes("lib"), hashes("lib3"));
}

#[test]
#[ignore = "needs ../shared fixtures"]
fn the_demo_course_and_library_round_trip_through_archives() {
    let (course, library) = (demo_course(), demo_library());
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::new();
    for (root, top) in [(&course, "course"), (&library, "library")] {
        let archive = dir.path().join(format!("{top}.tar.gz"));
        std::fs::write(&archive, RawTar::new().tree(root, top).tar_gz()).unwrap();
        let report = import_path(
            &store,
            &archive,
            &options(top),
            ArchiveLimits::default(),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(report.files as usize, tree_files(root).len());
        let out = dir.path().join(format!("{top}-out"));
        blockstore::olx::export(&store, top, At::Draft, &out, &NoProgress).unwrap();
        assert_eq!(tree_files(&out), tree_files(root), "{top} round-trips");
        // And out again as an archive, twice: identical bytes.
        let a = dir.path().join(format!("{top}-a.tar.gz"));
        let b = dir.path().join(format!("{top}-b.tar.gz"));
        blockstore::olx::export(&store, top, At::Draft, &a, &NoProgress).unwrap();
        blockstore::olx::export(&store, top, At::Draft, &b, &NoProgress).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }
}

/// A store holding the sample course as `sample`, for refusals to leave alone.
fn populated() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_json(
        &data,
        &[
            "import",
            sample_course().to_str().unwrap(),
            "-c",
            "sample",
            "--publish",
        ],
    );
    (dir, data)
}

/// Imports `bytes` into `sample` and returns the refusal's message, after
/// checking that it is an invalid-input error and that nothing changed.
fn refused(data: &Path, bytes: &[u8], format: ArchiveFormat, limits: ArchiveLimits) -> String {
    let before = observable(data);
    let err = {
        let store = open_existing(data);
        import_archive(
            &store,
            &mut &bytes[..],
            format,
            "hostile.tar.gz",
            &options("sample"),
            limits,
            &NoProgress,
        )
        .expect_err("a hostile archive is refused")
    };
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert_eq!(
        observable(data),
        before,
        "a refused archive changes nothing"
    );
    let message = err.to_string();
    assert!(message.starts_with("hostile.tar.gz: "), "{message}");
    assert!(message.contains("nothing was imported"), "{message}");
    message
}

/// A good first entry whose bytes are new to the store, so a refusal must
/// also take back the blob it wrote.
const FRESH: &[u8] = b"<vertical display_name=\"written before the bad entry\"/>";

#[test]
fn hostile_archives_are_refused_and_change_nothing() {
    use tar::EntryType::*;
    let (_dir, data) = populated();
    let limits = ArchiveLimits::default();
    let gz = ArchiveFormat::TarGz;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("course/../../evil.xml", b"<x/>")
                .tar_gz(),
            "outside the archive's folder",
        ),
        (
            "absolute",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("/etc/cron.d/evil", b"* * * * * root true")
                .tar_gz(),
            "absolute path",
        ),
        (
            "symlink",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .entry(b"course/static/passwd", Symlink, b"", b"/etc/passwd")
                .tar_gz(),
            "symbolic link",
        ),
        (
            "hardlink",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .entry(b"course/static/shadow", Link, b"", b"../../etc/shadow")
                .tar_gz(),
            "hard link",
        ),
        (
            "device",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .entry(b"course/static/null", Char, b"", b"")
                .tar_gz(),
            "device",
        ),
        (
            "fifo",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .entry(b"course/static/pipe", Fifo, b"", b"")
                .tar_gz(),
            "device or pipe",
        ),
        (
            "duplicate",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("course/course.xml", b"<course/>")
                .file("./course/course.xml", b"<course url_name=\"x\"/>")
                .tar_gz(),
            "appears twice",
        ),
        (
            "non-utf8",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .entry(b"course/static/caf\xe9.png", Regular, b"png", b"")
                .tar_gz(),
            "not valid UTF-8",
        ),
        (
            "backslash",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("course\\..\\evil.xml", b"<x/>")
                .tar_gz(),
            "outside the archive's folder",
        ),
        (
            "no files",
            RawTar::new()
                .entry(b"course/", Directory, b"", b"")
                .tar_gz(),
            "holds no files",
        ),
        (
            "file and folder",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("course/static/a", b"a file")
                .file("course/static/a/b.png", b"and a folder")
                .tar_gz(),
            "both a file and a folder",
        ),
        (
            "trailing slash file",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("course/static/x/", b"a file named like a folder")
                .tar_gz(),
            "trailing",
        ),
        (
            "huge long name",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .entry(b"././@LongLink", GNULongName, &vec![b'a'; 1 << 20], b"")
                .file("course/x.xml", b"<x/>")
                .tar_gz(),
            "extended header",
        ),
        (
            "huge unit",
            RawTar::new()
                .file("course/vertical/fresh.xml", FRESH)
                .file("course/html/huge.html", &vec![b' '; 33 << 20])
                .tar_gz(),
            "units (.xml, .html, .json outside static/) over",
        ),
        (
            "not gzip",
            b"<html>this is a web page saved as course.tar.gz</html>".to_vec(),
            "not a gzip file",
        ),
    ];
    for (name, bytes, expected) in cases {
        let message = refused(&data, &bytes, gz, limits);
        assert!(message.contains(expected), "{name}: {message}");
    }

    // Truncated: a real archive cut short, in the middle and near the end.
    let whole = RawTar::new()
        .file("course/vertical/fresh.xml", FRESH)
        .tree(&sample_course(), "course")
        .tar_gz();
    for cut in [whole.len() / 2, whole.len() - 4] {
        let message = refused(&data, &whole[..cut], gz, limits);
        assert!(
            message.contains("truncated") || message.contains("corrupt"),
            "cut at {cut}: {message}"
        );
    }
    // A plain tar cut inside an entry's data.
    let plain = RawTar::new()
        .file("course/vertical/fresh.xml", FRESH)
        .file("course/static/big.bin", &[7u8; 5000])
        .tar();
    let message = refused(&data, &plain[..2000], ArchiveFormat::Tar, limits);
    assert!(message.contains("truncated"), "{message}");
    // A plain tar cut exactly after an entry: no end-of-archive block.
    let message = refused(&data, &plain[..1024], ArchiveFormat::Tar, limits);
    assert!(message.contains("no end-of-archive block"), "{message}");
    // Garbage as a plain tar.
    let message = refused(&data, &[b'x'; 4096], ArchiveFormat::Tar, limits);
    assert!(message.contains("corrupt"), "{message}");
}

#[test]
fn a_gzip_bomb_stops_at_the_configured_limit() {
    let (_dir, data) = populated();
    let limits = ArchiveLimits {
        max_bytes: 8 * 1024 * 1024,
        ..ArchiveLimits::default()
    };
    // 64 MiB of zeros in one entry: the header announces it, refused before
    // any of it is read.
    let one = RawTar::new()
        .file("course/vertical/fresh.xml", FRESH)
        .file("course/static/zeros.bin", &vec![0u8; 64 * 1024 * 1024])
        .tar_gz();
    assert!(
        one.len() < 200 * 1024,
        "a tiny archive: {} bytes",
        one.len()
    );
    let message = refused(&data, &one, ArchiveFormat::TarGz, limits);
    assert!(message.contains("expands past the limit"), "{message}");
    // Many 1 MiB entries, each small enough: the running total stops it.
    let mut many = RawTar::new();
    many.file("course/vertical/fresh.xml", FRESH);
    for i in 0..12 {
        many.file(&format!("course/static/z{i}.bin"), &vec![0u8; 1024 * 1024]);
    }
    let message = refused(&data, &many.tar_gz(), ArchiveFormat::TarGz, limits);
    assert!(message.contains("expands past the limit"), "{message}");
    assert!(message.contains("--max-bytes"), "{message}");
}

#[test]
fn a_hundred_thousand_empty_entries_are_refused() {
    let (_dir, data) = populated();
    let mut tar = RawTar::new();
    tar.file("course/vertical/fresh.xml", FRESH);
    for i in 0..100_000 {
        tar.file(&format!("course/e/{i:06}"), b"");
    }
    let bytes = tar.tar_gz();
    let message = refused(
        &data,
        &bytes,
        ArchiveFormat::TarGz,
        ArchiveLimits::default(),
    );
    assert!(message.contains("more than 50000 entries"), "{message}");
    assert!(message.contains("--max-entries"), "{message}");
}

#[test]
fn the_cli_names_the_archive_and_exits_2_on_a_hostile_one() {
    let (dir, data) = populated();
    let before = observable(&data);
    let archive = dir.path().join("evil.tar.gz");
    std::fs::write(
        &archive,
        RawTar::new()
            .file("course/vertical/fresh.xml", FRESH)
            .file("course/../evil.xml", b"<x/>")
            .tar_gz(),
    )
    .unwrap();
    let out = run_cli(
        &data,
        &["import", archive.to_str().unwrap(), "-c", "sample"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("evil.tar.gz"), "{message}");
    assert!(message.contains("\"course/../evil.xml\""), "{message}");
    // A file that is no archive at all.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just notes").unwrap();
    let out = run_cli(&data, &["import", text.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "is neither a folder, a .tar.gz/.tgz/.tar archive nor a Learning Core backup"
        ),
        "{}",
        stderr(&out)
    );
    // --max-bytes is honoured from the command line.
    let big = dir.path().join("big.tar");
    std::fs::write(
        &big,
        RawTar::new().file("course/a.bin", &[1u8; 10_000]).tar(),
    )
    .unwrap();
    let out = run_cli(
        &data,
        &["import", big.to_str().unwrap(), "--max-bytes", "4096"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expands past the limit of 4096 bytes"));
    assert_eq!(observable(&data), before);
}

/// Bytes allocated on disk under `dir` (every file's blocks).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Samples [`disk_usage`] of `dir` every 2 ms on a thread until dropped or
/// [`PeakUsage::stop`]ped: how far above its starting size the directory grew.
pub struct PeakUsage {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
    start: u64,
}

impl PeakUsage {
    pub fn watch(dir: &Path) -> PeakUsage {
        let start = disk_usage(dir);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (dir, flag) = (dir.to_path_buf(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(disk_usage(&dir));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak.max(disk_usage(&dir))
        });
        PeakUsage {
            stop,
            thread: Some(thread),
            start,
        }
    }

    /// The most the directory grew by while watched.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = self.thread.take().unwrap().join().unwrap();
        peak.saturating_sub(self.start)
    }
}

impl Drop for PeakUsage {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A `.tar.gz` bomb made cheaply: `course/vertical/fresh.xml` (new to the
/// store, so a refusal must take its blob back), then `files` entries of
/// `each` bytes of zeros. Each entry's data is one gzip member of 1 MiB of
/// zeros (about 1 KiB) repeated: concatenated members are one gzip stream, as
/// `gzip -d` and the importer read them.
pub fn gzip_bomb(files: usize, each: u64) -> Vec<u8> {
    const CHUNK: u64 = 1024 * 1024;
    assert_eq!(each % CHUNK, 0, "whole chunks, so no tar padding is needed");
    let zeros = gzip(&vec![0u8; CHUNK as usize]);
    let first = RawTar::new().file("course/vertical/fresh.xml", FRESH).tar();
    // Without the end-of-archive blocks the builder appended.
    let mut out = gzip(&first[..first.len() - 1024]);
    for i in 0..files {
        let mut header = tar::Header::new_gnu();
        header
            .set_path(format!("course/static/bomb{i}.bin"))
            .unwrap();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(each);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        out.extend_from_slice(&gzip(header.as_bytes()));
        for _ in 0..each / CHUNK {
            out.extend_from_slice(&zeros);
        }
    }
    out.extend_from_slice(&gzip(&[0u8; 1024]));
    out
}

/// The most disk a refused bomb may take before it is refused.
const BOMB_DISK_BOUND: u64 = 256 * 1024 * 1024;

#[test]
fn a_12_gib_gzip_bomb_is_refused_after_a_bounded_amount_of_disk_by_rest_and_cli() {
    let (dir, data) = populated();
    // 4 entries of 3 GiB of zeros: each under the absolute 4 GiB limit, so
    // only the expansion ratio can stop the first one early.
    let bomb = gzip_bomb(4, 3 * 1024 * 1024 * 1024);
    assert!(
        bomb.len() < 14 * 1000 * 1000,
        "12 GiB in about 12.5 MB: {} bytes",
        bomb.len()
    );
    let path = dir.path().join("bomb.tar.gz");
    std::fs::write(&path, &bomb).unwrap();
    let before = observable(&data);

    // The CLI.
    let peak = PeakUsage::watch(&data);
    let out = run_cli(&data, &["import", path.to_str().unwrap(), "-c", "sample"]);
    let cli_peak = peak.stop();
    eprintln!("CLI: the data dir grew by at most {cli_peak} bytes before the refusal");
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(message.contains("bomb.tar.gz"), "{message}");
    assert!(
        message.contains("expands more than 100 times its compressed size"),
        "{message}"
    );
    assert!(message.contains("--max-ratio"), "{message}");
    assert!(message.contains("nothing was imported"), "{message}");
    assert_eq!(
        observable(&data),
        before,
        "the CLI's refusal changes nothing"
    );

    // REST, the same bytes as a request body.
    let server = crate::server::Server::start_in(&data, &[]);
    let peak = PeakUsage::watch(&data);
    let resp = server
        .request("POST", "/api/v1/collections/sample/import")
        .header("Content-Type", "application/gzip")
        .body(&bomb)
        .send();
    let rest_peak = peak.stop();
    eprintln!("REST: the data dir grew by at most {rest_peak} bytes before the refusal");
    assert_eq!(resp.expect_error(400), "invalid");
    let message = resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("expands more than 100 times its compressed size"),
        "{message}"
    );
    assert!(
        message.contains("blockstore serve --archive-max-ratio"),
        "{message}"
    );
    drop(server);
    assert_eq!(
        observable(&data),
        before,
        "the server's refusal changes nothing"
    );
    eprintln!("the bomb: {} bytes, 12 GiB expanded", bomb.len());
    assert!(
        cli_peak <= BOMB_DISK_BOUND && rest_peak <= BOMB_DISK_BOUND,
        "at most {BOMB_DISK_BOUND} bytes written: CLI {cli_peak}, REST {rest_peak}"
    );
}

#[test]
fn highly_compressible_archives_pass_under_the_grace_or_with_a_raised_ratio() {
    let (dir, data) = populated();
    // 16 MiB of zeros expands about 1,000 times, but stays under the first
    // 64 MiB, which may expand any amount.
    let small = dir.path().join("small.tar.gz");
    std::fs::write(&small, gzip_bomb(1, 16 * 1024 * 1024)).unwrap();
    let report = cli_json(&data, &["import", small.to_str().unwrap(), "-c", "s"]);
    assert_eq!(report["files"], 2, "{report}");
    // 72 MiB of zeros is refused by default, and imports with the check off.
    let big = dir.path().join("big.tar.gz");
    std::fs::write(&big, gzip_bomb(1, 72 * 1024 * 1024)).unwrap();
    let out = run_cli(&data, &["import", big.to_str().unwrap(), "-c", "b"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-ratio"), "{}", stderr(&out));
    let report = cli_json(
        &data,
        &[
            "import",
            big.to_str().unwrap(),
            "-c",
            "b",
            "--max-ratio",
            "0",
        ],
    );
    assert_eq!(report["files"], 2, "{report}");
}

#[test]
fn the_rest_archive_limits_name_options_serve_really_has() {
    let (_dir, data) = populated();
    let help = stdout(&run_cli(&data, &["serve", "--help"]));
    let server = crate::server::Server::start_in(
        &data,
        &[
            "--archive-max-bytes",
            "4096",
            "--archive-max-entries",
            "3",
            "--upload-limit",
            "2000",
        ],
    );
    let import = |bytes: &[u8]| {
        server
            .request("POST", "/api/v1/collections/sample/import")
            .header("Content-Type", "application/gzip")
            .body(bytes)
            .send()
    };
    let over_bytes = import(&RawTar::new().file("course/a.bin", &[1u8; 10_000]).tar_gz());
    let over_entries = import(
        &RawTar::new()
            .file("course/a.xml", b"<a/>")
            .file("course/b.xml", b"<b/>")
            .file("course/c.xml", b"<c/>")
            .file("course/d.xml", b"<d/>")
            .tar_gz(),
    );
    // Over the upload limit: a body of 4,096 random bytes does not compress.
    let mut rng = SplitMix64(7);
    let noise: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    let over_upload = import(&RawTar::new().file("course/n.bin", &noise).tar());
    for (resp, status, option) in [
        (over_bytes, 400, "--archive-max-bytes"),
        (over_entries, 400, "--archive-max-entries"),
        (over_upload, 413, "--upload-limit"),
    ] {
        resp.expect_error(status);
        let message = resp.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(option), "{message}");
        // Every option the message names is one `serve` has.
        for word in message.split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')') {
            if let Some(name) = word.strip_prefix("--") {
                let name = name.trim_end_matches([',', ';', ':', '.']);
                assert!(
                    help.contains(&format!("--{name} ")) || help.contains(&format!("--{name}\n")),
                    "the message names --{name}, which `blockstore serve --help` does not list: {message}"
                );
            }
        }
    }
}
