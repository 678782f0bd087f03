use sea_orm::entity::prelude::*;

/// An ideal customer profile (docs/personas.md). The lists are JSON arrays of strings.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persona")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique among the personas not deleted.
    pub name: String,
    pub description: Option<String>,
    pub industries: Json,
    pub company_size_min: Option<i32>,
    pub company_size_max: Option<i32>,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Json,
    pub job_title_keywords: Json,
    pub created_at: DateTimeUtc,
    /// Set when deleted: the row stays so that ids stored in leads keep resolving.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
