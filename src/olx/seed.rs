//! Sample data in one command: `blockstore seed`.
//!
//! The project's own sample course and library (`examples/sample-course`,
//! `examples/sample-library`) are compiled into the binary, so seeding works
//! from any installed copy, with no checkout beside it. The course is
//! published twice: version 1 is the export as it is, version 2 adds the
//! changes in `examples/seed/course-v2` (a new problem with an SVG diagram, an
//! edited welcome page, the quiz vertical pointing at the new problem), so a
//! new user has history, diffs and links to browse at once, including the one
//! deliberately broken reference the sample course carries.
//!
//! `seed --from PATH` loads any export (folder or archive) and publishes it;
//! [`reset`] empties the store first: every collection is deleted and gc
//! sweeps what they held, through the store's own write paths, so it is safe
//! with a server running on the same data dir.

use super::archive::{import_path, ArchiveLimits};
use super::import::{import_files, slug_from, title_from, ImportOptions};
use crate::store::{
    CollectionMetadata, Error, GcOptions, Progress, PublishOptions, RelPath, Result, Source, Store,
};
use include_dir::{include_dir, Dir, DirEntry};
use serde::Serialize;
use std::path::Path;

static SAMPLE_COURSE: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/examples/sample-course");
static SAMPLE_LIBRARY: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/examples/sample-library");
static COURSE_V2: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/examples/seed/course-v2");

/// What seeding loaded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SeedReport {
    pub collections: Vec<Seeded>,
}

/// One seeded collection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Seeded {
    pub collection: String,
    pub title: String,
    pub files: u64,
    /// The collection versions seeding published, oldest first.
    pub versions: Vec<i64>,
}

/// What [`reset`] removed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ResetReport {
    pub collections_deleted: Vec<String>,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
}

/// Every file of an embedded tree, sorted by path.
fn files_of(dir: &'static Dir<'static>) -> Result<Vec<(RelPath, &'static [u8])>> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<(&'static Path, &'static [u8])>) {
        for entry in dir.entries() {
            match entry {
                DirEntry::Dir(sub) => walk(sub, out),
                DirEntry::File(file) => out.push((file.path(), file.contents())),
            }
        }
    }
    let mut raw = Vec::new();
    walk(dir, &mut raw);
    let mut files = raw
        .into_iter()
        .map(|(path, bytes)| {
            let text = path.to_str().ok_or_else(|| {
                Error::Invalid(format!("bundled sample file {path:?} is not UTF-8"))
            })?;
            Ok((RelPath::new(&text.replace('\\', "/"))?, bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Loads the bundled sample course (two published versions) and library
/// (one). Refuses, changing nothing, when either collection already exists.
pub fn seed_samples(store: &Store, progress: &dyn Progress) -> Result<SeedReport> {
    let course = files_of(&SAMPLE_COURSE)?;
    let library = files_of(&SAMPLE_LIBRARY)?;
    let v2 = files_of(&COURSE_V2)?;
    let identity = |files: &[(RelPath, &'static [u8])], fallback: &str| {
        let read = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p.as_str() == name)
                .map(|(_, b)| b.to_vec())
        };
        let slug = slug_from(&read, fallback).unwrap_or_else(|| fallback.to_string());
        (slug, title_from(&read))
    };
    let (course_slug, course_title) = identity(&course, "sample-course");
    let (library_slug, library_title) = identity(&library, "sample-library");
    for slug in [&course_slug, &library_slug] {
        match store.collection(slug) {
            Ok(_) => {
                return Err(Error::Conflict(format!(
                    "collection {slug:?} already exists (seeded before?); `blockstore seed --reset` starts again from an empty store"
                )))
            }
            Err(Error::CollectionNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut report = SeedReport {
        collections: Vec::new(),
    };

    // The course, version 1: the export as it is.
    let metadata = CollectionMetadata {
        title: course_title.clone(),
        description: Some("The sample course of the Blockstore appliance: OLX in practice.".into()),
        ..CollectionMetadata::default()
    };
    import_files(
        store,
        &course_slug,
        &metadata,
        &course,
        Source::Cli,
        progress,
    )?;
    let v1 = publish(
        store,
        &course_slug,
        "Version 1: the sample course as exported",
    )?;
    // Version 2: the overlay's files replace or join version 1's.
    let mut next = course.clone();
    for (path, bytes) in &v2 {
        match next.iter_mut().find(|(p, _)| p == path) {
            Some(slot) => slot.1 = bytes,
            None => next.push((path.clone(), bytes)),
        }
    }
    import_files(store, &course_slug, &metadata, &next, Source::Cli, progress)?;
    let v2_number = publish(
        store,
        &course_slug,
        "Version 2: a question on publishing, with a diagram; the welcome page says what is new",
    )?;
    report.collections.push(Seeded {
        collection: course_slug,
        title: course_title.unwrap_or_default(),
        files: next.len() as u64,
        versions: vec![v1, v2_number],
    });

    let metadata = CollectionMetadata {
        title: library_title.clone(),
        description: Some("The sample question library of the Blockstore appliance.".into()),
        ..CollectionMetadata::default()
    };
    import_files(
        store,
        &library_slug,
        &metadata,
        &library,
        Source::Cli,
        progress,
    )?;
    let number = publish(
        store,
        &library_slug,
        "Version 1: the sample library as exported",
    )?;
    report.collections.push(Seeded {
        collection: library_slug,
        title: library_title.unwrap_or_default(),
        files: library.len() as u64,
        versions: vec![number],
    });
    Ok(report)
}

/// Loads any export (a folder or a .tar.gz/.tgz/.tar) and publishes it.
pub fn seed_from(
    store: &Store,
    path: &Path,
    collection: Option<String>,
    limits: ArchiveLimits,
    progress: &dyn Progress,
) -> Result<SeedReport> {
    let options = ImportOptions {
        collection,
        publish: true,
        message: Some(format!("Seed from {}", path.display())),
        source: Source::Cli,
    };
    let imported = import_path(store, path, &options, limits, progress)?;
    let collection = store.collection(&imported.collection)?;
    Ok(SeedReport {
        collections: vec![Seeded {
            collection: imported.collection,
            title: collection.title,
            files: imported.files,
            versions: imported
                .published
                .map(|p| vec![p.number])
                .unwrap_or_default(),
        }],
    })
}

/// Empties the store: deletes every collection, then lets gc sweep every
/// version, draft revision and blob they held.
pub fn reset(store: &Store) -> Result<ResetReport> {
    let mut report = ResetReport::default();
    for summary in store.collections()? {
        let deleted = store.delete_collection(&summary.collection.uuid)?;
        report.collections_deleted.push(deleted.slug);
    }
    // Everything up to now is old: nothing is left that references anything.
    let swept = store.gc(&GcOptions {
        cutoff: crate::store::now(),
        dry_run: false,
    })?;
    report.blobs_deleted = swept.blobs_deleted;
    report.bytes_freed = swept.bytes_freed;
    Ok(report)
}

fn publish(store: &Store, slug: &str, message: &str) -> Result<i64> {
    let published = store.publish(
        slug,
        &PublishOptions {
            message: message.to_string(),
            strict: false,
        },
    )?;
    Ok(published.number)
}
