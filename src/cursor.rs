//! Opaque keyset cursors: `tag|value|…` in unpadded URL-safe base64.
//!
//! Neutral ground for every layer: the GraphQL layer turns a bad cursor into
//! an error on its `after` argument (`graphql::pagination`), the event
//! outbox makes the resume cursors of subscriptions.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Encode cursor parts (`tag`, then values) as an opaque string.
pub fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("|"))
}

/// The `parts` values of a cursor made by [`encode`] whose first part is
/// `tag`; `None` for anything else, including another spelling of the same
/// bytes.
pub fn decode(cursor: &str, tag: &str, parts: usize) -> Option<Vec<String>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    // Only the form `encode` makes, as for global ids.
    if URL_SAFE_NO_PAD.encode(&text) != cursor {
        return None;
    }
    let mut pieces: Vec<String> = text.split('|').map(str::to_owned).collect();
    if pieces.len() != parts + 1 || pieces[0] != tag {
        return None;
    }
    pieces.remove(0);
    Some(pieces)
}

/// Microseconds since the epoch, for time cursors.
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time written by [`micros`].
pub fn from_micros(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    value
        .parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_decode_only_in_their_own_form() {
        let cursor = encode(&["i", "42", "7"]);
        assert_eq!(
            decode(&cursor, "i", 2),
            Some(vec!["42".to_owned(), "7".to_owned()])
        );
        for variant in [
            format!(" {cursor}"),
            format!("{cursor}="),
            format!("{cursor}\n"),
        ] {
            assert!(decode(&variant, "i", 2).is_none(), "{variant:?}");
        }
        assert!(decode(&encode(&["x", "42", "7"]), "i", 2).is_none());
        assert_eq!(
            from_micros(&micros(chrono::DateTime::UNIX_EPOCH).to_string()),
            Some(chrono::DateTime::UNIX_EPOCH)
        );
    }
}
