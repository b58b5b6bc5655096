//! The floor under `GET raw` on this machine: a minimal axum server, on the
//! same tokio runtime `blockstore serve` builds (multi-threaded, one worker
//! per core), answering every GET with the bytes of one file held in memory,
//! with the headers a `GET raw` answer carries (type, length, ETag). No
//! store, no middleware, no log: what hyper and the kernel's TCP path cost
//! per request, which no handler on this stack can go under.
//!
//! `benches/server.rs` runs it beside nginx for the `GET raw` figure:
//!
//! ```text
//! cargo build --release --example raw_floor
//! target/release/examples/raw_floor 127.0.0.1:8099 FILE   # then wrk http://127.0.0.1:8099/x
//! ```

use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;
use std::net::SocketAddr;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: raw_floor ADDR FILE");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR is host:port");
    let bytes = axum::body::Bytes::from(std::fs::read(&file).expect("reading FILE"));
    let etag = format!("\"{:016x}\"", bytes.len());
    let app = Router::new().fallback(move || {
        let (bytes, etag) = (bytes.clone(), etag.clone());
        async move {
            (
                [
                    (header::CONTENT_TYPE, "text/html".to_string()),
                    (header::ETAG, etag),
                ],
                bytes,
            )
                .into_response()
        }
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr).await.expect("binding");
            axum::serve(listener, app).await.expect("serving");
        });
}
