//! `links_bench` — the cold whole-collection link report, the cold outline and
//! the cold first listing page of the generated 100,000-unit course, side by
//! side, so that a rewrite of link extraction/resolution (`store::links`,
//! `store::linkq`), of the outline (`olx::outline`) and of listings
//! (`store::listing`) can be compared against the code before it on the same
//! store.
//!
//! ```text
//! cargo run --release --example links_bench -- --data DIR --generate   # once
//! cargo run --release --example links_bench -- --data DIR --samples 5  # each build
//! cargo run --release --example links_bench -- --data DIR --samples 1 --dump OUT  # answers
//! ```
//!
//! Five figures (`--only` picks some), each the first call in a freshly
//! opened store:
//!
//! * `report`: `Store::link_report(SLUG, At::Draft)` (what `links SLUG --broken` asks),
//! * `outline`: `blockstore::olx::outline(&store, SLUG, At::Draft)`,
//! * `page`: `Store::files_page` of the whole listing, first 100 rows (REST
//!   `files` with no parameters),
//! * `direct`: `Store::files_page` of the files directly at the top, first
//!   100 rows (what the Files tab asks first, with `folders`),
//! * `folders`: `Store::folders(SLUG, At::Draft, "")`.
//!
//! `--dump DIR` writes each answer as pretty JSON (`DIR/report.json`, …), so
//! two builds' answers can be compared with `diff -r`.
//!
//! `Store` keeps recent link reports and listings in memory, so a second call
//! in the same process measures the cache. Every sample is therefore a new
//! process: this program runs itself with the hidden `--one report|outline`,
//! which opens the store, times `Store::open` and then the one call, and
//! prints the seconds and the item counts on one line; the parent interleaves
//! the figures, collects the samples and prints a Markdown table (median,
//! min, max, the median `Store::open`, and the item counts, which must agree
//! between runs being compared). The operating system's page cache is not
//! dropped: "cold" means a cold process and a cold `Store`, not a cold disk.
//!
//! `--generate` first writes the tree with the `gen_olx` example (built with
//! cargo next to this one when missing; 100,000 units + 10,000 assets by
//! default, seed 1, as `benches/store.rs` figure 2) into a temporary folder and
//! imports it, in-process with `olx::import_dir`, as drafts of collection
//! `big` into a new store at DIR (refused if DIR already holds one); the
//! import time is printed. Without it, the existing store at DIR is measured.
//! Progress goes to stderr, the table to stdout. Only the crate's public API
//! is used.

use blockstore::olx::{import_dir, outline, ImportOptions};
use blockstore::store::{At, FileQuery, NoProgress, Store};
use clap::{Parser, ValueEnum};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Cold link report and cold outline of a generated course, each sample in a
/// fresh process (see the file's doc comment).
#[derive(Parser, Debug)]
#[command(name = "links_bench")]
struct Args {
    /// The store's data directory.
    #[arg(long)]
    data: PathBuf,
    /// Generate the course and import it into a new store at --data first.
    #[arg(long)]
    generate: bool,
    /// Samples of each figure.
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// The collection measured (and created by --generate).
    #[arg(long, default_value = "big")]
    collection: String,
    /// Units in the generated tree (with --generate).
    #[arg(long, default_value_t = 100_000)]
    units: u64,
    /// Assets in the generated tree (with --generate).
    #[arg(long, default_value_t = 10_000)]
    assets: u64,
    /// Figures to measure (default: all), e.g. `--only report,page`.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Figure>,
    /// Write each figure's answer as JSON into this folder (`report.json`,
    /// `outline.json`, …), so two builds' answers can be compared byte for
    /// byte (`cmp`/`diff -r`).
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Internal: one sample of one figure, in this process.
    #[arg(long, hide = true, value_enum)]
    one: Option<Figure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Figure {
    Report,
    Outline,
    /// The first page (100 rows, the REST default) of the whole listing.
    Page,
    /// The first page of the files directly at the top (the Files tab).
    Direct,
    /// The folders at the top, with their counts (the Files tab's tree).
    Folders,
}

/// Rows in a listing page: the REST API's default `page_size`.
const PAGE_SIZE: usize = 100;

impl Figure {
    const ALL: [Figure; 5] = [
        Figure::Report,
        Figure::Outline,
        Figure::Page,
        Figure::Direct,
        Figure::Folders,
    ];

    fn label(self) -> &'static str {
        match self {
            Figure::Report => "cold `Store::link_report(SLUG, At::Draft)`",
            Figure::Outline => "cold `olx::outline(&store, SLUG, At::Draft)`",
            Figure::Page => "cold `Store::files_page(SLUG, At::Draft, all, 0, 100)`",
            Figure::Direct => "cold `Store::files_page(SLUG, At::Draft, top direct, 0, 100)`",
            Figure::Folders => "cold `Store::folders(SLUG, At::Draft, \"\")`",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Figure::Report => "report",
            Figure::Outline => "outline",
            Figure::Page => "page",
            Figure::Direct => "direct",
            Figure::Folders => "folders",
        }
    }
}

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.one {
        Some(figure) => one(&args, figure),
        None => parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("links_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The child: open the store, time the first call, print one line of
/// `key=value` fields.
fn one(args: &Args, figure: Figure) -> Result<(), Failure> {
    let start = Instant::now();
    let store = Store::open(&args.data)?;
    let open = start.elapsed().as_secs_f64();
    let slug = args.collection.as_str();
    let start = Instant::now();
    let dump = |name: &str, value: &dyn erased::Json| -> Result<(), Failure> {
        if let Some(dir) = &args.dump {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(format!("{name}.json")), value.pretty()?)?;
        }
        Ok(())
    };
    let items = match figure {
        Figure::Report => {
            let report = store.link_report(slug, At::Draft)?;
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(&report);
            dump(figure.name(), &report)?;
            format!(
                "secs={secs} broken={} ambiguous={} orphans={}",
                report.broken.len(),
                report.ambiguous.len(),
                report.orphans.len()
            )
        }
        Figure::Outline => {
            let tree = outline(&store, slug, At::Draft)?;
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(&tree);
            dump(figure.name(), &tree)?;
            format!("secs={secs} blocks={}", tree.blocks)
        }
        Figure::Page | Figure::Direct => {
            let query = FileQuery {
                direct: figure == Figure::Direct,
                ..FileQuery::default()
            };
            let (count, page) = store.files_page(slug, At::Draft, &query, 0, PAGE_SIZE)?;
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(&page);
            dump(
                figure.name(),
                &serde_json::json!({"count": count, "results": page}),
            )?;
            format!("secs={secs} count={count} rows={}", page.len())
        }
        Figure::Folders => {
            let folders = store.folders(slug, At::Draft, "")?;
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(&folders);
            dump(figure.name(), &folders)?;
            format!("secs={secs} folders={}", folders.len())
        }
    };
    println!("open={open} {items}");
    Ok(())
}

/// Answers written as JSON only when `--dump` asks (after the timing).
mod erased {
    pub trait Json {
        fn pretty(&self) -> serde_json::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn pretty(&self) -> serde_json::Result<String> {
            serde_json::to_string_pretty(self)
        }
    }
}

/// One sample as the child printed it.
struct Sample {
    open: f64,
    secs: f64,
    /// The item counts, `key=value` in the child's order (without the times).
    items: Vec<(String, String)>,
}

fn parent(args: &Args) -> Result<(), Failure> {
    if args.samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    if args.generate {
        generate(args)?;
    } else if !args.data.join("store.db").is_file() {
        return Err(format!(
            "{} holds no store (no store.db); run with --generate first",
            args.data.display()
        )
        .into());
    }
    let exe = std::env::current_exe()?;
    let figures: Vec<Figure> = if args.only.is_empty() {
        Figure::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let mut samples: Vec<Vec<Sample>> = figures.iter().map(|_| Vec::new()).collect();
    // Interleaved, so that drift of the machine spreads over both figures.
    for round in 1..=args.samples {
        for (i, &figure) in figures.iter().enumerate() {
            let sample = run_one(&exe, args, figure)?;
            eprintln!(
                "  sample {round}/{}: {:?} {} (open {})",
                args.samples,
                figure,
                secs(sample.secs),
                secs(sample.open)
            );
            samples[i].push(sample);
        }
    }
    let mut table = String::new();
    let _ = writeln!(
        table,
        "\nCollection `{}` in {}, code {}, {} samples each (one process per sample):\n",
        args.collection,
        args.data.display(),
        code_version(),
        args.samples
    );
    let _ = writeln!(
        table,
        "| figure | median | min | max | `Store::open` (median) | items |"
    );
    let _ = writeln!(table, "|---|---:|---:|---:|---:|---|");
    for (figure, samples) in figures.iter().zip(&samples) {
        let mut times: Vec<f64> = samples.iter().map(|s| s.secs).collect();
        let mut opens: Vec<f64> = samples.iter().map(|s| s.open).collect();
        let first = &samples[0].items;
        let items = if samples.iter().all(|s| &s.items == first) {
            describe_items(*figure, first)
        } else {
            let all: Vec<String> = samples
                .iter()
                .map(|s| describe_items(*figure, &s.items))
                .collect();
            format!("VARIES between samples: {}", all.join(" / "))
        };
        let med = median(&mut times);
        let (min, max) = (times[0], times[times.len() - 1]);
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {items} |",
            figure.label(),
            secs(med),
            secs(min),
            secs(max),
            secs(median(&mut opens)),
        );
    }
    print!("{table}");
    Ok(())
}

/// Runs this program as a child for one sample and parses its line.
fn run_one(exe: &Path, args: &Args, figure: Figure) -> Result<Sample, Failure> {
    let out = Command::new(exe)
        .arg("--data")
        .arg(&args.data)
        .arg("--collection")
        .arg(&args.collection)
        .args(
            args.dump
                .iter()
                .flat_map(|d| [std::ffi::OsStr::new("--dump"), d.as_os_str()]),
        )
        .arg("--one")
        .arg(figure.name())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("the {figure:?} sample failed ({})", out.status).into());
    }
    let line = String::from_utf8(out.stdout)?;
    let mut sample = Sample {
        open: f64::NAN,
        secs: f64::NAN,
        items: Vec::new(),
    };
    for field in line.split_whitespace() {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("unexpected sample output {line:?}"))?;
        match key {
            "open" => sample.open = value.parse()?,
            "secs" => sample.secs = value.parse()?,
            _ => sample.items.push((key.to_string(), value.to_string())),
        }
    }
    if sample.open.is_nan() || sample.secs.is_nan() {
        return Err(format!("unexpected sample output {line:?}").into());
    }
    Ok(sample)
}

fn describe_items(figure: Figure, items: &[(String, String)]) -> String {
    let get = |key: &str| -> u64 {
        items
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    match figure {
        Figure::Report => format!(
            "{} broken+ambiguous ({} broken, {} ambiguous), {} orphans",
            thousands(get("broken") + get("ambiguous")),
            thousands(get("broken")),
            thousands(get("ambiguous")),
            thousands(get("orphans"))
        ),
        Figure::Outline => format!("{} blocks", thousands(get("blocks"))),
        Figure::Page | Figure::Direct => format!(
            "{} rows of {}",
            thousands(get("rows")),
            thousands(get("count"))
        ),
        Figure::Folders => format!("{} folders", thousands(get("folders"))),
    }
}

/// `--generate`: the `gen_olx` tree in a temporary folder, imported as drafts
/// into a new store at `--data`.
fn generate(args: &Args) -> Result<(), Failure> {
    if args.data.join("store.db").exists() {
        return Err(format!(
            "{} already holds a store; measure it without --generate, or remove it first",
            args.data.display()
        )
        .into());
    }
    let gen_olx = gen_olx()?;
    let parent = args
        .data
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    // Next to the store (same filesystem), removed when dropped.
    let tmp = tempfile::Builder::new()
        .prefix("links-bench-tree-")
        .tempdir_in(parent)?;
    let tree = tmp.path().join("course");
    eprintln!(
        "generating {} units + {} assets into {}",
        args.units,
        args.assets,
        tree.display()
    );
    let start = Instant::now();
    let status = Command::new(&gen_olx)
        .arg("--units")
        .arg(args.units.to_string())
        .arg("--assets")
        .arg(args.assets.to_string())
        .arg(&tree)
        .status()?;
    if !status.success() {
        return Err(format!("{} failed ({status})", gen_olx.display()).into());
    }
    eprintln!("generated in {}", secs(start.elapsed().as_secs_f64()));

    let start = Instant::now();
    let store = Store::open(&args.data)?;
    let options = ImportOptions {
        collection: Some(args.collection.clone()),
        ..ImportOptions::default()
    };
    let report = import_dir(&store, &tree, &options, &NoProgress)?;
    let took = start.elapsed().as_secs_f64();
    drop(store);
    println!(
        "import: {} files ({} units, {} assets, {} bytes) into collection `{}` at {} in {} ({} files/s)",
        thousands(report.files),
        thousands(report.units),
        thousands(report.assets),
        thousands(report.bytes),
        report.collection,
        args.data.display(),
        secs(took),
        thousands((report.files as f64 / took) as u64)
    );
    eprintln!("removing the generated tree");
    tmp.close()?;
    Ok(())
}

/// The `gen_olx` example next to this one (`target/release/examples/`), built
/// with cargo when missing.
fn gen_olx() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe()?;
    let examples = exe.parent().ok_or("this program has no folder")?;
    let gen_olx = examples.join(format!("gen_olx{}", std::env::consts::EXE_SUFFIX));
    if gen_olx.is_file() {
        return Ok(gen_olx);
    }
    // target/<profile>/examples → target
    let target = examples
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot tell the target folder")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building: cargo build --release --example gen_olx");
    let status = Command::new(cargo)
        .args(["build", "--release", "--example", "gen_olx"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target)
        .status()?;
    if !status.success() || !gen_olx.is_file() {
        return Err("cargo build --release --example gen_olx failed".into());
    }
    Ok(gen_olx)
}

/// The commit this program was run from (with `+dirty` when the work tree
/// differs), or "unknown".
fn code_version() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!("{head}{}", if dirty { "+dirty" } else { "" })
        }
        None => "unknown".to_string(),
    }
}

/// Sorts `v` and returns its median.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.3} s")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
