use sea_orm::entity::prelude::*;

/// One event sent (or to be sent) to one webhook; its global id is the
/// `webhook-id` header of every attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: i64,
    /// The outbox event; `None` for a test delivery.
    pub event_seq: Option<i64>,
    pub lead_id: Option<i64>,
    /// A `WebhookEventType` code.
    pub event_type: String,
    /// The JSON body, fixed when the delivery is created.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    pub attempts: i32,
    pub first_attempt_at: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
