//! GraphQL over HTTP, as the GraphQL-over-HTTP spec says (the stock
//! async-graphql-axum handler does not): media-type negotiation, 4xx for
//! request errors with `application/graphql-response+json`, queries only over
//! GET (405 otherwise), 415 for any POST that is not UTF-8
//! `application/json` (so a cross-site "simple request" never executes), 413
//! over 1 MiB, bounded batches, subscriptions refused (they are served over
//! WebSocket), and every error — those of the HTTP layer included — with
//! `extensions.code`.
//!
//! Conformance is checked in CI by the `graphql-http` server audits
//! (`.ci/audit.sh`).

use super::execute::{Executor, RateLimited, Refusal};
use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;
use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Value};
use axum::{
    Router,
    body::{Body as HttpBody, Bytes},
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";
/// The parameters of a GraphQL-over-HTTP request; others are ignored.
const PARAMETERS: [&str; 4] = ["query", "variables", "operationName", "extensions"];

pub fn routes<S: Clone + Send + Sync + 'static>(exec: Executor) -> Router<S> {
    Router::new()
        .route(
            "/graphql",
            get(get_graphql).post(post_graphql).fallback(other_method),
        )
        .with_state(exec)
}

/// The media type a response is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `application/graphql-response+json`: request errors get 4xx.
    GraphqlResponse,
    /// `application/json`: every GraphQL response is 200.
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Format::Json => JSON,
        }
    }
}

/// Pick the response media type from `Accept` (every `Accept` header, a
/// missing or empty one meaning `application/json`); `None` → 406.
fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if accept.trim().is_empty() {
        return Some(Format::Json);
    }
    let mut best: Option<(f32, Format)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        let format = match media.as_str() {
            "application/graphql-response+json" => Format::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => Format::Json,
            _ => continue,
        };
        if q > 0.0
            && best.is_none_or(|(bq, bf)| {
                q > bq || (q == bq && bf == Format::Json && format == Format::GraphqlResponse)
            })
        {
            best = Some((q, format));
        }
    }
    best.map(|(_, f)| f)
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Why a POST body's `Content-Type` is refused (415), if it is.
fn content_type_problem(headers: &HeaderMap) -> Option<&'static str> {
    let not_json = "POST requests must have Content-Type: application/json";
    let Some(media) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return Some(not_json);
    };
    if media.type_() != mime::APPLICATION || media.subtype() != mime::JSON {
        return Some(not_json);
    }
    // The body is read as UTF-8 (the spec's default); another declared
    // charset would be misread.
    match media.get_param(mime::CHARSET) {
        Some(charset) if !charset.as_str().eq_ignore_ascii_case("utf-8") => {
            Some("the request body must be UTF-8 (Content-Type: application/json; charset=utf-8)")
        }
        _ => None,
    }
}

/// The GraphQL parameters of a GET query string; a parameter given twice is
/// ambiguous and refused.
fn get_parameters(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (key, value) in pairs {
        if !PARAMETERS.contains(&key.as_str()) {
            continue;
        }
        if params.contains_key(&key) {
            return Err(format!("`{key}` is given more than once"));
        }
        params.insert(key, value);
    }
    Ok(params)
}

fn error_json(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]})
}

fn respond(status: StatusCode, format: Format, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    response
}

fn respond_error(
    status: StatusCode,
    format: Format,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = serde_json::to_vec(&error_json(code, message)).unwrap_or_default();
    respond(status, format, body, request_id)
}

/// Authenticate the request: a valid bearer token, its user created on first sight.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Viewer, AppError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthenticated("missing Authorization: Bearer token".into()))?;
    let raw = raw
        .to_str()
        .map_err(|_| AppError::Unauthenticated("malformed Authorization header".into()))?;
    let token = bearer(raw).ok_or_else(|| {
        AppError::Unauthenticated("Authorization must be `Bearer <token>`".into())
    })?;
    crate::users::service::viewer_for_token(state, token).await
}

/// The token of a `Bearer …` value, scheme in any letter case.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// One operation of a request, as the client sent it.
struct Operation {
    query: String,
    variables: Option<serde_json::Value>,
    operation_name: Option<String>,
}

fn operation_from_json(value: serde_json::Value) -> Result<Operation, String> {
    let serde_json::Value::Object(mut map) = value else {
        return Err("the request body must be a JSON object".into());
    };
    let query = match map.remove("query") {
        Some(serde_json::Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("`query` is required".into()),
    };
    let variables = match map.remove("variables") {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v),
        Some(_) => return Err("`variables` must be an object".into()),
    };
    let operation_name = match map.remove("operationName") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err("`operationName` must be a string".into()),
    };
    match map.remove("extensions") {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object".into()),
    }
    Ok(Operation {
        query,
        variables,
        operation_name,
    })
}

/// Why a request body was not read.
#[derive(Debug, PartialEq, Eq)]
enum BodyProblem {
    TooLarge,
    TooSlow,
    Broken,
}

/// Read a body of at most [`MAX_BODY_BYTES`] within `timeout`.
async fn read_body(
    headers: &HeaderMap,
    body: HttpBody,
    timeout: std::time::Duration,
) -> Result<Bytes, BodyProblem> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyProblem::TooLarge);
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buffer = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| BodyProblem::Broken)?;
            if buffer.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(BodyProblem::TooLarge);
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buffer))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyProblem::TooSlow))
}

/// A body that could not be read: over the limit (413), too slow (408), or
/// broken.
fn body_rejected(problem: BodyProblem, format: Format, request_id: &str) -> Response {
    let (status, code, message) = match problem {
        BodyProblem::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "LIMIT_EXCEEDED",
            format!("the request body exceeds {MAX_BODY_BYTES} bytes (1 MiB)"),
        ),
        BodyProblem::TooSlow => (
            StatusCode::REQUEST_TIMEOUT,
            "LIMIT_EXCEEDED",
            "the request body was not received in time".to_owned(),
        ),
        BodyProblem::Broken => (
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "the request body could not be read".to_owned(),
        ),
    };
    let mut response = respond_error(status, format, code, &message, request_id);
    if problem != BodyProblem::Broken {
        // The rest of the body is not read: the connection cannot be reused.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Too many operations from one subject: 429 with `Retry-After`.
fn rate_limited(limited: RateLimited, format: Format, request_id: &str) -> Response {
    let seconds = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = respond_error(
        StatusCode::TOO_MANY_REQUESTS,
        format,
        "LIMIT_EXCEEDED",
        &format!("too many requests; retry in {seconds} s"),
        request_id,
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn post_graphql(State(g): State<Executor>, headers: HeaderMap, body: HttpBody) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let Some(format) = negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
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
        match execute(&g, &viewer, op, false, &request_id).await {
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
    if wants_html(&headers) && params.as_ref().is_ok_and(|p| !p.contains_key("query")) {
        return Html(
            async_graphql::http::GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        )
        .into_response();
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
    let Some(query) = params.remove("query") else {
        return bad_request("`query` is required");
    };
    let variables = match params
        .get("variables")
        .map(|v| serde_json::from_str::<serde_json::Value>(v))
    {
        None | Some(Ok(serde_json::Value::Null)) => None,
        Some(Ok(v @ serde_json::Value::Object(_))) => Some(v),
        Some(_) => return bad_request("`variables` must be a JSON object"),
    };
    if let Some(ext) = params.get("extensions")
        && !matches!(
            serde_json::from_str::<serde_json::Value>(ext),
            Ok(serde_json::Value::Object(_))
        )
    {
        return bad_request("`extensions` must be a JSON object");
    }
    let op = Operation {
        query,
        variables,
        operation_name: params.remove("operationName"),
    };
    if let Err(limited) = g.rate_check(&viewer.subject, 1) {
        return rate_limited(limited, format, &request_id);
    }
    match execute(&g, &viewer, op, true, &request_id).await {
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

fn not_acceptable(request_id: &str) -> Response {
    respond_error(
        StatusCode::NOT_ACCEPTABLE,
        Format::Json,
        "BAD_USER_INPUT",
        "unsupported Accept header: use application/graphql-response+json or application/json",
        request_id,
    )
}

fn mutation_over_get(format: Format, request_id: &str) -> Response {
    let mut response = respond_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format,
        "BAD_USER_INPUT",
        "only queries may be sent with GET; use POST",
        request_id,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn auth_failure(err: AppError, format: Format, request_id: &str) -> Response {
    match err {
        AppError::Unauthenticated(message) => {
            tracing::debug!(%message, "unauthenticated request");
            let mut response = respond_error(
                StatusCode::UNAUTHORIZED,
                format,
                "UNAUTHENTICATED",
                "a valid bearer token is required",
                request_id,
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        other => {
            let _span = tracing::error_span!("graphql", request_id).entered();
            tracing::error!(error = %other, "authentication failed");
            respond_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format,
                "INTERNAL_SERVER_ERROR",
                &format!("internal error (request id {request_id})"),
                request_id,
            )
        }
    }
}

/// One operation, executed or refused before execution.
struct Executed {
    response: async_graphql::Response,
    /// A request error (never executed): no `data`, and 4xx with
    /// `application/graphql-response+json`.
    request_error: bool,
}

/// A mutation sent with GET: 405.
struct MutationOverGet;

async fn execute(
    g: &Executor,
    viewer: &Viewer,
    op: Operation,
    over_get: bool,
    request_id: &str,
) -> Result<Executed, MutationOverGet> {
    let admitted = match g.admit(op.query, op.variables, op.operation_name) {
        Ok(admitted) => admitted,
        Err(refusal) => return Ok(request_error(refusal)),
    };
    match admitted.operation {
        Some(OperationType::Mutation) if over_get => return Err(MutationOverGet),
        Some(OperationType::Subscription) => {
            let message = "subscriptions are served over WebSocket at /graphql/ws";
            return Ok(request_error(Refusal::BadInput(message.into())));
        }
        // An ambiguous or unknown operation fails validation, harmlessly.
        _ => {}
    }
    let response = g.execute(viewer, admitted, request_id).await;
    let request_error = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    Ok(Executed {
        response,
        request_error,
    })
}

fn request_error(refusal: Refusal) -> Executed {
    Executed {
        response: async_graphql::Response::from_errors(vec![refusal.into_error()]),
        request_error: true,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
}

fn finish(
    outputs: Vec<Executed>,
    batched: bool,
    format: Format,
    request_id: &str,
    max_bytes: usize,
) -> Response {
    let any_request_error = outputs.iter().any(|o| o.request_error);
    let bodies: Vec<Body> = outputs
        .iter()
        .map(|o| Body {
            data: (!o.request_error).then_some(&o.response.data),
            errors: &o.response.errors,
        })
        .collect();
    let bytes = match (batched, bodies.as_slice()) {
        (false, [single]) => serde_json::to_vec(single),
        _ => serde_json::to_vec(&bodies),
    };
    let status = if format == Format::GraphqlResponse && any_request_error && !batched {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match bytes {
        Ok(bytes) if bytes.len() > max_bytes => {
            let error = super::execute::response_too_large(max_bytes);
            let one = serde_json::json!({"errors": [error]});
            let body = if batched {
                serde_json::Value::Array(vec![one; outputs.len()])
            } else {
                one
            };
            respond(
                StatusCode::OK,
                format,
                serde_json::to_vec(&body).unwrap_or_default(),
                request_id,
            )
        }
        Ok(bytes) => respond(status, format, bytes, request_id),
        Err(err) => {
            tracing::error!(error = %err, request_id, "serializing a response failed");
            respond_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format,
                "INTERNAL_SERVER_ERROR",
                "internal error",
                request_id,
            )
        }
    }
}

/// A panic outside an operation (operations catch their own) becomes a 500
/// with a code and a request id instead of a dropped connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::error!(
        request_id,
        panic = super::execute::panic_message(&panic),
        "a request handler panicked"
    );
    let body = serde_json::json!({"errors": [{
        "message": format!("internal error (request id {request_id})"),
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }]});
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        Format::Json,
        serde_json::to_vec(&body).unwrap_or_default(),
        &request_id,
    )
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::super::execute::operation_type;
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
