//! The Blockstore v1 REST API as edx-platform's `blockstore_api` client and
//! Blockstore's own contract tests drove it (BLOCKSTORE-V1.md §3.3, §4): the
//! real binary on loopback, the client's calls step by step, asserting what
//! those tests asserted.

use crate::server::{Resp, Server};
use serde_json::{json, Value};

const KEY: &str = "edxapp-test-key";
const BAD_UUID: &str = "12345678-0000-0000-0000-000000000000";

/// The client: `BLOCKSTORE_API_URL` + parts, `Authorization: Token KEY` on
/// every call, `json=` bodies.
struct Client {
    server: Server,
}

impl Client {
    fn start() -> Client {
        Client {
            server: Server::start(&["--v1-token", KEY, "--v1-token", "another-key"]),
        }
    }

    fn api(&self, method: &str, parts: &str, body: Option<Value>) -> Resp {
        let mut req = self
            .server
            .request(method, &format!("/blockstore/api/v1/{parts}"))
            .header("Authorization", &format!("Token {KEY}"));
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send()
    }

    /// A plain GET of a file URL, without the token, as the client did.
    fn download(&self, url: &str) -> Vec<u8> {
        let prefix = format!("http://{}", self.server.addr);
        let path = url
            .strip_prefix(&prefix)
            .expect("an absolute URL of this server");
        let resp = self.server.request("GET", path).send();
        assert_eq!(resp.status, 200, "{url}: {}", resp.text());
        resp.body
    }

    fn create_collection(&self, title: &str) -> Value {
        self.api("POST", "collections", Some(json!({"title": title})))
            .expect(201)
    }

    fn create_bundle(&self, collection: &str, slug: &str, title: &str, description: &str) -> Value {
        self.api(
            "POST",
            "bundles",
            Some(json!({"collection_uuid": collection, "slug": slug, "title": title, "description": description})),
        )
        .expect(201)
    }

    fn get_bundle(&self, uuid: &str) -> Value {
        self.api("GET", &format!("bundles/{uuid}"), None)
            .expect(200)
    }

    fn get_draft(&self, uuid: &str) -> Value {
        self.api("GET", &format!("drafts/{uuid}"), None).expect(200)
    }

    fn get_or_create_bundle_draft(&self, bundle: &str, name: &str) -> Value {
        let b = self.get_bundle(bundle);
        if let Some(url) = b["drafts"][name].as_str() {
            let uuid = url.rsplit('/').next().unwrap();
            return self.get_draft(uuid);
        }
        let created = self
            .api(
                "POST",
                "drafts",
                Some(json!({"bundle_uuid": bundle, "name": name})),
            )
            .expect(201);
        self.get_draft(created["uuid"].as_str().unwrap())
    }

    fn write_draft_file(&self, draft: &str, path: &str, contents: &str) {
        let b64 = base64_of(contents.as_bytes());
        self.api(
            "PATCH",
            &format!("drafts/{draft}"),
            Some(json!({"files": {path: b64}})),
        )
        .expect(204);
    }

    fn commit_draft(&self, draft: &str) {
        self.api("POST", &format!("drafts/{draft}/commit"), None)
            .expect(201);
    }

    /// `get_bundle_files_dict(bundle, use_draft)`: the draft's files when
    /// the name is in `drafts`, else the latest version's, else none.
    fn files_dict(&self, bundle: &str, use_draft: Option<&str>) -> Value {
        let b = self.get_bundle(bundle);
        if let Some(name) = use_draft {
            if let Some(url) = b["drafts"][name].as_str() {
                let draft = self.get_draft(url.rsplit('/').next().unwrap());
                return draft["staged_draft"]["files"].clone();
            }
        }
        let versions = b["versions"].as_array().unwrap();
        let Some(last) = versions.last() else {
            return json!({});
        };
        let n: i64 = last
            .as_str()
            .unwrap()
            .rsplit(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        self.api("GET", &format!("bundle_versions/{bundle},{n}"), None)
            .expect(200)["snapshot"]["files"]
            .clone()
    }

    fn file_data(&self, bundle: &str, path: &str, use_draft: Option<&str>) -> Vec<u8> {
        let files = self.files_dict(bundle, use_draft);
        self.download(files[path]["url"].as_str().expect("the file is there"))
    }
}

fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An answer's `uuid`.
fn uuid_of(v: &Value) -> String {
    v["uuid"]
        .as_str()
        .expect("the answer has a uuid")
        .to_string()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn test_nonexistent_collection_bundle_and_draft_are_404() {
    let c = Client::start();
    for what in ["collections", "bundles", "drafts"] {
        let resp = c.api("GET", &format!("{what}/{BAD_UUID}"), None);
        assert_eq!(resp.status, 404, "{what}: {}", resp.text());
    }
    // A well-formed unknown uuid: JSON 404; a malformed one: the router's.
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        c.api("GET", &format!("bundles/{unknown}"), None)
            .expect(404),
        json!({"detail": "Not found."})
    );
    let routing = c.api("GET", "bundles/NOT-A-UUID", None);
    assert_eq!(routing.status, 404);
    assert!(routing
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        c.api("GET", "bundles/", None).status,
        404,
        "no trailing slashes"
    );
}

#[test]
fn test_collection_crud() {
    let c = Client::start();
    let coll = c.create_collection("Fire 🔥 Collection");
    assert_eq!(coll["title"], "Fire 🔥 Collection");
    assert_eq!(keys(&coll), ["title", "url", "uuid"]);
    let uuid = uuid_of(&coll);
    let v4 = uuid::Uuid::parse_str(&uuid).unwrap();
    assert_eq!(
        v4.get_version_num(),
        4,
        "a UUIDv4, as the contract test checks"
    );
    let got = c
        .api("GET", &format!("collections/{uuid}"), None)
        .expect(200);
    assert_eq!(got, coll);
    let url = format!(
        "http://{}/blockstore/api/v1/collections/{uuid}",
        c.server.addr
    );
    assert_eq!(got["url"], url.as_str());
    let patched = c
        .api(
            "PATCH",
            &format!("collections/{uuid}"),
            Some(json!({"title": "Air 🌀 Collection"})),
        )
        .expect(200);
    assert_eq!(patched["title"], "Air 🌀 Collection");
    assert_eq!(
        c.api("GET", &format!("collections/{uuid}"), None)
            .expect(200)["title"],
        "Air 🌀 Collection"
    );
    let listed = c.api("GET", "collections", None).expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        c.api("DELETE", &format!("collections/{uuid}"), None).status,
        204
    );
    assert_eq!(
        c.api("GET", &format!("collections/{uuid}"), None).status,
        404
    );
    // Raw UTF-8, compact.
    let raw = c.api("POST", "collections", Some(json!({"title": "é"})));
    assert!(raw.text().contains("\"title\":\"é\""), "{}", raw.text());
}

#[test]
fn test_bundle_crud() {
    let c = Client::start();
    let coll = c.create_collection("Test Collection");
    let cu = coll["uuid"].as_str().unwrap();
    let b = c.create_bundle(cu, "h2o", "Water 💧 Bundle", "Sploosh");
    assert_eq!(
        keys(&b),
        [
            "collection",
            "collection_uuid",
            "description",
            "drafts",
            "slug",
            "title",
            "url",
            "uuid",
            "versions"
        ]
    );
    assert_eq!(
        (
            b["title"].as_str(),
            b["slug"].as_str(),
            b["description"].as_str()
        ),
        (Some("Water 💧 Bundle"), Some("h2o"), Some("Sploosh"))
    );
    assert_eq!(b["collection_uuid"], cu);
    let uuid = b["uuid"].as_str().unwrap();
    assert_eq!(c.get_bundle(uuid), b, "GET equals the create's answer");
    let patched = c
        .api(
            "PATCH",
            &format!("bundles/{uuid}"),
            Some(json!({"description": "Water Nation Bending Lessons"})),
        )
        .expect(200);
    assert_eq!(patched["description"], "Water Nation Bending Lessons");
    assert_eq!(
        c.get_bundle(uuid)["description"],
        "Water Nation Bending Lessons"
    );
    assert_eq!(
        c.api("DELETE", &format!("bundles/{uuid}"), None).status,
        204
    );
    assert_eq!(c.api("GET", &format!("bundles/{uuid}"), None).status, 404);
}

#[test]
fn test_drafts_and_files() {
    let c = Client::start();
    let coll = c.create_collection("Test Collection");
    let b = c.create_bundle(
        coll["uuid"].as_str().unwrap(),
        "earth",
        "Earth 🗿 Bundle",
        "another test bundle",
    );
    let bundle = b["uuid"].as_str().unwrap();
    let draft = c.get_or_create_bundle_draft(bundle, "test-draft");
    assert_eq!(draft["bundle_uuid"], bundle);
    assert_eq!(draft["name"], "test-draft");
    let year: i32 = draft["staged_draft"]["updated_at"].as_str().unwrap()[..4]
        .parse()
        .unwrap();
    assert!(year >= 2019);
    // Found again by name, and equal: GETs change neither updated_at nor URLs.
    let again = c.get_or_create_bundle_draft(bundle, "test-draft");
    assert_eq!(again, draft);
    let d = draft["uuid"].as_str().unwrap();
    assert_eq!(c.get_draft(d), draft);

    c.write_draft_file(d, "test.txt", "initial version");
    assert_eq!(
        c.file_data(bundle, "test.txt", Some("test-draft")),
        b"initial version"
    );
    c.commit_draft(d);
    c.write_draft_file(d, "test.txt", "modified version");
    assert_eq!(c.file_data(bundle, "test.txt", None), b"initial version");
    assert_eq!(
        c.file_data(bundle, "test.txt", Some("test-draft")),
        b"modified version"
    );

    assert_eq!(c.api("DELETE", &format!("drafts/{d}"), None).status, 204);
    assert_eq!(
        c.file_data(bundle, "test.txt", Some("test-draft")),
        b"initial version"
    );

    let files = c.files_dict(bundle, None);
    let file = &files["test.txt"];
    assert_eq!(keys(file), ["hash_digest", "size", "url"]);
    assert_eq!(file["size"], 15);
    assert_eq!(
        file["hash_digest"],
        "a45a5c6716276a66c4005534a51453ab16ea63c4"
    );
    assert_eq!(
        c.files_dict(bundle, None),
        files,
        "URLs are stable between calls"
    );
    assert_eq!(c.api("GET", &format!("drafts/{d}"), None).status, 404);
}

#[test]
fn a_drafts_view_flags_its_changes_and_keeps_committed_urls() {
    // Blockstore's contract test `editing_draft`.
    let c = Client::start();
    let coll = c.create_collection("C");
    let bundle =
        uuid_of(&c.create_bundle(coll["uuid"].as_str().unwrap(), "Ηαρργ", "Unicode slug", ""));
    assert_eq!(c.get_bundle(&bundle)["slug"], "Ηαρργ");
    let d = uuid_of(&c.get_or_create_bundle_draft(&bundle, "studio_draft"));
    assert_eq!(
        c.get_draft(&d)["staged_draft"]["base_snapshot"],
        Value::Null
    );
    c.api(
        "PATCH",
        &format!("drafts/{d}"),
        Some(json!({"files": {"keep.txt": base64_of(b"keep"), "change.txt": base64_of(b"one"), "gone.txt": base64_of(b"x")}})),
    )
    .expect(204);
    c.commit_draft(&d);
    let version = c
        .api("GET", &format!("bundle_versions/{bundle},1"), None)
        .expect(200);
    assert_eq!(
        keys(&version),
        [
            "bundle",
            "bundle_uuid",
            "change_description",
            "snapshot",
            "url",
            "version_num"
        ]
    );
    c.api(
        "PATCH",
        &format!("drafts/{d}"),
        Some(json!({"files": {"change.txt": base64_of(b"two"), "gone.txt": null}})),
    )
    .expect(204);
    let staged = &c.get_draft(&d)["staged_draft"];
    assert_eq!(staged["base_snapshot"], version["snapshot"]["hash_digest"]);
    let files = &staged["files"];
    assert_eq!(
        keys(files),
        ["change.txt", "keep.txt"],
        "a deleted file is absent"
    );
    assert_eq!(files["keep.txt"]["modified"], false);
    assert_eq!(files["change.txt"]["modified"], true);
    assert_eq!(
        keys(&files["keep.txt"]),
        ["hash_digest", "modified", "size", "url"]
    );
    assert_eq!(
        files["keep.txt"]["url"], version["snapshot"]["files"]["keep.txt"]["url"],
        "an unmodified file's URL is the committed one"
    );
    assert_eq!(
        c.download(files["change.txt"]["url"].as_str().unwrap()),
        b"two"
    );
    // The version is untouched; its list entry leaves out the snapshot.
    assert_eq!(
        c.api("GET", &format!("bundle_versions/{bundle},1"), None)
            .expect(200),
        version
    );
    let listed = c
        .api(
            "GET",
            &format!("bundle_versions?bundle__uuid={bundle}"),
            None,
        )
        .expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("snapshot").is_none());
    let changed = c
        .api(
            "PATCH",
            &format!("bundle_versions/{bundle},1"),
            Some(json!({"change_description": "first"})),
        )
        .expect(200);
    assert_eq!(changed["change_description"], "first");
    assert!(changed.get("snapshot").is_none());
    // An unchanged draft commits an identical new version.
    c.commit_draft(&d);
    c.commit_draft(&d);
    let b = c.get_bundle(&bundle);
    assert_eq!(b["versions"].as_array().unwrap().len(), 3);
    assert_eq!(c.files_dict(&bundle, None), {
        let v2 = c
            .api("GET", &format!("bundle_versions/{bundle},2"), None)
            .expect(200);
        v2["snapshot"]["files"].clone()
    });
}

#[test]
fn bad_edits_are_refused_as_the_original_did_and_change_nothing() {
    let c = Client::start();
    let coll = c.create_collection("C");
    let bundle = uuid_of(&c.create_bundle(coll["uuid"].as_str().unwrap(), "b", "B", ""));
    let d = uuid_of(&c.get_or_create_bundle_draft(&bundle, "d"));
    c.write_draft_file(&d, "ok.txt", "ok");
    let before = c.get_draft(&d);
    let refusals = [
        (
            json!({"files": {"../hello.txt": base64_of(b"x")}}),
            "\"../hello.txt\" is not a valid file name",
        ),
        (
            json!({"files": {"/abs.txt": base64_of(b"x")}}),
            "\"/abs.txt\" is not a valid file name",
        ),
        (
            json!({"files": {"a//b.txt": base64_of(b"x")}}),
            "\"a//b.txt\" is not a valid file name",
        ),
        (
            json!({"files": {"ok.txt": base64_of(b"changed"), "hello.txt": "aGVsbG8"}}),
            "Error decoding file hello.txt: Incorrect padding (check if it's base64 encoded?)",
        ),
    ];
    for (body, message) in refusals {
        let resp = c.api("PATCH", &format!("drafts/{d}"), Some(body.clone()));
        assert_eq!(resp.expect(400), json!([message]), "{body}");
    }
    assert_eq!(
        c.get_draft(&d),
        before,
        "no refused PATCH changed the draft"
    );
    // Lenient base64, as Python's: characters outside the alphabet go.
    c.api(
        "PATCH",
        &format!("drafts/{d}"),
        Some(json!({"files": {"bang.txt": "Y!!Q=="}})),
    )
    .expect(204);
    let files = c.get_draft(&d)["staged_draft"]["files"].clone();
    assert_eq!(c.download(files["bang.txt"]["url"].as_str().unwrap()), b"a");
    // Missing drafts are 404s, not the original's 500s.
    for (method, path) in [
        ("PATCH", format!("drafts/{BAD_UUID}")),
        ("DELETE", format!("drafts/{BAD_UUID}")),
        ("POST", format!("drafts/{BAD_UUID}/commit")),
    ] {
        let resp = c.api(method, &path, Some(json!({})));
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text());
    }
    // Field errors in the original's shapes.
    let resp = c.api(
        "POST",
        "bundles",
        Some(json!({"collection_uuid": "nope", "slug": "a b", "title": ""})),
    );
    assert_eq!(
        resp.expect(400),
        json!({
            "collection_uuid": ["“nope” is not a valid UUID."],
            "slug": ["Enter a valid “slug” consisting of Unicode letters, numbers, underscores, or hyphens."],
            "title": ["This field may not be blank."],
        })
    );
    let resp = c.api("POST", "collections", Some(json!({})));
    assert_eq!(
        resp.expect(400),
        json!({"title": ["This field is required."]})
    );
    let unknown = uuid::Uuid::new_v4();
    let resp = c.api(
        "POST",
        "bundles",
        Some(json!({"collection_uuid": unknown.to_string(), "slug": "s", "title": "t"})),
    );
    assert_eq!(
        resp.expect(400),
        json!({"collection_uuid": [format!("Object with uuid={unknown} does not exist.")]})
    );
    let resp = c.api(
        "POST",
        "drafts",
        Some(json!({"bundle_uuid": bundle, "name": "d"})),
    );
    assert_eq!(
        resp.expect(400),
        json!({"non_field_errors": ["The fields bundle_uuid, name must make a unique set."]})
    );
    let resp = c.api("PUT", &format!("drafts/{d}"), Some(json!({})));
    assert_eq!(
        resp.expect(405),
        json!({"detail": "Method \"PUT\" not allowed."})
    );
    assert!(resp.header("allow").unwrap().contains("PATCH"));
    let resp = c.api("GET", &format!("bundles?uuid={unknown}"), None);
    assert_eq!(
        resp.expect(400),
        json!({"uuid": [format!("Select a valid choice. {unknown} is not one of the available choices.")]})
    );
    assert_eq!(
        c.get_draft(&d)["staged_draft"]["files"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn tokens_are_checked_as_drf_did_and_no_key_means_off() {
    let c = Client::start();
    let anonymous = c.server.get("/blockstore/api/v1/collections");
    assert_eq!(
        anonymous.expect(401),
        json!({"detail": "Authentication credentials were not provided."})
    );
    assert_eq!(anonymous.header("www-authenticate"), Some("Token"));
    let wrong = c
        .server
        .request("GET", "/blockstore/api/v1/collections")
        .header("Authorization", "Token wrong")
        .send();
    assert_eq!(wrong.expect(401), json!({"detail": "Invalid token."}));
    let bearer = c
        .server
        .request("GET", "/blockstore/api/v1/collections")
        .header("Authorization", &format!("Bearer {KEY}"))
        .send();
    assert_eq!(bearer.status, 401, "the v1 API takes DRF's Token scheme");
    let second = c
        .server
        .request("POST", "/blockstore/api/v1/collections")
        .header("Authorization", "Token another-key")
        .json(json!({"title": "t"}))
        .send();
    assert_eq!(second.status, 201, "each configured key works");
    // A write from another site's page is refused before the token matters.
    let cross = c
        .server
        .request("POST", "/blockstore/api/v1/collections")
        .header("Authorization", &format!("Token {KEY}"))
        .header("Origin", "http://evil.example")
        .json(json!({"title": "t"}))
        .send();
    assert_eq!(cross.status, 403);
    assert_eq!(
        c.api("GET", "collections", None)
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let health = c.server.get("/blockstore/health/");
    assert_eq!(
        health.text(),
        r#"{"overall_status": "OK", "detailed_status": {"database_status": "OK"}}"#
    );

    let off = Server::start(&[]);
    let resp = off.get("/blockstore/api/v1/");
    let body = resp.expect(404);
    assert!(
        body["detail"].as_str().unwrap().contains("--v1-token"),
        "{body}"
    );
}

#[test]
fn v1_writes_show_natively_and_native_writes_show_in_v1() {
    let c = Client::start();
    let coll = c.create_collection("Group");
    let bundle = uuid_of(&c.create_bundle(coll["uuid"].as_str().unwrap(), "lib", "Library", ""));
    let d = uuid_of(&c.get_or_create_bundle_draft(&bundle, "studio_draft"));
    c.write_draft_file(&d, "problem/p1/definition.xml", "<problem/>");
    c.commit_draft(&d);
    // Natively: the bundle is a collection named by its slug, with a version.
    let native = c.server.get("/api/v1/collections/lib").expect(200);
    assert_eq!(native["uuid"], bundle.as_str());
    assert_eq!(native["group"], coll["uuid"]);
    let raw = c
        .server
        .get("/api/v1/collections/lib/raw/problem/p1/definition.xml?version=1");
    assert_eq!(raw.text(), "<problem/>");
    let drafts = c.server.get("/api/v1/collections/lib/drafts").expect(200);
    assert_eq!(drafts[0]["name"], "studio_draft");
    // A native write and publish shows in v1 as the next version.
    c.server
        .put("/api/v1/collections/lib/raw/html/h.html", b"<p>native</p>")
        .expect(201);
    c.server
        .json(
            "POST",
            "/api/v1/collections/lib/publish",
            json!({"message": "native"}),
        )
        .expect(201);
    let b = c.get_bundle(&bundle);
    assert_eq!(b["versions"].as_array().unwrap().len(), 2);
    assert_eq!(c.file_data(&bundle, "html/h.html", None), b"<p>native</p>");
    let v2 = c
        .api("GET", &format!("bundle_versions/{bundle},2"), None)
        .expect(200);
    assert_eq!(v2["change_description"], "native");
    // A collection made natively is a bundle too (in no group).
    c.server
        .json("POST", "/api/v1/collections", json!({"slug": "plain"}))
        .expect(201);
    let all = c.api("GET", "bundles", None).expect(200);
    let plain = all
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["slug"] == "plain")
        .unwrap();
    assert_eq!(plain["collection_uuid"], Value::Null);
    let found = c
        .api(
            "GET",
            &format!(
                "bundles?collection__uuid={}",
                coll["uuid"].as_str().unwrap()
            ),
            None,
        )
        .expect(200);
    assert_eq!(found.as_array().unwrap().len(), 1);
    let searched = c.api("GET", "bundles?text_search=LIBR", None).expect(200);
    assert_eq!(searched.as_array().unwrap().len(), 1);
    // Deleting the group deletes its bundles.
    assert_eq!(
        c.api(
            "DELETE",
            &format!("collections/{}", coll["uuid"].as_str().unwrap()),
            None
        )
        .status,
        204
    );
    assert_eq!(c.server.get("/api/v1/collections/lib").status, 404);
    assert_eq!(c.server.get("/api/v1/collections/plain").status, 200);
}

impl Client {
    fn set_draft_link(&self, draft: &str, name: &str, target: Option<(&str, i64)>) -> Resp {
        let value = match target {
            Some((bundle, version)) => json!({"bundle_uuid": bundle, "version": version}),
            None => Value::Null,
        };
        self.api(
            "PATCH",
            &format!("drafts/{draft}"),
            Some(json!({"links": {name: value}})),
        )
    }

    /// `get_bundle_links`: the latest version's links.
    fn bundle_links(&self, bundle: &str) -> Value {
        let b = self.get_bundle(bundle);
        let n = b["versions"].as_array().unwrap().len();
        self.api("GET", &format!("bundle_versions/{bundle},{n}"), None)
            .expect(200)["snapshot"]["links"]
            .clone()
    }
}

#[test]
fn test_links() {
    let c = Client::start();
    let coll = uuid_of(&c.create_collection("Test Collection"));
    let lib1 = uuid_of(&c.create_bundle(&coll, "lib1", "Library 1", ""));
    let lib2 = uuid_of(&c.create_bundle(&coll, "lib2", "Library 1", ""));
    let course = uuid_of(&c.create_bundle(&coll, "course", "Library 1", ""));
    let lib1_draft = uuid_of(&c.get_or_create_bundle_draft(&lib1, "test-draft"));
    let lib2_draft = uuid_of(&c.get_or_create_bundle_draft(&lib2, "other-draft"));
    let course_draft = uuid_of(&c.get_or_create_bundle_draft(&course, "test-draft"));

    c.write_draft_file(&lib1_draft, "lib1-data.txt", "hello world");
    c.commit_draft(&lib1_draft);
    c.write_draft_file(&lib2_draft, "lib2-data.txt", "hello world");
    c.commit_draft(&lib2_draft);
    assert_eq!(c.bundle_links(&lib2), json!({}), "no links yet");

    c.set_draft_link(&lib2_draft, "lib2_to_lib1", Some((&lib1, 1)))
        .expect(204);
    let links = c.get_draft(&lib2_draft)["staged_draft"]["links"].clone();
    assert_eq!(
        links["lib2_to_lib1"]["direct"]["bundle_uuid"],
        lib1.as_str()
    );
    assert_eq!(links["lib2_to_lib1"]["direct"]["version"], 1);
    assert_eq!(
        keys(&links["lib2_to_lib1"]["direct"]),
        ["bundle_uuid", "snapshot_digest", "version"]
    );
    c.commit_draft(&lib2_draft);

    c.set_draft_link(&course_draft, "course_to_lib2", Some((&lib2, 2)))
        .expect(204);
    c.commit_draft(&course_draft);
    let links = c.bundle_links(&course);
    let link = &links["course_to_lib2"];
    assert_eq!(link["direct"]["bundle_uuid"], lib2.as_str());
    assert_eq!(link["direct"]["version"], 2);
    assert_eq!(link["indirect"][0]["bundle_uuid"], lib1.as_str());
    assert_eq!(link["indirect"][0]["version"], 1);
    assert_eq!(
        keys(&link["indirect"][0]),
        ["bundle_uuid", "snapshot_digest", "version"]
    );
    // The dependency's digest is its target version's.
    let lib2_v2 = c
        .api("GET", &format!("bundle_versions/{lib2},2"), None)
        .expect(200);
    assert_eq!(
        link["direct"]["snapshot_digest"],
        lib2_v2["snapshot"]["hash_digest"]
    );

    c.set_draft_link(&course_draft, "course_to_lib2", None)
        .expect(204);
    let links = &c.get_draft(&course_draft)["staged_draft"]["links"];
    assert_eq!(links, &json!({}), "the draft's links are empty");
    // Natively too: the version's dependencies.
    let native = c
        .server
        .get("/api/v1/collections/course/versions/1")
        .expect(200);
    assert_eq!(native["dependencies"][0]["name"], "course_to_lib2");
}

#[test]
fn link_cycles_and_bad_links_are_refused_and_links_stay_modified_after_commit() {
    // Blockstore's contract tests `simple_links` and `link_cycle`.
    let c = Client::start();
    let coll = uuid_of(&c.create_collection("C"));
    let mut bundles = Vec::new();
    let mut drafts = Vec::new();
    for slug in ["a", "b", "c"] {
        let b = uuid_of(&c.create_bundle(&coll, slug, slug, ""));
        let d = uuid_of(&c.get_or_create_bundle_draft(&b, "d"));
        c.commit_draft(&d);
        bundles.push(b);
        drafts.push(d);
    }
    let (a, b, cc) = (&bundles[0], &bundles[1], &bundles[2]);
    // A direct self-link is a cycle (the original let it through).
    assert_eq!(
        c.set_draft_link(&drafts[0], "self", Some((a, 1)))
            .expect(400),
        json!(["Link cycle detected: Cannot create draft."])
    );
    // a -> b -> c, then c -> a closes a three-bundle cycle.
    c.set_draft_link(&drafts[1], "to_c", Some((cc, 1)))
        .expect(204);
    c.commit_draft(&drafts[1]);
    c.set_draft_link(&drafts[0], "to_b", Some((b, 2)))
        .expect(204);
    c.commit_draft(&drafts[0]);
    assert_eq!(
        c.set_draft_link(&drafts[2], "to_a", Some((a, 2)))
            .expect(400),
        json!(["Link cycle detected: Cannot create draft."])
    );
    let before = c.get_draft(&drafts[2]);
    for (value, message) in [
        (
            json!({"version": 1}),
            "Link x has no 'bundle_uuid' specified.",
        ),
        (
            json!({"bundle_uuid": a}),
            "Link x has no 'version' specified.",
        ),
        (
            json!({"bundle_uuid": a, "version": true}),
            "Link x: True must be an integer.",
        ),
        (
            json!({"bundle_uuid": "not-a-uuid", "version": 1}),
            "Link x: not-a-uuid is not a valid UUID.",
        ),
    ] {
        let resp = c.api(
            "PATCH",
            &format!("drafts/{}", drafts[2]),
            Some(json!({"links": {"x": value}, "files": {"f.txt": base64_of(b"f")}})),
        );
        assert_eq!(resp.expect(400), json!([message]));
    }
    let missing = c.set_draft_link(&drafts[2], "x", Some((a, 9)));
    assert_eq!(
        missing.expect(400),
        json!([format!(
            "BundleVersion ({a}, 9) referenced in Link x does not exist."
        )])
    );
    assert_eq!(
        c.get_draft(&drafts[2]),
        before,
        "nothing was staged, files included"
    );
    // version 0: the latest, kept as 0.
    let e = uuid_of(&c.create_bundle(&coll, "e", "e", ""));
    let e_draft = uuid_of(&c.get_or_create_bundle_draft(&e, "d"));
    c.commit_draft(&e_draft);
    c.commit_draft(&e_draft);
    c.set_draft_link(&drafts[2], "latest_e", Some((&e, 0)))
        .expect(204);
    let link = &c.get_draft(&drafts[2])["staged_draft"]["links"]["latest_e"];
    assert_eq!(link["direct"]["version"], 0);
    assert_eq!(link["modified"], true);
    c.commit_draft(&drafts[2]);
    let after = &c.get_draft(&drafts[2])["staged_draft"]["links"]["latest_e"];
    assert_eq!(
        after["modified"], true,
        "a committed link stays modified, as the original's did"
    );
    let version = c.bundle_links(cc);
    assert_eq!(version["latest_e"]["direct"]["version"], 0);
    assert!(version["latest_e"].get("modified").is_none());
    // A native publish keeps the version's links.
    c.server
        .put("/api/v1/collections/c/raw/x.txt", b"x")
        .expect(201);
    c.server
        .json("POST", "/api/v1/collections/c/publish", json!({}))
        .expect(201);
    assert_eq!(c.bundle_links(cc), version);
}

#[test]
fn the_cli_lists_named_drafts_shows_their_changes_and_logs_stale_commits() {
    let c = Client::start();
    let coll = uuid_of(&c.create_collection("G"));
    let bundle = uuid_of(&c.create_bundle(&coll, "lib", "L", ""));
    let one = uuid_of(&c.get_or_create_bundle_draft(&bundle, "one"));
    c.write_draft_file(&one, "keep.txt", "k");
    c.write_draft_file(&one, "gone.txt", "g");
    c.commit_draft(&one);
    let two = uuid_of(&c.get_or_create_bundle_draft(&bundle, "two"));
    c.write_draft_file(&one, "new.txt", "n");
    c.commit_draft(&one);
    c.write_draft_file(&two, "keep.txt", "k2");
    c.write_draft_file(&two, "added.txt", "a");
    c.api(
        "PATCH",
        &format!("drafts/{two}"),
        Some(json!({"files": {"gone.txt": null}})),
    )
    .expect(204);

    let data = &c.server.data;
    let listed = crate::common::run_cli(data, &["drafts", "lib"]);
    let text = crate::common::stdout(&listed);
    assert!(text.contains("one") && text.contains("two"), "{text}");
    let shown = crate::common::stdout(&crate::common::run_cli(data, &["drafts", "lib", "two"]));
    let lines: Vec<&str> = shown.lines().skip(1).collect();
    assert_eq!(
        lines,
        ["A added.txt", "D gone.txt", "M keep.txt"],
        "{shown}"
    );
    let json = crate::common::cli_json(data, &["drafts", "lib", "two"]);
    assert_eq!(json["draft"]["base"], 1);

    c.commit_draft(&two);
    let log = crate::common::stdout(&crate::common::run_cli(data, &["log", "lib"]));
    assert!(
        log.contains("committed from draft \"two\", based on version 1 (older than version 2"),
        "{log}"
    );
    let missing = crate::common::run_cli(data, &["drafts", "lib", "nope"]);
    assert!(!missing.status.success());
    assert!(
        crate::common::stderr(&missing).contains("no draft named"),
        "{}",
        crate::common::stderr(&missing)
    );
}

#[test]
fn the_contract_tests_lists_updates_forms_filters_and_links() {
    // What Blockstore's `test_contract.py` checks beyond the client's tests.
    let c = Client::start();
    // Collections: list of several, update by PUT, a form-encoded create
    // (the contract tests post form data).
    let one = c.create_collection("One");
    let form = c
        .server
        .request("POST", "/blockstore/api/v1/collections")
        .header("Authorization", &format!("Token {KEY}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("title=Two+%F0%9F%94%A5".as_bytes())
        .send()
        .expect(201);
    assert_eq!(form["title"], "Two 🔥");
    let listed = c.api("GET", "collections", None).expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let put = c
        .api(
            "PUT",
            &format!("collections/{}", one["uuid"].as_str().unwrap()),
            Some(json!({"title": "Renamed"})),
        )
        .expect(200);
    assert_eq!(put["title"], "Renamed");
    assert_eq!(
        c.api(
            "PUT",
            &format!("collections/{}", one["uuid"].as_str().unwrap()),
            Some(json!({}))
        )
        .expect(400),
        json!({"title": ["This field is required."]}),
        "PUT needs the required fields"
    );

    // Bundles: without a description, absolute URLs, the uuid filter.
    let coll = one["uuid"].as_str().unwrap();
    let created = c
        .api(
            "POST",
            "bundles",
            Some(json!({"collection_uuid": coll, "slug": "plain", "title": "Plain"})),
        )
        .expect(201);
    assert_eq!(created["description"], "");
    let uuid = created["uuid"].as_str().unwrap();
    assert_eq!(
        created["url"],
        format!("http://{}/blockstore/api/v1/bundles/{uuid}", c.server.addr).as_str()
    );
    let other = c.create_bundle(coll, "other", "Other", "");
    let both = format!("{uuid},{}", other["uuid"].as_str().unwrap());
    let filtered = c
        .api("GET", &format!("bundles?uuid={both}"), None)
        .expect(200);
    assert_eq!(filtered.as_array().unwrap().len(), 2);
    let just_one = c
        .api("GET", &format!("bundles?uuid={uuid}"), None)
        .expect(200);
    assert_eq!(just_one.as_array().unwrap().len(), 1);
    assert_eq!(just_one[0]["uuid"], uuid);

    // A new draft's staged view is empty; the bundle maps its name to it.
    let draft = c
        .api(
            "POST",
            "drafts",
            Some(json!({"bundle_uuid": uuid, "name": "d", "title": "ignored"})),
        )
        .expect(201);
    assert!(draft.get("staged_draft").is_none(), "create leaves it out");
    let d = draft["uuid"].as_str().unwrap();
    let staged = c.get_draft(d)["staged_draft"].clone();
    assert_eq!(
        (
            staged["base_snapshot"].clone(),
            staged["files"].clone(),
            staged["links"].clone()
        ),
        (Value::Null, json!({}), json!({}))
    );
    assert_eq!(c.get_bundle(uuid)["drafts"]["d"], draft["url"]);
    let all_drafts = c.api("GET", "drafts", None).expect(200);
    assert_eq!(all_drafts.as_array().unwrap().len(), 1);
    assert!(all_drafts[0].get("staged_draft").is_none());

    // Links: a draft's link is the version's apart from `modified`; a
    // second one; both deleted.
    c.write_draft_file(d, "a.txt", "a");
    c.commit_draft(d);
    let target = uuid_of(&c.create_bundle(coll, "target", "Target", ""));
    let t = uuid_of(&c.get_or_create_bundle_draft(&target, "t"));
    c.commit_draft(&t);
    c.set_draft_link(d, "first", Some((&target, 1))).expect(204);
    c.commit_draft(d);
    let mut in_draft = c.get_draft(d)["staged_draft"]["links"]["first"].clone();
    in_draft.as_object_mut().unwrap().remove("modified");
    assert_eq!(in_draft, c.bundle_links(uuid)["first"]);
    c.set_draft_link(d, "second", Some((&target, 1)))
        .expect(204);
    c.commit_draft(d);
    assert_eq!(keys(&c.bundle_links(uuid)), ["first", "second"]);
    c.api(
        "PATCH",
        &format!("drafts/{d}"),
        Some(json!({"links": {"first": null, "second": null}})),
    )
    .expect(204);
    assert_eq!(c.get_draft(d)["staged_draft"]["links"], json!({}));
    c.commit_draft(d);
    assert_eq!(c.bundle_links(uuid), json!({}));
    // OPTIONS and HEAD wherever GET is.
    let options = c.api("OPTIONS", "bundles", None);
    assert_eq!(options.status, 200);
    assert!(options.header("allow").unwrap().contains("POST"));
    let head = c.api("HEAD", &format!("bundles/{uuid}"), None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn cross_site_requests_to_every_v1_write_are_refused_and_change_nothing() {
    let c = Client::start();
    let coll = uuid_of(&c.create_collection("G"));
    let bundle = uuid_of(&c.create_bundle(&coll, "b", "B", ""));
    let d = uuid_of(&c.get_or_create_bundle_draft(&bundle, "d"));
    c.write_draft_file(&d, "a.txt", "a");
    c.commit_draft(&d);
    c.write_draft_file(&d, "a.txt", "staged");
    // Everything a v1 client can see, and the store's own view.
    let seen = |c: &Client| {
        let mut all = vec![
            c.api("GET", "collections", None).expect(200),
            c.api("GET", "bundles", None).expect(200),
            c.api("GET", "bundle_versions", None).expect(200),
            c.api("GET", "drafts", None).expect(200),
            c.get_draft(&d),
        ];
        all.push(json!(crate::common::observable(&c.server.data)));
        all
    };
    let before = seen(&c);
    let writes = [
        ("POST", "collections".to_string(), json!({"title": "evil"})),
        (
            "PUT",
            format!("collections/{coll}"),
            json!({"title": "evil"}),
        ),
        (
            "PATCH",
            format!("collections/{coll}"),
            json!({"title": "evil"}),
        ),
        ("DELETE", format!("collections/{coll}"), json!({})),
        (
            "POST",
            "bundles".into(),
            json!({"collection_uuid": coll, "slug": "evil", "title": "evil"}),
        ),
        (
            "PUT",
            format!("bundles/{bundle}"),
            json!({"collection_uuid": coll, "slug": "evil", "title": "evil"}),
        ),
        (
            "PATCH",
            format!("bundles/{bundle}"),
            json!({"title": "evil"}),
        ),
        ("DELETE", format!("bundles/{bundle}"), json!({})),
        (
            "PATCH",
            format!("bundle_versions/{bundle},1"),
            json!({"change_description": "evil"}),
        ),
        (
            "POST",
            "drafts".into(),
            json!({"bundle_uuid": bundle, "name": "evil"}),
        ),
        (
            "PATCH",
            format!("drafts/{d}"),
            json!({"files": {"a.txt": base64_of(b"evil")}}),
        ),
        ("DELETE", format!("drafts/{d}"), json!({})),
        ("POST", format!("drafts/{d}/commit"), json!({})),
    ];
    for (method, path, body) in &writes {
        for (site, origin) in [
            (Some("cross-site"), None),
            (None, Some("http://evil.example")),
            (Some("same-site"), Some("http://127.0.0.1:1")),
        ] {
            let mut req = c
                .server
                .request(method, &format!("/blockstore/api/v1/{path}"))
                .header("Authorization", &format!("Token {KEY}"))
                .header("Content-Type", "text/plain")
                .body(body.to_string().as_bytes());
            if let Some(site) = site {
                req = req.header("Sec-Fetch-Site", site);
            }
            if let Some(origin) = origin {
                req = req.header("Origin", origin);
            }
            let resp = req.send();
            assert_eq!(resp.status, 403, "{method} {path}: {}", resp.text());
        }
    }
    assert_eq!(seen(&c), before, "no cross-site write changed anything");
    // The same writes from a client that is not a browser do change it.
    c.api(
        "PATCH",
        &format!("drafts/{d}"),
        Some(json!({"files": {"a.txt": base64_of(b"mine")}})),
    )
    .expect(204);
    assert_ne!(seen(&c), before);
}
