use sea_orm::entity::prelude::*;

/// A marketing campaign on one channel; its spend is in `campaign_spend`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// A `Channel` name, e.g. `PAID_SEARCH`.
    pub channel: String,
    pub starts_on: Option<Date>,
    pub ends_on: Option<Date>,
    pub budget_cents: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
