//! `blockstore sync SLUG DIR`: keep a collection's draft as a folder, in the
//! foreground until Ctrl-C or SIGTERM.

use super::output::Output;
use crate::store::{Error, Store};
use crate::sync::{reconcile, watch, Notice, ReconcileReport, WatchOptions, DEFAULT_DEBOUNCE};
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
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_DEBOUNCE.as_millis() as u64, value_parser = clap::value_parser!(u64).range(10..))]
    debounce_ms: u64,
    /// Poll the folder (every second) instead of using the native watcher:
    /// for network and shared folders, where file events do not arrive.
    #[arg(long)]
    poll: bool,
}

impl SyncArgs {
    pub(crate) fn options(&self) -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(self.debounce_ms),
            poll: self.poll.then_some(crate::sync::DEFAULT_POLL_INTERVAL),
        }
    }
}

pub(crate) fn sync(store: &Store, out: &Output, args: SyncArgs) -> crate::Result<ExitCode> {
    if args.dry_run {
        let report = reconcile(store, &args.slug, &args.dir, true)?;
        print_reconcile(out, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the signal listener", e))?;
        // Installed here, before the sync says it runs (see `shutdown_signal`).
        let signal = {
            let _entered = runtime.enter();
            crate::server::shutdown_signal()
        };
        std::thread::spawn(move || {
            runtime.block_on(signal);
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
    let mut on_notice = |notice: Notice| {
        if out.json {
            let _ = out.json_line(&notice);
        } else if let Notice::Reconciled(report) = &notice {
            let _ = print_reconcile(out, report);
        } else if matches!(notice, Notice::Synced(_)) {
            println!("{notice}");
        } else {
            eprintln!("{notice}");
        }
    };
    watch(
        store,
        &args.slug,
        &args.dir,
        &args.options(),
        &stop,
        &mut on_notice,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_reconcile(out: &Output, r: &ReconcileReport) -> crate::Result<()> {
    if out.json {
        return out.json_line(r);
    }
    println!("{}", Notice::Reconciled(r.clone()));
    if r.direction == "folder_written" {
        return Ok(());
    }
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
    for s in &r.skipped {
        eprintln!("  skipped {}: {}", s.path, s.reason);
    }
    Ok(())
}
