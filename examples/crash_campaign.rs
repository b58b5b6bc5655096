//! `crash_campaign` — SIGKILLs the real `blockstore` binary a thousand times
//! over one data directory and checks, after every kill, that the store is
//! whole and that nothing acknowledged was lost.
//!
//! ```text
//! cargo build --release --bin blockstore --example crash_campaign
//! cargo run --release --example crash_campaign -- --kills 1000 --seed 14
//! ```
//!
//! Each round picks (from `--seed` and the round number) one operation and
//! runs it as a child process of the real binary: `import DIR` (an evolving
//! generated tree, sometimes the sample course, sometimes with `--publish`),
//! `write`, `delete`, `publish`, `revert` (all drafts or one path), `gc
//! --older-than 0m` (prunes every collection version but the latest), `gc`
//! (sweep only), `dump FILE`, `restore FILE --force` (of an earlier dump), or
//! `serve` with one or two client threads streaming REST PUTs, DELETEs and
//! publishes at it. The child is SIGKILLed at a random moment: for a CLI
//! command, after one of the last 16 run times seen for that command (runs
//! left uncut, about one round in seven, or that finished before their kill)
//! times 0–1.2, or half the time times 0.7–1.1, where a commit can land
//! before the answer; for the server, 5–500 ms after it starts. A round
//! whose command finished first is checked the same way but does not count
//! as a kill; the campaign runs until `--kills` kills.
//!
//! The campaign keeps a model of the store — each collection's draft (path →
//! hash) and its versions (tree, pruned or not, acknowledged or adopted) —
//! and, for the interrupted operation, the states it may legitimately have
//! left: the state before it, or after it (after an import with `--publish`,
//! also after the import alone; for the server, each client's last
//! acknowledged state, or that plus its one request in flight; after a
//! restore, exactly the dump's state, which the campaign recorded when the
//! dump was acknowledged or found complete after a kill). After every round:
//!
//! 1. `blockstore fsck --json` must report no problem (unreferenced blobs and
//!    temp files are garbage `gc` removes, counted, not problems);
//! 2. every version that is present and unpruned in every legitimate state
//!    must be there with exactly its files (a *loss* otherwise) — in
//!    particular every acknowledged publish (CLI exit 0 with its JSON report,
//!    or REST 201 with its number) that no gc has since pruned and no restore
//!    rolled back;
//! 3. the whole store (drafts included) must equal one legitimate state
//!    exactly (a *mismatch* otherwise: a half-done operation);
//! 4. every version not read since it appeared (or since a restore; all of
//!    them when fsck found a problem) is read back file by file through the
//!    library (`Store::read`), each file's bytes hashed and compared with
//!    what the client wrote (a *loss* otherwise).
//!
//! Each later check compares every version's listing with the model while
//! fsck re-hashes every referenced blob, so each acknowledged publish is
//! re-verified byte for byte after every kill until gc prunes it or a restore
//! rolls it back. At the end, a plain `gc` must remove exactly the garbage
//! fsck counted, and every version is read back once more.
//!
//! The seed fixes the operations, their arguments and each kill's fraction
//! of a run time as long as the outcomes agree; the run times themselves,
//! and so where a kill lands inside an operation, depend on the machine, so
//! two runs with one seed differ in detail (every failure names its seed and
//! round, and `--verbose` prints each round).
//! The exit status is non-zero on any loss, mismatch, unclean fsck or
//! unexpected command failure.

use blockstore::store::{hash_bytes, At};
use blockstore::Store;
use clap::Parser;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const DEFAULT_SEED: u64 = 14;
const COLLECTIONS: [&str; 3] = ["alpha", "beta", "gamma"];
/// One round in this many (of a CLI operation) runs uncut: it measures the
/// operation's run time and lets clients be acknowledged.
const UNCUT_ONE_IN: u64 = 7;
/// Dumps kept for restores (older ones are deleted).
const DUMPS_KEPT: usize = 4;

/// Crash campaign: SIGKILL the real blockstore binary over one data dir and check
/// that nothing acknowledged was lost (see the file's doc comment).
#[derive(Parser, Debug)]
#[command(name = "crash_campaign")]
struct Args {
    /// SIGKILLs to deliver; rounds whose command finished first do not count.
    #[arg(long, default_value_t = 1000)]
    kills: u64,
    /// Seed of the operations, their arguments and the kill delays.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// The blockstore binary (default: `blockstore` in this example's target
    /// profile folder, e.g. target/release/blockstore).
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,
    /// Work in DIR (created, must not exist) instead of a temp folder, and keep it.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print one line per round.
    #[arg(long, short)]
    verbose: bool,
}

// ---------------------------------------------------------------------------
// Seeded randomness and generated content (as tests/it/crash.rs).

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Every path a generated tree may contain (about 340, units and assets).
fn universe() -> Vec<String> {
    let mut paths = vec![
        "course.xml".to_string(),
        "course/run.xml".to_string(),
        "policies/run/policy.json".to_string(),
    ];
    paths.extend((0..20).map(|k| format!("chapter/c{k}.xml")));
    paths.extend((0..40).map(|k| format!("sequential/s{k}.xml")));
    for k in 0..60 {
        paths.push(format!("vertical/v{k}.xml"));
        paths.push(format!("html/h{k}.html"));
        paths.push(format!("html/h{k}.xml"));
        paths.push(format!("problem/p{k}.xml"));
    }
    paths.extend((0..30).map(|k| format!("static/img{k}.png")));
    paths.extend((0..4).map(|k| format!("static/video{k}.bin")));
    paths
}

/// The bytes of `path` in one of a few variants: a pure function, so rounds
/// share blobs and the store stays small.
fn content(path: &str, variant: u64) -> Vec<u8> {
    let mut rng = SplitMix64(
        path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }) ^ variant.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    if path.starts_with("static/") {
        let len = if path.contains("video") {
            rng.range(8 << 10, 24 << 10)
        } else {
            rng.range(100, 2 << 10)
        };
        return (0..len / 8)
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
    }
    const WORDS: &[&str] = &[
        "learner", "course", "unit", "problem", "answer", "video", "module", "grade", "olx",
        "block", "section", "week",
    ];
    let filler = (0..rng.range(5, 100))
        .map(|_| WORDS[rng.index(WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ");
    let j = rng.below(60);
    let (folder, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file.split('.').next().unwrap_or(file);
    let text = if path == "course.xml" {
        format!("<course org=\"crash\" course=\"c{variant}\" url_name=\"run\"/>\n")
    } else if path.ends_with(".json") {
        format!("{{\"course/run\": {{\"display_name\": \"Crash course {variant}\"}}}}\n")
    } else if path.ends_with(".html") {
        format!(
            "<p>{stem} variant {variant}</p>\n<img src=\"/static/img{}.png\"/>\n<p>{filler}</p>\n",
            j % 30
        )
    } else {
        format!(
            "<{folder} url_name=\"{stem}\" display_name=\"{stem} {variant}\">\n  <html url_name=\"h{j}\"/>\n  <problem url_name=\"p{j}\"/>\n  <!-- {filler} -->\n</{folder}>\n"
        )
    };
    text.into_bytes()
}

// ---------------------------------------------------------------------------
// The model.

/// A collection state as path -> blob hash.
type Tree = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A client was told: CLI exit 0 with its JSON report, or REST 201.
    Acked,
    /// Found committed after a kill that came before the answer.
    Adopted,
}

#[derive(Clone, Debug)]
struct Ver {
    tree: Arc<Tree>,
    pruned: bool,
    origin: Origin,
    /// Read back file by file since it appeared (or since the last restore).
    read: bool,
}

#[derive(Clone, Debug, Default)]
struct Coll {
    draft: Arc<Tree>,
    versions: BTreeMap<i64, Ver>,
}

impl Coll {
    fn next_number(&self) -> i64 {
        self.versions.keys().max().copied().unwrap_or(0) + 1
    }

    fn latest_tree(&self) -> Tree {
        self.versions
            .values()
            .next_back()
            .map(|v| (*v.tree).clone())
            .unwrap_or_default()
    }

    /// This collection with its draft published as version `number`.
    fn published(&self, number: i64, origin: Origin) -> Coll {
        let mut next = self.clone();
        next.versions.insert(
            number,
            Ver {
                tree: self.draft.clone(),
                pruned: false,
                origin,
                read: false,
            },
        );
        next
    }

    fn with_draft(&self, draft: Tree) -> Coll {
        Coll {
            draft: Arc::new(draft),
            versions: self.versions.clone(),
        }
    }
}

/// The whole store: collection slug -> state.
type State = BTreeMap<String, Coll>;

fn replace(state: &State, slug: &str, coll: Coll) -> State {
    let mut next = state.clone();
    next.insert(slug.to_string(), coll);
    next
}

/// Whether the observed store is exactly `expected` (drafts, version numbers,
/// pruned flags, every unpruned version's files).
fn same(observed: &State, expected: &State) -> bool {
    observed.len() == expected.len()
        && observed.iter().zip(expected).all(|((s1, a), (s2, b))| {
            s1 == s2
                && a.draft == b.draft
                && a.versions.len() == b.versions.len()
                && a.versions
                    .iter()
                    .zip(&b.versions)
                    .all(|((n1, v), (n2, w))| {
                        n1 == n2 && v.pruned == w.pruned && (v.pruned || v.tree == w.tree)
                    })
        })
}

/// How two trees differ, the first few paths.
fn tree_diff(actual: &Tree, expected: &Tree) -> String {
    let mut lines = Vec::new();
    for (path, hash) in actual {
        match expected.get(path) {
            None => lines.push(format!("unexpected {path}")),
            Some(h) if h != hash => lines.push(format!("{path}: {:.10}, expected {:.10}", hash, h)),
            Some(_) => {}
        }
    }
    for path in expected.keys().filter(|p| !actual.contains_key(*p)) {
        lines.push(format!("missing {path}"));
    }
    let more = lines.len().saturating_sub(6);
    lines.truncate(6);
    if more > 0 {
        lines.push(format!("… {more} more"));
    }
    format!(
        "{} files, expected {} ({})",
        actual.len(),
        expected.len(),
        lines.join("; ")
    )
}

/// How the observed store differs from a legitimate state.
fn state_diff(observed: &State, expected: &State) -> String {
    let mut out = Vec::new();
    let slugs: BTreeSet<&String> = observed.keys().chain(expected.keys()).collect();
    for slug in slugs {
        match (observed.get(slug), expected.get(slug)) {
            (None, _) => out.push(format!("{slug}: missing")),
            (_, None) => out.push(format!("{slug}: unexpected")),
            (Some(a), Some(b)) => {
                if a.draft != b.draft {
                    out.push(format!("{slug} draft: {}", tree_diff(&a.draft, &b.draft)));
                }
                let numbers: BTreeSet<&i64> = a.versions.keys().chain(b.versions.keys()).collect();
                for n in numbers {
                    match (a.versions.get(n), b.versions.get(n)) {
                        (None, _) => out.push(format!("{slug} v{n}: missing")),
                        (_, None) => out.push(format!("{slug} v{n}: unexpected")),
                        (Some(v), Some(w)) if v.pruned != w.pruned => out.push(format!(
                            "{slug} v{n}: pruned {} expected {}",
                            v.pruned, w.pruned
                        )),
                        (Some(v), Some(w)) if !v.pruned && v.tree != w.tree => {
                            out.push(format!("{slug} v{n}: {}", tree_diff(&v.tree, &w.tree)))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out.join(" | ")
}

/// Reads the store through the library: drafts, versions (pruned or not) and
/// every unpruned version's listing.
fn observe(store: &Store) -> Result<State, String> {
    let tree = |slug: &str, at: At| -> Result<Tree, String> {
        Ok(store
            .files(slug, at)
            .map_err(|e| format!("listing {slug} {at}: {e}"))?
            .into_iter()
            .map(|f| (f.path, f.hash))
            .collect())
    };
    let mut state = State::new();
    let collections = store
        .collections()
        .map_err(|e| format!("listing collections: {e}"))?;
    for summary in collections {
        let slug = summary.collection.slug;
        let mut coll = Coll {
            draft: Arc::new(tree(&slug, At::Draft)?),
            versions: BTreeMap::new(),
        };
        let versions = store
            .versions(&slug)
            .map_err(|e| format!("the publish log of {slug}: {e}"))?;
        for v in versions {
            let pruned = v.pruned_at.is_some();
            let files = if pruned {
                Tree::new()
            } else {
                tree(&slug, At::Version(v.number))?
            };
            coll.versions.insert(
                v.number,
                Ver {
                    tree: Arc::new(files),
                    pruned,
                    origin: Origin::Adopted,
                    read: false,
                },
            );
        }
        state.insert(slug, coll);
    }
    Ok(state)
}

/// Reads every file of a version back and hashes its bytes.
fn read_back(store: &Store, slug: &str, number: i64, tree: &Tree) -> Result<u64, String> {
    let mut bytes_read = 0;
    for (path, hash) in tree {
        let (entry, bytes) = store
            .read(slug, path, At::Version(number))
            .map_err(|e| format!("{slug} v{number} {path} does not read: {e}"))?;
        let actual = hash_bytes(&bytes);
        if actual != *hash || entry.hash != *hash {
            return Err(format!(
                "{slug} v{number} {path}: bytes hash to {actual}, the entry says {}, the client wrote {hash}",
                entry.hash
            ));
        }
        bytes_read += bytes.len() as u64;
    }
    Ok(bytes_read)
}

/// Every file under `root` (relative path -> hash).
fn hash_dir(root: &Path) -> Tree {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, hash_bytes(&std::fs::read(e.path()).unwrap()))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Child processes.

/// A child killed on drop (the campaign must not leave servers behind).
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How a child ended.
struct Ended {
    status: ExitStatus,
    /// SIGKILLed by the campaign (it had not exited when the signal was sent).
    killed: bool,
    elapsed: Duration,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Ended {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.stdout).ok()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

fn blockstore(bin: &Path, data: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .env_remove("BLOCKSTORE_DATA_DIR")
        .env_remove("BLOCKSTORE_ADDR")
        .env_remove("BLOCKSTORE_TOKEN")
        .env_remove("BLOCKSTORE_LOCK_TIMEOUT")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs `blockstore ARGS`, SIGKILLing it `kill_after` its start unless it
/// has exited by then.
fn run(bin: &Path, data: &Path, args: &[String], kill_after: Option<Duration>) -> Ended {
    let started = Instant::now();
    let mut child = blockstore(bin, data)
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = kill_after.map(|d| started + d);
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling a child") {
            break status;
        }
        let now = Instant::now();
        match deadline {
            Some(at) if now >= at => {
                let _ = child.kill();
                killed = true;
                break child.wait().expect("reaping a child");
            }
            Some(at) => std::thread::sleep((at - now).min(Duration::from_micros(500))),
            None => std::thread::sleep(Duration::from_micros(500)),
        }
    };
    let elapsed = started.elapsed();
    // A signal, not an exit code: the kill landed while it ran.
    let killed = killed && status.code().is_none();
    Ended {
        status,
        killed,
        elapsed,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client (one connection per request).

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request; `None` unless a whole answer arrived (a server killed
/// mid-request gives none, so the request stays "in flight").
fn http(addr: &str, method: &str, target: &str, body: &[u8]) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split..];
    let answer = |body: Vec<u8>| Answer {
        status,
        headers: headers.clone(),
        body,
    };
    if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
        let length: usize = length.parse().ok()?;
        return (rest.len() >= length).then(|| answer(rest[..length].to_vec()));
    }
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let end = at + rest[at..].windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[at..end]).trim(), 16).ok()?;
            at = end + 2;
            if size == 0 {
                return Some(answer(body));
            }
            body.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
    }
    None
}

/// Percent-encodes a file path for a URL (keeps `/`).
fn url_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What one REST client did before the server died.
#[derive(Default)]
struct ClientReport {
    /// The collection as its last acknowledged request left it.
    coll: Coll,
    /// The collection as the request without an answer would leave it.
    in_flight: Option<Coll>,
    requests: u64,
    acked_writes: u64,
    acked_publishes: u64,
    refused: u64,
    wrong_etags: u64,
    errors: Vec<String>,
}

/// Streams PUTs, DELETEs and publishes at one collection until the server
/// stops answering.
fn rest_client(
    addr: String,
    slug: String,
    coll: Coll,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> ClientReport {
    let mut rng = SplitMix64(seed);
    let paths = universe();
    let mut report = ClientReport {
        coll,
        ..ClientReport::default()
    };
    let api = format!("/api/v1/collections/{slug}");
    while !stop.load(Ordering::SeqCst) {
        let coll = &report.coll;
        let dice = rng.below(100);
        if dice < 70 || (dice < 80 && coll.draft.is_empty()) {
            let path = &paths[rng.index(paths.len())];
            let bytes = content(path, rng.below(7));
            let hash = hash_bytes(&bytes);
            let mut draft = (*coll.draft).clone();
            draft.insert(path.clone(), hash.clone());
            report.in_flight = Some(coll.with_draft(draft));
            report.requests += 1;
            let Some(answer) = http(
                &addr,
                "PUT",
                &format!("{api}/raw/{}", url_path(path)),
                &bytes,
            ) else {
                break;
            };
            if matches!(answer.status, 200 | 201) {
                if answer.header("etag") != Some(&format!("\"{hash}\"")) {
                    report.wrong_etags += 1;
                    report.errors.push(format!(
                        "PUT {slug}:{path} answered ETag {:?}, the bytes hash to {hash}",
                        answer.header("etag")
                    ));
                }
                report.coll = report.in_flight.take().unwrap();
                report.acked_writes += 1;
            } else {
                report.refused += 1;
                report.errors.push(format!(
                    "PUT {slug}:{path}: {} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
        } else if dice < 80 {
            let path = coll
                .draft
                .keys()
                .nth(rng.index(coll.draft.len()))
                .unwrap()
                .clone();
            let mut draft = (*coll.draft).clone();
            draft.remove(&path);
            report.in_flight = Some(coll.with_draft(draft));
            report.requests += 1;
            let Some(answer) = http(
                &addr,
                "DELETE",
                &format!("{api}/raw/{}", url_path(&path)),
                b"",
            ) else {
                break;
            };
            if answer.status == 200 {
                report.coll = report.in_flight.take().unwrap();
                report.acked_writes += 1;
            } else {
                report.refused += 1;
                report.errors.push(format!(
                    "DELETE {slug}:{path}: {} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
        } else {
            let expected = coll.next_number();
            report.in_flight = Some(coll.published(expected, Origin::Adopted));
            report.requests += 1;
            let Some(answer) = http(&addr, "POST", &format!("{api}/publish"), b"") else {
                break;
            };
            match answer.status {
                201 => {
                    let number = serde_json::from_slice::<Value>(&answer.body)
                        .ok()
                        .and_then(|v| v["number"].as_i64());
                    if number != Some(expected) {
                        report.errors.push(format!(
                            "publish {slug} answered version {number:?}, expected {expected}"
                        ));
                    }
                    let number = number.unwrap_or(expected);
                    report.coll = report.coll.published(number, Origin::Acked);
                    report.acked_publishes += 1;
                }
                // Nothing to publish: nothing changed.
                409 => report.refused += 1,
                status => {
                    report.refused += 1;
                    report.errors.push(format!(
                        "publish {slug}: {status} {}",
                        String::from_utf8_lossy(&answer.body)
                    ));
                }
            }
        }
        report.in_flight = None;
    }
    report
}

// ---------------------------------------------------------------------------
// The campaign.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Import,
    Write,
    Delete,
    Publish,
    Revert,
    GcPrune,
    GcSweep,
    Dump,
    Restore,
    Serve,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Import => "import",
            Kind::Write => "write",
            Kind::Delete => "delete",
            Kind::Publish => "publish",
            Kind::Revert => "revert",
            Kind::GcPrune => "gc --older-than 0m",
            Kind::GcSweep => "gc",
            Kind::Dump => "dump",
            Kind::Restore => "restore --force",
            Kind::Serve => "serve + REST",
        }
    }

    /// Weighted choice of the round's operation.
    fn pick(rng: &mut SplitMix64) -> Kind {
        const WEIGHTS: [(Kind, u64); 10] = [
            (Kind::Import, 13),
            (Kind::Write, 15),
            (Kind::Delete, 8),
            (Kind::Publish, 14),
            (Kind::Revert, 6),
            (Kind::GcPrune, 6),
            (Kind::GcSweep, 4),
            (Kind::Dump, 7),
            (Kind::Restore, 5),
            (Kind::Serve, 22),
        ];
        let mut roll = rng.below(WEIGHTS.iter().map(|(_, w)| w).sum());
        for (kind, weight) in WEIGHTS {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        unreachable!()
    }
}

#[derive(Default)]
struct Tally {
    rounds: u64,
    kills: u64,
    /// Kills after which the store showed the operation's effect.
    committed: u64,
    completed: u64,
    failed: u64,
    acked_publishes: u64,
    /// REST requests acknowledged (serve rounds).
    acked_requests: u64,
    /// Wall time of the rounds, checks included.
    time: Duration,
}

#[derive(Default)]
struct Stats {
    rounds: u64,
    kills: u64,
    acked_publishes_cli: u64,
    acked_publishes_rest: u64,
    acked_read_back: u64,
    adopted_read_back: u64,
    /// Versions read back again: after a restore, or after an unclean fsck.
    reread: u64,
    bytes_read_back: u64,
    acked_checks: u64,
    adopted_checks: u64,
    pruned_by_gc: u64,
    rolled_back: u64,
    brought_back: u64,
    acked_writes: u64,
    rest_requests: u64,
    rest_refused: u64,
    wrong_etags: u64,
    losses_acked: u64,
    losses_adopted: u64,
    mismatches: u64,
    unexpected: u64,
    fsck_runs: u64,
    fsck_clean: u64,
    unreferenced_max: u64,
    stray_max: u64,
    dumps_acked: u64,
    dumps_complete_though_killed: u64,
    debris_dump_files: u64,
    debris_restore_dirs: u64,
    debris_peak_entries: u64,
    debris_peak_bytes: u64,
    check_time: Duration,
}

struct Campaign {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    seed: u64,
    verbose: bool,
    paths: Vec<String>,
    sample: (PathBuf, Tree),
    state: State,
    /// What each collection's import folder holds.
    trees: BTreeMap<String, Tree>,
    dumps: Vec<(PathBuf, State)>,
    /// Every leftover of a killed dump or restore seen so far.
    debris_seen: std::collections::HashSet<PathBuf>,
    /// Recent run times of each CLI operation (runs that were not killed).
    durations: BTreeMap<Kind, Vec<Duration>>,
    tally: BTreeMap<Kind, Tally>,
    stats: Stats,
    failures: Vec<String>,
    /// Lost versions already counted, by restore generation, slug and number.
    lost: BTreeSet<(u64, String, i64)>,
    /// Restores that took effect so far (a version number may be reused after one).
    generation: u64,
}

/// What a round expects: the states the store may be in after it, the first
/// being the state before it, and, for the tally, whether it had a kill.
struct Outcome {
    candidates: Vec<State>,
    /// Per candidate: whether it shows the interrupted operation's effect (for
    /// a server, a request in flight that had committed).
    effect: Vec<bool>,
    killed: bool,
    /// A short account for `--verbose`.
    note: String,
}

impl Campaign {
    fn fail(&mut self, round: u64, kind: Kind, what: String) {
        let line = format!("seed {} round {round} ({}): {what}", self.seed, kind.name());
        eprintln!("FAILURE {line}");
        self.failures.push(line);
    }

    fn tree_dir(&self, slug: &str) -> PathBuf {
        self.root.join("trees").join(slug)
    }

    /// Edits a collection's import folder as an author would between imports.
    fn edit_tree(&mut self, slug: &str, rng: &mut SplitMix64) {
        let dir = self.tree_dir(slug);
        let tree = self.trees.entry(slug.to_string()).or_default();
        let edits = if tree.len() < 50 {
            rng.range(60, 200)
        } else {
            rng.range(1, 20)
        };
        for _ in 0..edits {
            let path = &self.paths[rng.index(self.paths.len())];
            if tree.contains_key(path) && tree.len() > 50 && rng.below(3) == 0 {
                std::fs::remove_file(dir.join(path)).expect("removing a tree file");
                tree.remove(path);
            } else if tree.contains_key(path) || tree.len() < 160 {
                let bytes = content(path, rng.below(6));
                let file = dir.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).expect("a tree folder");
                std::fs::write(&file, &bytes).expect("writing a tree file");
                tree.insert(path.clone(), hash_bytes(&bytes));
            }
        }
    }

    /// One CLI round: the command, its arguments and legitimate end states.
    fn cli_round(&mut self, round: u64, kind: Kind, rng: &mut SplitMix64) -> Outcome {
        let mut slug = COLLECTIONS[rng.index(COLLECTIONS.len())].to_string();
        if kind == Kind::Publish && rng.below(3) != 0 {
            // Mostly a collection with something to publish, if any.
            let pending: Vec<&String> = self
                .state
                .iter()
                .filter(|(_, c)| *c.draft != c.latest_tree())
                .map(|(s, _)| s)
                .collect();
            if !pending.is_empty() {
                slug = pending[rng.index(pending.len())].clone();
            }
        }
        let known = self.durations.get(&kind).cloned().unwrap_or_default();
        let uncut = known.is_empty() || rng.below(UNCUT_ONE_IN) == 0;
        // Run times vary several-fold (a loaded disk, the store's size), so
        // the kill comes after one recent run time, scaled: half the kills
        // anywhere in it, half in its last stretch, where a commit can land
        // before the answer.
        let sample = known.get(rng.index(known.len())).copied();
        let fraction = if rng.below(2) == 0 {
            rng.unit() * 1.2
        } else {
            0.7 + rng.unit() * 0.4
        };
        let before = self.state.clone();
        let coll = before.get(&slug).cloned().unwrap_or_default();
        let mut publish_flag = false;
        let mut dump_file = None;
        let mut restore_to = None;
        let (args, afters): (Vec<String>, Vec<State>) = match kind {
            Kind::Import => {
                let (dir, tree) = if rng.below(8) == 0 {
                    self.sample.clone()
                } else {
                    self.edit_tree(&slug, rng);
                    (self.tree_dir(&slug), self.trees[&slug].clone())
                };
                publish_flag = rng.below(3) == 0;
                let mut args = vec![
                    "import".into(),
                    dir.display().to_string(),
                    "--collection".into(),
                    slug.clone(),
                ];
                let imported = coll.with_draft(tree);
                let mut afters = vec![replace(&before, &slug, imported.clone())];
                if publish_flag {
                    args.extend(["--publish".into(), "-m".into(), format!("round {round}")]);
                    let number = imported.next_number();
                    afters.push(replace(
                        &before,
                        &slug,
                        imported.published(number, Origin::Adopted),
                    ));
                }
                (args, afters)
            }
            Kind::Delete if !coll.draft.is_empty() => {
                let path = coll
                    .draft
                    .keys()
                    .nth(rng.index(coll.draft.len()))
                    .unwrap()
                    .clone();
                let mut draft = (*coll.draft).clone();
                draft.remove(&path);
                (
                    vec!["delete".into(), format!("{slug}:{path}")],
                    vec![replace(&before, &slug, coll.with_draft(draft))],
                )
            }
            // A delete in an empty draft writes instead.
            Kind::Write | Kind::Delete => {
                let path = self.paths[rng.index(self.paths.len())].clone();
                let bytes = content(&path, rng.below(7));
                let file = self.root.join("scratch").join("write.bin");
                std::fs::write(&file, &bytes).expect("writing the scratch file");
                let mut draft = (*coll.draft).clone();
                draft.insert(path.clone(), hash_bytes(&bytes));
                (
                    vec![
                        "write".into(),
                        format!("{slug}:{path}"),
                        file.display().to_string(),
                    ],
                    vec![replace(&before, &slug, coll.with_draft(draft))],
                )
            }
            Kind::Publish => (
                vec![
                    "publish".into(),
                    slug.clone(),
                    "-m".into(),
                    format!("round {round}"),
                ],
                vec![replace(
                    &before,
                    &slug,
                    coll.published(coll.next_number(), Origin::Adopted),
                )],
            ),
            Kind::Revert => {
                let latest = coll.latest_tree();
                // One path's revert names a path with a draft change (else the
                // CLI rightly answers "not found", exit 3).
                let changed: Vec<&String> = coll
                    .draft
                    .keys()
                    .chain(latest.keys())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter(|p| coll.draft.get(*p) != latest.get(*p))
                    .collect();
                if rng.below(3) == 0 && !changed.is_empty() {
                    let path = changed[rng.index(changed.len())].clone();
                    let mut draft = (*coll.draft).clone();
                    match latest.get(&path) {
                        Some(hash) => draft.insert(path.clone(), hash.clone()),
                        None => draft.remove(&path),
                    };
                    (
                        vec!["revert".into(), format!("{slug}:{path}")],
                        vec![replace(&before, &slug, coll.with_draft(draft))],
                    )
                } else {
                    (
                        vec!["revert".into(), slug.clone()],
                        vec![replace(&before, &slug, coll.with_draft(latest))],
                    )
                }
            }
            Kind::GcPrune => {
                let mut pruned = before.clone();
                for coll in pruned.values_mut() {
                    let latest = coll.versions.keys().max().copied();
                    for (n, v) in coll.versions.iter_mut() {
                        if Some(*n) != latest {
                            v.pruned = true;
                        }
                    }
                }
                (
                    vec!["gc".into(), "--older-than".into(), "0m".into()],
                    vec![pruned],
                )
            }
            Kind::GcSweep => (vec!["gc".into()], vec![before.clone()]),
            Kind::Dump => {
                let file = self.root.join("dumps").join(format!("dump-{round}.tar.gz"));
                dump_file = Some(file.clone());
                (
                    vec!["dump".into(), file.display().to_string()],
                    vec![before.clone()],
                )
            }
            Kind::Restore => {
                let (file, snapshot) = self.dumps[rng.index(self.dumps.len())].clone();
                let mut restored = snapshot;
                for coll in restored.values_mut() {
                    for v in coll.versions.values_mut() {
                        v.read = false;
                    }
                }
                restore_to = Some(file.display().to_string());
                (
                    vec![
                        "restore".into(),
                        file.display().to_string(),
                        "--force".into(),
                    ],
                    vec![restored],
                )
            }
            Kind::Serve => unreachable!("serve rounds are run by serve_round"),
        };

        let kill_after = sample.filter(|_| !uncut).map(|d| d.mul_f64(fraction));
        let ended = run(&self.bin, &self.data, &args, kill_after);
        if !ended.killed {
            let seen = self.durations.entry(kind).or_default();
            seen.push(ended.elapsed);
            if seen.len() > 16 {
                seen.remove(0);
            }
        }

        let mut note = format!(
            "{} {} {:.0?}",
            args.join(" ")
                .replace(&self.root.display().to_string(), "…"),
            if ended.killed {
                "KILLED after"
            } else {
                "exited after"
            },
            ended.elapsed
        );
        let mut effect = vec![false];
        let candidates = if ended.killed {
            let mut candidates = vec![before.clone()];
            effect.extend(afters.iter().map(|a| !same(a, &before)));
            candidates.extend(afters);
            if kind == Kind::Dump {
                let file = dump_file.unwrap();
                if file.exists() {
                    // The archive is renamed into place whole: a kill after
                    // that leaves a complete dump of this very state.
                    self.stats.dumps_complete_though_killed += 1;
                    self.keep_dump(file, before.clone());
                }
            }
            candidates
        } else {
            let code = ended.status.code();
            let json = ended.json();
            note += &format!(", exit {code:?}");
            match (kind, code) {
                (_, Some(0)) if json.is_none() => {
                    self.fail(
                        round,
                        kind,
                        format!("exit 0 without a JSON report: {:?}", ended.stdout),
                    );
                    self.stats.unexpected += 1;
                    vec![before.clone()]
                }
                (Kind::Import, Some(0)) => {
                    let published = json.as_ref().unwrap()["published"]["number"].as_i64();
                    match (published, publish_flag) {
                        (Some(number), true) => {
                            let expected = afters[1][&slug].versions.keys().max().copied();
                            if Some(number) != expected {
                                self.fail(
                                    round,
                                    kind,
                                    format!("import --publish reported version {number}, expected {expected:?}"),
                                );
                            }
                            self.stats.acked_publishes_cli += 1;
                            self.tally.entry(kind).or_default().acked_publishes += 1;
                            let imported = afters[0][&slug].clone();
                            vec![replace(
                                &before,
                                &slug,
                                imported.published(number, Origin::Acked),
                            )]
                        }
                        _ => vec![afters[0].clone()],
                    }
                }
                (Kind::Publish, Some(0)) => {
                    let number = json.as_ref().unwrap()["number"].as_i64();
                    let expected = coll.next_number();
                    if number != Some(expected) {
                        self.fail(
                            round,
                            kind,
                            format!("publish reported version {number:?}, expected {expected}"),
                        );
                    }
                    self.stats.acked_publishes_cli += 1;
                    self.tally.entry(kind).or_default().acked_publishes += 1;
                    vec![replace(
                        &before,
                        &slug,
                        coll.published(number.unwrap_or(expected), Origin::Acked),
                    )]
                }
                // Nothing to publish.
                (Kind::Publish, Some(4)) => vec![before.clone()],
                (Kind::Dump, Some(0)) => {
                    self.stats.dumps_acked += 1;
                    self.keep_dump(dump_file.unwrap(), before.clone());
                    vec![before.clone()]
                }
                (_, Some(0)) => {
                    if matches!(kind, Kind::Import | Kind::Write | Kind::Delete) {
                        self.stats.acked_writes += 1;
                    }
                    afters
                }
                _ => {
                    self.stats.unexpected += 1;
                    self.tally.entry(kind).or_default().failed += 1;
                    self.fail(
                        round,
                        kind,
                        format!(
                            "`blockstore {}` failed on its own ({}): {}",
                            args.join(" "),
                            ended.status,
                            ended.stderr()
                        ),
                    );
                    // A failed command must have changed nothing.
                    vec![before.clone()]
                }
            }
        };
        if let Some(file) = restore_to {
            note += &format!(
                " (from {})",
                Path::new(&file).file_name().unwrap().to_string_lossy()
            );
        }
        Outcome {
            candidates,
            effect,
            killed: ended.killed,
            note,
        }
    }

    fn keep_dump(&mut self, file: PathBuf, state: State) {
        self.dumps.push((file, state));
        if self.dumps.len() > DUMPS_KEPT {
            let (old, _) = self.dumps.remove(0);
            let _ = std::fs::remove_file(old);
        }
    }

    /// A server under REST writes from one or two clients, killed 5–500 ms
    /// after it starts.
    fn serve_round(&mut self, round: u64, rng: &mut SplitMix64) -> Outcome {
        let kind = Kind::Serve;
        let mut slugs: Vec<String> = COLLECTIONS.iter().map(|s| s.to_string()).collect();
        let first = slugs.remove(rng.index(slugs.len()));
        let mut clients = vec![first];
        if rng.below(2) == 0 {
            clients.push(slugs.remove(rng.index(slugs.len())));
        }
        let seeds: Vec<u64> = clients.iter().map(|_| rng.next()).collect();
        let kill_after = Duration::from_millis(rng.range(5, 500));
        let before = self.state.clone();

        let started = Instant::now();
        let mut child = blockstore(&self.bin, &self.data)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        let stdout = child.stdout.take().unwrap();
        let stderr = drain(child.stderr.take().unwrap());
        let mut server = Running(Some(child));
        let (url_tx, url_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            if lines.read_line(&mut line).is_ok() {
                let _ = url_tx.send(line);
            }
            let mut rest = Vec::new();
            let _ = lines.read_to_end(&mut rest);
        });
        let deadline = started + kill_after;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut startup_failure = None;
        match url_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => match serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["url"].as_str().map(str::to_string))
            {
                Some(url) => {
                    let addr = url
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .to_string();
                    for (slug, seed) in clients.iter().zip(&seeds) {
                        let (addr, slug, stop) = (addr.clone(), slug.clone(), stop.clone());
                        let coll = before.get(&slug).cloned().unwrap_or_default();
                        let seed = *seed;
                        threads.push(std::thread::spawn(move || {
                            rest_client(addr, slug, coll, seed, stop)
                        }));
                    }
                }
                None => startup_failure = Some(format!("serve printed {line:?}")),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                startup_failure = Some("serve closed its stdout".to_string())
            }
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        let mut child = server.0.take().unwrap();
        let exited = child.try_wait().expect("polling the server");
        let _ = child.kill();
        let status = child.wait().expect("reaping the server");
        stop.store(true, Ordering::SeqCst);
        let reports: Vec<ClientReport> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let _ = reader.join();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap())
            .trim()
            .to_string();
        let killed = exited.is_none() && status.code().is_none();
        if !killed || startup_failure.is_some() {
            self.stats.unexpected += 1;
            self.tally.entry(kind).or_default().failed += 1;
            let why = startup_failure.unwrap_or_default();
            self.fail(
                round,
                kind,
                format!("the server ended on its own ({status}) {why}: {stderr}"),
            );
        }

        // Each client's collection: as acknowledged, or with its request in flight.
        let mut candidates = vec![before.clone()];
        let mut effect = vec![false];
        let mut requests = 0;
        let mut acked = 0;
        for (slug, report) in clients.iter().zip(&reports) {
            self.stats.rest_requests += report.requests;
            self.stats.rest_refused += report.refused;
            self.stats.wrong_etags += report.wrong_etags;
            self.stats.acked_writes += report.acked_writes;
            self.stats.acked_publishes_rest += report.acked_publishes;
            requests += report.requests;
            acked += report.acked_writes + report.acked_publishes;
            self.tally.entry(kind).or_default().acked_publishes += report.acked_publishes;
            for error in &report.errors {
                self.stats.unexpected += 1;
                self.fail(round, kind, format!("REST client on {slug}: {error}"));
            }
            // Acknowledged requests are in every state; the one in flight
            // may or may not have committed.
            let mut next = Vec::new();
            let mut next_effect = Vec::new();
            for (state, flag) in candidates.iter().zip(&effect) {
                next.push(replace(state, slug, report.coll.clone()));
                next_effect.push(*flag);
                if let Some(flight) = &report.in_flight {
                    next.push(replace(state, slug, flight.clone()));
                    next_effect.push(true);
                }
            }
            candidates = next;
            effect = next_effect;
        }
        self.tally.entry(kind).or_default().acked_requests += acked;
        Outcome {
            candidates,
            effect,
            killed,
            note: format!(
                "serve on {} killed after {kill_after:?}: {requests} request(s), {acked} acknowledged",
                clients.join("+"),
            ),
        }
    }

    /// `blockstore fsck --json`: must be clean.
    fn fsck(&mut self, round: u64, kind: Kind) -> bool {
        self.stats.fsck_runs += 1;
        let ended = run(&self.bin, &self.data, &["fsck".to_string()], None);
        let report = ended.json();
        match (&report, ended.status.code()) {
            (Some(report), Some(0))
                if report["problems"].as_array().is_some_and(|p| p.is_empty()) =>
            {
                self.stats.fsck_clean += 1;
                let unreferenced = report["unreferenced_blobs"].as_u64().unwrap_or(0);
                let stray = report["stray_files"].as_u64().unwrap_or(0);
                self.stats.unreferenced_max = self.stats.unreferenced_max.max(unreferenced);
                self.stats.stray_max = self.stats.stray_max.max(stray);
                true
            }
            _ => {
                let what = report
                    .map(|r| r["problems"].to_string())
                    .unwrap_or_else(|| ended.stderr());
                self.fail(
                    round,
                    kind,
                    format!("fsck is not clean ({}): {what}", ended.status),
                );
                false
            }
        }
    }

    /// Counts a lost version once, however many rounds find it lost.
    fn lose(
        &mut self,
        round: u64,
        kind: Kind,
        slug: &str,
        number: i64,
        origin: Origin,
        what: String,
    ) {
        let what = match origin {
            Origin::Acked => format!("LOSS: acknowledged publish {slug} v{number} {what}"),
            Origin::Adopted => format!("LOSS: committed (adopted) version {slug} v{number} {what}"),
        };
        if self
            .lost
            .insert((self.generation, slug.to_string(), number))
        {
            match origin {
                Origin::Acked => self.stats.losses_acked += 1,
                Origin::Adopted => self.stats.losses_adopted += 1,
            }
        }
        self.fail(round, kind, what);
    }

    /// The checks after a round (see the file's doc comment).
    fn check(
        &mut self,
        round: u64,
        kind: Kind,
        outcome: &Outcome,
        read_all: bool,
    ) -> Option<usize> {
        let started = Instant::now();
        let clean = self.fsck(round, kind);
        let store = match Store::open(&self.data) {
            Ok(store) => store,
            Err(e) => {
                self.fail(round, kind, format!("the store does not open: {e}"));
                return None;
            }
        };
        let observed = match observe(&store) {
            Ok(observed) => observed,
            Err(e) => {
                self.fail(round, kind, format!("the store does not read: {e}"));
                return None;
            }
        };
        let candidates = &outcome.candidates;

        // Versions every legitimate state holds, unpruned and with these files.
        let mut guaranteed: Vec<(String, i64, Origin, Arc<Tree>)> = Vec::new();
        for (slug, coll) in &candidates[0] {
            for (number, v) in &coll.versions {
                let everywhere = !v.pruned
                    && candidates[1..].iter().all(|c| {
                        c.get(slug)
                            .and_then(|c| c.versions.get(number))
                            .is_some_and(|w| !w.pruned && w.tree == v.tree)
                    });
                // A version acknowledged in this round is in every state but
                // may carry another origin in the first: take the strongest.
                let origin = if candidates.iter().any(|c| {
                    c.get(slug)
                        .and_then(|c| c.versions.get(number))
                        .is_some_and(|w| w.origin == Origin::Acked)
                }) {
                    Origin::Acked
                } else {
                    v.origin
                };
                if everywhere {
                    guaranteed.push((slug.clone(), *number, origin, v.tree.clone()));
                }
            }
        }
        for (slug, number, origin, tree) in &guaranteed {
            match origin {
                Origin::Acked => self.stats.acked_checks += 1,
                Origin::Adopted => self.stats.adopted_checks += 1,
            }
            let found = observed.get(slug).and_then(|c| c.versions.get(number));
            let problem = match found {
                None => Some("is gone".to_string()),
                Some(v) if v.pruned => Some("was pruned".to_string()),
                Some(v) if v.tree != *tree => {
                    Some(format!("changed: {}", tree_diff(&v.tree, tree)))
                }
                Some(_) => None,
            };
            if let Some(problem) = problem {
                self.lose(round, kind, slug, *number, *origin, problem);
            }
        }

        let matched = candidates.iter().position(|c| same(&observed, c));
        let mut next = match matched {
            Some(i) => candidates[i].clone(),
            None => {
                self.stats.mismatches += 1;
                let nearest = candidates
                    .iter()
                    .map(|c| state_diff(&observed, c))
                    .min_by_key(|d| d.len())
                    .unwrap_or_default();
                self.fail(
                    round,
                    kind,
                    format!(
                        "the store is in none of the {} legitimate states; nearest: {nearest}",
                        candidates.len()
                    ),
                );
                // Go on from what is there, keeping what is known of each version.
                let mut next = observed.clone();
                for (slug, coll) in next.iter_mut() {
                    for (number, v) in coll.versions.iter_mut() {
                        if let Some(w) = candidates
                            .iter()
                            .filter_map(|c| c.get(slug).and_then(|c| c.versions.get(number)))
                            .find(|w| w.tree == v.tree)
                        {
                            v.origin = w.origin;
                        }
                    }
                }
                next
            }
        };

        // Acknowledged versions that went legitimately, or came back.
        for (slug, coll) in &self.state {
            for (number, v) in &coll.versions {
                if v.origin != Origin::Acked || v.pruned {
                    continue;
                }
                let live = next
                    .get(slug)
                    .and_then(|c| c.versions.get(number))
                    .is_some_and(|w| !w.pruned && w.tree == v.tree);
                if !live && matched.is_some() {
                    match kind {
                        Kind::GcPrune => self.stats.pruned_by_gc += 1,
                        _ => self.stats.rolled_back += 1,
                    }
                }
            }
        }
        if kind == Kind::Restore && matched.is_some_and(|i| i > 0) {
            for (slug, coll) in &next {
                for (number, v) in &coll.versions {
                    let was_live = self
                        .state
                        .get(slug)
                        .and_then(|c| c.versions.get(number))
                        .is_some_and(|w| !w.pruned && w.tree == v.tree);
                    if v.origin == Origin::Acked && !v.pruned && !was_live {
                        self.stats.brought_back += 1;
                    }
                }
            }
        }

        if kind == Kind::Restore && matched.is_some_and(|i| i > 0) {
            self.generation += 1;
        }
        // Every version not read since it appeared (or since a restore; all of
        // them when fsck found a problem, or at the end): every file, byte for
        // byte.
        let mut lost = Vec::new();
        for (slug, coll) in next.iter_mut() {
            for (number, v) in coll.versions.iter_mut() {
                if v.pruned || (v.read && clean && !read_all) {
                    continue;
                }
                let first = kind != Kind::Restore
                    && !self
                        .state
                        .get(slug)
                        .and_then(|c| c.versions.get(number))
                        .is_some_and(|w| w.read && w.tree == v.tree);
                match read_back(&store, slug, *number, &v.tree) {
                    Ok(bytes) => {
                        self.stats.bytes_read_back += bytes;
                        if !first {
                            self.stats.reread += 1;
                        } else if v.origin == Origin::Acked {
                            self.stats.acked_read_back += 1;
                        } else {
                            self.stats.adopted_read_back += 1;
                        }
                    }
                    Err(e) => lost.push((slug.clone(), *number, v.origin, e)),
                }
                v.read = true;
            }
        }
        drop(store);
        for (slug, number, origin, e) in lost {
            self.lose(
                round,
                kind,
                &slug,
                number,
                origin,
                format!("does not read back: {e}"),
            );
        }
        self.state = next;
        self.stats.check_time += started.elapsed();
        matched
    }

    /// Partial dumps and restore staging folders the kills left (outside the
    /// store; issue 14 item 8): counted, never removed here. The next dump or
    /// restore, and every gc, must remove them; `finish` checks that nothing
    /// is left after the final gc.
    fn debris(&self) -> (Vec<PathBuf>, u64) {
        let size = |path: &Path| -> u64 {
            walkdir::WalkDir::new(path)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.root.join("dumps"))
            .unwrap()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with('.') {
                found.push(entry.path());
            }
        }
        for entry in std::fs::read_dir(self.root.join("store"))
            .unwrap()
            .flatten()
        {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".data.restore-")
            {
                found.push(entry.path());
            }
        }
        let bytes = found.iter().map(|p| size(p)).sum();
        (found, bytes)
    }

    /// Counts the debris present after a round: every leftover seen, and the
    /// most there ever were at once (what a user would have accumulated).
    fn sweep_debris(&mut self) {
        let (found, bytes) = self.debris();
        for path in &found {
            if self.debris_seen.insert(path.clone()) {
                if path.is_dir() {
                    self.stats.debris_restore_dirs += 1;
                } else {
                    self.stats.debris_dump_files += 1;
                }
            }
        }
        self.stats.debris_peak_entries = self.stats.debris_peak_entries.max(found.len() as u64);
        self.stats.debris_peak_bytes = self.stats.debris_peak_bytes.max(bytes);
    }

    fn round(&mut self, round: u64) {
        let started = Instant::now();
        let mut rng = SplitMix64(self.seed ^ (round + 1).wrapping_mul(0xd1b5_4a32_d192_ed03));
        let mut kind = Kind::pick(&mut rng);
        if kind == Kind::Restore && self.dumps.is_empty() {
            kind = Kind::Dump;
        }
        let outcome = if kind == Kind::Serve {
            self.serve_round(round, &mut rng)
        } else {
            self.cli_round(round, kind, &mut rng)
        };
        let matched = self.check(round, kind, &outcome, false);
        self.sweep_debris();
        self.stats.rounds += 1;
        let tally = self.tally.entry(kind).or_default();
        tally.rounds += 1;
        tally.time += started.elapsed();
        if outcome.killed {
            self.stats.kills += 1;
            tally.kills += 1;
            if matched.is_some_and(|i| outcome.effect.get(i) == Some(&true)) {
                tally.committed += 1;
            }
        } else {
            tally.completed += 1;
        }
        if self.verbose {
            let state = match matched {
                Some(0) => "state before".to_string(),
                Some(i) => format!("state {i} of {}", outcome.candidates.len()),
                None => "NO legitimate state".to_string(),
            };
            eprintln!("round {round}: {}; {state}", outcome.note);
        }
    }

    /// Creates the collections: an uncut import and publish each.
    fn bootstrap(&mut self) {
        let mut rng = SplitMix64(self.seed);
        for slug in COLLECTIONS {
            self.edit_tree(slug, &mut rng);
            for args in [
                vec![
                    "import".to_string(),
                    self.tree_dir(slug).display().to_string(),
                    "--collection".into(),
                    slug.into(),
                ],
                vec!["publish".to_string(), slug.into()],
            ] {
                let ended = run(&self.bin, &self.data, &args, None);
                assert!(
                    ended.status.success(),
                    "bootstrap: blockstore {} failed: {}",
                    args.join(" "),
                    ended.stderr()
                );
                let kind = if args[0] == "import" {
                    Kind::Import
                } else {
                    Kind::Publish
                };
                self.durations.entry(kind).or_default().push(ended.elapsed);
            }
            let mut coll = Coll {
                draft: Arc::new(self.trees[slug].clone()),
                versions: BTreeMap::new(),
            };
            coll = coll.published(1, Origin::Acked);
            self.state.insert(slug.to_string(), coll);
        }
        let outcome = Outcome {
            candidates: vec![self.state.clone()],
            effect: vec![false],
            killed: false,
            note: String::new(),
        };
        self.stats.acked_publishes_cli += COLLECTIONS.len() as u64;
        self.check(0, Kind::Publish, &outcome, false);
    }

    /// At the end: gc removes exactly the garbage fsck counted, fsck is then
    /// spotless, and every version reads back once more.
    fn finish(&mut self, round: u64) {
        let before = run(&self.bin, &self.data, &["fsck".to_string()], None).json();
        let gc = run(&self.bin, &self.data, &["gc".to_string()], None);
        let after = run(&self.bin, &self.data, &["fsck".to_string()], None).json();
        let (Some(before), Some(gc_report), Some(after)) = (before, gc.json(), after) else {
            self.fail(
                round,
                Kind::GcSweep,
                format!("final gc/fsck failed: {}", gc.stderr()),
            );
            return;
        };
        println!(
            "final gc: fsck counted {} unreferenced blob(s) and {} stray file(s); gc removed {} and {}; fsck after: {} and {}, {} problem(s)",
            before["unreferenced_blobs"], before["stray_files"],
            gc_report["blobs_deleted"], gc_report["stray_files_deleted"],
            after["unreferenced_blobs"], after["stray_files"],
            after["problems"].as_array().map_or(0, |p| p.len()),
        );
        if gc_report["blobs_deleted"] != before["unreferenced_blobs"]
            || gc_report["stray_files_deleted"] != before["stray_files"]
            || after["unreferenced_blobs"] != 0
            || after["stray_files"] != 0
            || after["problems"].as_array().is_none_or(|p| !p.is_empty())
        {
            self.fail(
                round,
                Kind::GcSweep,
                "the final gc did not remove exactly the garbage fsck counted".into(),
            );
        }
        let outcome = Outcome {
            candidates: vec![self.state.clone()],
            effect: vec![false],
            killed: false,
            note: String::new(),
        };
        self.check(round, Kind::GcSweep, &outcome, true);
        let (left, bytes) = self.debris();
        println!(
            "debris after the final gc: {} leftover(s) of killed dumps and restores ({bytes} bytes)",
            left.len()
        );
        if !left.is_empty() {
            self.fail(
                round,
                Kind::GcSweep,
                format!("gc left the debris of killed dumps and restores: {left:?}"),
            );
        }
    }

    fn summary(&self, elapsed: Duration) {
        let s = &self.stats;
        println!(
            "\n{:<20} {:>6} {:>6} {:>10} {:>10} {:>7} {:>10} {:>8}",
            "operation",
            "rounds",
            "kills",
            "committed",
            "completed",
            "failed",
            "acked pub.",
            "time"
        );
        for (kind, t) in &self.tally {
            println!(
                "{:<20} {:>6} {:>6} {:>10} {:>10} {:>7} {:>10} {:>7.1}s",
                kind.name(),
                t.rounds,
                t.kills,
                t.committed,
                t.completed,
                t.failed,
                t.acked_publishes,
                t.time.as_secs_f64()
            );
        }
        println!(
            "(committed: kills after which the store showed the operation's effect; for serve, a request in flight had committed)"
        );
        let serve = self.tally.get(&Kind::Serve);
        println!(
            "\nkills: {} in {} rounds, {:.1?} ({:.0?} of it checking)",
            s.kills, s.rounds, elapsed, s.check_time
        );
        println!(
            "acknowledged publishes: {} ({} CLI, {} REST), {} of them read back file by file, byte for byte, in the check right after; {} more versions committed by killed publishes were adopted and read back",
            s.acked_publishes_cli + s.acked_publishes_rest,
            s.acked_publishes_cli,
            s.acked_publishes_rest,
            s.acked_read_back,
            s.adopted_read_back
        );
        println!(
            "acknowledged-publish checks: {} (after each round, every acknowledged publish the store must still hold: present, its files unchanged, its blobs re-hashed by fsck); {} more for adopted versions",
            s.acked_checks, s.adopted_checks
        );
        println!(
            "legitimately gone: {} acknowledged publishes pruned by `gc --older-than 0m`, {} rolled back by a restore ({} brought back by one); {} versions read back again (after restores, an unclean fsck, and all at the end); {} bytes read back in all",
            s.pruned_by_gc, s.rolled_back, s.brought_back, s.reread, s.bytes_read_back
        );
        println!(
            "acknowledged draft writes (import, write, delete, REST PUT/DELETE): {}; REST requests {} ({} acknowledged in serve rounds, {} refused, {} wrong ETags)",
            s.acked_writes,
            s.rest_requests,
            serve.map_or(0, |t| t.acked_requests),
            s.rest_refused,
            s.wrong_etags
        );
        println!(
            "dumps: {} acknowledged, {} complete although killed; debris the kills left: {} partial dump file(s), {} restore staging folder(s); at most {} at once ({} bytes), removed by the next dump, restore or gc",
            s.dumps_acked,
            s.dumps_complete_though_killed,
            s.debris_dump_files,
            s.debris_restore_dirs,
            s.debris_peak_entries,
            s.debris_peak_bytes
        );
        println!(
            "fsck: {} of {} runs clean; at most {} unreferenced blob(s) and {} stray file(s) at once (garbage gc removes)",
            s.fsck_clean, s.fsck_runs, s.unreferenced_max, s.stray_max
        );
        println!(
            "LOSSES: {} acknowledged publishes, {} adopted versions   mismatches (half-done operations): {}   unexpected failures: {}",
            s.losses_acked, s.losses_adopted, s.mismatches, s.unexpected
        );
    }
}

fn default_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("this example's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples/crash_campaign");
    profile.join(format!("blockstore{}", std::env::consts::EXE_SUFFIX))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bin = args.bin.clone().unwrap_or_else(default_bin);
    if !bin.is_file() {
        eprintln!(
            "error: no blockstore binary at {}; build it first (cargo build --release --bin blockstore) or pass --bin PATH",
            bin.display()
        );
        return ExitCode::from(2);
    }
    let (root, _temp) = match &args.dir {
        Some(dir) => {
            if let Err(e) = std::fs::create_dir(dir) {
                eprintln!("error: creating {}: {e} (give a new folder)", dir.display());
                return ExitCode::from(2);
            }
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("crash-campaign-")
                .tempdir()
                .expect("a temp folder");
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    for sub in ["store", "trees", "dumps", "scratch"] {
        std::fs::create_dir_all(root.join(sub)).expect("a work folder");
    }
    let sample_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-course");
    let mut campaign = Campaign {
        bin: bin.clone(),
        data: root.join("store").join("data"),
        root: root.clone(),
        seed: args.seed,
        verbose: args.verbose,
        paths: universe(),
        sample: (sample_dir.clone(), hash_dir(&sample_dir)),
        state: State::new(),
        trees: BTreeMap::new(),
        dumps: Vec::new(),
        debris_seen: Default::default(),
        durations: BTreeMap::new(),
        tally: BTreeMap::new(),
        stats: Stats::default(),
        failures: Vec::new(),
        lost: BTreeSet::new(),
        generation: 0,
    };
    println!(
        "crash campaign: seed {}, {} kills, blockstore {}, work folder {}",
        args.seed,
        args.kills,
        bin.display(),
        root.display()
    );
    let started = Instant::now();
    campaign.bootstrap();
    let mut round = 1;
    let mut reported = 0;
    while campaign.stats.kills < args.kills {
        campaign.round(round);
        round += 1;
        if campaign.stats.kills >= reported + 100 {
            reported = campaign.stats.kills / 100 * 100;
            println!(
                "  {} kills, {} rounds, {:.0?}; {} acknowledged publishes, {} losses, {} failures",
                campaign.stats.kills,
                campaign.stats.rounds,
                started.elapsed(),
                campaign.stats.acked_publishes_cli + campaign.stats.acked_publishes_rest,
                campaign.stats.losses_acked + campaign.stats.losses_adopted,
                campaign.failures.len()
            );
        }
        if round > args.kills * 4 + 100 {
            campaign.fail(round, Kind::Serve, "too few kills landed; giving up".into());
            break;
        }
    }
    campaign.finish(round);
    campaign.summary(started.elapsed());
    if args.dir.is_some() {
        println!("work folder kept: {}", root.display());
    }
    if campaign.failures.is_empty() {
        println!(
            "replay: cargo run --release --example crash_campaign -- --kills {} --seed {}",
            args.kills, args.seed
        );
        ExitCode::SUCCESS
    } else {
        println!("\n{} failure(s):", campaign.failures.len());
        for f in &campaign.failures {
            println!("  {f}");
        }
        ExitCode::FAILURE
    }
}
