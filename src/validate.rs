//! Input rules of DESIGN.md §8, as pure functions returning `BAD_USER_INPUT`
//! errors that name the offending field.

use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub const MAX_STRING: usize = 256;
pub const MAX_NOTES: usize = 4000;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_PAGE: i32 = 100;
pub const MAX_BATCH: usize = 1000;

/// Timestamps are kept to the microsecond on every database.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.timestamp_subsec_nanos();
    t - chrono::Duration::nanoseconds(i64::from(nanos % 1000))
}

pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Trim, lower-case and check an email address.
pub fn email(field: &str, raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let bad = || AppError::bad_input(field, format!("{field} is not a valid email address"));
    if email.is_empty() || email.chars().count() > MAX_STRING {
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

/// A money amount: non-negative, at most 2 decimals; returned in cents.
pub fn amount_cents(field: &str, value: Decimal) -> AppResult<i64> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not be negative"),
        ));
    }
    if value.normalize().scale() > 2 {
        return Err(AppError::bad_input(
            field,
            format!("{field} has more than 2 decimals"),
        ));
    }
    let cents = value * Decimal::ONE_HUNDRED;
    i64::try_from(cents.trunc())
        .ok()
        .filter(|c| *c <= 99_999_999_999_999)
        .ok_or_else(|| AppError::bad_input(field, format!("{field} is too large")))
}

pub fn cents_to_decimal(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// Interaction metadata: a JSON object of at most 16 KiB.
pub fn metadata(
    field: &str,
    value: Option<&serde_json::Value>,
) -> AppResult<Option<serde_json::Value>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
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
    use std::str::FromStr;

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
        let d = |s| Decimal::from_str(s).expect("decimal");
        assert_eq!(amount_cents("a", d("1234.50")).ok(), Some(123450));
        assert_eq!(amount_cents("a", d("1234.500")).ok(), Some(123450));
        assert!(amount_cents("a", d("1.234")).is_err());
        assert!(amount_cents("a", d("-1")).is_err());
        assert_eq!(cents_to_decimal(123450).to_string(), "1234.50");
    }

    proptest! {
        #[test]
        fn cents_round_trip(c in 0i64..99_999_999_999_999) {
            prop_assert_eq!(amount_cents("a", cents_to_decimal(c)).ok(), Some(c));
        }

        #[test]
        fn email_never_panics(s in ".{0,300}") {
            let _ = email("email", &s);
        }
    }
}
