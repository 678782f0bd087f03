use sea_orm::entity::prelude::*;

/// An outside receiver of lead events, owned by the user who created it
/// (docs/webhooks.md).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner_id: i64,
    pub url: String,
    pub description: Option<String>,
    /// Event kind codes, comma-separated, e.g. `LEAD_QUALIFIED`.
    pub events: String,
    /// Stage codes, comma-separated; `None`: every stage.
    pub to_stages: Option<String>,
    /// `whsec_<base64>`.
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    /// `ACTIVE` or `FAILING`.
    pub status: String,
    pub failing_since: Option<DateTimeUtc>,
    /// The last outbox sequence turned into deliveries (or skipped).
    pub cursor: i64,
    /// The instance delivering this webhook, until `lease_until`.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
