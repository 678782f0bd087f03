use sea_orm::entity::prelude::*;

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
    pub score_breakdown: Json,
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
