use sea_orm::FromJsonQueryResult;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What each scoring rule gave a lead, stored as a JSON array. Typed rather
/// than a `serde_json::Value`: every lead read decodes it, and a typed
/// decode allocates no map per element.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct ScoreBreakdown(pub Vec<RuleShare>);

/// One element of a [`ScoreBreakdown`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleShare {
    pub rule_id: i64,
    pub points: i32,
}

impl ScoreBreakdown {
    /// The stored JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".to_owned())
    }
}

/// A contact and everything the funnel knows about it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lead")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<i32>,
    pub country: Option<String>,
    pub phone: Option<String>,
    /// Lower-cased email, names and company, for `LeadFilter.search`.
    pub search_text: String,
    pub stage: String,
    /// Highest funnel rank (LEAD = 1 … CUSTOMER = 5) the history ever shows.
    pub reached_rank: i32,
    pub score: i32,
    pub fit_score: i32,
    pub engagement_score: i32,
    /// `[{"ruleId": 1, "points": 20}, …]`
    #[sea_orm(column_type = "Json")]
    pub score_breakdown: ScoreBreakdown,
    /// The ENGAGEMENT sums incremental scoring carries between rescorings
    /// (`scoring::engine::EngagementState` as JSON text, read only by
    /// scoring; docs/scoring.md). `None`: not stored yet, scored in full.
    #[sea_orm(column_type = "Text", nullable)]
    pub score_state: Option<String>,
    pub persona_id: Option<i64>,
    pub icp_fit: Option<f64>,
    pub source_channel: String,
    pub source_campaign_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub qual_budget: bool,
    pub qual_need: bool,
    pub qual_authority: bool,
    pub qual_timeline: Option<String>,
    pub qual_notes: Option<String>,
    pub deal_amount_cents: Option<i64>,
    pub disqualification_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub stage_changed_at: DateTimeUtc,
    /// First time at a stage ≥ MQL, SQL, OPPORTUNITY, CUSTOMER (KPI milestones).
    pub mql_at: Option<DateTimeUtc>,
    pub sql_at: Option<DateTimeUtc>,
    pub opportunity_at: Option<DateTimeUtc>,
    pub customer_at: Option<DateTimeUtc>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
