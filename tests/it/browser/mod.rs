//! The browser UI in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver: the real binary seeded and
//! serving on 127.0.0.1 port 0, one chromedriver and one browser session per
//! test. Each test is `#[ignore = "needs chromium ..."]` (and "... and
//! ../shared" for those seeded with the demo course), run by `cargo test --
//! --include-ignored` (`.ci/run`), where a missing browser or fixture is a
//! failure naming it. Screenshots of the main views go to the
//! repository's `target/ui-screenshots/`.
//!
//! The tests follow the UI's DOM contract: `body[data-ready=VIEW]` once a
//! view is rendered, and the ids, classes and data attributes named below.

mod harness;
mod preview;

use crate::common::*;
use crate::server::{Resp, Server};
use fantoccini::key::Key;
use harness::{js_str, Browser};
use serde_json::{json, Value};
use std::path::Path;

const API: &str = "/api/v1";

/// A seeded store served by the real binary, and a browser on it. Fields
/// drop in order: the browser first, then the server, then the temp dir.
struct Ui {
    b: Browser,
    server: Server,
    /// The seeded collection's slug (empty for an empty store).
    slug: String,
    _dir: tempfile::TempDir,
}

/// Panics, naming what to install, unless the browser can run here.
#[track_caller]
fn require_browser() {
    require_machine(
        "run Chromium over WebDriver (needs /usr/bin/chromium and /usr/bin/chromedriver: \
         apt-get install chromium chromium-driver)",
        harness::available(),
    );
}

/// Switches the page to the dark scheme; panics if chromedriver refuses.
#[track_caller]
fn require_dark(b: &Browser) {
    require_machine(
        "emulate prefers-color-scheme: dark (chromedriver refused \
         Emulation.setEmulatedMedia over goog/cdp/execute; Debian's chromium-driver does it)",
        b.color_scheme("dark"),
    );
}

impl Ui {
    /// The demo course seeded (published as version 1) with `blockstore seed
    /// --from`, served, and a browser; panics without Chromium or the shared
    /// fixture.
    #[track_caller]
    fn demo() -> Ui {
        require_browser();
        let course = demo_course();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let seeded = cli_json(&data, &["seed", "--from", course.to_str().unwrap()]);
        let slug = seeded["collections"][0]["collection"]
            .as_str()
            .expect("seed names the collection it loaded")
            .to_string();
        Ui::serve(dir, &data, slug)
    }

    /// An empty store, served, and a browser; panics without Chromium.
    #[track_caller]
    fn empty() -> Ui {
        require_browser();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Ui::serve(dir, &data, String::new())
    }

    fn serve(dir: tempfile::TempDir, data: &Path, slug: String) -> Ui {
        let server = Server::start_in(data, &[]);
        let b = Browser::launch(&format!("http://{}", server.addr));
        Ui {
            b,
            server,
            slug,
            _dir: dir,
        }
    }

    /// `/api/v1/collections/{slug}/{rest}`.
    fn api(&self, rest: &str) -> String {
        format!("{API}/collections/{}/{rest}", self.slug)
    }

    /// Writes `bytes` to the draft of `path` through the REST API.
    #[track_caller]
    fn put(&self, path: &str, bytes: &[u8]) -> Value {
        let resp = self.server.put(&self.api(&format!("raw/{path}")), bytes);
        assert!(
            resp.status == 200 || resp.status == 201,
            "PUT {path}: {} {}",
            resp.status,
            resp.text()
        );
        resp.json()
    }

    /// The draft bytes of `path`.
    #[track_caller]
    fn raw(&self, path: &str) -> Vec<u8> {
        let resp = self.server.get(&self.api(&format!("raw/{path}")));
        assert_eq!(resp.status, 200, "GET raw {path}: {}", resp.text());
        resp.body
    }

    /// Publishes the drafts; returns the new collection version's number.
    #[track_caller]
    fn publish(&self, message: &str) -> i64 {
        let report = self
            .server
            .json("POST", &self.api("publish"), json!({ "message": message }))
            .expect(201);
        report["number"]
            .as_i64()
            .expect("publish names its version")
    }

    #[track_caller]
    fn get_json(&self, rest: &str) -> Value {
        self.server.get(&self.api(rest)).expect(200)
    }

    /// The links of `path` (`out` or `in`).
    fn links(&self, path: &str, direction: &str) -> Vec<Value> {
        self.get_json(&format!("links?path={path}&direction={direction}"))["links"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The display name a listing gives `path` in the draft.
    fn display_name(&self, path: &str) -> Option<String> {
        let listing = self.get_json(&format!("files?prefix={path}&page_size=1"));
        listing["results"][0]["display_name"]
            .as_str()
            .map(str::to_owned)
    }

    /// Every file path under `prefix` in the draft.
    fn paths(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let listing =
                self.get_json(&format!("files?prefix={prefix}&page_size=1000&page={page}"));
            out.extend(
                listing["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["path"].as_str().unwrap().to_string()),
            );
            if listing["next"].is_null() {
                return out;
            }
            page += 1;
        }
    }

    /// An html block of the course outline whose body shows a resolved image
    /// asset: (`html/ID.xml`, `html/ID.html`, `static/....png`), the first
    /// in path order.
    fn html_unit_with_image(&self) -> (String, String, String) {
        let paths = self.paths("html/");
        for body in paths.iter().filter(|p| p.ends_with(".html")) {
            let xml = format!("{}.xml", body.trim_end_matches(".html"));
            if !paths.contains(&xml) {
                continue;
            }
            let image = self.links(body, "out").into_iter().find_map(|link| {
                let target = link["resolution"]["path"].as_str()?;
                let image = [".png", ".jpg", ".jpeg", ".gif"]
                    .iter()
                    .any(|ext| target.to_ascii_lowercase().ends_with(ext));
                (link["kind"] == "static" && link["resolution"]["status"] == "resolved" && image)
                    .then(|| target.to_string())
            });
            let Some(image) = image else { continue };
            if self.parent(&xml).is_some() {
                return (xml, body.clone(), image);
            }
        }
        panic!("the demo course has an html block whose body shows an image");
    }

    /// The outline parent of `path`: the source of its incoming `child` link.
    fn parent(&self, path: &str) -> Option<String> {
        self.links(path, "in").into_iter().find_map(|link| {
            (link["kind"] == "child")
                .then(|| link["source_path"].as_str().map(str::to_string))
                .flatten()
        })
    }

    /// `path`'s outline ancestors, the root first.
    fn ancestors(&self, path: &str) -> Vec<String> {
        let mut chain = Vec::new();
        let mut at = path.to_string();
        while let Some(parent) = self.parent(&at) {
            if chain.contains(&parent) || chain.len() > 32 {
                break;
            }
            chain.push(parent.clone());
            at = parent;
        }
        chain.reverse();
        chain
    }

    /// Opens `path` and waits for `view`.
    #[track_caller]
    fn open(&self, path: &str, view: &str) {
        self.b.goto(path);
        self.b.wait_ready(view);
    }

    /// In the outline, expands `target`'s ancestors (root first, each only
    /// when collapsed) until its node link shows, then clicks it.
    #[track_caller]
    fn click_outline_node(&self, target: &str) {
        let chain = self.ancestors(target);
        let probe = "const [chain, target] = arguments;\
            const node = p => document.querySelector('li.node[data-path=\"' + CSS.escape(p) + '\"]');\
            const shown = e => !!e && e.getClientRects().length > 0;\
            const t = node(target);\
            if (t && shown(t.querySelector('a.node-link'))) return {done: true};\
            for (const p of chain) {\
              const li = node(p);\
              const toggle = li && li.querySelector('button.toggle');\
              if (shown(toggle) && toggle.getAttribute('aria-expanded') === 'false') return {expand: p};\
            }\
            return {};";
        let args = vec![json!(chain), json!(target)];
        self.b
            .wait_for(&format!("the outline node {target:?} to show"), |b| {
                let step = b.js_with(probe, args.clone());
                if step["done"] == true {
                    return Some(());
                }
                if let Some(p) = step["expand"].as_str() {
                    let node = format!("li.node[data-path={}]", js_str(p));
                    b.click(&format!("{node} button.toggle"));
                    b.wait_js(
                        &format!("{p} to expand"),
                        &format!(
                            "const t = document.querySelector({}); \
                             return !t || t.getAttribute('aria-expanded') === 'true';",
                            js_str(&format!("{node} button.toggle"))
                        ),
                    );
                }
                None
            });
        self.b.navigate("file", |b| {
            b.click(&format!(
                "li.node[data-path={}] a.node-link",
                js_str(target)
            ))
        });
    }
}

/// The digits of `text` as a number ("1,234 units" is 1234).
fn number(text: &str) -> u64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("a number in {text:?}"))
}

/// `[name=value]` as a CSS attribute selector (the value quoted).
fn attr_is(name: &str, value: &str) -> String {
    format!("[{name}={}]", js_str(value))
}

/// The value shown by a `[data-NAME]` element: its attribute when it has a
/// value, else its text.
fn data_value(b: &Browser, scope: &str, name: &str) -> String {
    let css = format!("{scope} [data-{name}]");
    b.wait_css(&css);
    b.js(&format!(
        "const e = document.querySelector({}); \
         const a = e.getAttribute({}); \
         return (a && a.length ? a + ' ' : '') + e.textContent.trim();",
        js_str(&css),
        js_str(&format!("data-{name}"))
    ))
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The text of the element with `data-NAME` under `scope`, as a number,
/// once it has one (a count still loading shows "…" with `aria-busy`).
fn data_number(b: &Browser, scope: &str, name: &str) -> u64 {
    let css = format!("{scope} [data-{name}]");
    b.wait_css(&format!("{css}:not([aria-busy])"));
    number(&b.text(&css))
}

// ---------------------------------------------------------------------------
// 1. Clicking through: collections, outline, a unit, its diff, a linked asset,
//    and back.

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn click_through_collections_outline_unit_diff_asset_and_back() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, body, image) = ui.html_unit_with_image();

    // A second version of the unit, through the API.
    let original = String::from_utf8(ui.raw(&xml)).unwrap();
    let edited = if original.contains("display_name=\"") {
        original.replacen("display_name=\"", "display_name=\"Edited in v2: ", 1)
    } else {
        format!("{original}\n<!-- edited in v2 -->\n")
    };
    assert_ne!(original, edited);
    ui.put(&xml, edited.as_bytes());
    assert_eq!(ui.publish("Second version for the browser test"), 2);

    // Collections: the card and its figures.
    ui.open("/", "collections");
    let card = format!(".card{}", attr_is("data-slug", &ui.slug));
    b.wait_css(&card);
    let summary = ui
        .server
        .get(&format!("{API}/collections/{}", ui.slug))
        .expect(200);
    assert_eq!(
        data_number(b, &card, "units"),
        summary["units"].as_u64().unwrap()
    );
    assert_eq!(
        data_number(b, &card, "assets"),
        summary["assets"].as_u64().unwrap()
    );
    assert_eq!(data_number(b, &card, "draft-changes"), 0);
    // The card counts the broken links that break the course (in loaded content).
    let broken = ui.get_json("links?broken=true");
    let broken_count = broken["broken_loaded"].as_u64().unwrap();
    assert_eq!(data_number(b, &card, "broken"), broken_count);
    assert_eq!(
        b.attr(&format!("{card} a.card-link"), "href").as_deref(),
        Some(format!("/c/{}", ui.slug).as_str())
    );
    b.screenshot("collections");

    // The collection opens on its outline (fewer than 10,000 units).
    b.navigate("collection", |b| b.click(&format!("{card} a.card-link")));
    assert!(
        b.location().starts_with(&format!("/c/{}", ui.slug)),
        "{}",
        b.location()
    );
    b.wait_css("ul.outline li.node[data-path][data-block-type]");
    assert!(b.exists("nav.tabs a[data-tab=\"outline\"]"));
    assert!(!b.text("h1").is_empty(), "the collection has a title");
    b.screenshot("outline");

    // Collapsed subtrees are built when first opened; "Expand all" builds and
    // opens every one of them, "Collapse all" closes them again.
    fn nodes(node: &Value) -> usize {
        1 + node["children"]
            .as_array()
            .map_or(0, |kids| kids.iter().map(nodes).sum())
    }
    let outline = ui.get_json("outline?version=draft");
    let total: usize = outline["roots"].as_array().unwrap().iter().map(nodes).sum();
    let tree = "ul.outline[aria-label=\"OLX outline\"]";
    let built = b.count(&format!("{tree} li.node"));
    assert!(
        built < total,
        "collapsed subtrees wait until opened: {built} of {total} nodes built"
    );
    b.click("#expand-all");
    assert_eq!(b.count(&format!("{tree} li.node")), total);
    assert_eq!(
        b.count(&format!("{tree} button.toggle[aria-expanded=\"false\"]")),
        0
    );
    b.click("#collapse-all");
    assert_eq!(
        b.count(&format!("{tree} button.toggle[aria-expanded=\"true\"]")),
        0
    );
    assert_eq!(
        b.count(&format!("{tree} li.node")),
        total,
        "closing keeps what was built"
    );

    // The keyboard walks the tree: Right opens a row, then moves into it;
    // Down/Up step through visible rows; Left closes, then goes to the parent.

    let focused_path = |b: &Browser| {
        b.js("const li = document.activeElement.closest('li.node'); return li ? li.dataset.path : null;")
    };
    let root_li = format!("{tree} > li.node");
    let root = b
        .attr(&root_li, "data-path")
        .expect("the root node has a path");
    b.js(&format!(
        "document.querySelector({}).focus();",
        js_str(&format!("{root_li} > .node-row a.node-link"))
    ));
    assert_eq!(focused_path(b), root);
    let root_toggle = format!("{root_li} > .node-row > button.toggle");
    b.press(Key::Right);
    assert_eq!(
        b.attr(&root_toggle, "aria-expanded").as_deref(),
        Some("true")
    );
    b.press(Key::Right);
    let first_child = b
        .attr(&format!("{root_li} > ul > li.node"), "data-path")
        .unwrap();
    assert_eq!(focused_path(b), first_child, "Right moves into an open row");
    b.press(Key::Down);
    let second_child = b.js(&format!(
        "const li = document.querySelectorAll({})[1]; return li ? li.dataset.path : null;",
        js_str(&format!("{root_li} > ul > li.node"))
    ));
    assert_eq!(focused_path(b), second_child, "Down: the next visible row");
    b.press(Key::Up);
    assert_eq!(focused_path(b), first_child, "Up: the previous row");
    b.press(Key::Left);
    assert_eq!(focused_path(b), root, "Left from a closed row: its parent");
    b.press(Key::Left);
    assert_eq!(
        b.attr(&root_toggle, "aria-expanded").as_deref(),
        Some("false")
    );
    b.press(Key::End);
    assert_eq!(
        focused_path(b),
        root,
        "with the root closed, it is the last row"
    );

    // Down the outline to the html block (from the collapsed root).
    ui.click_outline_node(&xml);
    assert_eq!(b.location(), format!("/c/{}/f/{xml}", ui.slug));
    // The block's page shows its body, then its pointer: the edited file.
    let code = b.text("#html-block section[data-part=\"pointer\"] pre.code");
    assert!(
        code.contains("Edited in v2") || code.contains("edited in v2"),
        "the file view shows the draft (= version 2): {code}"
    );
    let detail = ui.get_json(&format!("files/{xml}"));
    assert!(data_value(b, "dl.meta", "uuid").contains(detail["uuid"].as_str().unwrap()));
    assert!(data_value(b, "dl.meta", "hash").contains(detail["hash"].as_str().unwrap()));
    b.wait_css("dl.meta [data-size]");
    b.wait_css("ol.versions li[data-version=\"1\"]");
    b.wait_css("ol.versions li[data-version=\"2\"]");
    b.screenshot("unit");

    // Its diff between versions 1 and 2.
    b.select("select#diff-from", "1");
    b.select("select#diff-to", "2");
    b.navigate("file", |b| b.click("button#show-diff"));
    assert!(
        b.location().contains("diff=1..2"),
        "show-diff navigates to ?diff=1..2: {}",
        b.location()
    );
    b.wait_css(".diff tr.add");
    b.wait_css(".diff tr.del");
    let added = b.js("return [...document.querySelectorAll('.diff tr.add')].map(r => r.textContent).join('\\n');");
    assert!(
        added.as_str().unwrap().contains("dited in v2"),
        "the added lines are version 2's: {added}"
    );
    // Word-level highlighting: only the inserted words are marked.
    let marked = b.text(".diff tr.add mark.word.add");
    assert!(
        marked.contains("Edited") && marked.len() < 40,
        "the inserted words, not the whole line: {marked:?}"
    );
    b.screenshot("diff");
    for layout in ["split", "unified"] {
        b.navigate("file", |b| b.click(&format!("a[data-layout=\"{layout}\"]")));
        // Unified is the default: only split is named in the URL.
        assert_eq!(
            b.location().contains("layout=split"),
            layout == "split",
            "{}",
            b.location()
        );
        b.wait_css(".diff tr.add");
    }
    let diff_location = b.location();

    // The block's body, then the image its body shows.
    let to_file = |path: &str| {
        format!(
            "ul#links-out li.link[data-status=\"resolved\"] a[href*={}]",
            js_str(&format!("/f/{path}"))
        )
    };
    b.navigate("file", |b| b.click(&to_file(&body)));
    assert_eq!(b.location(), format!("/c/{}/f/{body}", ui.slug));
    b.wait_css("ul#links-in li.link");
    b.navigate("file", |b| b.click(&to_file(&image)));
    assert_eq!(b.location(), format!("/c/{}/f/{image}", ui.slug));
    b.wait_js(
        "the image preview to load",
        "const i = document.querySelector('img.preview'); return !!i && i.complete && i.naturalWidth > 0;",
    );
    b.screenshot("asset");

    // Back: the body, then the diff, each rendered again.
    b.navigate("file", |b| b.back());
    assert_eq!(b.location(), format!("/c/{}/f/{body}", ui.slug));
    b.wait_css("pre.code");
    b.navigate("file", |b| b.back());
    assert_eq!(b.location(), diff_location);
    b.wait_css(".diff tr.add");
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 2. Publishing from the UI.

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn publish_from_the_ui_shows_the_new_version_in_the_timeline() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (_, body, _) = ui.html_unit_with_image();
    let mut bytes = ui.raw(&body);
    bytes.extend_from_slice(b"\n<p>A draft change to publish from the browser.</p>\n");
    ui.put(&body, &bytes);

    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.wait_js(
        "one draft change in the header",
        "const e = document.querySelector('[data-draft-changes]'); return !!e && e.textContent.replace(/\\D/g, '') === '1';",
    );

    // Search finds the file by part of its path and opens it; back returns.
    let stem = body.trim_start_matches("html/").trim_end_matches(".html");
    let fragment = &stem[..stem.len().min(10)];
    b.type_into("input#search", fragment);
    let hit = format!("#search-results a[href*={}]", js_str(&format!("/f/{body}")));
    b.wait_css(&hit);
    b.navigate("file", |b| b.click(&hit));
    assert_eq!(b.location(), format!("/c/{}/f/{body}", ui.slug));
    b.navigate("collection", |b| b.back());
    assert_eq!(b.location(), format!("/c/{}", ui.slug));

    // The files tab: a table of the top folder; the html folder says it
    // holds the draft change; its own URL lists it, names and all.
    b.navigate("collection", |b| b.click("nav.tabs a[data-tab=\"files\"]"));
    let html_folder = "#files-table tr.row.folder[data-path=\"html/\"]";
    b.wait_css(html_folder);
    assert!(
        b.text(html_folder).contains("1 draft change inside"),
        "{}",
        b.text(html_folder)
    );
    b.navigate("collection", |b| b.click(&format!("{html_folder} a")));
    assert_eq!(b.location(), format!("/c/{}/files/html/", ui.slug));
    let row = format!("#files-table tr.row{}", attr_is("data-path", &body));
    b.wait_css(&row);
    let name = b.text(&format!("{row} td.display-name"));
    assert!(
        !name.trim().is_empty(),
        "the body shows its block's display name"
    );
    assert!(b.text(&format!("{row} td.changed")).contains("draft"));
    assert!(b.exists(&format!("{row} td.changed .flag.pending")));
    let published = "#files-table tr.row.file td.changed a[href*=\"/v/1\"]";
    assert!(
        b.exists(published),
        "unchanged files say the version that last changed them"
    );
    b.screenshot("files");
    // Sorted by display name, by the server, and said in the URL.
    b.click("#files-table th button[data-sort=\"display_name\"]");
    b.wait_css("#files-table[data-sort=\"display_name\"]");
    assert!(
        b.location().ends_with("?sort=display_name"),
        "{}",
        b.location()
    );
    let names: Vec<String> = serde_json::from_value(b.js(
        "return [...document.querySelectorAll('#files-table tr.row.file td.display-name')].map((td) => td.textContent).filter(Boolean);",
    ))
    .unwrap();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert!(names.len() > 2 && names == sorted, "{names:?}");
    // Filtered by the display name, the path following.
    let word = name.split_whitespace().next().unwrap().to_string();
    b.type_into("#files-filter", &word);
    b.wait_js(
        "the filter to apply",
        &format!(
            "const rows = [...document.querySelectorAll('#files-table tr.row')]; return rows.length > 0 && rows.every((r) => r.textContent.toLowerCase().includes({}));",
            js_str(&word.to_lowercase())
        ),
    );
    assert!(b.location().contains("q="), "{}", b.location());
    // The breadcrumb goes back to the top folder.
    b.navigate("collection", |b| b.click(".folder-crumbs a"));
    assert_eq!(b.location(), format!("/c/{}/files", ui.slug));
    b.wait_css(html_folder);

    // Publish with a message.
    let message = "Published from the browser test";
    b.click("button#publish");
    b.wait_js(
        "the publish dialog to open",
        "const d = document.querySelector('dialog#publish-dialog'); return !!d && d.open;",
    );
    b.type_into("textarea#publish-message", message);
    b.click("button#publish-confirm");
    b.wait_js(
        "the publish dialog to close",
        "const d = document.querySelector('dialog#publish-dialog'); return !d || !d.open;",
    );

    // The timeline shows version 2 with its message.
    if !b.exists("ol.timeline") {
        b.navigate("collection", |b| {
            b.click("nav.tabs a[data-tab=\"history\"]")
        });
    }
    b.wait_css("ol.timeline li[data-version=\"2\"]");
    assert!(b
        .text("ol.timeline li[data-version=\"2\"]")
        .contains(message));
    b.wait_css("ol.timeline li[data-version=\"1\"]");
    b.wait_js(
        "no draft changes left in the header",
        "const e = document.querySelector('[data-draft-changes]'); return !!e && e.textContent.replace(/\\D/g, '') === '0';",
    );
    let versions = ui.get_json("versions");
    assert_eq!(versions["count"], 2);
    let latest = versions["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["number"] == 2)
        .expect("version 2 is listed")
        .clone();
    assert_eq!(latest["message"], message);
    b.screenshot("history");

    // The timeline's compare form opens the diff of two versions, and the
    // diff page's own form moves on to another pair. (A fresh load: the
    // publish's events may still re-render the timeline, form and all.)
    ui.open(&format!("/c/{}/history", ui.slug), "collection");
    b.select("form.compare select#from", "1");
    b.select("form.compare select#to", "2");
    b.navigate("diff", |b| b.click("form.compare button[type=submit]"));
    assert_eq!(b.location(), format!("/c/{}/diff?from=1&to=2", ui.slug));
    b.wait_css(&format!(
        "ul.changes li[data-status]{}",
        attr_is("data-path", &body)
    ));
    b.select("form.compare select#from", "2");
    b.select("form.compare select#to", "draft");
    b.navigate("diff", |b| b.click("form.compare button[type=submit]"));
    assert_eq!(b.location(), format!("/c/{}/diff?from=2&to=draft", ui.slug));
    b.back();
    b.wait_ready("diff");
    b.back();
    b.wait_ready("collection");
    b.wait_css("ol.timeline li[data-version=\"2\"]");

    // The version's page lists what changed.
    b.navigate("version", |b| {
        b.click("ol.timeline li[data-version=\"2\"] a")
    });
    assert_eq!(b.location(), format!("/c/{}/v/2", ui.slug));
    let change = format!(
        "ul.changes li[data-status]{} a",
        attr_is("data-path", &body)
    );
    b.wait_css(&change);
    assert_eq!(b.count("ul.changes li[data-status]"), 1);
    b.screenshot("version");
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 3. Live updates from the event stream.

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn an_api_change_appears_live_without_navigation() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, body, _) = ui.html_unit_with_image();

    // A file view: its source changes in place.
    ui.open(&format!("/c/{}/f/{body}", ui.slug), "file");
    b.wait_css("pre.code");
    b.js("window.__bsSamePage = true;");
    let location = b.location();
    let marker = "Changed live through the API";
    let mut bytes = ui.raw(&body);
    bytes.extend_from_slice(format!("\n<p>{marker}</p>\n").as_bytes());
    ui.put(&body, &bytes);
    b.wait_js(
        "the file view to show the new source",
        &format!(
            "const c = document.querySelector('pre.code'); return !!c && c.textContent.includes({});",
            js_str(marker)
        ),
    );
    b.wait_js(
        "#live-notice to say what happened",
        "const n = document.querySelector('#live-notice'); return !!n && n.textContent.trim().length > 0;",
    );
    assert_eq!(
        b.js("return document.querySelector('#live-notice').getAttribute('role');"),
        "status"
    );
    let notice = b.text("#live-notice");
    assert!(
        notice.contains(&format!("{body} changed in the draft")),
        "the notice says what changed: {notice}"
    );
    assert_eq!(
        b.js("return window.__bsSamePage === true;"),
        true,
        "no reload"
    );
    assert_eq!(b.location(), location, "no navigation");

    // A refresh keeps a half-made choice: the compare form's picks and focus.
    let before = b.js("return document.querySelector('#diff-from').value;");
    assert_eq!(before, "1", "the form starts at version 1");
    b.select("select#diff-from", "draft");
    b.js("document.querySelector('#diff-from').focus();");
    let again = "Changed live a second time";
    bytes.extend_from_slice(format!("<p>{again}</p>\n").as_bytes());
    ui.put(&body, &bytes);
    b.wait_js(
        "the second change to show",
        &format!(
            "const c = document.querySelector('pre.code'); return !!c && c.textContent.includes({});",
            js_str(again)
        ),
    );
    assert_eq!(
        b.js("return document.querySelector('#diff-from').value;"),
        "draft"
    );
    assert_eq!(b.js("return document.activeElement.id;"), "diff-from");

    // The collection's header counts drafts as they happen.
    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.wait_js(
        "one draft change",
        "const e = document.querySelector('[data-draft-changes]'); return !!e && e.textContent.replace(/\\D/g, '') === '1';",
    );
    b.js("window.__bsSamePage = true;");
    let original = String::from_utf8(ui.raw(&xml)).unwrap();
    ui.put(&xml, format!("{original}\n<!-- live -->\n").as_bytes());
    b.wait_js(
        "two draft changes, live",
        "const e = document.querySelector('[data-draft-changes]'); return !!e && e.textContent.replace(/\\D/g, '') === '2';",
    );
    assert_eq!(
        b.js("return window.__bsSamePage === true;"),
        true,
        "no reload"
    );
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 4. Broken links, and the links picture.

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn a_broken_link_is_marked_and_drawn() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (_, _, image) = ui.html_unit_with_image();
    let name = image.trim_start_matches("static/");
    ui.put(
        "html/broken_demo.xml",
        br#"<html filename="broken_demo" display_name="Broken demo"/>"#,
    );
    ui.put(
        "html/broken_demo.html",
        format!(
            "<p>Fine: <img src=\"/static/{name}\"/></p>\n\
             <p>Broken: <img src=\"/static/no-such-image.png\"/></p>\n"
        )
        .as_bytes(),
    );

    ui.open(&format!("/c/{}/f/html/broken_demo.html", ui.slug), "file");
    let broken = "ul#links-out li.link[data-status=\"broken\"]";
    b.wait_css(broken);
    assert_eq!(b.count(broken), 1);
    assert!(b.text(broken).contains("no-such-image.png"));
    b.wait_css("ul#links-out li.link[data-status=\"resolved\"] a");
    b.wait_css("ul#links-in li.link");

    // The picture around it: the file in the middle, the missing target
    // marked, every node a link.
    b.navigate("graph", |b| b.click("a#graph-link"));
    assert_eq!(
        b.location(),
        format!("/c/{}/graph/html/broken_demo.html", ui.slug)
    );
    b.wait_css("svg.graph g.node.center[data-path=\"html/broken_demo.html\"]");
    b.wait_css("svg.graph g.node.broken");
    b.wait_css(&format!("svg.graph g.node{}", attr_is("data-path", &image)));
    b.wait_css("svg.graph g.node[data-path=\"html/broken_demo.xml\"]");
    b.screenshot("graph");
    b.navigate("file", |b| {
        b.click(&format!(
            "svg.graph g.node{} a",
            attr_is("data-path", &image)
        ))
    });
    assert_eq!(b.location(), format!("/c/{}/f/{image}", ui.slug));

    // The collection's link report names it too: apart, since no unit of the
    // course points at html/broken_demo.xml, so edx-platform never loads it;
    // and an absolute URL is listed as external, never broken.
    ui.put(
        "html/broken_demo.html",
        format!(
            "<p>Fine: <img src=\"/static/{name}\"/></p>\n\
             <p>Broken: <img src=\"/static/no-such-image.png\"/></p>\n\
             <p><a href=\"https://example.org/elsewhere\">elsewhere</a></p>\n"
        )
        .as_bytes(),
    );
    ui.open(&format!("/c/{}/links", ui.slug), "collection");
    b.wait_js(
        "the link report to list the broken reference",
        "return document.body.innerText.includes('no-such-image.png');",
    );
    let row = |status: &str| b.text(&format!("#links-table tr[data-status=\"{status}\"]"));
    assert!(
        row("unloaded").contains("no-such-image.png"),
        "listed as in a file edx-platform never loads"
    );
    assert!(
        b.count("#links-table tr[data-status=\"broken\"]") == 0
            || !row("broken").contains("no-such-image.png"),
        "not among the course's broken links"
    );
    assert!(
        b.text("#links-table")
            .contains("https://example.org/elsewhere"),
        "the absolute URL is listed"
    );
    // The filters: status external, then text.
    b.select("#links-status", "external");
    b.wait_js(
        "only external rows shown",
        "return [...document.querySelectorAll('#links-table tbody tr')].every((tr) => tr.hidden === (tr.dataset.status !== 'external'));",
    );
    b.type_into("#links-filter", "example.org");
    b.wait_js(
        "one row shown",
        "return [...document.querySelectorAll('#links-table tbody tr')].filter((tr) => !tr.hidden).length === 1;",
    );
    assert!(
        b.text("section#orphans").contains("html/broken_demo.xml"),
        "the unreached file is an orphan, and the report says what that means: {}",
        b.text("section#orphans")
    );
    b.screenshot("links-report");
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 5. Stored HTML and SVG never run in the UI's origin.

/// What stored pages try to reach from their sandbox: the UI's title (the
/// UI names each view in it; the pages try to set "pwned"), its storage, its
/// cookies and its location. Call after `localStorage.bs-sentinel = 'kept'`.
#[track_caller]
fn assert_untouched(b: &Browser, after: &str) {
    let title = b.js("return document.title;");
    assert!(
        !title.as_str().unwrap_or_default().contains("pwned"),
        "title {title}, after {after}"
    );
    assert_eq!(
        b.js("return localStorage.getItem('pwned');"),
        Value::Null,
        "localStorage, after {after}"
    );
    assert_eq!(
        b.js("return localStorage.getItem('bs-sentinel');"),
        "kept",
        "localStorage, after {after}"
    );
    assert!(
        !b.js("return document.cookie;")
            .as_str()
            .unwrap_or_default()
            .contains("pwned"),
        "cookie, after {after}"
    );
    assert!(!b.location().contains("pwned"), "location, after {after}");
}

const EVIL_HTML: &[u8] =
    br#"<!doctype html><html><head><title>evil</title></head><body><p>evil asset</p>
<script>
try { parent.document.title = 'pwned'; } catch (e) {}
try { top.document.title = 'pwned'; } catch (e) {}
try { top.localStorage.setItem('pwned', '1'); } catch (e) {}
try { parent.localStorage.setItem('pwned', '1'); } catch (e) {}
try { localStorage.setItem('pwned', '1'); } catch (e) {}
try { document.cookie = 'pwned=1; path=/'; } catch (e) {}
try { top.location.hash = 'pwned'; } catch (e) {}
document.documentElement.dataset.ran = 'yes';
</script></body></html>"#;

const EVIL_SVG: &[u8] = br#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><script>
try { parent.document.title = 'pwned'; } catch (e) {}
try { top.localStorage.setItem('pwned', '1'); } catch (e) {}
try { document.cookie = 'pwned=1; path=/'; } catch (e) {}
</script><rect width="40" height="40" fill="red"/></svg>"#;

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn stored_html_and_svg_never_run_in_the_uis_origin() {
    let ui = Ui::demo();
    let b = &ui.b;
    let body = br#"<p>An html body with active content.</p>
<script>document.title = 'pwned'; localStorage.setItem('pwned', '1');</script>
<img src="x" onerror="document.title = 'pwned'">"#;
    ui.put("static/evil.html", EVIL_HTML);
    ui.put("static/evil.svg", EVIL_SVG);
    ui.put("html/evil_body.html", body);

    // The raw bytes carry their own sandbox, for any client.
    for path in ["static/evil.html", "static/evil.svg", "html/evil_body.html"] {
        let raw: Resp = ui.server.get(&ui.api(&format!("raw/{path}")));
        assert_eq!(raw.status, 200);
        assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
        let csp = raw.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("sandbox"), "{path}: CSP {csp:?}");
    }
    let page = ui.server.get(&format!("/c/{}/f/static/evil.html", ui.slug));
    assert_eq!(page.status, 200);
    assert!(page.header("content-security-policy").is_some());

    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.js("localStorage.setItem('bs-sentinel', 'kept');");

    // The HTML asset's preview: a sandboxed frame without the UI's origin.
    ui.open(&format!("/c/{}/f/static/evil.html", ui.slug), "file");
    let sandbox = b
        .attr("iframe.preview", "sandbox")
        .expect("the preview frame has a sandbox attribute");
    assert!(
        !sandbox.contains("allow-same-origin"),
        "sandbox={sandbox:?}"
    );
    let ran = b.in_frame("iframe.preview", |b| {
        b.wait_js(
            "the preview document to load",
            "return document.readyState === 'complete';",
        );
        b.js("return document.documentElement.dataset.ran || null;")
    });
    eprintln!("the evil page's script ran in its sandbox: {ran}");
    assert_untouched(b, "the HTML preview");
    b.screenshot("asset-html-sandboxed");

    // The SVG: an image, or a sandboxed frame likewise.
    ui.open(&format!("/c/{}/f/static/evil.svg", ui.slug), "file");
    b.wait_css("img.preview, iframe.preview");
    if b.exists("iframe.preview") {
        let sandbox = b.attr("iframe.preview", "sandbox").expect("a sandbox");
        assert!(
            !sandbox.contains("allow-same-origin"),
            "sandbox={sandbox:?}"
        );
        b.in_frame("iframe.preview", |b| {
            b.wait_js(
                "the SVG to load",
                "return document.readyState === 'complete';",
            );
        });
    } else {
        b.wait_js(
            "the SVG image to load",
            "const i = document.querySelector('img.preview'); return !!i && i.complete;",
        );
    }
    assert_untouched(b, "the SVG preview");

    // An HTML unit is source: escaped text, never markup.
    ui.open(&format!("/c/{}/f/html/evil_body.html", ui.slug), "file");
    let code = b.text("pre.code");
    assert!(code.contains("<script>document.title"), "{code}");
    assert!(code.contains("onerror="), "{code}");
    assert_eq!(
        b.count("pre.code script, pre.code img"),
        0,
        "no live elements"
    );
    assert_untouched(b, "the HTML unit's source");

    // Even opened directly, the raw asset is an opaque origin.
    b.goto(&ui.api("raw/static/evil.html"));
    b.wait_js(
        "the raw page to load",
        "return document.readyState === 'complete';",
    );
    ui.open(&format!("/c/{}", ui.slug), "collection");
    assert_untouched(b, "opening the raw asset itself");
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 5b. With `serve --token`: the UI asks for it once, and previews (which
// elements cannot fetch with a header) still load, with stored pages inert.

#[test]
#[ignore = "needs chromium and chromedriver"]
fn with_a_token_previews_load_and_stored_pages_stay_inert() {
    require_browser();
    const TOKEN: &str = "s3cret-token";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = cli_json(&data, &["seed"]);
    let slug = seeded["collections"][0]["collection"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Server::start_in(&data, &["--token", TOKEN]);
    let b = Browser::launch(&format!("http://{}", server.addr));
    let ui = Ui {
        b,
        server,
        slug,
        _dir: dir,
    };
    let b = &ui.b;
    let bearer = format!("Bearer {TOKEN}");
    for (path, bytes) in [
        ("static/evil.html", EVIL_HTML),
        ("static/evil.svg", EVIL_SVG),
    ] {
        let put = ui
            .server
            .request("PUT", &ui.api(&format!("raw/{path}")))
            .header("Authorization", &bearer)
            .body(bytes)
            .send();
        assert_eq!(put.status, 201, "PUT {path}: {}", put.text());
    }

    // The first view asks for the token; it is kept for the tab.
    let pdf = "static/olx-cheatsheet.pdf";
    b.goto(&format!("/c/{}/f/{pdf}", ui.slug));
    b.wait_ready("error");
    assert!(b.exists("form.token-form input#token"));
    b.js("localStorage.setItem('bs-sentinel', 'kept');");
    b.type_into("#token", TOKEN);
    b.navigate("file", |b| b.click("form.token-form button[type=submit]"));

    // A PDF: a frame on a blob: of the bytes fetched with the token.
    let blob = |b: &Browser, css: &str, attr: &str| {
        b.wait_js(
            &format!("{css} to get its bytes"),
            &format!(
                "const e = document.querySelector({}); const u = e && e.getAttribute({});\
                 return u && u.startsWith('blob:') ? u : null;",
                js_str(css),
                js_str(attr)
            ),
        )
    };
    blob(b, "iframe.preview.pdf", "src");
    let shown = b.in_frame("iframe.preview.pdf", |b| {
        b.wait_js(
            "the PDF to load",
            "return document.readyState === 'complete' ? document.contentType : null;",
        )
    });
    assert_eq!(shown, "application/pdf", "the frame shows the PDF");
    // Raw downloads (a new tab could not send the token).
    assert!(b.attr(".section-head a", "download").is_some());

    // A PNG: an image from a blob:, decoded.
    ui.open(&format!("/c/{}/f/static/olx-tree.png", ui.slug), "file");
    blob(b, "img.preview", "src");
    b.wait_js(
        "the image to decode",
        "const i = document.querySelector('img.preview'); return i.complete && i.naturalWidth > 0;",
    );

    // SVG: an image (which never runs scripts) from a data: URL.
    ui.open(&format!("/c/{}/f/static/evil.svg", ui.slug), "file");
    b.wait_js(
        "the SVG image to decode",
        "const i = document.querySelector('img.preview');\
         return !!i && i.src.startsWith('data:image/svg+xml') && i.complete && i.naturalWidth > 0;",
    );
    assert_eq!(b.count("iframe.preview"), 0);
    assert_untouched(b, "the SVG preview with a token");

    // HTML: a sandboxed srcdoc frame (never a blob: of the UI's origin).
    ui.open(&format!("/c/{}/f/static/evil.html", ui.slug), "file");
    assert_eq!(
        b.count("form.compare"),
        0,
        "a file only in the draft has nothing to compare"
    );
    b.click_text("button", "Show rendered preview");
    let sandbox = b.attr("iframe.preview", "sandbox").expect("a sandbox");
    assert!(!sandbox.contains("allow-same-origin") && !sandbox.contains("allow-scripts"));
    assert!(b.attr("iframe.preview", "src").is_none());
    let shown = b.in_frame("iframe.preview", |b| {
        b.wait_js(
            "the preview document to load",
            "return document.readyState === 'complete' && !!document.body;",
        );
        (
            b.js("return document.body.innerText;"),
            b.js("return document.documentElement.dataset.ran || null;"),
        )
    });
    assert!(
        shown.0.as_str().unwrap_or_default().contains("evil asset"),
        "{shown:?}"
    );
    assert_eq!(shown.1, Value::Null, "the page's script ran");
    assert_untouched(b, "the HTML preview with a token");
    b.screenshot("token-html-preview");

    // A reload keeps the token (sessionStorage): no second prompt.
    b.reload();
    b.wait_ready("file");
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 6. Deep links and reloads.

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn deep_links_and_reloads_render_every_view() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, _, _) = ui.html_unit_with_image();
    let original = String::from_utf8(ui.raw(&xml)).unwrap();
    ui.put(&xml, format!("{original}\n<!-- v2 -->\n").as_bytes());
    assert_eq!(ui.publish("v2"), 2);
    ui.put(
        &xml,
        format!("{original}\n<!-- v2 -->\n<!-- draft -->\n").as_bytes(),
    );

    let s = &ui.slug;
    let changed = format!("ul.changes li[data-status]{}", attr_is("data-path", &xml));
    let cases = [
        (
            format!("/c/{s}/f/{xml}?diff=1..draft"),
            "file",
            ".diff tr.add".to_string(),
        ),
        (
            format!("/c/{s}/f/{xml}?diff=1..2&layout=split"),
            "file",
            ".diff tr.add".to_string(),
        ),
        (
            format!("/c/{s}/f/{xml}?v=1"),
            "file",
            "ol.versions li[data-version=\"draft\"]".to_string(),
        ),
        (format!("/c/{s}/v/2"), "version", changed.clone()),
        (
            format!("/c/{s}/diff?from=1&to=draft"),
            "diff",
            changed.clone(),
        ),
        (
            format!("/c/{s}/outline"),
            "collection",
            "ul.outline li.node".to_string(),
        ),
        (
            format!("/c/{s}/files"),
            "collection",
            "#files-table .row".to_string(),
        ),
        (
            format!("/c/{s}/history"),
            "collection",
            "ol.timeline li[data-version=\"2\"]".to_string(),
        ),
        (
            format!("/c/{s}/links"),
            "collection",
            "nav.tabs a[data-tab=\"links\"]".to_string(),
        ),
        (
            format!("/c/{s}/graph/{xml}"),
            "graph",
            format!("svg.graph g.node.center{}", attr_is("data-path", &xml)),
        ),
        (
            "/".to_string(),
            "collections",
            format!(".card{}", attr_is("data-slug", s)),
        ),
    ];
    for (url, view, shows) in &cases {
        ui.open(url, view);
        b.wait_css(shows);
        b.reload();
        b.wait_ready(view);
        b.wait_css(shows);
        assert_eq!(&b.location(), url, "the URL survives a reload");
        b.assert_no_js_errors();
        // The page's preload hints are taken over by the UI's own requests,
        // not fetched a second time.
        let twice = b.js(
            "const names = performance.getEntriesByType('resource').map(e => e.name)\
               .filter(n => new URL(n).pathname.startsWith('/api/'));\
             return names.filter((n, i) => names.indexOf(n) !== i);",
        );
        assert_eq!(twice, json!([]), "{url}: API answers fetched twice");
    }
    // The file at version 1 shows version 1's bytes.
    ui.open(&format!("/c/{s}/f/{xml}?v=1"), "file");
    let code = b.text("pre.code");
    assert!(!code.contains("<!-- v2 -->"), "{code}");
    ui.open(&format!("/c/{s}/f/{xml}?diff=1..draft"), "file");
    b.wait_css(".diff tr.add");

    // The same view in the dark.
    require_dark(b);
    b.reload();
    b.wait_ready("file");
    b.wait_css(".diff tr.add");
    assert_eq!(
        b.js("return matchMedia('(prefers-color-scheme: dark)').matches;"),
        true
    );
    b.screenshot("dark");
}

// ---------------------------------------------------------------------------
// 7. The empty store.

#[test]
#[ignore = "needs chromium and chromedriver"]
fn an_empty_store_offers_the_sample_and_seeds_it() {
    let ui = Ui::empty();
    let b = &ui.b;
    ui.open("/", "collections");
    b.wait_css("#empty-state button#seed");
    assert_eq!(b.count(".card"), 0);
    b.screenshot("empty");
    b.click("button#seed");
    b.wait_css(".card[data-slug=\"BlockstoreX.OLX101.2026\"] a.card-link");
    b.wait_css(".card[data-slug=\"BlockstoreX.OLXQuestions\"]");
    assert!(!b.exists("#empty-state"), "the empty state is gone");
    let collections = ui.server.get(&format!("{API}/collections")).expect(200);
    assert_eq!(collections["count"], 2);
    b.navigate("collection", |b| {
        b.click(".card[data-slug=\"BlockstoreX.OLX101.2026\"] a.card-link")
    });
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn the_collections_page_imports_a_backup_or_an_export_and_opens_it() {
    let ui = Ui::empty();
    let b = &ui.b;
    ui.open("/", "collections");
    // Chromium's file chooser is the input's: WebDriver types the path in.
    let choose = |path: &Path| {
        let input = b.find("#import-file");
        let path = path.to_str().unwrap().to_string();
        b.run(async move { input.send_keys(&path).await })
            .expect("choosing a file");
    };
    // A broken backup: the server's message, nothing imported.
    let bad = ui._dir.path().join("broken.zip");
    std::fs::write(&bad, b"PK\x03\x04 not really a zip").unwrap();
    choose(&bad);
    b.wait_css("#import-status.error");
    b.screenshot("import-refused");
    let message = b.text("#import-status");
    assert!(message.contains("Could not import broken.zip"), "{message}");
    assert_eq!(
        ui.server.get(&format!("{API}/collections")).expect(200)["count"],
        0
    );
    // A Learning Core backup: imported under its package's name, opened.
    b.navigate("collection", |_| {
        choose(&repo().join("tests/learning_core/sample.zip"))
    });
    assert!(
        b.location().ends_with("/c/SampleOrg.sample-lib"),
        "{}",
        b.location()
    );
    let versions = ui
        .server
        .get(&format!("{API}/collections/SampleOrg.sample-lib/versions"))
        .expect(200);
    assert_eq!(versions["count"], 1, "its published state is version 1");
    // An OLX export (.tar.gz) from the list page's toolbar.
    ui.open("/", "collections");
    let archive = ui._dir.path().join("course.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(repo().join("examples"))
        .arg("sample-course")
        .status()
        .unwrap();
    assert!(status.success());
    b.navigate("collection", |_| choose(&archive));
    assert!(
        b.location().ends_with("/c/BlockstoreX.OLX101.2026"),
        "{}",
        b.location()
    );
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// 7. Contrast: every visible text of the main views, light and dark.

/// Every visible text node's colour against its effective background (the
/// nearest opaque ancestor background, with translucent layers blended in),
/// as WCAG 2 contrast ratios; returns the texts under 4.5:1 (3:1 for large
/// text). Disabled controls and decoration (`aria-hidden`, like the
/// breadcrumbs' separators) are left out, as WCAG leaves them, and so are
/// SVG drawings (the links picture), whose text sits on fills, not on CSS
/// backgrounds.
const LOW_CONTRAST: &str = r#"
const rgba = (c) => {
  const m = c.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, bottom) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
};
const lum = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const background = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) {
      layers.push(c);
      if (c[3] >= 1) break;
    }
  }
  let bg = [255, 255, 255, 1];
  if (!layers.length || layers[layers.length - 1][3] < 1) {
    bg = matchMedia('(prefers-color-scheme: dark)').matches ? [0, 0, 0, 1] : bg;
  }
  for (const layer of layers.reverse()) bg = over(layer, bg);
  return bg;
};
const bad = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
for (let t = walker.nextNode(); t; t = walker.nextNode()) {
  const el = t.parentElement;
  if (!t.data.trim() || !el || seen.has(el)) continue;
  seen.add(el);
  if (el.closest('svg, script, style, noscript, iframe, [disabled], [aria-disabled="true"], [aria-hidden="true"]')) continue;
  if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
  const r = el.getBoundingClientRect();
  if (r.width < 1 || r.height < 1 || r.right < 0 || r.bottom < 0) continue;
  const style = getComputedStyle(el);
  const fg = rgba(style.color);
  if (!fg) continue;
  const bg = background(el);
  const color = over(fg, bg);
  const [hi, lo] = [lum(color), lum(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) {
    bad.push(`${ratio.toFixed(2)}:1 "${t.data.trim().slice(0, 40)}" <${el.tagName.toLowerCase()} class="${el.className}"> ${style.color} on rgb(${bg.slice(0, 3).map(Math.round)})`);
  }
}
return bad;
"#;

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn every_text_has_enough_contrast_in_light_and_dark() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, _, _) = ui.html_unit_with_image();
    let original = String::from_utf8(ui.raw(&xml)).unwrap();
    ui.put(&xml, format!("{original}\n<p>Edited.</p>\n").as_bytes());
    assert_eq!(ui.publish("contrast"), 2);
    ui.put(
        &xml,
        format!("{original}\n<p>Edited again.</p>\n").as_bytes(),
    );
    ui.put(
        "static/broken-link.html",
        b"<img src=\"/static/not-there.png\">",
    );
    let s = &ui.slug;
    let revision = ui.get_json(&format!("history/{xml}"))["revisions"][1]["id"]
        .as_i64()
        .unwrap();
    let problem = ui
        .paths("problem/")
        .into_iter()
        .find(|p| p.ends_with(".xml"))
        .unwrap();
    let views = [
        ("/".to_string(), "collections", ".card".to_string()),
        (
            format!("/c/{s}/files/html/"),
            "collection",
            "#files-table .row".to_string(),
        ),
        (
            format!("/c/{s}/diff?from=1&to=draft"),
            "diff",
            "ul.changes li".to_string(),
        ),
        (
            format!("/c/{s}/f/{xml}?rev={revision}"),
            "file",
            "#revision".to_string(),
        ),
        (format!("/c/{s}/f/{problem}"), "file", "iframe".to_string()),
        (
            format!("/c/{s}/outline"),
            "collection",
            "ul.outline li.node".to_string(),
        ),
        (
            format!("/c/{s}/files"),
            "collection",
            "#files-table .row".to_string(),
        ),
        (
            format!("/c/{s}/history"),
            "collection",
            "ol.timeline li".to_string(),
        ),
        (
            format!("/c/{s}/links"),
            "collection",
            "nav.tabs".to_string(),
        ),
        (format!("/c/{s}/f/{xml}"), "file", "pre.code".to_string()),
        (
            format!("/c/{s}/f/{xml}?diff=1..draft"),
            "file",
            ".diff tr.add".to_string(),
        ),
        (
            format!("/c/{s}/f/{xml}?diff=1..draft&layout=split"),
            "file",
            ".diff tr".to_string(),
        ),
        (
            format!("/c/{s}/v/2"),
            "version",
            "ul.changes li".to_string(),
        ),
        (
            format!("/c/{s}/graph/{xml}"),
            "graph",
            "svg.graph".to_string(),
        ),
    ];
    let mut failures = std::collections::BTreeSet::new();
    // Every view is also kept as a screenshot, light and dark, to look at.
    let shot = |url: &str, scheme: &str| {
        let name: String = url
            .trim_start_matches(&format!("/c/{s}"))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = name.trim_matches('-');
        format!(
            "view-{scheme}-{}",
            if name.is_empty() {
                "collections"
            } else {
                &name[..name.len().min(60)]
            }
        )
    };
    let mut check = |b: &Browser, scheme: &str| {
        for (url, view, shows) in &views {
            ui.open(url, view);
            b.wait_css(shows);
            // Let the collections cards' asynchronous counts land.
            std::thread::sleep(std::time::Duration::from_millis(300));
            b.screenshot(&shot(url, scheme));
            for line in b.js(LOW_CONTRAST).as_array().cloned().unwrap_or_default() {
                failures.insert(format!(
                    "{scheme} {view}: {}",
                    line.as_str().unwrap_or_default()
                ));
            }
        }
    };
    check(b, "light");
    require_dark(b);
    ui.open("/", "collections");
    assert_eq!(
        b.js("return matchMedia('(prefers-color-scheme: dark)').matches;"),
        true
    );
    check(b, "dark");
    assert!(
        failures.is_empty(),
        "text under WCAG AA contrast:\n{}",
        failures.into_iter().collect::<Vec<_>>().join("\n")
    );
}

// ---------------------------------------------------------------------------
// Issue 16: previews like the LMS's, the URL's compare states, the UI's own
// not-found page.

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn an_html_preview_loads_the_collections_own_images_at_the_same_state() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (_, body, image) = ui.html_unit_with_image();
    ui.open(&format!("/c/{}/f/{body}", ui.slug), "file");
    b.click_text("button", "Show rendered preview");
    b.wait_js(
        "the preview's document, its /static/ references rewritten",
        "const f = document.querySelector('iframe.preview'); \
         return f && f.srcdoc && f.srcdoc.includes('/api/v1/collections/');",
    );
    let width = b.in_frame("iframe.preview", |f| {
        f.wait_js(
            "an image of the collection that loaded",
            "const i = [...document.images]; \
             return i.length && i.every((x) => x.complete) \
               ? Math.max(...i.map((x) => x.naturalWidth)) : null;",
        )
    });
    assert!(
        width.as_f64().is_some_and(|w| w > 0.0),
        "{image} loads in the preview: naturalWidth {width}"
    );
    b.screenshot("preview");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn the_compare_form_shows_the_urls_states_and_swaps_them() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (_, body, _) = ui.html_unit_with_image();
    ui.put(&body, b"<p>changed once</p>");
    let one = ui.publish("one");
    ui.put(&body, b"<p>changed twice</p>");
    ui.open(
        &format!("/c/{}/f/{body}?diff={one}..draft", ui.slug),
        "file",
    );
    let from = b.js("return document.querySelector('#diff-from').value;");
    let to = b.js("return document.querySelector('#diff-to').value;");
    assert_eq!(
        (from.as_str(), to.as_str()),
        (Some(one.to_string().as_str()), Some("draft")),
        "the selects show the URL's states"
    );
    b.navigate("file", |b| b.click("a#diff-swap"));
    assert!(
        b.location().contains(&format!("diff=draft..{one}")),
        "swapped: {}",
        b.location()
    );
    // The newer side against the state before it.
    assert_eq!(b.text("a#diff-previous"), "draft vs previous");
    b.navigate("file", |b| b.click("a#diff-previous"));
    assert!(
        b.location().contains(&format!("diff={one}..draft")),
        "{}",
        b.location()
    );
    // A version page's compare form starts at what the page shows: N-1 → N.
    ui.open(&format!("/c/{}/v/{one}", ui.slug), "version");
    let from = b.js("return document.querySelector('#from').value;");
    let to = b.js("return document.querySelector('#to').value;");
    assert_eq!(
        (from.as_str(), to.as_str()),
        (
            Some((one - 1).to_string().as_str()),
            Some(one.to_string().as_str())
        )
    );
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_url_nothing_serves_shows_the_uis_not_found_page() {
    let ui = Ui::empty();
    let b = &ui.b;
    b.goto("/no/such/page");
    b.wait_js(
        "the UI's not-found view",
        "return document.body.dataset.ready === 'error' && document.querySelector('h1')?.textContent === 'Not found';",
    );
    assert!(b.exists("a[href=\"/\"]"), "a way back to the collections");
    b.screenshot("not-found");
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn the_publish_dialog_lists_the_changes_and_a_broken_link_it_would_introduce() {
    // The demo is seeded as version 1.
    let ui = Ui::demo();
    let b = &ui.b;
    let (_, body, _) = ui.html_unit_with_image();
    let mut bytes = ui.raw(&body);
    bytes.extend_from_slice(b"\n<p><img src=\"/static/not-there-yet.png\"/></p>\n");
    ui.put(&body, &bytes);
    let name = ui
        .display_name(&body)
        .expect("the body has its block's name");
    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.click("button#publish");
    b.wait_css("#publish-checks");
    assert!(
        b.text("#publish-checks").contains(&body),
        "the change is listed: {}",
        b.text("#publish-checks")
    );
    assert_eq!(
        b.text("#publish-checks li .block-name"),
        name,
        "by its block's name, the path below"
    );
    b.wait_css("#publish-new-broken li");
    assert!(
        b.text("#publish-new-broken")
            .contains("/static/not-there-yet.png"),
        "{}",
        b.text("#publish-new-broken")
    );
    assert_eq!(b.count("#publish-new-broken li"), 1, "only the new one");
    b.screenshot("publish-dialog");
    // The changes page names it the same way.
    ui.open(&format!("/c/{}/diff", ui.slug), "diff");
    let change = format!("ul.changes li{}", attr_is("data-path", &body));
    b.wait_css(&change);
    assert_eq!(b.text(&format!("{change} .block-name")), name);
    assert!(b.text(&format!("{change} .path-sub")).contains(&body));
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn the_outline_marks_draft_changes_on_the_block_and_its_ancestors_with_a_legend() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, body, _) = ui.html_unit_with_image();
    let mut bytes = ui.raw(&body);
    bytes.extend_from_slice(b"\n<p>An unpublished edit.</p>\n");
    ui.put(&body, &bytes);
    ui.open(&format!("/c/{}", ui.slug), "collection");
    b.wait_css("#outline-legend");
    b.click("#expand-all");
    let node = format!("li.node{}", attr_is("data-path", &xml));
    b.wait_css(&format!("{node} > .node-row .flag.pending"));
    assert_eq!(
        b.text(&format!("{node} > .node-row .flag.pending")),
        "changed",
        "the block whose body changed"
    );
    let marked_ancestors = b.js(&format!(
        "let n = document.querySelector({}).parentElement.closest('li.node'), k = 0; \
         while (n) {{ if (n.querySelector(':scope > .node-row .flag.pending')) k += 1; n = n.parentElement.closest('li.node'); }} \
         return k;",
        js_str(&node)
    ));
    assert!(
        marked_ancestors.as_u64().is_some_and(|k| k >= 3),
        "the vertical, sequential, chapter and course say changes inside: {marked_ancestors}"
    );
    b.screenshot("outline-marks");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn a_file_page_speaks_the_courses_names_and_shows_its_place_in_the_outline() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, body, _) = ui.html_unit_with_image();
    // The block's display name, as the outline reads it from the OLX.
    let outline = ui.get_json("outline?version=draft");
    fn find(node: &Value, path: &str) -> Option<String> {
        if node["path"] == path {
            return node["display_name"].as_str().map(str::to_owned);
        }
        node["children"]
            .as_array()?
            .iter()
            .find_map(|k| find(k, path))
    }
    let name = outline["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| find(r, &xml))
        .expect("the html block has a display name");
    ui.open(&format!("/c/{}/f/{body}", ui.slug), "file");
    assert!(
        b.text("h1").contains(&name),
        "the body's page is titled with its block's name {name:?}: {}",
        b.text("h1")
    );
    assert!(b.text(".facts").contains(&body), "the path below it");
    // Links in and out name the files they reach.
    b.wait_css("ul#links-in li.link");
    assert!(
        b.text("ul#links-in").contains(&name),
        "the pointer linking here, by name: {}",
        b.text("ul#links-in")
    );
    let crumbs = b.count("#outline-crumbs a");
    assert!(
        crumbs >= 3,
        "course › chapter › sequential › vertical: {crumbs}"
    );
    assert!(
        b.js("return document.title;")
            .as_str()
            .unwrap()
            .starts_with(&name),
        "the tab's title too"
    );
    b.screenshot("file-names");
    // An html block shows its body and its pointer together, the body
    // first, from either file's page.
    let parts = "return [...document.querySelectorAll('#html-block section.content')].map((s) => s.dataset.part + ' ' + s.querySelector('h2').textContent);";
    for page in [&body, &xml] {
        ui.open(&format!("/c/{}/f/{page}", ui.slug), "file");
        let shown: Vec<String> = serde_json::from_value(b.js(parts)).unwrap();
        assert_eq!(shown.len(), 2, "{page}: {shown:?}");
        assert!(
            shown[0].starts_with("body") && shown[0].contains(&body),
            "{page}: {shown:?}"
        );
        assert!(
            shown[1].starts_with("pointer") && shown[1].contains(&xml),
            "{page}: {shown:?}"
        );
    }
    b.screenshot("html-block");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn diffs_read_like_a_pull_request_summed_grouped_by_folder_and_full_width() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, body, _) = ui.html_unit_with_image();
    // One change: its diff is open at once, the page says +1 −0.
    let mut bytes = b"<p>One more line.</p>\n".to_vec();
    bytes.extend_from_slice(&ui.raw(&body));
    ui.put(&body, &bytes);
    ui.open(&format!("/c/{}/diff", ui.slug), "diff");
    b.wait_css("ul.changes details.inline-diff[open] table.diff tr.add");
    let summary = b.text("#changes-summary");
    assert!(summary.starts_with("1 file changed"), "{summary}");
    assert!(
        summary.contains("+1") && summary.contains("−0"),
        "{summary}"
    );

    // Sixty more (new files in two folders, one deletion): grouped by folder,
    // closed, each group with its counts; a filter finds files by name.
    for i in 0..30 {
        ui.put(
            &format!("problem/bulk{i:02}.xml"),
            format!("<problem display_name=\"Bulk problem {i}\">\n<p>Q{i}</p>\n</problem>\n")
                .as_bytes(),
        );
        ui.put(
            &format!("html/bulk{i:02}.html"),
            format!("<p>Page {i}</p>\n").as_bytes(),
        );
    }
    ui.server
        .request("DELETE", &ui.api(&format!("raw/{xml}")))
        .send()
        .expect(200);
    ui.open(&format!("/c/{}/diff", ui.slug), "diff");
    let summary = b.text("#changes-summary");
    assert!(summary.starts_with("62 files changed"), "{summary}");
    assert!(
        summary.contains("+121") && summary.contains("−1"),
        "30×3 + 30 + 1 lines added, the deleted pointer's line removed: {summary}"
    );
    let groups: Vec<String> = serde_json::from_value(b.js(
        "return [...document.querySelectorAll('details.folder-group')].map((g) => g.dataset.folder + (g.open ? ' open' : ''));",
    ))
    .unwrap();
    assert_eq!(groups, ["html/", "problem/"], "closed groups by folder");
    assert_eq!(
        b.count("ul.changes li"),
        0,
        "rows are built when a group opens"
    );
    b.type_into("#changes-filter", "bulk problem 7");
    b.wait_css(
        "details.folder-group[data-folder=\"problem/\"][open] li[data-path=\"problem/bulk07.xml\"]",
    );
    assert!(
        b.js(
            "return document.querySelector('details.folder-group[data-folder=\"html/\"]').hidden;"
        ) == Value::Bool(true)
    );
    let visible = b.js("return [...document.querySelectorAll('ul.changes li')].filter((li) => !li.hidden).map((li) => li.dataset.path);");
    assert_eq!(visible, json!(["problem/bulk07.xml"]));
    // An added file's content is its diff: every line added.
    b.click("li[data-path=\"problem/bulk07.xml\"] details.inline-diff summary");
    b.wait_css("li[data-path=\"problem/bulk07.xml\"] table.diff tr.add");
    assert_eq!(
        b.count("li[data-path=\"problem/bulk07.xml\"] table.diff tr.del"),
        0
    );
    b.screenshot("diff-grouped");

    // A side-by-side diff on a file page takes the page's width.
    ui.open(
        &format!("/c/{}/f/{body}?diff=1..draft&layout=split", ui.slug),
        "file",
    );
    b.wait_css(".columns-2.wide table.diff.split");
    let (table, page) = (
        b.js("return document.querySelector('table.diff.split').getBoundingClientRect().width;"),
        b.js("return document.querySelector('main').getBoundingClientRect().width;"),
    );
    assert!(
        table.as_f64().unwrap() > page.as_f64().unwrap() * 0.9,
        "{table} of {page}"
    );
    b.screenshot("diff-split-wide");
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn a_draft_revision_opens_diffs_against_the_draft_or_another_save_and_restores() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (_, body, _) = ui.html_unit_with_image();
    let original = ui.raw(&body);
    for line in ["first", "second"] {
        let mut bytes = original.clone();
        bytes.extend_from_slice(format!("\n<p>The {line} save.</p>\n").as_bytes());
        ui.put(&body, &bytes);
    }
    let history = ui.get_json(&format!("history/{body}"));
    let revisions = history["revisions"].as_array().unwrap();
    // The seed's own save, then the two above, newest first.
    assert_eq!(revisions.len(), 3, "{history}");
    let (latest, first) = (
        revisions[0]["id"].as_i64().unwrap(),
        revisions[1]["id"].as_i64().unwrap(),
    );

    ui.open(&format!("/c/{}/f/{body}", ui.slug), "file");
    b.click("details#revisions summary");
    b.navigate("file", |b| {
        b.click(&format!("ol.revisions li[data-revision=\"{first}\"] a"))
    });
    assert!(
        b.location().ends_with(&format!("?rev={first}")),
        "{}",
        b.location()
    );
    // From the first save to the draft: the first line goes, the second comes.
    b.wait_css("#revision table.diff tr.del");
    let changed = b.text("#revision table.diff");
    assert!(
        changed.contains("The first save.") && changed.contains("The second save."),
        "{changed}"
    );
    // Against another save: the one after it, in the URL too.
    b.navigate("file", |b| {
        b.select("#revision-against", &latest.to_string())
    });
    assert!(
        b.location().ends_with(&format!("against={latest}")),
        "{}",
        b.location()
    );
    b.wait_css("#revision table.diff tr.add");
    b.screenshot("draft-revision");
    // The latest save is the draft: no difference.
    ui.open(&format!("/c/{}/f/{body}?rev={latest}", ui.slug), "file");
    b.wait_css("#revision-same");
    ui.open(&format!("/c/{}/f/{body}?rev={first}", ui.slug), "file");

    // Restore the first save: the draft holds it again, a new revision.
    b.click("#revision-restore");
    b.wait_js(
        "the restore dialog",
        "const d = document.querySelector('dialog#restore-dialog'); return !!d && d.open;",
    );
    b.navigate("file", |b| b.click("#restore-confirm"));
    assert_eq!(b.location(), format!("/c/{}/f/{body}", ui.slug));
    let restored = String::from_utf8(ui.raw(&body)).unwrap();
    assert!(
        restored.contains("The first save.") && !restored.contains("The second save."),
        "{restored}"
    );
    let history = ui.get_json(&format!("history/{body}"));
    assert_eq!(history["revisions"].as_array().unwrap().len(), 4);
    b.assert_no_js_errors();
}

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn a_rename_from_the_file_page_lists_the_references_it_broke() {
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, _, _) = ui.html_unit_with_image();
    let parent = ui.parent(&xml).expect("the block has a parent");
    ui.open(&format!("/c/{}/f/{xml}", ui.slug), "file");
    b.click("button#rename");
    b.wait_js(
        "the rename dialog",
        "const d = document.querySelector('dialog#rename-dialog'); return !!d && d.open;",
    );
    assert!(
        b.text("dialog#rename-dialog").contains(&parent),
        "the dialog names what links here: {}",
        b.text("dialog#rename-dialog")
    );
    let to = "html/renamed-in-the-browser.xml";
    b.js(&format!(
        "document.querySelector('#rename-to').value = {};",
        js_str(to)
    ));
    b.navigate("file", |b| b.click("#rename-confirm"));
    assert_eq!(b.location(), format!("/c/{}/f/{to}", ui.slug));
    b.wait_js(
        "the broken references",
        "const d = document.querySelector('dialog#rename-broke'); return !!d && d.open;",
    );
    assert!(
        b.text("#rename-broken").contains(&parent),
        "{}",
        b.text("#rename-broken")
    );
    b.screenshot("rename-broke");
    b.click("#rename-broke-ok");
    assert_eq!(ui.server.get(&ui.api(&format!("raw/{to}"))).status, 200);
    assert_eq!(ui.server.get(&ui.api(&format!("raw/{xml}"))).status, 404);
    b.assert_no_js_errors();
}

// ---------------------------------------------------------------------------
// Named drafts (issue 18).

#[test]
#[ignore = "needs chromium, chromedriver and ../shared fixtures"]
fn the_history_lists_named_drafts_their_changes_and_a_stale_commit() {
    use blockstore::store::{RelPath, Stage};
    let ui = Ui::demo();
    let b = &ui.b;
    let (xml, body, _) = ui.html_unit_with_image();
    // Blockstore v1 clients make named drafts; here the library does, in
    // this process, beside the server.
    let store = blockstore::Store::open(&ui.server.data).unwrap();
    let old = store.create_named_draft(&ui.slug, "old").unwrap();
    let studio = store.create_named_draft(&ui.slug, "studio_draft").unwrap();
    store
        .stage(
            &studio.uuid,
            &[
                (RelPath::new(&body).unwrap(), Stage::Put(b"<p>staged</p>")),
                (
                    RelPath::new("html/added.html").unwrap(),
                    Stage::Put(b"<p>new</p>"),
                ),
                (RelPath::new(&xml).unwrap(), Stage::Delete),
            ],
        )
        .unwrap();
    store
        .stage(
            &old.uuid,
            &[(RelPath::new("about/x.html").unwrap(), Stage::Put(b"x"))],
        )
        .unwrap();
    assert_eq!(
        store
            .commit_named_draft(&old.uuid, "from old")
            .unwrap()
            .number,
        2
    );
    drop(store);

    ui.open(&format!("/c/{}/history", ui.slug), "collection");
    b.wait_css("section#named-drafts details[data-draft=\"studio_draft\"]");
    assert_eq!(b.count("section#named-drafts details.named-draft"), 2);
    assert!(b
        .text("section#named-drafts details[data-draft=\"studio_draft\"] summary")
        .contains("based on version 1"));
    b.click("section#named-drafts details[data-draft=\"studio_draft\"] summary");
    let row = |status: &str, path: &str| {
        format!(
            "details[data-draft=\"studio_draft\"] li[data-status=\"{status}\"]{}",
            attr_is("data-path", path)
        )
    };
    b.wait_css(&row("modified", &body));
    b.wait_css(&row("added", "html/added.html"));
    b.wait_css(&row("deleted", &xml));
    assert!(b
        .text("ol.timeline li[data-version=\"2\"]")
        .contains("Committed from draft “old”"));
    assert!(!b.exists("ol.timeline li[data-version=\"2\"] .committed-from[data-stale=\"true\"]"));

    // Committing the other draft now, from its older base, is flagged.
    let store = blockstore::Store::open(&ui.server.data).unwrap();
    assert_eq!(
        store.commit_named_draft(&studio.uuid, "").unwrap().number,
        3
    );
    drop(store);
    ui.open(&format!("/c/{}/history", ui.slug), "collection");
    b.wait_css("ol.timeline li[data-version=\"3\"] .committed-from[data-stale=\"true\"]");
    assert!(b
        .text("ol.timeline li[data-version=\"3\"] .committed-from")
        .contains("older than version 2"));
    b.screenshot("named-drafts");
    b.assert_no_js_errors();
}
