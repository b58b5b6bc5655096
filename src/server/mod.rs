//! The local REST endpoint: axum over the library, safe on a laptop.
//!
//! A thin layer, on purpose: every handler parses its input, calls the store
//! (on the blocking pool, since the store is synchronous SQLite and file I/O),
//! and turns the result or the error into JSON. Nothing of the model lives
//! here. The layers around the routes are DESIGN.md's security defaults (a
//! `Host` allowlist, an optional bearer token, body limits, timeouts, no
//! wildcard CORS) and the request log (`log.rs`).
//!
//! [`Server::bind`] + [`Server::run`] is what `blockstore serve` and the
//! desktop shell call; [`router`] alone is what tests could mount.

/// An API route's path: the API lives under `/api/v1`. Written into each
/// route rather than `nest`ed, because a nested router rebuilt the URI and
/// cloned the route's services on every request (7% of a cached `GET raw`).
macro_rules! v1 {
    ($path:literal) => {
        concat!("/api/v1", $path)
    };
}

mod api;
mod connections;
mod deadline;
mod error;
mod events;
mod log;
mod olx;
mod openapi;
mod raw;
mod revisions;
mod security;
mod ui;
mod v1;

pub use error::ApiError;

use crate::store::Store;
use axum::http::{HeaderValue, Method};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// With a token, every API call needs `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// More names the `Host` header may carry (besides localhost and the
    /// bound address).
    pub allow_hosts: Vec<String>,
    /// Origins allowed by CORS; none by default (the UI is same-origin).
    pub cors_origins: Vec<String>,
    /// Largest JSON request body.
    pub json_limit: u64,
    /// Largest uploaded file (`PUT .../raw/...`).
    pub upload_limit: u64,
    /// What an archive `POST`ed to `.../import` may expand to.
    pub archive_limits: crate::olx::ArchiveLimits,
    /// How long a request may take to produce its response.
    pub request_timeout: Duration,
    /// How long a request's head may take to arrive, from its first byte.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Most connections open at once (also bounded by the file descriptors
    /// the process may open).
    pub max_connections: usize,
    /// How long a stop waits for requests in flight before closing them.
    pub shutdown_grace: Duration,
    /// How long a write waits behind a gc before it gets 503.
    pub lock_timeout: Duration,
    /// Keys of the Blockstore v1 API (`Authorization: Token KEY`); with none
    /// it is off.
    pub v1_tokens: Vec<String>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
            token: None,
            allow_hosts: Vec::new(),
            cors_origins: Vec::new(),
            json_limit: 1024 * 1024,
            upload_limit: 1024 * 1024 * 1024,
            archive_limits: crate::olx::ArchiveLimits {
                options: crate::olx::LimitOptions::Serve,
                ..crate::olx::ArchiveLimits::default()
            },
            request_timeout: Duration::from_secs(300),
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(10),
            v1_tokens: Vec::new(),
        }
    }
}

/// Why the server would not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} without a token: anyone on that network could read and change \
         the store. Add --token SECRET (clients then send `Authorization: Bearer SECRET`), or \
         listen on 127.0.0.1"
    )]
    NonLoopbackWithoutToken(SocketAddr),
    #[error(
        "cannot listen on {addr}: {source} (is another blockstore running? try --addr 127.0.0.1:0)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--cors-origin {0:?} is not an origin like http://localhost:3000")]
    BadOrigin(String),
    #[error("the token is blank: give --token (or BLOCKSTORE_TOKEN) a secret that is not empty or spaces, or leave it out")]
    BlankToken,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares: one `Arc`, as axum clones the state for every
/// request (cloning the fields, a watch receiver among them, was 4% of a
/// cached `GET raw`).
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub upload_limit: u64,
    pub archive_limits: crate::olx::ArchiveLimits,
    /// Flips to true when shutdown starts, ending the event streams.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The Blockstore v1 API's keys (none: it is off).
    pub v1_tokens: v1::Tokens,
}

impl AppState {
    /// Runs store work on the blocking pool.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> crate::store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        // The request's token goes along, so an answered-with-error request's
        // work is withdrawn rather than applied later (see `deadline`).
        let cancel = deadline::current();
        let work = move || match cancel {
            Some(cancel) => cancel.scope(|| f(&store)),
            None => f(&store),
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the request's worker failed: {e}"),
            )),
        }
    }
}

/// The whole application: API routes, the start page, and the layers.
pub(crate) fn router(
    state: AppState,
    options: &ServeOptions,
    bound: SocketAddr,
) -> Result<Router, ServeError> {
    let guard = Arc::new(security::Guard::new(
        bound,
        &options.allow_hosts,
        options.token.as_deref(),
        &options.cors_origins,
    ));
    let timed = api::routes()
        .merge(raw::routes())
        .merge(revisions::routes())
        .merge(openapi::routes())
        .layer(axum::middleware::from_fn_with_state(
            Some(options.request_timeout),
            deadline::deadline,
        ));
    // The event stream lives as long as the client wants, and archives take
    // as long as their bytes take: no timeout, but the same withdrawal of
    // work whose request went away unanswered.
    let untimed =
        events::routes()
            .merge(olx::routes())
            .layer(axum::middleware::from_fn_with_state(
                None,
                deadline::deadline,
            ));
    let api =
        Router::new()
            .merge(timed)
            .merge(untimed)
            .layer(axum::extract::DefaultBodyLimit::max(
                options.json_limit as usize,
            ));
    // The v1 API: its own body limit (a draft PATCH carries files as base64,
    // 4/3 of their size), the same deadline.
    let v1_limit = options
        .upload_limit
        .saturating_mul(4)
        .checked_div(3)
        .unwrap_or(u64::MAX)
        .saturating_add(options.json_limit)
        .min(usize::MAX as u64) as usize;
    let v1 = v1::routes(v1_limit).layer(axum::middleware::from_fn_with_state(
        Some(options.request_timeout),
        deadline::deadline,
    ));
    let data_hints = options.token.is_none();
    let page = move |uri| ui::page(uri, data_hints);
    let mut app = Router::new()
        .merge(api)
        .merge(v1)
        .route("/", axum::routing::get(page))
        .route("/c/{*view}", axum::routing::get(page))
        .route("/ui/{id}/{*file}", axum::routing::get(ui::asset))
        .fallback(move |method, uri, headers| ui::not_found(method, uri, headers, data_hints))
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(guard, security::guard));
    if !options.cors_origins.is_empty() {
        let origins = options
            .cors_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .ok()
                    .filter(|_| o.starts_with("http://") || o.starts_with("https://"))
                    .ok_or_else(|| ServeError::BadOrigin(o.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    axum::http::header::CONTENT_TYPE,
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::IF_MATCH,
                    axum::http::header::IF_NONE_MATCH,
                    axum::http::header::RANGE,
                ])
                .expose_headers([axum::http::header::ETAG]),
        );
    }
    Ok(app.layer(axum::middleware::from_fn(log::requests)))
}

/// A bound server, ready to run.
pub struct Server {
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: tokio::sync::watch::Sender<bool>,
    addr: SocketAddr,
    limits: connections::Limits,
}

/// File descriptors kept for the store, logs and blobs when the connection
/// cap is derived from the process's limit.
const RESERVED_FDS: u64 = 128;

/// Raises the soft limit on open files to the hard one (the default soft
/// limit, 1,024, is a few hundred idle connections away) and returns the
/// soft limit now in force.
fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit = raised,
            Err(e) => tracing::warn!("could not raise the open files limit: {e}"),
        }
    }
    limit.current
}

impl Server {
    /// Checks the options and binds the address (port 0 picks a free port).
    pub async fn bind(store: Arc<Store>, options: &ServeOptions) -> Result<Server, ServeError> {
        if options
            .token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ServeError::BlankToken);
        }
        if !options.addr.ip().is_loopback() && options.token.is_none() {
            return Err(ServeError::NonLoopbackWithoutToken(options.addr));
        }
        let mut max_connections = options.max_connections.max(1);
        if let Some(files) = raise_open_files_limit() {
            let fits = files.saturating_sub(RESERVED_FDS).max(1);
            if (max_connections as u64) > fits {
                tracing::warn!(
                    "at most {fits} connections: the process may open {files} files (ulimit -n)"
                );
                max_connections = fits as usize;
            }
        }
        store.set_lock_timeout(options.lock_timeout);
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let state = AppState(Arc::new(Shared {
            store: store.clone(),
            upload_limit: options.upload_limit,
            archive_limits: options.archive_limits,
            shutdown: shutdown_rx,
            v1_tokens: v1::Tokens::new(&options.v1_tokens),
        }));
        let app = router(state, options, addr)?;
        Ok(Server {
            store,
            listener,
            app,
            shutdown,
            addr,
            limits: connections::Limits {
                header_timeout: options.header_timeout,
                idle_timeout: options.idle_timeout,
                max_connections,
                shutdown_grace: options.shutdown_grace,
            },
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` completes, then stops accepting, ends the event
    /// streams, and lets in-flight requests (and their writes) finish within
    /// the shutdown grace; what is still open after it is closed.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            store,
            listener,
            app,
            shutdown,
            limits,
            ..
        } = self;
        tokio::spawn(announce_external_changes(store, shutdown.subscribe()));
        connections::serve(listener, app, limits, shutdown, stop).await
    }
}

/// How often the server looks for commits by other processes.
const EXTERNAL_POLL: Duration = Duration::from_millis(500);

/// Turns commits by other processes (a CLI publish, a folder sync in another
/// process) into `store.changed` events, so open UIs refresh: `PRAGMA
/// data_version` is one cheap read. On a shared store, the other instances'
/// own events (`draft.changed`, `collection.published`, …) go out too, as
/// their notices arrive.
async fn announce_external_changes(
    store: Arc<Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut seen = match store.external_changes() {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("cannot watch for other processes' changes: {e}");
            return;
        }
    };
    let mut tick = tokio::time::interval(EXTERNAL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let s = store.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut v = seen;
            s.announce_external_changes(&mut v).map(|_| v)
        })
        .await;
        match result {
            Ok(Ok(v)) => seen = v,
            Ok(Err(e)) => tracing::warn!("checking for other processes' changes: {e}"),
            Err(_) => return,
        }
    }
}

/// Completes on Ctrl-C, or on SIGTERM on Unix. The handlers are installed
/// when this is called, not when the future is first polled: a caller that
/// announces it is ready (prints its URL) after calling it cannot be killed
/// by a SIGTERM's default action in between. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (term, int) = (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        );
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
