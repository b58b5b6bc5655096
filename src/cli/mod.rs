//! The `blockstore` command line: clap over the library.
//!
//! Each command parses its arguments, calls the store (or `olx`), and prints the
//! result for humans, or as JSON with `--json`. Errors become one message on
//! stderr naming what failed and what to do, and a documented exit code:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | internal or I/O failure |
//! | 2 | bad usage or invalid input (a bad path, slug, option or file) |
//! | 3 | not found (collection, path, version) |
//! | 4 | conflict (slug taken, nothing to publish, strict publish refused) |
//! | 5 | `fsck` found problems |
//! | 6 | the data dir holds a store this binary cannot use |
//! | 7 | the disk holding the data dir is full (the message names the data dir, the space free and, when known, the space needed) |
//! | 69 | a service the store needs is unavailable (its object store: the message names the bucket and endpoint) |
//! | 75 | the store stayed locked past the lock timeout (`BLOCKSTORE_LOCK_TIMEOUT`); try again |
//! | 130 | interrupted |

mod collections;
mod content;
mod diff;
mod history;
mod links;
mod maintenance;
mod outline;
mod output;
mod seed;
mod serve;
mod sync;

use crate::store::{Error, ErrorKind, Store};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A local, versioned content store for Open edX OLX.
#[derive(Debug, Parser)]
#[command(name = "blockstore", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Data directory (default: $BLOCKSTORE_DATA_DIR, else the platform's data dir,
    /// ~/.local/share/blockstore on Linux).
    #[arg(long, global = true, env = "BLOCKSTORE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Where a new store keeps its large contents: an S3-compatible bucket,
    /// `s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION` (default: the data
    /// dir's `blobs/`). Recorded in the data dir, so later commands need not
    /// repeat it. Credentials come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, never from the URL.
    #[arg(long, global = true, env = "BLOCKSTORE_CONTENTS", value_name = "URL")]
    contents: Option<String>,

    /// Where a new store keeps its index, for a store several instances
    /// share: a PostgreSQL database, `postgres://USER@HOST:PORT/DATABASE`
    /// (default: the data dir's own SQLite file, `store.db`). Recorded in the
    /// data dir, so later commands need not repeat it. The password comes
    /// from PGPASSWORD or ~/.pgpass, never from the URL.
    #[arg(long, global = true, env = "BLOCKSTORE_INDEX", value_name = "URL")]
    index: Option<String>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// How times print in text: `relative` ("3 minutes ago", the default) or
    /// `iso` (RFC 3339, UTC). JSON always has RFC 3339.
    #[arg(long, global = true, value_enum, default_value_t = output::DateStyle::Relative, value_name = "STYLE")]
    date: output::DateStyle,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the browser UI and the REST API on a loopback port (open the
    /// printed http://127.0.0.1:PORT/); the default command.
    Serve(serve::ServeArgs),
    /// Print the server's log as readable lines (--json: the raw JSON
    /// records); -f follows it.
    Logs(serve::LogsArgs),
    /// Import an OLX export (course or library), any tree, or a Learning Core backup (.zip).
    Import(content::ImportArgs),
    /// Export the draft or a published version as a directory, a .tar.gz (reproducible) or a
    /// Learning Core backup (.zip).
    Export(content::ExportArgs),
    /// Load the bundled sample course and library (or --from any export) to browse.
    Seed(seed::SeedArgs),
    /// Keep a collection's draft as a folder: edits in the folder follow into the draft.
    Sync(sync::SyncArgs),
    /// List, create, show or delete collections.
    Collections(collections::CollectionsArgs),
    /// List the files of a collection state.
    Files(content::FilesArgs),
    /// Print a file's bytes: SLUG:PATH[@N|@draft|@latest] (default: the draft).
    Show(content::ShowArgs),
    /// Write a file into the draft: from FILE, or stdin.
    Write(content::WriteArgs),
    /// Delete a file in the draft (a tombstone until publish).
    Delete(content::DeleteArgs),
    /// Rename a file in the draft; it keeps its uuid.
    Rename(content::RenameArgs),
    /// Show the pending draft changes of a collection.
    Status(history::StatusArgs),
    /// List a collection's named drafts (SLUG), or show one's staged changes
    /// (SLUG NAME). Blockstore v1 clients write through named drafts.
    Drafts(history::DraftsArgs),
    /// Publish every draft of a collection as a new collection version.
    Publish(history::PublishArgs),
    /// Discard the drafts of a collection (SLUG) or of one path (SLUG:PATH).
    Revert(history::RevertArgs),
    /// The publish log of a collection (SLUG) or the history of one path (SLUG:PATH).
    Log(history::LogArgs),
    /// What changed between two collection states (default: latest version to draft).
    Diff(history::DiffArgs),
    /// Links of a file (SLUG:PATH), or the link report of a collection (SLUG).
    ///
    /// The report reads the collection as edx-platform reads an OLX export
    /// (course.xml or library.xml, the course-level folders, the run's policy,
    /// drafts):
    ///
    ///   broken     links that name nothing; those in files edx-platform loads
    ///              break the course, those in files it never loads (old
    ///              copies, unused files) are counted and listed apart
    ///   external   absolute URLs and other courses' assets, never broken
    ///   platform   edx-platform's own static files (Studio's placeholders)
    ///   orphans    files the course never uses: not loaded, and no loaded
    ///              file names them as an asset
    ///   unlinked   (JSON) files no file links to at all; an unlinked asset is
    ///              what gc deletes when its garbage_collect flag is set
    #[command(verbatim_doc_comment)]
    Links(links::LinksArgs),
    /// The block tree of a collection state (course → chapter → sequential →
    /// vertical → block), with orphans and broken pointers: SLUG[@N|@draft|@latest].
    Outline(outline::OutlineArgs),
    /// Delete old versions and orphaned assets, then unreferenced blobs.
    Gc(maintenance::GcArgs),
    /// Set or clear the garbage_collect flag of a file (orphaned assets are
    /// deleted by gc only when it is set).
    GcFlag(maintenance::GcFlagArgs),
    /// Check the index and the blob store; exit 5 when something is wrong.
    Fsck,
    /// Write the whole store (every collection, version, draft, blob and the
    /// publish log) to one portable archive.
    Dump(maintenance::DumpArgs),
    /// Replace the data dir's store with a dump's; refused over a non-empty
    /// store unless --force.
    Restore(maintenance::RestoreArgs),
    /// Move the data dir's embedded store up to a shared one: its index into
    /// an empty PostgreSQL database (--to), its blob files into a bucket
    /// (--contents). Verified, and resumable: run it again after a kill.
    Migrate(maintenance::MigrateArgs),
}

/// Runs the command line and returns the process's exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let dir_flag = cli.data_dir.clone();
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            if e.kind() == ErrorKind::NoSpace {
                let dir = data_dir(dir_flag).ok();
                eprintln!("{}", no_space_hint(&e, dir.as_deref()));
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

/// What to do about a full disk: where the data dir is, what is free there
/// and what the failed write needed.
fn no_space_hint(e: &Error, dir: Option<&std::path::Path>) -> String {
    use crate::store::human_bytes;
    let Some(dir) = dir else {
        return "the disk holding the data dir is full: free some space and retry".into();
    };
    let free = rustix::fs::statvfs(dir)
        .map(|s| human_bytes(s.f_bavail.saturating_mul(s.f_frsize)))
        .unwrap_or_else(|_| "unknown".into());
    let needed = match e.space_needed() {
        Some(n) => format!("the operation needed at least {} there", human_bytes(n)),
        None => "how much more the operation needs is not known".into(),
    };
    format!(
        "the disk holding the data dir {} is full ({free} free now; {needed}): nothing was \
         committed. Free some space there (`blockstore gc` removes old versions and unreferenced \
         blobs), or use a data dir on a bigger disk (--data-dir), and retry",
        dir.display()
    )
}

/// The exit code for a store error (see the module docs).
pub fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::Internal => 1,
        ErrorKind::Invalid => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Conflict | ErrorKind::PreconditionFailed => 4,
        ErrorKind::Incompatible => 6,
        ErrorKind::NoSpace => 7,
        ErrorKind::Unavailable => 69,
        ErrorKind::Busy => 75,
        ErrorKind::Interrupted => 130,
    }
}

/// Seconds a command waits for the store's lock before it gives up (default
/// [`crate::store::DEFAULT_LOCK_TIMEOUT`]).
pub(crate) const LOCK_TIMEOUT_ENV: &str = "BLOCKSTORE_LOCK_TIMEOUT";

fn execute(cli: Cli) -> crate::Result<ExitCode> {
    let out = output::Output {
        json: cli.json,
        date: cli.date,
    };
    let open_options = crate::store::OpenOptions {
        contents: cli.contents,
        index: cli.index,
        ..Default::default()
    };
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(serve::ServeArgs::defaults()));
    let command = match command {
        Command::Serve(args) => {
            return serve::serve(data_dir(cli.data_dir)?, &open_options, &out, args)
        }
        Command::Logs(args) => return serve::logs(data_dir(cli.data_dir)?, cli.json, args),
        // Swaps the data dir's store, so it must not hold it open.
        Command::Restore(args) => {
            return maintenance::restore(data_dir(cli.data_dir)?, open_options, &out, args)
        }
        // Moves the data dir's store, so it must not hold it open.
        Command::Migrate(args) => {
            return maintenance::migrate(data_dir(cli.data_dir)?, open_options, &out, args)
        }
        other => other,
    };
    let store = Store::open_with(data_dir(cli.data_dir)?, &open_options)?;
    // A command that waits for the store's lock (a gc behind a busy server,
    // a write behind a gc) says so, and gives up after the lock timeout.
    if let Some(secs) = std::env::var(LOCK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        store.set_lock_timeout(std::time::Duration::from_secs(secs.max(1)));
    }
    store.set_lock_notice(Some(std::sync::Arc::new(|notice: &str| {
        eprintln!("blockstore: {notice}");
    })));
    match command {
        Command::Serve(_) | Command::Logs(_) | Command::Restore(_) | Command::Migrate(_) => {
            unreachable!("handled above")
        }
        Command::Import(args) => content::import(&store, &out, args),
        Command::Export(args) => content::export(&store, &out, args),
        Command::Seed(args) => seed::seed(&store, &out, args),
        Command::Sync(args) => sync::sync(&store, &out, args),
        Command::Collections(args) => collections::run(&store, &out, args),
        Command::Files(args) => content::files(&store, &out, args),
        Command::Show(args) => content::show(&store, &out, args),
        Command::Write(args) => content::write(&store, &out, args),
        Command::Delete(args) => content::delete(&store, &out, args),
        Command::Rename(args) => content::rename(&store, &out, args),
        Command::Status(args) => history::status(&store, &out, args),
        Command::Drafts(args) => history::drafts(&store, &out, args),
        Command::Publish(args) => history::publish(&store, &out, args),
        Command::Revert(args) => history::revert(&store, &out, args),
        Command::Log(args) => history::log(&store, &out, args),
        Command::Diff(args) => history::diff(&store, &out, args),
        Command::Links(args) => links::run(&store, &out, args),
        Command::Outline(args) => outline::run(&store, &out, args),
        Command::Gc(args) => maintenance::gc(&store, &out, args),
        Command::GcFlag(args) => maintenance::gc_flag(&store, &out, args),
        Command::Fsck => maintenance::fsck(&store, &out),
        Command::Dump(args) => maintenance::dump(&store, &out, args),
    }
}

/// `--data-dir`, else `$BLOCKSTORE_DATA_DIR` (clap reads both), else the
/// platform's data dir.
fn data_dir(flag: Option<PathBuf>) -> crate::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    crate::default_data_dir()
}

/// Splits `SLUG:PATH` (the path may itself contain ':').
fn split_target(target: &str) -> (&str, Option<&str>) {
    // `SLUG:` is an empty path (refused where a path is used), never the
    // whole collection: `revert demo:` must not revert everything.
    match target.split_once(':') {
        Some((slug, path)) => (slug, Some(path)),
        None => (target, None),
    }
}

/// A collection, a state of it and maybe a path, as every command writes
/// them: `SLUG[@N|@draft|@latest][:PATH]` (and the older `SLUG:PATH@N`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Located<'a> {
    slug: &'a str,
    at: Option<crate::store::At>,
    path: Option<&'a str>,
}

/// Reads `SLUG[@N|@draft|@latest][:PATH]` (or `SLUG:PATH@N`); the error says
/// which part is wrong.
fn locate(text: &str) -> crate::Result<Located<'_>> {
    let grammar =
        "write SLUG, SLUG@N (a version), SLUG@draft or SLUG@latest, then :PATH for a file";
    let (head, path) = match text.split_once(':') {
        Some((head, path)) => (head, Some(path)),
        None => (text, None),
    };
    // Slugs never hold `@`: the first one starts the state.
    let (slug, at) = match head.split_once('@') {
        Some((slug, state)) => {
            let at = state.parse().map_err(|_| {
                Error::Invalid(format!(
                    "{text:?}: `@{state}` is not a state of the collection; {grammar}"
                ))
            })?;
            (slug, Some(at))
        }
        None => (head, None),
    };
    if slug.is_empty() {
        return Err(Error::Invalid(format!(
            "{text:?}: no collection before `{}`; {grammar}",
            if at.is_some() { "@" } else { ":" }
        )));
    }
    let (path, at) = match (path, at) {
        (Some(path), Some(at)) => {
            if split_at(path)?.1.is_some() {
                return Err(Error::Invalid(format!(
                    "{text:?}: two states, one after the slug and one after the path; give one"
                )));
            }
            (Some(path), Some(at))
        }
        // The older form: the state after the path.
        (Some(path), None) => {
            let (path, at) = split_at(path)?;
            (Some(path), at)
        }
        (None, at) => (None, at),
    };
    Ok(Located { slug, at, path })
}

/// Splits a trailing `@N`, `@draft` or `@latest` off a path or slug.
fn split_at(text: &str) -> crate::Result<(&str, Option<crate::store::At>)> {
    if let Some((head, tail)) = text.rsplit_once('@') {
        let looks_like_version = tail == "draft"
            || tail == "latest"
            || (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()));
        if looks_like_version {
            let at = tail.parse().map_err(Error::Invalid)?;
            return Ok((head, Some(at)));
        }
    }
    Ok((text, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::At;

    #[test]
    fn targets_split_on_the_first_colon_and_versions_on_the_last_at() {
        assert_eq!(
            split_target("demo:static/a:b.png"),
            ("demo", Some("static/a:b.png"))
        );
        assert_eq!(split_target("demo"), ("demo", None));
        assert_eq!(
            split_at("html/a.html@3").unwrap(),
            ("html/a.html", Some(At::Version(3)))
        );
        assert_eq!(
            split_at("static/me@2x.png").unwrap(),
            ("static/me@2x.png", None)
        );
        assert_eq!(split_at("a.xml@draft").unwrap(), ("a.xml", Some(At::Draft)));
        assert!(split_at("a.xml@0").is_err(), "version 0 does not exist");
    }

    #[test]
    fn one_grammar_for_states_and_errors_that_name_the_part() {
        let l = |t| locate(t).unwrap();
        assert_eq!(
            l("demo@3:html/a.html"),
            Located {
                slug: "demo",
                at: Some(At::Version(3)),
                path: Some("html/a.html")
            },
            "SLUG@N:PATH"
        );
        assert_eq!(
            l("demo:html/a.html@3"),
            l("demo@3:html/a.html"),
            "the older form"
        );
        assert_eq!(
            l("demo@draft"),
            Located {
                slug: "demo",
                at: Some(At::Draft),
                path: None
            },
            "a collection's draft"
        );
        assert_eq!(
            l("demo:static/me@2x.png").path,
            Some("static/me@2x.png"),
            "@ in a name"
        );
        assert_eq!(
            l("demo@2:static/me@2x.png").at,
            Some(At::Version(2)),
            "and a state"
        );
        let err = |t| locate(t).unwrap_err().to_string();
        assert!(
            err("demo@x:a").contains("`@x` is not a state"),
            "{}",
            err("demo@x:a")
        );
        assert!(
            err("@3:a").contains("no collection before `@`"),
            "{}",
            err("@3:a")
        );
        assert!(
            err("demo@1:a@2").contains("two states"),
            "{}",
            err("demo@1:a@2")
        );
    }

    #[test]
    fn every_command_and_argument_says_what_it_is() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && path.contains(' ') {
                missing.push(format!("{here}: no description"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{here} <{id}>: no description"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
