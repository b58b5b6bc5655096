//! `blockstore seed`: the bundled sample course and library, or any export,
//! in one command; `--reset` empties the store first, after confirmation.

use super::output::Output;
use crate::olx::seed::{reset, seed_from, seed_samples, ResetReport, SeedReport};
use crate::olx::ArchiveLimits;
use crate::store::{Error, Store};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// Load this export (a course/library folder or a .tar.gz/.tgz/.tar) instead
    /// of the bundled samples, and publish it.
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
    /// The collection to load --from into (default: from course.xml/library.xml).
    #[arg(long, short = 'c', value_name = "SLUG", requires = "from")]
    collection: Option<String>,
    /// Delete every collection in the data dir first (asks unless --yes).
    #[arg(long)]
    reset: bool,
    /// Do not ask before --reset deletes.
    #[arg(long, short = 'y', requires = "reset")]
    yes: bool,
}

/// Seeding's answer with `--json`.
#[derive(serde::Serialize)]
struct Answer {
    reset: Option<ResetReport>,
    #[serde(flatten)]
    seeded: SeedReport,
}

pub(crate) fn seed(store: &Store, out: &Output, args: SeedArgs) -> crate::Result<ExitCode> {
    // Check what --from names before --reset deletes anything: a typo must
    // not leave an empty store behind.
    if let Some(path) = &args.from {
        std::fs::metadata(path).map_err(|e| Error::io(format!("--from {}", path.display()), e))?;
    }
    let reset_report = if args.reset {
        let existing = store.collections()?;
        if !existing.is_empty() && !args.yes && !confirm(store, existing.len())? {
            eprintln!("nothing deleted");
            return Ok(ExitCode::from(1));
        }
        Some(reset(store)?)
    } else {
        None
    };
    let seeded = {
        let bar = out.progress();
        match &args.from {
            Some(path) => seed_from(
                store,
                path,
                args.collection.clone(),
                ArchiveLimits::default(),
                &bar,
            )?,
            None => seed_samples(store, &bar)?,
        }
    };
    if out.json {
        out.json(&Answer {
            reset: reset_report,
            seeded,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(r) = &reset_report {
        println!(
            "reset: {} deleted, {} removed",
            super::output::plural(r.collections_deleted.len() as u64, "collection"),
            super::output::plural(r.blobs_deleted, "blob")
        );
    }
    for c in &seeded.collections {
        let versions = c
            .versions
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "seeded {} ({:?}): {} files, published version{} {versions}",
            c.collection,
            c.title,
            c.files,
            if c.versions.len() == 1 { "" } else { "s" },
        );
    }
    if let Some(first) = seeded.collections.first() {
        println!(
            "next: `blockstore log {0}`, `blockstore diff {0}`, or `blockstore serve` and open the URL it prints",
            first.collection
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses to guess when stdin is not one.
fn confirm(store: &Store, collections: usize) -> crate::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Invalid(format!(
            "seed --reset would delete {} in {}; add --yes to confirm (stdin is not a terminal to ask on)",
            super::output::plural(collections as u64, "collection"),
            store.dir().display()
        )));
    }
    eprint!(
        "Delete {} in {} and their history? [y/N] ",
        super::output::plural(collections as u64, "collection"),
        store.dir().display()
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the answer", e))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
