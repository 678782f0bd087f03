//! Q2, the marketing KPIs of docs/performance.md: `funnel(groupBy: CHANNEL)` and
//! `costPerLead(groupBy: CHANNEL)` in one request (a trend with
//! `--q2-interval`), over the 90 days (`--q2-days`) that end
//! at the first midnight (UTC) after the latest lead's creation. The seed
//! spreads leads over the two years before its end (2026-11-01), so that is
//! its last 90 days, full of cohort leads, stage histories and spend;
//! "now" would leave a few empty weeks in the period, or all of it empty
//! when the data set is older.
//!
//! Before measuring, one request is checked field by field against the
//! hand-written SQL (`Sql::q2`): a disagreement fails the run.

use crate::api::{self, Api};
use crate::sql::{Q2Channel, Sql};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The period and the request body.
#[derive(Clone)]
pub struct Q2 {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Spend entries dated in `[first_day, end_day)` count.
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
    pub body: bytes::Bytes,
}

impl Q2 {
    pub fn note(&self, checked: &str) -> String {
        format!(
            "period [{}, {}): the {} days up to the midnight after the latest lead's creation; \
             one request for funnel + costPerLead by CHANNEL (MARKETING token); SQL: the \
             server's three aggregate statements by hand; {checked}",
            self.from.format("%Y-%m-%d"),
            self.to.format("%Y-%m-%d"),
            (self.to - self.from).num_days()
        )
    }
}

/// The period from the data (`days` up to the midnight after the latest
/// lead), and the request (a trend when `interval` is given).
pub async fn prepare(sql: &Sql, days: i64, interval: Option<&str>) -> Result<Q2, String> {
    let latest = sql
        .latest_lead()
        .await?
        .ok_or("Q2: the database has no leads")?;
    let end_day = latest.date_naive() + Duration::days(1);
    let first_day = end_day - Duration::days(days);
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let (Some(from), Some(to)) = (midnight(first_day), midnight(end_day)) else {
        return Err(format!("Q2: no period ends after {latest}"));
    };
    let period = json!({
        "from": from.to_rfc3339_opts(SecondsFormat::Secs, true),
        "to": to.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    Ok(Q2 {
        from,
        to,
        first_day,
        end_day,
        body: match interval {
            None => api::body(api::Q2_QUERY, json!({ "period": period })),
            Some(i) => api::body(
                api::Q2_TREND_QUERY,
                json!({ "period": period, "interval": i }),
            ),
        },
    })
}

/// `"1234.50"` → 123450.
fn cents(money: &Value) -> Result<Option<i64>, String> {
    if money.is_null() {
        return Ok(None);
    }
    let text = money["amount"]
        .as_str()
        .ok_or_else(|| format!("not a Money: {money}"))?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (units, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = format!("{fraction:0<2}");
    if fraction.len() != 2 {
        return Err(format!("amount {text} has more than 2 decimals"));
    }
    let value = format!("{units}{fraction}")
        .parse::<i64>()
        .map_err(|e| format!("amount {text}: {e}"))?;
    Ok(Some(if negative { -value } else { value }))
}

fn int(v: &Value) -> Result<i64, String> {
    v.as_i64().ok_or_else(|| format!("not an integer: {v}"))
}

/// The API's answer in the shape of the SQL's.
fn from_api(data: &Value) -> Result<BTreeMap<String, Q2Channel>, String> {
    let mut channels: BTreeMap<String, Q2Channel> = BTreeMap::new();
    let groups = data["funnel"]["groups"]
        .as_array()
        .ok_or("Q2: no funnel groups in the answer")?;
    for g in groups {
        let key = g["key"].as_str().ok_or("Q2: a group without key")?;
        let c = channels.entry(key.to_owned()).or_default();
        c.in_funnel = true;
        c.new_leads = int(&g["newLeads"])?;
        c.disqualified = int(&g["disqualified"])?;
        c.overall_conversion = g["overallConversion"].as_f64();
        let stages = g["stages"].as_array().ok_or("Q2: a group without stages")?;
        if stages.len() != 5 {
            return Err(format!("Q2: {key} has {} stages, not 5", stages.len()));
        }
        for (i, s) in stages.iter().enumerate() {
            c.reached[i] = int(&s["reached"])?;
            c.conversion[i] = s["conversionFromPrevious"].as_f64();
            c.avg_days[i] = s["avgDaysFromPrevious"].as_f64();
        }
    }
    let rows = data["costPerLead"]
        .as_array()
        .ok_or("Q2: no costPerLead rows in the answer")?;
    for r in rows {
        let key = r["key"].as_str().ok_or("Q2: a cost row without key")?;
        let c = channels.entry(key.to_owned()).or_default();
        c.in_cost = true;
        c.spend_cents = cents(&r["spend"])?.ok_or("Q2: a cost row without spend")?;
        c.revenue_cents = cents(&r["revenue"])?.ok_or("Q2: a cost row without revenue")?;
        c.cost_counts = [
            int(&r["leads"])?,
            int(&r["mqls"])?,
            int(&r["sqls"])?,
            int(&r["customers"])?,
        ];
        c.cost_per = [
            cents(&r["costPerLead"])?,
            cents(&r["costPerMql"])?,
            cents(&r["costPerSql"])?,
            cents(&r["costPerCustomer"])?,
        ];
        c.roi = r["roi"].as_f64();
    }
    Ok(channels)
}

/// Mean days agree to 10^-9 relative, plus one millisecond: the server
/// sums exact microseconds (its KPI rollups), SQLite's `julianday` in the
/// hand-written SQL sees milliseconds.
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    const MILLISECOND_IN_DAYS: f64 = 1.0 / 86_400_000.0;
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0) + MILLISECOND_IN_DAYS
        }
        _ => false,
    }
}

fn agree(a: &Q2Channel, b: &Q2Channel) -> bool {
    let floats = |c: &Q2Channel| {
        let mut v: Vec<Option<f64>> = c.avg_days.to_vec();
        v.extend(c.conversion);
        v.push(c.overall_conversion);
        v.push(c.roi);
        v
    };
    (
        a.in_funnel,
        a.in_cost,
        a.new_leads,
        a.reached,
        a.disqualified,
        a.spend_cents,
        a.cost_counts,
        a.cost_per,
        a.revenue_cents,
    ) == (
        b.in_funnel,
        b.in_cost,
        b.new_leads,
        b.reached,
        b.disqualified,
        b.spend_cents,
        b.cost_counts,
        b.cost_per,
        b.revenue_cents,
    ) && floats(a)
        .into_iter()
        .zip(floats(b))
        .all(|(x, y)| close(x, y))
}

/// One request through the API and the same figures by SQL, compared field
/// by field; returns a line saying what agreed.
pub async fn check(q2: &Q2, api: &Api, token: &str, sql: &Sql) -> Result<String, String> {
    let bytes = api.post(token, q2.body.clone()).await?;
    let mut answer: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let from_api = from_api(&answer["data"].take())?;
    let from_sql = sql.q2(q2.from, q2.to, q2.first_day, q2.end_day).await?;
    let keys: Vec<&String> = from_api
        .keys()
        .chain(from_sql.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let default = Q2Channel::default();
    let mut wrong = Vec::new();
    for key in &keys {
        let (a, s) = (
            from_api.get(*key).unwrap_or(&default),
            from_sql.get(*key).unwrap_or(&default),
        );
        if !agree(a, s) {
            wrong.push(format!("{key}:\n    API {a:?}\n    SQL {s:?}"));
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "Q2: the API and the hand-written SQL disagree on {} channel(s):\n  {}",
            wrong.len(),
            wrong.join("\n  ")
        ));
    }
    let leads: i64 = from_sql.values().map(|c| c.new_leads).sum();
    let spend: i64 = from_sql.values().map(|c| c.spend_cents).sum();
    if leads == 0 {
        return Err("Q2: no cohort leads in the period: nothing to measure".to_owned());
    }
    Ok(format!(
        "checked once: API = SQL on {} channels, {leads} cohort leads, spend {}.{:02}",
        keys.len(),
        spend / 100,
        spend % 100
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_cents() {
        let m = |s: &str| json!({ "amount": s, "currency": "EUR" });
        assert_eq!(cents(&m("1234.50")), Ok(Some(123_450)));
        assert_eq!(cents(&m("0.05")), Ok(Some(5)));
        assert_eq!(cents(&m("-3.1")), Ok(Some(-310)));
        assert_eq!(cents(&m("7")), Ok(Some(700)));
        assert_eq!(cents(&Value::Null), Ok(None));
        assert!(cents(&m("1.234")).is_err());
    }
}
