//! The window's native menu bar and what its items do.
//!
//! Kept apart from `main.rs` (start-up, the server, the exit path) because
//! the menu is where the shell does more than show the page: native file
//! dialogs, background work, dialogs with the outcome. The work itself is in
//! `transfer.rs` (import, export) and the library (seeding), plain functions
//! tested without a display; here they only get their paths and their thread.
//!
//! Menu events arrive on the UI thread, so nothing here waits there: the file
//! dialogs answer through callbacks, and an import, export or seed runs on
//! Tauri's blocking pool as the menu's one background job (a second one is
//! refused with a message while the first runs), awaited by the exit path.
//! Progress shows in the window's title ("Importing course.tar.gz… 412/676
//! files — Blockstore"); the outcome in a native message dialog, and after
//! an import the window opens the imported collection (`/c/SLUG`). Quit
//! stops a running import or export without committing it.
//!
//! Keys: Ctrl+O imports a folder, Ctrl+Shift+O an archive, Ctrl+E exports,
//! Ctrl+Q quits (GTK handles them before the page, which uses none of them).

use crate::transfer::{self, Status};
use crate::{Shell, WINDOW};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tauri::async_runtime::JoinHandle;
use tauri::menu::{Menu, MenuBuilder, MenuEvent, MenuItemBuilder, SubmenuBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_dialog::{DialogExt, FilePath, MessageDialogKind};
use tauri_plugin_opener::OpenerExt;

/// The window's title when no background job is running.
pub(crate) const TITLE: &str = "Blockstore";

const IMPORT_FOLDER: &str = "import-folder";
const IMPORT_ARCHIVE: &str = "import-archive";
const EXPORT: &str = "export-collection";
const OPEN_DATA: &str = "open-data-folder";
const OPEN_BROWSER: &str = "open-in-browser";
const SEED: &str = "seed-samples";
const QUIT: &str = "quit";

/// The menu's background job.
pub(crate) struct Job {
    /// What it does, for "still importing course.tar.gz".
    what: String,
    pub(crate) task: JoinHandle<()>,
}

pub(crate) fn build(app: &AppHandle) -> tauri::Result<Menu<Wry>> {
    let item = |id: &str, text: &str, keys: &str| {
        MenuItemBuilder::with_id(id, text)
            .accelerator(keys)
            .build(app)
    };
    let file = SubmenuBuilder::new(app, "File")
        .item(&item(IMPORT_FOLDER, "Import Folder…", "CmdOrCtrl+O")?)
        .item(&item(
            IMPORT_ARCHIVE,
            "Import Archive (.tar.gz, .zip)…",
            "CmdOrCtrl+Shift+O",
        )?)
        .item(&item(EXPORT, "Export Collection…", "CmdOrCtrl+E")?)
        .separator()
        .text(OPEN_DATA, "Open data folder")
        .text(OPEN_BROWSER, "Open in browser")
        .separator()
        .text(SEED, "Seed sample course")
        .separator()
        .item(&item(QUIT, "Quit", "CmdOrCtrl+Q")?)
        .build()?;
    MenuBuilder::new(app).item(&file).build()
}

pub(crate) fn on_event(app: &AppHandle, event: MenuEvent) {
    let shell = app.state::<Shell>();
    match event.id().as_ref() {
        IMPORT_FOLDER => pick_import(app, false),
        IMPORT_ARCHIVE => pick_import(app, true),
        EXPORT => pick_export(app),
        OPEN_DATA => {
            let dir = shell.data_dir.to_string_lossy().into_owned();
            if let Err(e) = app.opener().open_path(dir.clone(), None::<&str>) {
                tell(
                    app,
                    "Open data folder",
                    format!("Could not open a file manager ({e}). The data folder is {dir}"),
                );
            }
        }
        OPEN_BROWSER => {
            if let Err(e) = app.opener().open_url(shell.url.clone(), None::<&str>) {
                tell(
                    app,
                    "Open in browser",
                    format!(
                        "Could not open a browser ({e}). Open {} yourself",
                        shell.url
                    ),
                );
            }
        }
        SEED => seed(app),
        QUIT => app.exit(0),
        other => tracing::debug!("menu item {other:?} has no action"),
    }
}

/// Logs a refusal or a failure of a menu action and shows it in a dialog:
/// the menu has no other way to answer.
fn tell(app: &AppHandle, title: &str, message: String) {
    tracing::warn!("{title}: {message}");
    show(app, title, message, MessageDialogKind::Warning);
}

fn show(app: &AppHandle, title: &str, message: String, kind: MessageDialogKind) {
    let mut dialog = app.dialog().message(message).title(title).kind(kind);
    if let Some(window) = app.get_webview_window(WINDOW) {
        dialog = dialog.parent(&window);
    }
    dialog.show(|_| {});
}

/// What the running background job does, if one runs.
fn running(job: &Option<Job>) -> Option<&str> {
    job.as_ref()
        .filter(|job| !job.task.inner().is_finished())
        .map(|job| job.what.as_str())
}

/// Says so and returns true when a background job runs: the menu runs one at
/// a time (their progress shares the title; a second import would wait on
/// the first's write lock anyway).
fn busy(app: &AppHandle, title: &str, job: &Option<Job>) -> bool {
    let Some(what) = running(job) else {
        return false;
    };
    tell(
        app,
        title,
        format!("Still {what}; try again when it has finished."),
    );
    true
}

/// Whether a background job runs (and the user was told).
fn is_busy(app: &AppHandle, title: &str) -> bool {
    let shell = app.state::<Shell>();
    let job = shell.job.lock().unwrap_or_else(|p| p.into_inner());
    busy(app, title, &job)
}

/// Runs `work` on the blocking pool as the menu's background job, unless one
/// is running already.
fn start(app: &AppHandle, title: &str, what: String, work: impl FnOnce() + Send + 'static) {
    let shell = app.state::<Shell>();
    let mut job = shell.job.lock().unwrap_or_else(|p| p.into_inner());
    if busy(app, title, &job) {
        return;
    }
    tracing::info!("{what}");
    *job = Some(Job {
        what,
        task: tauri::async_runtime::spawn_blocking(work),
    });
}

/// Runs `work` with a [`Status`] that shows its progress in the window's
/// title, and puts the title back afterwards.
fn in_title<T>(
    app: &AppHandle,
    what: String,
    stop: &AtomicBool,
    work: impl FnOnce(&Status) -> T,
) -> T {
    let window = app.get_webview_window(WINDOW);
    let show = |line: &str| {
        if let Some(window) = &window {
            let _ = window.set_title(&format!("{line} — {TITLE}"));
        }
    };
    let result = work(&Status::new(what, &show, stop));
    if let Some(window) = &window {
        let _ = window.set_title(TITLE);
    }
    result
}

/// Where a file dialog opens: the folder the last one picked from, else the
/// Downloads folder (for archives, if there is one), else home. GTK's own
/// default, "Recent", lists nothing to a new user.
fn start_dir(app: &AppHandle, downloads: bool) -> Option<PathBuf> {
    let last = app
        .state::<Shell>()
        .last_dir
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let paths = app.path();
    last.filter(|dir| dir.is_dir())
        .or_else(|| {
            downloads
                .then(|| paths.download_dir().ok())
                .flatten()
                .filter(|dir| dir.is_dir())
        })
        .or_else(|| paths.home_dir().ok())
}

/// The local path a file dialog answered, if any; its folder is where the
/// next dialog opens.
fn picked_path(app: &AppHandle, picked: Option<FilePath>) -> Option<PathBuf> {
    match picked?.into_path() {
        Ok(path) => {
            if let Some(parent) = path.parent() {
                *app.state::<Shell>()
                    .last_dir
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(parent.to_path_buf());
            }
            Some(path)
        }
        Err(e) => {
            tracing::warn!("the file dialog answered no local path: {e}");
            None
        }
    }
}

/// Asks for a folder or an archive, then imports it.
fn pick_import(app: &AppHandle, archive: bool) {
    let title = if archive {
        "Import Archive"
    } else {
        "Import Folder"
    };
    if is_busy(app, title) {
        return;
    }
    let mut dialog = app.dialog().file();
    if let Some(window) = app.get_webview_window(WINDOW) {
        dialog = dialog.set_parent(&window);
    }
    if let Some(dir) = start_dir(app, archive) {
        dialog = dialog.set_directory(dir);
    }
    let handle = app.clone();
    let picked = move |picked: Option<FilePath>| {
        if let Some(path) = picked_path(&handle, picked) {
            import(&handle, title, path);
        }
    };
    if archive {
        dialog
            .set_title("Import a course or library archive")
            .add_filter(
                "OLX export or Learning Core backup (.tar.gz, .tgz, .tar, .zip)",
                &["tar.gz", "tgz", "tar", "zip"],
            )
            .pick_file(picked);
    } else {
        dialog
            .set_title("Import a course or library folder")
            .pick_folder(picked);
    }
}

/// Imports `path` in the background; on success the window opens the
/// collection.
fn import(app: &AppHandle, title: &'static str, path: PathBuf) {
    let shell = app.state::<Shell>();
    let (store, stop, base) = (
        shell.store.clone(),
        shell.stopping.clone(),
        shell.url.clone(),
    );
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let handle = app.clone();
    start(app, title, format!("importing {name}"), move || {
        let result = in_title(&handle, format!("Importing {name}"), &stop, |status| {
            transfer::import_path(&store, &path, status)
        });
        if stop.load(Ordering::Relaxed) {
            tracing::info!(path = %path.display(), ok = result.is_ok(), "import stopped by quitting");
            return;
        }
        match result {
            Ok(report) => {
                tracing::info!(
                    collection = %report.collection,
                    files = report.files,
                    path = %path.display(),
                    "imported"
                );
                open_collection(&handle, &base, &report.collection);
                show(
                    &handle,
                    title,
                    transfer::imported_message(&path, &report),
                    MessageDialogKind::Info,
                );
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "import failed: {e}");
                show(
                    &handle,
                    title,
                    format!("Could not import {}:\n\n{e}", path.display()),
                    MessageDialogKind::Error,
                );
            }
        }
    });
}

/// Loads the collection's page (`/c/SLUG`) in the window.
fn open_collection(app: &AppHandle, base: &str, slug: &str) {
    let url = tauri::Url::parse(base).and_then(|base| base.join(&format!("c/{slug}")));
    match (url, app.get_webview_window(WINDOW)) {
        (Ok(url), Some(window)) => {
            if let Err(e) = window.navigate(url) {
                tracing::warn!("opening {slug} in the window: {e}");
            }
        }
        (Err(e), _) => tracing::warn!("the URL of {slug}: {e}"),
        (_, None) => {}
    }
}

/// Asks where to save the collection the window shows, then exports it.
fn pick_export(app: &AppHandle) {
    const TITLE: &str = "Export Collection";
    if is_busy(app, TITLE) {
        return;
    }
    let Some(window) = app.get_webview_window(WINDOW) else {
        return;
    };
    let shown = window
        .url()
        .ok()
        .and_then(|url| transfer::collection_in_url(&url));
    let Some(slug) = shown else {
        tell(
            app,
            TITLE,
            "The window shows no collection. Open one (click its card), then export it.".into(),
        );
        return;
    };
    let mut dialog = app
        .dialog()
        .file()
        .set_parent(&window)
        .set_title(format!("Export the draft of {slug}"))
        .set_file_name(transfer::export_file_name(&slug))
        .add_filter("OLX export (.tar.gz)", &["tar.gz", "tgz", "tar"])
        .add_filter("Learning Core backup (.zip)", &["zip"]);
    if let Some(dir) = start_dir(app, true) {
        dialog = dialog.set_directory(dir);
    }
    let handle = app.clone();
    dialog.save_file(move |picked| {
        if let Some(dest) = picked_path(&handle, picked) {
            export(&handle, TITLE, slug, transfer::archive_path(&dest));
        }
    });
}

/// Exports the draft of `slug` to `dest` in the background.
fn export(app: &AppHandle, title: &'static str, slug: String, dest: PathBuf) {
    let shell = app.state::<Shell>();
    let (store, stop) = (shell.store.clone(), shell.stopping.clone());
    let handle = app.clone();
    start(app, title, format!("exporting {slug}"), move || {
        let result = in_title(&handle, format!("Exporting {slug}"), &stop, |status| {
            transfer::export_collection(&store, &slug, &dest, status)
        });
        if stop.load(Ordering::Relaxed) {
            tracing::info!(collection = %slug, ok = result.is_ok(), "export stopped by quitting");
            return;
        }
        match result {
            Ok(report) => {
                tracing::info!(collection = %slug, files = report.files, out = %dest.display(), "exported");
                show(
                    &handle,
                    title,
                    transfer::exported_message(&report),
                    MessageDialogKind::Info,
                );
            }
            Err(e) => {
                tracing::warn!(collection = %slug, out = %dest.display(), "export failed: {e}");
                show(
                    &handle,
                    title,
                    format!("Could not export {slug} to {}:\n\n{e}", dest.display()),
                    MessageDialogKind::Error,
                );
            }
        }
    });
}

/// Loads the sample course and library. The page learns of the new
/// collections from the server's event stream, like any other change; a
/// refusal (already seeded) is shown.
fn seed(app: &AppHandle) {
    const TITLE: &str = "Seed sample course";
    let store = app.state::<Shell>().store.clone();
    let handle = app.clone();
    start(app, TITLE, "seeding the samples".into(), move || {
        match blockstore::olx::seed::seed_samples(&store, &blockstore::store::NoProgress) {
            Ok(report) => {
                for seeded in &report.collections {
                    tracing::info!(
                        collection = %seeded.collection,
                        files = seeded.files,
                        versions = ?seeded.versions,
                        "seeded"
                    );
                }
            }
            Err(e) => tell(&handle, TITLE, e.to_string()),
        }
    });
}
