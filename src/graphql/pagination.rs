//! Relay page info and opaque keyset cursors.

use crate::cursor;
use crate::error::{AppError, AppResult};
use async_graphql::SimpleObject;

/// Where a page sits in its list.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Always false: lists are read forwards.
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Encode cursor parts (`tag`, then values) as an opaque string.
pub fn encode_cursor(parts: &[&str]) -> String {
    cursor::encode(parts)
}

/// Decode a cursor made by [`encode_cursor`] whose first part is `tag`; an
/// error on the `after` argument otherwise.
pub fn decode_cursor(value: &str, tag: &str, parts: usize) -> AppResult<Vec<String>> {
    cursor::decode(value, tag, parts)
        .ok_or_else(|| AppError::bad_input("after", "after is not a cursor of this list and order"))
}

pub use cursor::micros;

pub fn from_micros(value: &str) -> AppResult<chrono::DateTime<chrono::Utc>> {
    cursor::from_micros(value)
        .ok_or_else(|| AppError::bad_input("after", "after is not a valid cursor"))
}
