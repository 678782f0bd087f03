//! Which media type a GraphQL-over-HTTP response is written in, and which
//! request bodies are accepted at all.

use axum::http::{HeaderMap, header};

use super::response::{GRAPHQL_RESPONSE_JSON, JSON};

/// The media type a response is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// `application/graphql-response+json`: request errors get 4xx.
    GraphqlResponse,
    /// `application/json`: every GraphQL response is 200.
    Json,
}

impl Format {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Format::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Format::Json => JSON,
        }
    }
}

/// Pick the response media type from `Accept` (every `Accept` header, a
/// missing or empty one meaning `application/json`); `None` → 406.
pub(super) fn negotiate(headers: &HeaderMap) -> Option<Format> {
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

pub(super) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Why a POST body's `Content-Type` is refused (415), if it is.
pub(super) fn content_type_problem(headers: &HeaderMap) -> Option<&'static str> {
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
