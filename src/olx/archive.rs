//! Importing an OLX archive (`.tar.gz`, `.tgz`, `.tar`: Studio's export format)
//! into one collection's draft, streaming.
//!
//! An archive is read once, front to back, from any reader (a file, stdin, an
//! HTTP request body): each entry's bytes go straight into the blob store,
//! hashed as they are read; nothing is unpacked to a temporary tree and no
//! file is held whole in memory beyond the small-file buffer. Only then, with
//! every path known, is the single top-level folder (`course/`, `library/`)
//! stripped, the slug derived from `course.xml`/`library.xml`, units scanned
//! for links (read back from the blob store) and the tree applied to the
//! draft in one index transaction, exactly like a directory import.
//!
//! Archives come from elsewhere, so every entry is checked before its bytes
//! are stored, and any bad one refuses the whole archive: `..` components,
//! absolute paths, symbolic and hard links, devices and pipes, duplicate
//! paths, non-UTF-8 names, too many entries, and more expanded bytes than the
//! configured limit (a gzip bomb stops at the limit, not at the end). A
//! truncated or corrupt stream is caught by gzip's checksum and by reading the
//! archive to its end. A refused archive leaves the store as it was: the blobs
//! it had stored are discarded again unless something else references them.

use super::import::{publish_after, slug_from, title_from, ImportOptions, ImportReport};
use crate::store::{
    At, BatchEntry, BatchReport, BlobStore, CollectionMetadata, Error, LinkableKind, Progress,
    RelPath, Result, Store, Stored,
};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

/// Expanded bytes an archive may hold by default: far above any course.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Entries (files and folders) an archive may hold by default. Studio's
/// largest course exports hold a few tens of thousands of files.
pub const DEFAULT_MAX_ENTRIES: u64 = 50_000;

/// Entries up to this size are read into one buffer and stored in one write;
/// larger ones stream into the blob store.
const READ_WHOLE_LIMIT: u64 = 4 * 1024 * 1024;

/// How an archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// gzip-compressed tar (`.tar.gz`, `.tgz`).
    TarGz,
    /// plain tar (`.tar`).
    Tar,
}

impl ArchiveFormat {
    /// The format a file name announces, if any.
    pub fn for_name(name: &str) -> Option<ArchiveFormat> {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(ArchiveFormat::TarGz)
        } else if name.ends_with(".tar") {
            Some(ArchiveFormat::Tar)
        } else {
            None
        }
    }

    /// The format the first bytes of a stream show (gzip's magic number, or
    /// tar's `ustar` at offset 257), for inputs without a telling name.
    pub fn sniff(head: &[u8]) -> Option<ArchiveFormat> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveFormat::TarGz)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(ArchiveFormat::Tar)
        } else {
            None
        }
    }
}

/// What an archive may hold before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Total bytes after decompression (the tar stream itself).
    pub max_bytes: u64,
    /// Entries: files, folders and everything else.
    pub max_entries: u64,
}

impl Default for ArchiveLimits {
    fn default() -> ArchiveLimits {
        ArchiveLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// Imports the archive read from `reader` into a collection. `name` names the
/// archive in messages (a file name, `stdin`, `request body`) and, when the
/// tree is neither a course nor a library, gives the default slug.
pub fn import_archive(
    store: &Store,
    reader: &mut dyn Read,
    format: ArchiveFormat,
    name: &str,
    options: &ImportOptions,
    limits: ArchiveLimits,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let mut new_blobs = Vec::new();
    let result = store.write_session(|session| {
        let read = read_entries(
            session.blobs(),
            reader,
            format,
            name,
            limits,
            progress,
            &mut new_blobs,
        )?;
        let (files, top) = strip_top_folder(read);
        let blobs = session.blobs();
        let by_path: HashMap<&str, &Stored> = files.iter().map(|(p, s)| (p.as_str(), s)).collect();
        let read_file = |path: &str| -> Option<Vec<u8>> {
            let stored = by_path.get(path)?;
            blobs.read(&stored.hash, false).ok()
        };
        let slug = match &options.collection {
            Some(slug) => slug.clone(),
            None => {
                let fallback = match top.as_deref() {
                    Some(top) if top != "course" && top != "library" => top.to_string(),
                    _ => archive_stem(name),
                };
                slug_from(&read_file, &fallback).ok_or_else(|| {
                    Error::Invalid(format!(
                        "{name}: cannot derive a collection slug; pass --collection SLUG"
                    ))
                })?
            }
        };
        let metadata = CollectionMetadata {
            title: title_from(&read_file),
            ..CollectionMetadata::default()
        };
        let current = match store.files(&slug, At::Draft) {
            Err(Error::CollectionNotFound(_)) => None,
            other => Some(other?),
        };
        let created_collection = current.is_none();
        let in_tree: HashSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        let deletes: Vec<RelPath> = current
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !in_tree.contains(f.path.as_str()))
            .filter_map(|f| RelPath::new(&f.path).ok())
            .collect();
        let mut report = ImportReport {
            collection: slug.clone(),
            created_collection,
            files: files.len() as u64,
            units: 0,
            assets: 0,
            bytes: 0,
            new_blobs: 0,
            changes: BatchReport::default(),
            published: None,
        };
        for (path, stored) in &files {
            match crate::store::classify(path).kind {
                LinkableKind::Unit => report.units += 1,
                LinkableKind::Asset => report.assets += 1,
            }
            report.bytes += stored.size;
            report.new_blobs += u64::from(stored.new);
        }
        let expected = files.len();
        // Units are scanned for links with their final (stripped) paths, read
        // back from the blob store they were just written to.
        let entries = files.into_iter().map(|(path, blob)| {
            if crate::store::classify(&path).syntax.is_none() {
                return Ok(BatchEntry {
                    path,
                    blob,
                    scan: None,
                    expect: None,
                });
            }
            let bytes = blobs.read(&blob.hash, false)?;
            Ok(BatchEntry::new(path, blob, &bytes))
        });
        report.changes = session.apply_creating(
            &slug,
            &metadata,
            entries,
            expected,
            deletes,
            true,
            options.source,
            progress,
        )?;
        Ok(report)
    });
    let mut report = match result {
        Ok(report) => report,
        Err(e) => {
            // Best effort: a blob left behind is unreferenced, and gc sweeps it.
            let _ = store.discard_blobs(&new_blobs);
            return Err(e);
        }
    };
    publish_after(store, &mut report, options, name)?;
    Ok(report)
}

/// Imports a folder or an archive file, whichever `path` is: an archive by
/// its name (`.tar.gz`, `.tgz`, `.tar`), else by its first bytes.
pub fn import_path(
    store: &Store,
    path: &std::path::Path,
    options: &ImportOptions,
    limits: ArchiveLimits,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if meta.is_dir() {
        return super::import_dir(store, path, options, progress);
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut reader = io::BufReader::with_capacity(256 * 1024, file);
    let name = path.display().to_string();
    let format = match ArchiveFormat::for_name(&name) {
        Some(format) => format,
        None => {
            let head = io::BufRead::fill_buf(&mut reader)
                .map_err(|e| Error::io(format!("reading {name}"), e))?;
            ArchiveFormat::sniff(head).ok_or_else(|| {
                Error::Invalid(format!(
                    "{name} is neither a folder nor a .tar.gz/.tgz/.tar archive; give an OLX export's folder or archive"
                ))
            })?
        }
    };
    import_archive(store, &mut reader, format, &name, options, limits, progress)
}

/// `course-v2.tar.gz` → `course-v2`.
fn archive_stem(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    for ext in [".tar.gz", ".tgz", ".tar"] {
        if lower.ends_with(ext) {
            return base[..base.len() - ext.len()].to_string();
        }
    }
    base.to_string()
}

/// Counts the bytes read through it and fails once they pass the limit, so a
/// gzip bomb stops there.
struct Counted<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
    limit: u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.get() + n as u64;
        self.count.set(total);
        if total > self.limit {
            return Err(io::Error::other(LimitExceeded));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the archive expands past the size limit")
    }
}

impl std::error::Error for LimitExceeded {}

/// Reads every entry, storing file contents as blobs; returns (path, blob) in
/// archive order. Blobs new to the store are pushed to `new_blobs` as they are
/// written, so a caller can discard them when the archive is refused.
fn read_entries(
    blobs: &BlobStore,
    reader: &mut dyn Read,
    format: ArchiveFormat,
    name: &str,
    limits: ArchiveLimits,
    progress: &dyn Progress,
    new_blobs: &mut Vec<String>,
) -> Result<Vec<(RelPath, Stored)>> {
    let count = Cell::new(0u64);
    let decoded: Box<dyn Read + '_> = match format {
        ArchiveFormat::TarGz => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        ArchiveFormat::Tar => Box::new(reader),
    };
    let counted = Counted {
        inner: decoded,
        count: &count,
        limit: limits.max_bytes,
    };
    let refuse = |what: String| {
        Error::Invalid(format!(
            "{name}: {what}; the archive was refused and nothing was imported"
        ))
    };
    // One place turns a stream error into what the user should know.
    let stream_error = |e: io::Error| -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>())
            || count.get() > limits.max_bytes
        {
            return refuse(format!(
                "it expands past the limit of {} bytes (a compression bomb, or a bigger archive than expected: raise --max-bytes)",
                limits.max_bytes
            ));
        }
        if format == ArchiveFormat::TarGz && count.get() == 0 {
            return refuse(format!(
                "not a gzip file ({e}); if it is a plain tar, name it .tar"
            ));
        }
        if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("entire block") {
            return refuse(format!("the archive is truncated ({e}); export it again"));
        }
        refuse(format!("the archive is corrupt ({e})"))
    };

    let mut archive = tar::Archive::new(counted);
    let mut found: Vec<(RelPath, Stored)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut buf = Vec::new();
    progress.phase("reading archive", None);
    {
        let entries = archive.entries().map_err(stream_error)?;
        for (n, entry) in entries.enumerate() {
            let mut entry = entry.map_err(stream_error)?;
            if n as u64 >= limits.max_entries {
                return Err(refuse(format!(
                    "it holds more than {} entries (raise --max-entries if it is genuine)",
                    limits.max_entries
                )));
            }
            if n % 1024 == 0 && progress.interrupted() {
                return Err(Error::Interrupted);
            }
            let raw = entry.path_bytes().into_owned();
            let Ok(text) = String::from_utf8(raw.clone()) else {
                return Err(refuse(format!(
                    "entry {:?} has a name that is not valid UTF-8 (OLX paths are UTF-8)",
                    String::from_utf8_lossy(&raw)
                )));
            };
            let shown = format!("entry {text:?}");
            if text.starts_with('/') || text.as_bytes().get(1) == Some(&b':') {
                return Err(refuse(format!("{shown} has an absolute path")));
            }
            if text.split(['/', '\\']).any(|c| c == "..") {
                return Err(refuse(format!(
                    "{shown} points outside the archive's folder ('..')"
                )));
            }
            let kind = entry.header().entry_type();
            let relative = text.trim_start_matches("./").trim_end_matches('/');
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Directory => {
                    if !relative.is_empty() && relative != "." {
                        RelPath::new(relative).map_err(|e| refuse(format!("{shown}: {e}")))?;
                    }
                    continue;
                }
                // A pax global header (`git archive` writes one) carries no file.
                tar::EntryType::XGlobalHeader => continue,
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let what = if kind == tar::EntryType::Symlink {
                        "a symbolic link"
                    } else {
                        "a hard link"
                    };
                    return Err(refuse(format!(
                        "{shown} is {what} (to {target:?}); links are not imported, archive the files themselves"
                    )));
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    return Err(refuse(format!("{shown} is a device or pipe, not a file")));
                }
                other => {
                    return Err(refuse(format!(
                        "{shown} has an unsupported entry type ({other:?})"
                    )));
                }
            }
            let path = RelPath::new(relative).map_err(|e| refuse(format!("{shown}: {e}")))?;
            if !seen.insert(path.as_str().to_string()) {
                return Err(refuse(format!(
                    "{shown} appears twice (duplicate path {:?})",
                    path.as_str()
                )));
            }
            let size = entry.size();
            if count.get().saturating_add(size) > limits.max_bytes {
                return Err(stream_error(io::Error::other(LimitExceeded)));
            }
            let stored = if size <= READ_WHOLE_LIMIT {
                buf.clear();
                buf.reserve(size as usize);
                (&mut entry)
                    .take(size)
                    .read_to_end(&mut buf)
                    .map_err(stream_error)?;
                blobs.put_deferred(&buf)?
            } else {
                blobs.put_reader(&mut entry, false).map_err(|e| match e {
                    Error::Io { source, .. } => stream_error(source),
                    other => other,
                })?
            };
            if stored.new {
                new_blobs.push(stored.hash.clone());
            }
            if stored.size != size {
                return Err(stream_error(io::ErrorKind::UnexpectedEof.into()));
            }
            found.push((path, stored));
            progress.advance(1);
        }
    }
    // Read to the very end: gzip checks its length and CRC there, and a
    // stream cut short after the last entry is caught too.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(stream_error)?;
    Ok(found)
}

/// Studio's archives hold one top-level folder (`course/`, `library/`); the
/// tree is what is inside it. Returns the paths with that folder stripped (when
/// every file is inside one folder) and the folder's name.
fn strip_top_folder(files: Vec<(RelPath, Stored)>) -> (Vec<(RelPath, Stored)>, Option<String>) {
    let top = files
        .first()
        .and_then(|(p, _)| p.as_str().split_once('/').map(|(top, _)| top.to_string()));
    let Some(top) = top else {
        return (files, None);
    };
    let prefix = format!("{top}/");
    if !files.iter().all(|(p, _)| p.as_str().starts_with(&prefix)) {
        return (files, None);
    }
    let stripped = files
        .into_iter()
        .map(|(p, s)| {
            let inner = RelPath::new(&p.as_str()[prefix.len()..])
                .expect("a valid path minus its first component is valid");
            (inner, s)
        })
        .collect();
    (stripped, Some(top))
}
