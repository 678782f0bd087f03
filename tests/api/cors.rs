//! CORS on `/graphql` (`LEADGRAPH_CORS_ORIGINS`), through real HTTP: off by
//! default, exact origins or `*`, preflights, and the CSRF rules unchanged.

use crate::helpers::TestApp;
use crate::subscriptions::{TRANSPORT, Ws};
use leadgraph::cors::parse_origins;
use reqwest::{Method, Response};
use serde_json::json;

const APP: &str = "http://localhost:5173";
const OTHER: &str = "https://evil.example";

async fn with_origins(origins: &str) -> TestApp {
    let origins = parse_origins(origins).expect("valid origins");
    TestApp::spawn_with(|c| c.cors_origins = origins).await
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Every value of the comma-separated header `name`, lower-cased.
fn list(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

fn has_cors_headers(response: &Response) -> bool {
    response
        .headers()
        .keys()
        .any(|name| name.as_str().starts_with("access-control-"))
}

async fn post_from(app: &TestApp, origin: &str, token: &str) -> Response {
    app.client
        .post(&app.url)
        .header("origin", origin)
        .bearer_auth(token)
        .json(&json!({"query": "{ me { subject } }"}))
        .send()
        .await
        .expect("request")
}

async fn preflight(app: &TestApp, origin: &str, headers: &str) -> Response {
    app.client
        .request(Method::OPTIONS, &app.url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn an_allowed_origin_gets_the_headers_and_another_none() {
    let app = with_origins(&format!("{APP}, https://admin.example.com")).await;
    let sales = app.tokens().sales;

    let response = post_from(&app, APP, &sales).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    assert!(list(&response, "vary").contains(&"origin".to_owned()));
    let exposed = list(&response, "access-control-expose-headers");
    assert!(exposed.contains(&"x-request-id".to_owned()), "{exposed:?}");
    assert!(exposed.contains(&"retry-after".to_owned()), "{exposed:?}");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["data"]["me"]["subject"], "sam@example.com");

    let response = post_from(&app, OTHER, &sales).await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    // The answer varies by Origin, so no cache hands one origin's to another.
    assert!(list(&response, "vary").contains(&"origin".to_owned()));

    // Error answers carry the headers too, so the page can read the code.
    let response = app
        .client
        .post(&app.url)
        .header("origin", APP)
        .json(&json!({"query": "{ me { subject } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn a_preflight_is_answered_for_an_allowed_origin_only() {
    let app = with_origins(APP).await;
    let requested = "content-type,authorization,x-request-id,apollographql-client-name,\
                     apollographql-client-version,apollo-require-preflight,x-apollo-operation-name";
    let response = preflight(&app, APP, requested).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    let methods = list(&response, "access-control-allow-methods");
    assert!(methods.contains(&"post".to_owned()), "{methods:?}");
    assert!(methods.contains(&"get".to_owned()), "{methods:?}");
    let allowed = list(&response, "access-control-allow-headers");
    for name in requested.split(',') {
        assert!(
            allowed.contains(&name.to_owned()),
            "{name} not in {allowed:?}"
        );
    }
    assert_eq!(header(&response, "access-control-max-age"), Some("600"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    assert!(list(&response, "vary").contains(&"origin".to_owned()));

    // Another origin: no Access-Control-Allow-Origin, so the browser stops.
    let response = preflight(&app, OTHER, "content-type,authorization").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn the_max_age_is_configurable() {
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = parse_origins(APP).expect("valid");
        c.cors_max_age = std::time::Duration::from_secs(60);
    })
    .await;
    let response = preflight(&app, APP, "content-type").await;
    assert_eq!(header(&response, "access-control-max-age"), Some("60"));
}

#[tokio::test]
async fn off_by_default_no_cors_header_at_all() {
    let app = TestApp::spawn().await;
    let sales = app.tokens().sales;
    let response = post_from(&app, APP, &sales).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(!has_cors_headers(&response), "{:?}", response.headers());
    let response = preflight(&app, APP, "content-type,authorization").await;
    assert_eq!(response.status().as_u16(), 405);
    assert!(!has_cors_headers(&response), "{:?}", response.headers());
}

#[tokio::test]
async fn any_origin_with_a_star_and_never_credentials() {
    let app = with_origins("*").await;
    let sales = app.tokens().sales;
    let response = post_from(&app, OTHER, &sales).await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    let response = preflight(&app, OTHER, "content-type,authorization").await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn only_the_graphql_routes_answer_cors() {
    let app = with_origins(APP).await;
    let response = app
        .client
        .get(format!("http://{}/healthz", app.addr))
        .header("origin", APP)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(!has_cors_headers(&response), "{:?}", response.headers());
}

#[tokio::test]
async fn with_cors_on_the_csrf_rules_still_hold() {
    let app = with_origins(APP).await;
    let admin = app.tokens().admin;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .client
            .post(&app.url)
            .header("origin", APP)
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(r#"{"query":"mutation { createLead(input: {email: \"csrf@example.com\"}) { id } }"}"#)
            .send()
            .await
            .expect("request");
        // multipart/form-data is read as an upload (the GraphQL multipart
        // request spec): this body is no such form, so 400; a cross-site
        // form could not send the bearer token anyway.
        let expected = if content_type.starts_with("multipart/") {
            400
        } else {
            415
        };
        assert_eq!(response.status().as_u16(), expected, "{content_type}");
    }
    let response = app
        .client
        .get(&app.url)
        .header("origin", APP)
        .bearer_auth(&admin)
        .query(&[(
            "query",
            r#"mutation { createLead(input: {email: "get@example.com"}) { id } }"#,
        )])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(header(&response, "allow"), Some("POST"));
    let leads = app.ok(&admin, "{ leads { totalCount } }", json!({})).await;
    assert_eq!(leads["leads"]["totalCount"], 0, "a mutation ran");
}

#[tokio::test]
async fn the_websocket_allows_the_cors_origins_unless_allowed_origins_is_set() {
    let app = with_origins(APP).await;
    let sales = app.tokens().sales;
    assert!(
        Ws::open(&app, Some(TRANSPORT), Some(OTHER)).await.is_err(),
        "a foreign origin opened a WebSocket"
    );
    let mut ws = Ws::open(&app, Some(TRANSPORT), Some(APP))
        .await
        .expect("a CORS origin opens a WebSocket");
    ws.init(&sales).await;
    // A page of the server itself (GraphiQL) always may.
    let own = format!("http://{}", app.addr);
    let mut ws = Ws::open(&app, Some(TRANSPORT), Some(&own))
        .await
        .expect("the server's own origin opens a WebSocket");
    ws.init(&sales).await;

    // LEADGRAPH_ALLOWED_ORIGINS, when set, decides with the server's own.
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = parse_origins(APP).expect("valid");
        c.allowed_origins = vec!["https://ws.example".into()];
    })
    .await;
    let sales = app.tokens().sales;
    assert!(Ws::open(&app, Some(TRANSPORT), Some(APP)).await.is_err());
    let mut ws = Ws::open(&app, Some(TRANSPORT), Some("https://ws.example"))
        .await
        .expect("allowed origin");
    ws.init(&sales).await;
}

#[tokio::test]
async fn a_bad_origin_setting_stops_the_server_naming_it() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"))
        .arg("serve")
        .env("LEADGRAPH_CORS_ORIGINS", "http://localhost:5173/app")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("LEADGRAPH_ADDR", "127.0.0.1:0")
        .output()
        .await
        .expect("the command runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LEADGRAPH_CORS_ORIGINS"), "{stderr}");
    assert!(stderr.contains("http://localhost:5173/app"), "{stderr}");
}
