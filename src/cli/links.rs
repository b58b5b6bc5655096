//! `blockstore links`: one file's links, or a collection's link report.

use super::output::Output;
use super::{split_at, split_target};
use crate::store::links::Resolution;
use crate::store::{At, Direction, LinkInfo, Store};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct LinksArgs {
    /// SLUG:PATH (a file's links) or SLUG (the collection's report); @N, @draft
    /// or @latest picks the state (default: draft).
    target: String,
    /// Links that point at the file instead of from it.
    #[arg(long)]
    incoming: bool,
    /// Only broken (and ambiguous) links.
    #[arg(long)]
    broken: bool,
    /// Only files nothing reaches (collection report).
    #[arg(long)]
    orphans: bool,
}

pub(crate) fn run(store: &Store, out: &Output, args: LinksArgs) -> crate::Result<ExitCode> {
    let (target, at) = split_at(&args.target)?;
    let at = at.unwrap_or(At::Draft);
    let (slug, path) = split_target(target);
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
                        Resolution::Broken | Resolution::Ambiguous { .. }
                    )
                });
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
            if args.orphans && !args.broken {
                report.broken.clear();
                report.ambiguous.clear();
                report.malformed.clear();
            }
            if args.broken && !args.orphans {
                report.orphans.clear();
            }
            if out.json {
                out.json(&report)?;
            } else {
                if !args.orphans || args.broken {
                    println!(
                        "{slug} ({}): {} links, {} broken, {} ambiguous, {} malformed unit(s)",
                        report.at,
                        report.links,
                        report.broken.len(),
                        report.ambiguous.len(),
                        report.malformed.len()
                    );
                    for link in report.broken.iter().chain(&report.ambiguous) {
                        print_link(link, false);
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
                if args.orphans || !args.broken {
                    println!("{} orphan(s)", report.orphans.len());
                    for o in &report.orphans {
                        println!("orphan     {o}");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_link(link: &LinkInfo, incoming: bool) {
    let status = match &link.resolution {
        Resolution::Resolved { path } => path.clone(),
        Resolution::Broken => "BROKEN".to_string(),
        Resolution::Ambiguous { paths } => format!("AMBIGUOUS {}", paths.join(" | ")),
        Resolution::External { collection, path } => {
            format!(
                "{collection}{}",
                path.as_ref().map(|p| format!(":{p}")).unwrap_or_default()
            )
        }
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
