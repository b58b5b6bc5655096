//! The index on a real PostgreSQL (Debian's `postgresql` package; `.ci/run`
//! installs it): a throwaway cluster started once per test process
//! (`initdb` + `postgres` on a temp dir, a Unix socket only, trust
//! authentication for the one user), as the `postgres` user when the tests
//! run as root (initdb refuses root), killed with the test process
//! (`setpriv --pdeathsig`). Each test takes a database of its own.
//!
//! Tests that need it are `#[ignore = "needs postgresql"]` and fail naming
//! what is missing when the server binaries are not found
//! (`$BLOCKSTORE_PG_BIN`, else `pg_config --bindir`, else
//! `/usr/lib/postgresql/*/bin`).

use blockstore::store::postgres::{self as pg, IndexUrl, PG_SCHEMA_VERSION};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Postgres {
    socket_dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// A connection string for database `db` of the test cluster.
    pub fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=blockstore dbname={db}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// A new, empty database; its connection string.
    pub fn new_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("the test cluster answers");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a database");
        self.url(&name)
    }
}

/// Set to `postgres` to run the suites that use
/// [`crate::garage::backend_args`] (the REST suite, the CLI's) with every
/// new store's index in a database of its own on the test cluster.
pub const INDEX_ENV: &str = "BLOCKSTORE_TEST_INDEX";

/// `--index URL` (a new database) when [`INDEX_ENV`] asks for PostgreSQL.
pub fn index_args() -> Vec<String> {
    match std::env::var(INDEX_ENV).as_deref() {
        Ok("postgres") => vec!["--index".into(), postgres().new_database()],
        Ok("") | Err(_) => Vec::new(),
        Ok(other) => panic!("{INDEX_ENV}={other:?}: the only backend is \"postgres\""),
    }
}

/// A connection to the PostgreSQL index of the store in `data`, when it
/// has one (its data dir records it): how a test reaches past the store.
pub fn index_of(data: &Path) -> Option<postgres::Client> {
    let url = std::fs::read_to_string(data.join("index")).ok()?;
    Some(postgres::Client::connect(url.trim(), postgres::NoTls).expect("the test cluster answers"))
}

static POSTGRES: OnceLock<Postgres> = OnceLock::new();

/// The test process's PostgreSQL, started on first use.
pub fn postgres() -> &'static Postgres {
    POSTGRES.get_or_init(start)
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BLOCKSTORE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let found = from_pg_config
        .filter(|d| d.join("initdb").is_file())
        .or_else(|| {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join("bin"))
                .filter(|d| d.join("initdb").is_file())
                .collect();
            dirs.sort();
            dirs.pop()
        });
    assert!(
        found.is_some(),
        "this machine cannot run PostgreSQL (install Debian's postgresql package, or set \
         BLOCKSTORE_PG_BIN to its bin dir; .ci/run does); without it, run `cargo test` \
         without --include-ignored"
    );
    found.unwrap()
}

/// `setpriv` arguments that run a command as the `postgres` user when we
/// are root (initdb and postgres refuse root), with a parent-death signal.
fn as_server_user(command: &mut Command, root: bool) {
    command.args(["--pdeathsig", "KILL"]);
    if root {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    command.arg("--");
}

fn start() -> Postgres {
    let bin = bin_dir();
    let root = rustix::process::geteuid().is_root();
    let dir = crate::garage::service_dir("postgres");
    let (data, socket_dir) = (dir.join("data"), dir.join("sock"));
    std::fs::create_dir_all(&socket_dir).unwrap();
    if root {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown runs");
        assert!(status.success(), "chown the cluster's dir to postgres");
    }
    let mut initdb = Command::new("setpriv");
    as_server_user(&mut initdb, root);
    let out = initdb
        .arg(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "blockstore",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .output()
        .expect("initdb runs (through setpriv, from util-linux)");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let log = std::fs::File::create(dir.join("postgres.log")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (bin, data, socket_dir) = (bin.clone(), data.clone(), socket_dir.clone());
        // A thread that lives as long as the process: the parent-death
        // signal follows the spawning thread (see garage.rs).
        std::thread::spawn(move || {
            let mut command = Command::new("setpriv");
            as_server_user(&mut command, root);
            let child = command
                .arg(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(&socket_dir)
                .args(["-c", "listen_addresses=", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("postgres starts");
            tx.send(()).unwrap();
            let _keep = child;
            loop {
                std::thread::park();
            }
        });
    }
    rx.recv().unwrap();
    let pg = Postgres { socket_dir, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match postgres::Client::connect(&pg.url("postgres"), postgres::NoTls) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!(
                "postgres did not start: {e}\n{}",
                std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    pg
}

/// What both engines must agree on: columns (with their type class and
/// whether they may be null), the column sets that are unique, the named
/// indexes, and the foreign keys.
#[derive(Debug, Default, PartialEq)]
struct Shape {
    columns: BTreeSet<String>,
    unique: BTreeSet<String>,
    indexes: BTreeSet<String>,
    foreign: BTreeSet<String>,
}

fn class(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        _ => "other",
    }
}

fn sqlite_shape(db: &Path) -> Shape {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut shape = Shape::default();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for table in &tables {
        let mut pk = Vec::new();
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .unwrap();
        let cols: Vec<(String, String, bool, i64)> = stmt
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(5)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (name, declared, notnull, pk_order) in cols {
            if pk_order > 0 {
                pk.push((pk_order, name.clone()));
            }
            let notnull = notnull || pk_order > 0;
            shape.columns.insert(format!(
                "{table}.{name} {} {}",
                class(&declared),
                if notnull { "not null" } else { "null" }
            ));
        }
        pk.sort();
        let pk: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        if !pk.is_empty() {
            shape.unique.insert(format!("{table} ({})", pk.join(", ")));
        }
        let indexes: Vec<(String, bool, String, bool)> = conn
            .prepare(&format!("PRAGMA index_list({table})"))
            .unwrap()
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (name, unique, origin, partial) in indexes {
            let cols: Vec<String> = conn
                .prepare(&format!("PRAGMA index_info({name})"))
                .unwrap()
                .query_map([], |r| r.get(2))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            if unique && !partial {
                shape
                    .unique
                    .insert(format!("{table} ({})", cols.join(", ")));
            }
            if origin == "c" {
                shape.indexes.insert(format!(
                    "{name} on {table} ({}){}",
                    cols.join(", "),
                    if partial { " partial" } else { "" }
                ));
            }
        }
        let fks: Vec<(i64, String, String, String, String)> = conn
            .prepare(&format!("PRAGMA foreign_key_list({table})"))
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(6)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut by_id: std::collections::BTreeMap<i64, (String, Vec<String>, Vec<String>, String)> =
            Default::default();
        for (id, to_table, from, to, on_delete) in fks {
            let e = by_id
                .entry(id)
                .or_insert_with(|| (to_table, Vec::new(), Vec::new(), on_delete));
            e.1.push(from);
            e.2.push(to);
        }
        for (to_table, from, to, on_delete) in by_id.into_values() {
            shape.foreign.insert(format!(
                "{table} ({}) -> {to_table} ({}) on delete {}",
                from.join(", "),
                to.join(", "),
                on_delete.to_ascii_lowercase()
            ));
        }
    }
    shape
}

fn postgres_shape(url: &str) -> Shape {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let mut shape = Shape::default();
    // PostgreSQL's own: its migrations, and the shared contents record
    // (an embedded store keeps that in its data dir).
    let skip = ["schema_version", "store_contents"];
    for row in client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
             FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
    {
        let (table, column, ty, nullable): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if skip.contains(&table.as_str()) {
            continue;
        }
        shape.columns.insert(format!(
            "{table}.{column} {} {}",
            class(&ty),
            if nullable == "NO" { "not null" } else { "null" }
        ));
    }
    // Every index with its columns in order, unique or not, partial or not.
    for row in client
        .query(
            "SELECT t.relname::text, i.relname::text, ix.indisunique, ix.indisprimary,
                    ix.indpred IS NOT NULL,
                    array(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n
                          ORDER BY k.o)
             FROM pg_index ix
             JOIN pg_class t ON t.oid = ix.indrelid
             JOIN pg_class i ON i.oid = ix.indexrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = 'public'",
            &[],
        )
        .unwrap()
    {
        let (table, name, unique, primary, partial, cols): (
            String,
            String,
            bool,
            bool,
            bool,
            Vec<String>,
        ) = (
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
            row.get(5),
        );
        if skip.contains(&table.as_str()) {
            continue;
        }
        if unique && !partial {
            shape
                .unique
                .insert(format!("{table} ({})", cols.join(", ")));
        }
        // Named indexes are the ones the schema creates; constraint-made
        // ones are named `<table>_…_key` / `_pkey` by PostgreSQL.
        let made_by_constraint =
            primary || (unique && (name.ends_with("_key") || name.ends_with("_pkey")));
        if !made_by_constraint {
            shape.indexes.insert(format!(
                "{name} on {table} ({}){}",
                cols.join(", "),
                if partial { " partial" } else { "" }
            ));
        }
    }
    for row in client
        .query(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.confdeltype::text,
                    array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
                    array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
             FROM pg_constraint c WHERE c.contype = 'f'",
            &[],
        )
        .unwrap()
    {
        let (table, to_table, on_delete, from, to): (String, String, String, Vec<String>, Vec<String>) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let on_delete = match on_delete.as_str() {
            "c" => "cascade",
            "a" => "no action",
            "r" => "restrict",
            "n" => "set null",
            "d" => "set default",
            other => panic!("confdeltype {other}"),
        };
        shape.foreign.insert(format!(
            "{table} ({}) -> {to_table} ({}) on delete {on_delete}",
            from.join(", "),
            to.join(", ")
        ));
    }
    shape
}

#[test]
#[ignore = "needs postgresql"]
fn the_index_schema_on_postgresql_matches_sqlites() {
    let pg = postgres();
    let url = pg.new_database();
    pg::open(&IndexUrl::parse(&url).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    drop(blockstore::Store::open(dir.path()).unwrap());
    let (lite, post) = (
        sqlite_shape(&dir.path().join("store.db")),
        postgres_shape(&url),
    );
    let diff = |what: &str, a: &BTreeSet<String>, b: &BTreeSet<String>| {
        let only_lite: Vec<_> = a.difference(b).collect();
        let only_pg: Vec<_> = b.difference(a).collect();
        assert!(
            only_lite.is_empty() && only_pg.is_empty(),
            "{what} differ:\n  only in SQLite: {only_lite:#?}\n  only in PostgreSQL: {only_pg:#?}"
        );
    };
    diff("columns", &lite.columns, &post.columns);
    diff("unique keys", &lite.unique, &post.unique);
    diff("indexes", &lite.indexes, &post.indexes);
    diff("foreign keys", &lite.foreign, &post.foreign);
    assert!(lite.columns.len() >= 90, "{} columns", lite.columns.len());
}

#[test]
#[ignore = "needs postgresql"]
fn opening_migrates_once_and_refuses_a_newer_schema() {
    let pg = postgres();
    let url = IndexUrl::parse(&pg.new_database()).unwrap();
    // Two instances opening at once migrate once.
    let opened: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || pg::open(&url).map(|_| ()))
        })
        .collect();
    for handle in opened {
        handle.join().unwrap().unwrap();
    }
    let mut client = pg::open(&url).unwrap();
    let rows: Vec<(i64, String)> = client
        .query(
            "SELECT version, name FROM schema_version ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows.len() as i64,
        PG_SCHEMA_VERSION,
        "each migration once: {rows:?}"
    );
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=PG_SCHEMA_VERSION).collect::<Vec<_>>()
    );
    let seeded: i64 = client
        .query_one("SELECT count(*) FROM link_rules", &[])
        .unwrap()
        .get(0);
    assert_eq!(seeded, 1);
    // A newer binary's index is refused, and nothing is changed.
    client
        .execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 'x')",
            &[],
        )
        .unwrap();
    let e = match pg::open(&url) {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), blockstore::store::ErrorKind::Incompatible);
    assert!(e.to_string().contains("schema version 99"), "{e}");
    assert!(
        e.to_string().contains(&pg.socket_dir.display().to_string()),
        "{e}"
    );
}

#[test]
#[ignore = "needs postgresql"]
fn an_index_nobody_answers_for_is_unavailable_naming_where_it_was_looked_for() {
    // The cluster's binaries must be there, as for the other tests.
    postgres();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = IndexUrl::parse(&format!("postgres://team@127.0.0.1:{port}/blockstore")).unwrap();
    let e = match pg::open(&url) {
        Ok(_) => panic!("nothing listens there"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), blockstore::store::ErrorKind::Unavailable, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("PostgreSQL at 127.0.0.1:{port}/blockstore")),
        "{e}"
    );
}
