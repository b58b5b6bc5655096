//! The UI's server side over real HTTP: the embedded page and its modules
//! (caching and security headers, deep links answered with the page, every
//! module a page imports actually served, the payload's size), and the API
//! the UI added: seeding, the folder tree, path search, and `store.changed`
//! for another process's commit. The UI itself runs in Chromium in
//! `browser.rs`.

use crate::server::{Server, API};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::BufRead;
use std::process::Command;

/// The `/ui/<id>` prefix the page names.
fn assets_prefix(page: &str) -> String {
    let start = page
        .find("/ui/")
        .expect("the page names its assets under /ui/");
    let rest = &page[start..];
    let end = rest[4..].find('/').expect("/ui/<id>/") + 4;
    rest[..end].to_string()
}

/// The relative module specifiers (`./x.js`, `../y.js`) a JS file imports.
fn imports(js: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["from '", "import('"] {
        let mut rest = js;
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            if let Some(end) = rest.find('\'') {
                let spec = &rest[..end];
                if spec.starts_with("./") || spec.starts_with("../") {
                    found.push(spec.to_string());
                }
            }
        }
    }
    found
}

/// Resolves `spec` against the folder of `from` (both under the assets prefix).
fn resolve(from: &str, spec: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for piece in spec.split('/') {
        match piece {
            "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[test]
fn the_page_and_its_modules_are_served_with_caching_and_security_headers() {
    let server = Server::start(&[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let csp = page.header("content-security-policy").unwrap().to_string();
    for directive in [
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "the page's CSP lacks {directive}: {csp}"
        );
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = page.text();
    let prefix = assets_prefix(&html);

    // Deep links answer the same page, so a reload of any view works.
    // (Only the hints of what the view loads first differ.)
    for view in [
        "/c/some-course",
        "/c/some-course/history",
        "/c/some-course/f/html/intro.html",
        "/c/some-course/v/3",
        "/c/some-course/graph/vertical/v1.xml",
    ] {
        let deep = server.get(view);
        assert_eq!(deep.status, 200, "{view}");
        assert_eq!(
            without_hints(&deep.text(), &prefix),
            without_hints(&html, &prefix),
            "{view} answers the page"
        );
    }
    // What is not a view stays a JSON 404.
    let missing = server.get("/nothing-here");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");

    // Walk the module graph from app.js: every import resolves, is served as
    // JavaScript and is immutable under this build's prefix.
    let mut todo = vec![format!("{prefix}/app.js")];
    let mut seen = BTreeSet::new();
    let mut payload = html.len();
    while let Some(url) = todo.pop() {
        if !seen.insert(url.clone()) {
            continue;
        }
        let module = server.get(&url);
        assert_eq!(module.status, 200, "{url} is served");
        assert_eq!(
            module.header("content-type"),
            Some("text/javascript; charset=utf-8"),
            "{url}"
        );
        assert_eq!(
            module.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{url}"
        );
        payload += module.body.len();
        for spec in imports(&module.text()) {
            todo.push(resolve(&url, &spec));
        }
    }
    assert!(seen.len() >= 8, "the app imports its views: {seen:?}");
    for asset in ["app.css", "icon.svg"] {
        let url = format!("{prefix}/{asset}");
        assert!(html.contains(&url), "the page links {url}");
        let r = server.get(&url);
        assert_eq!(r.status, 200, "{url}");
        payload += r.body.len();
    }
    assert!(
        payload <= 300 * 1024,
        "the UI's first-load payload is {payload} bytes, over the 300 KB budget"
    );
    // Another build's prefix gets today's bytes but must not be cached as immutable.
    let old = server.get("/ui/000000000000/app.js");
    assert_eq!(old.status, 200);
    assert_eq!(old.header("cache-control"), Some("no-cache"));
    assert_eq!(server.get(&format!("{prefix}/nope.js")).status, 404);
    // index.html is only ever the page, with its placeholder filled in.
    assert_eq!(server.get(&format!("{prefix}/index.html")).status, 404);
    assert!(!html.contains("{{ASSETS}}"));
}

/// The page's `<link rel="modulepreload|preload">` hints, as (rel, href).
fn hints(html: &str) -> Vec<(String, String)> {
    html.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("<link rel=\"")?;
            let (rel, rest) = rest.split_once('"')?;
            let href = rest.trim().strip_prefix("href=\"")?.split('"').next()?;
            matches!(rel, "modulepreload" | "preload").then(|| (rel.to_string(), href.to_string()))
        })
        .collect()
}

/// The page without its view-specific hints (the two shared modules stay).
fn without_hints(html: &str, prefix: &str) -> String {
    let shared = [format!("{prefix}/dom.js"), format!("{prefix}/api.js")];
    html.lines()
        .filter(|line| {
            hints(line)
                .first()
                .is_none_or(|(_, href)| shared.contains(href))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_page_load_hints_its_views_modules_and_first_api_answers() {
    let server = Server::start(&[]);
    server
        .request("POST", &format!("{API}/seed"))
        .send()
        .expect(201);
    let slug = server.get(&format!("{API}/collections")).expect(200)["results"][0]["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = assets_prefix(&server.get("/").text());
    let module = |m: &str| ("modulepreload".to_string(), format!("{prefix}/{m}"));
    let data = |u: &str| ("preload".to_string(), format!("{API}{u}"));
    let mut hinted_views = BTreeSet::new();
    for (view, modules, fetches) in [
        (
            "/".to_string(),
            vec!["views/collections.js"],
            vec!["/collections?page_size=100".to_string()],
        ),
        (
            format!("/c/{slug}"),
            vec!["views/collection.js"],
            vec![format!("/collections/{slug}")],
        ),
        (
            format!("/c/{slug}/outline"),
            vec!["views/collection.js"],
            vec![
                format!("/collections/{slug}"),
                format!("/collections/{slug}/outline?version=draft"),
            ],
        ),
        // A folder of the Files tab.
        (
            format!("/c/{slug}/files/html/"),
            vec!["views/collection.js", "views/files.js"],
            vec![format!("/collections/{slug}")],
        ),
        (
            format!("/c/{slug}/f/html/intro.html"),
            vec!["views/file.js", "views/collection.js", "problem.js"],
            vec![],
        ),
        (format!("/c/{slug}/v/1"), vec!["views/version.js"], vec![]),
        (format!("/c/{slug}/diff"), vec!["views/version.js"], vec![]),
        (
            format!("/c/{slug}/graph/html/intro.html"),
            vec!["views/graph.js"],
            vec![],
        ),
        // A slug the UI would encode differently: no guessing at its URL.
        (
            "/c/a%20b/outline".to_string(),
            vec!["views/collection.js"],
            vec![],
        ),
        // No view of the UI's: nothing to hint.
        (format!("/c/{slug}/outline/more"), vec![], vec![]),
    ] {
        let found = hints(&server.get(&view).text());
        if modules.is_empty() {
            assert!(
                !found.iter().any(|(_, href)| href.contains("/views/")),
                "{view}: {found:?}"
            );
        }
        for m in &modules {
            assert!(found.contains(&module(m)), "{view} hints {m}: {found:?}");
            hinted_views.insert(m.to_string());
        }
        let preloads: Vec<_> = found
            .iter()
            .filter(|(rel, _)| rel == "preload")
            .cloned()
            .collect();
        assert_eq!(
            preloads,
            fetches.iter().map(|u| data(u)).collect::<Vec<_>>(),
            "{view}"
        );
        // Every hint names something that is there: the modules this build
        // serves, and the API answers the view will ask for.
        for (rel, href) in &found {
            let r = server.get(href);
            assert_eq!(r.status, 200, "{view} hints {href}");
            if rel == "preload" {
                assert!(r
                    .header("content-type")
                    .unwrap()
                    .starts_with("application/json"));
            } else {
                assert_eq!(
                    r.header("content-type"),
                    Some("text/javascript; charset=utf-8")
                );
            }
        }
    }
    // Every view module of app.js's routes is hinted by some route.
    let app = server.get(&format!("{prefix}/app.js")).text();
    for spec in imports(&app).iter().filter(|s| s.starts_with("./views/")) {
        assert!(
            hinted_views.contains(&spec[2..]),
            "no route hints {spec}: keep ui.rs's hints in step with app.js's routes"
        );
    }
}

#[test]
fn with_a_token_the_page_loads_but_the_api_needs_the_token() {
    let server = Server::start(&["--token", "s3cret"]);
    assert_eq!(server.get("/").status, 200);
    let page = server.get("/c/x/outline");
    assert_eq!(page.status, 200);
    // A preload cannot carry the token: modules are hinted, API answers not.
    let found = hints(&page.text());
    assert!(
        found
            .iter()
            .any(|(rel, href)| rel == "modulepreload" && href.ends_with("/views/collection.js")),
        "{found:?}"
    );
    assert!(!found.iter().any(|(rel, _)| rel == "preload"), "{found:?}");
    assert_eq!(server.get(&format!("{API}/collections")).status, 401);
}

#[test]
fn seeding_over_http_loads_the_samples_once() {
    let server = Server::start(&[]);
    let report = server
        .request("POST", &format!("{API}/seed"))
        .send()
        .expect(201);
    let slugs: Vec<&str> = report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["collection"].as_str().unwrap())
        .collect();
    assert_eq!(slugs.len(), 2, "{report}");
    let list = server.get(&format!("{API}/collections")).expect(200);
    assert_eq!(list["count"], 2);
    let course = &list["results"][0];
    assert_eq!(
        course["latest_version"], 2,
        "the course comes with two versions"
    );
    // Seeding again changes nothing and says why.
    let again = server.request("POST", &format!("{API}/seed")).send();
    assert_eq!(again.status, 409);
    assert!(again.text().contains("already exists"));
    assert_eq!(
        server.get(&format!("{API}/collections")).expect(200)["count"],
        2
    );
}

#[test]
fn folders_and_direct_files_open_the_tree_a_level_at_a_time() {
    let server = Server::start(&[]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "t"}))
        .expect(201);
    for path in [
        "course.xml",
        "html/a.html",
        "html/b.html",
        "html/deep/c.html",
        "static/img/Logo.PNG",
        "static/x.css",
    ] {
        server
            .put(&format!("{API}/collections/t/raw/{path}"), b"x")
            .expect(201);
    }
    let names = |v: &Value| -> Vec<(String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["files"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let top = server
        .get(&format!("{API}/collections/t/folders"))
        .expect(200);
    assert_eq!(
        names(&top),
        [("html/".to_string(), 3), ("static/".to_string(), 2)]
    );
    let html = server
        .get(&format!("{API}/collections/t/folders?prefix=html/"))
        .expect(200);
    assert_eq!(names(&html), [("html/deep/".to_string(), 1)]);
    assert_eq!(html[0]["name"], "deep");
    let paths = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let direct = server
        .get(&format!(
            "{API}/collections/t/files?prefix=html/&direct=true"
        ))
        .expect(200);
    assert_eq!(paths(&direct), ["html/a.html", "html/b.html"]);
    assert_eq!(direct["count"], 2);
    let top_files = server
        .get(&format!("{API}/collections/t/files?direct=true"))
        .expect(200);
    assert_eq!(paths(&top_files), ["course.xml"]);
    // Search over paths ignores case.
    let found = server
        .get(&format!("{API}/collections/t/files?q=logo"))
        .expect(200);
    assert_eq!(paths(&found), ["static/img/Logo.PNG"]);
    // A folder may be named without its trailing '/'.
    let bare = server
        .get(&format!("{API}/collections/t/folders?prefix=html"))
        .expect(200);
    assert_eq!(bare, html);
    // Bad input is a 400.
    assert_eq!(
        server
            .get(&format!("{API}/collections/t/files?direct=yes"))
            .status,
        400
    );
    let long = "x".repeat(1025);
    assert_eq!(
        server
            .get(&format!("{API}/collections/t/files?q={long}"))
            .status,
        400
    );
    assert_eq!(
        server
            .get(&format!("{API}/collections/t/folders?prefix={long}/"))
            .status,
        400
    );
    assert_eq!(
        server
            .get(&format!("{API}/collections/nope/folders"))
            .status,
        404
    );
}

#[test]
fn another_process_writing_the_store_is_announced_as_store_changed() {
    let server = Server::start(&[]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "cli"}),
        )
        .expect(201);
    let (head, mut stream) = server.request("GET", &format!("{API}/events")).open();
    assert_eq!(head.status, 200);
    stream
        .get_ref()
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // A separate process (the CLI) writes to the same data dir.
    let source = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(source.path(), b"<p>from the CLI</p>").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .arg("--data-dir")
        .arg(&server.data)
        .args(crate::garage::backend_args(&server.data))
        .args(["write", "cli:html/a.html"])
        .arg(source.path())
        .envs(crate::garage::env_if_started())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server polls every 500 ms; a read times out after 20 s.
    let mut kind = String::new();
    loop {
        let mut line = String::new();
        assert!(stream.read_line(&mut line).unwrap() > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(k) = line.strip_prefix("event:") {
            kind = k.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            if kind == "store.changed" {
                let data: Value = serde_json::from_str(d.trim()).unwrap();
                assert_eq!(data["type"], "store.changed");
                break;
            }
        }
    }
    let file = server
        .get(&format!("{API}/collections/cli/files/html/a.html"))
        .expect(200);
    assert_eq!(file["size"], 19);
}
