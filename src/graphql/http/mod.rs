//! GraphQL over HTTP, as the GraphQL-over-HTTP spec says (the stock
//! async-graphql-axum handler does not): media-type negotiation, 4xx for
//! request errors with `application/graphql-response+json`, queries only over
//! GET (405 otherwise), 415 for any POST that is not UTF-8
//! `application/json` or a `multipart/form-data` file upload (`upload.rs`:
//! the GraphQL multipart request spec, authenticated before it is read), 413
//! over 1 MiB (uploads: `LEADGRAPH_UPLOAD_MAX_BYTES`), bounded batches, subscriptions refused (they are served over
//! WebSocket), and every error — those of the HTTP layer included — with
//! `extensions.code`. A request may name a persisted operation instead of
//! sending its `query` (`graphql::persisted`; over GET, `extensions` is a
//! JSON query parameter).
//!
//! Conformance is checked in CI by the `graphql-http` server audits
//! (`.ci/audit.sh`).

mod negotiate;
mod request;
mod response;
mod upload;

pub use request::bearer;
pub use response::panic_response;

use crate::auth::Viewer;
use crate::graphql::execute::{Answer, Executor, Refusal};
use async_graphql::Value;
use async_graphql::parser::types::OperationType;
use axum::{
    Router,
    body::Body as HttpBody,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
    routing::get,
};
use negotiate::{Format, content_type_problem, negotiate, wants_html};
use request::{
    Operation, authenticate, get_parameters, operation_from_json, read_body, require_document,
};
use response::{
    Executed, auth_failure, body_rejected, finish, mutation_over_get, not_acceptable, rate_limited,
    respond_error,
};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub fn routes<S: Clone + Send + Sync + 'static>(exec: Executor) -> Router<S> {
    Router::new()
        .route(
            "/graphql",
            get(get_graphql).post(post_graphql).fallback(other_method),
        )
        .with_state(exec)
}

async fn post_graphql(State(g): State<Executor>, headers: HeaderMap, body: HttpBody) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let Some(format) = negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    if upload::is_multipart(&headers) {
        return post_multipart(g, headers, body, format, request_id).await;
    }
    let body = match read_body(&headers, body, g.state.config.body_timeout).await {
        Ok(body) => body,
        Err(problem) => return body_rejected(problem, format, &request_id),
    };
    if let Some(message) = content_type_problem(&headers) {
        return respond_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format,
            "BAD_USER_INPUT",
            message,
            &request_id,
        );
    }
    let viewer = match authenticate(&g.state, &headers).await {
        Ok(v) => v,
        Err(err) => return auth_failure(err, format, &request_id),
    };
    let bad_request = |message: &str| {
        respond_error(
            StatusCode::BAD_REQUEST,
            format,
            "BAD_USER_INPUT",
            message,
            &request_id,
        )
    };
    let parsed: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return bad_request("the body is not valid JSON"),
    };
    let (operations, batched) = match parsed {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > g.state.config.max_batch {
                let message = format!("a batch holds 1 to {} operations", g.state.config.max_batch);
                return respond_error(
                    StatusCode::BAD_REQUEST,
                    format,
                    "LIMIT_EXCEEDED",
                    &message,
                    &request_id,
                );
            }
            (items, true)
        }
        single => (vec![single], false),
    };
    let mut parsed_ops = Vec::with_capacity(operations.len());
    for value in operations {
        match operation_from_json(value) {
            Ok(op) => parsed_ops.push(op),
            Err(message) => return bad_request(&message),
        }
    }
    if let Err(limited) = g.rate_check(&viewer.subject, parsed_ops.len()) {
        return rate_limited(limited, format, &request_id);
    }
    let mut outputs = Vec::with_capacity(parsed_ops.len());
    for op in parsed_ops {
        match execute(&g, &viewer, op, Vec::new(), false, &request_id).await {
            Ok(executed) => outputs.push(executed),
            Err(MutationOverGet) => return mutation_over_get(format, &request_id),
        }
    }
    finish(
        outputs,
        batched,
        format,
        &request_id,
        g.max_response_bytes(),
    )
}

async fn get_graphql(
    State(g): State<Executor>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let params = match query {
        Ok(Query(pairs)) => get_parameters(pairs),
        Err(rejection) => Err(format!("malformed query string: {}", rejection.body_text())),
    };
    if wants_html(&headers)
        && params
            .as_ref()
            .is_ok_and(|p| !p.contains_key("query") && !p.contains_key("extensions"))
    {
        return crate::graphql::graphiql::page(&g.state, &headers);
    }
    let Some(format) = negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    let viewer = match authenticate(&g.state, &headers).await {
        Ok(v) => v,
        Err(err) => return auth_failure(err, format, &request_id),
    };
    let bad_request = |message: &str| {
        respond_error(
            StatusCode::BAD_REQUEST,
            format,
            "BAD_USER_INPUT",
            message,
            &request_id,
        )
    };
    let mut params = match params {
        Ok(params) => params,
        Err(message) => return bad_request(&message),
    };
    let variables = match params
        .get("variables")
        .map(|v| serde_json::from_str::<serde_json::Value>(v))
    {
        None | Some(Ok(serde_json::Value::Null)) => None,
        Some(Ok(v @ serde_json::Value::Object(_))) => Some(v),
        Some(_) => return bad_request("`variables` must be a JSON object"),
    };
    let extensions = match params
        .get("extensions")
        .map(|v| serde_json::from_str::<serde_json::Value>(v))
    {
        None | Some(Ok(serde_json::Value::Null)) => None,
        Some(Ok(e @ serde_json::Value::Object(_))) => Some(e),
        Some(_) => return bad_request("`extensions` must be a JSON object"),
    };
    let query = params.remove("query");
    if let Err(message) = require_document(query.as_ref(), extensions.as_ref()) {
        return bad_request(&message);
    }
    let op = Operation {
        query,
        variables,
        operation_name: params.remove("operationName"),
        extensions,
    };
    if let Err(limited) = g.rate_check(&viewer.subject, 1) {
        return rate_limited(limited, format, &request_id);
    }
    match execute(&g, &viewer, op, Vec::new(), true, &request_id).await {
        Ok(executed) => finish(
            vec![executed],
            false,
            format,
            &request_id,
            g.max_response_bytes(),
        ),
        Err(MutationOverGet) => mutation_over_get(format, &request_id),
    }
}

/// Any method but GET, HEAD and POST.
async fn other_method() -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = respond_error(
        StatusCode::METHOD_NOT_ALLOWED,
        Format::Json,
        "BAD_USER_INPUT",
        "/graphql answers GET (queries only) and POST",
        &request_id,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    response
}

/// A mutation sent with GET: 405.
struct MutationOverGet;

/// A `multipart/form-data` POST (`upload.rs`): authenticated before its
/// body is read, so no anonymous client makes the server spool a file.
async fn post_multipart(
    g: Executor,
    headers: HeaderMap,
    body: HttpBody,
    format: Format,
    request_id: String,
) -> Response {
    let viewer = match authenticate(&g.state, &headers).await {
        Ok(v) => v,
        Err(err) => return auth_failure(err, format, &request_id),
    };
    let config = &g.state.config;
    let read =
        upload::read_multipart(&headers, body, config.upload_max_bytes, config.body_timeout).await;
    let multipart = match read {
        Ok(multipart) => multipart,
        Err(problem) => return response::upload_rejected(problem, format, &request_id),
    };
    if let Err(limited) = g.rate_check(&viewer.subject, 1) {
        return rate_limited(limited, format, &request_id);
    }
    let executed = execute(
        &g,
        &viewer,
        multipart.operation,
        multipart.uploads,
        false,
        &request_id,
    )
    .await;
    match executed {
        Ok(executed) => finish(
            vec![executed],
            false,
            format,
            &request_id,
            g.max_response_bytes(),
        ),
        Err(MutationOverGet) => mutation_over_get(format, &request_id),
    }
}

async fn execute(
    g: &Executor,
    viewer: &Viewer,
    op: Operation,
    uploads: Vec<(String, async_graphql::UploadValue)>,
    over_get: bool,
    request_id: &str,
) -> Result<Executed, MutationOverGet> {
    let mut admitted = match g.admit_operation(
        op.query,
        op.extensions.as_ref(),
        op.variables,
        op.operation_name,
    ) {
        Ok(admitted) => admitted,
        Err(refusal) => return Ok(request_error(refusal)),
    };
    for (path, file) in uploads {
        admitted.request.set_upload(&path, file);
    }
    match admitted.operation {
        Some(OperationType::Mutation) if over_get => return Err(MutationOverGet),
        Some(OperationType::Subscription) => {
            let message = "subscriptions are served over WebSocket at /graphql/ws";
            return Ok(request_error(Refusal::BadInput(message.into())));
        }
        // An ambiguous or unknown operation fails validation, harmlessly.
        _ => {}
    }
    let response = match g.execute_planned(viewer, admitted, request_id).await {
        Answer::General(response) => response,
        Answer::Plan(data) => return Ok(Executed::Planned(data)),
    };
    let request_error = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    Ok(Executed::General {
        response: Box::new(response),
        request_error,
    })
}

fn request_error(refusal: Refusal) -> Executed {
    Executed::General {
        response: Box::new(async_graphql::Response::from_errors(vec![
            refusal.into_error(),
        ])),
        request_error: true,
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::super::execute::operation_type;
    use super::request::PARAMETERS;
    use super::*;
    use axum::body::Body as HttpBody;
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    fn content_type(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn negotiation_follows_accept() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Format::Json));
        assert_eq!(
            negotiate(&accept("application/graphql-response+json")),
            Some(Format::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("application/json")), Some(Format::Json));
        assert_eq!(
            negotiate(&accept(
                "application/json;q=0.9, application/graphql-response+json"
            )),
            Some(Format::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(Format::Json));
        assert_eq!(negotiate(&accept("text/plain")), None);
    }

    #[test]
    fn an_empty_accept_is_a_missing_one_and_every_accept_header_counts() {
        assert_eq!(negotiate(&accept("")), Some(Format::Json));
        assert_eq!(negotiate(&accept("  ")), Some(Format::Json));
        let mut h = accept("text/plain");
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/graphql-response+json"),
        );
        assert_eq!(negotiate(&h), Some(Format::GraphqlResponse));
        assert_eq!(
            negotiate(&accept("application/graphql-response+json;q=0")),
            None
        );
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn only_utf8_json_bodies_are_accepted() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=UTF-8",
            "application/json;charset=\"utf-8\"",
            "Application/JSON",
        ] {
            assert_eq!(content_type_problem(&content_type(ok)), None, "{ok}");
        }
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/graphql",
            "application/json; charset=utf-16",
            "application/json; charset=iso-8859-1",
            "not a media type",
        ] {
            assert!(
                content_type_problem(&content_type(refused)).is_some(),
                "{refused}"
            );
        }
        assert!(content_type_problem(&HeaderMap::new()).is_some());
    }

    #[test]
    fn get_parameters_are_unambiguous() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let params = get_parameters(pairs(&[
            ("query", "{ a }"),
            ("operationName", "A"),
            ("utm", "1"),
            ("utm", "2"),
        ]))
        .expect("valid");
        assert_eq!(params.get("query").map(String::as_str), Some("{ a }"));
        assert_eq!(params.get("operationName").map(String::as_str), Some("A"));
        assert!(!params.contains_key("utm"));
        for key in PARAMETERS {
            let err = get_parameters(pairs(&[(key, "{}"), (key, "{}")])).expect_err(key);
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn the_operation_type_is_that_of_the_selected_operation() {
        let ty = |query: &str, name: Option<&str>| {
            let doc = async_graphql::parser::parse_query(query).expect("parses");
            operation_type(&doc, name)
        };
        assert_eq!(ty("{ a }", None), Some(OperationType::Query));
        assert_eq!(ty("mutation { a }", None), Some(OperationType::Mutation));
        assert_eq!(
            ty("subscription S { a }", None),
            Some(OperationType::Subscription)
        );
        let two = "query Q { a } mutation M { a }";
        assert_eq!(ty(two, Some("M")), Some(OperationType::Mutation));
        assert_eq!(ty(two, Some("Q")), Some(OperationType::Query));
        assert_eq!(ty(two, Some("X")), None);
        assert_eq!(ty(two, None), None);
    }

    /// The `/graphql` routes on a fresh SQLite database, and an ADMIN token.
    struct Harness {
        router: Router,
        token: String,
        _dir: tempfile::TempDir,
    }

    async fn harness() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/http.db?mode=rwc", dir.path().display());
        let mut config = crate::config::Config::for_database(&url);
        config.jwt_secret = Some(crate::config::Secret(
            "http-unit-test-secret-http-unit-test-secret-0123".into(),
        ));
        config.db_pool = 2;
        let state = crate::app::build_state(config).await.expect("state");
        let token = state
            .keys
            .mint(
                "http@example.com",
                crate::auth::Role::Admin,
                600,
                None,
                None,
            )
            .expect("token");
        let schema = crate::app::schema(&state);
        Harness {
            router: routes(Executor::new(schema, state)),
            token,
            _dir: dir,
        }
    }

    impl Harness {
        async fn send(
            &self,
            request: Request<HttpBody>,
        ) -> (StatusCode, HeaderMap, serde_json::Value) {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            (status, headers, body)
        }

        fn post(
            &self,
            content_type: &str,
            accept: &str,
            body: impl Into<HttpBody>,
        ) -> Request<HttpBody> {
            Request::post("/graphql")
                .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ACCEPT, accept)
                .body(body.into())
                .expect("request")
        }

        fn get(&self, query_string: &str, accept: &str) -> Request<HttpBody> {
            Request::get(format!("/graphql?{query_string}"))
                .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
                .header(header::ACCEPT, accept)
                .body(HttpBody::empty())
                .expect("request")
        }
    }

    const GR: &str = "application/graphql-response+json";

    fn code(body: &serde_json::Value) -> &str {
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
    }

    fn content_type_of(headers: &HeaderMap) -> &str {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn a_body_over_one_mebibyte_is_a_413_graphql_error() {
        let h = harness().await;
        let big = format!(
            r#"{{"query": "{{ __typename }}", "variables": {{"x": "{}"}}}}"#,
            "a".repeat(MAX_BODY_BYTES)
        );
        for accept in [GR, "application/json"] {
            let (status, headers, body) = h
                .send(h.post("application/json", accept, big.clone()))
                .await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{accept}");
            assert!(content_type_of(&headers).starts_with(accept), "{accept}");
            assert_eq!(code(&body), "LIMIT_EXCEEDED");
            assert!(body.get("data").is_none());
        }
        // Just under the limit is read (and answered).
        let fits = format!(
            r#"{{"query": "{{ __typename }}", "extensions": {{"x": "{}"}}}}"#,
            "a".repeat(MAX_BODY_BYTES - 100)
        );
        assert!(fits.len() < MAX_BODY_BYTES);
        let (status, _, body) = h.send(h.post("application/json", GR, fits)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["__typename"], "Query");
    }

    #[tokio::test]
    async fn a_body_in_another_charset_or_media_type_is_415() {
        let h = harness().await;
        let query = r#"{"query": "{ __typename }"}"#;
        for content_type in ["application/json; charset=utf-16", "text/plain"] {
            let (status, _, body) = h.send(h.post(content_type, GR, query)).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
            assert_eq!(code(&body), "BAD_USER_INPUT");
        }
        let (status, _, _) = h
            .send(h.post("application/json; charset=utf-8", GR, query))
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn an_empty_accept_header_means_application_json() {
        let h = harness().await;
        let (status, headers, body) = h
            .send(h.post("application/json", "", r#"{"query": "{ __typename }"}"#))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type_of(&headers).starts_with("application/json"));
        assert_eq!(body["data"]["__typename"], "Query");
    }

    #[tokio::test]
    async fn subscriptions_are_refused_as_request_errors() {
        let h = harness().await;
        let (status, headers, body) = h
            .send(h.post(
                "application/json",
                GR,
                r#"{"query": "subscription { __typename }"}"#,
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(content_type_of(&headers).starts_with(GR));
        assert!(body.get("data").is_none());
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
        assert_eq!(code(&body), "BAD_USER_INPUT");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("/graphql/ws"))
        );
        // Over GET, with application/json: a request error is still a 200.
        let (status, _, body) = h
            .send(h.get(
                "query=subscription%20%7B%20__typename%20%7D",
                "application/json",
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("data").is_none());
        assert_eq!(code(&body), "BAD_USER_INPUT");
    }

    #[tokio::test]
    async fn a_mutation_over_get_is_still_405_allow_post() {
        let h = harness().await;
        let (status, headers, body) = h
            .send(h.get("query=mutation%20%7B%20__typename%20%7D", GR))
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            headers.get(header::ALLOW).map(|v| v.as_bytes()),
            Some(&b"POST"[..])
        );
        assert_eq!(code(&body), "BAD_USER_INPUT");
    }

    #[tokio::test]
    async fn a_get_parameter_given_twice_is_a_400() {
        let h = harness().await;
        let (status, _, body) = h
            .send(h.get("query=%7B__typename%7D&query=%7B__typename%7D", GR))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&body), "BAD_USER_INPUT");
        let (status, _, body) = h
            .send(h.get("query=%7B__typename%7D&utm=1&utm=2", GR))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["__typename"], "Query");
    }

    #[tokio::test]
    async fn other_methods_are_405_with_a_code() {
        let h = harness().await;
        for method in [Method::PUT, Method::DELETE, Method::PATCH] {
            let request = Request::builder()
                .method(method.clone())
                .uri("/graphql")
                .body(HttpBody::empty())
                .expect("request");
            let (status, headers, body) = h.send(request).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(
                headers.get(header::ALLOW).map(|v| v.as_bytes()),
                Some(&b"GET, HEAD, POST"[..])
            );
            assert_eq!(code(&body), "BAD_USER_INPUT");
        }
    }

    #[tokio::test]
    async fn without_a_token_every_request_is_401() {
        let h = harness().await;
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(HttpBody::from(
                r#"{"query": "subscription { __typename }"}"#,
            ))
            .expect("request");
        let (status, headers, body) = h.send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
}
