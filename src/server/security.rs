//! The laptop-safety defaults of DESIGN.md "Security and failure": a `Host`
//! allowlist against DNS rebinding, and a bearer token (required to bind a
//! non-loopback address) compared in constant time.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use blake2::{Blake2b512, Digest};
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What the guard checks; built once from the serve options.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Lower-case `host[:port]` values a request's `Host` may carry.
    allowed_hosts: Vec<String>,
    /// The digest of the token, if one is set: comparing digests keeps the
    /// comparison constant-time even in the token's length.
    token_digest: Option<Vec<u8>>,
}

impl Guard {
    /// `extra_hosts` are names the user allowed (`--allow-host`), with or
    /// without a port.
    pub fn new(bound: SocketAddr, extra_hosts: &[String], token: Option<&str>) -> Guard {
        let port = bound.port();
        let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        names.push(match bound {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        });
        let mut allowed = Vec::new();
        for name in names {
            allowed.push(format!("{name}:{port}"));
            if port == 80 {
                allowed.push(name);
            }
        }
        for host in extra_hosts {
            let host = host.to_ascii_lowercase();
            if host.contains(':') && !host.ends_with(']') {
                allowed.push(host);
            } else {
                allowed.push(format!("{host}:{port}"));
                allowed.push(host);
            }
        }
        Guard {
            allowed_hosts: allowed,
            token_digest: token.map(digest),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    fn token_ok(&self, header: Option<&str>) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        bool::from(digest(given.trim()).ct_eq(expected))
    }
}

fn digest(token: &str) -> Vec<u8> {
    Blake2b512::digest(token.as_bytes()).to_vec()
}

/// Refuses a request whose `Host` is not ours (403) and, with a token set, an
/// API request without `Authorization: Bearer TOKEN` (401).
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    match host {
        Some(host) if guard.host_allowed(&host) => {}
        Some(host) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                format!(
                    "Host {host:?} is not this server's address; requests through other names are \
                     refused (DNS rebinding). Use the address the server printed, or start it \
                     with --allow-host {host}"
                ),
            )
            .into_response();
        }
        None => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "the request has no Host header",
            )
            .into_response();
        }
    }
    let needs_token = request.uri().path().starts_with("/api/");
    if needs_token {
        let auth = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        if !guard.token_ok(auth) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs `Authorization: Bearer TOKEN` (the token given to `blockstore serve --token`)",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_the_bound_port_on_loopback_names_and_allowed_extras() {
        let g = Guard::new(
            "127.0.0.1:7878".parse().unwrap(),
            &["dev.local".into()],
            None,
        );
        for ok in [
            "127.0.0.1:7878",
            "localhost:7878",
            "LOCALHOST:7878",
            "[::1]:7878",
            "dev.local",
            "dev.local:7878",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "127.0.0.1:7879",
            "localhost",
            "127.0.0.1.evil.example:7878",
            "",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn a_token_must_match_exactly() {
        let g = Guard::new("127.0.0.1:1".parse().unwrap(), &[], Some("s3cret"));
        assert!(g.token_ok(Some("Bearer s3cret")));
        for bad in [
            None,
            Some("Bearer s3cre"),
            Some("Bearer s3cretx"),
            Some("s3cret"),
            Some("Basic s3cret"),
            Some("Bearer "),
        ] {
            assert!(!g.token_ok(bad), "{bad:?}");
        }
        let open = Guard::new("127.0.0.1:1".parse().unwrap(), &[], None);
        assert!(open.token_ok(None));
    }
}
