//! The scoring rules of docs/scoring.md as pure functions: no I/O, no database,
//! no GraphQL. The service loads rules, the lead and its interactions, calls
//! [`score`], and stores the result.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// FIT rules look at the lead's attributes, ENGAGEMENT rules at its interactions.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleKind {
    Fit,
    Engagement,
}

/// The lead attribute a FIT condition reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeadField {
    JobTitle,
    Industry,
    CompanySize,
    Country,
    /// The part of the email after the `@`.
    EmailDomain,
}

/// How a FIT condition compares the attribute with its values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionOp {
    Equals,
    In,
    Contains,
    Gte,
    Lte,
}

impl RuleKind {
    pub const ALL: [RuleKind; 2] = [RuleKind::Fit, RuleKind::Engagement];

    /// The stored and GraphQL spelling, e.g. `"FIT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Fit => "FIT",
            RuleKind::Engagement => "ENGAGEMENT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl LeadField {
    pub const ALL: [LeadField; 5] = [
        LeadField::JobTitle,
        LeadField::Industry,
        LeadField::CompanySize,
        LeadField::Country,
        LeadField::EmailDomain,
    ];

    /// The stored and GraphQL spelling, e.g. `"COMPANY_SIZE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadField::JobTitle => "JOB_TITLE",
            LeadField::Industry => "INDUSTRY",
            LeadField::CompanySize => "COMPANY_SIZE",
            LeadField::Country => "COUNTRY",
            LeadField::EmailDomain => "EMAIL_DOMAIN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl ConditionOp {
    pub const ALL: [ConditionOp; 5] = [
        ConditionOp::Equals,
        ConditionOp::In,
        ConditionOp::Contains,
        ConditionOp::Gte,
        ConditionOp::Lte,
    ];

    /// The stored and GraphQL spelling, e.g. `"GTE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionOp::Equals => "EQUALS",
            ConditionOp::In => "IN",
            ConditionOp::Contains => "CONTAINS",
            ConditionOp::Gte => "GTE",
            ConditionOp::Lte => "LTE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The condition of a FIT rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FitCondition {
    pub field: LeadField,
    pub op: ConditionOp,
    pub values: Vec<String>,
}

/// A scoring rule as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: i64,
    /// May be negative.
    pub points: i32,
    pub active: bool,
    pub kind: RuleKind,
    /// FIT rules only.
    pub condition: Option<FitCondition>,
    /// ENGAGEMENT rules only, e.g. `"CONTENT_DOWNLOAD"`.
    pub interaction_kind: Option<String>,
    pub metadata_key: Option<String>,
    pub metadata_contains: Option<String>,
    /// `None`: no decay.
    pub decay_half_life_days: Option<i32>,
    /// `None`: no cap.
    pub max_points_per_lead: Option<i32>,
}

/// What FIT rules and personas read from a lead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadAttributes {
    pub job_title: Option<String>,
    pub industry: Option<String>,
    pub country: Option<String>,
    pub email: String,
    pub company_size: Option<i32>,
}

/// What ENGAGEMENT rules read from an interaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionFact {
    /// The `InteractionKind` spelling, e.g. `"PAGE_VISIT"`.
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub metadata: Option<Value>,
}

/// What one rule gave one lead.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    pub rule_id: i64,
    pub points: i32,
}

/// A lead's score; `breakdown` (by rule id, non-zero only) sums to `score`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub fit_score: i32,
    pub engagement_score: i32,
    pub score: i32,
    pub breakdown: Vec<Contribution>,
}

/// A rule that cannot be saved; `field` names the offending input field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

impl RuleError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        RuleError {
            field,
            message: message.into(),
        }
    }
}

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Scores `lead` at time `now` against `rules` (docs/scoring.md).
pub fn score(
    rules: &[Rule],
    lead: &LeadAttributes,
    interactions: &[InteractionFact],
    now: DateTime<Utc>,
) -> Score {
    score_in_full(rules, lead, interactions, now).0
}

/// [`score`], and the ENGAGEMENT sums it came from, to be stored for
/// [`score_incrementally`].
pub fn score_in_full(
    rules: &[Rule],
    lead: &LeadAttributes,
    interactions: &[InteractionFact],
    now: DateTime<Utc>,
) -> (Score, EngagementState) {
    let state = engagement_state(rules, interactions, now);
    (from_sums(rules, lead, &state.sums), state)
}

/// The score from ENGAGEMENT sums, full or carried: the one place where
/// caps, rounding and the totals are applied.
fn from_sums(rules: &[Rule], lead: &LeadAttributes, sums: &[RuleSum]) -> Score {
    let mut contributions: Vec<(RuleKind, Contribution)> = rules
        .iter()
        .filter(|rule| rule.active)
        .map(|rule| {
            let points = match rule.kind {
                RuleKind::Fit => fit_points(rule, lead),
                RuleKind::Engagement => contribution(rule, sum_of(sums, rule.id).unwrap_or(0.0)),
            };
            let contribution = Contribution {
                rule_id: rule.id,
                points,
            };
            (rule.kind, contribution)
        })
        .filter(|(_, c)| c.points != 0)
        .collect();
    contributions.sort_by_key(|(_, c)| c.rule_id);

    // Summed in i64 and saturated once, so absurd point values cannot overflow.
    let sum = |kind: Option<RuleKind>| -> i32 {
        let total: i64 = contributions
            .iter()
            .filter(|(k, _)| kind.is_none_or(|kind| *k == kind))
            .map(|(_, c)| i64::from(c.points))
            .sum();
        saturate(total)
    };
    Score {
        fit_score: sum(Some(RuleKind::Fit)),
        engagement_score: sum(Some(RuleKind::Engagement)),
        score: sum(None),
        breakdown: contributions.into_iter().map(|(_, c)| c).collect(),
    }
}

/// The shape of [`EngagementState`]; a stored state of another shape is
/// recomputed in full.
pub const STATE_FORMAT: u32 = 1;

/// After this many incremental updates the sums are computed in full again,
/// which bounds the floating-point drift of carried sums.
pub const STEPS_BEFORE_FULL: u32 = 1000;

/// A carried total this close to a rounding boundary (relative to its size)
/// is recomputed in full: the carried and the full sum may differ in their
/// last bits, never by this much.
const ROUNDING_MARGIN: f64 = 1e-9;

/// One ENGAGEMENT rule's total before cap and rounding.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSum {
    pub rule: i64,
    /// [`definition`] of the rule the sum was computed under.
    pub def: u64,
    pub sum: f64,
}

/// What [`score_incrementally`] carries from one scoring to the next: the
/// sums of the active ENGAGEMENT rules at one scoring time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngagementState {
    /// [`STATE_FORMAT`].
    pub v: u32,
    /// The scoring time the sums are decayed to.
    pub at: DateTime<Utc>,
    /// The latest `occurredAt` that a decaying rule counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<DateTime<Utc>>,
    /// Incremental updates since the sums were last computed in full.
    pub steps: u32,
    /// One per active ENGAGEMENT rule, in the order of the rules.
    pub sums: Vec<RuleSum>,
}

impl EngagementState {
    /// Whether the sums can be carried to a later time: every interaction a
    /// decaying rule counted occurred by `at` (a future-dated one does not
    /// decay until its time comes, which a carried sum cannot tell), and
    /// the drift is still bounded.
    pub fn carries(&self) -> bool {
        self.v == STATE_FORMAT
            && self.latest.is_none_or(|latest| latest <= self.at)
            && self.steps < STEPS_BEFORE_FULL
    }
}

/// The sums of the active ENGAGEMENT rules over all of `interactions` at `now`.
pub fn engagement_state(
    rules: &[Rule],
    interactions: &[InteractionFact],
    now: DateTime<Utc>,
) -> EngagementState {
    let mut latest = None;
    let sums = engagement_rules(rules)
        .map(|rule| {
            let mut sum = 0.0;
            for fact in interactions.iter().filter(|fact| counts(rule, fact)) {
                sum += points_at(rule, fact, now);
                if decays(rule) {
                    latest = latest.max(Some(fact.occurred_at));
                }
            }
            RuleSum {
                rule: rule.id,
                def: definition(rule),
                sum,
            }
        })
        .collect();
    EngagementState {
        v: STATE_FORMAT,
        at: now,
        latest,
        steps: 0,
        sums,
    }
}

/// `stored` carried to `now` with the `new` interactions added, or `None`
/// when only the full computation gives the exact sums: a state that does
/// not [carry](EngagementState::carries), a clock earlier than the state,
/// or an active ENGAGEMENT rule that is new or defined otherwise since.
/// Each sum is multiplied by `0.5^(Δt / halfLife)` (that is how every
/// interaction in it decays over Δt) and each new interaction that the
/// rule counts adds its points decayed from its `occurredAt` to `now`.
pub fn advance(
    rules: &[Rule],
    stored: &EngagementState,
    new: &[InteractionFact],
    now: DateTime<Utc>,
) -> Option<EngagementState> {
    if !stored.carries() || now < stored.at {
        return None;
    }
    let mut latest = stored.latest;
    let mut sums = Vec::with_capacity(stored.sums.len());
    for rule in engagement_rules(rules) {
        let def = definition(rule);
        let before = stored
            .sums
            .iter()
            .find(|s| s.rule == rule.id && s.def == def)?;
        let mut sum = before.sum * decay_factor(rule.decay_half_life_days, stored.at, now);
        for fact in new.iter().filter(|fact| counts(rule, fact)) {
            sum += points_at(rule, fact, now);
            if decays(rule) {
                latest = latest.max(Some(fact.occurred_at));
            }
        }
        sums.push(RuleSum {
            rule: rule.id,
            def,
            sum,
        });
    }
    Some(EngagementState {
        v: STATE_FORMAT,
        at: now,
        latest,
        steps: stored.steps + 1,
        sums,
    })
}

/// The score after recording `new` interactions, from the `stored` sums of
/// the earlier ones: exactly what [`score_in_full`] gives over all of them,
/// or `None` when that cannot be guaranteed (see [`advance`]; and a capped
/// total within [`ROUNDING_MARGIN`] of `x.5`, where the last bits decide).
pub fn score_incrementally(
    rules: &[Rule],
    lead: &LeadAttributes,
    stored: &EngagementState,
    new: &[InteractionFact],
    now: DateTime<Utc>,
) -> Option<(Score, EngagementState)> {
    let state = advance(rules, stored, new, now)?;
    let clear = engagement_rules(rules)
        .all(|rule| sum_of(&state.sums, rule.id).is_some_and(|sum| clear_of_rounding(rule, sum)));
    clear.then(|| (from_sums(rules, lead, &state.sums), state))
}

/// What an ENGAGEMENT rule's sum depends on (all but its cap, which applies
/// after), hashed (FNV-1a, stable across builds) so that a stored sum is
/// only reused under the definition it was computed with.
pub fn definition(rule: &Rule) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&rule.points.to_le_bytes());
    for text in [
        &rule.interaction_kind,
        &rule.metadata_key,
        &rule.metadata_contains,
    ] {
        match text {
            Some(text) => {
                eat(&[1]);
                eat(&(text.len() as u64).to_le_bytes());
                eat(text.as_bytes());
            }
            None => eat(&[0]),
        }
    }
    match half_life(rule.decay_half_life_days) {
        Some(days) => {
            eat(&[1]);
            eat(&days.to_le_bytes());
        }
        None => eat(&[0]),
    }
    hash
}

fn engagement_rules(rules: &[Rule]) -> impl Iterator<Item = &Rule> {
    rules
        .iter()
        .filter(|rule| rule.active && rule.kind == RuleKind::Engagement)
}

fn sum_of(sums: &[RuleSum], rule_id: i64) -> Option<f64> {
    sums.iter().find(|s| s.rule == rule_id).map(|s| s.sum)
}

/// Whether an ENGAGEMENT rule counts an interaction.
fn counts(rule: &Rule, fact: &InteractionFact) -> bool {
    rule.interaction_kind.as_deref() == Some(fact.kind.as_str())
        && metadata_matches(rule, fact.metadata.as_ref())
}

fn decays(rule: &Rule) -> bool {
    half_life(rule.decay_half_life_days).is_some()
}

/// What one counted interaction gives at `now`.
fn points_at(rule: &Rule, fact: &InteractionFact, now: DateTime<Utc>) -> f64 {
    f64::from(rule.points) * decay_factor(rule.decay_half_life_days, fact.occurred_at, now)
}

/// The sum clamped to the rule's cap.
fn capped(rule: &Rule, sum: f64) -> f64 {
    match rule.max_points_per_lead {
        Some(max) => {
            let max = f64::from(max.max(0));
            sum.clamp(-max, max)
        }
        None => sum,
    }
}

/// What an ENGAGEMENT rule gives: its sum capped, then rounded.
fn contribution(rule: &Rule, sum: f64) -> i32 {
    // `f64::round` rounds half away from zero; `as` saturates.
    capped(rule, sum).round() as i32
}

/// Whether float error too small for [`ROUNDING_MARGIN`] cannot change how
/// the capped sum rounds. A cap is a whole number, so both sides of it
/// round to the cap: only `x.5` is a boundary.
fn clear_of_rounding(rule: &Rule, sum: f64) -> bool {
    let total = capped(rule, sum).abs();
    (total.fract() - 0.5).abs() > ROUNDING_MARGIN * total.max(1.0)
}

/// Whether a rescored lead moves to MQL: only from LEAD, at or over the threshold.
pub fn reaches_mql(stage_is_lead: bool, score: i32, threshold: i32) -> bool {
    stage_is_lead && score >= threshold
}

/// Checks a rule before it is saved; the first problem found wins.
pub fn validate_rule(rule: &Rule) -> Result<(), RuleError> {
    match rule.kind {
        RuleKind::Fit => {
            let Some(condition) = &rule.condition else {
                return Err(RuleError::new(
                    "input.condition",
                    "a FIT rule needs a condition",
                ));
            };
            if rule.interaction_kind.is_some() {
                return Err(RuleError::new(
                    "input.interactionKind",
                    "a FIT rule has no interactionKind",
                ));
            }
            // Engagement settings on a FIT rule would be silently ignored: refuse them.
            let engagement_only = [
                ("input.metadataKey", rule.metadata_key.is_some()),
                ("input.metadataContains", rule.metadata_contains.is_some()),
                (
                    "input.decayHalfLifeDays",
                    rule.decay_half_life_days.is_some(),
                ),
                ("input.maxPointsPerLead", rule.max_points_per_lead.is_some()),
            ];
            if let Some((field, _)) = engagement_only.into_iter().find(|(_, set)| *set) {
                let name = field.trim_start_matches("input.");
                return Err(RuleError::new(
                    field,
                    format!("{name} applies to ENGAGEMENT rules only"),
                ));
            }
            validate_condition(condition)
        }
        RuleKind::Engagement => {
            if rule.interaction_kind.is_none() {
                return Err(RuleError::new(
                    "input.interactionKind",
                    "an ENGAGEMENT rule needs an interactionKind",
                ));
            }
            if rule.condition.is_some() {
                return Err(RuleError::new(
                    "input.condition",
                    "an ENGAGEMENT rule has no condition",
                ));
            }
            if rule.metadata_contains.is_some() && rule.metadata_key.is_none() {
                return Err(RuleError::new(
                    "input.metadataContains",
                    "metadataContains requires metadataKey",
                ));
            }
            if rule.decay_half_life_days.is_some_and(|days| days < 1) {
                return Err(RuleError::new(
                    "input.decayHalfLifeDays",
                    "decayHalfLifeDays must be at least 1",
                ));
            }
            if rule.max_points_per_lead.is_some_and(|max| max < 1) {
                return Err(RuleError::new(
                    "input.maxPointsPerLead",
                    "maxPointsPerLead must be at least 1",
                ));
            }
            Ok(())
        }
    }
}

fn validate_condition(condition: &FitCondition) -> Result<(), RuleError> {
    let op = condition.op.as_str();
    match condition.op {
        ConditionOp::In | ConditionOp::Contains => {
            if condition.values.is_empty() {
                return Err(RuleError::new(
                    "input.condition.values",
                    format!("{op} needs at least one value"),
                ));
            }
        }
        // Single-valued: a second value would be silently ignored.
        ConditionOp::Equals | ConditionOp::Gte | ConditionOp::Lte => {
            if condition.values.len() != 1 {
                return Err(RuleError::new(
                    "input.condition.values",
                    format!("{op} needs exactly one value"),
                ));
            }
        }
    }
    if matches!(condition.op, ConditionOp::Gte | ConditionOp::Lte) {
        if condition.field != LeadField::CompanySize {
            return Err(RuleError::new(
                "input.condition.op",
                format!("{op} applies to COMPANY_SIZE only"),
            ));
        }
        if condition.values.first().and_then(|v| integer(v)).is_none() {
            return Err(RuleError::new(
                "input.condition.values",
                format!("{op} needs an integer value"),
            ));
        }
    }
    Ok(())
}

fn fit_points(rule: &Rule, lead: &LeadAttributes) -> i32 {
    match &rule.condition {
        Some(condition) if matches(condition, lead) => rule.points,
        _ => 0,
    }
}

/// Whether a FIT condition holds; a missing attribute never matches.
fn matches(condition: &FitCondition, lead: &LeadAttributes) -> bool {
    let values = &condition.values;
    let bound = || values.first().and_then(|v| integer(v));
    let text = match condition.field {
        LeadField::CompanySize => {
            let Some(size) = lead.company_size.map(i64::from) else {
                return false;
            };
            return match condition.op {
                ConditionOp::Gte => bound().is_some_and(|b| size >= b),
                ConditionOp::Lte => bound().is_some_and(|b| size <= b),
                // The text operators see the size as its decimal digits.
                op => matches_text(op, &size.to_string(), values),
            };
        }
        LeadField::JobTitle => present(lead.job_title.as_deref()),
        LeadField::Industry => present(lead.industry.as_deref()),
        LeadField::Country => present(lead.country.as_deref()),
        LeadField::EmailDomain => email_domain(&lead.email),
    };
    text.is_some_and(|text| matches_text(condition.op, text, values))
}

fn matches_text(op: ConditionOp, text: &str, values: &[String]) -> bool {
    match op {
        ConditionOp::Equals => values.first().is_some_and(|v| eq_ci(text, v)),
        ConditionOp::In => values.iter().any(|v| eq_ci(text, v)),
        ConditionOp::Contains => values.iter().any(|v| contains_ci(text, v)),
        // Numeric operators on a text field: refused when saved, never true here.
        ConditionOp::Gte | ConditionOp::Lte => false,
    }
}

/// The part after the `@`, if any.
fn email_domain(email: &str) -> Option<&str> {
    email
        .rsplit_once('@')
        .and_then(|(_, domain)| present(Some(domain)))
}

fn integer(value: &str) -> Option<i64> {
    value.parse().ok()
}

fn saturate(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

/// An empty string is as good as a missing attribute.
pub(crate) fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    // ASCII (nearly every attribute) compares without allocating.
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a == b || a.to_lowercase() == b.to_lowercase()
}

pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
        return needle.is_empty()
            || haystack
                .windows(needle.len())
                .any(|window| window.eq_ignore_ascii_case(needle));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn metadata_matches(rule: &Rule, metadata: Option<&Value>) -> bool {
    let Some(key) = rule.metadata_key.as_deref() else {
        return true;
    };
    let Some(value) = metadata
        .and_then(|m| m.as_object())
        .and_then(|m| m.get(key))
    else {
        return false;
    };
    match rule.metadata_contains.as_deref() {
        None => true,
        Some(needle) => value.as_str().is_some_and(|s| contains_ci(s, needle)),
    }
}

/// `0.5^(ageDays / halfLife)`, age never below 0; 1 without a (positive) half-life.
fn decay_factor(
    half_life_days: Option<i32>,
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> f64 {
    let Some(half_life) = half_life(half_life_days) else {
        return 1.0;
    };
    let age = now - occurred_at;
    let seconds = age.num_seconds() as f64 + f64::from(age.subsec_nanos()) / 1e9;
    let age_days = (seconds / SECONDS_PER_DAY).max(0.0);
    0.5_f64.powf(age_days / f64::from(half_life))
}

/// A half-life that decays: a positive one.
fn half_life(days: Option<i32>) -> Option<i32> {
    days.filter(|days| *days > 0)
}

#[cfg(test)]
// A failed unwrap in a test is a failed test, which is what we want.
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
    }

    fn fit_rule(id: i64, points: i32, field: LeadField, op: ConditionOp, values: &[&str]) -> Rule {
        Rule {
            id,
            points,
            active: true,
            kind: RuleKind::Fit,
            condition: Some(FitCondition {
                field,
                op,
                values: values.iter().map(|v| v.to_string()).collect(),
            }),
            interaction_kind: None,
            metadata_key: None,
            metadata_contains: None,
            decay_half_life_days: None,
            max_points_per_lead: None,
        }
    }

    fn engagement_rule(id: i64, points: i32, kind: &str) -> Rule {
        Rule {
            id,
            points,
            active: true,
            kind: RuleKind::Engagement,
            condition: None,
            interaction_kind: Some(kind.to_string()),
            metadata_key: None,
            metadata_contains: None,
            decay_half_life_days: None,
            max_points_per_lead: None,
        }
    }

    fn lead() -> LeadAttributes {
        LeadAttributes {
            job_title: Some("Head of Marketing".into()),
            industry: Some("Software".into()),
            country: Some("DE".into()),
            email: "jane.doe@Acme.example".into(),
            company_size: Some(200),
        }
    }

    fn at(kind: &str, age: Duration) -> InteractionFact {
        InteractionFact {
            kind: kind.into(),
            occurred_at: now() - age,
            metadata: None,
        }
    }

    fn with_meta(kind: &str, metadata: Value) -> InteractionFact {
        InteractionFact {
            metadata: Some(metadata),
            ..at(kind, Duration::zero())
        }
    }

    fn c(rule_id: i64, points: i32) -> Contribution {
        Contribution { rule_id, points }
    }

    /// The example of docs/scoring.md, rules 1 to 4.
    fn design_rules() -> Vec<Rule> {
        let mut download = engagement_rule(2, 15, "CONTENT_DOWNLOAD");
        download.max_points_per_lead = Some(30);
        let mut pricing = engagement_rule(3, 10, "PAGE_VISIT");
        pricing.metadata_key = Some("path".into());
        pricing.metadata_contains = Some("pricing".into());
        vec![
            fit_rule(1, 20, LeadField::CompanySize, ConditionOp::Gte, &["100"]),
            download,
            pricing,
            engagement_rule(4, -50, "UNSUBSCRIBE"),
        ]
    }

    fn fit_only(rule: Rule, lead: &LeadAttributes) -> i32 {
        score(&[rule], lead, &[], now()).score
    }

    fn one_rule(rule: Rule, interactions: &[InteractionFact]) -> i32 {
        score(&[rule], &lead(), interactions, now()).score
    }

    #[test]
    fn design_example_three_downloads_score_50() {
        let downloads = vec![at("CONTENT_DOWNLOAD", Duration::days(1)); 3];
        let s = score(&design_rules(), &lead(), &downloads, now());
        // FIT: size 200 ≥ 100 → 20; downloads: 3 × 15 = 45, capped at 30.
        assert_eq!(s.fit_score, 20);
        assert_eq!(s.engagement_score, 30);
        assert_eq!(s.score, 50);
        assert_eq!(s.breakdown, vec![c(1, 20), c(2, 30)]);
        assert!(reaches_mql(true, s.score, 50));
    }

    #[test]
    fn design_example_plus_pricing_visit_scores_60() {
        let mut interactions = vec![at("CONTENT_DOWNLOAD", Duration::days(1)); 3];
        interactions.push(with_meta("PAGE_VISIT", json!({"path": "/pricing"})));
        let s = score(&design_rules(), &lead(), &interactions, now());
        // 20 + 30 + 10 = 60
        assert_eq!((s.fit_score, s.engagement_score, s.score), (20, 40, 60));
        assert_eq!(s.breakdown, vec![c(1, 20), c(2, 30), c(3, 10)]);
    }

    #[test]
    fn design_example_plus_unsubscribe_scores_10() {
        let mut interactions = vec![at("CONTENT_DOWNLOAD", Duration::days(1)); 3];
        interactions.push(with_meta("PAGE_VISIT", json!({"path": "/pricing"})));
        interactions.push(at("UNSUBSCRIBE", Duration::zero()));
        let s = score(&design_rules(), &lead(), &interactions, now());
        // 20 + 30 + 10 − 50 = 10
        assert_eq!((s.fit_score, s.engagement_score, s.score), (20, -10, 10));
        assert_eq!(s.breakdown, vec![c(1, 20), c(2, 30), c(3, 10), c(4, -50)]);
        assert!(!reaches_mql(true, s.score, 50));
    }

    #[test]
    fn design_example_small_company_without_interactions_scores_0() {
        let small = LeadAttributes {
            company_size: Some(99),
            ..lead()
        };
        assert_eq!(score(&design_rules(), &small, &[], now()), Score::default());
    }

    #[test]
    fn contribution_serializes_in_camel_case() {
        let value = serde_json::to_value(c(1, 20)).unwrap();
        assert_eq!(value, json!({"ruleId": 1, "points": 20}));
        let s = Score {
            fit_score: 20,
            engagement_score: 0,
            score: 20,
            breakdown: vec![c(1, 20)],
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"fitScore": 20, "engagementScore": 0, "score": 20,
                   "breakdown": [{"ruleId": 1, "points": 20}]})
        );
        let back: Vec<Contribution> =
            serde_json::from_value(json!([{"ruleId": 7, "points": -3}])).unwrap();
        assert_eq!(back, vec![c(7, -3)]);
    }

    #[test]
    fn enums_spell_like_the_contract() {
        for kind in RuleKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
            assert_eq!(RuleKind::parse(kind.as_str()), Some(kind));
        }
        for field in LeadField::ALL {
            assert_eq!(serde_json::to_value(field).unwrap(), json!(field.as_str()));
            assert_eq!(LeadField::parse(field.as_str()), Some(field));
        }
        for op in ConditionOp::ALL {
            assert_eq!(serde_json::to_value(op).unwrap(), json!(op.as_str()));
            assert_eq!(ConditionOp::parse(op.as_str()), Some(op));
        }
        assert_eq!(LeadField::parse("company_size"), None);
        assert_eq!(
            serde_json::to_value(FitCondition {
                field: LeadField::EmailDomain,
                op: ConditionOp::In,
                values: vec!["a.example".into()],
            })
            .unwrap(),
            json!({"field": "EMAIL_DOMAIN", "op": "IN", "values": ["a.example"]})
        );
    }

    #[test]
    fn equals_is_case_insensitive_and_uses_the_first_value() {
        let r = |v: &[&str]| fit_rule(1, 5, LeadField::Industry, ConditionOp::Equals, v);
        assert_eq!(fit_only(r(&["SOFTWARE"]), &lead()), 5);
        assert_eq!(fit_only(r(&["software"]), &lead()), 5);
        assert_eq!(fit_only(r(&["Soft"]), &lead()), 0);
        assert_eq!(fit_only(r(&["Retail", "Software"]), &lead()), 0);
        assert_eq!(fit_only(r(&[]), &lead()), 0);
    }

    #[test]
    fn in_matches_any_value_case_insensitively() {
        let r = |v: &[&str]| fit_rule(1, 7, LeadField::Country, ConditionOp::In, v);
        assert_eq!(fit_only(r(&["FR", "de"]), &lead()), 7);
        assert_eq!(fit_only(r(&["FR", "AT"]), &lead()), 0);
        assert_eq!(fit_only(r(&["D"]), &lead()), 0);
    }

    #[test]
    fn contains_is_a_case_insensitive_substring_of_any_value() {
        let r = |v: &[&str]| fit_rule(1, 9, LeadField::JobTitle, ConditionOp::Contains, v);
        assert_eq!(fit_only(r(&["cto", "HEAD OF"]), &lead()), 9);
        assert_eq!(fit_only(r(&["marketing"]), &lead()), 9);
        assert_eq!(fit_only(r(&["cto", "sales"]), &lead()), 0);
    }

    #[test]
    fn gte_and_lte_bounds_are_inclusive() {
        let gte = |v| fit_rule(1, 20, LeadField::CompanySize, ConditionOp::Gte, &[v]);
        let lte = |v| fit_rule(1, -5, LeadField::CompanySize, ConditionOp::Lte, &[v]);
        // Lead size 200.
        assert_eq!(fit_only(gte("200"), &lead()), 20);
        assert_eq!(fit_only(gte("201"), &lead()), 0);
        assert_eq!(fit_only(gte("-1"), &lead()), 20);
        assert_eq!(fit_only(lte("200"), &lead()), -5);
        assert_eq!(fit_only(lte("199"), &lead()), 0);
        assert_eq!(fit_only(gte("99999999999"), &lead()), 0);
        assert_eq!(fit_only(lte("99999999999"), &lead()), -5);
        assert_eq!(fit_only(gte("many"), &lead()), 0);
    }

    #[test]
    fn numeric_operators_on_text_fields_never_match() {
        let r = fit_rule(1, 20, LeadField::Industry, ConditionOp::Gte, &["A"]);
        assert_eq!(fit_only(r, &lead()), 0);
    }

    #[test]
    fn text_operators_on_company_size_see_its_digits() {
        let eq = fit_rule(1, 3, LeadField::CompanySize, ConditionOp::Equals, &["200"]);
        let any = fit_rule(
            1,
            3,
            LeadField::CompanySize,
            ConditionOp::In,
            &["50", "200"],
        );
        let other = fit_rule(1, 3, LeadField::CompanySize, ConditionOp::Equals, &["20"]);
        assert_eq!(fit_only(eq, &lead()), 3);
        assert_eq!(fit_only(any, &lead()), 3);
        assert_eq!(fit_only(other, &lead()), 0);
    }

    #[test]
    fn email_domain_is_the_part_after_the_at() {
        let r = |op, v| fit_rule(1, 4, LeadField::EmailDomain, op, &[v]);
        // Email "jane.doe@Acme.example".
        assert_eq!(fit_only(r(ConditionOp::Equals, "acme.example"), &lead()), 4);
        assert_eq!(fit_only(r(ConditionOp::Contains, "ACME"), &lead()), 4);
        assert_eq!(fit_only(r(ConditionOp::Contains, "jane"), &lead()), 0);
        let no_at = LeadAttributes {
            email: "acme.example".into(),
            ..lead()
        };
        assert_eq!(fit_only(r(ConditionOp::Contains, "acme"), &no_at), 0);
        let empty_domain = LeadAttributes {
            email: "jane@".into(),
            ..lead()
        };
        assert_eq!(fit_only(r(ConditionOp::Contains, ""), &empty_domain), 0);
    }

    #[test]
    fn a_missing_attribute_never_matches() {
        let bare = LeadAttributes {
            email: String::new(),
            ..LeadAttributes::default()
        };
        let blank = LeadAttributes {
            job_title: Some(String::new()),
            ..bare.clone()
        };
        let rules = [
            fit_rule(1, 1, LeadField::JobTitle, ConditionOp::Contains, &[""]),
            fit_rule(2, 1, LeadField::Industry, ConditionOp::In, &["", "x"]),
            fit_rule(3, 1, LeadField::Country, ConditionOp::Equals, &[""]),
            fit_rule(4, 1, LeadField::EmailDomain, ConditionOp::Contains, &[""]),
            fit_rule(5, 1, LeadField::CompanySize, ConditionOp::Gte, &["-100"]),
            fit_rule(6, 1, LeadField::CompanySize, ConditionOp::Lte, &["100"]),
        ];
        assert_eq!(score(&rules, &bare, &[], now()), Score::default());
        assert_eq!(score(&rules, &blank, &[], now()), Score::default());
    }

    #[test]
    fn a_fit_rule_gives_its_points_once_and_may_be_negative() {
        let rules = [
            fit_rule(1, 10, LeadField::Country, ConditionOp::Equals, &["de"]),
            fit_rule(
                2,
                -30,
                LeadField::Industry,
                ConditionOp::Contains,
                &["soft", "ware"],
            ),
        ];
        let many = vec![at("PAGE_VISIT", Duration::zero()); 5];
        let s = score(&rules, &lead(), &many, now());
        // 10 − 30 = −20, regardless of interactions.
        assert_eq!((s.fit_score, s.engagement_score, s.score), (-20, 0, -20));
        assert_eq!(s.breakdown, vec![c(1, 10), c(2, -30)]);
    }

    #[test]
    fn inactive_rules_are_ignored() {
        let mut fit = fit_rule(1, 10, LeadField::Country, ConditionOp::Equals, &["DE"]);
        fit.active = false;
        let mut engagement = engagement_rule(2, 5, "PAGE_VISIT");
        engagement.active = false;
        let s = score(
            &[fit, engagement],
            &lead(),
            &[at("PAGE_VISIT", Duration::zero())],
            now(),
        );
        assert_eq!(s, Score::default());
    }

    #[test]
    fn breakdown_is_ordered_by_rule_id_and_omits_zero() {
        let rules = [
            engagement_rule(9, 3, "EMAIL_OPEN"),
            fit_rule(4, 0, LeadField::Country, ConditionOp::Equals, &["DE"]),
            fit_rule(2, 8, LeadField::Country, ConditionOp::Equals, &["DE"]),
            fit_rule(5, 8, LeadField::Country, ConditionOp::Equals, &["FR"]),
            engagement_rule(1, 6, "EMAIL_CLICK"),
        ];
        let interactions = [
            at("EMAIL_OPEN", Duration::zero()),
            at("EMAIL_CLICK", Duration::zero()),
        ];
        let s = score(&rules, &lead(), &interactions, now());
        // 6 + 8 + 3 = 17; rule 4 gives 0, rule 5 does not match.
        assert_eq!(s.breakdown, vec![c(1, 6), c(2, 8), c(9, 3)]);
        assert_eq!((s.fit_score, s.engagement_score, s.score), (8, 9, 17));
    }

    #[test]
    fn engagement_counts_each_matching_interaction_of_its_kind() {
        let r = engagement_rule(1, 4, "EMAIL_OPEN");
        let interactions = [
            at("EMAIL_OPEN", Duration::days(1)),
            at("EMAIL_OPEN", Duration::days(400)),
            at("EMAIL_CLICK", Duration::zero()),
            at("email_open", Duration::zero()),
        ];
        // No half-life, no decay: 2 × 4 = 8.
        assert_eq!(one_rule(r, &interactions), 8);
    }

    #[test]
    fn metadata_key_alone_requires_the_key() {
        let mut r = engagement_rule(1, 10, "PAGE_VISIT");
        r.metadata_key = Some("path".into());
        let cases = [
            (json!({"path": "/blog"}), 10),
            (json!({"path": null}), 10),
            (json!({"path": 3}), 10),
            (json!({"Path": "/blog"}), 0),
            (json!({"url": "/path"}), 0),
            (json!(["path"]), 0),
            (json!("path"), 0),
        ];
        for (metadata, expected) in cases {
            let got = one_rule(r.clone(), &[with_meta("PAGE_VISIT", metadata.clone())]);
            assert_eq!(got, expected, "metadata {metadata}");
        }
        assert_eq!(one_rule(r, &[at("PAGE_VISIT", Duration::zero())]), 0);
    }

    #[test]
    fn metadata_contains_needs_a_string_containing_it() {
        let mut r = engagement_rule(1, 10, "PAGE_VISIT");
        r.metadata_key = Some("path".into());
        r.metadata_contains = Some("Pricing".into());
        let cases = [
            (json!({"path": "/pricing"}), 10),
            (json!({"path": "/en/PRICING/enterprise"}), 10),
            (json!({"path": "/price"}), 0),
            (json!({"path": ["/pricing"]}), 0),
            (json!({"path": null}), 0),
            (json!({"page": "/pricing"}), 0),
        ];
        for (metadata, expected) in cases {
            let got = one_rule(r.clone(), &[with_meta("PAGE_VISIT", metadata.clone())]);
            assert_eq!(got, expected, "metadata {metadata}");
        }
    }

    #[test]
    fn without_metadata_key_metadata_is_not_looked_at() {
        let r = engagement_rule(1, 10, "PAGE_VISIT");
        let interactions = [
            with_meta("PAGE_VISIT", json!({"path": "/blog"})),
            at("PAGE_VISIT", Duration::zero()),
        ];
        assert_eq!(one_rule(r, &interactions), 20);
    }

    fn decaying(points: i32, half_life: i32) -> Rule {
        let mut r = engagement_rule(1, points, "WEBINAR_ATTENDED");
        r.decay_half_life_days = Some(half_life);
        r
    }

    #[test]
    fn decay_halves_every_half_life() {
        let kind = "WEBINAR_ATTENDED";
        // 20 × 0.5^(0/7) = 20
        assert_eq!(one_rule(decaying(20, 7), &[at(kind, Duration::zero())]), 20);
        // 20 × 0.5^(7/7) = 10
        assert_eq!(
            one_rule(decaying(20, 7), &[at(kind, Duration::days(7))]),
            10
        );
        // 20 × 0.5^(14/7) = 5
        assert_eq!(
            one_rule(decaying(20, 7), &[at(kind, Duration::days(14))]),
            5
        );
        // 20 × 0.5^(3.5/7) = 14.142… → 14
        assert_eq!(
            one_rule(decaying(20, 7), &[at(kind, Duration::hours(84))]),
            14
        );
        // 100 × 0.5^(70/7) = 0.0977 → 0, and then absent from the breakdown
        let s = score(
            &[decaying(100, 7)],
            &lead(),
            &[at(kind, Duration::days(70))],
            now(),
        );
        assert_eq!(s, Score::default());
    }

    #[test]
    fn decay_uses_fractional_days() {
        // 16 × 0.5^(1.5/1) = 5.657 → 6; whole days would give 8.
        let r = decaying(16, 1);
        let hours_36 = at("WEBINAR_ATTENDED", Duration::hours(36));
        assert_eq!(one_rule(r, &[hours_36]), 6);
    }

    #[test]
    fn a_future_interaction_does_not_grow() {
        let future = at("WEBINAR_ATTENDED", Duration::days(-30));
        assert_eq!(one_rule(decaying(20, 7), &[future]), 20);
    }

    #[test]
    fn no_half_life_no_decay() {
        let r = engagement_rule(1, 20, "WEBINAR_ATTENDED");
        let old = at("WEBINAR_ATTENDED", Duration::days(3650));
        assert_eq!(one_rule(r, &[old]), 20);
    }

    #[test]
    fn rounding_is_half_away_from_zero_on_the_rule_total() {
        let kind = "WEBINAR_ATTENDED";
        // 5 × 0.5 = 2.5 → 3
        assert_eq!(one_rule(decaying(5, 7), &[at(kind, Duration::days(7))]), 3);
        // −5 × 0.5 = −2.5 → −3
        assert_eq!(
            one_rule(decaying(-5, 7), &[at(kind, Duration::days(7))]),
            -3
        );
        // 15 × 0.5 = 7.5 → 8
        assert_eq!(one_rule(decaying(15, 7), &[at(kind, Duration::days(7))]), 8);
        // 3 × 0.25 = 0.75 → 1
        assert_eq!(one_rule(decaying(3, 7), &[at(kind, Duration::days(14))]), 1);
        // Two × 2.5 = 5 → 5 (rounding each would have given 6).
        let two = vec![at(kind, Duration::days(7)); 2];
        assert_eq!(one_rule(decaying(5, 7), &two), 5);
        // 2.5 + 1.25 = 3.75 → 4
        let mixed = [at(kind, Duration::days(7)), at(kind, Duration::days(14))];
        assert_eq!(one_rule(decaying(5, 7), &mixed), 4);
    }

    #[test]
    fn cap_keeps_the_sign() {
        let mut r = engagement_rule(1, -50, "UNSUBSCRIBE");
        r.max_points_per_lead = Some(60);
        let twice = vec![at("UNSUBSCRIBE", Duration::zero()); 2];
        // −50 × 2 = −100, capped at −60.
        assert_eq!(one_rule(r.clone(), &twice), -60);
        // −50 alone is within the cap.
        assert_eq!(one_rule(r, &twice[..1]), -50);
    }

    #[test]
    fn cap_applies_before_rounding() {
        // 3 × 10 × 0.5^(7/7) = 15, capped at 12.
        let mut r = decaying(10, 7);
        r.max_points_per_lead = Some(12);
        let three = vec![at("WEBINAR_ATTENDED", Duration::days(7)); 3];
        assert_eq!(one_rule(r.clone(), &three), 12);
        // 10 × 0.5^(1/7) = 9.057 → 9, under the cap.
        let one = [at("WEBINAR_ATTENDED", Duration::days(1))];
        assert_eq!(one_rule(r, &one), 9);
    }

    #[test]
    fn extreme_points_saturate_instead_of_overflowing() {
        let rules = [
            fit_rule(
                1,
                i32::MAX,
                LeadField::Country,
                ConditionOp::Equals,
                &["DE"],
            ),
            fit_rule(
                2,
                i32::MAX,
                LeadField::Industry,
                ConditionOp::Equals,
                &["Software"],
            ),
            engagement_rule(3, i32::MAX, "CALL"),
        ];
        let calls = vec![at("CALL", Duration::zero()); 3];
        let s = score(&rules, &lead(), &calls, now());
        assert_eq!(s.score, i32::MAX);
        assert_eq!(s.engagement_score, i32::MAX);
        assert_eq!(s.breakdown.len(), 3);
    }

    #[test]
    fn reaches_mql_only_from_lead_at_the_threshold() {
        assert!(reaches_mql(true, 50, 50));
        assert!(reaches_mql(true, 51, 50));
        assert!(!reaches_mql(true, 49, 50));
        assert!(!reaches_mql(false, 80, 50));
        assert!(reaches_mql(true, -5, -10));
    }

    fn err(rule: &Rule) -> &'static str {
        match validate_rule(rule) {
            Ok(()) => "ok",
            Err(e) => e.field,
        }
    }

    #[test]
    fn valid_rules_pass() {
        for rule in design_rules() {
            assert_eq!(validate_rule(&rule), Ok(()), "{rule:?}");
        }
        let mut r = decaying(5, 1);
        r.max_points_per_lead = Some(1);
        r.metadata_key = Some("path".into());
        assert_eq!(err(&r), "ok");
        let fits = [
            fit_rule(1, 1, LeadField::JobTitle, ConditionOp::Equals, &["CTO"]),
            fit_rule(1, 1, LeadField::Country, ConditionOp::In, &["DE", "AT"]),
            fit_rule(
                1,
                1,
                LeadField::EmailDomain,
                ConditionOp::Contains,
                &["acme"],
            ),
            fit_rule(1, 1, LeadField::CompanySize, ConditionOp::Lte, &["-3"]),
            fit_rule(1, 1, LeadField::CompanySize, ConditionOp::In, &["10", "20"]),
        ];
        for rule in fits {
            assert_eq!(err(&rule), "ok", "{rule:?}");
        }
    }

    #[test]
    fn fit_rules_need_a_condition_and_no_engagement_fields() {
        let base = fit_rule(1, 1, LeadField::Country, ConditionOp::Equals, &["DE"]);
        let no_condition = Rule {
            condition: None,
            ..base.clone()
        };
        assert_eq!(err(&no_condition), "input.condition");
        let with_kind = Rule {
            interaction_kind: Some("CALL".into()),
            ..base.clone()
        };
        assert_eq!(err(&with_kind), "input.interactionKind");
        let with_key = Rule {
            metadata_key: Some("path".into()),
            ..base.clone()
        };
        assert_eq!(err(&with_key), "input.metadataKey");
        let with_decay = Rule {
            decay_half_life_days: Some(7),
            ..base.clone()
        };
        assert_eq!(err(&with_decay), "input.decayHalfLifeDays");
        let with_cap = Rule {
            max_points_per_lead: Some(7),
            ..base
        };
        assert_eq!(err(&with_cap), "input.maxPointsPerLead");
        let message = validate_rule(&with_cap).unwrap_err().to_string();
        assert_eq!(message, "maxPointsPerLead applies to ENGAGEMENT rules only");
    }

    #[test]
    fn engagement_rules_need_a_kind_and_no_condition() {
        let base = engagement_rule(1, 5, "CALL");
        let no_kind = Rule {
            interaction_kind: None,
            ..base.clone()
        };
        assert_eq!(err(&no_kind), "input.interactionKind");
        let with_condition = Rule {
            condition: fit_rule(1, 1, LeadField::Country, ConditionOp::In, &["DE"]).condition,
            ..base
        };
        assert_eq!(err(&with_condition), "input.condition");
    }

    #[test]
    fn condition_values_are_checked() {
        let r = fit_rule;
        use ConditionOp::*;
        use LeadField::*;
        assert_eq!(err(&r(1, 1, Industry, In, &[])), "input.condition.values");
        assert_eq!(
            err(&r(1, 1, Industry, Contains, &[])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, Industry, Equals, &[])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, Industry, Equals, &["a", "b"])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, CompanySize, Gte, &[])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, CompanySize, Gte, &["1", "2"])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, CompanySize, Gte, &["ten"])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, CompanySize, Lte, &["1.5"])),
            "input.condition.values"
        );
        assert_eq!(
            err(&r(1, 1, CompanySize, Lte, &[""])),
            "input.condition.values"
        );
        assert_eq!(err(&r(1, 1, JobTitle, Gte, &["10"])), "input.condition.op");
        assert_eq!(
            err(&r(1, 1, EmailDomain, Lte, &["10"])),
            "input.condition.op"
        );
        let message = validate_rule(&r(1, 1, Country, Gte, &["1"]))
            .unwrap_err()
            .message;
        assert_eq!(message, "GTE applies to COMPANY_SIZE only");
    }

    #[test]
    fn engagement_settings_are_checked() {
        let base = engagement_rule(1, 5, "PAGE_VISIT");
        let contains_only = Rule {
            metadata_contains: Some("pricing".into()),
            ..base.clone()
        };
        assert_eq!(err(&contains_only), "input.metadataContains");
        for days in [0, -7] {
            let r = Rule {
                decay_half_life_days: Some(days),
                ..base.clone()
            };
            assert_eq!(err(&r), "input.decayHalfLifeDays");
        }
        for max in [0, -30] {
            let r = Rule {
                max_points_per_lead: Some(max),
                ..base.clone()
            };
            assert_eq!(err(&r), "input.maxPointsPerLead");
        }
    }

    #[test]
    fn invalid_stored_settings_do_not_break_scoring() {
        // Rules that validate_rule refuses still score without panicking.
        let mut r = engagement_rule(1, 10, "CALL");
        r.decay_half_life_days = Some(0);
        r.max_points_per_lead = Some(-5);
        assert_eq!(one_rule(r, &[at("CALL", Duration::days(3))]), 0);
        let mut no_kind = engagement_rule(2, 10, "CALL");
        no_kind.interaction_kind = None;
        let fit_without_condition = Rule {
            condition: None,
            ..fit_rule(3, 10, LeadField::Country, ConditionOp::In, &["DE"])
        };
        let calls = [at("CALL", Duration::zero())];
        let s = score(&[no_kind, fit_without_condition], &lead(), &calls, now());
        assert_eq!(s, Score::default());
    }

    // ---- properties ----

    const KINDS: [&str; 4] = ["PAGE_VISIT", "CONTENT_DOWNLOAD", "CALL", "UNSUBSCRIBE"];

    fn arb_condition() -> impl Strategy<Value = FitCondition> {
        let field = prop::sample::select(LeadField::ALL.to_vec());
        let op = prop::sample::select(ConditionOp::ALL.to_vec());
        let value = prop::sample::select(vec![
            "de",
            "DE",
            "software",
            "cto",
            "acme.example",
            "100",
            "200",
            "50",
            "",
            "x",
        ]);
        (field, op, prop::collection::vec(value, 0..3)).prop_map(|(field, op, values)| {
            FitCondition {
                field,
                op,
                values: values.into_iter().map(String::from).collect(),
            }
        })
    }

    /// A rule without its id; ids are handed out afterwards so they are unique.
    fn arb_rule_body() -> impl Strategy<Value = Rule> {
        let fit = (-100..=100i32, any::<bool>(), arb_condition()).prop_map(
            |(points, active, condition)| Rule {
                id: 0,
                points,
                active,
                kind: RuleKind::Fit,
                condition: Some(condition),
                interaction_kind: None,
                metadata_key: None,
                metadata_contains: None,
                decay_half_life_days: None,
                max_points_per_lead: None,
            },
        );
        let metadata = prop_oneof![
            Just((None, None)),
            Just((Some("path"), None)),
            Just((Some("path"), Some("pricing"))),
        ];
        let engagement = (
            -100..=100i32,
            any::<bool>(),
            prop::sample::select(KINDS.to_vec()),
            metadata,
            prop::option::of(1..=60i32),
            prop::option::of(1..=200i32),
        )
            .prop_map(
                |(points, active, kind, (key, contains), half_life, max)| Rule {
                    id: 0,
                    points,
                    active,
                    kind: RuleKind::Engagement,
                    condition: None,
                    interaction_kind: Some(kind.into()),
                    metadata_key: key.map(String::from),
                    metadata_contains: contains.map(String::from),
                    decay_half_life_days: half_life,
                    max_points_per_lead: max,
                },
            );
        prop_oneof![fit, engagement]
    }

    fn arb_rules() -> impl Strategy<Value = Vec<Rule>> {
        prop::collection::vec(arb_rule_body(), 0..8)
            .prop_map(|rules| {
                rules
                    .into_iter()
                    .enumerate()
                    .map(|(i, rule)| Rule {
                        id: i as i64 * 3 + 1,
                        ..rule
                    })
                    .collect::<Vec<_>>()
            })
            .prop_shuffle()
    }

    fn arb_text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop::sample::select(vec!["DE", "Software", "CTO", "", "x"]))
            .prop_map(|v| v.map(String::from))
    }

    fn arb_lead() -> impl Strategy<Value = LeadAttributes> {
        let email = prop::sample::select(vec!["a@acme.example", "b@other.example", "nobody"]);
        (
            arb_text(),
            arb_text(),
            arb_text(),
            email,
            prop::option::of(0..1000i32),
        )
            .prop_map(|(job_title, industry, country, email, company_size)| {
                LeadAttributes {
                    job_title,
                    industry,
                    country,
                    email: email.into(),
                    company_size,
                }
            })
    }

    fn arb_interaction() -> impl Strategy<Value = InteractionFact> {
        let metadata = prop_oneof![
            Just(None),
            Just(Some(json!({"path": "/pricing"}))),
            Just(Some(json!({"path": "/blog"}))),
            Just(Some(json!({"path": 1}))),
        ];
        (
            prop::sample::select(KINDS.to_vec()),
            -10_000_000i64..100_000_000,
            metadata,
        )
            .prop_map(|(kind, age_seconds, metadata)| InteractionFact {
                kind: kind.into(),
                occurred_at: now() - Duration::seconds(age_seconds),
                metadata,
            })
    }

    proptest! {
        /// The allocation-free ASCII paths agree with lower-casing.
        #[test]
        fn case_insensitive_helpers_agree_with_lowercasing(
            a in "[a-zA-Z0-9 /.éÉßİ-]{0,12}",
            b in "[a-zA-Z0-9 /.éÉßİ-]{0,6}",
        ) {
            prop_assert_eq!(eq_ci(&a, &b), a == b || a.to_lowercase() == b.to_lowercase());
            prop_assert_eq!(contains_ci(&a, &b), a.to_lowercase().contains(&b.to_lowercase()));
            let upper = a.to_ascii_uppercase();
            prop_assert!(eq_ci(&upper, &a) || !a.is_ascii());
            prop_assert!(contains_ci(&upper, &a) || !a.is_ascii());
        }

        #[test]
        fn breakdown_sums_to_score(
            rules in arb_rules(),
            lead in arb_lead(),
            interactions in prop::collection::vec(arb_interaction(), 0..12),
        ) {
            let s = score(&rules, &lead, &interactions, now());
            let total: i32 = s.breakdown.iter().map(|c| c.points).sum();
            prop_assert_eq!(total, s.score);
            prop_assert_eq!(s.fit_score + s.engagement_score, s.score);
            prop_assert!(s.breakdown.iter().all(|c| c.points != 0));
            prop_assert!(s.breakdown.windows(2).all(|w| w[0].rule_id < w[1].rule_id));
            for contribution in &s.breakdown {
                let rule = rules.iter().find(|r| r.id == contribution.rule_id);
                prop_assert!(rule.is_some_and(|r| r.active));
            }
        }

        #[test]
        fn fit_and_engagement_scores_split_by_kind(
            rules in arb_rules(),
            lead in arb_lead(),
            interactions in prop::collection::vec(arb_interaction(), 0..12),
        ) {
            let s = score(&rules, &lead, &interactions, now());
            let of_kind = |kind| -> i32 {
                s.breakdown
                    .iter()
                    .filter(|c| rules.iter().any(|r| r.id == c.rule_id && r.kind == kind))
                    .map(|c| c.points)
                    .sum()
            };
            prop_assert_eq!(of_kind(RuleKind::Fit), s.fit_score);
            prop_assert_eq!(of_kind(RuleKind::Engagement), s.engagement_score);
            for contribution in &s.breakdown {
                let rule = rules.iter().find(|r| r.id == contribution.rule_id);
                if let Some(rule) = rule.filter(|r| r.kind == RuleKind::Fit) {
                    prop_assert_eq!(contribution.points, rule.points);
                }
            }
        }

        #[test]
        fn engagement_contributions_respect_the_cap(
            rules in arb_rules(),
            lead in arb_lead(),
            interactions in prop::collection::vec(arb_interaction(), 0..30),
        ) {
            let s = score(&rules, &lead, &interactions, now());
            for contribution in &s.breakdown {
                let cap = rules
                    .iter()
                    .find(|r| r.id == contribution.rule_id)
                    .and_then(|r| r.max_points_per_lead);
                if let Some(cap) = cap {
                    prop_assert!(contribution.points.abs() <= cap);
                }
            }
        }

        #[test]
        fn inactive_rules_and_rule_order_do_not_matter(
            rules in arb_rules(),
            lead in arb_lead(),
            interactions in prop::collection::vec(arb_interaction(), 0..12),
        ) {
            let s = score(&rules, &lead, &interactions, now());
            let active: Vec<Rule> = rules.iter().filter(|r| r.active).cloned().collect();
            prop_assert_eq!(&score(&active, &lead, &interactions, now()), &s);
            let reversed: Vec<Rule> = rules.iter().rev().cloned().collect();
            prop_assert_eq!(&score(&reversed, &lead, &interactions, now()), &s);
        }

        #[test]
        fn a_decayed_contribution_never_grows_with_age(
            points in -1000..=1000i32,
            half_life in 1..=90i32,
            cap in prop::option::of(1..=500i32),
            count in 1..5usize,
            age in -1_000_000i64..50_000_000,
            older_by in 0i64..50_000_000,
        ) {
            let mut rule = decaying(points, half_life);
            rule.max_points_per_lead = cap;
            let kind = "WEBINAR_ATTENDED";
            let young = vec![at(kind, Duration::seconds(age)); count];
            let old = vec![at(kind, Duration::seconds(age + older_by)); count];
            let young = one_rule(rule.clone(), &young);
            let old = one_rule(rule, &old);
            prop_assert!(old.abs() <= young.abs(), "young {} old {}", young, old);
            prop_assert!(young.signum() * old.signum() >= 0);
            // Never more than the undecayed total.
            prop_assert!(i64::from(young.abs()) <= i64::from(points.abs()) * count as i64);
        }
    }

    // ---- incremental scoring ----

    /// Score a sequence of writes the way the service does: from the
    /// stored state when it gives the exact answer, else in full.
    fn write(
        rules: &[Rule],
        stored: &EngagementState,
        all: &[InteractionFact],
        new: &[InteractionFact],
        at: DateTime<Utc>,
    ) -> (Score, EngagementState, bool) {
        match score_incrementally(rules, &lead(), stored, new, at) {
            Some((s, state)) => (s, state, true),
            None => {
                let (s, state) = score_in_full(rules, &lead(), all, at);
                (s, state, false)
            }
        }
    }

    #[test]
    fn decayed_sums_carry_exactly_to_a_later_time() {
        // The design's decay example, recorded one webinar at a time.
        let rules = [decaying(10, 30)];
        let kind = "WEBINAR_ATTENDED";
        let start = now() - Duration::days(60);
        let (_, mut state) = score_in_full(&rules, &lead(), &[], start);
        let mut all = Vec::new();
        let mut paths = Vec::new();
        for days in [0, 30, 60] {
            let at = start + Duration::days(days);
            let fact = InteractionFact {
                kind: kind.into(),
                occurred_at: at,
                metadata: None,
            };
            all.push(fact.clone());
            let (s, next, incremental) = write(&rules, &state, &all, &[fact], at);
            assert_eq!(s, score(&rules, &lead(), &all, at));
            paths.push(incremental);
            state = next;
        }
        // 10 × (1 + 0.5 + 0.25) = 17.5 → 18: exactly at a rounding boundary,
        // so that last write was computed in full.
        assert_eq!(paths, [true, true, false]);
        assert_eq!(state.sums[0].sum, 17.5);
        assert_eq!(state.steps, 0);
        // Thirty days later: 8.75 → 9, with nothing new.
        let later = now() + Duration::days(30);
        let (s, carried) = score_incrementally(&rules, &lead(), &state, &[], later).unwrap();
        assert_eq!(s.score, 9);
        assert_eq!(carried.sums[0].sum, 8.75);
        assert_eq!(carried.steps, 1);
    }

    #[test]
    fn incremental_scoring_falls_back_where_only_the_full_sum_is_exact() {
        let kind = "WEBINAR_ATTENDED";
        let rules = [decaying(3, 7)];
        let (_, state) = score_in_full(&rules, &lead(), &[at(kind, Duration::days(1))], now());
        let later = now() + Duration::hours(5);
        assert!(advance(&rules, &state, &[], later).is_some());
        // The clock moved back.
        assert!(advance(&rules, &state, &[], now() - Duration::seconds(1)).is_none());
        // A rule changed, appeared, or the format is another.
        let mut changed = decaying(4, 7);
        assert!(advance(std::slice::from_ref(&changed), &state, &[], later).is_none());
        changed.points = 3;
        changed.decay_half_life_days = Some(8);
        assert!(advance(&[changed], &state, &[], later).is_none());
        let added = [decaying(3, 7), engagement_rule(2, 5, "CALL")];
        assert!(advance(&added, &state, &[], later).is_none());
        let old = EngagementState {
            v: STATE_FORMAT + 1,
            ..state.clone()
        };
        assert!(advance(&rules, &old, &[], later).is_none());
        // The cap applies after the sum: changing it keeps the state.
        let mut capped_rule = decaying(3, 7);
        capped_rule.max_points_per_lead = Some(1);
        let (s, _) = score_incrementally(&[capped_rule], &lead(), &state, &[], later).unwrap();
        assert_eq!(s.score, 1);
        // A deactivated rule is dropped; a rule without decay needs no clock.
        let (_, dropped) = score_incrementally(&[], &lead(), &state, &[], later).unwrap();
        assert!(dropped.sums.is_empty());
        // A future-dated interaction: the next write is computed in full,
        // and so is every one until the interaction's time has come.
        let future = at(kind, -Duration::days(2));
        let (_, with_future) = score_incrementally(
            &rules,
            &lead(),
            &state,
            std::slice::from_ref(&future),
            later,
        )
        .unwrap();
        assert!(!with_future.carries());
        assert!(advance(&rules, &with_future, &[], later + Duration::days(3)).is_none());
        let all = [at(kind, Duration::days(1)), future];
        let (_, full) = score_in_full(&rules, &lead(), &all, later + Duration::days(3));
        assert!(full.carries());
        // Too many steps.
        let tired = EngagementState {
            steps: STEPS_BEFORE_FULL,
            ..state
        };
        assert!(advance(&rules, &tired, &[], later).is_none());
    }

    #[test]
    fn a_carried_total_at_a_rounding_boundary_is_recomputed() {
        // 1 × 0.5^(7/7) = 0.5 exactly: rounds to 1, but a carried 0.4999…
        // would round to 0, so the incremental path declines.
        let rules = [decaying(1, 7)];
        let kind = "WEBINAR_ATTENDED";
        let (_, state) = score_in_full(&rules, &lead(), &[at(kind, Duration::zero())], now());
        let week = now() + Duration::days(7);
        assert!(advance(&rules, &state, &[], week).is_some());
        assert!(score_incrementally(&rules, &lead(), &state, &[], week).is_none());
        let all = [at(kind, Duration::zero())];
        assert_eq!(score(&rules, &lead(), &all, week).score, 1);
        // Capped at a whole number, a total at the cap is clear of rounding.
        let mut capped_rule = engagement_rule(1, 5, "CALL");
        capped_rule.max_points_per_lead = Some(7);
        let calls = vec![at("CALL", Duration::zero()); 3];
        let (_, state) = score_in_full(std::slice::from_ref(&capped_rule), &lead(), &calls, now());
        let (s, _) =
            score_incrementally(&[capped_rule], &lead(), &state, &calls[..1], now()).unwrap();
        assert_eq!(s.score, 7);
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let rules = design_rules();
        let interactions = vec![at("CONTENT_DOWNLOAD", Duration::days(1)); 3];
        let (_, state) = score_in_full(&rules, &lead(), &interactions, now());
        let text = serde_json::to_string(&state).unwrap();
        let back: EngagementState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            state
                .sums
                .iter()
                .map(|s| (s.rule, s.sum))
                .collect::<Vec<_>>(),
            vec![(2, 45.0), (3, 0.0), (4, 0.0)]
        );
        // The definition hash is fixed across builds: stored states stay valid.
        assert_eq!(
            definition(&engagement_rule(1, 5, "CALL")),
            0xf20e_24d7_7e8b_cacd
        );
    }

    /// A change to one rule between writes.
    #[derive(Clone, Debug)]
    enum Edit {
        Toggle,
        Points(i32),
        HalfLife(Option<i32>),
        Cap(Option<i32>),
    }

    /// One write: the clock moves (seconds, sometimes backwards), maybe a
    /// rule is edited, then a batch of interactions is recorded.
    #[derive(Clone, Debug)]
    struct Step {
        clock: i64,
        edit: Option<(usize, Edit)>,
        batch: Vec<InteractionFact>,
    }

    fn arb_edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            Just(Edit::Toggle),
            (-100..=100i32).prop_map(Edit::Points),
            prop::option::of(1..=60i32).prop_map(Edit::HalfLife),
            prop::option::of(1..=200i32).prop_map(Edit::Cap),
        ]
    }

    /// Seconds: whole days (exact halvings, so totals at `x.5`), any
    /// second, or backwards.
    fn arb_clock() -> impl Strategy<Value = i64> {
        prop_oneof![
            3 => Just(0i64),
            3 => (0..60i64).prop_map(|d| d * 86_400),
            3 => 0..10_000_000i64,
            1 => -86_400..0i64,
        ]
    }

    /// An interaction aged relative to the clock of its write (`now()` here;
    /// shifted when the sequence is played); negative ages are future dates.
    fn arb_recorded() -> impl Strategy<Value = InteractionFact> {
        let age = prop_oneof![
            3 => (0..200i64).prop_map(|d| d * 86_400),
            3 => 0..100_000_000i64,
            1 => -5_000_000..0i64,
        ];
        (arb_interaction(), age).prop_map(|(fact, age)| InteractionFact {
            occurred_at: now() - Duration::seconds(age),
            ..fact
        })
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        (
            arb_clock(),
            prop::option::weighted(0.15, (0..8usize, arb_edit())),
            prop::collection::vec(arb_recorded(), 0..4),
        )
            .prop_map(|(clock, edit, batch)| Step { clock, edit, batch })
    }

    fn apply(rules: &mut [Rule], (index, edit): &(usize, Edit)) {
        let Some(rule) = (!rules.is_empty())
            .then(|| index % rules.len())
            .and_then(|i| rules.get_mut(i))
        else {
            return;
        };
        match edit {
            Edit::Toggle => rule.active = !rule.active,
            Edit::Points(points) => rule.points = *points,
            Edit::HalfLife(days) if rule.kind == RuleKind::Engagement => {
                rule.decay_half_life_days = *days
            }
            Edit::Cap(max) if rule.kind == RuleKind::Engagement => rule.max_points_per_lead = *max,
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The law of the incremental path: after every write, the score it
        /// gives (or, where it declines, the full one) is exactly the full
        /// scoring of all the interactions at that time, and carried sums
        /// stay within the margin of the full sums.
        #[test]
        fn incremental_scoring_equals_full_scoring(
            mut rules in arb_rules(),
            steps in prop::collection::vec(arb_step(), 1..25),
        ) {
            let mut clock = now();
            let (_, mut state) = score_in_full(&rules, &lead(), &[], clock);
            let mut all: Vec<InteractionFact> = Vec::new();
            for step in steps {
                clock += Duration::seconds(step.clock);
                if let Some(edit) = &step.edit {
                    apply(&mut rules, edit);
                }
                let shift = clock - now();
                let batch: Vec<InteractionFact> = step
                    .batch
                    .into_iter()
                    .map(|f| InteractionFact { occurred_at: f.occurred_at + shift, ..f })
                    .collect();
                all.extend(batch.iter().cloned());
                let (s, next, _) = write(&rules, &state, &all, &batch, clock);
                let (full, full_state) = score_in_full(&rules, &lead(), &all, clock);
                prop_assert_eq!(&s, &full);
                prop_assert_eq!(next.sums.len(), full_state.sums.len());
                for (carried, exact) in next.sums.iter().zip(&full_state.sums) {
                    prop_assert_eq!((carried.rule, carried.def), (exact.rule, exact.def));
                    let margin = 1e-9 * exact.sum.abs().max(1.0);
                    prop_assert!((carried.sum - exact.sum).abs() <= margin, "{carried:?} {exact:?}");
                }
                state = next;
            }
        }

        /// Without rule edits, future dates or a backwards clock the
        /// incremental path is the one taken, short of a total at `x.5`.
        #[test]
        fn past_interactions_are_scored_incrementally(
            rules in arb_rules(),
            steps in prop::collection::vec((0..10_000_000i64, prop::collection::vec(arb_interaction(), 1..3)), 1..10),
        ) {
            let mut clock = now();
            let (_, mut state) = score_in_full(&rules, &lead(), &[], clock);
            let mut all: Vec<InteractionFact> = Vec::new();
            for (move_by, batch) in steps {
                clock += Duration::seconds(move_by);
                let batch: Vec<InteractionFact> = batch
                    .into_iter()
                    .map(|f| InteractionFact {
                        occurred_at: clock - Duration::seconds((now() - f.occurred_at).num_seconds().abs()),
                        ..f
                    })
                    .collect();
                all.extend(batch.iter().cloned());
                prop_assert!(advance(&rules, &state, &batch, clock).is_some());
                let (s, next, _) = write(&rules, &state, &all, &batch, clock);
                prop_assert_eq!(s, score(&rules, &lead(), &all, clock));
                state = next;
            }
        }
    }
}
