//! `blockstore collections [list|create|show|update|delete]`.

use super::output::Output;
use crate::store::{CollectionMetadata, Store};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct CollectionsArgs {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List collections with counts (the default).
    List,
    /// Create an empty collection.
    Create {
        /// The new collection's slug: letters, digits, `.`, `_` and `-`.
        slug: String,
        #[command(flatten)]
        metadata: MetadataArgs,
    },
    /// Show one collection's metadata and counts.
    Show {
        /// The collection (slug or uuid).
        slug: String,
    },
    /// Change metadata fields (published with the next publish).
    Update {
        /// The collection (slug or uuid).
        slug: String,
        #[command(flatten)]
        metadata: MetadataArgs,
    },
    /// Delete a collection and its whole history.
    Delete {
        /// The collection (slug or uuid).
        slug: String,
        /// Confirm the deletion (required).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
struct MetadataArgs {
    /// The title people see (the UI's heading, a course's display name).
    #[arg(long)]
    title: Option<String>,
    /// What the collection holds, in a sentence or two.
    #[arg(long)]
    description: Option<String>,
    /// Who is responsible for it (a team, a person).
    #[arg(long)]
    owner: Option<String>,
    /// Who wrote the content.
    #[arg(long)]
    author: Option<String>,
    /// The content's license (e.g. CC-BY-4.0).
    #[arg(long)]
    license: Option<String>,
}

impl From<MetadataArgs> for CollectionMetadata {
    fn from(m: MetadataArgs) -> CollectionMetadata {
        CollectionMetadata {
            title: m.title,
            description: m.description,
            owner: m.owner,
            author: m.author,
            license: m.license,
        }
    }
}

pub(crate) fn run(store: &Store, out: &Output, args: CollectionsArgs) -> crate::Result<ExitCode> {
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let list = store.collections()?;
            if out.json {
                out.json(&list)?;
            } else if list.is_empty() {
                eprintln!("no collections yet: `blockstore import DIR` or `blockstore collections create SLUG`");
            } else {
                println!(
                    "{:<32} {:>7} {:>7} {:>7} {:>6}  TITLE",
                    "SLUG", "UNITS", "ASSETS", "VERSION", "DRAFT"
                );
                for c in list {
                    let version = c
                        .latest_version
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "{:<32} {:>7} {:>7} {:>7} {:>6}  {}",
                        c.collection.slug,
                        c.units,
                        c.assets,
                        version,
                        c.draft_changes,
                        c.collection.title
                    );
                }
            }
        }
        Action::Create { slug, metadata } => {
            let collection = store.create_collection(&slug, &metadata.into())?;
            if out.json {
                out.json(&collection)?;
            } else {
                println!("created {} ({})", collection.slug, collection.uuid);
            }
        }
        Action::Show { slug } => {
            let summary = store.collection_summary(&slug)?;
            if out.json {
                out.json(&summary)?;
            } else {
                let c = &summary.collection;
                println!("slug:         {}", c.slug);
                println!("uuid:         {}", c.uuid);
                println!("title:        {}", c.title);
                for (name, value) in [
                    ("description", &c.description),
                    ("owner", &c.owner),
                    ("author", &c.author),
                    ("license", &c.license),
                ] {
                    if !value.is_empty() {
                        println!("{:<13} {value}", format!("{name}:"));
                    }
                }
                println!("created:      {}", out.when(&c.created_at));
                println!("updated:      {}", out.when(&c.updated_at));
                println!("units:        {}", summary.units);
                println!("assets:       {}", summary.assets);
                match summary.latest_version {
                    Some(n) => println!(
                        "published:    version {n}, {}",
                        out.when(&summary.latest_published_at.unwrap_or_default())
                    ),
                    None => println!("published:    never"),
                }
                println!(
                    "draft:        {} pending",
                    super::output::plural(summary.draft_changes, "change")
                );
            }
        }
        Action::Update { slug, metadata } => {
            let collection = store.update_collection(&slug, &metadata.into())?;
            if out.json {
                out.json(&collection)?;
            } else {
                println!("updated {}", collection.slug);
            }
        }
        Action::Delete { slug, yes } => {
            if !yes {
                return Err(crate::Error::Invalid(format!(
                    "deleting {slug} removes its whole history; pass --yes to confirm"
                )));
            }
            let collection = store.delete_collection(&slug)?;
            if out.json {
                out.json(&collection)?;
            } else {
                println!(
                    "deleted {} (run `blockstore gc` to free its blobs)",
                    collection.slug
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
