//! Connections: accepting, bounding, timing out and draining them.
//!
//! `axum::serve` holds every connection as long as its client likes: a
//! slow-loris client (a header byte every few seconds) or a few thousand idle
//! keep-alive sockets exhaust the process's file descriptors and the health
//! check stops answering. So the server runs its own accept loop over hyper's
//! HTTP/1 connections, with nginx's defences:
//!
//! - a **header timeout**: from a request's first byte to its complete head
//!   (nginx's `client_header_timeout`);
//! - an **idle timeout**: how long a kept-alive connection may wait for its
//!   next request (nginx's `keepalive_timeout`);
//! - a **connection cap**: at the cap, the oldest connection that is not
//!   serving a request is closed to make room; when every one is busy, a new
//!   connection gets a quick 503 and is closed;
//! - a **shutdown grace**: on stop, idle connections close at once, requests
//!   in flight get the grace to finish, and whatever is left is then closed
//!   (its unanswered work withdrawn, see `deadline`).
//!
//! Each connection's phase (idle, reading a head, serving requests) is tracked
//! from its bytes (a read wrapper) and its requests (a service wrapper, ended
//! when the response body is done), and a watchdog per connection applies the
//! timeouts.

use axum::body::{Body, HttpBody};
use axum::Router;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::Service;

/// The bounds of [`serve`]; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// Where a connection is.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's first byte, since then.
    Idle(Instant),
    /// A request's head is arriving, since its first byte.
    Head(Instant),
    /// Serving this many requests (until their response bodies are done).
    Busy(usize),
}

#[derive(Debug)]
struct Activity(Mutex<Phase>);

impl Activity {
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
        }
    }

    fn request_started(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
    }

    fn request_done(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
    }

    fn busy(&self) -> bool {
        matches!(*self.phase(), Phase::Busy(_))
    }
}

/// One request's hold on its connection's phase, released when its response
/// body is done (or the request is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// A response body that ends its request's [`InFlight`] when it is dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling its connection's [`Activity`] when bytes arrive.
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// What the accept loop knows of a live connection.
struct Entry {
    activity: Arc<Activity>,
    /// Asks the connection to close (it is the one evicted).
    close: Arc<Notify>,
}

type Registry = Arc<Mutex<BTreeMap<u64, Entry>>>;

/// Serves `app` on `listener` until `stop` completes, then drains (see the
/// module doc). `shutdown` is sent `true` when draining starts.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: watch::Sender<bool>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry: Registry = Arc::default();
    let next_id = AtomicU64::new(0);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
            // Reap finished connections as they end, so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors (or another transient error): say
                // so, and give closing connections a moment instead of spinning.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Without TCP_NODELAY a response written as headers + body waits for
        // the client's delayed ACK: 40 ms per request on Linux.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("could not set TCP_NODELAY: {e}");
        }
        if !make_room(&registry, limits.max_connections) {
            tasks.spawn(refuse(tcp));
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity(Mutex::new(Phase::Idle(Instant::now()))));
        let close = Arc::new(Notify::new());
        registry.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Entry {
                activity: activity.clone(),
                close: close.clone(),
            },
        );
        let connection = connection(
            tcp,
            app.clone(),
            activity,
            close,
            limits.clone(),
            shutdown.subscribe(),
        );
        let registry = registry.clone();
        tasks.spawn(async move {
            connection.await;
            registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = shutdown.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "closing {} still open after the {} s shutdown grace",
            crate::store::plural(tasks.len() as u64, "connection"),
            limits.shutdown_grace.as_secs_f64()
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Whether a new connection may be served: under the cap, or after asking
/// the oldest connection that serves no request to close.
fn make_room(registry: &Registry, max: usize) -> bool {
    let registry = registry.lock().unwrap_or_else(|p| p.into_inner());
    if registry.len() < max {
        return true;
    }
    match registry.values().find(|e| !e.activity.busy()) {
        Some(oldest_unused) => {
            oldest_unused.close.notify_one();
            true
        }
        None => false,
    }
}

/// Answers a connection over the cap with a quick 503 and closes it.
async fn refuse(mut tcp: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"busy","message":"the server is at its connection limit (--max-connections) and every connection is serving a request; try again shortly","details":null}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len(),
        super::error::RETRY_AFTER_SECS,
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// Serves one connection until it ends, times out, is evicted, or the
/// server drains.
async fn connection(
    tcp: TcpStream,
    app: Router,
    activity: Arc<Activity>,
    close: Arc<Notify>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            activity.request_started();
            let in_flight = InFlight(activity.clone());
            let mut app = app.clone();
            async move {
                let response = app.call(request.map(Body::new)).await;
                response.map(|r| {
                    r.map(|body| {
                        Body::new(Tracked {
                            body,
                            _in_flight: in_flight,
                        })
                    })
                })
            }
        })
    };
    let io = TokioIo::new(Watched {
        tcp,
        activity: activity.clone(),
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let tick = (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut watchdog = tokio::time::interval(tick);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = *shutdown.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = close.notified() => {
                if activity.busy() {
                    // It took a request since it was picked: finish that, then close.
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                } else {
                    tracing::info!("closing an unused connection to make room (--max-connections)");
                    return;
                }
            }
            changed = shutdown.changed(), if !draining => {
                if changed.is_err() || *shutdown.borrow() {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
            _ = watchdog.tick() => {
                let phase = *activity.phase();
                match phase {
                    Phase::Head(since) if since.elapsed() >= limits.header_timeout => {
                        tracing::info!(
                            "closing a connection whose request head took over {} s",
                            limits.header_timeout.as_secs_f64()
                        );
                        return;
                    }
                    Phase::Idle(since) if since.elapsed() >= limits.idle_timeout => return,
                    Phase::Idle(_) if draining => return,
                    _ => {}
                }
            }
        }
    }
}
