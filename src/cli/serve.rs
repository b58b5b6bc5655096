//! `blockstore serve` (also `blockstore` with no command) and `blockstore logs`.
//!
//! Serving sets up logging (human or JSON lines on stderr, filtered by
//! `RUST_LOG`, and JSON lines at `info` appended to
//! `DATA_DIR/logs/blockstore.log` whatever `RUST_LOG` says, which
//! `blockstore logs [-f]` prints and follows), starts a tokio runtime,
//! binds, prints the URL, and runs until Ctrl-C or SIGTERM.

use super::output::Output;
use crate::server::{ServeOptions, Server};
use crate::store::{Error, Store};
use clap::{Args, ValueEnum};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, env = "BLOCKSTORE_ADDR", default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    /// Open the browser at the server's page once it listens.
    #[arg(long)]
    open: bool,
    /// Require `Authorization: Bearer TOKEN` on every API call.
    #[arg(long, env = "BLOCKSTORE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve the Blockstore v1 REST API under /blockstore/api/v1/ to clients
    /// sending `Authorization: Token KEY` (edx-platform's
    /// BLOCKSTORE_API_AUTH_TOKEN); repeatable. Off without a key.
    #[arg(
        long = "v1-token",
        value_name = "KEY",
        env = "BLOCKSTORE_V1_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    v1_tokens: Vec<String>,
    /// Another name the Host header may carry (besides localhost and the
    /// bound address); repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// An origin allowed to call the API from a browser (CORS); repeatable.
    /// None by default: the UI is served from the same origin.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Largest JSON request body, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    json_limit: u64,
    /// Largest file a PUT may upload, in bytes.
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    upload_limit: u64,
    /// Refuse an imported archive that expands to more bytes than this.
    #[arg(long, value_name = "BYTES", default_value_t = crate::olx::archive::DEFAULT_MAX_BYTES)]
    archive_max_bytes: u64,
    /// Refuse an imported archive with more entries than this.
    #[arg(long, value_name = "N", default_value_t = crate::olx::archive::DEFAULT_MAX_ENTRIES)]
    archive_max_entries: u64,
    /// Refuse an imported .tar.gz that expands more than this many times its
    /// compressed size once past its first 64 MiB (a compression bomb); 0: no check.
    #[arg(long, value_name = "N", default_value_t = crate::olx::archive::DEFAULT_MAX_RATIO)]
    archive_max_ratio: u64,
    /// Seconds a request may take to produce its response (408 after it; the
    /// request's work is then withdrawn, never applied later).
    #[arg(long, default_value_t = 300)]
    request_timeout: u64,
    /// Seconds a request's head may take to arrive, from its first byte
    /// (slow clients are disconnected).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Most connections open at once; at the limit the oldest unused one is
    /// closed, and when all are serving requests new ones get 503.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Seconds a stop (Ctrl-C, SIGTERM) waits for requests in flight before
    /// closing what is left.
    #[arg(long, default_value_t = 10)]
    shutdown_timeout: u64,
    /// Seconds a write waits behind a running gc before it is answered 503
    /// with Retry-After.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    lock_timeout: u64,
    /// Keep collection SLUG's draft synced with folder DIR while serving
    /// (like `blockstore sync`); repeatable.
    #[arg(long = "sync", value_name = "SLUG=DIR", value_parser = parse_sync_pair)]
    sync: Vec<(String, PathBuf)>,
    /// How the log lines on stderr look (the log file is always JSON).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

impl ServeArgs {
    /// What `blockstore` with no command serves with.
    pub(crate) fn defaults() -> ServeArgs {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        <Wrapper as clap::Parser>::parse_from(["serve"]).args
    }
}

fn parse_sync_pair(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((slug, dir)) if !slug.is_empty() && !dir.is_empty() => {
            Ok((slug.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!(
            "{text:?} is not SLUG=DIR (for example --sync demo=./demo-course)"
        )),
    }
}

/// The log file of a data dir.
pub(crate) fn log_file(data_dir: &Path) -> PathBuf {
    data_dir.join("logs").join("blockstore.log")
}

fn init_logging(data_dir: &Path, format: LogFormat) -> crate::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let path = log_file(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening the log file {}", path.display()), e))?;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .compact()
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter())
            .boxed(),
    };
    // The file keeps every request whatever RUST_LOG says of the terminal, so
    // `blockstore logs` always has the story.
    let to_file = tracing_subscriber::fmt::layer()
        .json()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .with_filter(EnvFilter::new("info"));
    // A second init (tests running `run` twice in one process) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(to_file)
        .try_init();
    Ok(())
}

pub(crate) fn serve(
    data_dir: PathBuf,
    open_options: &crate::store::OpenOptions,
    out: &Output,
    args: ServeArgs,
) -> crate::Result<ExitCode> {
    init_logging(&data_dir, args.log_format)?;
    let store = Arc::new(Store::open_with(&data_dir, open_options)?);
    store.set_lock_notice(Some(Arc::new(|notice: &str| tracing::info!("{notice}"))));
    let options = ServeOptions {
        addr: args.addr,
        token: args.token,
        allow_hosts: args.allow_hosts,
        cors_origins: args.cors_origins,
        json_limit: args.json_limit,
        upload_limit: args.upload_limit,
        archive_limits: crate::olx::ArchiveLimits {
            max_bytes: args.archive_max_bytes,
            max_entries: args.archive_max_entries,
            max_ratio: args.archive_max_ratio,
            options: crate::olx::LimitOptions::Serve,
        },
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: args.max_connections as usize,
        shutdown_grace: Duration::from_secs(args.shutdown_timeout),
        lock_timeout: Duration::from_secs(args.lock_timeout),
        v1_tokens: args.v1_tokens,
    };
    // The folders are brought level before the first request is served, and
    // followed from then on.
    let mut synced: Vec<(String, PathBuf, crate::sync::ReconcileReport)> = Vec::new();
    let mut syncs = Vec::new();
    for (slug, dir) in &args.sync {
        if let Some(other) = synced.iter().find(|(s, d, _)| s == slug || d == dir) {
            return Err(Error::Invalid(format!(
                "--sync {slug}={}: {} is already synced with {}",
                dir.display(),
                other.0,
                other.1.display()
            )));
        }
        let (handle, report) = crate::sync::spawn(
            store.clone(),
            slug,
            dir,
            crate::sync::WatchOptions::default(),
            log_notice,
        )?;
        syncs.push(handle);
        synced.push((slug.clone(), dir.clone(), report));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the server's runtime", e))?;
    runtime.block_on(async move {
        // A server outlives whoever started it: if its stdout or stderr goes
        // away, writes fail with EPIPE instead of SIGPIPE killing the process
        // (the CLI restores SIGPIPE's default for `blockstore files | head`).
        #[cfg(unix)]
        let _sigpipe = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::pipe()).ok();
        let server = match Server::bind(store.clone(), &options).await {
            Ok(server) => server,
            Err(e) => return Err(Error::Invalid(e.to_string())),
        };
        // Before the URL is announced: a SIGTERM right after it stops the
        // server cleanly.
        let stop = crate::server::shutdown_signal();
        let addr = server.addr();
        let url = format!("http://{addr}/");
        if out.json {
            // One line, so a supervising program can read the URL with one read.
            let info = serde_json::json!({
                "url": url,
                "api": format!("{url}api/v1"),
                "data_dir": data_dir,
                "contents": store.blobs().contents().describe(),
                "log_file": log_file(&data_dir),
                "sync": synced.iter().map(|(_, _, report)| report).collect::<Vec<_>>(),
            });
            let _ = writeln!(std::io::stdout(), "{info}");
        } else {
            let contents = match store.blobs().contents().objects() {
                Some(objects) => format!(", contents in {}", objects.url()),
                None => String::new(),
            };
            let _ = writeln!(
                std::io::stdout(),
                "Blockstore serving {url} (API {url}api/v1, data dir {}{contents})\n\
                 Press Ctrl-C to stop. Logs: blockstore logs -f",
                data_dir.display()
            );
        }
        if !out.json {
            for (slug, dir, _) in &synced {
                let _ = writeln!(
                    std::io::stdout(),
                    "Syncing {slug} <-> {} (changes are logged)",
                    dir.display()
                );
            }
        }
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, data_dir = %data_dir.display(), "listening");

        if args.open {
            open_browser(&url);
        }
        server
            .run(stop)
            .await
            .map_err(|e| Error::io("serving", e))?;
        for handle in syncs {
            if let Err(e) = handle.stop() {
                tracing::warn!("a sync ended with an error: {e}");
            }
        }
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// A sync's notices go to the log: carried changes at `info`, faults at `warn`.
fn log_notice(notice: crate::sync::Notice) {
    match &notice {
        crate::sync::Notice::Reconciled(report) => tracing::info!(
            collection = %report.collection,
            dir = %report.dir.display(),
            "sync: {notice}"
        ),
        crate::sync::Notice::Synced(batch) if batch.conflicts.is_empty() => {
            tracing::info!(collection = %batch.collection, direction = %batch.direction, "sync: {notice}")
        }
        _ => tracing::warn!("sync: {notice}"),
    }
}

/// Best effort: the platform's "open this URL" command.
fn open_browser(url: &str) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(program)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        tracing::warn!("could not open a browser with {program}: {e}; open {url} yourself");
    }
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Keep printing lines as the server writes them (Ctrl-C stops).
    #[arg(short, long)]
    follow: bool,
    /// Print only the last N lines first.
    #[arg(short = 'n', long, value_name = "N")]
    lines: Option<usize>,
}

/// One log record (a JSON line, as the server writes its file) as a person
/// reads it: `11:02:25 INFO  message key=value …`. A line that is not such a
/// record is shown as it is.
fn readable(line: &str) -> String {
    let Ok(serde_json::Value::Object(record)) = serde_json::from_str::<serde_json::Value>(line)
    else {
        return line.to_owned();
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let time = record
        .get("timestamp")
        .and_then(|t| t.as_str())
        .map(|t| t.get(11..19).unwrap_or(t).to_owned())
        .unwrap_or_default();
    let level = record.get("level").map(text).unwrap_or_default();
    let mut out = format!("{time} {level:<5}");
    if let Some(serde_json::Value::Object(fields)) = record.get("fields") {
        if let Some(message) = fields.get("message") {
            out.push(' ');
            out.push_str(&text(message));
        }
        for (key, value) in fields.iter().filter(|(k, _)| *k != "message") {
            out.push_str(&format!(" {key}={}", text(value)));
        }
    }
    // The span's fields, unless the line repeats them (a request's line
    // names its method and URI itself).
    let own = record.get("fields").and_then(|f| f.as_object());
    if let Some(serde_json::Value::Object(span)) = record.get("span") {
        let repeated = |k: &str| own.is_some_and(|f| f.contains_key(k));
        for (key, value) in span.iter().filter(|(k, _)| *k != "name" && !repeated(k)) {
            out.push_str(&format!(" {key}={}", text(value)));
        }
    }
    out
}

pub(crate) fn logs(data_dir: PathBuf, json: bool, args: LogsArgs) -> crate::Result<ExitCode> {
    let show = |line: &str| {
        if json {
            line.to_owned()
        } else {
            readable(line)
        }
    };
    let path = log_file(&data_dir);
    let open = || {
        std::fs::File::open(&path).map_err(|e| {
            Error::io(
                format!(
                    "reading the log file {} (it appears once `blockstore serve` has run with this data dir)",
                    path.display()
                ),
                e,
            )
        })
    };
    let mut file = open()?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let lines: Vec<&str> = text.lines().collect();
    let skip = args
        .lines
        .map(|n| lines.len().saturating_sub(n))
        .unwrap_or(0);
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    for line in &lines[skip..] {
        if writeln!(stdout, "{}", show(line)).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let _ = stdout.flush();
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut offset = text.len() as u64;
    let mut buf = Vec::new();
    // A line the server is still writing waits for its end.
    let mut partial = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            // Rotated or truncated: start over from its beginning.
            file = open()?;
            offset = 0;
        }
        if len > offset {
            file.seek(std::io::SeekFrom::Start(offset))
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            buf.clear();
            let n = (&mut file)
                .take(len - offset)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            offset += n as u64;
            partial.push_str(&String::from_utf8_lossy(&buf));
            let mut shown = String::new();
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                shown.push_str(&show(line.trim_end_matches(['\n', '\r'])));
                shown.push('\n');
            }
            if stdout
                .write_all(shown.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

#[cfg(test)]
mod log_tests {
    #[test]
    fn log_records_read_as_lines() {
        let line = r#"{"timestamp":"2026-12-03T11:02:25.656807Z","level":"INFO","fields":{"message":"listening","addr":"127.0.0.1:8000"},"target":"blockstore"}"#;
        assert_eq!(
            super::readable(line),
            "11:02:25 INFO  listening addr=127.0.0.1:8000"
        );
        let request = r#"{"timestamp":"2026-12-03T11:02:26.000001Z","level":"INFO","fields":{"message":"request","method":"PUT","uri":"/api/v1/x","status":201,"latency_ms":0.5},"target":"blockstore::server::log","span":{"method":"PUT","uri":"/api/v1/x","name":"request"}}"#;
        assert_eq!(
            super::readable(request),
            "11:02:26 INFO  request method=PUT uri=/api/v1/x status=201 latency_ms=0.5",
            "the span's fields are not repeated"
        );
        assert_eq!(super::readable("not json"), "not json", "as it is");
    }
}
