//! Scalars of the contract that async-graphql does not name as we need.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{Datelike, NaiveDate};

/// Out-of-range years are refused where they enter, like a malformed date:
/// SQLite compares dates as text, which orders only four-digit years.
const YEARS_MESSAGE: &str = "the year must be between 1900 and 9999";

/// A calendar date, `"2026-11-26"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) if crate::validate::year_in_range(d.year()) => Ok(Date(d)),
                Ok(_) => Err(InputValueError::custom(YEARS_MESSAGE)),
                Err(_) => Err(InputValueError::custom("expected a date as YYYY-MM-DD")),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Checked during validation too, so the error names the argument
    /// (`extensions.field`) even when the value came in a variable.
    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// RFC 3339 timestamps, always rendered in UTC with a `Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

impl DateTime {
    /// The text clients get: RFC 3339 in UTC with a `Z`.
    pub fn render(&self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => {
                    let t = crate::validate::truncate_micros(t.with_timezone(&chrono::Utc));
                    if crate::validate::timestamp_in_range(t) {
                        Ok(DateTime(t))
                    } else {
                        Err(InputValueError::custom(YEARS_MESSAGE))
                    }
                }
                Err(_) => Err(InputValueError::custom("expected an RFC 3339 timestamp")),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// As for `Date`: invalid values fail validation, naming the argument.
    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::String(self.render())
    }
}

/// An exact decimal, as a string (`"1234.50"`). Input is kept as the client
/// wrote it — any string or number — and read by `validate::amount_cents`,
/// so a malformed, negative, over-precise or huge amount is `BAD_USER_INPUT`
/// naming its field (async-graphql's own `Decimal` refused 29 digits before
/// any resolver ran, with no field, and overflowed past ~7.9e26).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal(pub String);

impl Decimal {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// No doc comment on the impl: the SDL keeps `scalar Decimal` as it was.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Decimal(s)),
            Value::Number(n) => Ok(Decimal(n.to_string())),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An exact amount in the configured currency.
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct Money {
    /// Exact decimal string with two places, e.g. `"1234.50"`.
    pub amount: Decimal,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
}

impl Money {
    /// Cents as an exact amount; sums of many amounts may exceed `i64`.
    pub fn from_cents(cents: impl Into<i128>, currency: &str) -> Self {
        Money {
            amount: Decimal(crate::validate::cents_text(cents.into())),
            currency: currency.to_owned(),
        }
    }
}

/// An optional field of an update input: absent keeps, `null` clears.
impl<T> From<async_graphql::MaybeUndefined<T>> for crate::patch::Patch<T> {
    fn from(value: async_graphql::MaybeUndefined<T>) -> Self {
        match value {
            async_graphql::MaybeUndefined::Undefined => crate::patch::Patch::Keep,
            async_graphql::MaybeUndefined::Null => crate::patch::Patch::Clear,
            async_graphql::MaybeUndefined::Value(v) => crate::patch::Patch::Set(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_1900_to_9999_are_refused() {
        let date = |s: &str| <Date as ScalarType>::parse(Value::String(s.to_owned())).is_ok();
        assert!(date("1900-01-01"));
        assert!(date("9999-12-31"));
        assert!(!date("1899-12-31"));
        assert!(!date("0001-01-01"));
        assert!(!date("10000-01-01"));
        assert!(!date("+12345-01-01"));
        let time = |s: &str| <DateTime as ScalarType>::parse(Value::String(s.to_owned())).is_ok();
        assert!(time("1900-01-01T00:00:00Z"));
        assert!(time("9999-12-31T23:59:59Z"));
        assert!(!time("1899-12-31T23:59:59Z"));
        assert!(!time("0000-01-01T00:00:00Z"));
        // 9999-12-31T23:00-05:00 is year 10000 in UTC.
        assert!(!time("9999-12-31T23:00:00-05:00"));
    }

    #[test]
    fn decimals_are_kept_raw() {
        let parse = |v: Value| <Decimal as ScalarType>::parse(v).ok();
        let huge = "123456789012345678901234567890";
        assert_eq!(
            parse(Value::String(huge.into())),
            Some(Decimal(huge.into()))
        );
        assert_eq!(parse(Value::from(12)), Some(Decimal("12".into())));
        assert_eq!(parse(Value::Boolean(true)), None);
    }
}
