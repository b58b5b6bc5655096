//! A real headless Chromium driven over WebDriver: Debian's `chromedriver`
//! started on a port of its own choosing (`--port=0`, the port read from its
//! first lines), a `fantoccini` session on loopback (no TLS), and a blocking
//! API over it so tests read top to bottom. Every wait polls against a
//! deadline; nothing asserts wall-clock durations.
//!
//! Self-contained (fantoccini, hyper-util, tokio, serde_json and std only) so
//! `benches/ui.rs` can include it with `#[path]`.

#![allow(dead_code)] // the tests and the bench each use a subset

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium (a wrapper script around /usr/lib/chromium/chromium).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package chromium-driver), the same build.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one wait polls before it fails.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often a wait polls.
const POLL: Duration = Duration::from_millis(50);

/// Whether this machine has the browser and its driver.
pub fn available() -> bool {
    Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file()
}

/// Where screenshots go: the repository's own `target/ui-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/ui-screenshots"
    ))
}

/// Installed in every document before its own scripts: uncaught errors and
/// rejections are kept in `window.__bsErrors` for [`Browser::js_errors`].
const ERROR_TRAP: &str = "window.__bsErrors = [];\
    window.addEventListener('error', e => window.__bsErrors.push(String(e.message || e)));\
    window.addEventListener('unhandledrejection', e => window.__bsErrors.push('unhandled rejection: ' + String(e.reason && (e.reason.stack || e.reason))));";

/// A running chromedriver with one browser session; both end on drop.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Option<Child>,
    driver_port: u16,
    session: String,
    /// The site under test, e.g. `http://127.0.0.1:41234` (no trailing `/`).
    pub base: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session for the site at
    /// `base` (an origin such as `http://127.0.0.1:41234`).
    pub fn launch(base: &str) -> Browser {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--window-size=1280,900",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--metrics-recording-only",
                    "--password-store=basic",
                ],
            }),
        );
        // A driver or a browser that fails to start on a loaded machine gets
        // two more tries, each with a new driver.
        let mut last_error = String::new();
        for _ in 0..3 {
            let (mut driver, driver_port) = match start_chromedriver() {
                Ok(started) => started,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let url = format!("http://127.0.0.1:{driver_port}");
            let connected = rt.block_on(async {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
            });
            let client = match connected {
                Ok(client) => client,
                Err(e) => {
                    last_error = e.to_string();
                    let _ = driver.kill();
                    let _ = driver.wait();
                    continue;
                }
            };
            let session = rt
                .block_on(client.session_id())
                .ok()
                .flatten()
                .expect("the session has an id");
            let browser = Browser {
                rt,
                client: Some(client),
                driver: Some(driver),
                driver_port,
                session,
                base: base.trim_end_matches('/').to_string(),
            };
            browser.cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": ERROR_TRAP }),
            );
            return browser;
        }
        panic!("chromedriver gives no Chromium session in 3 tries: {last_error}");
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Runs one WebDriver future to completion.
    pub fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    // -----------------------------------------------------------------------
    // Navigation

    /// Opens `path` (e.g. `/c/demo/outline`) on the site, or a full URL.
    pub fn goto(&self, path: &str) {
        let url = self.url(path);
        self.run(self.client().goto(&url))
            .unwrap_or_else(|e| panic!("the browser opens {url}: {e}"));
    }

    /// `path` made absolute against [`Browser::base`].
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn back(&self) {
        self.run(self.client().back()).expect("history back");
    }

    pub fn reload(&self) {
        self.run(self.client().refresh()).expect("reload");
    }

    /// Replaces the window with a new tab (the old one is closed, with its
    /// back/forward cache): the next load starts from nothing but the HTTP
    /// cache.
    pub fn fresh_tab(&self) {
        let client = self.client();
        self.run(async {
            let tab = client.new_window(true).await?;
            client.close_window().await?;
            client.switch_to_window(tab.handle).await
        })
        .unwrap_or_else(|e| panic!("a fresh tab: {e}"));
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": ERROR_TRAP }),
        );
    }

    /// The current location's path, query and fragment (`/c/x/f/a.xml?v=1`).
    pub fn location(&self) -> String {
        self.js("return location.pathname + location.search + location.hash;")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `document.body.dataset.ready`, if set.
    pub fn ready(&self) -> Option<String> {
        self.try_js("return document.body ? (document.body.dataset.ready || null) : null;")
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }

    /// Waits until `document.body.dataset.ready` is `view`.
    #[track_caller]
    pub fn wait_ready(&self, view: &str) {
        self.wait_for(&format!("data-ready={view:?}"), |b| {
            let ready = b.ready();
            if ready.as_deref() == Some("error") && view != "error" {
                b.fail(&format!("the UI shows an error instead of {view:?}"));
            }
            (ready.as_deref() == Some(view)).then_some(())
        });
    }

    /// Runs `action` (a click, `back`, ...) and waits until the view it leads
    /// to is rendered: `data-ready` changed at least once since (or the page
    /// was replaced) and is now `view`. Without this, a wait right after a
    /// click could see the old view's `data-ready`.
    #[track_caller]
    pub fn navigate<R>(&self, view: &str, action: impl FnOnce(&Browser) -> R) -> R {
        self.js("window.__bsReadyChanges = 0;\
             new MutationObserver(() => window.__bsReadyChanges++)\
               .observe(document.body, {attributes: true, attributeFilter: ['data-ready']});");
        let out = action(self);
        self.wait_for(&format!("the next view with data-ready={view:?}"), |b| {
            let state = b
                .try_js(
                    "return {ready: document.body ? (document.body.dataset.ready || null) : null, \
                     changes: window.__bsReadyChanges === undefined ? -1 : window.__bsReadyChanges};",
                )
                .ok()?;
            if state["ready"].as_str() == Some("error") && view != "error" {
                b.fail(&format!("the UI shows an error instead of {view:?}"));
            }
            let fresh = state["changes"].as_i64().is_some_and(|n| n != 0);
            (fresh && state["ready"].as_str() == Some(view)).then_some(())
        });
        out
    }

    // -----------------------------------------------------------------------
    // Scripts

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    #[track_caller]
    pub fn js(&self, script: &str) -> Value {
        self.try_js(script)
            .unwrap_or_else(|e| panic!("the page runs {script:?}: {e}"))
    }

    pub fn try_js(&self, script: &str) -> Result<Value, String> {
        self.run(self.client().execute(script, Vec::new()))
            .map_err(|e| e.to_string())
    }

    pub fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.run(self.client().execute(script, args))
            .unwrap_or_else(|e| panic!("the page runs {script:?}: {e}"))
    }

    /// Runs an asynchronous `script`: it calls its last argument with the
    /// result.
    #[track_caller]
    pub fn js_async(&self, script: &str) -> Value {
        self.js_async_with(script, Vec::new())
    }

    /// [`Browser::js_async`] with `arguments[i]` = `args`.
    #[track_caller]
    pub fn js_async_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.run(self.client().execute_async(script, args))
            .unwrap_or_else(|e| panic!("the page runs {script:?}: {e}"))
    }

    /// Uncaught errors and rejections of the current document so far.
    pub fn js_errors(&self) -> Vec<String> {
        self.try_js("return window.__bsErrors || [];")
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// Asserts the current document had no uncaught error.
    #[track_caller]
    pub fn assert_no_js_errors(&self) {
        let errors = self.js_errors();
        assert!(
            errors.is_empty(),
            "uncaught script errors on {}: {errors:#?}",
            self.location()
        );
    }

    // -----------------------------------------------------------------------
    // Waiting

    /// Polls `probe` until it answers `Some`, for at most [`WAIT`]; on timeout
    /// saves `target/ui-screenshots/failed-....png` and panics with what the
    /// page showed.
    #[track_caller]
    pub fn wait_for<T>(&self, what: &str, mut probe: impl FnMut(&Browser) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = probe(self) {
                return value;
            }
            if Instant::now() > deadline {
                self.fail(&format!("waited {WAIT:?} for {what}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until `script` returns something truthy (not null, false, 0, "",
    /// or an empty array) and returns it.
    #[track_caller]
    pub fn wait_js(&self, what: &str, script: &str) -> Value {
        self.wait_for(what, |b| {
            let value = b.try_js(script).ok()?;
            truthy(&value).then_some(value)
        })
    }

    /// Waits until an element matches `css` and returns how many do.
    #[track_caller]
    pub fn wait_css(&self, css: &str) -> usize {
        self.wait_js(
            &format!("an element {css:?}"),
            &format!("return document.querySelectorAll({}).length;", js_str(css)),
        )
        .as_u64()
        .unwrap_or(0) as usize
    }

    /// How many elements match `css` now.
    pub fn count(&self, css: &str) -> usize {
        self.js(&format!(
            "return document.querySelectorAll({}).length;",
            js_str(css)
        ))
        .as_u64()
        .unwrap_or(0) as usize
    }

    pub fn exists(&self, css: &str) -> bool {
        self.count(css) > 0
    }

    /// The first element matching `css`, waiting for it.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element {
        self.wait_for(&format!("an element {css:?}"), |b| {
            b.run(b.client().find(Locator::Css(css))).ok()
        })
    }

    /// `textContent` of the first match (waiting for one), trimmed.
    #[track_caller]
    pub fn text(&self, css: &str) -> String {
        self.wait_css(css);
        self.js(&format!(
            "return (document.querySelector({}).textContent || '').trim();",
            js_str(css)
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// An attribute of the first match (waiting for one).
    #[track_caller]
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.wait_css(css);
        self.js(&format!(
            "return document.querySelector({}).getAttribute({});",
            js_str(css),
            js_str(name)
        ))
        .as_str()
        .map(str::to_string)
    }

    // -----------------------------------------------------------------------
    // Acting like a user

    /// Clicks the first element matching `css` with a real WebDriver click
    /// (scrolled into view; retried while it is missing, hidden, covered or
    /// replaced under us).
    #[track_caller]
    pub fn click(&self, css: &str) {
        let mut last = String::new();
        self.wait_for(&format!("a clickable {css:?} ({last})"), |b| {
            let result = b.run(async {
                let element = b.client().find(Locator::Css(css)).await?;
                element.click().await
            });
            match result {
                Ok(()) => Some(()),
                Err(e) => {
                    last = e.to_string();
                    None
                }
            }
        });
    }

    /// Clicks an element already found.
    pub fn click_element(&self, element: &Element) -> Result<(), String> {
        self.run(element.click()).map_err(|e| e.to_string())
    }

    /// Clicks the first element matching `css` whose text contains `text`.
    #[track_caller]
    pub fn click_text(&self, css: &str, text: &str) {
        self.wait_for(&format!("a clickable {css:?} with text {text:?}"), |b| {
            b.run(async {
                for element in b.client().find_all(Locator::Css(css)).await.ok()? {
                    if element.text().await.ok()?.contains(text) {
                        return element.click().await.ok();
                    }
                }
                None
            })
        });
    }

    /// Types `text` into the first element matching `css`, after clearing it.
    #[track_caller]
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.run(async {
            element.clear().await?;
            element.send_keys(text).await
        })
        .unwrap_or_else(|e| panic!("typing into {css:?}: {e}"));
    }

    /// Presses `key` (a WebDriver key, e.g. `Key::Right`) on whatever has
    /// the focus now.
    #[track_caller]
    pub fn press(&self, key: fantoccini::key::Key) {
        self.run(async {
            let focused = self.client().active_element().await?;
            focused.send_keys(&key).await
        })
        .unwrap_or_else(|e| panic!("pressing {key:?}: {e}"));
    }

    /// Picks the `<option value=value>` of the `<select>` matching `css`.
    #[track_caller]
    pub fn select(&self, css: &str, value: &str) {
        self.wait_for(&format!("option {value:?} of {css:?}"), |b| {
            b.run(async {
                let element = b.client().find(Locator::Css(css)).await.ok()?;
                element.select_by_value(value).await.ok()
            })
        });
    }

    /// Runs `inside` with WebDriver switched into the frame element matching
    /// `css` (any origin, even a sandboxed one), then switches back.
    #[track_caller]
    pub fn in_frame<R>(&self, css: &str, inside: impl FnOnce(&Browser) -> R) -> R {
        let frame = self.find(css);
        self.run(frame.enter_frame())
            .unwrap_or_else(|e| panic!("entering the frame {css:?}: {e}"));
        let out = inside(self);
        self.run(self.client().enter_parent_frame())
            .expect("back to the page from the frame");
        out
    }

    // -----------------------------------------------------------------------
    // Screenshots and the DevTools protocol

    /// Saves a PNG of the viewport as `target/ui-screenshots/{name}.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("target/ui-screenshots is creatable");
        let path = dir.join(format!("{name}.png"));
        let png = self
            .run(self.client().screenshot())
            .unwrap_or_else(|e| panic!("a screenshot: {e}"));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver's
    /// `goog/cdp/execute` (to the current page's target) and returns its
    /// result.
    #[track_caller]
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.try_cdp(cmd, params)
            .unwrap_or_else(|e| panic!("the CDP command {cmd}: {e}"))
    }

    pub fn try_cdp(&self, cmd: &str, params: Value) -> Result<Value, String> {
        let path = format!("/session/{}/goog/cdp/execute", self.session);
        let body = json!({ "cmd": cmd, "params": params }).to_string();
        let (status, answer) = http("POST", self.driver_port, &path, Some(&body))?;
        let answer: Value = serde_json::from_str(&answer).map_err(|e| format!("{e}: {answer}"))?;
        if status != 200 {
            return Err(format!("status {status}: {answer}"));
        }
        Ok(answer["value"].clone())
    }

    /// Emulates `prefers-color-scheme` (`"dark"`, `"light"`, or `""` for the
    /// default); false if the driver refused.
    pub fn color_scheme(&self, scheme: &str) -> bool {
        self.try_cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .is_ok()
    }

    /// Saves a screenshot and panics with what the page shows.
    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        let shot = self
            .try_js("return 1;")
            .ok()
            .map(|_| self.screenshot(&format!("failed-{}", sanitize(why))));
        let state = self
            .try_js(
                "return {location: location.href, ready: document.body ? document.body.dataset.ready : null, \
                 errors: window.__bsErrors || [], text: document.body ? document.body.innerText.slice(0, 1500) : ''};",
            )
            .unwrap_or(Value::Null);
        panic!(
            "{why}\npage: {}\nscreenshot: {shot:?}",
            serde_json::to_string_pretty(&state).unwrap_or_default()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the session (Chromium exits); bounded so a hung browser
            // cannot hang the test.
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }
}

/// Starts chromedriver on a port it picks and returns it with that port.
fn start_chromedriver() -> Result<(Child, u16), String> {
    let mut child = Command::new(CHROMEDRIVER)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMEDRIVER} starts: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    // What it says on stderr, kept for the message if it never starts
    // (drained all along, so the driver never blocks on a full pipe).
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = said.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut kept = keep.lock().unwrap_or_else(|p| p.into_inner());
            if kept.len() < 16 * 1024 {
                kept.extend_from_slice(&buf[..n]);
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    // Read its banner until the port line; keep draining afterwards so the
    // driver never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut sent = false;
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if !sent {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port = rest.trim().trim_end_matches('.').parse::<u16>().ok();
                    let _ = tx.send(port);
                    sent = true;
                }
            }
            line.clear();
        }
        if !sent {
            let _ = tx.send(None);
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(Some(port)) => Ok((child, port)),
        other => {
            let _ = child.kill();
            let status = child.wait();
            let said = said.lock().unwrap_or_else(|p| p.into_inner());
            Err(format!(
                "chromedriver did not say which port it listens on ({other:?}; it exited: \
                 {status:?}); its stderr: {}",
                String::from_utf8_lossy(&said)
            ))
        }
    }
}

/// One HTTP/1.1 request to loopback `port`: (status, body).
fn http(method: &str, port: u16, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // Read the head, then exactly the body (chromedriver keeps the
    // connection open whatever `Connection: close` says).
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let body = if let Some(length) = length {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        String::from_utf8_lossy(&body).into_owned()
    } else if lower.contains("transfer-encoding: chunked") {
        let mut body = String::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| e.to_string())?;
            let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| format!("chunk size: {e}"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            if size == 0 {
                break;
            }
            body.push_str(&String::from_utf8_lossy(&chunk[..size]));
        }
        body
    } else {
        let mut body = String::new();
        reader
            .read_to_string(&mut body)
            .map_err(|e| e.to_string())?;
        body
    };
    Ok((status, body))
}

/// JSON's idea of truth, as JavaScript's.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// `s` as a JavaScript string literal.
pub fn js_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(60)
        .collect()
}
