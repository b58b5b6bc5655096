//! The desktop window: the same server as `blockstore serve`, run in-process
//! on a random loopback port, and its UI shown in a Tauri (WebKitGTK) window.
//!
//! A shell, nothing more. The window loads the server's own page as an
//! external URL, so the desktop shows exactly the UI a browser gets, talking
//! to the store only through the REST API (and without Tauri IPC: no
//! capability names that origin). The shell adds what a browser tab cannot
//! do: a native File menu (`menu.rs`: import a course or library from a
//! folder or a `.tar.gz` picked in a native dialog, export the shown
//! collection, open the data folder, open the page in the system browser,
//! seed the samples, quit), one window per data dir (a second launch focuses
//! the first), and a clean stop on Quit, on closing the window and on SIGTERM,
//! which waits for in-flight requests and writes before the process exits.
//! No model logic lives here: importing and exporting are `olx::import_path`
//! and `olx::export` (called from `transfer.rs`, the menu's testable half),
//! seeding is `olx::seed::seed_samples`, serving is `server::Server`.
//!
//! It prints one JSON line on stdout once the server listens
//! (`{"url", "data_dir", "pid"}`) for scripts (`.ci/desktop-smoke`, the
//! benchmarks) and logs with `tracing` on stderr (`RUST_LOG` filters).

use blockstore::server::{ServeOptions, Server};
use blockstore::Store;
use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};

mod menu;
mod transfer;

/// How long Quit waits for the server's in-flight requests and the menu's
/// running job to finish before the process exits anyway. A write cut short
/// is still safe (every write is one SQLite transaction, blobs come first),
/// but finishing it is kinder.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The window's label (Tauri's id for it).
const WINDOW: &str = "main";

/// The Blockstore appliance in a desktop window.
#[derive(Debug, Parser)]
#[command(name = "blockstore-desktop", version, about, max_term_width = 100)]
struct Args {
    /// Data directory (default: $BLOCKSTORE_DATA_DIR, else the platform's data dir,
    /// ~/.local/share/blockstore on Linux), as for `blockstore`.
    #[arg(long, env = "BLOCKSTORE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// What the menu handlers and the exit path share, managed by Tauri.
struct Shell {
    store: Arc<Store>,
    data_dir: PathBuf,
    url: String,
    /// The menu's background job (an import, an export or a seed), awaited
    /// on exit.
    job: Arc<Mutex<Option<menu::Job>>>,
    /// Set on exit: a running import or export stops without committing.
    stopping: Arc<AtomicBool>,
    /// The folder the menu's last file dialog picked from: the next opens
    /// there.
    last_dir: Mutex<Option<PathBuf>>,
}

/// Why the app did not start: a message, and the exit code `blockstore` uses
/// for the same failure.
struct Failure {
    code: u8,
    message: String,
}

impl From<blockstore::Error> for Failure {
    fn from(e: blockstore::Error) -> Failure {
        Failure {
            code: blockstore::cli::exit_code(&e),
            message: e.to_string(),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { code: 1, message }
    }
}

fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(Failure { code, message }) => {
            tracing::error!("{message}");
            ExitCode::from(code)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // `try_init` also routes the `log` records of Tauri and WebKit glue here.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .try_init();
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => blockstore::default_data_dir()?,
    };
    // One absolute spelling of the data dir: it names the single-instance
    // lock and is what the JSON line reports.
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("creating data dir {}: {e}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .map_err(|e| format!("reading data dir {}: {e}", data_dir.display()))?;

    // GTK would panic without a display; say what to do instead.
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        return Err(Failure::from(
            "no display (neither DISPLAY nor WAYLAND_DISPLAY is set); \
             `blockstore serve --open` serves the same UI to a browser"
                .to_string(),
        ));
    }
    let context = tauri::generate_context!();
    let instance_id = format!(
        "{}.data_{}",
        context.config().identifier,
        &blockstore::store::hash_bytes(data_dir.as_os_str().as_encoded_bytes())[..16]
    );
    // Plugins initialize in `build`, in this order: a second launch on the
    // same data dir hands its arguments to the first and exits there, before
    // it opens the store or binds a port. (Without a D-Bus session bus the
    // plugin cannot tell, says so in the log, and lets the launch go on.)
    let app = tauri::Builder::default()
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id)
                .callback(|app, argv, _cwd| {
                    tracing::info!(
                        ?argv,
                        "a second launch on this data dir: focusing this window"
                    );
                    focus_window(app);
                })
                .build(),
        )
        .plugin(tauri_plugin_dialog::init())
        .plugin(
            // The page is the server's own; nothing in it may reach the
            // opener through IPC, so no link hook either.
            tauri_plugin_opener::Builder::new()
                .open_js_links_on_click(false)
                .build(),
        )
        .menu(menu::build)
        .on_menu_event(menu::on_event)
        .setup(|app| {
            let url = app.state::<Shell>().url.clone();
            let url = url
                .parse()
                .map_err(|e| format!("the server URL {url}: {e}"))?;
            WebviewWindowBuilder::new(app, WINDOW, WebviewUrl::External(url))
                .title(menu::TITLE)
                .inner_size(1200.0, 800.0)
                .min_inner_size(480.0, 360.0)
                .build()?;
            Ok(())
        })
        .build(context)
        .map_err(|e| format!("starting the window system: {e}"))?;

    let store = Arc::new(Store::open(&data_dir)?);
    let options = ServeOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServeOptions::default()
    };
    let server = tauri::async_runtime::block_on(Server::bind(store.clone(), &options))
        .map_err(|e| format!("starting the server: {e}"))?;
    let url = format!("http://{}/", server.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tauri::async_runtime::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    // One line, so a supervising program can read the URL with one read.
    let info = serde_json::json!({
        "url": url,
        "data_dir": data_dir,
        "pid": std::process::id(),
    });
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{info}").and_then(|()| stdout.flush());
    tracing::info!(%url, data_dir = %data_dir.display(), "listening");

    let job = Arc::new(Mutex::new(None));
    let stopping = Arc::new(AtomicBool::new(false));
    app.manage(Shell {
        store,
        data_dir,
        url,
        job: job.clone(),
        stopping: stopping.clone(),
        last_dir: Mutex::new(None),
    });
    // SIGTERM and Ctrl-C quit like the menu does, through the event loop.
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        blockstore::server::shutdown_signal().await;
        tracing::info!("asked to stop by a signal");
        handle.exit(0);
    });

    let code = app.run_return(|_app, event| {
        if let RunEvent::ExitRequested { code: None, .. } = event {
            tracing::info!("the window closed");
        }
    });

    // The window is gone: stop accepting, let in-flight requests and the
    // menu's job finish (a seed runs to its end; an import or export stops at
    // its next step without committing).
    tracing::info!("shutting down: finishing in-flight requests and writes");
    let _ = stop.send(());
    stopping.store(true, Ordering::Relaxed);
    let job = job.lock().unwrap_or_else(|p| p.into_inner()).take();
    let finished = tauri::async_runtime::block_on(async {
        // Made inside the runtime: a timer needs its clock.
        tokio::time::timeout(STOP_GRACE, async {
            if let Some(job) = job {
                let _ = job.task.await;
            }
            serving.await
        })
        .await
    });
    let mut code = u8::try_from(code).unwrap_or(1);
    match finished {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            tracing::error!("the server stopped with an error: {e}");
            code = code.max(1);
        }
        Ok(Err(e)) => {
            tracing::error!("the server's task failed: {e}");
            code = code.max(1);
        }
        Err(_) => tracing::warn!(
            "in-flight work did not finish within {}s; stopping anyway",
            STOP_GRACE.as_secs()
        ),
    }
    tracing::info!("stopped");
    Ok(ExitCode::from(code))
}

fn focus_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
