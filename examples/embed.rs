//! The store in-process, as a Rust program embeds it: open a data dir, import
//! the sample course, change a unit, publish, and read history and links back.
//!
//! Run: `cargo run --example embed [DATA_DIR]` (default: a temp dir).

use blockstore::olx::{import_dir, ImportOptions};
use blockstore::store::{At, Direction, NoProgress, PublishOptions, Source, Store};
use std::path::PathBuf;

fn main() -> blockstore::Result<()> {
    let data_dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("blockstore-embed-{}", std::process::id()))
        });
    let store = Store::open(&data_dir)?;
    let course = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sample-course");
    let options = ImportOptions {
        collection: Some("sample".into()),
        publish: true,
        message: Some("Initial import".into()),

        ..ImportOptions::default()
    };
    let report = import_dir(&store, &course, &options, &NoProgress)?;
    println!("imported {} files into {}", report.files, report.collection);

    store.write(
        "sample",
        "html/html_welcome.html",
        b"<p>Hello from Rust.</p>\n",
        Source::Api,
    )?;
    let published = store.publish(
        "sample",
        &PublishOptions {
            message: "Edit".into(),
            strict: false,
        },
    )?;
    println!(
        "published version {} with {} change(s)",
        published.number,
        published.changes.len()
    );

    for version in store.versions("sample")? {
        println!("  version {}: {}", version.number, version.message);
    }
    let (_, before) = store.read("sample", "html/html_welcome.html", At::Version(1))?;
    println!("version 1 of the welcome page is {} bytes", before.len());
    for link in store.links(
        "sample",
        "html/html_course_map.html",
        At::Latest,
        Direction::Out,
    )? {
        println!(
            "  {} {} -> {:?}",
            link.kind.as_str(),
            link.written,
            link.resolution
        );
    }
    println!("data dir: {}", data_dir.display());
    Ok(())
}
