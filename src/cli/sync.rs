//! `blockstore sync SLUG DIR`: keep a collection's draft as a folder, in the
//! foreground until Ctrl-C or SIGTERM.

use super::output::Output;
use crate::store::{Error, Store};
use crate::sync::{reconcile, watch, ReconcileReport, SyncedBatch, DEFAULT_DEBOUNCE};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The collection (created if missing).
    slug: String,
    /// The folder (must exist; an empty one receives the collection's files).
    dir: PathBuf,
    /// Show what the start-up reconcile would change, change nothing, and exit.
    #[arg(long)]
    dry_run: bool,
    /// Milliseconds the folder must be quiet before changes are read.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_DEBOUNCE.as_millis() as u64)]
    debounce_ms: u64,
}

pub(crate) fn sync(store: &Store, out: &Output, args: SyncArgs) -> crate::Result<ExitCode> {
    let report = reconcile(store, &args.slug, &args.dir, args.dry_run)?;
    print_reconcile(out, &report)?;
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the signal listener", e))?;
        std::thread::spawn(move || {
            runtime.block_on(crate::server::shutdown_signal());
            stop.store(true, Ordering::Relaxed);
        });
    }
    if !out.json {
        eprintln!(
            "syncing {} <-> {} (Ctrl-C stops)",
            args.slug,
            args.dir.display()
        );
    }
    let mut on_batch = |batch: &SyncedBatch| {
        if out.json {
            let _ = out.json(batch);
            return;
        }
        let c = &batch.changes;
        let mut parts = Vec::new();
        for (what, paths) in [
            ("created", &c.created),
            ("modified", &c.modified),
            ("deleted", &c.deleted),
        ] {
            if !paths.is_empty() {
                parts.push(format!("{what} {}", paths.join(", ")));
            }
        }
        for (from, to) in &c.renamed {
            parts.push(format!("renamed {from} -> {to}"));
        }
        println!("draft: {}", parts.join("; "));
    };
    watch(
        store,
        &args.slug,
        &args.dir,
        Duration::from_millis(args.debounce_ms),
        &stop,
        &mut on_batch,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_reconcile(out: &Output, r: &ReconcileReport) -> crate::Result<()> {
    if out.json {
        return out.json(r);
    }
    let verb = if r.dry_run { "would" } else { "did" };
    if r.direction == "folder_written" {
        println!(
            "start-up: the folder was empty; {verb} write {} file(s) of {} into {}",
            r.written_to_folder.len(),
            r.collection,
            r.dir.display()
        );
        return Ok(());
    }
    println!(
        "start-up: the folder wins; {verb} change the draft: {} created, {} modified, {} renamed, {} deleted, {} unchanged",
        r.created.len(),
        r.modified.len(),
        r.renamed.len(),
        r.deleted.len(),
        r.unchanged
    );
    for p in &r.created {
        println!("  + {p}");
    }
    for p in &r.modified {
        println!("  ~ {p}");
    }
    for (from, to) in &r.renamed {
        println!("  > {from} -> {to}");
    }
    for p in &r.deleted {
        println!("  - {p}");
    }
    Ok(())
}
