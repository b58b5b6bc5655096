//! History commands: `status`, `publish`, `revert`, `log`, `diff`.

use super::diff as diff_format;
use super::diff::ColorWhen;
use super::output::Output;
use super::{split_at, split_target};
use crate::store::{At, Change, Error, Malformed, PublishOptions, Store};
use clap::Args;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The collection (slug or uuid) whose draft changes to list.
    slug: String,
}

pub(crate) fn status(store: &Store, out: &Output, args: StatusArgs) -> crate::Result<ExitCode> {
    let changes = store.status(&args.slug)?;
    if out.json {
        out.json(&changes)?;
    } else if changes.is_empty() {
        println!("{}: no draft changes", args.slug);
    } else {
        print_changes(&changes);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The collection (slug or uuid) whose draft to publish as its next version.
    slug: String,
    /// The publish message.
    #[arg(short = 'm', long, value_name = "MSG", default_value = "")]
    message: String,
    /// Refuse (exit 4) when a unit's XML does not parse, instead of warning.
    #[arg(long)]
    strict: bool,
}

pub(crate) fn publish(store: &Store, out: &Output, args: PublishArgs) -> crate::Result<ExitCode> {
    let report = store.publish(
        &args.slug,
        &PublishOptions {
            message: args.message,
            strict: args.strict,
        },
    )?;
    if out.json {
        out.json(&report)?;
    } else {
        println!(
            "{}: published version {} ({})",
            report.collection,
            report.number,
            crate::store::plural(report.changes.len() as u64, "change")
        );
        print_changes(&report.changes);
        print_malformed(&report.malformed);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_malformed(malformed: &[Malformed]) {
    for m in malformed {
        for p in &m.problems {
            eprintln!("warning: {}:{}:{}: {}", m.path, p.line, p.column, p.message);
        }
    }
}

fn print_changes(changes: &[Change]) {
    for c in changes {
        match &c.old_path {
            Some(old) => println!("{} {old} -> {}", c.status.letter(), c.path),
            None => println!("{} {}", c.status.letter(), c.path),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct RevertArgs {
    /// SLUG (all drafts) or SLUG:PATH (one path's draft).
    target: String,
}

pub(crate) fn revert(store: &Store, out: &Output, args: RevertArgs) -> crate::Result<ExitCode> {
    let (slug, path) = split_target(&args.target);
    let report = store.revert(slug, path)?;
    if out.json {
        out.json(&report)?;
    } else {
        println!(
            "{}: discarded {}",
            report.collection,
            crate::store::plural(report.discarded.len() as u64, "draft change")
        );
        for p in &report.discarded {
            println!("  {p}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// SLUG (the publish log) or SLUG:PATH (one path's versions and draft revisions).
    target: String,
}

/// How `log` says a version came from a named draft, and whether its base
/// was older than the latest version it overwrote.
fn committed_from(from: &serde_json::Value) -> String {
    let name = from["draft"].as_str().unwrap_or("?");
    match (from["base"].as_i64(), from["latest"].as_i64()) {
        (base, Some(latest)) if base != Some(latest) => format!(
            "committed from draft {name:?}, based on {} (older than version {latest}, whose later changes it undid)",
            base.map(|b| format!("version {b}")).unwrap_or_else(|| "no version".into())
        ),
        _ => format!("committed from draft {name:?}"),
    }
}

#[derive(Debug, Args)]
pub(crate) struct DraftsArgs {
    /// The collection (slug or uuid).
    slug: String,
    /// A named draft: show its staged changes instead of listing the drafts.
    name: Option<String>,
}

/// `blockstore drafts SLUG [NAME]`: the named drafts of a collection, or
/// one's staged changes (A added, M modified, D deleted, against its base).
pub(crate) fn drafts(store: &Store, out: &Output, args: DraftsArgs) -> crate::Result<ExitCode> {
    let Some(name) = args.name else {
        let drafts = store.named_drafts(Some(&args.slug))?;
        if out.json {
            out.json(&drafts)?;
        } else if drafts.is_empty() {
            println!(
                "{}: no named drafts (Blockstore v1 clients make them; the working draft is `blockstore status {}`)",
                args.slug, args.slug
            );
        } else {
            println!(
                "{:<24}  {:<10}  {:>7}  {:<16}  UUID",
                "NAME", "BASE", "CHANGES", "UPDATED"
            );
            for d in drafts {
                let (_, changes) = store.named_draft_changes(&d.uuid)?;
                println!(
                    "{:<24}  {:<10}  {:>7}  {:<16}  {}",
                    d.name,
                    d.base
                        .map(|b| format!("version {b}"))
                        .unwrap_or_else(|| "-".into()),
                    changes.len(),
                    out.when(&d.updated_at),
                    d.uuid
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let draft = store.named_draft_by_name(&args.slug, &name)?;
    let (_, changes) = store.named_draft_changes(&draft.uuid)?;
    let (_, dependencies) = store.named_draft_dependencies(&draft.uuid)?;
    if out.json {
        out.json(&serde_json::json!({
            "draft": draft,
            "changes": changes,
            "dependencies": dependencies
                .iter()
                .map(|(d, modified)| serde_json::json!({"dependency": d, "modified": modified}))
                .collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: draft {:?} ({}), based on {}, updated {}",
        draft.collection,
        draft.name,
        draft.uuid,
        draft
            .base
            .map(|b| format!("version {b}"))
            .unwrap_or_else(|| "no version".into()),
        out.when(&draft.updated_at)
    );
    if changes.is_empty() {
        println!("no staged file changes");
    }
    for c in &changes {
        println!("{} {}", c.status.letter(), c.path);
    }
    for (d, modified) in &dependencies {
        if *modified {
            println!(
                "L {} -> collection {} version {}",
                d.name, d.direct.collection, d.direct.version
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn log(store: &Store, out: &Output, args: LogArgs) -> crate::Result<ExitCode> {
    let (slug, path) = split_target(&args.target);
    match path {
        None => {
            let versions = store.versions(slug)?;
            if out.json {
                out.json(&versions)?;
            } else if versions.is_empty() {
                println!("{slug}: never published (`blockstore publish {slug}`)");
            } else {
                for v in versions {
                    let pruned = if v.pruned_at.is_some() {
                        " (pruned)"
                    } else {
                        ""
                    };
                    println!(
                        "version {}{pruned}  {}  {}",
                        v.number,
                        out.when(&v.created_at),
                        super::output::plural(v.changes, "change")
                    );
                    if let Some(from) = &v.committed_from {
                        println!("    {}", committed_from(from));
                    }
                    if !v.message.is_empty() {
                        println!("    {}", v.message);
                    }
                }
            }
        }
        Some(path) => {
            let history = store.history(slug, path)?;
            if out.json {
                out.json(&history)?;
            } else {
                println!("{} {}", history.kind.as_str(), history.uuid);
                // One version vocabulary: the collection version each change
                // was published in, or the draft.
                println!(
                    "{:<14}  {:<10}  {:>9}  {:<16}  PATH",
                    "CHANGED IN", "HASH", "SIZE", "WHEN"
                );
                for v in &history.versions {
                    let state = v
                        .published_in
                        .map(|n| format!("version {n}"))
                        .unwrap_or_else(|| "draft".into());
                    let hash = v.hash.as_deref().map(|h| &h[..10]).unwrap_or("(deleted)");
                    println!(
                        "{state:<14}  {hash:<10}  {:>9}  {:<16}  {}",
                        super::output::bytes(v.size),
                        out.when(&v.created_at),
                        v.path
                    );
                    for p in &v.problems {
                        println!(
                            "        does not parse: {}:{}: {}",
                            p.line, p.column, p.message
                        );
                    }
                }
                if !history.revisions.is_empty() {
                    println!("draft revisions (every save since the last publish):");
                    println!(
                        "{:<14}  {:<10}  {:>9}  {:<16}  {:<6}  PATH",
                        "", "HASH", "SIZE", "WHEN", "SOURCE"
                    );
                    for r in &history.revisions {
                        let hash = r.hash.as_deref().map(|h| &h[..10]).unwrap_or("(deleted)");
                        println!(
                            "{:<14}  {hash:<10}  {:>9}  {:<16}  {:<6}  {}",
                            "",
                            super::output::bytes(r.size),
                            out.when(&r.created_at),
                            r.source,
                            r.path
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The collection.
    slug: String,
    /// From: a version number, `latest` or `draft` (default: latest).
    from: Option<At>,
    /// To: a version number, `latest` or `draft` (default: draft).
    to: Option<At>,
    /// Show a unified text diff of this path instead of the list of changes.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["patch", "stat", "name_only"])]
    path: Option<String>,
    /// Print a unified diff (git's format) of every changed file; binary files
    /// are named, renames shown as `rename from`/`rename to`.
    #[arg(short = 'p', long)]
    patch: bool,
    /// Print git's diffstat: each file's changed lines as a +/- bar, and a
    /// summary (before the patch with -p).
    #[arg(long)]
    stat: bool,
    /// Print only the changed paths (the new path of a rename), one a line.
    #[arg(long, conflicts_with_all = ["patch", "stat"])]
    name_only: bool,
    /// Colour the output as git does: auto (only on a terminal, and not when
    /// NO_COLOR is set), always or never. `--color` alone means always.
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        default_value = "auto",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always"
    )]
    color: ColorWhen,
}

pub(crate) fn diff(store: &Store, out: &Output, args: DiffArgs) -> crate::Result<ExitCode> {
    let (slug, at) = split_at(&args.slug)?;
    if at.is_some() {
        return Err(Error::Invalid(
            "give versions as separate arguments: diff SLUG FROM TO".into(),
        ));
    }
    let from = args.from.unwrap_or(At::Latest);
    let to = args.to.unwrap_or(At::Draft);
    if out.json && (args.patch || args.stat || args.name_only) {
        return Err(Error::Invalid(
            "--json prints the list of changes: drop -p, --stat and --name-only".into(),
        ));
    }
    match args.path {
        Some(path) => {
            let text = store.text_diff(slug, &path, from, to)?;
            if out.json {
                out.json(
                    &serde_json::json!({ "path": path, "from": from, "to": to, "diff": text }),
                )?;
            } else {
                print!("{text}");
            }
        }
        None => {
            let diff = store.diff(slug, from, to)?;
            if out.json {
                out.json(&diff)?;
                return Ok(ExitCode::SUCCESS);
            }
            let palette = diff_format::Palette::new(args.color.enabled());
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            if args.name_only {
                diff_format::name_only(&diff.entries, &mut w)?;
            } else if args.stat || args.patch {
                if args.stat {
                    let width = diff_format::stat_width();
                    diff_format::stat(store, &diff.entries, palette, width, &mut w)?;
                    if args.patch && !diff.entries.is_empty() {
                        writeln!(w).map_err(|e| Error::io("writing to stdout", e))?;
                    }
                }
                if args.patch {
                    diff_format::patch(store, &diff.entries, palette, &mut w)?;
                }
            } else {
                diff_format::name_status(&diff.entries, &mut w)?;
            }
            w.flush().map_err(|e| Error::io("writing to stdout", e))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
