use sea_orm::entity::prelude::*;

/// The outbox: one event per committed stage change, in sequence order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stage_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub lead_id: i64,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub actor: String,
    pub reason: Option<String>,
    /// The lead's owner right after the change (for SALES visibility).
    pub owner_id: Option<i64>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
