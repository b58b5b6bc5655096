//! The local REST endpoint: axum over the library, safe on a laptop.
//!
//! A thin layer, on purpose: every handler parses its input, calls the store
//! (on the blocking pool, since the store is synchronous SQLite and file I/O),
//! and turns the result or the error into JSON. Nothing of the model lives
//! here. The layers around the routes are DESIGN.md's security defaults (a
//! `Host` allowlist, an optional bearer token, body limits, timeouts, no
//! wildcard CORS) and request logging with `tracing`.
//!
//! [`Server::bind`] + [`Server::run`] is what `blockstore serve` and the
//! desktop shell call; [`router`] alone is what tests could mount.

mod api;
mod error;
mod events;
mod olx;
mod openapi;
mod raw;
mod security;
mod ui;

pub use error::ApiError;

use crate::store::Store;
use axum::http::{HeaderValue, Method};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

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
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub upload_limit: u64,
    pub archive_limits: crate::olx::ArchiveLimits,
    /// Flips to true when shutdown starts, ending the event streams.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// Runs store work on the blocking pool.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> crate::store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
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
    ));
    let timed = api::routes()
        .merge(raw::routes())
        .merge(openapi::routes())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ));
    let api = Router::new()
        .merge(timed)
        // The event stream lives as long as the client wants, and archives
        // take as long as their bytes take: no timeout.
        .merge(events::routes())
        .merge(olx::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            options.json_limit as usize,
        ));
    let data_hints = options.token.is_none();
    let page = move |uri| ui::page(uri, data_hints);
    let mut app = Router::new()
        .nest("/api/v1", api)
        .route("/", axum::routing::get(page))
        .route("/c/{*view}", axum::routing::get(page))
        .route("/ui/{id}/{*file}", axum::routing::get(ui::asset))
        .fallback(api::no_route)
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
    Ok(app.layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
    ))
}

/// A bound server, ready to run.
pub struct Server {
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: tokio::sync::watch::Sender<bool>,
    addr: SocketAddr,
}

impl Server {
    /// Checks the options and binds the address (port 0 picks a free port).
    pub async fn bind(store: Arc<Store>, options: &ServeOptions) -> Result<Server, ServeError> {
        if !options.addr.ip().is_loopback() && options.token.is_none() {
            return Err(ServeError::NonLoopbackWithoutToken(options.addr));
        }
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let state = AppState {
            store: store.clone(),
            upload_limit: options.upload_limit,
            archive_limits: options.archive_limits,
            shutdown: shutdown_rx,
        };
        let app = router(state, options, addr)?;
        Ok(Server {
            store,
            listener,
            app,
            shutdown,
            addr,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` completes, then stops accepting, ends the event
    /// streams, and lets in-flight requests (and their writes) finish.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            store,
            listener,
            app,
            shutdown,
            ..
        } = self;
        tokio::spawn(announce_external_changes(store, shutdown.subscribe()));
        let signal = async move {
            stop.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = shutdown.send(true);
        };
        // Without TCP_NODELAY a response written as headers + body waits for
        // the client's delayed ACK: 40 ms per request on Linux.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!("could not set TCP_NODELAY: {e}");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
    }
}

/// How often the server looks for commits by other processes.
const EXTERNAL_POLL: Duration = Duration::from_millis(500);

/// Turns commits by other processes (a CLI publish, a folder sync in another
/// process) into `store.changed` events, so open UIs refresh. `PRAGMA
/// data_version` is one cheap read; there is no cross-process notification.
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

/// Completes on Ctrl-C, or on SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
