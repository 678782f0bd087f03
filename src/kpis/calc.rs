//! The arithmetic of the KPIs (docs/kpis.md), pure: ratios that are `None`
//! on a zero denominator, money divided and rounded to cents half away from
//! zero, ROI, the funnel's per-stage figures, and the period rules.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};

/// Funnel ranks LEAD = 1 … CUSTOMER = 5, as indexes 0 … 4.
pub const STAGES: usize = 5;

/// `numerator / denominator`, `None` when the denominator is 0.
pub fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    // Both are counts far below 2^53: exact as f64, so the quotient is the
    // correctly rounded value of the exact one.
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

/// `numerator / denominator` rounded to an integer, halves away from zero.
pub fn div_round_half_away(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    // |remainder| ≥ |denominator| / 2 ⇔ 2·|remainder| ≥ |denominator|.
    if 2 * remainder.abs() >= denominator.abs() {
        let away = if (numerator < 0) != (denominator < 0) {
            -1
        } else {
            1
        };
        Some(quotient + away)
    } else {
        Some(quotient)
    }
}

/// An amount in cents shared by `count` items, in cents rounded half away
/// from zero (`costPerX = spend / X`); `None` when `count` is 0.
///
/// Money sums are `i128`: one amount is at most `validate::MAX_CENTS`
/// (~10^14), so a sum of many no longer fits `i64` safely, but any sum the
/// database can hold fits `i128` many times over.
pub fn cents_per(total_cents: i128, count: i64) -> Option<i128> {
    div_round_half_away(total_cents, i128::from(count))
}

/// `(revenue − spend) / spend`, `None` when spend is 0.
pub fn roi(revenue_cents: i128, spend_cents: i128) -> Option<f64> {
    (spend_cents != 0).then(|| {
        let gain = revenue_cents.saturating_sub(spend_cents);
        gain as f64 / spend_cents as f64
    })
}

/// A sum of amounts the database returns in two parts (see
/// `kpis::service::money_sum`): `high · 10^6 + low`.
pub fn join_sum(high: i64, low: i64) -> i128 {
    i128::from(high) * i128::from(SUM_SPLIT) + i128::from(low)
}

/// Each amount is summed as `amount / SUM_SPLIT` and `amount % SUM_SPLIT`:
/// neither sum can overflow a 64-bit integer in SQL (SQLite raises an error
/// on overflow, PostgreSQL on the cast back to BIGINT) for fewer than 9·10^10
/// rows, whatever the amounts.
pub const SUM_SPLIT: i64 = 1_000_000;

/// What the database counts for one group of a cohort.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CohortCounts {
    pub new_leads: i64,
    /// Leads that reached each funnel stage (index 0 = LEAD).
    pub reached: [i64; STAGES],
    /// Mean days from the previous stage's milestone, over the leads that
    /// reached the stage (index 0, LEAD, has no previous: always `None`).
    pub avg_days: [Option<f64>; STAGES],
    pub disqualified: i64,
}

/// One funnel stage's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageFigures {
    /// Index into the funnel (0 = LEAD).
    pub index: usize,
    pub reached: i64,
    pub conversion_from_previous: Option<f64>,
    pub avg_days_from_previous: Option<f64>,
}

/// LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER in this order.
pub fn stage_figures(counts: &CohortCounts) -> [StageFigures; STAGES] {
    std::array::from_fn(|index| StageFigures {
        index,
        reached: counts.reached[index],
        conversion_from_previous: index
            .checked_sub(1)
            .and_then(|prev| ratio(counts.reached[index], counts.reached[prev])),
        avg_days_from_previous: if index == 0 {
            None
        } else {
            counts.avg_days[index]
        },
    })
}

/// CUSTOMER reached / new leads.
pub fn overall_conversion(counts: &CohortCounts) -> Option<f64> {
    ratio(counts.reached[STAGES - 1], counts.new_leads)
}

/// The cost figures of one group, in cents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostFigures {
    pub spend_cents: i128,
    pub leads: i64,
    pub mqls: i64,
    pub sqls: i64,
    pub customers: i64,
    pub cost_per_lead: Option<i128>,
    pub cost_per_mql: Option<i128>,
    pub cost_per_sql: Option<i128>,
    pub cost_per_customer: Option<i128>,
    pub revenue_cents: i128,
    pub roi: Option<f64>,
}

pub fn cost_figures(
    spend_cents: i128,
    leads: i64,
    mqls: i64,
    sqls: i64,
    customers: i64,
    revenue_cents: i128,
) -> CostFigures {
    CostFigures {
        spend_cents,
        leads,
        mqls,
        sqls,
        customers,
        cost_per_lead: cents_per(spend_cents, leads),
        cost_per_mql: cents_per(spend_cents, mqls),
        cost_per_sql: cents_per(spend_cents, sqls),
        cost_per_customer: cents_per(spend_cents, customers),
        revenue_cents,
        roi: roi(revenue_cents, spend_cents),
    }
}

/// Why a period is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodError {
    /// `from` is not before `to`.
    Empty,
    /// More than 5 years (60 calendar months) from `from` to `to`.
    TooLong,
    /// `to` after 9999-12-31 00:00 UTC: its spend dates would reach year
    /// 10000, which SQLite, comparing dates as text, orders before 1900.
    TooLate,
}

/// A KPI period `[from, to)`: `from < to`, and `to` at most 60 calendar
/// months after `from`.
pub fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), PeriodError> {
    if from >= to {
        return Err(PeriodError::Empty);
    }
    if first_day_at_or_after(to).year() > 9999 {
        return Err(PeriodError::TooLate);
    }
    match from.checked_add_months(Months::new(60)) {
        Some(limit) if to > limit => Err(PeriodError::TooLong),
        _ => Ok(()),
    }
}

/// The first day whose 00:00 UTC is at or after `t`.
fn first_day_at_or_after(t: DateTime<Utc>) -> NaiveDate {
    let day = t.date_naive();
    if t.time() == NaiveTime::MIN {
        day
    } else {
        day.succ_opt().unwrap_or(day)
    }
}

/// The spend dates of a period, as a half-open date range `[first, end)`:
/// an entry dated D counts when `from ≤ D 00:00 UTC < to`.
pub fn spend_dates(from: DateTime<Utc>, to: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    (first_day_at_or_after(from), first_day_at_or_after(to))
}

/// The buckets of a trend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interval {
    /// UTC days.
    Day,
    /// ISO weeks: Monday 00:00 UTC to the next Monday.
    Week,
    /// Calendar months, from the 1st 00:00 UTC.
    Month,
}

/// Most buckets one trend may have: a year and a bit of days, five years of
/// weeks or months.
pub const MAX_BUCKETS: usize = 400;

/// The first bucket boundary strictly after `t`.
fn next_boundary(t: DateTime<Utc>, interval: Interval) -> Option<DateTime<Utc>> {
    let day = t.date_naive();
    let start = match interval {
        Interval::Day => day.succ_opt()?,
        Interval::Week => {
            let monday =
                day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()));
            monday.checked_add_signed(chrono::Duration::days(7))?
        }
        Interval::Month => {
            let first = day.with_day(1)?;
            first.checked_add_months(Months::new(1))?
        }
    };
    Some(start.and_time(NaiveTime::MIN).and_utc())
}

/// The buckets of `[from, to)`: half-open, contiguous, in order, each within
/// one interval; the first starts at `from` and the last ends at `to`, so
/// they are partial when the period is not aligned to the interval.
/// `None` when there would be more than `max` of them.
pub fn buckets(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
    max: usize,
) -> Option<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        if out.len() == max {
            return None;
        }
        let end = next_boundary(start, interval).map_or(to, |b| b.min(to));
        out.push((start, end));
        start = end;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid")
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid")
    }

    #[test]
    fn ratios_are_null_on_zero_denominators() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 4), Some(0.0));
        assert_eq!(ratio(3, 0), None);
        assert_eq!(roi(0, 0), None);
        assert_eq!(roi(15000, 10000), Some(0.5));
        assert_eq!(roi(0, 10000), Some(-1.0));
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        // 100.00 / 3 = 33.333… → 33.33; 100.00 / 8 = 12.50; 0.05 / 2 = 0.025 → 0.03
        assert_eq!(cents_per(10000, 3), Some(3333));
        assert_eq!(cents_per(10000, 8), Some(1250));
        assert_eq!(cents_per(5, 2), Some(3));
        assert_eq!(cents_per(1, 3), Some(0));
        assert_eq!(cents_per(2, 3), Some(1));
        assert_eq!(cents_per(5, 0), None);
        assert_eq!(div_round_half_away(-5, 2), Some(-3));
        assert_eq!(div_round_half_away(5, -2), Some(-3));
        assert_eq!(div_round_half_away(-4, 3), Some(-1));
    }

    #[test]
    fn money_sums_beyond_i64_stay_exact() {
        let max = 99_999_999_999_999i64;
        // 200,000 maximal amounts: far beyond i64::MAX cents.
        let n = 200_000i64;
        let total = join_sum(max / SUM_SPLIT * n, max % SUM_SPLIT * n);
        assert_eq!(total, i128::from(max) * i128::from(n));
        assert!(total > i128::from(i64::MAX));
        assert_eq!(cents_per(total, n), Some(i128::from(max)));
        assert_eq!(roi(total, total), Some(0.0));
        let f = cost_figures(total, n, 0, 0, 0, total);
        assert_eq!(f.cost_per_lead, Some(i128::from(max)));
    }

    #[test]
    fn stage_figures_follow_the_funnel() {
        let counts = CohortCounts {
            new_leads: 10,
            reached: [10, 4, 0, 0, 0],
            avg_days: [Some(9.0), Some(2.5), None, None, None],
            disqualified: 2,
        };
        let s = stage_figures(&counts);
        assert_eq!(s[0].conversion_from_previous, None);
        assert_eq!(s[0].avg_days_from_previous, None);
        assert_eq!(s[1].conversion_from_previous, Some(0.4));
        assert_eq!(s[1].avg_days_from_previous, Some(2.5));
        assert_eq!(s[2].conversion_from_previous, Some(0.0));
        // SQL reached nobody: OPPORTUNITY's denominator is 0.
        assert_eq!(s[3].conversion_from_previous, None);
        assert_eq!(overall_conversion(&counts), Some(0.0));
        assert_eq!(overall_conversion(&CohortCounts::default()), None);
    }

    #[test]
    fn cost_figures_null_what_has_no_denominator() {
        let f = cost_figures(100000, 3, 1, 0, 0, 0);
        assert_eq!(f.cost_per_lead, Some(33333));
        assert_eq!(f.cost_per_mql, Some(100000));
        assert_eq!(f.cost_per_sql, None);
        assert_eq!(f.cost_per_customer, None);
        assert_eq!(f.roi, Some(-1.0));
        let free = cost_figures(0, 2, 2, 1, 1, 50000);
        assert_eq!(free.cost_per_lead, Some(0));
        assert_eq!(free.roi, None);
    }

    #[test]
    fn periods() {
        let from = at(2026, 1, 1, 0, 0);
        assert_eq!(check_period(from, from), Err(PeriodError::Empty));
        let last_day = at(9999, 12, 31, 0, 0);
        assert_eq!(check_period(at(9999, 1, 1, 0, 0), last_day), Ok(()));
        assert_eq!(
            check_period(at(9999, 1, 1, 0, 0), at(9999, 12, 31, 0, 1)),
            Err(PeriodError::TooLate)
        );
        assert_eq!(
            spend_dates(at(9999, 1, 1, 0, 0), last_day).1,
            day(9999, 12, 31)
        );
        assert_eq!(
            check_period(from, at(2025, 1, 1, 0, 0)),
            Err(PeriodError::Empty)
        );
        assert_eq!(check_period(from, at(2031, 1, 1, 0, 0)), Ok(()));
        assert_eq!(
            check_period(from, at(2031, 1, 1, 0, 1)),
            Err(PeriodError::TooLong)
        );
    }

    #[test]
    fn spend_dates_count_days_whose_midnight_is_in_the_period() {
        assert_eq!(
            spend_dates(at(2026, 3, 1, 0, 0), at(2026, 3, 8, 0, 0)),
            (day(2026, 3, 1), day(2026, 3, 8))
        );
        // From mid-day: that day's midnight is before `from`.
        assert_eq!(
            spend_dates(at(2026, 3, 1, 9, 30), at(2026, 3, 8, 0, 1)),
            (day(2026, 3, 2), day(2026, 3, 9))
        );
    }

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        // 2020 … 2035, at minute resolution, often on a midnight.
        (1_577_836_800i64..2_082_758_400i64, any::<bool>()).prop_map(|(secs, midnight)| {
            let secs = if midnight {
                secs - secs % 86_400
            } else {
                secs - secs % 60
            };
            DateTime::from_timestamp(secs, 0).expect("in range")
        })
    }

    proptest! {
        #[test]
        fn rounding_is_nearest_with_halves_away(total in -1_000_000_000i64..1_000_000_000, count in 1i64..10_000) {
            let q = cents_per(i128::from(total), count).expect("count > 0");
            let err = q * i128::from(count) - i128::from(total);
            // Nearest: |q·count − total| ≤ count/2 …
            prop_assert!(2 * err.abs() <= i128::from(count));
            // … and on an exact half, away from zero.
            if 2 * err.abs() == i128::from(count) {
                prop_assert!(
                    q.signum() == i128::from(total.signum())
                        && q.abs() * i128::from(count) > i128::from(total.abs())
                );
            }
        }

        #[test]
        fn ratios_of_a_subset_are_within_0_and_1(n in 0i64..1_000_000, extra in 0i64..1_000_000) {
            let r = ratio(n, n + extra);
            if n + extra == 0 {
                prop_assert_eq!(r, None);
            } else {
                let r = r.expect("non-zero denominator");
                prop_assert!((0.0..=1.0).contains(&r));
            }
        }

        #[test]
        fn roi_is_null_exactly_without_spend(revenue in 0i64..1_000_000_000, spend in 0i64..1_000_000_000) {
            let r = roi(i128::from(revenue), i128::from(spend));
            prop_assert_eq!(r.is_none(), spend == 0);
            if let Some(r) = r {
                prop_assert!(r >= -1.0);
                prop_assert_eq!(r >= 0.0, revenue >= spend);
            }
        }

        #[test]
        fn spend_dates_match_the_midnight_rule(from in any_time(), len in 1i64..20 * 86_400) {
            let to = from + chrono::Duration::seconds(len);
            let (first, end) = spend_dates(from, to);
            let mut d = from.date_naive() - chrono::Duration::days(2);
            while d <= to.date_naive() + chrono::Duration::days(2) {
                let midnight = d.and_time(NaiveTime::MIN).and_utc();
                let counts = from <= midnight && midnight < to;
                prop_assert_eq!(counts, first <= d && d < end, "day {}", d);
                d = d.succ_opt().expect("in range");
            }
        }

        #[test]
        fn buckets_cut_the_period_at_interval_boundaries(from in any_time(), len in 1i64..800 * 86_400, which in 0usize..3) {
            let interval = [Interval::Day, Interval::Week, Interval::Month][which];
            let to = from + chrono::Duration::seconds(len);
            let Some(b) = buckets(from, to, interval, 10_000) else {
                return Err(TestCaseError::fail("too many"));
            };
            prop_assert_eq!(b[0].0, from);
            prop_assert_eq!(b[b.len() - 1].1, to);
            for w in b.windows(2) {
                prop_assert_eq!(w[0].1, w[1].0);
            }
            for (i, (s, e)) in b.iter().enumerate() {
                prop_assert!(s < e);
                // Inner boundaries are interval starts.
                if i + 1 < b.len() {
                    prop_assert_eq!(e.time(), NaiveTime::MIN);
                    match interval {
                        Interval::Day => {}
                        Interval::Week => prop_assert_eq!(e.weekday(), chrono::Weekday::Mon),
                        Interval::Month => prop_assert_eq!(e.day(), 1),
                    }
                }
                // One interval each: no boundary strictly inside.
                if let Some(n) = next_boundary(*s, interval) {
                    prop_assert!(*e <= n);
                }
            }
            prop_assert_eq!(buckets(from, to, interval, b.len()).map(|v| v.len()), Some(b.len()));
            if b.len() > 1 {
                prop_assert_eq!(buckets(from, to, interval, b.len() - 1), None);
            }
        }

        #[test]
        fn conversions_follow_reached(new in 0i64..1000, cuts in proptest::array::uniform4(0i64..1000)) {
            let mut reached = [new; STAGES];
            for i in 1..STAGES {
                reached[i] = reached[i - 1].min(cuts[i - 1]);
            }
            let counts = CohortCounts { new_leads: new, reached, ..Default::default() };
            let stages = stage_figures(&counts);
            prop_assert_eq!(stages[0].conversion_from_previous, None);
            for i in 1..STAGES {
                let c = stages[i].conversion_from_previous;
                prop_assert_eq!(c.is_none(), reached[i - 1] == 0);
                if let Some(c) = c {
                    prop_assert!((0.0..=1.0).contains(&c));
                }
            }
        }
    }
}
