//! What a GraphQL-over-HTTP request carries: its token, its body (bounded in
//! size and time) and its operations.

use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;
use axum::body::{Body as HttpBody, Bytes};
use axum::http::{HeaderMap, header};
use futures::StreamExt;
use std::collections::HashMap;

use super::MAX_BODY_BYTES;

/// The parameters of a GraphQL-over-HTTP request; others are ignored.
pub(super) const PARAMETERS: [&str; 4] = ["query", "variables", "operationName", "extensions"];

/// The GraphQL parameters of a GET query string; a parameter given twice is
/// ambiguous and refused.
pub(super) fn get_parameters(
    pairs: Vec<(String, String)>,
) -> Result<HashMap<String, String>, String> {
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

/// Authenticate the request: a valid bearer token, its user created on first sight.
pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Viewer, AppError> {
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

pub use crate::auth::bearer;

/// One operation of a request, as the client sent it: its document, or a
/// persisted operation named in `extensions` (`graphql::persisted`).
pub(super) struct Operation {
    pub(super) query: Option<String>,
    pub(super) variables: Option<serde_json::Value>,
    pub(super) operation_name: Option<String>,
    pub(super) extensions: Option<serde_json::Value>,
}

pub(super) fn operation_from_json(value: serde_json::Value) -> Result<Operation, String> {
    let serde_json::Value::Object(mut map) = value else {
        return Err("the request body must be a JSON object".into());
    };
    let extensions = match map.remove("extensions") {
        None | Some(serde_json::Value::Null) => None,
        Some(e @ serde_json::Value::Object(_)) => Some(e),
        Some(_) => return Err("`extensions` must be an object".into()),
    };
    let query = match map.remove("query") {
        Some(serde_json::Value::String(q)) => Some(q),
        None | Some(serde_json::Value::Null) => None,
        Some(_) => return Err("`query` must be a string".into()),
    };
    require_document(query.as_ref(), extensions.as_ref())?;
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
    Ok(Operation {
        query,
        variables,
        operation_name,
        extensions,
    })
}

/// A request names its document: a `query`, or a persisted operation.
pub(super) fn require_document(
    query: Option<&String>,
    extensions: Option<&serde_json::Value>,
) -> Result<(), String> {
    if query.is_none() && !crate::graphql::persisted::has_persisted_query(extensions) {
        return Err("`query` is required (or `extensions.persistedQuery`)".into());
    }
    Ok(())
}

/// Why a request body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BodyProblem {
    TooLarge,
    TooSlow,
    Broken,
}

/// Read a body of at most [`MAX_BODY_BYTES`] within `timeout`.
pub(super) async fn read_body(
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
