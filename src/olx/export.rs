//! Exporting a collection state (the draft or a published version) as the OLX
//! tree it is: a directory, or a reproducible `.tar.gz` / `.tar`.
//!
//! Bytes stream from the blob store one file at a time, never the whole
//! collection in memory. The output is written under a temporary name next to
//! `OUT` and renamed into place at the end, so a failed or interrupted export
//! leaves nothing behind. Archives are reproducible: entries sorted by path,
//! mtime 0, owner 0:0, mode 0644 (directories 0755), an empty gzip header
//! name and mtime, so the same state always gives the same bytes. Like Studio's
//! exports, an archive holds one top-level folder: `course/` when the tree has
//! `course.xml`, `library/` for `library.xml`, else the collection's slug.

use crate::store::{At, Error, FileEntry, Progress, Result, Store};
use serde::Serialize;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What to export and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A directory tree.
    Dir,
    /// A gzipped tar archive.
    TarGz,
    /// A plain tar archive.
    Tar,
}

impl ExportFormat {
    /// The format an output path asks for by its name.
    pub fn for_path(out: &Path) -> ExportFormat {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match super::ArchiveFormat::for_name(&name) {
            Some(super::ArchiveFormat::TarGz) => ExportFormat::TarGz,
            Some(super::ArchiveFormat::Tar) => ExportFormat::Tar,
            None => ExportFormat::Dir,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub collection: String,
    pub at: At,
    pub out: PathBuf,
    pub files: u64,
    pub bytes: u64,
    /// Files of the state the export has no place for (a Learning Core
    /// package holds blocks and the files they link to, not a course's
    /// policies or assets no block names); 0 for an OLX export.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_out: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where an export to `out` is written before it is renamed into place
/// (`.NAME.partial-PID` beside it), once `out` is known not to exist (an
/// export never overwrites) and its folder to exist.
pub(crate) fn partial_path(out: &Path) -> Result<PathBuf> {
    if fs::symlink_metadata(out).is_ok() {
        return Err(Error::Invalid(format!(
            "{} already exists; export into a new path (nothing is overwritten)",
            out.display()
        )));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a directory; create it first",
            parent.display()
        )));
    }
    let name = out
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} names no file", out.display())))?
        .to_string_lossy()
        .into_owned();
    Ok(parent.join(format!(".{name}.partial-{}", std::process::id())))
}

/// Exports the state `at` of collection `key` to `out` (which must not exist).
pub fn export(
    store: &Store,
    key: &str,
    at: At,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let tmp = partial_path(out)?;
    let collection = store.collection(key)?;
    let files = store.files(key, at)?;
    let format = ExportFormat::for_path(out);
    let _ = fs::remove_dir_all(&tmp);
    let _ = fs::remove_file(&tmp);
    progress.phase("exporting", Some(files.len() as u64));
    let written = match format {
        ExportFormat::Dir => write_dir(store, &files, &tmp, progress),
        ExportFormat::TarGz | ExportFormat::Tar => {
            let top = top_folder(&files, &collection.slug);
            write_archive_file(store, &files, &tmp, &top, format, progress)
        }
    };
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    #[allow(clippy::disallowed_methods)]
    fs::rename(&tmp, out).map_err(|e| {
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&tmp);
        Error::io(format!("moving the export into {}", out.display()), e)
    })?;
    Ok(ExportReport {
        collection: collection.slug,
        at,
        out: out.to_path_buf(),
        files: files.len() as u64,
        bytes,
        left_out: 0,
    })
}

/// The archive's one top-level folder, as Studio names it.
pub fn top_folder(files: &[FileEntry], slug: &str) -> String {
    if files.iter().any(|f| f.path == "course.xml") {
        "course".into()
    } else if files.iter().any(|f| f.path == "library.xml") {
        "library".into()
    } else {
        slug.into()
    }
}

fn write_dir(
    store: &Store,
    files: &[FileEntry],
    root: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let mut bytes = 0;
    for (n, file) in files.iter().enumerate() {
        if n % 256 == 0 && progress.interrupted() {
            return Err(Error::Interrupted);
        }
        // Paths were validated on the way in (`RelPath`): relative, no `..`.
        let target = root.join(&file.path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let mut blob = store.blobs().open_blob(&file.hash)?;
        let mut out = File::create(&target)
            .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
        bytes += io::copy(&mut blob, &mut out)
            .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
        progress.advance(1);
    }
    Ok(bytes)
}

fn write_archive_file(
    store: &Store,
    files: &[FileEntry],
    path: &Path,
    top: &str,
    format: ExportFormat,
    progress: &dyn Progress,
) -> Result<u64> {
    let file =
        File::create(path).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let io_err = |e: io::Error| Error::io(format!("writing {}", path.display()), e);
    let (buffered, bytes) =
        write_archive(store, files, top, format, BufWriter::new(file), progress)?;
    let file = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)?;
    Ok(bytes)
}

/// Writes `files` as a reproducible archive (`TarGz` or `Tar`) under the one
/// top-level folder `top` into `out`, streaming blob by blob; returns `out`
/// (flushed, gzip trailer written) and the content bytes written. `files`
/// must be sorted by path, as [`Store::files`] returns them.
pub fn write_archive<W: Write>(
    store: &Store,
    files: &[FileEntry],
    top: &str,
    format: ExportFormat,
    out: W,
    progress: &dyn Progress,
) -> Result<(W, u64)> {
    let sink = match format {
        ExportFormat::TarGz => Sink::Gz(Box::new(
            flate2::GzBuilder::new()
                .mtime(0)
                .write(out, flate2::Compression::default()),
        )),
        _ => Sink::Plain(out),
    };
    let mut tar = tar::Builder::new(sink);
    tar.mode(tar::HeaderMode::Deterministic);
    let io_err = |e: io::Error| Error::io("writing the archive", e);
    // Directories first appear just before their first file; `files` is sorted
    // by path, so each directory is written once, in order.
    let mut dirs_written = std::collections::BTreeSet::new();
    let mut add_dir = |tar: &mut tar::Builder<Sink<W>>, dir: &str| -> io::Result<()> {
        if !dirs_written.insert(dir.to_string()) {
            return Ok(());
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, format!("{dir}/"), io::empty())
    };
    add_dir(&mut tar, top).map_err(io_err)?;
    let mut bytes = 0;
    for (n, file) in files.iter().enumerate() {
        if n % 256 == 0 && progress.interrupted() {
            return Err(Error::Interrupted);
        }
        let mut prefix = String::from(top);
        let parts: Vec<&str> = file.path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            prefix.push('/');
            prefix.push_str(part);
            add_dir(&mut tar, &prefix).map_err(io_err)?;
        }
        let blob = Exact {
            inner: store.blobs().open_blob(&file.hash)?,
            left: file.size,
            path: &file.path,
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(file.size);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, format!("{top}/{}", file.path), blob)
            .map_err(io_err)?;
        bytes += file.size;
        progress.advance(1);
    }
    let out = tar.into_inner().and_then(Sink::finish).map_err(io_err)?;
    Ok((out, bytes))
}

/// A blob read for an archive entry whose header already gave its size: a
/// blob of any other length (a damaged store) fails the export instead of
/// writing an archive whose entries no longer line up.
struct Exact<'a, R> {
    inner: R,
    left: u64,
    path: &'a str,
}

impl<R: io::Read> io::Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: its blob is shorter than recorded (run `blockstore fsck`)",
                    self.path
                ),
            ));
        }
        if n as u64 > self.left {
            return Err(io::Error::other(format!(
                "{}: its blob is longer than recorded (run `blockstore fsck`)",
                self.path
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Where the tar stream goes: through gzip, or straight out.
enum Sink<W: Write> {
    Gz(Box<flate2::write::GzEncoder<W>>),
    Plain(W),
}

impl<W: Write> Sink<W> {
    /// Writes the gzip trailer (if any) and flushes, returning the writer.
    fn finish(self) -> io::Result<W> {
        let mut out = match self {
            Sink::Gz(gz) => gz.finish()?,
            Sink::Plain(plain) => plain,
        };
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Gz(gz) => gz.write(buf),
            Sink::Plain(plain) => plain.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Gz(gz) => gz.flush(),
            Sink::Plain(plain) => plain.flush(),
        }
    }
}
