//! `GET /export/leads.csv` and `GET /export/kpis.csv` (docs/export.md):
//! the token as for `/graphql` (`Authorization: Bearer …`), the same rate
//! limit per subject, the KPI table under the same heavy-query permits, and
//! errors as JSON with `extensions.code` and a matching status — 400
//! `BAD_USER_INPUT` (with `extensions.field`), 401 `UNAUTHENTICATED`, 403
//! `FORBIDDEN`, 429/503 `LIMIT_EXCEEDED`, 500 with a request id.
//!
//! The leads body is streamed: page by page, as the pages are read. When a
//! page fails after the first (the database went away), the body is cut off
//! without its final chunk, so a client sees a failed download, never a
//! short file that looks whole.

use super::leads::ExportSettings;
use super::params;
use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;
use axum::{
    Router,
    body::Body,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
    routing::get,
};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Takes one operation from a subject's rate-limit bucket, or says how long
/// to wait (the GraphQL executor's limiter, handed over by `app::router`).
pub type RateCheck = Arc<dyn Fn(&str) -> Result<(), Duration> + Send + Sync>;

/// What the export routes share with the GraphQL transport.
#[derive(Clone)]
pub struct ExportHttp {
    pub state: AppState,
    pub rate: RateCheck,
    /// The heavy-query semaphore (`LEADGRAPH_MAX_HEAVY_QUERIES`): a KPI
    /// export waits for a permit like a `funnel` query does.
    pub heavy: Arc<Semaphore>,
}

pub fn routes<S: Clone + Send + Sync + 'static>(export: ExportHttp) -> Router<S> {
    Router::new()
        .route("/export/leads.csv", get(leads_csv).fallback(other_method))
        .route("/export/kpis.csv", get(kpis_csv).fallback(other_method))
        .with_state(export)
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Authenticate, take a rate-limit token and read the parameters.
async fn admit(
    export: &ExportHttp,
    headers: &HeaderMap,
    query: Params,
    request_id: &str,
) -> Result<(Viewer, Vec<(String, String)>), Response> {
    let viewer = authenticate(&export.state, headers)
        .await
        .map_err(|err| error_response(&err, request_id))?;
    if let Err(wait) = (export.rate)(&viewer.subject) {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "LIMIT_EXCEEDED",
            &format!("too many requests; retry in {seconds} s"),
            None,
            request_id,
        );
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    match query {
        Ok(Query(pairs)) => Ok((viewer, pairs)),
        Err(rejection) => Err(error_response(
            &AppError::bad_input(
                "query",
                format!("malformed query string: {}", rejection.body_text()),
            ),
            request_id,
        )),
    }
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Viewer, AppError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthenticated("missing Authorization: Bearer token".into()))?;
    let token = raw
        .to_str()
        .ok()
        .and_then(crate::auth::bearer)
        .ok_or_else(|| {
            AppError::Unauthenticated("Authorization must be `Bearer <token>`".into())
        })?;
    crate::users::service::viewer_for_token(state, token).await
}

async fn leads_csv(
    State(export): State<ExportHttp>,
    headers: HeaderMap,
    query: Params,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (viewer, pairs) = match admit(&export, &headers, query, &request_id).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let spec = match params::lead_export(&pairs) {
        Ok(spec) => spec,
        Err(err) => return error_response(&err, &request_id),
    };
    let config = &export.state.config;
    let settings = ExportSettings {
        page_size: config.export_page_size,
        currency: config.currency.clone(),
        page_timeout: config.request_timeout,
    };
    let db = export.state.db.read.clone();
    let stream = match super::leads::export(viewer, db, spec, settings).await {
        Ok(stream) => stream,
        Err(err) => return error_response(&err, &request_id),
    };
    let logged_id = request_id.clone();
    let body = Body::from_stream(stream.map(move |chunk| {
        chunk.map_err(|err| {
            tracing::error!(request_id = %logged_id, error = %err, "lead export cut off");
            std::io::Error::other(err.public_message())
        })
    }));
    csv_response(body, &super::file_name("leads", None), &request_id)
}

async fn kpis_csv(State(export): State<ExportHttp>, headers: HeaderMap, query: Params) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (viewer, pairs) = match admit(&export, &headers, query, &request_id).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let spec = match params::kpi_export(&pairs) {
        Ok(spec) => spec,
        Err(err) => return error_response(&err, &request_id),
    };
    let state = &export.state;
    // The semaphore is never closed, so a permit always comes.
    let _permit = export.heavy.clone().acquire_owned().await.ok();
    let run = super::kpis::export(&viewer, &state.db.read, &spec, state.currency());
    let csv = match tokio::time::timeout(state.config.request_timeout, run).await {
        Ok(Ok(csv)) => csv,
        Ok(Err(err)) => return error_response(&err, &request_id),
        Err(_) => {
            let err = AppError::LimitExceeded(format!(
                "the export took longer than {} s",
                state.config.request_timeout.as_secs_f64()
            ));
            return error_response(&err, &request_id);
        }
    };
    let name = super::file_name(spec.report.name(), Some(&spec));
    csv_response(Body::from(csv), &name, &request_id)
}

async fn other_method() -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "BAD_USER_INPUT",
        "exports are read with GET",
        None,
        &request_id,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

fn csv_response(body: Body, file_name: &str, request_id: &str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // Personal data: no cache keeps a copy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    insert_request_id(headers, request_id);
    response
}

fn insert_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
}

/// The status of an error of ours.
fn status(err: &AppError) -> StatusCode {
    match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::BadInput { .. } | AppError::InvalidTransition(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        // A time limit: the server could not answer in time.
        AppError::LimitExceeded(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal { .. } | AppError::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(err: &AppError, request_id: &str) -> Response {
    let message = match err {
        AppError::Internal { .. } | AppError::Config { .. } => {
            tracing::error!(%request_id, error = %err, "export failed");
            format!("internal error (request id {request_id})")
        }
        AppError::Unauthenticated(why) => {
            tracing::debug!(%why, "unauthenticated export");
            "a valid bearer token is required".to_owned()
        }
        other => other.public_message(),
    };
    let field = match err {
        AppError::BadInput { field, .. } => Some(field.as_str()),
        _ => None,
    };
    let mut response = json_error(status(err), err.code(), &message, field, request_id);
    if matches!(err, AppError::Unauthenticated(_)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `{"errors": [{"message", "extensions": {"code", "field"?}}]}`, the shape
/// of a GraphQL error, so one client-side handler reads both.
fn json_error(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
    request_id: &str,
) -> Response {
    let mut extensions = serde_json::json!({ "code": code });
    if let Some(field) = field {
        extensions["field"] = field.into();
    }
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": extensions }]
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    insert_request_id(headers, request_id);
    response
}
