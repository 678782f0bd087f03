//! GraphQL over HTTP, as the GraphQL-over-HTTP spec says (the stock
//! async-graphql-axum handler does not): media-type negotiation, 4xx for
//! request errors with `application/graphql-response+json`, queries only over
//! GET (405 otherwise), 415 for any POST that is not `application/json` (so a
//! cross-site "simple request" never executes), 413 over 1 MiB, bounded
//! batches, and every error with `extensions.code`.

use super::AppSchema;
use crate::app::{AppState, Loaders};
use crate::auth::Viewer;
use crate::error::AppError;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ServerError, Value, Variables};
use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;
use tracing::Instrument;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

#[derive(Clone)]
pub struct GraphqlHttp {
    pub schema: AppSchema,
    pub state: AppState,
}

pub fn routes<S: Clone + Send + Sync + 'static>(graphql: GraphqlHttp) -> Router<S> {
    Router::new()
        .route("/graphql", get(get_graphql).post(post_graphql))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(graphql)
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

/// Pick the response media type from `Accept`; `None` → 406.
fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Format::Json);
    };
    let mut best: Option<(f32, Format)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        let format = match media.as_str() {
            "application/graphql-response+json" => Format::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => Format::Json,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, bf)| q > bq || (q == bq && bf == Format::Json && format == Format::GraphqlResponse)) {
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

fn error_json(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]})
}

fn respond(status: StatusCode, format: Format, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    response
}

fn respond_error(status: StatusCode, format: Format, code: &str, message: &str, request_id: &str) -> Response {
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
    let token = bearer(raw).ok_or_else(|| AppError::Unauthenticated("Authorization must be `Bearer <token>`".into()))?;
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

/// Why a request never reached execution.
enum Rejection {
    Status(StatusCode, &'static str, String),
}

fn operation_from_json(value: serde_json::Value) -> Result<Operation, Rejection> {
    let bad = |m: &str| Rejection::Status(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", m.to_owned());
    let serde_json::Value::Object(mut map) = value else {
        return Err(bad("the request body must be a JSON object"));
    };
    let query = match map.remove("query") {
        Some(serde_json::Value::String(q)) => q,
        Some(_) => return Err(bad("`query` must be a string")),
        None => return Err(bad("`query` is required")),
    };
    let variables = match map.remove("variables") {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v),
        Some(_) => return Err(bad("`variables` must be an object")),
    };
    let operation_name = match map.remove("operationName") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(bad("`operationName` must be a string")),
    };
    match map.remove("extensions") {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Object(_)) => {}
        Some(_) => return Err(bad("`extensions` must be an object")),
    }
    Ok(Operation { query, variables, operation_name })
}

async fn post_graphql(State(g): State<GraphqlHttp>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let Some(format) = negotiate(&headers) else {
        return respond_error(StatusCode::NOT_ACCEPTABLE, Format::Json, "BAD_USER_INPUT", "unsupported Accept header", &request_id);
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::JSON);
    if !is_json {
        return respond_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format,
            "BAD_USER_INPUT",
            "POST requests must have Content-Type: application/json",
            &request_id,
        );
    }
    let viewer = match authenticate(&g.state, &headers).await {
        Ok(v) => v,
        Err(err) => return auth_failure(err, format, &request_id),
    };
    let parsed: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return respond_error(StatusCode::BAD_REQUEST, format, "BAD_USER_INPUT", "the body is not valid JSON", &request_id);
        }
    };
    let (operations, batched) = match parsed {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > g.state.config.max_batch {
                let message = format!("a batch holds 1 to {} operations", g.state.config.max_batch);
                return respond_error(StatusCode::BAD_REQUEST, format, "LIMIT_EXCEEDED", &message, &request_id);
            }
            (items, true)
        }
        single => (vec![single], false),
    };
    let mut parsed_ops = Vec::with_capacity(operations.len());
    for value in operations {
        match operation_from_json(value) {
            Ok(op) => parsed_ops.push(op),
            Err(Rejection::Status(status, code, message)) => {
                return respond_error(status, format, code, &message, &request_id);
            }
        }
    }
    let mut outputs = Vec::with_capacity(parsed_ops.len());
    for op in parsed_ops {
        outputs.push(execute(&g, &viewer, op, false, &request_id).await);
    }
    finish(outputs, batched, format, &request_id)
}

async fn get_graphql(
    State(g): State<GraphqlHttp>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    if !params.contains_key("query") && wants_html(&headers) {
        return Html(
            async_graphql::http::GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        )
        .into_response();
    }
    let Some(format) = negotiate(&headers) else {
        return respond_error(StatusCode::NOT_ACCEPTABLE, Format::Json, "BAD_USER_INPUT", "unsupported Accept header", &request_id);
    };
    let viewer = match authenticate(&g.state, &headers).await {
        Ok(v) => v,
        Err(err) => return auth_failure(err, format, &request_id),
    };
    let Some(query) = params.get("query").cloned() else {
        return respond_error(StatusCode::BAD_REQUEST, format, "BAD_USER_INPUT", "`query` is required", &request_id);
    };
    let variables = match params.get("variables").map(|v| serde_json::from_str::<serde_json::Value>(v)) {
        None => None,
        Some(Ok(serde_json::Value::Null)) => None,
        Some(Ok(v @ serde_json::Value::Object(_))) => Some(v),
        Some(_) => {
            return respond_error(StatusCode::BAD_REQUEST, format, "BAD_USER_INPUT", "`variables` must be a JSON object", &request_id);
        }
    };
    if let Some(ext) = params.get("extensions") {
        if !matches!(serde_json::from_str::<serde_json::Value>(ext), Ok(serde_json::Value::Object(_))) {
            return respond_error(StatusCode::BAD_REQUEST, format, "BAD_USER_INPUT", "`extensions` must be a JSON object", &request_id);
        }
    }
    let op = Operation { query, variables, operation_name: params.get("operationName").cloned() };
    let output = execute(&g, &viewer, op, true, &request_id).await;
    if let Output::NotAllowedOverGet = output {
        let mut response = respond_error(
            StatusCode::METHOD_NOT_ALLOWED,
            format,
            "BAD_USER_INPUT",
            "only queries may be sent with GET; use POST",
            &request_id,
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    finish(vec![output], false, format, &request_id)
}

fn auth_failure(err: AppError, format: Format, request_id: &str) -> Response {
    match err {
        AppError::Unauthenticated(message) => {
            tracing::debug!(%message, "unauthenticated request");
            let mut response =
                respond_error(StatusCode::UNAUTHORIZED, format, "UNAUTHENTICATED", "a valid bearer token is required", request_id);
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

/// The outcome of one operation.
enum Output {
    /// Executed (or failed validation): the response, and whether it is a
    /// request error (never executed).
    Done { response: async_graphql::Response, request_error: bool },
    NotAllowedOverGet,
}

async fn execute(g: &GraphqlHttp, viewer: &Viewer, op: Operation, over_get: bool, request_id: &str) -> Output {
    let span = tracing::info_span!("graphql", request_id, subject = %viewer.subject);
    let started = Instant::now();
    let mut request = async_graphql::Request::new(op.query);
    if let Some(vars) = op.variables {
        request = request.variables(Variables::from_json(vars));
    }
    if let Some(name) = &op.operation_name {
        request = request.operation_name(name.clone());
    }
    let document = match request.parsed_query() {
        Ok(doc) => doc,
        Err(err) => return request_error(err, "BAD_USER_INPUT"),
    };
    if over_get && !is_query(document, op.operation_name.as_deref()) {
        return Output::NotAllowedOverGet;
    }
    let fields = count_fields(document);
    if fields > g.state.config.max_complexity {
        let message = format!("the query selects {fields} fields; at most {} are allowed", g.state.config.max_complexity);
        return request_error(ServerError::new(message, None), "LIMIT_EXCEEDED");
    }
    let request = request
        .data(viewer.clone())
        .data(Loaders::new(&g.state, viewer));
    let mut response = g.schema.execute(request).instrument(span).await;
    let request_error = response.data == Value::Null && !response.errors.is_empty() && response.errors.iter().all(|e| e.path.is_empty());
    for error in &mut response.errors {
        classify(error, request_id);
    }
    let kind = if request_error { "rejected" } else if response.errors.is_empty() { "ok" } else { "error" };
    metrics::counter!("leadgraph_graphql_requests_total", "outcome" => kind).increment(1);
    metrics::histogram!("leadgraph_graphql_request_seconds").record(started.elapsed().as_secs_f64());
    Output::Done { response, request_error }
}

fn request_error(mut err: ServerError, code: &str) -> Output {
    err.extensions.get_or_insert_with(Default::default).set("code", code);
    Output::Done { response: async_graphql::Response::from_errors(vec![err]), request_error: true }
}

/// Give every error a code: ours already have one; async-graphql's own are
/// limits or bad input. Internal errors carry the request id.
fn classify(error: &mut ServerError, request_id: &str) {
    let ext = error.extensions.get_or_insert_with(Default::default);
    match ext.get("code") {
        Some(Value::String(code)) if code == "INTERNAL_SERVER_ERROR" => {
            error.message = format!("internal error (request id {request_id})");
            ext.set("requestId", request_id);
        }
        Some(_) => {}
        None => {
            let limit = ["too deep", "too complex", "too many", "limit"]
                .iter()
                .any(|needle| error.message.contains(needle));
            ext.set("code", if limit { "LIMIT_EXCEEDED" } else { "BAD_USER_INPUT" });
        }
    }
}

fn is_query(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let ty = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        _ => None,
    };
    // An ambiguous or unknown operation fails validation later, harmlessly.
    ty.is_none_or(|t| t == OperationType::Query)
}

/// Every field selection in the document, `__typename` and aliases included
/// (async-graphql's complexity limit skips `__typename`).
fn count_fields(document: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => 1 + walk(&f.node.selection_set.node),
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 1,
            })
            .sum()
    }
    let operations: usize = document.operations.iter().map(|(_, op)| walk(&op.node.selection_set.node)).sum();
    let fragments: usize = document.fragments.values().map(|f| walk(&f.node.selection_set.node)).sum();
    operations + fragments
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
}

fn finish(outputs: Vec<Output>, batched: bool, format: Format, request_id: &str) -> Response {
    let mut any_request_error = false;
    let mut bodies = Vec::with_capacity(outputs.len());
    for output in &outputs {
        if let Output::Done { response, request_error } = output {
            any_request_error |= *request_error;
            bodies.push(Body {
                data: (!*request_error).then_some(&response.data),
                errors: &response.errors,
            });
        }
    }
    let bytes = if batched { serde_json::to_vec(&bodies) } else { serde_json::to_vec(&bodies[0]) };
    let status = if format == Format::GraphqlResponse && any_request_error && !batched {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match bytes {
        Ok(bytes) => respond(status, format, bytes, request_id),
        Err(err) => {
            tracing::error!(error = %err, request_id, "serializing a response failed");
            respond_error(StatusCode::INTERNAL_SERVER_ERROR, format, "INTERNAL_SERVER_ERROR", "internal error", request_id)
        }
    }
}

/// A resolver panic becomes a 500 with a code instead of a dropped connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    let body = serde_json::to_vec(&error_json("INTERNAL_SERVER_ERROR", "internal error")).unwrap_or_default();
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn negotiation_follows_accept() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Format::Json));
        assert_eq!(negotiate(&accept("application/graphql-response+json")), Some(Format::GraphqlResponse));
        assert_eq!(negotiate(&accept("application/json")), Some(Format::Json));
        assert_eq!(
            negotiate(&accept("application/json;q=0.9, application/graphql-response+json")),
            Some(Format::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(Format::Json));
        assert_eq!(negotiate(&accept("text/plain")), None);
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
