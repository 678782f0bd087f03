//! Writing GraphQL-over-HTTP responses: bodies, status codes and headers,
//! every error with `extensions.code`.

use super::MAX_BODY_BYTES;
use super::negotiate::Format;
use super::request::BodyProblem;
use crate::error::AppError;
use crate::graphql::execute::RateLimited;
use async_graphql::{ServerError, Value};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One operation, executed or refused before execution.
pub(super) enum Executed {
    General {
        response: Box<async_graphql::Response>,
        /// A request error (never executed): no `data`, and 4xx with
        /// `application/graphql-response+json`.
        request_error: bool,
    },
    /// The JSON text of the `data` of a prepared plan's answer.
    Planned(Vec<u8>),
}

impl Executed {
    fn request_error(&self) -> bool {
        matches!(
            self,
            Executed::General {
                request_error: true,
                ..
            }
        )
    }

    /// Whether this operation was refused as a persisted operation
    /// (`PERSISTED_QUERY_*`): a client's next try will differ (the same
    /// hash may be registered by then), so no cache may keep the answer.
    fn persisted_query_error(&self) -> bool {
        let Executed::General { response, .. } = self else {
            return false;
        };
        response.errors.iter().any(|error| {
            error
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .is_some_and(
                    |code| matches!(code, Value::String(c) if c.starts_with("PERSISTED_QUERY_")),
                )
        })
    }

    /// The response body of this operation.
    fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Executed::General {
                response,
                request_error,
            } => serde_json::to_writer(
                out,
                &Body {
                    data: (!request_error).then_some(&response.data),
                    errors: &response.errors,
                },
            ),
            Executed::Planned(data) => {
                out.extend_from_slice(b"{\"data\":");
                out.extend_from_slice(data);
                out.push(b'}');
                Ok(())
            }
        }
    }
}

pub(super) const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
pub(super) const JSON: &str = "application/json; charset=utf-8";
pub(super) fn error_json(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]})
}

pub(super) fn respond(
    status: StatusCode,
    format: Format,
    body: Vec<u8>,
    request_id: &str,
) -> Response {
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

pub(super) fn respond_error(
    status: StatusCode,
    format: Format,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = serde_json::to_vec(&error_json(code, message)).unwrap_or_default();
    respond(status, format, body, request_id)
}

/// A multipart upload that could not be read (`upload.rs`).
pub(super) fn upload_rejected(
    problem: super::upload::UploadProblem,
    format: Format,
    request_id: &str,
) -> Response {
    use super::upload::{MAX_FILES, UploadProblem};
    let (status, code, message) = match problem {
        UploadProblem::TooLarge(message) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "LIMIT_EXCEEDED", message)
        }
        UploadProblem::TooSlow => (
            StatusCode::REQUEST_TIMEOUT,
            "LIMIT_EXCEEDED",
            "the request body was not received in time".to_owned(),
        ),
        UploadProblem::TooManyFiles => (
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            format!("a request carries at most {MAX_FILES} file"),
        ),
        UploadProblem::Malformed(message) => (StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message),
        UploadProblem::Internal(message) => {
            tracing::error!(request_id, error = message, "an upload could not be stored");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "internal error".to_owned(),
            )
        }
    };
    let mut response = respond_error(status, format, code, &message, request_id);
    if status != StatusCode::BAD_REQUEST {
        // The rest of the body is not read: the connection cannot be reused.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A body that could not be read: over the limit (413), too slow (408), or
/// broken.
pub(super) fn body_rejected(problem: BodyProblem, format: Format, request_id: &str) -> Response {
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
pub(super) fn rate_limited(limited: RateLimited, format: Format, request_id: &str) -> Response {
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

pub(super) fn not_acceptable(request_id: &str) -> Response {
    respond_error(
        StatusCode::NOT_ACCEPTABLE,
        Format::Json,
        "BAD_USER_INPUT",
        "unsupported Accept header: use application/graphql-response+json or application/json",
        request_id,
    )
}

pub(super) fn mutation_over_get(format: Format, request_id: &str) -> Response {
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

pub(super) fn auth_failure(err: AppError, format: Format, request_id: &str) -> Response {
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

#[derive(Serialize)]
pub(super) struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
}

pub(super) fn finish(
    outputs: Vec<Executed>,
    batched: bool,
    format: Format,
    request_id: &str,
    max_bytes: usize,
) -> Response {
    let any_request_error = outputs.iter().any(Executed::request_error);
    let uncacheable = outputs.iter().any(Executed::persisted_query_error);
    let mut bytes = Vec::with_capacity(4096);
    let written = if batched || outputs.len() != 1 {
        bytes.push(b'[');
        let mut result = Ok(());
        for (i, output) in outputs.iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            result = result.and_then(|()| output.write(&mut bytes));
        }
        bytes.push(b']');
        result
    } else {
        outputs[0].write(&mut bytes)
    };
    let bytes = written.map(|()| bytes);
    let status = if format == Format::GraphqlResponse && any_request_error && !batched {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match bytes {
        Ok(bytes) if bytes.len() > max_bytes => {
            let error = crate::graphql::execute::response_too_large(max_bytes);
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
        Ok(bytes) => {
            let mut response = respond(status, format, bytes, request_id);
            // How many operations prepared plans answered (graphql::plan):
            // for operators and for the tests that compare them with the
            // executor.
            let planned = outputs
                .iter()
                .filter(|o| matches!(o, Executed::Planned(_)))
                .count();
            if planned > 0 {
                response
                    .headers_mut()
                    .insert("x-leadgraph-plans", HeaderValue::from(planned));
            }
            if uncacheable {
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            response
        }
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
        panic = crate::graphql::execute::panic_message(&panic),
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
