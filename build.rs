//! Rebuild when the bundled sample data changes: `blockstore seed` embeds
//! `examples/sample-course`, `examples/sample-library` and `examples/seed`
//! with `include_dir!` (and the server embeds `ui/`), which cannot tell cargo
//! about those files itself.

fn main() {
    for dir in [
        "examples/sample-course",
        "examples/sample-library",
        "examples/seed",
        "ui",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
