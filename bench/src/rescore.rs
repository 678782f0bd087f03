//! RESCORE (issue #4): bulk rescoring of every lead through `rescoreLeads`
//! (ADMIN), timed from request to answer. One shot per bench run, whatever
//! `--concurrency` says:
//!
//! 1. `rule_changed`: the active rule found in the most leads' breakdowns
//!    gets one point more (and a cap one higher, so capped leads change
//!    too), then `rescoreLeads` — every lead it scores changes;
//! 2. `rule_restored`: the rule as it was, then `rescoreLeads` — they change
//!    back (scores end as they started, apart from decay since the last
//!    rescoring; MQL promotions are one-way and stay);
//! 3. `steady`: `rescoreLeads` with nothing changed, the periodic job's
//!    usual case.
//!
//! Between the steps the bench reads every lead's score and breakdown by
//! SQL (untimed) to count the leads each step changed. No SQL baseline: the
//! scoring itself (decay, caps, personas) is Rust, not a query.

use crate::api::{self, Api};
use crate::sql::Sql;
use leadgraph::graphql::ids::NodeType;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What the runs measured; flattened into the summary row.
#[derive(Debug, Default, serde::Serialize)]
pub struct RescoreFigures {
    /// Seconds per `rescoreLeads` (median over the rounds) by step.
    pub seconds_each: BTreeMap<&'static str, f64>,
    /// Leads whose score or breakdown each step changed (last round).
    pub changed_each: BTreeMap<&'static str, u64>,
    /// Leads moved to MQL by each step (all rounds).
    pub promoted_each: BTreeMap<&'static str, u64>,
    pub leads_rescored: u64,
    /// The rule changed and restored.
    pub rule: String,
}

pub const STEPS: [&str; 3] = ["rule_changed", "rule_restored", "steady"];

/// `rescoreLeads`, timed: `(seconds, leads rescored, promoted)`.
async fn rescore(api: &Api, token: &str) -> Result<(f64, u64, u64), String> {
    let started = Instant::now();
    let data = api.data(token, api::RESCORE_MUTATION, Value::Null).await?;
    let seconds = started.elapsed().as_secs_f64();
    let result = &data["rescoreLeads"];
    match (
        result["leadsRescored"].as_u64(),
        result["promotedToMql"].as_u64(),
    ) {
        (Some(leads), Some(promoted)) => Ok((seconds, leads, promoted)),
        _ => Err(format!("rescoreLeads answered {data}")),
    }
}

/// Leads whose `(score, breakdown)` differ between two reads.
fn changed(before: &[(i64, i32, String)], after: &[(i64, i32, String)]) -> u64 {
    let before: HashMap<i64, (i32, &str)> = before
        .iter()
        .map(|(id, s, b)| (*id, (*s, b.as_str())))
        .collect();
    after
        .iter()
        .filter(|(id, s, b)| before.get(id) != Some(&(*s, b.as_str())))
        .count() as u64
}

/// The active rule in the most breakdowns, as `(id, input)`: the rule as
/// read, in the shape of `ScoringRuleInput`.
fn busiest_rule(rules: &[Value], scores: &[(i64, i32, String)]) -> Option<(String, Value)> {
    let mut uses: HashMap<i64, u64> = HashMap::new();
    for (_, _, breakdown) in scores {
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(breakdown) {
            for item in items {
                if let Some(rule) = item["ruleId"].as_i64() {
                    *uses.entry(rule).or_default() += 1;
                }
            }
        }
    }
    rules
        .iter()
        .filter(|r| r["active"] == Value::Bool(true))
        .max_by_key(|r| {
            let id = r["id"].as_str().unwrap_or_default();
            leadgraph::graphql::ids::decode(NodeType::ScoringRule, id, "id")
                .ok()
                .and_then(|raw| uses.get(&raw).copied())
                .unwrap_or(0)
        })
        .map(|r| {
            let mut input = r.clone();
            let id = input
                .as_object_mut()
                .and_then(|o| o.remove("id"))
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            (id, input)
        })
}

/// One point more (one less for a rule of −1 points, as 0 is refused) and
/// a cap one higher.
fn bumped(input: &Value) -> Value {
    let mut next = input.clone();
    let points = input["points"].as_i64().unwrap_or(0);
    next["points"] = json!(if points == -1 { -2 } else { points + 1 });
    if let Some(cap) = input["maxPointsPerLead"].as_i64() {
        next["maxPointsPerLead"] = json!(cap + 1);
    }
    next
}

async fn update_rule(api: &Api, token: &str, id: &str, input: &Value) -> Result<(), String> {
    api.data(
        token,
        api::UPDATE_RULE_MUTATION,
        json!({ "id": id, "input": input }),
    )
    .await
    .map(|_| ())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// The three steps, `rounds` times; the rule is restored even when a step fails.
pub async fn run(
    url: &str,
    token: &str,
    sql: &Sql,
    rounds: usize,
) -> Result<RescoreFigures, String> {
    let api = Api::with_timeout(url, 1, Duration::from_secs(600))?;
    let data = api
        .data(token, api::SCORING_RULES_QUERY, Value::Null)
        .await?;
    let rules = data["scoringRules"].as_array().cloned().unwrap_or_default();
    let mut scores = sql.scores().await?;
    let (id, original) =
        busiest_rule(&rules, &scores).ok_or("RESCORE: no active scoring rule to change")?;
    let mut figures = RescoreFigures {
        rule: original["name"].as_str().unwrap_or_default().to_owned(),
        ..RescoreFigures::default()
    };
    let mut seconds: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for _ in 0..rounds.max(1) {
        for step in STEPS {
            match step {
                "rule_changed" => update_rule(&api, token, &id, &bumped(&original)).await?,
                "rule_restored" => update_rule(&api, token, &id, &original).await?,
                _ => {}
            }
            let outcome = rescore(&api, token).await;
            let (secs, leads, promoted) = match outcome {
                Ok(o) => o,
                Err(e) => {
                    // Never leave the rule changed behind.
                    let restored = update_rule(&api, token, &id, &original).await;
                    return Err(format!(
                        "RESCORE {step}: {e}{}",
                        restored
                            .err()
                            .map(|r| format!(" (and restoring the rule failed: {r})"))
                            .unwrap_or_default()
                    ));
                }
            };
            eprintln!("  {step}: {secs:.2} s, {leads} leads, {promoted} promoted to MQL");
            seconds.entry(step).or_default().push(secs);
            *figures.promoted_each.entry(step).or_default() += promoted;
            figures.leads_rescored = leads;
            let after = sql.scores().await?;
            figures.changed_each.insert(step, changed(&scores, &after));
            scores = after;
        }
    }
    figures.seconds_each = seconds
        .into_iter()
        .map(|(step, xs)| (step, (median(xs) * 1000.0).round() / 1000.0))
        .collect();
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bumped_rule_scores_differently() {
        let rule = json!({ "name": "Any page visit", "points": 1, "maxPointsPerLead": 10 });
        let next = bumped(&rule);
        assert_eq!(next["points"], 2);
        assert_eq!(next["maxPointsPerLead"], 11);
        assert_eq!(bumped(&json!({ "points": -1 }))["points"], -2);
        assert_eq!(
            bumped(&json!({ "points": 5, "maxPointsPerLead": null }))["maxPointsPerLead"],
            Value::Null
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
    }
}
