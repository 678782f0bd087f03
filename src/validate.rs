//! Input rules of docs/errors.md, as pure functions returning `BAD_USER_INPUT`
//! errors that name the offending field.

use crate::error::{AppError, AppResult};
use chrono::{DateTime, Datelike, Utc};

pub const MAX_STRING: usize = 256;
pub const MAX_NOTES: usize = 4000;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Nesting of objects and arrays in metadata: the top-level object is 1.
pub const MAX_METADATA_DEPTH: usize = 16;
/// Keys of all the objects of one metadata value together.
pub const MAX_METADATA_KEYS: usize = 256;
pub const MAX_PAGE: i32 = 100;
pub const MAX_BATCH: usize = 1000;
/// Entries of a list argument (filters, persona criteria, rule values).
pub const MAX_LIST: usize = 100;
/// Years a `Date` or `DateTime` may name: SQLite compares dates as text,
/// which only orders four-digit years correctly.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;
/// The largest amount, in cents (just under a trillion). Sums of amounts
/// can still pass `i64`: they are summed in two parts and kept in `i128`
/// (`kpis::calc::SUM_SPLIT`).
pub const MAX_CENTS: i64 = 99_999_999_999_999;

/// Timestamps are kept to the microsecond on every database.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.timestamp_subsec_nanos();
    t - chrono::Duration::nanoseconds(i64::from(nanos % 1000))
}

pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Any string that reaches the database: PostgreSQL refuses NUL in text
/// and JSON, so it is refused on every database alike.
pub fn no_nul(field: &str, value: &str) -> AppResult<()> {
    if value.contains('\0') {
        Err(AppError::bad_input(
            field,
            format!("{field} must not contain NUL characters"),
        ))
    } else {
        Ok(())
    }
}

/// A list argument of at most [`MAX_LIST`] entries.
pub fn list_len(field: &str, len: usize) -> AppResult<()> {
    if len > MAX_LIST {
        Err(AppError::bad_input(
            field,
            format!("{field} holds at most {MAX_LIST} entries"),
        ))
    } else {
        Ok(())
    }
}

/// Several list arguments at once: `(field, length if given)`.
pub fn list_lens(lists: &[(&str, Option<usize>)]) -> AppResult<()> {
    lists
        .iter()
        .filter_map(|(field, len)| len.map(|len| (field, len)))
        .try_for_each(|(field, len)| list_len(field, len))
}

/// Trim, lower-case and check an email address.
pub fn email(field: &str, raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let bad = || AppError::bad_input(field, format!("{field} is not a valid email address"));
    if email.is_empty() || email.contains('\0') || email.chars().count() > MAX_STRING {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2 && labels.iter().all(|l| label_ok(l));
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(bad())
    }
}

/// An optional free-text attribute: trimmed, empty → none, at most `max` characters.
pub fn text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    if let Some(v) = value {
        no_nul(field, v)?;
    }
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        )),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

pub fn non_negative(field: &str, value: Option<i32>) -> AppResult<Option<i32>> {
    match value {
        Some(v) if v < 0 => Err(AppError::bad_input(
            field,
            format!("{field} must not be negative"),
        )),
        other => Ok(other),
    }
}

/// ISO 3166-1 alpha-2, any case in, upper case out.
pub fn country(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => {
            no_nul(field, v)?;
            let upper = v.to_ascii_uppercase();
            if upper.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == upper) {
                Ok(Some(upper))
            } else {
                Err(AppError::bad_input(
                    field,
                    format!("{field} must be an ISO 3166-1 alpha-2 code such as DE or US"),
                ))
            }
        }
    }
}

/// A money amount as the client wrote it (the `Decimal` scalar keeps it
/// raw): a plain decimal, non-negative, at most 2 decimals (trailing zeros
/// aside) and at most [`MAX_CENTS`]; returned in cents. Parsed by hand with
/// checked arithmetic, so no input can overflow.
pub fn amount_cents(field: &str, raw: &str) -> AppResult<i64> {
    let bad = |what: &str| AppError::bad_input(field, format!("{field} {what}"));
    let text = raw.trim();
    if text.len() > 64 {
        return Err(bad("has too many digits"));
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || unsigned.ends_with('.') {
        return Err(bad("is not a decimal number such as 1234.50"));
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if negative && !(whole.is_empty() && fraction.is_empty()) {
        return Err(bad("must not be negative"));
    }
    if fraction.len() > 2 {
        return Err(bad("has more than 2 decimals"));
    }
    let too_large = || bad("is too large");
    // More digits than i64 holds is too large however they read.
    if whole.len() > 18 {
        return Err(too_large());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let cents: i64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| bad("is not a decimal number"))?;
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(cents))
        .filter(|c| *c <= MAX_CENTS)
        .ok_or_else(too_large)
}

/// Cents as an exact decimal string with two places, `"1234.50"`.
pub fn cents_text(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Interaction metadata: a JSON object of at most 16 KiB, nested at most
/// [`MAX_METADATA_DEPTH`] deep, with at most [`MAX_METADATA_KEYS`] keys in
/// all and no NUL in any key or string (PostgreSQL refuses it in JSON).
/// Deeper values could be stored but not read back (serde_json stops at 128).
pub fn metadata(
    field: &str,
    value: Option<&serde_json::Value>,
) -> AppResult<Option<serde_json::Value>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            check_json(field, v)?;
            let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
            if size > MAX_METADATA_BYTES {
                Err(AppError::bad_input(
                    field,
                    format!("{field} must be at most 16 KiB"),
                ))
            } else {
                Ok(Some(v.clone()))
            }
        }
        Some(_) => Err(AppError::bad_input(
            field,
            format!("{field} must be a JSON object"),
        )),
    }
}

/// Depth, key count and NUL checks of a JSON value, without recursion (the
/// value may be deeper than the stack allows to recurse).
fn check_json(field: &str, value: &serde_json::Value) -> AppResult<()> {
    use serde_json::Value;
    let mut keys = 0usize;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::String(s) => no_nul(field, s)?,
            Value::Array(_) | Value::Object(_) if depth > MAX_METADATA_DEPTH => {
                return Err(AppError::bad_input(
                    field,
                    format!("{field} is nested more than {MAX_METADATA_DEPTH} levels deep"),
                ));
            }
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => {
                keys += map.len();
                if keys > MAX_METADATA_KEYS {
                    return Err(AppError::bad_input(
                        field,
                        format!("{field} holds more than {MAX_METADATA_KEYS} keys"),
                    ));
                }
                for (key, item) in map {
                    no_nul(field, key)?;
                    stack.push((item, depth + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Ok(())
}

/// A date or timestamp's year within [`YEARS`].
pub fn year_in_range(year: i32) -> bool {
    YEARS.contains(&year)
}

/// A timestamp within [`YEARS`] (a helper for the scalars and their tests).
pub fn timestamp_in_range(t: DateTime<Utc>) -> bool {
    year_in_range(t.year())
}

/// A page size: 0 ≤ first ≤ 100.
pub fn first(value: Option<i32>, default: i32) -> AppResult<u64> {
    let first = value.unwrap_or(default);
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(AppError::bad_input(
            "first",
            format!("first must be between 0 and {MAX_PAGE}"),
        ));
    }
    Ok(first as u64)
}

/// Officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn cents_to_decimal(cents: i64) -> Decimal {
        Decimal::new(cents, 2)
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            email("email", "  Ada@Example.COM ").ok(),
            Some("ada@example.com".to_owned())
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@ex..com",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn countries_are_iso_alpha2() {
        assert_eq!(
            country("country", Some("de")).ok(),
            Some(Some("DE".to_owned()))
        );
        assert!(country("country", Some("XX")).is_err());
        assert!(country("country", Some("DEU")).is_err());
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
    }

    #[test]
    fn amounts_have_at_most_two_decimals() {
        assert_eq!(amount_cents("a", "1234.50").ok(), Some(123450));
        assert_eq!(amount_cents("a", "1234.500").ok(), Some(123450));
        assert_eq!(amount_cents("a", "7").ok(), Some(700));
        assert_eq!(amount_cents("a", "0.5").ok(), Some(50));
        assert_eq!(amount_cents("a", "-0").ok(), Some(0));
        assert!(amount_cents("a", "1.234").is_err());
        assert!(amount_cents("a", "-1").is_err());
        assert_eq!(cents_to_decimal(123450).to_string(), "1234.50");
    }

    #[test]
    fn amounts_never_overflow() {
        let field = |raw: &str| match amount_cents("input.budget", raw) {
            Err(AppError::BadInput { field, message }) => (field, message),
            other => panic!("{raw}: {other:?}"),
        };
        for raw in [
            "790000000000000000000000000",
            "79228162514264337593543950335",
            "123456789012345678901234567890",
            "999999999999999.99",
            "1000000000000",
            "9223372036854775807",
            &"9".repeat(200),
        ] {
            assert_eq!(field(raw).0, "input.budget", "{raw}");
        }
        assert!(
            field("123456789012345678901234567890")
                .1
                .contains("too large")
        );
        for raw in [
            "", " ", "abc", "1e5", "1.", ".5", "1,5", "--1", "1\u{0}", "NaN", "0x10",
        ] {
            assert!(field(raw).1.contains("not a decimal"), "{raw}");
        }
        assert_eq!(amount_cents("a", "999999999999.99").ok(), Some(MAX_CENTS));
    }

    #[test]
    fn metadata_depth_keys_and_nul() {
        let nested = |depth: usize| {
            let mut v = serde_json::json!(1);
            for _ in 0..depth {
                v = serde_json::json!({ "a": v });
            }
            v
        };
        assert!(metadata("m", Some(&nested(MAX_METADATA_DEPTH))).is_ok());
        assert!(metadata("m", Some(&nested(MAX_METADATA_DEPTH + 1))).is_err());
        // Far deeper than serde_json reads back: refused, without recursion.
        assert!(metadata("m", Some(&nested(200))).is_err());
        let keys: serde_json::Map<String, serde_json::Value> = (0..=MAX_METADATA_KEYS)
            .map(|i| (format!("k{i}"), serde_json::json!(i)))
            .collect();
        assert!(metadata("m", Some(&serde_json::Value::Object(keys))).is_err());
        let nul_key = serde_json::json!({ "a\u{0}": 1 });
        let nul_value = serde_json::json!({ "a": [{ "b": "x\u{0}y" }] });
        assert!(metadata("m", Some(&nul_key)).is_err());
        assert!(metadata("m", Some(&nul_value)).is_err());
        assert!(metadata("m", Some(&serde_json::json!({ "a": [1, "b", null] }))).is_ok());
    }

    #[test]
    fn nul_is_refused_everywhere() {
        assert!(text("f", Some("a\u{0}"), MAX_STRING).is_err());
        assert!(email("f", "a\u{0}@example.com").is_err());
        assert!(country("f", Some("D\u{0}")).is_err());
        assert!(list_len("f", MAX_LIST).is_ok());
        assert!(list_len("f", MAX_LIST + 1).is_err());
    }

    proptest! {
        #[test]
        fn cents_round_trip(c in 0i64..MAX_CENTS) {
            prop_assert_eq!(amount_cents("a", &cents_to_decimal(c).to_string()).ok(), Some(c));
        }

        #[test]
        fn cents_text_is_the_decimal(c in any::<i64>()) {
            prop_assert_eq!(cents_text(i128::from(c)), cents_to_decimal(c).to_string());
        }

        #[test]
        fn amounts_never_panic(s in "[-+0-9. e]{0,80}") {
            if let Ok(c) = amount_cents("a", &s) {
                prop_assert!((0..=MAX_CENTS).contains(&c));
                let exact = Decimal::from_str(s.trim()).expect("a valid amount is a decimal");
                prop_assert_eq!(exact * Decimal::ONE_HUNDRED, Decimal::from(c));
            }
        }

        #[test]
        fn any_string_with_nul_is_refused(a in ".{0,40}", b in ".{0,40}") {
            let s = format!("{a}\u{0}{b}");
            prop_assert!(text("f", Some(&s), MAX_NOTES).is_err());
            prop_assert!(no_nul("f", &s).is_err());
            let v = serde_json::json!({ "k": [s.clone()] });
            prop_assert!(metadata("f", Some(&v)).is_err());
            let v = serde_json::json!({ s: 1 });
            prop_assert!(metadata("f", Some(&v)).is_err());
        }

        #[test]
        fn depth_over_the_limit_is_refused(depth in 1usize..64, arrays in any::<bool>()) {
            let mut v = serde_json::json!("leaf");
            for _ in 1..depth {
                v = if arrays { serde_json::json!([v]) } else { serde_json::json!({ "a": v }) };
            }
            let v = serde_json::json!({ "top": v });
            // `depth` containers below the top-level object.
            prop_assert_eq!(metadata("f", Some(&v)).is_ok(), depth <= MAX_METADATA_DEPTH);
        }

        #[test]
        fn email_never_panics(s in ".{0,300}") {
            let _ = email("email", &s);
        }
    }
}
