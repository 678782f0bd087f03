use sea_orm::entity::prelude::*;

/// One signal of a lead: a visit, a download, a call …
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "interaction")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub lead_id: i64,
    pub kind: String,
    pub occurred_at: DateTimeUtc,
    pub channel: Option<String>,
    pub campaign_id: Option<i64>,
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    pub metadata: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
