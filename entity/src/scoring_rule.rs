use sea_orm::entity::prelude::*;

/// A FIT or ENGAGEMENT scoring rule (docs/scoring.md).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scoring_rule")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// `FIT` or `ENGAGEMENT`.
    pub kind: String,
    /// May be negative.
    pub points: i32,
    pub active: bool,
    /// FIT rules: a `LeadField` name, e.g. `COMPANY_SIZE`.
    pub condition_field: Option<String>,
    /// FIT rules: a `ConditionOp` name, e.g. `GTE`.
    pub condition_op: Option<String>,
    /// FIT rules: `["100"]`.
    pub condition_values: Option<Json>,
    /// ENGAGEMENT rules: an `InteractionKind` name.
    pub interaction_kind: Option<String>,
    pub metadata_key: Option<String>,
    pub metadata_contains: Option<String>,
    pub decay_half_life_days: Option<i32>,
    pub max_points_per_lead: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set when deleted: the row stays so that ids stored in leads keep resolving.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
