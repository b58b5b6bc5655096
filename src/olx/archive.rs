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
//! paths, non-UTF-8 names, too many entries, more expanded bytes than the
//! configured limit, and, past the first [`RATIO_GRACE_BYTES`], expanding
//! more than [`ArchiveLimits::max_ratio`] times the compressed bytes read so
//! far (so a gzip bomb stops after a bounded amount of disk, not at the
//! absolute limit or the end). A
//! truncated or corrupt stream is caught by gzip's checksum, by requiring the
//! end-of-archive block, and by reading the archive to its end. GNU long names
//! and PAX records are read here, bounded, and units (read back whole for the
//! link scan) are bounded too, so a small hostile archive cannot make the
//! process allocate gigabytes. A refused archive leaves the store as it was: the blobs
//! it had stored are discarded again unless something else references them.

use super::import::{
    draft_deletes, publish_after, slug_from, title_from, ImportOptions, ImportReport,
};
use crate::store::{
    BatchEntry, BlobStore, CollectionMetadata, Error, Progress, RelPath, Result, Store, Stored,
};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

/// Expanded bytes an archive may hold by default: far above any course.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// How many times its compressed size a `.tar.gz` may expand by default.
/// gzip of real course content expands 3-10 times (a tar of many tiny files
/// somewhat more); deflate's ceiling, a bomb's, is about 1,000.
pub const DEFAULT_MAX_RATIO: u64 = 100;

/// The ratio is checked once this many bytes have expanded: a small archive
/// may expand any amount (up to the absolute limit), so a bomb writes at most
/// about this much (plus the compressed bytes times the ratio) before it is
/// refused.
pub const RATIO_GRACE_BYTES: u64 = 64 * 1024 * 1024;

/// Entries (files and folders) an archive may hold by default. Studio's
/// largest course exports hold a few tens of thousands of files.
pub const DEFAULT_MAX_ENTRIES: u64 = 50_000;

/// A GNU long name or a PAX record set larger than this is refused: they are
/// read whole, and real ones are a few hundred bytes.
const MAX_EXTENSION_HEADER: u64 = 64 * 1024;

/// Units are read whole to be scanned for links; one larger than this is
/// refused (OLX units are kilobytes).
const MAX_UNIT_BYTES: u64 = 32 * 1024 * 1024;

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
    /// Expanded bytes per compressed byte read, checked once past
    /// [`RATIO_GRACE_BYTES`] (gzip only; 0: not checked).
    pub max_ratio: u64,
    /// Which options raise these limits, for the refusal's message.
    pub options: LimitOptions,
}

impl Default for ArchiveLimits {
    fn default() -> ArchiveLimits {
        ArchiveLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_ratio: DEFAULT_MAX_RATIO,
            options: LimitOptions::Import,
        }
    }
}

/// Where the user sets the archive limits, so a refusal names an option the
/// user really has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitOptions {
    /// `blockstore import`'s `--max-bytes`, `--max-entries`, `--max-ratio`.
    #[default]
    Import,
    /// `blockstore serve`'s `--archive-max-bytes`, `--archive-max-entries`,
    /// `--archive-max-ratio` (archives `POST`ed to `.../import`).
    Serve,
}

impl ArchiveLimits {
    /// How to raise the limit `name`, for a refusal's message.
    pub(crate) fn options_hint(&self, name: &str) -> String {
        self.options.raise(name)
    }
}

impl LimitOptions {
    /// How to raise the limit `name` (`max-bytes`, `max-entries`, `max-ratio`).
    fn raise(self, name: &str) -> String {
        match self {
            LimitOptions::Import => format!("raise --{name}"),
            LimitOptions::Serve => {
                format!("the server's limit: start it with `blockstore serve --archive-{name} N`")
            }
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
    import_archive_holding(
        store,
        reader,
        format,
        name,
        options,
        limits,
        progress,
        HELD_INLINE_MAX,
    )
}

/// Bytes of small (inline) blobs an archive import holds in memory until its
/// transaction; past it, small entries wait in blob files and are read back
/// one by one as the transaction inserts them (a 50,000-entry archive of
/// 16 KiB files would otherwise hold 800 MiB).
const HELD_INLINE_MAX: u64 = 64 * 1024 * 1024;

/// [`import_archive`], holding at most `held_max` bytes of inline blobs.
#[allow(clippy::too_many_arguments)]
fn import_archive_holding(
    store: &Store,
    reader: &mut dyn Read,
    format: ArchiveFormat,
    name: &str,
    options: &ImportOptions,
    limits: ArchiveLimits,
    progress: &dyn Progress,
    held_max: u64,
) -> Result<ImportReport> {
    let mut new_blobs = Vec::new();
    // The archive is read without the writers' lock: a slow upload must not
    // hold off gc (and, behind gc's waiting exclusive lock, every writer).
    // A gc that ran meanwhile may have swept blobs nothing referenced yet, so
    // they are checked under the lock before anything references them.
    let read = read_entries(
        store.blobs(),
        reader,
        format,
        name,
        limits,
        progress,
        &mut new_blobs,
        held_max,
    );
    let result = read.and_then(|read| store.write_session(|session| {
        let blobs = session.blobs();
        // Inline blobs are held in memory until the transaction: only files
        // can have been swept. Deferred uploads land first, so that what is
        // looked for is there unless it was swept.
        blobs.sync()?;
        for (path, s) in &read {
            if s.inline.is_some() || blobs.contents().has(&s.hash, s.size)? {
                continue;
            }
            return Err(Error::Conflict(format!(
                "{name}: gc ran while the archive was read and removed the blob of {:?}; import it again",
                path.as_str()
            )));
        }
        let (files, top) = strip_top_folder(read);
        let by_path: HashMap<&str, &Stored> = files.iter().map(|(p, s)| (p.as_str(), s)).collect();
        let read_file = |path: &str| -> Option<Vec<u8>> {
            let stored = by_path.get(path)?;
            blobs.read_stored(stored).ok()
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
        let (created_collection, deletes) = draft_deletes(store, &slug, files.iter().map(|(p, _)| p))?;
        let mut report = ImportReport::start(&slug, created_collection, files.len());
        for (path, stored) in &files {
            report.count(path, stored);
        }
        let expected = files.len();
        // Units are scanned for links with their final (stripped) paths, read
        // back from the blob store they were just written to.
        // Small blobs that waited in files go inline now, one at a time; their
        // files are removed once the rows are committed.
        let spilled = std::cell::RefCell::new(Vec::new());
        let entries = files.into_iter().map(|(path, mut blob)| {
            if blob.inline.is_none() && blob.size <= crate::store::INLINE_MAX {
                let bytes = blobs.contents().read(&blob.hash, true)?;
                spilled.borrow_mut().push(blob.hash.clone());
                blob.inline = Some(bytes.into());
            }
            if crate::store::classify(&path).syntax.is_none() {
                return Ok(BatchEntry {
                    path,
                    blob,
                    scan: None,
                    expect: None,
                });
            }
            let bytes = blobs.read_stored(&blob)?;
            Ok(BatchEntry::new(path, blob, &bytes))
        });
        report.applied(session.apply_creating(
            &slug,
            &metadata,
            entries,
            expected,
            deletes,
            true,
            options.source,
            progress,
        )?);
        // Committed: the rows hold those blobs now (reads look there first).
        for hash in spilled.into_inner() {
            blobs.contents().remove(&hash)?;
        }
        Ok(report)
    }));
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
    // A zip is a Learning Core backup (`lp_dump`).
    let head =
        io::BufRead::fill_buf(&mut reader).map_err(|e| Error::io(format!("reading {name}"), e))?;
    if name.to_ascii_lowercase().ends_with(".zip") || super::learning_core::is_zip(head) {
        drop(reader);
        return super::learning_core::import_backup(store, path, options, limits, progress);
    }
    let format = match ArchiveFormat::for_name(&name) {
        Some(format) => format,
        None => {
            let head = io::BufRead::fill_buf(&mut reader)
                .map_err(|e| Error::io(format!("reading {name}"), e))?;
            ArchiveFormat::sniff(head).ok_or_else(|| {
                Error::Invalid(format!(
                    "{name} is neither a folder, a .tar.gz/.tgz/.tar archive nor a Learning Core backup (.zip); give an OLX export's folder or archive, or a library's backup"
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

/// Counts the (decompressed) bytes read through it and fails once they pass
/// the limit, or, past [`RATIO_GRACE_BYTES`], once they outgrow the
/// compressed bytes read (`input`) more than `max_ratio` times, so a gzip
/// bomb stops early.
struct Counted<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
    limit: u64,
    /// Compressed bytes read so far (gzip only).
    input: Option<&'a Cell<u64>>,
    max_ratio: u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.get() + n as u64;
        self.count.set(total);
        if total > self.limit {
            return Err(io::Error::other(LimitExceeded));
        }
        if let Some(input) = self.input {
            if self.max_ratio > 0
                && total > RATIO_GRACE_BYTES
                && total > input.get().saturating_mul(self.max_ratio)
            {
                return Err(io::Error::other(RatioExceeded));
            }
        }
        Ok(n)
    }
}

/// Counts the bytes read through it.
struct CountingReader<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Notes whether a read through it failed, so the caller can tell the
/// archive's errors (corrupt, truncated, over a limit) from the blob store's
/// (a full disk) when both arrive from one call.
struct Watched<'a, R> {
    inner: R,
    failed: &'a Cell<bool>,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
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

#[derive(Debug)]
struct RatioExceeded;

impl std::fmt::Display for RatioExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the archive expands past the compression ratio limit")
    }
}

impl std::error::Error for RatioExceeded {}

/// Reads every entry, storing file contents as blobs; returns (path, blob) in
/// archive order. Blobs new to the store are pushed to `new_blobs` as they are
/// written, so a caller can discard them when the archive is refused.
#[allow(clippy::too_many_arguments)]
fn read_entries(
    blobs: &BlobStore,
    reader: &mut dyn Read,
    format: ArchiveFormat,
    name: &str,
    limits: ArchiveLimits,
    progress: &dyn Progress,
    new_blobs: &mut Vec<String>,
    held_max: u64,
) -> Result<Vec<(RelPath, Stored)>> {
    let count = Cell::new(0u64);
    let mut held = 0u64;
    let compressed = Cell::new(0u64);
    let decoded: Box<dyn Read + '_> = match format {
        // Concatenated gzip members are one stream (as gzip -d reads them).
        ArchiveFormat::TarGz => Box::new(flate2::read::MultiGzDecoder::new(CountingReader {
            inner: reader,
            count: &compressed,
        })),
        ArchiveFormat::Tar => Box::new(reader),
    };
    let counted = Counted {
        inner: decoded,
        count: &count,
        limit: limits.max_bytes,
        input: (format == ArchiveFormat::TarGz).then_some(&compressed),
        max_ratio: limits.max_ratio,
    };
    // Bytes of blobs this archive added to the store so far (what a full
    // disk's message reports as needed, at least).
    let stored_bytes = Cell::new(0u64);
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
                "it expands past the limit of {} bytes (a compression bomb, or a bigger archive than expected: {})",
                limits.max_bytes,
                limits.options.raise("max-bytes")
            ));
        }
        let over_ratio = format == ArchiveFormat::TarGz
            && limits.max_ratio > 0
            && count.get() > RATIO_GRACE_BYTES
            && count.get() > compressed.get().saturating_mul(limits.max_ratio);
        if e.get_ref().is_some_and(|inner| inner.is::<RatioExceeded>()) || over_ratio {
            return refuse(format!(
                "it expands more than {} times its compressed size ({} bytes from the first {} compressed bytes, checked past {} bytes): a compression bomb, or unusually repetitive content ({} if it is genuine)",
                limits.max_ratio,
                count.get(),
                compressed.get(),
                RATIO_GRACE_BYTES,
                limits.options.raise("max-ratio")
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
    // Raw entries: GNU long names and PAX records are read here, bounded,
    // rather than by the tar crate, which would hold one of any size.
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    // Where the last header's data ends: the end-of-archive block must follow.
    let mut data_end = 0u64;
    progress.phase("reading archive", None);
    {
        let entries = archive.entries().map_err(stream_error)?.raw(true);
        for (n, entry) in entries.enumerate() {
            let mut entry = entry.map_err(stream_error)?;
            if n as u64 >= limits.max_entries {
                return Err(refuse(format!(
                    "it holds more than {} entries ({} if it is genuine)",
                    limits.max_entries,
                    limits.options.raise("max-entries")
                )));
            }
            if n % 1024 == 0 && progress.interrupted() {
                return Err(Error::Interrupted);
            }
            let size = entry.size();
            data_end = entry.raw_file_position() + size.div_ceil(512) * 512;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink
                    | tar::EntryType::XHeader
                    | tar::EntryType::XGlobalHeader
            ) {
                if size > MAX_EXTENSION_HEADER {
                    return Err(refuse(format!(
                        "entry {n} is a {size}-byte extended header (long name or PAX records); more than {MAX_EXTENSION_HEADER} bytes is refused"
                    )));
                }
                let mut data = Vec::with_capacity(size as usize);
                (&mut entry)
                    .take(size)
                    .read_to_end(&mut data)
                    .map_err(stream_error)?;
                if data.len() as u64 != size {
                    return Err(stream_error(io::ErrorKind::UnexpectedEof.into()));
                }
                match kind {
                    tar::EntryType::GNULongName => {
                        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                        data.truncate(end);
                        long_name = Some(data);
                    }
                    tar::EntryType::XHeader => {
                        for record in tar::PaxExtensions::new(&data) {
                            let record = record.map_err(|e| {
                                refuse(format!("entry {n} has bad PAX records ({e})"))
                            })?;
                            match record.key_bytes() {
                                b"path" => pax_path = Some(record.value_bytes().to_vec()),
                                b"size" => {
                                    return Err(refuse(format!(
                                        "entry {n} sets a file size in PAX records (files over 8 GiB are not imported)"
                                    )))
                                }
                                _ => {}
                            }
                        }
                    }
                    // Link targets (links are refused anyway) and global records.
                    _ => {}
                }
                continue;
            }
            let raw = pax_path
                .take()
                .or_else(|| long_name.take())
                .unwrap_or_else(|| entry.path_bytes().into_owned());
            long_name = None;
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
            let relative = text.trim_start_matches("./");
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Directory => {
                    let relative = relative.trim_end_matches('/');
                    if !relative.is_empty() && relative != "." {
                        RelPath::new(relative).map_err(|e| refuse(format!("{shown}: {e}")))?;
                    }
                    continue;
                }
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
            if count.get().saturating_add(size) > limits.max_bytes {
                return Err(stream_error(io::Error::other(LimitExceeded)));
            }
            // Units are read back whole to be scanned for links: bounded.
            if crate::store::classify(&path).syntax.is_some() && size > MAX_UNIT_BYTES {
                return Err(refuse(format!(
                    "{shown} is a {size}-byte unit; units (.xml, .html, .json outside static/) over {MAX_UNIT_BYTES} bytes are refused"
                )));
            }
            // A failed write is the disk's fault, never the archive's: it
            // is reported as such (a full disk, naming the data dir), not as
            // a corrupt archive.
            let write_error = |e: Error| match e {
                Error::NoSpace {
                    dir,
                    needed,
                    source,
                    ..
                } => {
                    let stored = stored_bytes.get();
                    Error::NoSpace {
                        context: format!(
                            "{name}: the archive was refused and nothing was imported: \
                             storing {shown} failed after {} of its earlier files had been stored",
                            crate::store::human_bytes(stored)
                        ),
                        dir,
                        // This entry's whole size: its header said.
                        needed: Some(stored + needed.unwrap_or(0).max(size)),
                        source,
                    }
                }
                other => other,
            };
            let stored = if size <= READ_WHOLE_LIMIT {
                buf.clear();
                buf.reserve(size as usize);
                (&mut entry)
                    .take(size)
                    .read_to_end(&mut buf)
                    .map_err(stream_error)?;
                if size <= crate::store::INLINE_MAX && held + size > held_max {
                    // Too much held already: this one waits in a blob file
                    // (discarded with the others if the import fails; read
                    // back when its row is inserted). Not new to the store
                    // as a blob: its row counts it.
                    let mut stored = blobs.contents().put_deferred(&buf).map_err(write_error)?;
                    if stored.new {
                        new_blobs.push(stored.hash.clone());
                        stored.new = false;
                    }
                    stored
                } else {
                    let stored = blobs.put_deferred(&buf).map_err(write_error)?;
                    held += stored.inline.as_ref().map_or(0, |b| b.len() as u64);
                    stored
                }
            } else {
                let read_failed = Cell::new(false);
                let mut watched = Watched {
                    inner: &mut entry,
                    failed: &read_failed,
                };
                blobs.put_reader(&mut watched, false).map_err(|e| match e {
                    Error::Io { source, .. } if read_failed.get() => stream_error(source),
                    other => write_error(other),
                })?
            };
            if stored.new {
                new_blobs.push(stored.hash.clone());
                stored_bytes.set(stored_bytes.get() + stored.size);
            }
            if stored.size != size {
                return Err(stream_error(io::ErrorKind::UnexpectedEof.into()));
            }
            found.push((path, stored));
            progress.advance(1);
        }
    }
    if long_name.is_some() || pax_path.is_some() {
        return Err(refuse(
            "it ends with a long-name or PAX header that describes no entry: the archive is truncated".into(),
        ));
    }
    // A tar ends with a block of zeros; a stream that stops right after an
    // entry's data was cut at an entry boundary.
    if count.get() < data_end + 512 {
        return Err(refuse(
            "the archive is truncated (no end-of-archive block after the last entry); export it again"
                .into(),
        ));
    }
    // Read to the very end: gzip checks its length and CRC there.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(stream_error)?;
    if found.is_empty() {
        return Err(refuse("it holds no files".into()));
    }
    // A path that is a file and also a folder of other files cannot be
    // exported back as a tree.
    let mut folders: HashSet<&str> = HashSet::new();
    for (path, _) in &found {
        let p = path.as_str();
        for (i, _) in p.match_indices('/') {
            folders.insert(&p[..i]);
        }
    }
    if let Some((clash, _)) = found.iter().find(|(p, _)| folders.contains(p.as_str())) {
        return Err(refuse(format!(
            "{:?} is both a file and a folder of other entries",
            clash.as_str()
        )));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample course as a `.tar.gz` in memory, and its files.
    fn sample_archive() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-course");
        let mut files = Vec::new();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
            let entry = entry.unwrap();
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(&root).unwrap();
            let rel = rel.to_str().unwrap().to_string();
            let bytes = std::fs::read(entry.path()).unwrap();
            tar.append_path_with_name(entry.path(), &rel).unwrap();
            files.push((rel, bytes));
        }
        (tar.into_inner().unwrap().finish().unwrap(), files)
    }

    #[test]
    fn an_archive_past_the_held_limit_waits_in_files_and_still_lands_inline() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (archive, files) = sample_archive();
        let options = ImportOptions {
            collection: Some("held".into()),
            ..ImportOptions::default()
        };
        // Nothing held: every non-empty small entry waits in a file.
        let report = import_archive_holding(
            &store,
            &mut archive.as_slice(),
            ArchiveFormat::TarGz,
            "sample.tar.gz",
            &options,
            ArchiveLimits::default(),
            &crate::store::NoProgress,
            0,
        )
        .unwrap();
        let distinct: HashSet<String> = files
            .iter()
            .map(|(_, b)| crate::store::hash_bytes(b))
            .collect();
        assert_eq!(
            report.new_blobs,
            distinct.len() as u64,
            "each blob counted once"
        );
        for (path, bytes) in &files {
            let (_, read) = store.read("held", path, crate::store::At::Draft).unwrap();
            assert_eq!(&read, bytes, "{path}");
        }
        let on_disk = store.blobs().contents().list().unwrap();
        assert!(
            on_disk
                .blobs
                .iter()
                .all(|(_, size)| *size > crate::store::INLINE_MAX),
            "no small blob is left as a file: {:?}",
            on_disk.blobs
        );
        assert!(on_disk.stray.is_empty());
        let fsck = store.fsck(&crate::store::NoProgress).unwrap();
        assert!(fsck.is_clean(), "{:?}", fsck.problems);
        assert_eq!(fsck.unreferenced_blobs, 0);
    }
}
