//! File uploads: `multipart/form-data` POSTs as the GraphQL multipart
//! request spec (github.com/jaydenseric/graphql-multipart-request-spec)
//! defines them — an `operations` field (one operation, JSON, at most
//! 1 MiB), a `map` field (`{"0": ["variables.file"]}`), then the files —
//! read by `multer`, the file spooled to an anonymous temporary file and
//! handed to async-graphql as an `Upload`. At most one file, of at most
//! `LEADGRAPH_UPLOAD_MAX_BYTES`; the whole request is read within
//! `LEADGRAPH_BODY_TIMEOUT`.
//!
//! No CSRF guard beyond the usual is needed: a cross-site form can send
//! multipart without a preflight, but never an `Authorization` header, and
//! every operation needs one.

use super::MAX_BODY_BYTES;
use super::request::{Operation, operation_from_json};
use async_graphql::UploadValue;
use axum::body::Body as HttpBody;
use axum::http::{HeaderMap, header};
use std::collections::HashMap;
use std::io::{Seek, Write};

/// Files one request may carry.
pub(super) const MAX_FILES: usize = 1;

/// Whether the request is `multipart/form-data`.
pub(super) fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA)
}

/// Why a multipart request was refused.
#[derive(Debug)]
pub(super) enum UploadProblem {
    /// 413: a part or the whole over its limit.
    TooLarge(String),
    /// 408: not received within the body timeout.
    TooSlow,
    /// 400 `LIMIT_EXCEEDED`: more files than [`MAX_FILES`].
    TooManyFiles,
    /// 400 `BAD_USER_INPUT`: not the spec's form.
    Malformed(String),
    /// 500: the temporary file could not be written.
    Internal(String),
}

/// One operation with the files its variables name.
pub(super) struct MultipartOperation {
    pub(super) operation: Operation,
    /// `(variable path, file)`, e.g. `("variables.file", …)`.
    pub(super) uploads: Vec<(String, UploadValue)>,
}

/// Read a multipart GraphQL request.
pub(super) async fn read_multipart(
    headers: &HeaderMap,
    body: HttpBody,
    max_file_bytes: usize,
    timeout: std::time::Duration,
) -> Result<MultipartOperation, UploadProblem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| UploadProblem::Malformed("multipart/form-data needs a boundary".into()))?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let whole = (max_file_bytes as u64).saturating_add(2 * MAX_BODY_BYTES as u64);
    if declared.is_some_and(|n| n > whole) {
        return Err(too_large(max_file_bytes));
    }
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(whole)
            .per_field(max_file_bytes as u64)
            .for_field("operations", MAX_BODY_BYTES as u64)
            .for_field("map", MAX_BODY_BYTES as u64),
    );
    let multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    tokio::time::timeout(timeout, read_parts(multipart, max_file_bytes))
        .await
        .unwrap_or(Err(UploadProblem::TooSlow))
}

fn too_large(max_file_bytes: usize) -> UploadProblem {
    UploadProblem::TooLarge(format!(
        "an upload is at most {max_file_bytes} bytes (LEADGRAPH_UPLOAD_MAX_BYTES), its operations and map at most {MAX_BODY_BYTES} bytes each"
    ))
}

fn multer_problem(err: multer::Error, max_file_bytes: usize) -> UploadProblem {
    match err {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            too_large(max_file_bytes)
        }
        other => UploadProblem::Malformed(format!("the multipart body cannot be read: {other}")),
    }
}

async fn read_parts(
    mut multipart: multer::Multipart<'_>,
    max_file_bytes: usize,
) -> Result<MultipartOperation, UploadProblem> {
    let problem = |err| multer_problem(err, max_file_bytes);
    let mut operation = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    let mut files: Vec<(String, UploadValue)> = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(problem)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "operations" => {
                if operation.is_some() {
                    return Err(UploadProblem::Malformed(
                        "`operations` is given twice".into(),
                    ));
                }
                let bytes = field.bytes().await.map_err(problem)?;
                let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
                    UploadProblem::Malformed("`operations` is not valid JSON".into())
                })?;
                if value.is_array() {
                    return Err(UploadProblem::Malformed(
                        "a multipart request carries one operation, not a batch".into(),
                    ));
                }
                operation = Some(operation_from_json(value).map_err(UploadProblem::Malformed)?);
            }
            "map" => {
                if operation.is_none() || map.is_some() {
                    return Err(UploadProblem::Malformed(
                        "`map` comes once, after `operations` and before the files".into(),
                    ));
                }
                let bytes = field.bytes().await.map_err(problem)?;
                map = Some(serde_json::from_slice(&bytes).map_err(|_| {
                    UploadProblem::Malformed(
                        "`map` must be a JSON object of file field names to lists of variable paths"
                            .into(),
                    )
                })?);
            }
            _ => {
                if map.is_none() {
                    return Err(UploadProblem::Malformed(
                        "files come after the `operations` and `map` fields".into(),
                    ));
                }
                if files.len() >= MAX_FILES {
                    return Err(UploadProblem::TooManyFiles);
                }
                let filename = field.file_name().unwrap_or(&name).to_owned();
                let content_type = field.content_type().map(ToString::to_string);
                let mut file = tempfile::tempfile()
                    .map_err(|err| UploadProblem::Internal(format!("temporary file: {err}")))?;
                let mut written = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(problem)? {
                    written += chunk.len();
                    if written > max_file_bytes {
                        return Err(too_large(max_file_bytes));
                    }
                    file.write_all(&chunk)
                        .map_err(|err| UploadProblem::Internal(format!("temporary file: {err}")))?;
                }
                file.rewind()
                    .map_err(|err| UploadProblem::Internal(format!("temporary file: {err}")))?;
                files.push((
                    name,
                    UploadValue {
                        filename,
                        content_type,
                        content: file,
                    },
                ));
            }
        }
    }
    let operation = operation
        .ok_or_else(|| UploadProblem::Malformed("the `operations` field is missing".into()))?;
    let mut map =
        map.ok_or_else(|| UploadProblem::Malformed("the `map` field is missing".into()))?;
    let mut uploads = Vec::new();
    for (name, file) in files {
        let paths = map.remove(&name).ok_or_else(|| {
            UploadProblem::Malformed(format!("the file field {name:?} is not in `map`"))
        })?;
        let [path] = <[String; 1]>::try_from(paths).map_err(|_| {
            UploadProblem::Malformed(format!(
                "`map` must name one variable path for the file {name:?}"
            ))
        })?;
        if !path.starts_with("variables.") {
            return Err(UploadProblem::Malformed(format!(
                "{path:?} is not a variable path (variables.…)"
            )));
        }
        uploads.push((path, file));
    }
    if let Some(name) = map.keys().next() {
        return Err(UploadProblem::Malformed(format!(
            "`map` names the file field {name:?}, which the request does not carry"
        )));
    }
    Ok(MultipartOperation { operation, uploads })
}
