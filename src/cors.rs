//! Cross-origin requests (CORS) to `/graphql` and the CSV exports
//! (`/export/leads.csv`, `/export/kpis.csv`), for browser apps served from
//! another origin (a dev server on `http://localhost:5173`, say).
//!
//! Off unless `LEADGRAPH_CORS_ORIGINS` is set: then no CORS header at all,
//! and browsers let only same-origin pages read answers. Set, it is a
//! comma-separated list of exact origins (`scheme://host[:port]`), or `*`
//! for any origin. Credentials (cookies) are never allowed: tokens travel in
//! the `Authorization` header, which a page must set itself, so a foreign
//! page cannot borrow a visitor's session; and the CSRF rules of the
//! handler (415 for non-JSON POSTs, no mutation over GET) hold whatever the
//! origin.
//!
//! The WebSocket `Origin` check (`graphql/ws.rs`) uses `LEADGRAPH_ALLOWED_ORIGINS`
//! when that is set, otherwise these origins (`websocket_origins`).

use crate::config::Config;
use axum::http::{HeaderName, HeaderValue, Method, header};
use std::fmt;
use tower_http::cors::{AllowOrigin, CorsLayer};

const SETTING: &str = "LEADGRAPH_CORS_ORIGINS";

/// `LEADGRAPH_CORS_ORIGINS`, parsed.
#[derive(Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Unset or empty: no CORS.
    Off,
    /// `*`.
    Any,
    /// Exact origins, lower-cased, as browsers send them.
    List(Vec<String>),
}

impl fmt::Debug for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsOrigins::Off => f.write_str("off"),
            CorsOrigins::Any => f.write_str("*"),
            CorsOrigins::List(list) => f.write_str(&list.join(",")),
        }
    }
}

/// Request headers a cross-origin page may send: the ones leadgraph reads,
/// and those of persisted-query clients (Apollo's among them).
const ALLOWED_HEADERS: [&str; 7] = [
    "content-type",
    "authorization",
    "x-request-id",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
];

/// Response headers a cross-origin page may read beside the safelisted ones.
/// `Content-Disposition` carries the file name of a CSV export.
const EXPOSED_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-request-id"),
    header::RETRY_AFTER,
    header::CONTENT_DISPOSITION,
];

/// The value parser of `LEADGRAPH_CORS_ORIGINS`.
pub fn parse_origins(value: &str) -> Result<CorsOrigins, String> {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(CorsOrigins::Off);
    }
    if items.contains(&"*") {
        if items.len() > 1 {
            return Err(format!(
                "{SETTING}: `*` (any origin) cannot be combined with origins"
            ));
        }
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::with_capacity(items.len());
    for item in items {
        let origin = parse_origin(item).map_err(|why| {
            format!("{SETTING}: `{item}` is not an origin (`scheme://host[:port]`): {why}")
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(CorsOrigins::List(origins))
}

/// One exact origin, lower-cased; a trailing `/` is dropped.
fn parse_origin(item: &str) -> Result<String, &'static str> {
    let lower = item.to_ascii_lowercase();
    let lower = lower.strip_suffix('/').unwrap_or(&lower);
    let (scheme, rest) = lower.split_once("://").ok_or("no `scheme://`")?;
    if scheme != "http" && scheme != "https" {
        return Err("the scheme is not http or https");
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err("an origin has no path, query, fragment or user");
    }
    let (host, port) = if rest.starts_with('[') {
        // An IPv6 address: `[::1]` or `[::1]:3000`.
        let end = rest.find(']').ok_or("an unclosed `[`")?;
        let (host, tail) = rest.split_at(end + 1);
        match tail {
            "" => (host, None),
            _ => (host, Some(tail.strip_prefix(':').ok_or("text after `]`")?)),
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err("the port is not a number from 0 to 65535");
    }
    let plain_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
    let ipv6 = host.len() > 2
        && host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b));
    if !plain_host && !ipv6 {
        return Err("the host is empty or has characters a host name cannot have");
    }
    Ok(lower.to_owned())
}

/// The CORS layer of the GraphQL and export routes, or `None` when CORS is off.
pub fn layer(config: &Config) -> Option<CorsLayer> {
    let allow_origin = match &config.cors_origins {
        CorsOrigins::Off => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(origins) => AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS)
            .max_age(config.cors_max_age),
    )
}

/// The origins that may open `/graphql/ws`: `LEADGRAPH_ALLOWED_ORIGINS` when
/// set, otherwise the CORS origins; empty (any origin) when neither is set.
pub fn websocket_origins(config: &Config) -> Vec<String> {
    if config.allowed_origins.iter().any(|o| !o.trim().is_empty()) {
        return config.allowed_origins.clone();
    }
    match &config.cors_origins {
        CorsOrigins::Off | CorsOrigins::Any => Vec::new(),
        CorsOrigins::List(origins) => origins.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn list(origins: &[&str]) -> CorsOrigins {
        CorsOrigins::List(origins.iter().map(|o| (*o).to_owned()).collect())
    }

    #[test]
    fn origins_parse_to_their_browser_form() {
        assert_eq!(parse_origins(""), Ok(CorsOrigins::Off));
        assert_eq!(parse_origins(" , "), Ok(CorsOrigins::Off));
        assert_eq!(parse_origins("*"), Ok(CorsOrigins::Any));
        assert_eq!(parse_origins(" * "), Ok(CorsOrigins::Any));
        assert_eq!(
            parse_origins(
                "http://localhost:5173, HTTPS://App.Example.com/,http://[::1]:3000,http://[::1]"
            ),
            Ok(list(&[
                "http://localhost:5173",
                "https://app.example.com",
                "http://[::1]:3000",
                "http://[::1]",
            ]))
        );
        assert_eq!(
            parse_origins("http://a.example,http://a.example"),
            Ok(list(&["http://a.example"]))
        );
    }

    #[test]
    fn a_bad_origin_names_the_setting_and_the_value() {
        for bad in [
            "localhost:5173",
            "ftp://a.example",
            "https://a.example/app",
            "https://a.example?x=1",
            "https://user@a.example",
            "https://a.example:99999",
            "https://a.example:",
            "https://a.example:80x",
            "https://",
            "https://a b.example",
            "*,https://a.example",
        ] {
            let err = parse_origins(bad).expect_err(bad);
            assert!(err.starts_with("LEADGRAPH_CORS_ORIGINS: "), "{err}");
        }
        let err = parse_origins("https://a.example/app").expect_err("path");
        assert!(err.contains("`https://a.example/app`"), "{err}");
    }

    #[test]
    fn websocket_origins_fall_back_to_the_cors_origins() {
        let mut config = Config::defaults();
        assert!(websocket_origins(&config).is_empty());
        config.cors_origins = list(&["http://localhost:5173"]);
        assert_eq!(websocket_origins(&config), ["http://localhost:5173"]);
        config.allowed_origins = vec!["https://ws.example".to_owned()];
        assert_eq!(websocket_origins(&config), ["https://ws.example"]);
        config.allowed_origins.clear();
        config.cors_origins = CorsOrigins::Any;
        assert!(websocket_origins(&config).is_empty());
    }

    #[test]
    fn off_by_default() {
        let config = Config::defaults();
        assert_eq!(config.cors_origins, CorsOrigins::Off);
        assert!(layer(&config).is_none());
    }
}
