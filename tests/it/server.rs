//! The REST server as a client sees it: the real binary serving on 127.0.0.1
//! port 0 with a temp data dir, driven over raw HTTP/1.1 (a hand-written client,
//! so odd requests such as a wrong `Host`, `..` or NUL in a path reach the
//! server exactly as written, with no client normalizing them first).

use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `blockstore serve`, stopped (SIGTERM, then kill) on drop.
pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::start_in(&data, extra);
        server._dir = Some(dir);
        server
    }

    pub fn start_in(data: &Path, extra: &[&str]) -> Server {
        Server::start_wrapped(&[], data, extra)
    }

    /// Starts the server through `wrapper` (a command that ends by running
    /// its arguments, e.g. `sh -c 'ulimit -Sn 256 && exec "$@"' sh`).
    pub fn start_wrapped(wrapper: &[&str], data: &Path, extra: &[&str]) -> Server {
        let binary = env!("CARGO_BIN_EXE_blockstore");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .arg("--data-dir")
            .arg(data)
            .args(crate::garage::backend_args(data))
            .arg("--json")
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("BLOCKSTORE_TOKEN")
            .env("RUST_LOG", "warn")
            .envs(crate::garage::env_if_started())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("blockstore serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("serve prints its URL as JSON first ({e}): {line:?}")
        });
        let url = info["url"].as_str().unwrap();
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Server {
            child: Some(child),
            addr,
            data: data.to_path_buf(),
            _dir: None,
        }
    }

    pub fn request(&self, method: &str, path: &str) -> Req {
        Req {
            addr: self.addr.clone(),
            method: method.into(),
            path: path.into(),
            headers: vec![("Host".into(), self.addr.clone())],
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path).send()
    }

    pub fn json(&self, method: &str, path: &str, body: Value) -> Resp {
        self.request(method, path).json(body).send()
    }

    pub fn put(&self, path: &str, bytes: &[u8]) -> Resp {
        self.request("PUT", path).body(bytes).send()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        panic!("the server did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request being built.
pub struct Req {
    addr: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Req {
        if name.eq_ignore_ascii_case("host") {
            self.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        }
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, bytes: &[u8]) -> Req {
        self.body = bytes.to_vec();
        self
    }

    pub fn json(self, value: Value) -> Req {
        self.header("Content-Type", "application/json")
            .body(value.to_string().as_bytes())
    }

    fn head(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head += &format!("{name}: {value}\r\n");
        }
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            head += &format!("Content-Length: {}\r\n", self.body.len());
        }
        head += "Connection: close\r\n\r\n";
        head.into_bytes()
    }

    pub fn send(self) -> Resp {
        let mut stream = TcpStream::connect(&self.addr).expect("the server accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(&self.head()).unwrap();
        // A server may answer (413) before reading the whole body and close.
        let _ = stream.write_all(&self.body);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        Resp::parse(&raw)
    }

    /// Sends and returns the open stream positioned after the headers.
    pub fn open(self) -> (Resp, BufReader<TcpStream>) {
        let mut stream = TcpStream::connect(&self.addr).expect("the server accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(&self.head()).unwrap();
        stream.write_all(&self.body).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        (Resp::parse(&head), reader)
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn parse(raw: &[u8]) -> Resp {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[split..].to_vec();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        if chunked {
            body = dechunk(&body);
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "a JSON body ({e}), status {}: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, returning the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected {status}, got {}: {}",
            self.status,
            self.text()
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts an error status with the documented error shape; returns its code.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> String {
        let body = self.expect(status);
        let error = &body["error"];
        assert!(
            error["code"].is_string()
                && error["message"].is_string()
                && error.get("details").is_some(),
            "the error shape is {{error: {{code, message, details}}}}: {body}"
        );
        error["code"].as_str().unwrap().to_string()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        body = &body[end + 2..];
        out.extend_from_slice(&body[..size.min(body.len())]);
        body = &body[(size + 2).min(body.len())..];
    }
}

pub const API: &str = "/api/v1";

/// A small PNG (1x1), as an image asset.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[test]
fn a_prototype_session_over_http() {
    let server = Server::start(&[]);
    let health = server.get(&format!("{API}/health")).expect(200);
    assert_eq!(health["status"], "ok");

    // Create a collection.
    let created = server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "proto", "title": "Prototype"}),
        )
        .expect(201);
    assert_eq!(created["slug"], "proto");
    let uuid = created["uuid"].as_str().unwrap().to_string();
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "proto"}),
        )
        .expect_error(409);
    // Addressable by uuid as well as slug.
    let by_uuid = server.get(&format!("{API}/collections/{uuid}")).expect(200);
    assert_eq!(by_uuid["slug"], "proto");
    assert_eq!(by_uuid["title"], "Prototype");

    // PUT units and an image asset.
    let vertical = br#"<vertical display_name="Unit 1"><html url_name="intro"/><problem url_name="missing"/></vertical>"#;
    let html = br#"<html filename="intro" display_name="Intro"/>"#;
    let body = br#"<p>Look: <img src="/static/pixel.png"/></p>"#;
    let c = format!("{API}/collections/proto");
    let put = server.put(&format!("{c}/raw/vertical/unit1.xml"), vertical);
    let put_body = put.expect(201);
    assert_eq!(put_body["outcome"], "created");
    assert_eq!(put_body["file"]["kind"], "unit");
    let etag = put.header("etag").unwrap().to_string();
    assert_eq!(
        etag,
        format!("\"{}\"", put_body["file"]["hash"].as_str().unwrap())
    );
    server
        .put(&format!("{c}/raw/html/intro.xml"), html)
        .expect(201);
    server
        .put(&format!("{c}/raw/html/intro.html"), body)
        .expect(201);
    let png = server
        .put(&format!("{c}/raw/static/pixel.png"), PNG)
        .expect(201);
    assert_eq!(png["file"]["kind"], "asset");
    assert_eq!(png["file"]["media_type"], "image/png");
    // Writing the same bytes again is no change.
    assert_eq!(
        server
            .put(&format!("{c}/raw/html/intro.xml"), html)
            .expect(200)["outcome"],
        "unchanged"
    );

    // Read them back.
    let raw = server.get(&format!("{c}/raw/static/pixel.png"));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body, PNG);
    assert_eq!(raw.header("content-type"), Some("image/png"));
    assert_eq!(
        raw.header("content-length"),
        Some(PNG.len().to_string().as_str())
    );
    let listing = server.get(&format!("{c}/files")).expect(200);
    assert_eq!(listing["count"], 4);
    let paths: Vec<&str> = listing["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "html/intro.html",
            "html/intro.xml",
            "static/pixel.png",
            "vertical/unit1.xml"
        ]
    );
    let units = server
        .get(&format!("{c}/files?kind=unit&prefix=html/"))
        .expect(200);
    assert_eq!(units["count"], 2);
    let detail = server
        .get(&format!("{c}/files/vertical/unit1.xml"))
        .expect(200);
    assert_eq!(detail["links"].as_array().unwrap().len(), 2);

    // Links, including a broken one.
    let links = server
        .get(&format!("{c}/links?path=vertical/unit1.xml"))
        .expect(200);
    let statuses: Vec<(String, String)> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["written"].as_str().unwrap().to_string(),
                l["resolution"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("intro".into(), "resolved".into()),
            ("missing".into(), "broken".into())
        ]
    );
    let broken = server.get(&format!("{c}/links?broken=true")).expect(200);
    assert_eq!(broken["broken"].as_array().unwrap().len(), 1);
    assert_eq!(broken["broken"][0]["written"], "missing");
    let incoming = server
        .get(&format!("{c}/links?path=static/pixel.png&direction=in"))
        .expect(200);
    assert_eq!(incoming["links"][0]["source_path"], "html/intro.html");
    // A link by its uuid.
    let link_uuid = incoming["links"][0]["uuid"].as_str().unwrap();
    let link = server.get(&format!("{API}/links/{link_uuid}")).expect(200);
    assert_eq!(link["written"], "/static/pixel.png");

    // Publish, list versions.
    let published = server
        .json("POST", &format!("{c}/publish"), json!({"message": "first"}))
        .expect(201);
    assert_eq!(published["number"], 1);
    assert_eq!(published["changes"].as_array().unwrap().len(), 4);
    server
        .json("POST", &format!("{c}/publish"), json!({"message": "again"}))
        .expect_error(409);
    let versions = server.get(&format!("{c}/versions")).expect(200);
    assert_eq!(versions["count"], 1);
    assert_eq!(versions["results"][0]["message"], "first");
    let v1 = server.get(&format!("{c}/versions/1")).expect(200);
    assert_eq!(v1["entries"].as_array().unwrap().len(), 4);
    server.get(&format!("{c}/versions/9")).expect_error(404);

    // Change, diff, history.
    let changed =
        br#"<vertical display_name="Unit 1, revised"><html url_name="intro"/></vertical>"#;
    server
        .request("PUT", &format!("{c}/raw/vertical/unit1.xml"))
        .header("If-Match", &etag)
        .body(changed)
        .send()
        .expect(200);
    let diff = server.get(&format!("{c}/diff?from=1&to=draft")).expect(200);
    assert_eq!(diff["entries"].as_array().unwrap().len(), 1);
    assert_eq!(diff["entries"][0]["status"], "modified");
    let text = server
        .get(&format!("{c}/diff?from=1&to=draft&path=vertical/unit1.xml"))
        .expect(200);
    assert!(text["diff"]
        .as_str()
        .unwrap()
        .contains("+<vertical display_name=\"Unit 1, revised\">"));
    let history = server
        .get(&format!("{c}/history/vertical/unit1.xml"))
        .expect(200);
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    let unit_uuid = history["uuid"].as_str().unwrap();
    let unit = server.get(&format!("{API}/units/{unit_uuid}")).expect(200);
    assert_eq!(unit["collection"], "proto");
    assert_eq!(unit["latest"]["version"], 1);
    server
        .get(&format!("{API}/assets/{unit_uuid}"))
        .expect_error(404);
    let unit_versions = server
        .get(&format!("{API}/units/{unit_uuid}/versions"))
        .expect(200);
    assert_eq!(unit_versions["versions"].as_array().unwrap().len(), 2);
    // Each version is addressable by its own uuid.
    let v1_uuid = unit_versions["versions"][1]["uuid"].as_str().unwrap();
    let v1 = server.get(&format!("{API}/versions/{v1_uuid}")).expect(200);
    assert_eq!(v1["number"], 1);
    assert_eq!(v1["linkable"], unit_uuid);
    assert_eq!(v1["collection"], "proto");
    assert_eq!(v1["hash"], put_body["file"]["hash"]);
    // The published version is still what version=1 serves.
    let old = server.get(&format!("{c}/raw/vertical/unit1.xml?version=1"));
    assert_eq!(old.body, vertical);

    // Revert, then delete.
    let reverted = server
        .json("POST", &format!("{c}/revert"), json!({}))
        .expect(200);
    assert_eq!(reverted["discarded"], json!(["vertical/unit1.xml"]));
    assert_eq!(
        server.get(&format!("{c}/raw/vertical/unit1.xml")).body,
        vertical
    );
    let deleted = server
        .request("DELETE", &format!("{c}/raw/html/intro.html"))
        .send()
        .expect(200);
    assert_eq!(deleted["outcome"], "deleted");
    server
        .get(&format!("{c}/raw/html/intro.html"))
        .expect_error(404);
    let status = server.get(&c).expect(200);
    assert_eq!(status["draft_changes"], 1);
    server
        .json(
            "POST",
            &format!("{c}/publish"),
            json!({"message": "drop the body"}),
        )
        .expect(201);
    // Collection metadata, then the collection itself.
    let patched = server
        .json("PATCH", &c, json!({"description": "a prototype"}))
        .expect(200);
    assert_eq!(patched["description"], "a prototype");
    server.request("DELETE", &c).send().expect(200);
    server.get(&c).expect_error(404);
}

#[test]
fn raw_reads_honour_etag_and_range() {
    let server = Server::start(&[]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "media"}),
        )
        .expect(201);
    let video: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let url = format!("{API}/collections/media/raw/static/clip.mp4");
    let put = server.put(&url, &video);
    put.expect(201);
    let etag = put.header("etag").unwrap().to_string();

    let full = server.get(&url);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, video);
    assert_eq!(full.header("etag"), Some(etag.as_str()));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(full.header("content-type"), Some("video/mp4"));

    let not_modified = server
        .request("GET", &url)
        .header("If-None-Match", &etag)
        .send();
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    let stale = server
        .request("GET", &url)
        .header("If-None-Match", "\"0000\"")
        .send();
    assert_eq!(stale.status, 200);

    let part = server
        .request("GET", &url)
        .header("Range", "bytes=1000-1999")
        .send();
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &video[1000..2000]);
    assert_eq!(part.header("content-range"), Some("bytes 1000-1999/100000"));
    assert_eq!(part.header("content-length"), Some("1000"));
    let tail = server
        .request("GET", &url)
        .header("Range", "bytes=-10")
        .send();
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, &video[99_990..]);
    let open_ended = server
        .request("GET", &url)
        .header("Range", "bytes=99999-")
        .send();
    assert_eq!(open_ended.body, &video[99_999..]);
    let outside = server
        .request("GET", &url)
        .header("Range", "bytes=200000-")
        .send();
    assert_eq!(outside.expect_error(416), "range_not_satisfiable");
    assert_eq!(outside.header("content-range"), Some("bytes */100000"));
    // If-Range with an old tag: the whole file.
    let changed = server
        .request("GET", &url)
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"0000\"")
        .send();
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body.len(), video.len());
    // Stored HTML is never active content in the API's origin.
    server
        .put(
            &format!("{API}/collections/media/raw/html/x.html"),
            b"<script>alert(1)</script>",
        )
        .expect(201);
    let html = server.get(&format!("{API}/collections/media/raw/html/x.html"));
    assert!(html
        .header("content-security-policy")
        .unwrap()
        .starts_with("sandbox"));
    assert_eq!(html.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn the_event_stream_delivers_draft_changed_then_published() {
    let server = Server::start(&[]);
    let (head, mut stream) = server.request("GET", &format!("{API}/events")).open();
    assert_eq!(head.status, 200);
    assert!(head
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "ev"}))
        .expect(201);
    server
        .put(
            &format!("{API}/collections/ev/raw/html/a.html"),
            b"<p>a</p>",
        )
        .expect(201);
    server
        .json(
            "POST",
            &format!("{API}/collections/ev/publish"),
            json!({"message": "m"}),
        )
        .expect(201);
    let mut events: Vec<(String, Value)> = Vec::new();
    let mut kind = String::new();
    while events.len() < 3 {
        let mut line = String::new();
        if stream.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // Chunked framing lines (sizes, blanks) carry no "field:" prefix we use.
        let line = line.trim_end();
        if let Some(k) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            kind = k.trim().to_string();
        } else if let Some(d) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
        {
            events.push((kind.clone(), serde_json::from_str(d.trim()).unwrap()));
        }
    }
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "collection.created",
            "draft.changed",
            "collection.published"
        ]
    );
    assert_eq!(events[1].1["paths"], json!(["html/a.html"]));
    assert_eq!(events[2].1["collection"], "ev");
    assert_eq!(events[2].1["version"], 1);
}

#[test]
fn concurrent_writers_never_lose_a_write_and_if_match_losers_get_412() {
    let server = Server::start(&[]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "busy"}),
        )
        .expect(201);
    let base = format!("{API}/collections/busy/raw");
    // 16 clients, 200 different files each.
    std::thread::scope(|scope| {
        for client in 0..16 {
            let server = &server;
            let base = &base;
            scope.spawn(move || {
                for i in 0..200 {
                    let body = format!("<p>client {client} file {i}</p>");
                    server
                        .put(&format!("{base}/html/c{client}/f{i}.html"), body.as_bytes())
                        .expect(201);
                }
            });
        }
    });
    let listing = server
        .get(&format!(
            "{API}/collections/busy/files?page_size=1000&prefix=html/c"
        ))
        .expect(200);
    assert_eq!(listing["count"], 16 * 200, "no write was lost");

    // 16 clients racing on one file, each with the ETag it read.
    let shared = format!("{base}/html/shared.html");
    let first = server.put(&shared, b"<p>start</p>");
    first.expect(201);
    let start_tag = first.header("etag").unwrap().to_string();
    let results: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|client| {
                let server = &server;
                let shared = &shared;
                let start_tag = &start_tag;
                scope.spawn(move || {
                    let body = format!("<p>winner {client}</p>");
                    let resp = server
                        .request("PUT", shared)
                        .header("If-Match", start_tag)
                        .body(body.as_bytes())
                        .send();
                    (resp.status, body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<&(u16, String)> = results.iter().filter(|(s, _)| *s == 200).collect();
    let losers = results.iter().filter(|(s, _)| *s == 412).count();
    assert_eq!(
        winners.len(),
        1,
        "exactly one conditional write wins: {results:?}"
    );
    assert_eq!(losers, 15, "every loser gets 412: {results:?}");
    assert_eq!(
        server.get(&shared).text(),
        winners[0].1,
        "the final state is the winner's"
    );
    // A loser retrying with the current ETag succeeds.
    let current = server.get(&shared).header("etag").unwrap().to_string();
    server
        .request("PUT", &shared)
        .header("If-Match", &current)
        .body(b"<p>retried</p>")
        .send()
        .expect(200);
    // If-None-Match: * only creates.
    server
        .request("PUT", &shared)
        .header("If-None-Match", "*")
        .body(b"<p>clobber</p>")
        .send()
        .expect_error(412);
}

/// Everything a client could observe of the store, plus its blob files.
#[test]
fn bad_input_gets_a_documented_4xx_and_changes_nothing() {
    let server = Server::start(&["--upload-limit", "4096", "--json-limit", "2048"]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "safe"}),
        )
        .expect(201);
    server
        .put(
            &format!("{API}/collections/safe/raw/html/a.html"),
            b"<p>a</p>",
        )
        .expect(201);
    server
        .json(
            "POST",
            &format!("{API}/collections/safe/publish"),
            json!({"message": "one"}),
        )
        .expect(201);
    let before = observable(&server.data);
    let c = format!("{API}/collections/safe");
    let unknown = "00000000-0000-7000-8000-000000000000";
    let big = vec![b'x'; 10_000];
    let hostile = crate::archive::RawTar::new()
        .file(
            "course/html/fresh.html",
            b"<p>written before the bad entry</p>",
        )
        .file("course/../evil.xml", b"<x/>")
        .tar_gz();
    let big_archive = crate::archive::RawTar::new()
        .file("course/static/big.bin", &big)
        .tar();
    let cases: Vec<(Req, u16)> = vec![
        // Unknown ids.
        (
            server.request("GET", &format!("{API}/collections/nope")),
            404,
        ),
        (
            server.request("GET", &format!("{API}/collections/{unknown}/files")),
            404,
        ),
        (
            server.request("GET", &format!("{c}/raw/html/none.html")),
            404,
        ),
        (
            server.request("GET", &format!("{c}/files/html/none.html")),
            404,
        ),
        (
            server.request("GET", &format!("{c}/history/html/none.html")),
            404,
        ),
        (server.request("GET", &format!("{c}/versions/7")), 404),
        (
            server.request("GET", &format!("{API}/units/{unknown}")),
            404,
        ),
        (
            server.request("GET", &format!("{API}/assets/{unknown}/versions")),
            404,
        ),
        (
            server.request("GET", &format!("{API}/links/{unknown}")),
            404,
        ),
        (
            server.request("DELETE", &format!("{c}/raw/html/none.html")),
            404,
        ),
        (
            server
                .request("PUT", &format!("{API}/collections/nope/raw/html/a.html"))
                .body(b"x"),
            404,
        ),
        (server.request("GET", "/api/v1/nothing-here"), 404),
        (server.request("GET", &format!("{c}/files?page=9")), 404),
        // Malformed JSON and wrong types.
        (
            server
                .request("POST", &format!("{API}/collections"))
                .json(json!({"slug": 5})),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/collections"))
                .header("Content-Type", "application/json")
                .body(b"{\"slug\":"),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/collections"))
                .json(json!({"slug": "ok", "colour": "red"})),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/collections"))
                .json(json!({"slug": "../x"})),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/collections"))
                .body(b"slug=x"),
            415,
        ),
        (
            server
                .request("POST", &format!("{c}/publish"))
                .body(b"message=x"),
            415,
        ),
        (
            server
                .request("POST", &format!("{c}/publish"))
                .json(json!({"message": 1})),
            400,
        ),
        (
            server.request("PATCH", &c).json(json!({"title": ["a"]})),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/gc"))
                .json(json!({"older_than_days": -1})),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/gc"))
                .json(json!({"older_than_days": "x"})),
            400,
        ),
        // Bad query values.
        (
            server.request("GET", &format!("{c}/files?version=zero")),
            400,
        ),
        (server.request("GET", &format!("{c}/files?version=0")), 400),
        (server.request("GET", &format!("{c}/files?kind=video")), 400),
        (
            server.request("GET", &format!("{c}/files?page_size=0")),
            400,
        ),
        (
            server.request("GET", &format!("{c}/files?page_size=100000")),
            400,
        ),
        (
            server.request("GET", &format!("{c}/links?direction=sideways")),
            400,
        ),
        (server.request("GET", &format!("{c}/versions/x")), 400),
        // Traversal and odd paths.
        (
            server
                .request("PUT", &format!("{c}/raw/../../etc/passwd"))
                .body(b"x"),
            400,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/%2e%2e/%2e%2e/x.html"))
                .body(b"x"),
            400,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/..%2f..%2fx.html"))
                .body(b"x"),
            400,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw//etc/x.html"))
                .body(b"x"),
            400,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html%5c..%5cx.html"))
                .body(b"x"),
            400,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/a%00.html"))
                .body(b"x"),
            400,
        ),
        (
            server.request("GET", &format!("{c}/raw/html/%2e%2e/%2e%2e/store.db")),
            400,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/a.html?version=1"))
                .body(b"x"),
            400,
        ),
        // Preconditions.
        (
            server
                .request("PUT", &format!("{c}/raw/html/a.html"))
                .header("If-Match", "\"abc\"")
                .body(b"<p>b</p>"),
            412,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/new.html"))
                .header("If-Match", "*")
                .body(b"<p>b</p>"),
            412,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/a.html"))
                .header("If-None-Match", "*")
                .body(b"<p>b</p>"),
            412,
        ),
        // Conflicts.
        (
            server
                .request("POST", &format!("{c}/publish"))
                .json(json!({"message": "nothing"})),
            409,
        ),
        (
            server
                .request("POST", &format!("{API}/collections"))
                .json(json!({"slug": "safe"})),
            409,
        ),
        // Too large.
        (
            server
                .request("PUT", &format!("{c}/raw/static/big.bin"))
                .body(&big),
            413,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/static/big.bin"))
                .header("Transfer-Encoding", "chunked")
                .body(&chunk(&big)),
            413,
        ),
        (
            server
                .request("POST", &format!("{API}/collections"))
                .json(json!({"slug": "big", "description": "d".repeat(5000)})),
            413,
        ),
        // Archives: not one, a refused one, too big, unknown targets.
        (
            server.request("POST", &format!("{c}/import")).body(b"x"),
            400,
        ),
        (server.request("POST", &format!("{c}/import")), 400),
        (
            server
                .request("POST", &format!("{c}/import"))
                .header("Content-Type", "text/plain")
                .body(&hostile),
            415,
        ),
        (
            server
                .request("POST", &format!("{c}/import"))
                .header("Content-Type", "application/gzip")
                .body(&hostile),
            400,
        ),
        (
            server
                .request("POST", &format!("{API}/collections/brand-new/import"))
                .body(&hostile),
            400,
        ),
        (
            server
                .request("POST", &format!("{c}/import?publish=maybe"))
                .body(&hostile),
            400,
        ),
        (
            server
                .request("POST", &format!("{c}/import"))
                .body(&big_archive),
            413,
        ),
        (
            server.request("GET", &format!("{API}/collections/nope/export")),
            404,
        ),
        (server.request("GET", &format!("{c}/export?version=9")), 404),
        (
            server.request("GET", &format!("{c}/export?format=zip")),
            400,
        ),
        // Wrong method, wrong Host.
        (server.request("DELETE", &format!("{API}/health")), 405),
        (
            server
                .request("GET", &format!("{API}/health"))
                .header("Host", "evil.example"),
            403,
        ),
        (
            server
                .request("PUT", &format!("{c}/raw/html/a.html"))
                .header("Host", "rebind.example:80")
                .body(b"x"),
            403,
        ),
    ];
    let mut failures = Vec::new();
    for (req, status) in cases {
        let what = format!("{} {}", req.method, req.path);
        let resp = req.send();
        let shaped = serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .is_some_and(|b| b["error"]["code"].is_string() && b["error"]["message"].is_string());
        if resp.status != status || !shaped {
            failures.push(format!(
                "{what}: expected {status} with an error body, got {} {}",
                resp.status,
                resp.text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        observable(&server.data),
        before,
        "bad requests changed the store"
    );
}

/// A body in chunked transfer coding (so no Content-Length announces it).
fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in bytes.chunks(1000) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn a_token_guards_the_api_and_non_loopback_needs_one() {
    let server = Server::start(&["--token", "s3cret-token"]);
    let health = format!("{API}/health");
    server.request("GET", &health).send().expect_error(401);
    server
        .request("GET", &health)
        .header("Authorization", "Bearer wrong")
        .send()
        .expect_error(401);
    server
        .request("GET", &health)
        .header("Authorization", "Bearer s3cret-token")
        .send()
        .expect(200);

    let dir = tempfile::tempdir().unwrap();
    let refused = run_cli(dir.path(), &["serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--token"), "{}", stderr(&refused));
}

#[test]
fn sigterm_stops_the_server_cleanly_and_the_log_file_records_requests() {
    let mut server = Server::start(&[]);
    // A read that succeeds is logged at debug only; a write and a refused
    // request are in the file.
    server.get(&format!("{API}/health")).expect(200);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "logged"}),
        )
        .expect(201);
    server
        .put(
            &format!("{API}/collections/logged/raw/html/a.html"),
            b"<p>a</p>",
        )
        .expect(201);
    server
        .get(&format!("{API}/collections/nowhere"))
        .expect(404);
    let status = server.stop();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    let logs = run_cli(&server.data, &["--json", "logs"]);
    assert!(logs.status.success());
    let text = stdout(&logs);
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let request = |uri: &str| {
        records
            .iter()
            .find(|r| r["fields"]["uri"] == uri)
            .cloned()
            .unwrap_or_else(|| panic!("a JSON line for {uri} (--json prints them raw): {text}"))
    };
    let put = request("/api/v1/collections/logged/raw/html/a.html");
    assert_eq!(put["fields"]["method"], "PUT");
    assert_eq!(put["fields"]["status"], 201);
    assert_eq!(put["level"], "INFO");
    assert_eq!(
        request("/api/v1/collections/nowhere")["fields"]["status"],
        404
    );
    assert!(
        !text.contains("/api/v1/health"),
        "a successful read is not in the file: {text}"
    );
    let readable = stdout(&run_cli(&server.data, &["logs"]));
    let line = readable
        .lines()
        .find(|l| l.contains("/api/v1/collections/logged/raw/html/a.html"))
        .unwrap_or_else(|| panic!("a readable line for the request: {readable}"));
    assert!(
        serde_json::from_str::<Value>(line).is_err()
            && line.contains("INFO")
            && line.contains("status=201"),
        "without --json a line reads as text: {line}"
    );
    let last = run_cli(&server.data, &["logs", "-n", "1"]);
    assert_eq!(stdout(&last).lines().count(), 1);
}

/// Every `$ref` in a JSON document.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_string());
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_is_valid_and_covers_every_endpoint() {
    let server = Server::start(&[]);
    let doc = server.get(&format!("{API}/openapi.json")).expect(200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    // It parses as OpenAPI 3.1 with a typed reader, not just as JSON.
    let spec = oas3::from_json(doc.to_string()).expect("a valid OpenAPI 3.1 document");
    assert_eq!(spec.info.title, "Blockstore appliance");
    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a local schema ref: {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} resolves"
        );
    }
    // DESIGN.md's endpoints, each with its methods, and the UI's two.
    let design: &[(&str, &[&str])] = &[
        ("/api/v1/health", &["get"]),
        ("/api/v1/collections", &["get", "post"]),
        ("/api/v1/collections/{c}", &["get", "patch", "delete"]),
        ("/api/v1/collections/{c}/files", &["get"]),
        ("/api/v1/collections/{c}/files/{path}", &["get"]),
        (
            "/api/v1/collections/{c}/raw/{path}",
            &["get", "put", "delete"],
        ),
        ("/api/v1/collections/{c}/publish", &["post"]),
        ("/api/v1/collections/{c}/revert", &["post"]),
        ("/api/v1/collections/{c}/versions", &["get"]),
        ("/api/v1/collections/{c}/versions/{n}", &["get"]),
        ("/api/v1/collections/{c}/drafts", &["get"]),
        ("/api/v1/collections/{c}/drafts/{name}", &["get"]),
        ("/api/v1/collections/{c}/diff", &["get"]),
        ("/api/v1/collections/{c}/history/{path}", &["get"]),
        ("/api/v1/collections/{c}/links", &["get"]),
        ("/api/v1/import", &["post"]),
        ("/api/v1/collections/{c}/import", &["post"]),
        ("/api/v1/collections/{c}/export", &["get"]),
        ("/api/v1/collections/{c}/outline", &["get"]),
        ("/api/v1/units/{uuid}", &["get"]),
        ("/api/v1/assets/{uuid}", &["get"]),
        ("/api/v1/links/{uuid}", &["get"]),
        ("/api/v1/versions/{uuid}", &["get"]),
        ("/api/v1/units/{uuid}/versions", &["get"]),
        ("/api/v1/assets/{uuid}/versions", &["get"]),
        ("/api/v1/gc", &["post"]),
        ("/api/v1/events", &["get"]),
        ("/api/v1/openapi.json", &["get"]),
        // What the UI added: the empty state's seeding and the lazy file tree.
        ("/api/v1/seed", &["post"]),
        ("/api/v1/collections/{c}/folders", &["get"]),
        // Issue 16: the API's root is an index of it; draft revisions.
        ("/api/v1", &["get"]),
        ("/api/v1/collections/{c}/revisions/{id}", &["get"]),
        ("/api/v1/collections/{c}/revisions/{id}/raw", &["get"]),
        ("/api/v1/collections/{c}/revisions/{id}/diff", &["get"]),
        ("/api/v1/collections/{c}/revisions/{id}/restore", &["post"]),
        ("/api/v1/collections/{c}/rename", &["post"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in design {
        for method in *methods {
            let op = &paths
                .get(*path)
                .unwrap_or_else(|| panic!("{path} is documented"))[*method];
            assert!(op.is_object(), "{method} {path} is documented");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("401") && responses.contains_key("403"),
                "{method} {path} documents the guard's errors"
            );
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            // Every path parameter in the template is declared.
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            for segment in path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(declared.contains(&name), "{method} {path} declares {name}");
                }
            }
        }
    }
    // Nothing documented that the server does not route, and the reverse:
    // every documented operation reaches a handler (no "no endpoint", no 405).
    assert_eq!(
        paths.len(),
        design.len(),
        "no undocumented extras in the document"
    );
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{c}", "nope")
                .replace("{path}", "html/x.html")
                .replace("{n}", "1")
                .replace("{uuid}", "00000000-0000-7000-8000-000000000000");
            if concrete.ends_with("/events") {
                continue; // a stream; the SSE test covers it
            }
            let resp = server
                .request(&method.to_ascii_uppercase(), &concrete)
                .json(json!({}))
                .send();
            assert_ne!(resp.status, 405, "{method} {path} is routed");
            assert!(
                !resp.text().contains("no endpoint at"),
                "{method} {path} is routed: {}",
                resp.text()
            );
        }
    }
}

#[test]
fn shutdown_lets_an_upload_in_flight_finish_and_commit() {
    let mut server = Server::start(&[]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "late"}),
        )
        .expect(201);
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let path = format!("{API}/collections/late/raw/static/big.bin");
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr,
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // SIGTERM while the upload is half sent; the rest arrives afterwards.
    let pid = server.child.as_ref().unwrap().id();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[body.len() / 2..]).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let resp = Resp::parse(&raw);
    assert_eq!(
        resp.status,
        201,
        "the in-flight write finishes: {}",
        resp.text()
    );
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    let store = open_existing(&server.data);
    let (_, bytes) = store
        .read("late", "static/big.bin", blockstore::store::At::Draft)
        .unwrap();
    assert_eq!(bytes, body, "and what it wrote is committed");
}

#[test]
fn logs_follow_prints_new_requests_as_they_happen() {
    let server = Server::start(&[]);
    server.get(&format!("{API}/health")).expect(200);
    let mut follow = Command::new(env!("CARGO_BIN_EXE_blockstore"))
        .arg("--data-dir")
        .arg(&server.data)
        .args(["logs", "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    server
        .get(&format!("{API}/collections/followed-request"))
        .expect_error(404);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("followed-request") => {
                seen = true;
                break;
            }
            _ => {}
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen, "logs -f printed the new request's line");
}

#[test]
fn archives_go_in_and_out_over_http() {
    let server = Server::start(&[]);
    let course = sample_course();
    let archive = crate::archive::RawTar::new()
        .tree(&course, "course")
        .tar_gz();
    let c = format!("{API}/collections/sample");

    // Into a new collection, published on the way: 201 and the import report.
    let report = server
        .request(
            "POST",
            &format!("{c}/import?publish=true&message=From%20Studio"),
        )
        .header("Content-Type", "application/gzip")
        .body(&archive)
        .send()
        .expect(201);
    assert_eq!(report["collection"], "sample");
    assert_eq!(report["files"], 42);
    assert_eq!(report["published"]["number"], 1);
    assert_eq!(report["published"]["message"], "From Studio");
    // Again: 200, nothing changed. Revisions record the API as the source.
    let again = server
        .request("POST", &format!("{c}/import"))
        .body(&archive)
        .send()
        .expect(200);
    assert_eq!(again["new_blobs"], 0);
    assert_eq!(again["changes"]["created"], json!([]));
    let history = server.get(&format!("{c}/history/course.xml")).expect(200);
    assert!(
        history.to_string().contains("\"source\":\"api\""),
        "{history}"
    );

    // The outline of what came in.
    let outline = server.get(&format!("{c}/outline")).expect(200);
    assert_eq!(outline["kind"], "course");
    assert_eq!(outline["orphans"], json!([]));
    let text = outline.to_string();
    let (a, b, c3) = (
        text.find("Welcome to OLX").expect("chapter 1"),
        text.find("The Shape of a Course").expect("chapter 2"),
        text.find("Files That Point at Files").expect("chapter 3"),
    );
    assert!(a < b && b < c3, "chapters in course order");
    server
        .get(&format!("{c}/outline?version=9"))
        .expect_error(404);

    // Change the draft, then export the draft and version 1.
    server
        .put(
            &format!("{c}/raw/html/html_welcome.html"),
            b"<p>changed</p>",
        )
        .expect(200);
    let draft = server.get(&format!("{c}/export"));
    assert_eq!(draft.status, 200, "{}", draft.text());
    assert_eq!(draft.header("content-type"), Some("application/gzip"));
    assert_eq!(
        draft.header("content-disposition"),
        Some("attachment; filename=\"sample-draft.tar.gz\"")
    );
    let v1 = server.get(&format!("{c}/export?version=1"));
    assert_eq!(v1.status, 200);
    assert_eq!(
        v1.header("content-disposition"),
        Some("attachment; filename=\"sample-v1.tar.gz\"")
    );
    // Reproducible: the same bytes again, and the same bytes as the CLI's.
    assert_eq!(server.get(&format!("{c}/export?version=1")).body, v1.body);
    let dir = tempfile::tempdir().unwrap();
    let unpack = |bytes: &[u8], name: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = dir.path().join(format!("{name}-x"));
        std::fs::create_dir(&out).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&file)
            .arg("-C")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        out.join("course")
    };
    assert_eq!(
        tree_files(&unpack(&v1.body, "v1.tar.gz")),
        tree_files(&course)
    );
    let draft_tree = tree_files(&unpack(&draft.body, "draft.tar.gz"));
    assert_eq!(draft_tree["html/html_welcome.html"], b"<p>changed</p>");
    // A plain tar too.
    let plain = server.get(&format!("{c}/export?version=1&format=tar"));
    assert_eq!(plain.header("content-type"), Some("application/x-tar"));
    assert_eq!(
        tree_files(&unpack(&plain.body, "v1.tar")),
        tree_files(&course)
    );

    // Same bytes as `blockstore export` writes for the same version.
    let mut server = server;
    server.stop();
    let cli_out = dir.path().join("cli.tar.gz");
    cli_json(
        &server.data,
        &["export", "sample", cli_out.to_str().unwrap(), "--at", "1"],
    );
    assert_eq!(std::fs::read(&cli_out).unwrap(), v1.body);
}

/// Issue 16: a browser asking for a URL nothing serves gets the UI's own
/// not-found page (status 404), a client the JSON error; `/api/v1` is an
/// index of the API.
#[test]
fn browsers_get_the_uis_not_found_page_and_the_api_root_is_an_index() {
    let server = Server::start(&[]);
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = server
        .request("GET", "/no/such/page")
        .header("Accept", html)
        .send();
    assert_eq!(page.status, 404, "still a 404");
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "the UI's page: {:?}",
        page.header("content-type")
    );
    assert!(
        page.text().contains("<script"),
        "the UI, whose router shows Not found"
    );
    assert!(
        page.header("content-security-policy").is_some(),
        "with the UI's CSP"
    );
    server.get("/no/such/page").expect_error(404);
    let api = server
        .request("GET", &format!("{API}/nope"))
        .header("Accept", html)
        .send();
    assert_eq!(api.status, 404);
    assert!(
        api.json()["error"]["code"].is_string(),
        "the API answers JSON"
    );
    let post = server
        .request("POST", "/no/such/page")
        .header("Accept", html)
        .send();
    assert_eq!(post.status, 404, "only a page view gets the page");
    assert!(post.json()["error"].is_object());

    let index = server.get(API).expect(200);
    assert_eq!(index["openapi"], "/api/v1/openapi.json", "{index}");
    server.get(index["openapi"].as_str().unwrap()).expect(200);
    server.get(index["health"].as_str().unwrap()).expect(200);
    server
        .get(index["collections"].as_str().unwrap())
        .expect(200);
}

/// Every save to a draft is a revision that can be read back, compared with
/// the draft or another save of the same file, and restored (a new save).
#[test]
fn draft_revisions_are_read_compared_and_restored_over_rest() {
    let server = Server::start(&[]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "revs"}),
        )
        .expect(201);
    let c = format!("{API}/collections/revs");
    for text in ["<p>one</p>\n", "<p>two</p>\n", "<p>three</p>\n"] {
        let written = server.put(&format!("{c}/raw/html/a.html"), text.as_bytes());
        assert!(
            written.status == 200 || written.status == 201,
            "{}",
            written.text()
        );
    }
    server.put(&format!("{c}/raw/html/b.html"), b"<p>b</p>\n");
    let history = server.get(&format!("{c}/history/html/a.html")).expect(200);
    let revisions = history["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 3, "{history}");
    let id = |i: usize| revisions[i]["id"].as_i64().unwrap();
    let (third, second, first) = (id(0), id(1), id(2));
    assert!(first < second && second < third, "newest first");

    // Read back, with the path's type and inert headers.
    let raw = server.get(&format!("{c}/revisions/{first}/raw"));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body, b"<p>one</p>\n");
    assert!(raw.header("content-type").unwrap().starts_with("text/html"));
    assert!(raw
        .header("content-security-policy")
        .unwrap()
        .starts_with("sandbox"));
    assert_eq!(
        server.get(&format!("{c}/revisions/{first}")).expect(200)["path"],
        "html/a.html"
    );

    // Compared with the draft, and with another save of the same file.
    let diff = server
        .get(&format!("{c}/revisions/{first}/diff"))
        .expect(200);
    assert_eq!(diff["against"], "draft");
    let text = diff["diff"].as_str().unwrap();
    assert!(
        text.contains("-<p>one</p>") && text.contains("+<p>three</p>"),
        "{text}"
    );
    let diff = server
        .get(&format!("{c}/revisions/{first}/diff?against={second}"))
        .expect(200);
    assert!(diff["diff"].as_str().unwrap().contains("+<p>two</p>"));
    let other_file = server.get(&format!("{c}/history/html/b.html")).expect(200)["revisions"][0]
        ["id"]
        .as_i64()
        .unwrap();
    let refused = server.get(&format!("{c}/revisions/{first}/diff?against={other_file}"));
    refused.expect_error(400);
    assert!(
        refused.text().contains("different files"),
        "{}",
        refused.text()
    );

    // Restored: the draft holds the old bytes again, as a new save.
    let restored = server
        .json("POST", &format!("{c}/revisions/{first}/restore"), json!({}))
        .expect(200);
    assert_eq!(restored["outcome"], "modified");
    assert_eq!(
        server.get(&format!("{c}/raw/html/a.html")).body,
        b"<p>one</p>\n"
    );
    let history = server.get(&format!("{c}/history/html/a.html")).expect(200);
    assert_eq!(history["revisions"].as_array().unwrap().len(), 4);

    // Unknown or foreign ids, and bad ones, change nothing.
    server
        .get(&format!("{c}/revisions/999999"))
        .expect_error(404);
    server.get(&format!("{c}/revisions/abc")).expect_error(400);
    server
        .get(&format!("{c}/revisions/{first}/diff?against=x"))
        .expect_error(400);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "other"}),
        )
        .expect(201);
    server
        .json(
            "POST",
            &format!("{API}/collections/other/revisions/{first}/restore"),
            json!({}),
        )
        .expect_error(404);
    assert_eq!(
        server.get(&format!("{c}/raw/html/a.html")).body,
        b"<p>one</p>\n"
    );
}

/// A rename over REST answers what it broke: the references that named the
/// old path and no longer resolve. Bad names and clashes change nothing.
#[test]
fn a_rename_over_rest_lists_the_references_it_broke() {
    let server = Server::start(&[]);
    server
        .json(
            "POST",
            &format!("{API}/collections"),
            json!({"slug": "ren"}),
        )
        .expect(201);
    let c = format!("{API}/collections/ren");
    server.put(
        &format!("{c}/raw/vertical/v.xml"),
        b"<vertical>\n  <html url_name=\"intro\"/>\n</vertical>\n",
    );
    server.put(
        &format!("{c}/raw/html/intro.xml"),
        b"<html filename=\"intro\" display_name=\"Intro\"/>",
    );
    server.put(&format!("{c}/raw/html/intro.html"), b"<p>Hi</p>");
    server.put(&format!("{c}/raw/html/other.xml"), b"<html/>");

    let report = server
        .json(
            "POST",
            &format!("{c}/rename"),
            json!({"from": "html/intro.xml", "to": "html/welcome.xml"}),
        )
        .expect(200);
    assert_eq!(report["outcome"], "renamed");
    let broken = report["broken"].as_array().unwrap();
    assert_eq!(broken.len(), 1, "{report}");
    assert_eq!(broken[0]["source_path"], "vertical/v.xml");
    assert_eq!(broken[0]["written"], "intro");
    assert_eq!(server.get(&format!("{c}/raw/html/welcome.xml")).status, 200);

    // A rename nothing names breaks nothing.
    let clean = server
        .json(
            "POST",
            &format!("{c}/rename"),
            json!({"from": "html/other.xml", "to": "html/another.xml"}),
        )
        .expect(200);
    assert_eq!(clean["broken"], json!([]));

    // Refused, changing nothing: a clash, an unknown file, `..`, a bad body.
    let clash = server.json(
        "POST",
        &format!("{c}/rename"),
        json!({"from": "html/welcome.xml", "to": "html/intro.html"}),
    );
    assert_eq!(clash.expect_error(409), "conflict");
    server
        .json(
            "POST",
            &format!("{c}/rename"),
            json!({"from": "html/none.xml", "to": "html/x.xml"}),
        )
        .expect_error(404);
    server
        .json(
            "POST",
            &format!("{c}/rename"),
            json!({"from": "html/welcome.xml", "to": "../x.xml"}),
        )
        .expect_error(400);
    server
        .json(
            "POST",
            &format!("{c}/rename"),
            json!({"from": "html/welcome.xml"}),
        )
        .expect_error(400);
    assert_eq!(server.get(&format!("{c}/raw/html/welcome.xml")).status, 200);
    assert_eq!(
        server.get(&format!("{c}/raw/html/intro.html")).body,
        b"<p>Hi</p>"
    );
}

/// A file `GET raw` answers from memory is never older than a commit by
/// another process: writes, a publish, a checkpointing gc and a delete by
/// CLI processes (each opens and closes its own connections, as the last
/// one to close a store would) are seen by the very next read.
#[test]
fn a_cached_read_sees_every_commit_of_other_processes_at_once() {
    let server = Server::start(&[]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "x"}))
        .expect(201);
    let url = format!("{API}/collections/x/raw/html/a.html");
    server.put(&url, b"<p>one</p>").expect(201);
    let read = |expected: &str| {
        // Twice: the second answer comes from memory.
        for _ in 0..2 {
            let got = server.get(&url);
            assert_eq!((got.status, got.text().as_str()), (200, expected));
        }
    };
    read("<p>one</p>");
    let cli = |args: &[&str], stdin: &[u8]| {
        let out = run_cli_stdin(&server.data, args, Some(stdin));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    for (i, text) in ["<p>two</p>", "<p>three</p>", "<p>four</p>"]
        .into_iter()
        .enumerate()
    {
        cli(&["write", "x:html/a.html"], text.as_bytes());
        read(text);
        if i == 1 {
            cli(&["publish", "x", "-m", "from the CLI"], b"");
            read(text);
            cli(&["gc", "--older-than", "0d"], b"");
            read(text);
        }
    }
    cli(&["delete", "x:html/a.html"], b"");
    server.get(&url).expect_error(404);

    // A file larger than those kept in memory: its entry is kept, and its
    // bytes read from the blob each time.
    let url = format!("{API}/collections/x/raw/static/large.bin");
    let large = |n: u8| -> Vec<u8> { (0..100_000u32).map(|i| (i % 251) as u8 ^ n).collect() };
    assert!(large(1).len() as u64 > blockstore::store::HOT_FILE_MAX);
    server.put(&url, &large(1)).expect(201);
    for n in 1..4u8 {
        if n > 1 {
            cli(&["write", "x:static/large.bin"], &large(n));
        }
        for _ in 0..2 {
            let got = server.get(&url);
            assert_eq!(got.status, 200);
            assert!(got.body == large(n), "the bytes of write {n}");
        }
    }
    cli(&["delete", "x:static/large.bin"], b"");
    server.get(&url).expect_error(404);
}
