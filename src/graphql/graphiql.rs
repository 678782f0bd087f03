//! GraphiQL, served by leadgraph itself: no CDN, so it works offline, behind
//! a proxy and under a strict Content-Security-Policy.
//!
//! The browser builds (GraphiQL, React and ReactDOM production builds,
//! graphql-ws) come from the npm packages pinned in
//! `assets/graphiql/package-lock.json`, copied into `assets/graphiql/dist/`
//! by `assets/graphiql/update.sh`, which records their SHA-256 in
//! `assets/graphiql/SHA256SUMS`; they are embedded in the binary. The page's
//! own script and style are `assets/graphiql/src/`.
//!
//! `GET /graphql` with `Accept: text/html` and no `query` is the page
//! (`Cache-Control: no-cache`, a CSP allowing only this origin); each asset
//! is at `/graphiql/assets/<name>-<first 10 hex digits of its SHA-256>.<ext>`
//! and cached for a year (`immutable`): a new build has new names.
//! `LEADGRAPH_GRAPHIQL=false` turns page and assets off (404).

use crate::app::AppState;
use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// An embedded file.
pub struct Asset {
    /// Its name in `assets/graphiql/dist/` (or `src/`).
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The files copied from npm packages, listed in `SHA256SUMS`.
pub const NPM_ASSETS: [Asset; 5] = [
    Asset {
        name: "graphiql.min.css",
        bytes: include_bytes!("../../assets/graphiql/dist/graphiql.min.css"),
        content_type: CSS,
    },
    Asset {
        name: "graphiql.min.js",
        bytes: include_bytes!("../../assets/graphiql/dist/graphiql.min.js"),
        content_type: JS,
    },
    Asset {
        name: "graphql-ws.min.js",
        bytes: include_bytes!("../../assets/graphiql/dist/graphql-ws.min.js"),
        content_type: JS,
    },
    Asset {
        name: "react-dom.production.min.js",
        bytes: include_bytes!("../../assets/graphiql/dist/react-dom.production.min.js"),
        content_type: JS,
    },
    Asset {
        name: "react.production.min.js",
        bytes: include_bytes!("../../assets/graphiql/dist/react.production.min.js"),
        content_type: JS,
    },
];

/// The page's own script and style.
const OWN_ASSETS: [Asset; 2] = [
    Asset {
        name: "leadgraph-graphiql.js",
        bytes: include_bytes!("../../assets/graphiql/src/leadgraph-graphiql.js"),
        content_type: JS,
    },
    Asset {
        name: "leadgraph-graphiql.css",
        bytes: include_bytes!("../../assets/graphiql/src/leadgraph-graphiql.css"),
        content_type: CSS,
    },
];

/// `SHA256SUMS` as `update.sh` wrote it.
pub const SHA256SUMS: &str = include_str!("../../assets/graphiql/SHA256SUMS");

/// Where the assets are served.
pub const ASSET_PREFIX: &str = "/graphiql/assets/";

/// An asset and the content-addressed name it is served under.
struct Served {
    asset: &'static Asset,
    file: String,
}

/// Every asset with its served name, hashed once.
static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    NPM_ASSETS
        .iter()
        .chain(OWN_ASSETS.iter())
        .map(|asset| Served {
            asset,
            file: served_name(asset.name, &sha256_hex(asset.bytes)),
        })
        .collect()
});

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `graphiql.min.js` with hash `abcdef0123…` → `graphiql.min-abcdef0123.js`.
fn served_name(name: &str, hash: &str) -> String {
    let short = &hash[..10];
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{short}.{ext}"),
        None => format!("{name}-{short}"),
    }
}

/// The URL path of the asset named `name`.
fn url(name: &str) -> String {
    SERVED
        .iter()
        .find(|s| s.asset.name == name)
        .map(|s| format!("{ASSET_PREFIX}{}", s.file))
        .unwrap_or_default()
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/graphiql/assets/{file}", get(asset))
}

async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    if !state.config.graphiql {
        return not_found();
    }
    let Some(served) = SERVED.iter().find(|s| s.file == file) else {
        return not_found();
    };
    (
        [
            (header::CONTENT_TYPE, served.asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        served.asset.bytes,
    )
        .into_response()
}

/// 404, as every error, with a code.
pub fn not_found() -> Response {
    let body = serde_json::json!({"errors": [{
        "message": "not found (GraphiQL and its assets are off when LEADGRAPH_GRAPHIQL=false)",
        "extensions": {"code": "NOT_FOUND"},
    }]});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// The GraphiQL page, or 404 when it is off.
pub fn page(state: &AppState, headers: &HeaderMap) -> Response {
    if !state.config.graphiql {
        return not_found();
    }
    let csp = content_security_policy(headers);
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Only this origin: scripts and styles are files served here (inline
/// styles are allowed because GraphiQL sets them; fonts and icons are
/// `data:` URLs in its CSS), and requests go to `/graphql` and
/// `/graphql/ws` — `ws:`/`wss:` on the request's host are named because
/// `'self'` covers them only in CSP Level 3 browsers.
fn content_security_policy(headers: &HeaderMap) -> String {
    let mut connect = String::from("'self'");
    if let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_host(h))
    {
        connect.push_str(&format!(" ws://{host} wss://{host}"));
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src {connect}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// A `Host` header safe to copy into the policy: host name or address
/// characters and a port, nothing that could end a directive.
fn is_host(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

fn html() -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>leadgraph · GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{graphiql_css}">
    <link rel="stylesheet" href="{own_css}">
  </head>
  <body>
    <div class="leadgraph-token-bar">
      <label for="leadgraph-token">Token</label>
      <input id="leadgraph-token" type="password" autocomplete="off" spellcheck="false"
        placeholder="paste a token (leadgraph token --role SALES --sub you@example.com)">
      <small>kept in this tab's session storage, sent as Authorization: Bearer; Enter reloads the schema</small>
    </div>
    <div id="graphiql">Loading…</div>
    <script src="{react}"></script>
    <script src="{react_dom}"></script>
    <script src="{graphql_ws}"></script>
    <script src="{graphiql_js}"></script>
    <script src="{own_js}"></script>
  </body>
</html>
"#,
        graphiql_css = url("graphiql.min.css"),
        own_css = url("leadgraph-graphiql.css"),
        react = url("react.production.min.js"),
        react_dom = url("react-dom.production.min.js"),
        graphql_ws = url("graphql-ws.min.js"),
        graphiql_js = url("graphiql.min.js"),
        own_js = url("leadgraph-graphiql.js"),
    )
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_npm_files_are_those_of_sha256sums() {
        let sums: Vec<(&str, &str)> = SHA256SUMS
            .lines()
            .map(|line| line.split_once("  ").expect("`<sha256>  <name>` lines"))
            .collect();
        assert_eq!(
            sums.len(),
            NPM_ASSETS.len(),
            "SHA256SUMS and NPM_ASSETS list different files"
        );
        for (hash, name) in sums {
            let asset = NPM_ASSETS
                .iter()
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("{name} of SHA256SUMS is not embedded"));
            assert_eq!(
                sha256_hex(asset.bytes),
                hash,
                "assets/graphiql/dist/{name} is not the file package-lock.json pins: \
                 run assets/graphiql/update.sh"
            );
        }
    }

    #[test]
    fn every_page_url_is_a_served_asset() {
        let page = html();
        for served in SERVED.iter() {
            assert!(page.contains(&format!("{ASSET_PREFIX}{}", served.file)));
        }
        assert!(!page.contains("src=\"\""), "an asset without a URL");
    }

    #[test]
    fn served_names_carry_the_hash() {
        assert_eq!(
            served_name("graphiql.min.js", "0123456789abcdef"),
            "graphiql.min-0123456789.js"
        );
    }

    #[test]
    fn only_plain_hosts_enter_the_policy() {
        assert!(is_host("127.0.0.1:8080"));
        assert!(is_host("[::1]:8080"));
        assert!(is_host("leads.example.com"));
        assert!(!is_host("evil; script-src *"));
        assert!(!is_host(""));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("a.example; x"));
        assert!(!content_security_policy(&headers).contains("a.example"));
        headers.insert(header::HOST, HeaderValue::from_static("a.example:81"));
        assert!(content_security_policy(&headers).contains("ws://a.example:81 wss://a.example:81"));
    }
}
