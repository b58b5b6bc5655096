//! Importing a directory tree (a course export, a library export, or any tree)
//! into one collection's draft.
//!
//! The tree is walked with walkdir (only `.git/` folders are skipped; junk such
//! as `.DS_Store` is part of an export and is kept), then files are read, hashed
//! into the blob store and scanned for links on every core, and finally applied
//! in one index transaction: the draft becomes exactly the tree, paths missing
//! from it are deleted, and a moved file keeps its uuid. Importing the same tree
//! again changes nothing. Any bad file name fails the import before the index
//! is touched.

use crate::store::{
    At, BatchEntry, BatchReport, CollectionMetadata, Error, LinkableKind, Progress, PublishOptions,
    PublishReport, RelPath, Result, Source, Store,
};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The collection to import into; created if missing. Default: from
    /// `course.xml`/`library.xml`, else the folder's name.
    pub collection: Option<String>,
    /// Publish right after importing.
    pub publish: bool,
    /// The publish message.
    pub message: Option<String>,
    /// Who is importing, recorded on each draft revision.
    pub source: Source,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub collection: String,
    pub created_collection: bool,
    pub files: u64,
    pub units: u64,
    pub assets: u64,
    pub bytes: u64,
    /// Blobs that were not in the store before.
    pub new_blobs: u64,
    pub changes: BatchReport,
    pub published: Option<PublishReport>,
}

impl ImportReport {
    /// A report of nothing counted yet, for an import of `files` files.
    pub(crate) fn start(collection: &str, created_collection: bool, files: usize) -> ImportReport {
        ImportReport {
            collection: collection.to_string(),
            created_collection,
            files: files as u64,
            units: 0,
            assets: 0,
            bytes: 0,
            new_blobs: 0,
            changes: BatchReport::default(),
            published: None,
        }
    }

    /// Counts one imported file.
    pub(crate) fn count(&mut self, path: &RelPath, blob: &crate::store::Stored) {
        match crate::store::classify(path).kind {
            LinkableKind::Unit => self.units += 1,
            LinkableKind::Asset => self.assets += 1,
        }
        self.bytes += blob.size;
        self.new_blobs += u64::from(blob.new);
    }

    /// Records what the batch did; inline blobs are new only once inserted.
    pub(crate) fn applied(&mut self, changes: BatchReport) {
        self.new_blobs += changes.inline_added;
        self.changes = changes;
    }
}

/// What importing a tree of `paths` into `slug`'s draft must delete (the
/// draft's paths not in the tree), and whether the collection is new.
pub(crate) fn draft_deletes<'a>(
    store: &Store,
    slug: &str,
    paths: impl IntoIterator<Item = &'a RelPath>,
) -> Result<(bool, Vec<RelPath>)> {
    let current = match store.files(slug, At::Draft) {
        Err(Error::CollectionNotFound(_)) => return Ok((true, Vec::new())),
        other => other?,
    };
    let in_tree: HashSet<&str> = paths.into_iter().map(RelPath::as_str).collect();
    let deletes = current
        .into_iter()
        .filter(|f| !in_tree.contains(f.path.as_str()))
        .filter_map(|f| RelPath::existing(&f.path).ok())
        .collect();
    Ok((false, deletes))
}

/// Imports the tree at `root` into a collection.
pub fn import_dir(
    store: &Store,
    root: &Path,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let meta =
        std::fs::metadata(root).map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a directory; a .tar.gz/.tgz/.tar goes through `olx::import_archive`",
            root.display()
        )));
    }
    progress.phase("scanning", None);
    let files = walk(root)?;
    let slug = match &options.collection {
        Some(slug) => slug.clone(),
        None => default_slug(root)?,
    };
    let metadata = CollectionMetadata {
        title: title_from(&|name| std::fs::read(root.join(name)).ok()),
        ..CollectionMetadata::default()
    };
    let (created_collection, deletes) = draft_deletes(store, &slug, files.iter().map(|f| &f.path))?;
    let new_blobs = std::sync::Mutex::new(Vec::new());
    let report = store.write_session(|session| {
        let mut report = ImportReport::start(&slug, created_collection, files.len());
        // Readers hash files into the blob store on every core while this
        // thread inserts the rows: reading and indexing overlap.
        std::thread::scope(|scope| {
            let entries = read_all(scope, session.blobs(), &files, progress, &new_blobs);
            let counted = entries.inspect(|entry| {
                if let Ok(entry) = entry {
                    report.count(&entry.path, &entry.blob);
                }
            });
            let changes = session.apply_creating(
                &slug,
                &metadata,
                counted,
                files.len(),
                deletes,
                true,
                options.source,
                progress,
            )?;
            report.applied(changes);
            Ok(report)
        })
    });
    let mut report = match report {
        Ok(report) => report,
        Err(e) => {
            // Like a refused archive, a failed import takes back the blobs it
            // added (a full disk is freed again). Best effort: a blob left
            // behind is unreferenced, and gc sweeps it.
            let new_blobs = new_blobs.into_inner().unwrap_or_else(|p| p.into_inner());
            let _ = store.discard_blobs(&new_blobs);
            return Err(e.in_context(|context| {
                format!(
                    "importing {}: nothing was imported: {context}",
                    root.display()
                )
            }));
        }
    };
    publish_after(store, &mut report, options, &root.display().to_string())?;
    Ok(report)
}

/// Imports files held in memory as the whole draft tree of collection `slug`
/// (created with `metadata` if missing), like [`import_dir`] does a folder:
/// paths not among `files` are deleted, moved content keeps its uuid.
pub fn import_files(
    store: &Store,
    slug: &str,
    metadata: &CollectionMetadata,
    files: &[(RelPath, &[u8])],
    source: Source,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let (created_collection, deletes) = draft_deletes(store, slug, files.iter().map(|(p, _)| p))?;
    store.write_session(|session| {
        let mut report = ImportReport::start(slug, created_collection, files.len());
        let mut entries = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let blob = session.blobs().put_deferred(bytes)?;
            report.count(path, &blob);
            entries.push(Ok(BatchEntry::new(path.clone(), blob, bytes)));
        }
        report.applied(session.apply_creating(
            slug,
            metadata,
            entries,
            files.len(),
            deletes,
            true,
            source,
            progress,
        )?);
        Ok(report)
    })
}

/// One file found by the walk.
struct Found {
    abs: PathBuf,
    path: RelPath,
}

fn walk(root: &Path) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && e.file_name() == ".git" && e.depth() > 0));
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Error::io(format!("reading {at}"), e.into())
        })?;
        if entry.depth() == 0 || entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths under its root");
        let display = rel.display().to_string();
        if entry.file_type().is_symlink() {
            return Err(Error::Invalid(format!(
                "{}: symbolic links are not imported; replace it with the file it points to",
                entry.path().display()
            )));
        }
        if !entry.file_type().is_file() {
            return Err(Error::Invalid(format!(
                "{}: not a regular file (device, socket or pipe); remove it from the tree",
                entry.path().display()
            )));
        }
        let Some(text) = rel.to_str() else {
            return Err(Error::Invalid(format!(
                "{display:?}: the file name is not valid UTF-8; rename it (OLX paths are UTF-8)"
            )));
        };
        let text = if std::path::MAIN_SEPARATOR == '/' {
            text.to_string()
        } else {
            text.replace(std::path::MAIN_SEPARATOR, "/")
        };
        let path = RelPath::new(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", entry.path().display())))?;
        found.push(Found {
            abs: entry.path().to_path_buf(),
            path,
        });
    }
    Ok(found)
}

/// Reads, stores and scans every file on worker threads; yields the entries
/// (in no particular order) as they are ready. Dropping the iterator stops the
/// workers at their next file.
fn read_all<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    blobs: &'env crate::store::BlobStore,
    files: &'env [Found],
    progress: &'env dyn Progress,
    new_blobs: &'env std::sync::Mutex<Vec<String>>,
) -> impl Iterator<Item = Result<BatchEntry>> + 'scope {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(8);
    // Entries travel in chunks: one channel hand-off (and wake-up) per chunk,
    // not per file.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Result<BatchEntry>>>(64);
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    for _ in 0..workers {
        let sender = sender.clone();
        let next = next.clone();
        scope.spawn(move || loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= files.len() {
                return;
            }
            if progress.interrupted() {
                let _ = sender.send(vec![Err(Error::Interrupted)]);
                return;
            }
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut failed = false;
            for found in &files[start..(start + CHUNK).min(files.len())] {
                let entry = read_one(blobs, found);
                if let Ok(entry) = &entry {
                    if entry.blob.new {
                        new_blobs
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(entry.blob.hash.clone());
                    }
                }
                failed = entry.is_err();
                chunk.push(entry);
                if failed {
                    break;
                }
            }
            if sender.send(chunk).is_err() || failed {
                return;
            }
        });
    }
    receiver.into_iter().flatten()
}

/// Files a worker claims at a time.
const CHUNK: usize = 32;

/// Files up to this size are read whole (units, most assets); larger ones are
/// streamed into the blob store so memory stays flat.
const READ_WHOLE_LIMIT: u64 = 4 * 1024 * 1024;

fn read_one(blobs: &crate::store::BlobStore, found: &Found) -> Result<BatchEntry> {
    let io_err = |e| Error::io(format!("reading {}", found.abs.display()), e);
    let mut file = std::fs::File::open(&found.abs).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let unit = crate::store::classify(&found.path).syntax.is_some();
    if len <= READ_WHOLE_LIMIT || unit {
        // Exactly `len` bytes: `read_to_end` would stat and seek again and
        // issue one more read to find the end, three syscalls per file that a
        // 100,000-file import pays for.
        let mut bytes = vec![0u8; len as usize];
        std::io::Read::read_exact(&mut file, &mut bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Invalid(format!(
                    "{} shrank while it was being imported; import again once it is written",
                    found.abs.display()
                ))
            } else {
                io_err(e)
            }
        })?;
        let blob = blobs.put_deferred(&bytes)?;
        Ok(BatchEntry::new(found.path.clone(), blob, &bytes))
    } else {
        let blob = blobs
            .put_reader(&mut file, false)
            .map_err(|e| e.needing_at_least(len))?;
        Ok(BatchEntry {
            path: found.path.clone(),
            blob,
            scan: None,
            expect: None,
        })
    }
}

/// The slug a tree imports as when none is given: `ORG.COURSE.RUN` from
/// `course.xml`, `ORG.LIBRARY` from `library.xml`, else the folder's name.
pub fn default_slug(root: &Path) -> Result<String> {
    let fallback = std::fs::canonicalize(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    slug_from(&|name| std::fs::read(root.join(name)).ok(), &fallback).ok_or_else(|| {
        Error::Invalid(format!(
            "cannot derive a collection slug from {}; pass --collection SLUG",
            root.display()
        ))
    })
}

/// A tree's default slug, reading its files through `read` (a folder or an
/// archive's entries); `fallback` names the tree when it is no course or
/// library export.
pub(crate) fn slug_from(read: &dyn Fn(&str) -> Option<Vec<u8>>, fallback: &str) -> Option<String> {
    let attrs = |file: &str| read(file).and_then(|bytes| root_attributes(&bytes));
    let candidate = if let Some(a) = attrs("course.xml") {
        [a.get("org"), a.get("course"), a.get("url_name")]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(".")
    } else if let Some(a) = attrs("library.xml") {
        [a.get("org"), a.get("library")]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(".")
    } else {
        String::new()
    };
    let candidate = if candidate.is_empty() {
        fallback
    } else {
        &candidate
    };
    let slug: String = candidate
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_start_matches(['-', '_', '.'])
        .chars()
        .take(100)
        .collect();
    (!slug.is_empty()).then_some(slug)
}

/// The root element's attributes of an XML document, if it parses that far.
fn root_attributes(bytes: &[u8]) -> Option<std::collections::HashMap<String, String>> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let mut map = std::collections::HashMap::new();
                for attr in e.attributes().flatten() {
                    let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                    let value = attr.unescape_value().ok()?.into_owned();
                    map.insert(key, value);
                }
                return Some(map);
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

/// The course's or library's display name, for the collection title.
pub(crate) fn title_from(read: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<String> {
    let attrs = |file: &str| read(file).and_then(|bytes| root_attributes(&bytes));
    if let Some(course) = attrs("course.xml") {
        if let Some(url_name) = course.get("url_name") {
            let inner = format!("course/{url_name}.xml");
            if let Some(name) = attrs(&inner).and_then(|a| a.get("display_name").cloned()) {
                return Some(name);
            }
        }
        return course.get("display_name").cloned();
    }
    attrs("library.xml").and_then(|a| a.get("display_name").cloned())
}

/// Publishes after an import when asked (nothing to publish is no error).
pub(crate) fn publish_after(
    store: &Store,
    report: &mut ImportReport,
    options: &ImportOptions,
    what: &str,
) -> Result<()> {
    if !options.publish {
        return Ok(());
    }
    let message = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Import {what}"));
    match store.publish(
        &report.collection,
        &PublishOptions {
            message,
            strict: false,
        },
    ) {
        Ok(published) => report.published = Some(published),
        Err(Error::NothingToPublish { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}
