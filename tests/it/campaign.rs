//! The concurrency campaign (issue 14): 16 REST clients of three kinds on
//! shared and own paths, a publish loop, a CLI import loop and a CLI gc loop,
//! all on one data dir at once. Afterwards every acknowledged write must be in
//! its path's draft history, every conditional write must have replaced
//! exactly the bytes it named (no lost update), every answer's ETag must be
//! its own write's hash, no answer may be a 5xx, every acknowledged publish
//! must exist, and fsck must be clean. Writes per client default to 40;
//! `BLOCKSTORE_CAMPAIGN_OPS=400` runs the campaign RELIABILITY.md records.

use crate::common::*;
use crate::server::Server;
use blockstore::store::{hash_bytes, At};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const API: &str = "/api/v1";
const CLIENTS: usize = 16;
const SHARED_PATHS: usize = 4;

/// One acknowledged write: where, what it replaced (for a conditional
/// write), and its own hash.
#[derive(Debug, Clone)]
struct Acked {
    path: String,
    replaced: Option<Option<String>>,
    hash: String,
}

#[derive(Debug, Default)]
struct Counts {
    writes: AtomicU64,
    conditional: AtomicU64,
    precondition_failed: AtomicU64,
    wrong_etags: AtomicU64,
    server_errors: AtomicU64,
    publishes: AtomicU64,
    imports: AtomicU64,
    gcs: AtomicU64,
    gc_gave_up: AtomicU64,
}

fn etag_of(resp: &crate::server::Resp) -> Option<String> {
    resp.header("etag").map(|t| t.trim_matches('"').to_string())
}

#[test]
fn sixteen_clients_publish_import_and_gc_loops_lose_nothing() {
    let ops: usize = std::env::var("BLOCKSTORE_CAMPAIGN_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let server = Server::start(&[]);
    server
        .json("POST", &format!("{API}/collections"), json!({"slug": "c"}))
        .expect(201);
    let counts = Counts::default();
    let acked: Mutex<Vec<Acked>> = Mutex::default();
    let published: Mutex<Vec<i64>> = Mutex::default();
    let errors: Mutex<Vec<String>> = Mutex::default();
    let done = AtomicBool::new(false);
    let course = sample_course();

    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (server, counts, acked, errors) = (&server, &counts, &acked, &errors);
                scope.spawn(move || {
                    let mut rng = SplitMix64(0x5eed_0000 + client as u64);
                    // What this client's own last PUT answered, per path.
                    let mut own_tags: HashMap<String, String> = HashMap::new();
                    for op in 0..ops {
                        let path = if rng.below(2) == 0 {
                            format!("static/own-{client}.bin")
                        } else {
                            format!("static/shared-{}.bin", rng.index(SHARED_PATHS))
                        };
                        let url = format!("{API}/collections/c/raw/{path}");
                        let body = format!("client {client} op {op} {}", rng.next()).into_bytes();
                        let hash = hash_bytes(&body);
                        // Kind 0: plain; 1: GET then If-Match; 2: reuse own ETag.
                        let condition: Option<Option<String>> = match client % 3 {
                            0 => None,
                            1 => {
                                let read = server.get(&url);
                                match read.status {
                                    200 => Some(etag_of(&read)),
                                    404 => Some(None),
                                    s => {
                                        counts
                                            .server_errors
                                            .fetch_add((s >= 500) as u64, Ordering::Relaxed);
                                        errors.lock().unwrap().push(format!("GET {url}: {s}"));
                                        continue;
                                    }
                                }
                            }
                            _ => Some(own_tags.get(&path).cloned()),
                        };
                        let mut request = server.request("PUT", &url).body(&body);
                        match &condition {
                            Some(Some(tag)) => {
                                request = request.header("If-Match", &format!("\"{tag}\""))
                            }
                            Some(None) => request = request.header("If-None-Match", "*"),
                            None => {}
                        }
                        let resp = request.send();
                        match resp.status {
                            200 | 201 => {
                                counts.writes.fetch_add(1, Ordering::Relaxed);
                                if condition.is_some() {
                                    counts.conditional.fetch_add(1, Ordering::Relaxed);
                                }
                                let answered = etag_of(&resp).unwrap_or_default();
                                if answered != hash || resp.json()["file"]["hash"] != hash {
                                    counts.wrong_etags.fetch_add(1, Ordering::Relaxed);
                                    errors
                                        .lock()
                                        .unwrap()
                                        .push(format!("PUT {path}: ETag {answered}, own {hash}"));
                                }
                                own_tags.insert(path.clone(), answered);
                                acked.lock().unwrap().push(Acked {
                                    path,
                                    replaced: condition,
                                    hash,
                                });
                            }
                            412 => {
                                counts.precondition_failed.fetch_add(1, Ordering::Relaxed);
                                own_tags.remove(&path);
                            }
                            s => {
                                counts
                                    .server_errors
                                    .fetch_add((s >= 500) as u64, Ordering::Relaxed);
                                errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("PUT {path}: {s} {}", resp.text()));
                            }
                        }
                    }
                })
            })
            .collect();

        // The publish loop.
        let (server_ref, counts_ref, published_ref, errors_ref, done_ref) =
            (&server, &counts, &published, &errors, &done);
        scope.spawn(move || {
            while !done_ref.load(Ordering::Relaxed) {
                let resp =
                    server_ref.json("POST", &format!("{API}/collections/c/publish"), json!({}));
                match resp.status {
                    201 => {
                        counts_ref.publishes.fetch_add(1, Ordering::Relaxed);
                        published_ref
                            .lock()
                            .unwrap()
                            .push(resp.json()["number"].as_i64().unwrap());
                    }
                    409 => {}
                    s => {
                        counts_ref
                            .server_errors
                            .fetch_add((s >= 500) as u64, Ordering::Relaxed);
                        errors_ref
                            .lock()
                            .unwrap()
                            .push(format!("publish: {s} {}", resp.text()));
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        // The CLI import loop and the CLI gc loop, on the same data dir.
        let data = server.data.clone();
        let (counts_ref, errors_ref, done_ref, course) = (&counts, &errors, &done, &course);
        scope.spawn(move || {
            while !done_ref.load(Ordering::Relaxed) {
                let out = run_cli(
                    &data,
                    &["import", course.to_str().unwrap(), "-c", "imported"],
                );
                if out.status.success() {
                    counts_ref.imports.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors_ref
                        .lock()
                        .unwrap()
                        .push(format!("import: {}", stderr(&out)));
                }
            }
        });
        let data = server.data.clone();
        scope.spawn(move || {
            while !done_ref.load(Ordering::Relaxed) {
                let out = Command::new(env!("CARGO_BIN_EXE_blockstore"))
                    .arg("--data-dir")
                    .arg(&data)
                    .args(crate::garage::backend_args(&data))
                    .envs(crate::garage::env_if_started())
                    // The default cutoff keeps the draft histories the checks
                    // read; the blob sweep and its exclusive lock run each time.
                    .arg("gc")
                    .output()
                    .unwrap();
                match out.status.code() {
                    Some(0) => counts_ref.gcs.fetch_add(1, Ordering::Relaxed),
                    Some(75) => counts_ref.gc_gave_up.fetch_add(1, Ordering::Relaxed),
                    _ => {
                        errors_ref
                            .lock()
                            .unwrap()
                            .push(format!("gc: {}", stderr(&out)));
                        0
                    }
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        for client in clients {
            client.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });

    // What the store says happened.
    let store = open_existing(&server.data);
    let acked = acked.into_inner().unwrap();
    let mut by_path: BTreeMap<&str, Vec<&Acked>> = BTreeMap::new();
    for a in &acked {
        by_path.entry(&a.path).or_default().push(a);
    }
    let mut lost = Vec::new();
    let mut lost_updates = Vec::new();
    for (path, writes) in &by_path {
        // Commit order: revisions are listed newest first.
        let history = store.history("c", path).unwrap();
        let mut sequence: Vec<Option<String>> = history
            .revisions
            .iter()
            .rev()
            .map(|r| r.hash.clone())
            .collect();
        sequence.dedup();
        let position: HashMap<&str, usize> = sequence
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_deref().map(|h| (h, i)))
            .collect();
        for write in writes {
            let Some(&at) = position.get(write.hash.as_str()) else {
                lost.push(format!("{path}: {}", write.hash));
                continue;
            };
            if let Some(expected) = &write.replaced {
                let before = if at == 0 {
                    None
                } else {
                    sequence[at - 1].clone()
                };
                if before != *expected {
                    lost_updates.push(format!(
                        "{path}: {} replaced {before:?}, the client named {expected:?}",
                        write.hash
                    ));
                }
            }
        }
        if path.contains("/own-") {
            let last = writes.last().unwrap();
            let file = store.file("c", path, At::Draft).unwrap();
            assert_eq!(
                file.hash, last.hash,
                "{path}: the owner's last acknowledged write is the draft"
            );
        }
    }
    let versions: Vec<i64> = store
        .versions("c")
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    let published = published.into_inner().unwrap();
    let missing: Vec<&i64> = published.iter().filter(|n| !versions.contains(n)).collect();
    let fsck = store.fsck(&blockstore::store::NoProgress).unwrap();
    let errors = errors.into_inner().unwrap();
    let summary = format!(
        "campaign: {} acknowledged writes ({} conditional, {} refused 412), {} publishes, {} CLI imports, {} CLI gcs ({} gave up waiting); lost writes {}, lost updates {}, wrong ETags {}, 5xx {}, missing publishes {}, fsck clean {}",
        counts.writes.load(Ordering::Relaxed),
        counts.conditional.load(Ordering::Relaxed),
        counts.precondition_failed.load(Ordering::Relaxed),
        counts.publishes.load(Ordering::Relaxed),
        counts.imports.load(Ordering::Relaxed),
        counts.gcs.load(Ordering::Relaxed),
        counts.gc_gave_up.load(Ordering::Relaxed),
        lost.len(),
        lost_updates.len(),
        counts.wrong_etags.load(Ordering::Relaxed),
        counts.server_errors.load(Ordering::Relaxed),
        missing.len(),
        fsck.is_clean(),
    );
    eprintln!("{summary}");
    assert!(
        lost.is_empty(),
        "{summary}\nlost: {:?}",
        &lost[..lost.len().min(5)]
    );
    assert!(
        lost_updates.is_empty(),
        "{summary}\n{:?}",
        &lost_updates[..lost_updates.len().min(5)]
    );
    assert!(
        errors.is_empty(),
        "{summary}\n{:?}",
        &errors[..errors.len().min(5)]
    );
    assert_eq!(counts.wrong_etags.load(Ordering::Relaxed), 0, "{summary}");
    assert_eq!(counts.server_errors.load(Ordering::Relaxed), 0, "{summary}");
    assert!(missing.is_empty(), "{summary}: {missing:?}");
    assert!(fsck.is_clean(), "{summary}: {fsck:?}");
    assert!(
        counts.imports.load(Ordering::Relaxed) > 0 && counts.gcs.load(Ordering::Relaxed) > 0,
        "{summary}"
    );
}
