//! The laptop-safety defaults of DESIGN.md "Security and failure": a `Host`
//! allowlist against DNS rebinding, a cross-site request guard, and a bearer
//! token (required to bind a non-loopback address) compared in constant time.
//!
//! The cross-site guard exists because the `Host` check cannot stop a page
//! the user has open elsewhere: its `fetch` to `http://127.0.0.1:PORT/...`
//! carries our real `Host`. Browsers say where a request comes from
//! (`Sec-Fetch-Site`, `Origin`); clients that are not browsers (curl, scripts,
//! the CLI) send neither, and are unaffected. It is Go's
//! `net/http.CrossOriginProtection` rule, applied here, in the one layer every
//! route sits behind, before any handler runs.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
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
    /// Lower-case origins (`--cors-origin`) whose pages may change the store.
    trusted_origins: Vec<String>,
}

impl Guard {
    /// `extra_hosts` are names the user allowed (`--allow-host`), with or
    /// without a port.
    pub fn new(
        bound: SocketAddr,
        extra_hosts: &[String],
        token: Option<&str>,
        trusted_origins: &[String],
    ) -> Guard {
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
            trusted_origins: trusted_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Why a request that may change the store is refused as cross-site, or
    /// `None` when it may go on. `host` is the request's (already allowed)
    /// `Host`; `sec_fetch_site` and `origin` are the browser's headers.
    fn cross_site(
        &self,
        method: &Method,
        host: &str,
        sec_fetch_site: Option<&[u8]>,
        origin: Option<&[u8]>,
    ) -> Option<String> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        let origin = origin.map(|o| String::from_utf8_lossy(o).to_ascii_lowercase());
        if let Some(origin) = &origin {
            if self.trusted_origins.contains(origin) {
                return None;
            }
        }
        if let Some(site) = sec_fetch_site {
            if !(site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none")) {
                return Some(format!(
                    "a {} request from another site's page (Sec-Fetch-Site: {}) may not change the \
                     store; use this server's own UI, a non-browser client, or start the server \
                     with --cors-origin ORIGIN for a page you trust",
                    method,
                    String::from_utf8_lossy(site)
                ));
            }
        }
        match origin {
            Some(origin) if origin != format!("http://{}", host.to_ascii_lowercase()) => {
                Some(format!(
                    "a {method} request from a page of {origin:?} may not change the store (it is \
                     not this server's origin); start the server with --cors-origin {origin} to \
                     allow that page"
                ))
            }
            _ => None,
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

/// The host a request is addressed to (RFC 9112 §3.2): an absolute-form
/// target's authority (then `Host`, if any, must agree: one request names one
/// server), else the one `Host` header. Two `Host` headers are a 400: which
/// one a proxy in front used is anyone's guess.
fn request_host(request: &Request) -> Result<String, ApiError> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(ApiError::bad_request(
            "the request has more than one Host header (RFC 9112 §3.2: exactly one)",
        ));
    }
    let header = header
        .map(|h| {
            h.to_str()
                .map_err(|_| ApiError::bad_request("the Host header is not ASCII"))
        })
        .transpose()?;
    match (request.uri().authority(), header) {
        (Some(target), Some(host)) if !target.as_str().eq_ignore_ascii_case(host) => {
            Err(ApiError::bad_request(format!(
                "the request target names {:?} but its Host header names {host:?}",
                target.as_str()
            )))
        }
        (Some(target), _) => Ok(target.as_str().to_string()),
        (None, Some(host)) => Ok(host.to_string()),
        (None, None) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "the request has no Host header",
        )),
    }
}

/// Refuses a request whose `Host` is not ours (403; two `Host` headers are a
/// 400), a cross-site request that could change the store (403), and, with a
/// token set, an API request without `Authorization: Bearer TOKEN` (401).
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let host = match request_host(&request) {
        Ok(host) => host,
        Err(refusal) => return refusal.into_response(),
    };
    if !guard.host_allowed(&host) {
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
    if let Some(refusal) = guard.cross_site(
        request.method(),
        &host,
        request
            .headers()
            .get(header::HeaderName::from_static("sec-fetch-site"))
            .map(|v| v.as_bytes()),
        request.headers().get(header::ORIGIN).map(|v| v.as_bytes()),
    ) {
        return ApiError::new(StatusCode::FORBIDDEN, "cross_origin", refusal).into_response();
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
            &[],
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
        let g = Guard::new("127.0.0.1:1".parse().unwrap(), &[], Some("s3cret"), &[]);
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
        let open = Guard::new("127.0.0.1:1".parse().unwrap(), &[], None, &[]);
        assert!(open.token_ok(None));
    }

    #[test]
    fn cross_site_state_changes_are_refused_and_everything_else_passes() {
        let g = Guard::new(
            "127.0.0.1:7878".parse().unwrap(),
            &[],
            None,
            &["http://localhost:3000".into()],
        );
        let host = "127.0.0.1:7878";
        let check = |method: Method, site: Option<&str>, origin: Option<&str>| {
            g.cross_site(
                &method,
                host,
                site.map(str::as_bytes),
                origin.map(str::as_bytes),
            )
        };
        // Non-browser clients send neither header; reads are always fine.
        assert!(check(Method::POST, None, None).is_none());
        assert!(check(Method::GET, Some("cross-site"), Some("http://evil.example")).is_none());
        // The UI's own requests.
        assert!(check(
            Method::POST,
            Some("same-origin"),
            Some("http://127.0.0.1:7878")
        )
        .is_none());
        assert!(check(Method::PUT, Some("none"), None).is_none());
        assert!(check(Method::DELETE, None, Some("HTTP://127.0.0.1:7878")).is_none());
        // A page the user trusted with --cors-origin.
        assert!(check(
            Method::POST,
            Some("cross-site"),
            Some("http://localhost:3000")
        )
        .is_none());
        for (site, origin) in [
            (Some("cross-site"), None),
            (Some("same-site"), None),
            (Some("cross-site"), Some("http://evil.example")),
            (None, Some("http://evil.example")),
            (None, Some("null")),
            (None, Some("http://127.0.0.1:7879")),
            (Some("same-origin"), Some("http://evil.example")),
        ] {
            for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                assert!(
                    check(method.clone(), site, origin).is_some(),
                    "{method} {site:?} {origin:?}"
                );
            }
        }
    }
}
