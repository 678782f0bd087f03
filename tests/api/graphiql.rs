//! GraphiQL served by leadgraph itself: the page, its content-addressed
//! assets (the pinned npm builds, no CDN), the Content-Security-Policy, and
//! `LEADGRAPH_GRAPHIQL=false`.

use crate::helpers::TestApp;
use leadgraph::graphql::graphiql::{SHA256SUMS, sha256_hex};
use reqwest::Response;

async fn page(app: &TestApp) -> Response {
    app.client
        .get(&app.url)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("request")
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The `/graphiql/assets/…` paths the page names, in order.
fn asset_paths(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|part| part.starts_with("/graphiql/assets/"))
        .map(str::to_owned)
        .collect()
}

fn assert_no_external_url(what: &str, text: &str) {
    for scheme in ["http://", "https://", "//unpkg", "//cdn"] {
        assert!(!text.contains(scheme), "{what} names an URL ({scheme})");
    }
}

#[tokio::test]
async fn the_page_loads_only_from_this_origin() {
    let app = TestApp::spawn().await;
    let response = page(&app).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(header(&response, "content-type").starts_with("text/html"));
    assert_eq!(header(&response, "cache-control"), "no-cache");
    let csp = header(&response, "content-security-policy").to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} not in {csp}");
    }
    let host = app.addr.to_string();
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{host} wss://{host};")),
        "{csp}"
    );
    let html = response.text().await.expect("text");
    assert_no_external_url("the page", &html);
    assert!(html.contains(r#"<input id="leadgraph-token""#));
    // No inline script: every <script> has a src (the CSP would block it).
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/graphiql/assets/").count()
    );
    let paths = asset_paths(&html);
    assert_eq!(paths.len(), 7, "{paths:?}");
    let bootstrap = paths
        .iter()
        .find(|p| p.contains("/leadgraph-graphiql-") && p.ends_with(".js"))
        .expect("the bootstrap script");
    let bootstrap = app
        .client
        .get(format!("http://{}{bootstrap}", app.addr))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert_no_external_url("the bootstrap script", &bootstrap);
    assert!(bootstrap.contains("'leadgraph.token'"));
    assert!(bootstrap.contains("sessionStorage"));
    assert!(bootstrap.contains("'/graphql/ws'"));
}

#[tokio::test]
async fn assets_are_immutable_content_addressed_and_typed() {
    let app = TestApp::spawn().await;
    let html = page(&app).await.text().await.expect("text");
    let mut npm_files = 0;
    for path in asset_paths(&html) {
        let response = app
            .client
            .get(format!("http://{}{path}", app.addr))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let expected = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            assert!(path.ends_with(".css"), "{path}");
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&response, "content-type"), expected, "{path}");
        let bytes = response.bytes().await.expect("body");
        let hash = sha256_hex(&bytes);
        // The name carries the first digits of the content's SHA-256.
        let (stem, _) = path.rsplit_once('.').expect("an extension");
        let (_, short) = stem.rsplit_once('-').expect("a hash");
        assert!(hash.starts_with(short), "{path}: {hash}");
        // The npm builds are byte for byte those SHA256SUMS records.
        if let Some(line) = SHA256SUMS.lines().find(|l| l.starts_with(&hash)) {
            npm_files += 1;
            assert!(line.len() > hash.len(), "{line}");
        }
    }
    assert_eq!(npm_files, SHA256SUMS.lines().count());
    let response = app
        .client
        .get(format!(
            "http://{}/graphiql/assets/graphiql.min-0000000000.js",
            app.addr
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn without_html_in_accept_get_is_still_graphql_over_http() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(&app.url)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert!(header(&response, "content-type").starts_with("application/json"));
    assert!(response.headers().get("content-security-policy").is_none());
    // A browser asking for a query gets the query's answer, not the page.
    let sales = app.tokens().sales;
    let response = app
        .client
        .get(&app.url)
        .bearer_auth(&sales)
        .header("accept", "text/html, application/json")
        .query(&[("query", "{ me { subject } }")])
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["data"]["me"]["subject"], "sam@example.com");
}

#[tokio::test]
async fn off_page_and_assets_are_404() {
    let on = TestApp::spawn().await;
    let paths = asset_paths(&page(&on).await.text().await.expect("text"));
    let app = TestApp::spawn_with(|c| c.graphiql = false).await;
    let response = page(&app).await;
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    for path in paths {
        let response = app
            .client
            .get(format!("http://{}{path}", app.addr))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    // The API itself is unchanged.
    let sales = app.tokens().sales;
    let response = app
        .client
        .get(&app.url)
        .bearer_auth(&sales)
        .query(&[("query", "{ me { subject } }")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
}
