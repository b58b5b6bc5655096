//! Issue 16 item 2: an image shows its pixel size; an SVG is shown as an
//! image at its own size. Seeded with the project's sample course
//! (`examples/sample-course`) and files written through the API.

use super::harness::Browser;
use super::*;

/// The sample course seeded (`blockstore seed`), served with `args`, and a
/// browser; panics without Chromium.
#[track_caller]
fn sample(args: &[&str]) -> Ui {
    require_browser();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = cli_json(&data, &["seed"]);
    let slug = seeded["collections"][0]["collection"]
        .as_str()
        .expect("seed names the collection it loaded")
        .to_string();
    let server = Server::start_in(&data, args);
    let b = Browser::launch(&format!("http://{}", server.addr));
    Ui {
        b,
        server,
        slug,
        _dir: dir,
    }
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn an_image_shows_its_pixel_size_and_an_svg_its_own_size() {
    let ui = sample(&[]);
    let b = &ui.b;

    // A PNG: its natural size next to its byte size.
    ui.open(&format!("/c/{}/f/static/olx-tree.png", ui.slug), "file");
    b.wait_css("dl.meta [data-size] [data-pixels]");
    let natural = b.js("const i = document.querySelector('img.preview'); \
         return `${i.naturalWidth} × ${i.naturalHeight} px`;");
    assert_eq!(
        b.attr("[data-pixels]", "data-pixels").as_deref(),
        natural.as_str()
    );
    assert!(b.text("[data-size]").contains(natural.as_str().unwrap()));
    b.screenshot("image-pixels");

    // An SVG with a width and height: an image at 40 × 30 CSS px.
    ui.put(
        "static/box.svg",
        br##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><script>document.title = 'pwned';</script><rect width="40" height="30" fill="#0a58ca"/></svg>"##,
    );
    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.js("localStorage.setItem('bs-sentinel', 'kept');");
    ui.open(&format!("/c/{}/f/static/box.svg", ui.slug), "file");
    assert_eq!(b.count("iframe.preview"), 0, "an image, never a frame");
    b.wait_css("[data-pixels]");
    let shown = b.js("const i = document.querySelector('img.preview'); \
         return { w: i.clientWidth, h: i.clientHeight, loaded: i.complete && i.naturalWidth > 0, \
                  data: i.src.startsWith('data:image/svg+xml') };");
    assert_eq!(
        shown,
        json!({ "w": 40, "h": 30, "loaded": true, "data": true }),
        "its own size"
    );
    assert_eq!(
        b.attr("[data-pixels]", "data-pixels").as_deref(),
        Some("40 × 30 px")
    );
    assert_eq!(b.count("svg script, main svg rect"), 0, "never inline");
    assert_untouched(b, "the SVG preview");
    b.screenshot("svg-own-size");

    // Only a viewBox, wider than the column: its ratio, scaled down to fit.
    ui.put(
        "static/wide.svg",
        br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4000 100"><rect width="4000" height="100" fill="#116329"/></svg>"##,
    );
    ui.open(&format!("/c/{}/f/static/wide.svg", ui.slug), "file");
    b.wait_css("[data-pixels]");
    let wide = b.js("const i = document.querySelector('img.preview'); \
         return { w: i.clientWidth, h: i.clientHeight, column: i.closest('.preview-box').clientWidth };");
    let (w, h, column) = (
        wide["w"].as_f64().unwrap(),
        wide["h"].as_f64().unwrap(),
        wide["column"].as_f64().unwrap(),
    );
    assert!(
        w <= column && w < 4000.0,
        "scaled down to the column: {wide}"
    );
    assert!((w / h - 40.0).abs() < 1.0, "its ratio kept: {wide}");
    let pixels = b.attr("[data-pixels]", "data-pixels").unwrap();
    assert!(
        pixels.contains("× 100 px") && pixels.contains("viewBox"),
        "{pixels}"
    );
    require_dark(b);
    b.screenshot("svg-viewbox-dark");
    b.assert_no_js_errors();
}
