//! Maintenance: `gc`, `gc-flag`, `fsck`, `dump`, `restore`.

use super::output::{bytes, plural, Output};
use super::split_target;
use crate::store::{Error, GcOptions, RestoreOptions, Store};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Age past which old versions, publish-log snapshots and draft revisions go:
    /// a number with d (days), h (hours) or m (minutes).
    #[arg(long, value_name = "AGE", default_value = "30d", value_parser = parse_age)]
    older_than: time::Duration,
    /// Report what would be freed; change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn parse_age(text: &str) -> Result<time::Duration, String> {
    let bad = || {
        format!("{text:?} is not an age: use a whole number with d, h or m, e.g. 30d, 12h or 0d")
    };
    let (number, unit): (&str, fn(i64) -> time::Duration) = if let Some(n) = text.strip_suffix('d')
    {
        (n, time::Duration::days)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, time::Duration::hours)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, time::Duration::minutes)
    } else {
        return Err(bad());
    };
    // Unsigned: a negative age would put the cutoff in the future.
    let n: u32 = number.parse().map_err(|_| bad())?;
    Ok(unit(i64::from(n)))
}

pub(crate) fn gc(store: &Store, out: &Output, args: GcArgs) -> crate::Result<ExitCode> {
    let cutoff = time::OffsetDateTime::now_utc() - args.older_than;
    let options = GcOptions {
        cutoff: crate::store::format_time(cutoff),
        dry_run: args.dry_run,
    };
    let report = store.gc(&options)?;
    if out.json {
        out.json(&report)?;
    } else {
        let verb = if report.dry_run {
            "would free"
        } else {
            "freed"
        };
        println!(
            "gc {verb} {} in {}: {}, {} pruned, {}, {}, {}",
            bytes(report.bytes_freed),
            plural(report.blobs_deleted, "blob"),
            plural(report.versions_deleted, "version"),
            plural(report.collection_versions_pruned, "collection version"),
            plural(report.revisions_deleted, "draft revision"),
            plural(report.orphans_deleted.len() as u64, "orphaned asset"),
            plural(report.stray_files_deleted, "stray file"),
        );
        for o in &report.orphans_deleted {
            println!("  orphan {o}");
        }
        if !report.debris_deleted.is_empty() {
            println!(
                "gc {verb} {} in {} of killed dumps and restores",
                bytes(report.debris_bytes_freed),
                plural(report.debris_deleted.len() as u64, "leftover")
            );
            for path in &report.debris_deleted {
                println!("  leftover {path}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages_are_whole_non_negative_numbers_with_a_unit() {
        assert_eq!(parse_age("30d"), Ok(time::Duration::days(30)));
        assert_eq!(parse_age("12h"), Ok(time::Duration::hours(12)));
        assert_eq!(parse_age("0d"), Ok(time::Duration::ZERO));
        for bad in ["-3d", "5é", "d", "", "3", "3w", "1.5d"] {
            assert!(parse_age(bad).is_err(), "{bad:?} must be refused");
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct GcFlagArgs {
    /// SLUG:PATH of the file.
    target: String,
    /// on or off.
    #[arg(value_parser = ["on", "off"])]
    value: String,
}

pub(crate) fn gc_flag(store: &Store, out: &Output, args: GcFlagArgs) -> crate::Result<ExitCode> {
    let (slug, path) = split_target(&args.target);
    let path = path.ok_or_else(|| Error::Invalid(format!("{:?}: give SLUG:PATH", args.target)))?;
    let flag = args.value == "on";
    store.set_garbage_collect(slug, path, flag)?;
    if out.json {
        out.json(
            &serde_json::json!({ "collection": slug, "path": path, "garbage_collect": flag }),
        )?;
    } else {
        println!("{slug}:{path}: garbage_collect {}", args.value);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn fsck(store: &Store, out: &Output) -> crate::Result<ExitCode> {
    let report = {
        let bar = out.progress();
        store.fsck(&bar)?
    };
    if out.json {
        out.json(&report)?;
    } else {
        println!(
            "{}, {}, {} verified ({}); {}, {} (gc removes them)",
            plural(report.collections, "collection"),
            plural(report.versions, "version"),
            plural(report.blobs_checked, "blob"),
            bytes(report.bytes_checked),
            plural(report.unreferenced_blobs, "unreferenced blob"),
            plural(report.stray_files, "stray file")
        );
        if report.cache_copies_removed > 0 {
            println!(
                "removed {} from the local cache of the object store: they did not \
                 hash to their names (the bucket holds the bytes)",
                plural(report.cache_copies_removed, "damaged file")
            );
        }
        if !report.debris.is_empty() {
            println!(
                "{} of killed dumps and restores ({}):",
                plural(report.debris.len() as u64, "leftover"),
                bytes(report.debris.iter().map(|d| d.bytes).sum())
            );
            for d in &report.debris {
                let what = match d.kind {
                    "dump_partial" => "a dump's partial archive",
                    "dump_index" => "a dump's index snapshot",
                    "restore_staging" => "a restore's staging store",
                    _ => "a store set aside by a restore cut short mid-swap: not removed by gc; check which store is whole and move it back or delete it",
                };
                println!(
                    "  leftover {} ({}; {what})",
                    d.path.display(),
                    bytes(d.bytes)
                );
            }
            if report.debris.iter().any(|d| d.removable()) {
                println!("  (harmless; gc removes them)");
            }
        }
        for p in &report.problems {
            println!("problem [{}] {}", p.code, p.message);
        }
        if report.is_clean() {
            println!("fsck: clean");
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(5)
    })
}

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// The archive to write (a new file; nothing is overwritten), e.g. store.dump.tar.gz.
    file: PathBuf,
}

pub(crate) fn dump(store: &Store, out: &Output, args: DumpArgs) -> crate::Result<ExitCode> {
    let report = {
        let bar = out.progress();
        store.dump(&args.file, &bar)?
    };
    if out.json {
        out.json(&report)?;
    } else {
        println!(
            "dumped {}, {} ({}) and the index ({}) -> {} ({})",
            plural(report.collections, "collection"),
            plural(report.blobs, "blob"),
            bytes(report.bytes),
            bytes(report.index_bytes),
            report.file.display(),
            bytes(report.archive_bytes),
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A dump written by `blockstore dump`.
    file: PathBuf,
    /// Replace the store in the data dir even if it holds collections or blobs.
    #[arg(long)]
    force: bool,
}

/// Runs without an open `Store`: the data dir's store is swapped underneath.
pub(crate) fn restore(
    data_dir: PathBuf,
    open_options: crate::store::OpenOptions,
    out: &Output,
    args: RestoreArgs,
) -> crate::Result<ExitCode> {
    let options = RestoreOptions {
        force: args.force,
        contents: open_options.contents,
        credentials: None,
        index: open_options.index,
    };
    let report = {
        let bar = out.progress();
        crate::store::restore(&data_dir, &args.file, &options, &bar)?
    };
    if out.json {
        out.json(&report)?;
    } else {
        let m = &report.manifest;
        println!(
            "restored {}, {} ({}) from {} into {}{}",
            plural(m.collections, "collection"),
            plural(m.blobs, "blob"),
            bytes(m.bytes),
            report.file.display(),
            match &report.index {
                Some(index) => format!("{} (its index in {index})", report.data_dir.display()),
                None => report.data_dir.display().to_string(),
            },
            if report.replaced {
                ", replacing the store that was there"
            } else {
                ""
            }
        );
        println!(
            "  dumped {} by blockstore {} (schema {}{})",
            out.when(&m.created_at),
            m.blockstore_version,
            m.schema_version,
            if report.schema_version != m.schema_version {
                format!(", migrated to {}", report.schema_version)
            } else {
                String::new()
            }
        );
        if let Some(left) = &report.leftover {
            eprintln!(
                "warning: the replaced store could not be removed; it is in {}",
                left.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The shared index: postgres://USER@HOST:PORT/DATABASE, an empty
    /// database (the password from PGPASSWORD or ~/.pgpass).
    #[arg(long, value_name = "URL")]
    to: String,
}

/// Runs without an open `Store`: the data dir's store moves underneath.
pub(crate) fn migrate(
    data_dir: PathBuf,
    open_options: crate::store::OpenOptions,
    out: &Output,
    args: MigrateArgs,
) -> crate::Result<ExitCode> {
    if open_options.index.is_some() {
        return Err(Error::Invalid(
            "migrate takes the index it moves to as --to; leave out --index".into(),
        ));
    }
    let options = crate::store::MigrateOptions {
        to: args.to,
        contents: open_options.contents,
        credentials: None,
    };
    let report = {
        let bar = out.progress();
        crate::store::migrate(&data_dir, &options, &bar)?
    };
    if out.json {
        out.json(&report)?;
    } else {
        println!(
            "moved {} ({} index rows) from {} to {}{}",
            plural(report.collections, "collection"),
            report.rows,
            report.data_dir.display(),
            report.index,
            if report.resumed {
                ", finishing the interrupted move"
            } else {
                ""
            }
        );
        println!(
            "  contents in {}: {} sent, {} there already; {} verified there",
            report.contents,
            plural(report.blobs_sent, "blob"),
            report.blobs_found,
            report.blobs_verified
        );
        println!(
            "  this data dir now uses the shared store; other instances: \
             blockstore --index {} --data-dir DIR serve",
            options.to
        );
    }
    Ok(ExitCode::SUCCESS)
}
