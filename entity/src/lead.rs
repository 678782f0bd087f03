use sea_orm::entity::prelude::*;
use sea_orm::{FromJsonQueryResult, FromQueryResult, QueryResult};
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

/// A lead row decoded by position rather than by column name.
///
/// `Entity::find()` selects every column in the order of [`Column`], so the
/// column's discriminant is its index in the row. The derived decoder looks
/// each of the 38 columns up by name and, for every NULL, formats that name
/// into an error before turning it into `None`; on the sales queue's 50 rows
/// that was about 7 % of the server's CPU. Only for selects of whole rows
/// (`Entity::find()`, with `.into_model::<ByPosition>()`); anything else
/// (a prefix, a partial select) falls back to the derived decoder, and a
/// test compares both on stored rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ByPosition(pub Model);

impl FromQueryResult for ByPosition {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if !pre.is_empty() {
            return Model::from_query_result(row, pre).map(ByPosition);
        }
        Ok(ByPosition(Model {
            id: row.try_get_by_index(Column::Id as usize)?,
            email: row.try_get_by_index(Column::Email as usize)?,
            first_name: row.try_get_by_index(Column::FirstName as usize)?,
            last_name: row.try_get_by_index(Column::LastName as usize)?,
            company: row.try_get_by_index(Column::Company as usize)?,
            job_title: row.try_get_by_index(Column::JobTitle as usize)?,
            industry: row.try_get_by_index(Column::Industry as usize)?,
            company_size: row.try_get_by_index(Column::CompanySize as usize)?,
            country: row.try_get_by_index(Column::Country as usize)?,
            phone: row.try_get_by_index(Column::Phone as usize)?,
            search_text: row.try_get_by_index(Column::SearchText as usize)?,
            stage: row.try_get_by_index(Column::Stage as usize)?,
            reached_rank: row.try_get_by_index(Column::ReachedRank as usize)?,
            score: row.try_get_by_index(Column::Score as usize)?,
            fit_score: row.try_get_by_index(Column::FitScore as usize)?,
            engagement_score: row.try_get_by_index(Column::EngagementScore as usize)?,
            score_breakdown: row.try_get_by_index(Column::ScoreBreakdown as usize)?,
            score_state: row.try_get_by_index(Column::ScoreState as usize)?,
            persona_id: row.try_get_by_index(Column::PersonaId as usize)?,
            icp_fit: row.try_get_by_index(Column::IcpFit as usize)?,
            source_channel: row.try_get_by_index(Column::SourceChannel as usize)?,
            source_campaign_id: row.try_get_by_index(Column::SourceCampaignId as usize)?,
            owner_id: row.try_get_by_index(Column::OwnerId as usize)?,
            qual_budget: row.try_get_by_index(Column::QualBudget as usize)?,
            qual_need: row.try_get_by_index(Column::QualNeed as usize)?,
            qual_authority: row.try_get_by_index(Column::QualAuthority as usize)?,
            qual_timeline: row.try_get_by_index(Column::QualTimeline as usize)?,
            qual_notes: row.try_get_by_index(Column::QualNotes as usize)?,
            deal_amount_cents: row.try_get_by_index(Column::DealAmountCents as usize)?,
            disqualification_reason: row
                .try_get_by_index(Column::DisqualificationReason as usize)?,
            created_at: row.try_get_by_index(Column::CreatedAt as usize)?,
            updated_at: row.try_get_by_index(Column::UpdatedAt as usize)?,
            stage_changed_at: row.try_get_by_index(Column::StageChangedAt as usize)?,
            mql_at: row.try_get_by_index(Column::MqlAt as usize)?,
            sql_at: row.try_get_by_index(Column::SqlAt as usize)?,
            opportunity_at: row.try_get_by_index(Column::OpportunityAt as usize)?,
            customer_at: row.try_get_by_index(Column::CustomerAt as usize)?,
            version: row.try_get_by_index(Column::Version as usize)?,
        }))
    }
}
