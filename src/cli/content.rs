//! Content commands: `import`, `export`, `files`, `show`, `write`, `delete`,
//! `rename`.

use super::output::{bytes, Output};
use super::{locate, split_target};
use crate::olx::{import_archive, import_path, ArchiveFormat, ArchiveLimits, ImportOptions};
use crate::store::{At, Error, Source, Store};
use blake2::Digest;
use clap::Args;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The collection (slug or uuid), optionally SLUG@N, SLUG@draft or
    /// SLUG@latest.
    slug: String,
    /// Where to write: a new directory, a file ending in .tar.gz, .tgz or .tar, or one ending
    /// in .zip (a Learning Core backup).
    out: PathBuf,
    /// Export this state: a version number, `latest` or `draft` (the
    /// default). `--version N` is the older spelling.
    #[arg(long, value_name = "N", alias = "version", conflicts_with = "draft")]
    at: Option<At>,
    /// Export the draft (the default).
    #[arg(long)]
    draft: bool,
    /// `olx` (a folder or .tar.gz/.tar, by OUT's name), or `learning-core`:
    /// a Learning Core backup zip that `lp_load` loads, of a collection
    /// imported from one (the default for an OUT ending in .zip). Its
    /// published state is the latest version (or --at N's), its drafts the
    /// working draft's differences.
    #[arg(long, value_name = "FORMAT", value_parser = ["olx", "learning-core"])]
    format: Option<String>,
}

pub(crate) fn export(store: &Store, out: &Output, args: ExportArgs) -> crate::Result<ExitCode> {
    let target = locate(&args.slug)?;
    if target.path.is_some() {
        return Err(Error::Invalid(format!(
            "{:?}: export takes a collection, not a file (SLUG or SLUG@N)",
            args.slug
        )));
    }
    let at = match (target.at, args.at) {
        (Some(_), Some(_)) => {
            return Err(Error::Invalid(format!(
                "{:?} and --at: give the state once",
                args.slug
            )))
        }
        (a, b) => a.or(b).unwrap_or(At::Draft),
    };
    let learning_core = match args.format.as_deref() {
        Some(format) => format == "learning-core",
        None => args
            .out
            .to_string_lossy()
            .to_ascii_lowercase()
            .ends_with(".zip"),
    };
    let report = {
        let bar = out.progress();
        if learning_core {
            let version = match at {
                At::Version(n) => Some(n),
                At::Latest => store.versions(target.slug)?.first().map(|v| v.number),
                At::Draft => None,
            };
            crate::olx::learning_core::export_backup(store, target.slug, version, &args.out, &bar)?
        } else {
            crate::olx::export(store, target.slug, at, &args.out, &bar)?
        }
    };
    if out.json {
        out.json(&report)?;
    } else {
        println!(
            "{} ({}): {} files, {} -> {}",
            report.collection,
            report.at,
            report.files,
            bytes(report.bytes),
            report.out.display()
        );
        if report.left_out > 0 {
            println!(
                "  {} of {} not in the package: a Learning Core package holds blocks and the \
                 files they link to (not a course's policies, assets no block names, or files \
                 lp_load would misread)",
                crate::store::plural(report.left_out, "file"),
                report.collection
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export: its root folder (the one holding course.xml or library.xml),
    /// a .tar.gz/.tgz/.tar archive of it (as Studio exports), or - for an archive
    /// on stdin.
    path: PathBuf,
    /// Collection to import into (created if missing). Default: ORG.COURSE.RUN
    /// from course.xml, ORG.LIBRARY from library.xml, else the folder's name.
    #[arg(long, short = 'c', value_name = "SLUG")]
    collection: Option<String>,
    /// Publish right after importing.
    #[arg(long)]
    publish: bool,
    /// The publish message (with --publish).
    #[arg(short = 'm', long, value_name = "MSG")]
    message: Option<String>,
    /// Refuse an archive that expands to more bytes than this.
    #[arg(long, value_name = "BYTES", default_value_t = crate::olx::archive::DEFAULT_MAX_BYTES)]
    max_bytes: u64,
    /// Refuse an archive with more entries (files and folders) than this.
    #[arg(long, value_name = "N", default_value_t = crate::olx::archive::DEFAULT_MAX_ENTRIES)]
    max_entries: u64,
    /// Refuse a .tar.gz that expands more than this many times its compressed
    /// size once past its first 64 MiB (a compression bomb); 0: no check.
    #[arg(long, value_name = "N", default_value_t = crate::olx::archive::DEFAULT_MAX_RATIO)]
    max_ratio: u64,
}

pub(crate) fn import(store: &Store, out: &Output, args: ImportArgs) -> crate::Result<ExitCode> {
    let options = ImportOptions {
        collection: args.collection,
        publish: args.publish,
        message: args.message,
        source: Source::Cli,
    };
    let report = {
        let bar = out.progress();
        let limits = ArchiveLimits {
            max_bytes: args.max_bytes,
            max_entries: args.max_entries,
            max_ratio: args.max_ratio,
            options: crate::olx::LimitOptions::Import,
        };
        if args.path.as_os_str() == "-" {
            let stdin = std::io::stdin();
            let mut reader = std::io::BufReader::with_capacity(256 * 1024, stdin.lock());
            let head = std::io::BufRead::fill_buf(&mut reader)
                .map_err(|e| Error::io("reading stdin", e))?;
            let format = ArchiveFormat::sniff(head).ok_or_else(|| {
                Error::Invalid(
                    "stdin is not a .tar.gz or .tar archive; pipe an OLX export archive in".into(),
                )
            })?;
            import_archive(store, &mut reader, format, "stdin", &options, limits, &bar)?
        } else {
            import_path(store, &args.path, &options, limits, &bar)?
        }
    };
    if out.json {
        out.json(&report)?;
    } else {
        let c = &report.changes;
        println!(
            "{}{}: {} ({}, {}, {}), {} new",
            report.collection,
            if report.created_collection {
                " (new)"
            } else {
                ""
            },
            super::output::plural(report.files, "file"),
            super::output::plural(report.units, "unit"),
            super::output::plural(report.assets, "asset"),
            bytes(report.bytes),
            super::output::plural(report.new_blobs, "blob")
        );
        println!(
            "draft: {} added, {} modified, {} renamed, {} deleted, {} unchanged",
            c.created.len(),
            c.modified.len(),
            c.renamed.len(),
            c.deleted.len(),
            c.unchanged
        );
        if let Some(p) = &report.published {
            println!(
                "published version {} ({})",
                p.number,
                super::output::plural(p.changes.len() as u64, "change")
            );
            super::history::print_malformed(&p.malformed);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct FilesArgs {
    /// SLUG[@N|@draft|@latest][:FOLDER/] (default state: the draft; a folder
    /// lists only the files under it).
    target: String,
    /// Only paths starting with this prefix.
    #[arg(long)]
    prefix: Option<String>,
}

pub(crate) fn files(store: &Store, out: &Output, args: FilesArgs) -> crate::Result<ExitCode> {
    let target = locate(&args.target)?;
    let at = target.at.unwrap_or(At::Draft);
    // `SLUG@N:FOLDER/` lists a folder, as --prefix does (both: the longer).
    let prefix = [args.prefix.as_deref(), target.path]
        .into_iter()
        .flatten()
        .max_by_key(|p| p.len())
        .unwrap_or_default();
    let query = crate::store::FileQuery {
        prefix: prefix.to_string(),
        ..Default::default()
    };
    let (_, mut files) = store.files_page(target.slug, at, &query, 0, usize::MAX)?;
    for p in [args.prefix.as_deref(), target.path].into_iter().flatten() {
        files.retain(|f| f.file.path.starts_with(p));
    }
    if out.json {
        out.json(&files)?;
    } else {
        // Each file's last change as the collection version it went out in
        // (one numbering, as `log` speaks), and its block's name.
        println!(
            "{:<10} {:<12} {:>10}  {:<5}  {:<40}  NAME",
            "HASH", "CHANGED IN", "SIZE", "KIND", "PATH"
        );
        for f in files {
            let changed = match (f.file.version, f.changed_in) {
                (None, _) => "draft".to_string(),
                (Some(_), Some(n)) => format!("version {n}"),
                (Some(_), None) => "-".to_string(),
            };
            println!(
                "{} {:<12} {:>10}  {:<5}  {:<40}  {}",
                &f.file.hash[..10],
                changed,
                bytes(f.file.size),
                f.file.kind.as_str(),
                f.file.path,
                f.display_name.as_deref().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// SLUG[@N|@draft|@latest]:PATH, the file at that collection version
    /// (default: the draft); SLUG:PATH@N also works.
    target: String,
}

pub(crate) fn show(store: &Store, out: &Output, args: ShowArgs) -> crate::Result<ExitCode> {
    let target = locate(&args.target)?;
    let (slug, path) = (target.slug, target.path);
    let path = path.ok_or_else(|| {
        Error::Invalid(format!(
            "{:?}: no file; write SLUG:PATH or SLUG@N:PATH",
            args.target
        ))
    })?;
    let at = target.at.unwrap_or(At::Draft);
    if out.json {
        let file = store.file(slug, path, at)?;
        let history = store.history(slug, path)?;
        let current = history
            .versions
            .iter()
            .find(|v| v.hash.as_deref() == Some(file.hash.as_str()));
        out.json(&serde_json::json!({
            "file": file,
            "problems": current.map(|v| v.problems.clone()).unwrap_or_default(),
        }))?;
    } else {
        // Streamed blob → stdout, never whole in memory, and verified as it
        // goes: bytes that do not hash to the file's hash (a damaged store)
        // end in an error and a failure exit, after what was written.
        let file = store.file(slug, path, at)?;
        let mut blob = store.blobs().open_blob(&file.hash)?;
        let mut hasher = <blake2::Blake2b<blake2::digest::consts::U20> as Digest>::new();
        let mut stdout = std::io::stdout().lock();
        let written = |e| Error::io("writing to stdout", e);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match blob.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("reading blob {}", file.hash), e)),
            };
            hasher.update(&buf[..n]);
            stdout.write_all(&buf[..n]).map_err(written)?;
        }
        stdout.flush().map_err(written)?;
        let actual = hex::encode(hasher.finalize());
        if actual != file.hash {
            return Err(Error::CorruptBlob {
                hash: file.hash,
                actual,
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// SLUG:PATH to write.
    target: String,
    /// File to read the bytes from (default: stdin).
    file: Option<PathBuf>,
}

pub(crate) fn write(store: &Store, out: &Output, args: WriteArgs) -> crate::Result<ExitCode> {
    let (slug, path) = split_target(&args.target);
    let path = path.ok_or_else(|| Error::Invalid(format!("{:?}: give SLUG:PATH", args.target)))?;
    // Streamed into the blob store, never whole in memory (as a REST PUT is).
    let outcome = match &args.file {
        Some(file) => {
            let reading = |e| Error::io(format!("reading {}", file.display()), e);
            let opened = std::fs::File::open(file).map_err(reading)?;
            let len = opened.metadata().map(|m| m.len()).unwrap_or(0);
            let mut named = Named {
                inner: opened,
                name: file,
            };
            store
                .write_stream(slug, path, &mut named, Source::Cli, None)
                .map_err(|e| e.needing_at_least(len))?
                .outcome
        }
        None => {
            let stdin = std::io::stdin();
            let mut named = Named {
                inner: stdin.lock(),
                name: Path::new("stdin"),
            };
            store
                .write_stream(slug, path, &mut named, Source::Cli, None)?
                .outcome
        }
    };
    if out.json {
        out.json(&serde_json::json!({ "collection": slug, "path": path, "outcome": outcome }))?;
    } else {
        println!(
            "{}: {slug}:{path}",
            serde_json::to_value(outcome)?.as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A reader whose errors name what it reads (the blob store's own message
/// says only that it was streaming).
struct Named<'a, R> {
    inner: R,
    name: &'a Path,
}

impl<R: Read> Read for Named<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::Interrupted => e,
            kind => io::Error::new(kind, format!("reading {}: {e}", self.name.display())),
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// SLUG:PATH to delete in the draft.
    target: String,
}

pub(crate) fn delete(store: &Store, out: &Output, args: DeleteArgs) -> crate::Result<ExitCode> {
    let (slug, path) = split_target(&args.target);
    let path = path.ok_or_else(|| Error::Invalid(format!("{:?}: give SLUG:PATH", args.target)))?;
    store.delete(slug, path, Source::Cli)?;
    if out.json {
        out.json(&serde_json::json!({ "collection": slug, "path": path, "outcome": "deleted" }))?;
    } else {
        println!("deleted: {slug}:{path} (in the draft; publish to record it)");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// SLUG:PATH to rename.
    from: String,
    /// The new path.
    to: String,
}

pub(crate) fn rename(store: &Store, out: &Output, args: RenameArgs) -> crate::Result<ExitCode> {
    let (slug, from) = split_target(&args.from);
    let from = from.ok_or_else(|| Error::Invalid(format!("{:?}: give SLUG:PATH", args.from)))?;
    let report = store.rename_reporting(slug, from, &args.to, Source::Cli)?;
    if out.json {
        out.json(&report)?;
    } else {
        println!("renamed: {slug}:{from} -> {}", args.to);
        if !report.broken.is_empty() {
            eprintln!(
                "warning: the rename broke {} (they named {from}):",
                super::output::plural(report.broken.len() as u64, "reference")
            );
            for link in &report.broken {
                eprintln!("  {}:{}  {}", link.source_path, link.line, link.written);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
