//! `blockstore links`: one file's links, or a collection's link report.

use super::output::{plural, Output};
use crate::store::links::Resolution;
use crate::store::{At, Direction, LinkInfo, Store};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct LinksArgs {
    /// SLUG[@N|@draft|@latest][:PATH]: a file's links, or without :PATH the
    /// collection's report (default state: the draft).
    target: String,
    /// Links that point at the file instead of from it.
    #[arg(long)]
    incoming: bool,
    /// Only broken (and ambiguous) links; exits 1 when something is broken
    /// (for a collection: a broken link in content edx-platform loads), 0
    /// otherwise, like grep.
    #[arg(long)]
    broken: bool,
    /// Only orphans: files the course never uses (collection report).
    #[arg(long)]
    orphans: bool,
    /// Only external links: absolute URLs and other courses' assets
    /// (collection report).
    #[arg(long)]
    external: bool,
}

pub(crate) fn run(store: &Store, out: &Output, args: LinksArgs) -> crate::Result<ExitCode> {
    let target = super::locate(&args.target)?;
    let at = target.at.unwrap_or(At::Draft);
    let (slug, path) = (target.slug, target.path);
    // With --broken, the exit says whether anything is broken.
    let mut found_broken = false;
    match path {
        Some(path) => {
            let direction = if args.incoming {
                Direction::In
            } else {
                Direction::Out
            };
            let mut links = store.links(slug, path, at, direction)?;
            if args.broken {
                links.retain(|l| {
                    matches!(
                        l.resolution,
                        Resolution::Broken { .. } | Resolution::Ambiguous { .. }
                    )
                });
                found_broken = links
                    .iter()
                    .any(|l| matches!(l.resolution, Resolution::Broken { .. }));
            }
            if args.external {
                links.retain(|l| matches!(l.resolution, Resolution::External));
            }
            if out.json {
                out.json(&links)?;
            } else {
                for link in &links {
                    print_link(link, args.incoming);
                }
            }
        }
        None => {
            let mut report = store.link_report(slug, at)?;
            found_broken = report.broken_loaded > 0;
            let only = args.broken || args.orphans || args.external;
            let (show_broken, show_orphans, show_external) = if only {
                (args.broken, args.orphans, args.external)
            } else {
                (true, true, true)
            };
            if !show_broken {
                report.broken.clear();
                report.ambiguous.clear();
                report.malformed.clear();
                report.platform.clear();
            }
            if !show_orphans {
                report.orphans.clear();
                report.unlinked.clear();
            }
            if !show_external {
                report.external.clear();
            }
            if out.json {
                out.json(&report)?;
            } else {
                if show_broken {
                    println!(
                        "{slug} ({}): {}, {} broken in loaded content, {} broken in files edx-platform never loads, {} ambiguous, {}",
                        report.at,
                        plural(report.links, "link"),
                        report.broken_loaded,
                        report.broken_unloaded,
                        report.ambiguous.len(),
                        plural(report.malformed.len() as u64, "malformed unit")
                    );
                    for link in report.broken.iter().filter(|l| l.loaded) {
                        print_link(link, false);
                    }
                    if report.broken_unloaded > 0 {
                        println!("in files edx-platform never loads:");
                        for link in report.broken.iter().filter(|l| !l.loaded) {
                            print_link(link, false);
                        }
                    }
                    for link in &report.ambiguous {
                        print_link(link, false);
                    }
                    if !report.platform.is_empty() {
                        println!(
                            "{} to edx-platform's own static files (not the course's):",
                            plural(report.platform.len() as u64, "link")
                        );
                        for link in &report.platform {
                            print_link(link, false);
                        }
                    }
                    for m in &report.malformed {
                        for p in &m.problems {
                            println!(
                                "malformed  {}:{}:{}: {}",
                                m.path, p.line, p.column, p.message
                            );
                        }
                    }
                }
                if show_external {
                    println!("{}", plural(report.external.len() as u64, "external link"));
                    for link in &report.external {
                        print_link(link, false);
                    }
                }
                if show_orphans {
                    println!(
                        "{}: files the course never uses",
                        plural(report.orphans.len() as u64, "orphan")
                    );
                    for o in &report.orphans {
                        println!("orphan     {o}");
                    }
                }
            }
        }
    }
    Ok(if args.broken && found_broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_link(link: &LinkInfo, incoming: bool) {
    let status = match &link.resolution {
        Resolution::Resolved { path } => path.clone(),
        Resolution::Broken { missing } if missing.is_empty() => "BROKEN".to_string(),
        Resolution::Broken { missing } => format!("BROKEN (no {})", missing.join(", no ")),
        Resolution::Ambiguous { paths } => format!("AMBIGUOUS {}", paths.join(" | ")),
        Resolution::Collection { collection, path } => {
            format!(
                "{collection}{}",
                path.as_ref().map(|p| format!(":{p}")).unwrap_or_default()
            )
        }
        Resolution::External => "EXTERNAL".to_string(),
        Resolution::Platform => "edx-platform's own file".to_string(),
    };
    if incoming {
        println!(
            "{:<8} {}:{}  {}",
            link.kind.as_str(),
            link.source_path,
            link.line,
            link.written
        );
    } else {
        println!(
            "{:<8} {}:{}  {} -> {status}",
            link.kind.as_str(),
            link.source_path,
            link.line,
            link.written
        );
    }
}
