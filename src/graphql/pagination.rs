//! Relay page info and opaque keyset cursors.

use crate::error::{AppError, AppResult};
use async_graphql::SimpleObject;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

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
    URL_SAFE_NO_PAD.encode(parts.join("|"))
}

/// Decode a cursor made by [`encode_cursor`] whose first part is `tag`.
pub fn decode_cursor(cursor: &str, tag: &str, parts: usize) -> AppResult<Vec<String>> {
    let bad = || AppError::bad_input("after", "after is not a cursor of this list and order");
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    // Only the form `encode_cursor` makes, as for global ids.
    if URL_SAFE_NO_PAD.encode(&text) != cursor {
        return Err(bad());
    }
    let mut pieces: Vec<String> = text.split('|').map(str::to_owned).collect();
    if pieces.len() != parts + 1 || pieces[0] != tag {
        return Err(bad());
    }
    pieces.remove(0);
    Ok(pieces)
}

/// Microseconds since the epoch, for time cursors.
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(value: &str) -> AppResult<chrono::DateTime<chrono::Utc>> {
    value
        .parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_micros)
        .ok_or_else(|| AppError::bad_input("after", "after is not a valid cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_decode_only_in_their_own_form() {
        let cursor = encode_cursor(&["i", "42", "7"]);
        assert_eq!(
            decode_cursor(&cursor, "i", 2).ok(),
            Some(vec!["42".to_owned(), "7".to_owned()])
        );
        for variant in [
            format!(" {cursor}"),
            format!("{cursor}="),
            format!("{cursor}\n"),
        ] {
            assert!(decode_cursor(&variant, "i", 2).is_err(), "{variant:?}");
        }
        assert!(decode_cursor(&encode_cursor(&["x", "42", "7"]), "i", 2).is_err());
    }
}
