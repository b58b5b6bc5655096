//! The index on PostgreSQL, for a store shared by a team (issue 20): the
//! connection (where, who, and never a password on the command line) and
//! the schema's own numbered migrations, applied at open in one transaction
//! and recorded in `schema_version`; a schema newer than this binary knows is
//! refused, as SQLite's is.
//!
//! The model's queries run on it through `db::sql`, the one connection
//! type both engines implement. The
//! schema mirrors SQLite's types (BIGINT for INTEGER, BYTEA for BLOB, row ids
//! as identity columns) so the same values bind to both, and a test
//! (`postgres::the_index_schema_on_postgresql_matches_sqlites`) keeps the two
//! schemas equal: same tables, columns, keys and indexes.

use super::super::error::{Error, Result};
use postgres::config::Host;
use postgres::{Client, Config, NoTls};
use std::time::Duration;

/// The migrations, in order. The schema version is their count.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_schema", include_str!("sql/0001_schema.sql")),
    (
        "0002_bytewise_text",
        include_str!("sql/0002_bytewise_text.sql"),
    ),
    (
        "0003_store_contents",
        include_str!("sql/0003_store_contents.sql"),
    ),
];

/// The PostgreSQL schema version this binary writes.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serializes migrations between instances opening the same database.
const MIGRATION_LOCK: i64 = 0x626c_6f63_6b73_0001; // "blocks" + 1

/// A parsed `postgres://` (or `postgresql://`, or `key=value`) location.
#[derive(Debug, Clone)]
pub struct IndexUrl {
    /// As given (it carries no password).
    given: String,
    config: Config,
    /// Where, for messages: `host:port/db` (or the socket dir), as user.
    shown: String,
}

impl IndexUrl {
    /// Parses a connection string, refusing one that carries a password
    /// (it belongs in `PGPASSWORD` or `~/.pgpass`, which are read here) and
    /// TLS modes this build does not speak.
    pub fn parse(url: &str) -> Result<IndexUrl> {
        let mut config: Config = url.parse().map_err(|e| {
            Error::Invalid(format!(
                "--index: not a PostgreSQL connection string ({e}); expected \
                 postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        if config.get_password().is_some() {
            return Err(Error::Invalid(
                "--index: a password does not belong in the URL (ps and logs show it): \
                 set PGPASSWORD, or put it in ~/.pgpass"
                    .into(),
            ));
        }
        if matches!(config.get_ssl_mode(), postgres::config::SslMode::Require) {
            return Err(Error::Invalid(
                "--index: sslmode=require is not supported yet: this build connects \
                 without TLS (a Unix socket, loopback, or a private network)"
                    .into(),
            ));
        }
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("blockstore");
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            #[cfg(unix)]
            Some(Host::Unix(dir)) => dir.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().unwrap_or("").to_string();
        let user = config.get_user().unwrap_or("").to_string();
        if let Some(password) = password_for(&host, port, &db, &user) {
            config.password(password);
        }
        Ok(IndexUrl {
            given: url.to_string(),
            shown: format!("PostgreSQL at {host}:{port}/{db} as {user:?}"),
            config,
        })
    }

    /// The connection string as given (never with a password: that is refused).
    pub fn given(&self) -> &str {
        &self.given
    }

    /// Where the index is, for messages (never the password).
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The password for a connection: `PGPASSWORD`, else the first matching
/// line of `PGPASSFILE` or `~/.pgpass` (`host:port:database:user:password`,
/// `*` matching anything), as libpq reads them.
fn password_for(host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD") {
        return Some(password);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".pgpass")))?;
    pgpass_match(&std::fs::read_to_string(file).ok()?, host, port, db, user)
}

/// The password of the first line of a `.pgpass` text that matches.
fn pgpass_match(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields: Vec<&str> = line.splitn(5, ':').collect();
            let [h, p, d, u, password] = fields.as_slice() else {
                return None;
            };
            let hit = |field: &str, value: &str| field == "*" || field == value;
            (hit(h, host) && hit(p, &port) && hit(d, db) && hit(u, user))
                .then(|| password.to_string())
        })
}

/// Connects to the index, without touching its schema.
pub fn connect(url: &IndexUrl) -> Result<Client> {
    url.config.connect(NoTls).map_err(|e| pg_error(url, e))
}

/// Connects and brings the schema up to date: every migration the database
/// lacks, in one transaction, under an advisory lock so that instances
/// opening at once migrate once. Returns the schema version.
pub fn open(url: &IndexUrl) -> Result<Client> {
    let mut client = connect(url)?;
    migrate(url, &mut client)?;
    Ok(client)
}

fn migrate(url: &IndexUrl, client: &mut Client) -> Result<i64> {
    let mut tx = client.transaction().map_err(|e| pg_error(url, e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| pg_error(url, e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    BIGINT NOT NULL,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL
         )",
    )
    .map_err(|e| pg_error(url, e))?;
    let found: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .map_err(|e| pg_error(url, e))?
        .get(0);
    if found > PG_SCHEMA_VERSION {
        return Err(Error::IndexTooNew {
            index: url.shown.clone(),
            found,
            known: PG_SCHEMA_VERSION,
        });
    }
    for (n, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)
            .map_err(|e| Error::Invalid(format!("{}: migration {name} failed: {e}", url.shown)))?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&(n as i64 + 1), name, &super::super::now()],
        )
        .map_err(|e| pg_error(url, e))?;
    }
    tx.commit().map_err(|e| pg_error(url, e))?;
    Ok(PG_SCHEMA_VERSION.max(found))
}

/// The sweep lock, across every instance of a shared store: the data dir's
/// writers' lock (`store::lock`) made to reach the other instances. An
/// instance's writers hold it shared from their first upload to the moment
/// the instance has no writer left, and gc holds it exclusively while it
/// sweeps, so a sweep never removes an object another instance uploaded and
/// is about to reference, however long that upload took (the grace period
/// alone only covers uploads shorter than it). Writes that upload nothing
/// (small contents live in the index) never touch it.
///
/// It is a session-level advisory lock, on a connection of its own: it
/// spans the writer's transactions, and an instance that dies releases it
/// with its connection. A sweep waits in PostgreSQL's queue, so instances
/// that do not hold it yet wait behind it; an instance that holds it keeps
/// it while its writes overlap without a pause, and a sweep elsewhere then
/// gives up at its lock timeout (`busy`, try again), never removing what
/// those writes uploaded.
pub struct SweepLock {
    url: IndexUrl,
    client: std::sync::Mutex<Option<Client>>,
    /// Whether this instance's writers hold it (shared).
    held: std::sync::Mutex<bool>,
    /// How long a writer waits for it behind a sweep.
    timeout_ms: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for SweepLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SweepLock").field(&self.url.shown).finish()
    }
}

const SWEEP_LOCK: i64 = 0x626c_6f63_6b73_0003; // "blocks" + 3

impl Drop for SweepLock {
    /// Closing says goodbye to the server, which blocks (and a client
    /// dropped on a server's worker thread would panic).
    fn drop(&mut self) {
        let client = self.client.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = client.take() {
            super::sql::blocking(move || drop(client));
        }
    }
}

impl SweepLock {
    pub fn new(url: &IndexUrl, timeout: Duration) -> SweepLock {
        SweepLock {
            url: url.clone(),
            client: std::sync::Mutex::new(None),
            held: std::sync::Mutex::new(false),
            timeout_ms: std::sync::atomic::AtomicU64::new(timeout.as_millis() as u64),
        }
    }

    /// How long a writer waits for it behind a sweep (the store's lock
    /// timeout).
    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms.store(
            timeout.as_millis().max(1) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// For a writer about to upload: takes it shared unless this instance's
    /// writers hold it already; waits behind a sweep up to the timeout, then
    /// gives up with `busy`.
    pub fn hold_shared(&self) -> Result<()> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if *held {
            return Ok(());
        }
        let timeout =
            Duration::from_millis(self.timeout_ms.load(std::sync::atomic::Ordering::Relaxed));
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        while !self.try_shared()? {
            if started.elapsed() >= timeout {
                return Err(Error::Busy(format!(
                    "gave up after {} s waiting for the store's write lock: a gc on another \
                     instance of the shared store is waiting for it or sweeping; try again later",
                    started.elapsed().as_secs()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        *held = true;
        Ok(())
    }

    /// When this instance's last writer is done: lets a shared hold go.
    pub fn release_shared(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if !*held {
            return;
        }
        *held = false;
        // Never connects: a closed connection took the lock with it.
        super::sql::blocking(|| {
            let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
            let Some(c) = client.as_mut().filter(|c| !c.is_closed()) else {
                return;
            };
            if c.execute("SELECT pg_advisory_unlock_shared($1)", &[&SWEEP_LOCK])
                .is_err()
            {
                // Dropping the connection ends the session, and the lock.
                *client = None;
            }
        });
    }

    /// Runs `f` on the lock's connection (opened on first use; dropped when
    /// it fails, so the next call connects anew).
    fn with<T: Send>(&self, f: impl FnOnce(&mut Client) -> Result<T> + Send) -> Result<T> {
        super::sql::blocking(|| {
            let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
            if client.as_ref().is_none_or(Client::is_closed) {
                *client = Some(connect(&self.url)?);
            }
            let result = f(client.as_mut().expect("connected"));
            if result.is_err() {
                *client = None;
            }
            result
        })
    }

    /// Takes it shared, as a writer, if no sweep holds it or waits for it.
    fn try_shared(&self) -> Result<bool> {
        let url = &self.url;
        self.with(|c| {
            Ok(
                c.query_one("SELECT pg_try_advisory_lock_shared($1)", &[&SWEEP_LOCK])
                    .map_err(|e| pg_error(url, e))?
                    .get(0),
            )
        })
    }

    /// Takes it exclusively, as a sweep, waiting at most `timeout` for the
    /// writers of other instances; `false` when they did not finish by then.
    pub fn exclusive(&self, timeout: Duration) -> Result<bool> {
        let url = &self.url;
        self.with(|c| {
            let mut tx = c.transaction().map_err(|e| pg_error(url, e))?;
            tx.batch_execute(&format!(
                "SET LOCAL lock_timeout = {}",
                timeout.as_millis().max(1)
            ))
            .map_err(|e| pg_error(url, e))?;
            match tx.execute("SELECT pg_advisory_lock($1)", &[&SWEEP_LOCK]) {
                Ok(_) => {
                    // The session lock outlives the transaction.
                    tx.commit().map_err(|e| pg_error(url, e))?;
                    Ok(true)
                }
                Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                    Ok(false)
                }
                Err(e) => Err(pg_error(url, e)),
            }
        })
    }

    /// Lets it go (a writer's shared hold, or a sweep's).
    pub fn unlock(&self, shared: bool) -> Result<()> {
        let url = &self.url;
        let sql = if shared {
            "SELECT pg_advisory_unlock_shared($1)"
        } else {
            "SELECT pg_advisory_unlock($1)"
        };
        self.with(|c| {
            c.execute(sql, &[&SWEEP_LOCK])
                .map(|_| ())
                .map_err(|e| pg_error(url, e))
        })
    }
}

/// A driver error as the store's: the server unreachable or gone is
/// [`Error::Unavailable`], naming where it was looked for; anything else is
/// the database's answer.
pub(crate) fn error(url: &IndexUrl, e: postgres::Error) -> Error {
    pg_error(url, e)
}

/// Whether an error says the server is not there (any more): no answer,
/// the connection closed, or the server ending the session (shutting down,
/// restarting, an administrator's `pg_terminate_backend`: SQLSTATE class
/// 57P). The next statement on the connection reconnects.
pub(crate) fn is_gone(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        return db.code().code().starts_with("57P");
    }
    // Not the server's answer: the network's (I/O, refused, timed out) and a
    // refused login are the server not being there for us; a value that
    // does not convert is ours.
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let text = e.to_string();
    io || [
        "error connecting to server",
        "timeout waiting for server",
        "error communicating with the server",
        "connection closed",
        "authentication error",
        "error performing TLS handshake",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

fn pg_error(url: &IndexUrl, e: postgres::Error) -> Error {
    if is_gone(&e) {
        // No answer from a server: refused, timed out, or closed.
        let detail = std::error::Error::source(&e)
            .map_or_else(|| e.to_string(), |cause| format!("{e}: {cause}"));
        return Error::Unavailable {
            what: url.shown.clone(),
            detail,
        };
    }
    Error::Index(format!("{}: {e}", url.shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused_and_never_echoed() {
        for url in [
            "postgres://team:s3cr3t@db.example:5432/blockstore",
            "host=db.example user=team password=s3cr3t dbname=blockstore",
        ] {
            let e = IndexUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains("PGPASSWORD"), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        let url = IndexUrl::parse("postgres://team@db.example:6543/blockstore").unwrap();
        assert_eq!(
            url.shown(),
            "PostgreSQL at db.example:6543/blockstore as \"team\""
        );
        assert!(IndexUrl::parse("postgres://db.example/x?sslmode=require").is_err());
        assert!(IndexUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn pgpass_lines_match_as_libpq_reads_them() {
        let text =
            "# comment\nother:5432:*:team:wrong\ndb.example:*:blockstore:team:right:with:colons\n";
        assert_eq!(
            pgpass_match(text, "db.example", 6543, "blockstore", "team").as_deref(),
            Some("right:with:colons")
        );
        assert_eq!(
            pgpass_match(text, "other", 5432, "x", "team").as_deref(),
            Some("wrong")
        );
        assert_eq!(pgpass_match(text, "db.example", 5432, "x", "team"), None);
    }
}
