//! A real S3-compatible object store for the tests: Garage (the `garage`
//! crate's binary; `.ci/run` installs it), started once per test process as
//! a single-node cluster on loopback, with a layout, a bucket and a key.
//! Each test takes a prefix of its own in the one bucket.
//!
//! The benches use it too (`benches/server.rs --objects`, through `#[path]`).
//!
//! Tests that need it are `#[ignore = "needs garage"]` and call [`garage`],
//! which panics, naming what is missing, when the binary is not found
//! (`$BLOCKSTORE_GARAGE`, else `garage` on the PATH).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BUCKET: &str = "blockstore-tests";
pub const REGION: &str = "garage";
/// The test key: Garage imports it as given, so the tests know it up front.
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// One running Garage.
pub struct Garage {
    pub endpoint: String,
    pub config: PathBuf,
    binary: PathBuf,
}

impl Garage {
    /// A `--contents` URL for a new prefix of the test bucket.
    pub fn contents_url(&self, name: &str) -> String {
        format!(
            "s3://{BUCKET}/{name}-{}?endpoint={}&region={REGION}",
            uuid::Uuid::new_v4().simple(),
            self.endpoint
        )
    }

    /// The environment a process needs to reach the bucket.
    pub fn env(&self) -> [(&'static str, &'static str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ]
    }

    /// The credentials, for stores opened in-process.
    pub fn credentials(&self) -> blockstore::store::ObjectCredentials {
        blockstore::store::ObjectCredentials {
            key_id: KEY_ID.into(),
            secret: SECRET.into(),
        }
    }

    /// Runs `garage -c CONFIG ARGS…`, returning its stdout; panics on failure.
    pub fn admin(&self, args: &[&str]) -> String {
        admin(&self.binary, &self.config, args).unwrap_or_else(|e| panic!("garage {args:?}: {e}"))
    }
}

static GARAGE: OnceLock<Garage> = OnceLock::new();

/// The test key once a test has started Garage.
pub fn credentials_if_started() -> Option<blockstore::store::ObjectCredentials> {
    GARAGE.get().map(Garage::credentials)
}

/// Set to `garage` to run the suites that use [`backend_args`] (the REST
/// suite, the CLI's) with every new store's contents in Garage.
pub const CONTENTS_ENV: &str = "BLOCKSTORE_TEST_CONTENTS";

/// The options a command about to create the store in `data` gives for
/// where it keeps things: `--contents URL` when [`CONTENTS_ENV`] asks for
/// Garage, `--index URL` when [`crate::postgres::INDEX_ENV`] asks for
/// PostgreSQL; nothing otherwise, or for an existing store (it reads its
/// own records).
pub fn backend_args(data: &Path) -> Vec<String> {
    if data.join("store.db").exists() || data.join("index").exists() {
        return Vec::new();
    }
    let mut args = match std::env::var(CONTENTS_ENV).as_deref() {
        Ok("garage") => vec!["--contents".into(), garage().contents_url("suite")],
        Ok("") | Err(_) => Vec::new(),
        Ok(other) => panic!("{CONTENTS_ENV}={other:?}: the only backend is \"garage\""),
    };
    args.extend(crate::postgres::index_args());
    args
}

/// The one Garage of this test process, started on first use.
pub fn garage() -> &'static Garage {
    GARAGE.get_or_init(start)
}

/// The credentials' environment once a test has started Garage: the
/// helpers that run the binary pass it on (none before, so no other test's
/// process sees AWS variables).
pub fn env_if_started() -> Vec<(&'static str, &'static str)> {
    GARAGE.get().map(|g| g.env().to_vec()).unwrap_or_default()
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("BLOCKSTORE_GARAGE") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("garage"))
            .find(|p| p.is_file())
    });
    // As `common::require_machine` says it (this file is also the
    // benches' Garage, which have no `common`).
    assert!(
        found.is_some(),
        "this machine cannot run Garage (install it with `cargo install garage --locked`, \
         or set BLOCKSTORE_GARAGE to its binary; .ci/run does); without it, run \
         `cargo test` without --include-ignored"
    );
    found.unwrap()
}

/// A folder for a service this test process runs (`kind`: garage,
/// postgres), under one parent in the temp dir; the folders of test
/// processes that are gone (killed with theirs, or exited: a static is never
/// dropped) are removed first, so runs do not pile up their data.
pub fn service_dir(kind: &str) -> PathBuf {
    let parent = std::env::temp_dir().join("blockstore-test-services");
    std::fs::create_dir_all(&parent).expect("the services' temp dir");
    for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = parent.join(format!("{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a service dir");
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn admin(binary: &Path, config: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("-c")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn start() -> Garage {
    let binary = binary();
    // Kept for the whole test process (the cluster lives in it).
    let dir = service_dir("garage");
    let (rpc, s3_port, admin_port) = (free_port(), free_port(), free_port());
    let secret: String = (0..64)
        .map(|i| {
            b"0123456789abcdef"[(uuid::Uuid::new_v4().as_bytes()[i % 16] % 16) as usize] as char
        })
        .collect();
    let config = dir.join("garage.toml");
    std::fs::write(
        &config,
        format!(
            r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
            dir = dir.display()
        ),
    )
    .expect("write garage.toml");
    let log = std::fs::File::create(dir.join("garage.log")).expect("garage.log");
    // Started from a thread that lives as long as the process, so the
    // parent-death signal (sent when the spawning *thread* ends) stops
    // Garage exactly when the test process ends.
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (binary, config) = (binary.clone(), config.clone());
        std::thread::spawn(move || {
            // `setpriv --pdeathsig` (util-linux) asks the kernel to kill
            // Garage when this thread, its parent, ends.
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--"])
                .arg(&binary)
                .arg("-c")
                .arg(&config)
                .arg("server")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("garage starts (through setpriv, from util-linux)");
            tx.send(child.id()).expect("the starter waits");
            let _keep = child;
            loop {
                std::thread::park();
            }
        });
    }
    rx.recv().expect("garage started");
    // The node answers once it is up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let node = loop {
        match admin(&binary, &config, &["node", "id", "-q"]) {
            Ok(id) => break id.trim().split('@').next().unwrap_or_default().to_string(),
            Err(e) if Instant::now() > deadline => panic!(
                "garage did not start: {e}\n{}",
                std::fs::read_to_string(dir.join("garage.log")).unwrap_or_default()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let garage = Garage {
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        config,
        binary,
    };
    // `node id` can answer from the node's key file before the server
    // listens for RPC: the first command that needs the server waits too.
    let assign = ["layout", "assign", "-z", "dc1", "-c", "1GB", &node];
    while let Err(e) = admin(&garage.binary, &garage.config, &assign) {
        if Instant::now() > deadline {
            panic!(
                "garage did not take its layout: {e}\n{}",
                std::fs::read_to_string(dir.join("garage.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    garage.admin(&["layout", "apply", "--version", "1"]);
    garage.admin(&["bucket", "create", BUCKET]);
    garage.admin(&[
        "key",
        "import",
        "--yes",
        "-n",
        "blockstore-tests",
        KEY_ID,
        SECRET,
    ]);
    garage.admin(&[
        "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", KEY_ID,
    ]);
    garage
}
