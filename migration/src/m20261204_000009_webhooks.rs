//! Webhooks (docs/webhooks.md): the subscriptions of outside receivers and
//! one delivery row per event and webhook. A webhook keeps its own outbox
//! cursor and a lease, so exactly one instance delivers it at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppUser {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Webhook {
    Table,
    Id,
    OwnerId,
    Url,
    Description,
    Events,
    ToStages,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    Status,
    FailingSince,
    Cursor,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    WebhookId,
    EventSeq,
    LeadId,
    EventType,
    Payload,
    Status,
    Attempts,
    FirstAttemptAt,
    LastAttemptAt,
    NextAttemptAt,
    LastStatusCode,
    LastLatencyMs,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhook::Table)
                    .col(big_pk_auto(Webhook::Id))
                    .col(big_integer(Webhook::OwnerId))
                    .col(text(Webhook::Url))
                    .col(text_null(Webhook::Description))
                    .col(string(Webhook::Events))
                    .col(string_null(Webhook::ToStages))
                    .col(string(Webhook::Secret))
                    .col(string_null(Webhook::PreviousSecret))
                    .col(timestamp_with_time_zone_null(Webhook::PreviousSecretUntil))
                    .col(string(Webhook::Status))
                    .col(timestamp_with_time_zone_null(Webhook::FailingSince))
                    .col(big_integer(Webhook::Cursor))
                    .col(string_null(Webhook::LeaseOwner))
                    .col(timestamp_with_time_zone_null(Webhook::LeaseUntil))
                    .col(timestamp_with_time_zone(Webhook::CreatedAt))
                    .col(timestamp_with_time_zone(Webhook::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Webhook::Table, Webhook::OwnerId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_owner")
                    .table(Webhook::Table)
                    .col(Webhook::OwnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    .col(big_pk_auto(WebhookDelivery::Id))
                    .col(big_integer(WebhookDelivery::WebhookId))
                    .col(big_integer_null(WebhookDelivery::EventSeq))
                    .col(big_integer_null(WebhookDelivery::LeadId))
                    .col(string(WebhookDelivery::EventType))
                    .col(text(WebhookDelivery::Payload))
                    .col(string(WebhookDelivery::Status))
                    .col(integer(WebhookDelivery::Attempts))
                    .col(timestamp_with_time_zone_null(
                        WebhookDelivery::FirstAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookDelivery::LastAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookDelivery::NextAttemptAt,
                    ))
                    .col(integer_null(WebhookDelivery::LastStatusCode))
                    .col(integer_null(WebhookDelivery::LastLatencyMs))
                    .col(text_null(WebhookDelivery::LastError))
                    .col(timestamp_with_time_zone(WebhookDelivery::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookDelivery::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDelivery::Table, WebhookDelivery::WebhookId)
                            .to(Webhook::Table, Webhook::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One delivery per event and webhook, whoever ingests it.
        manager
            .create_index(
                Index::create()
                    .name("ux_webhook_delivery_event")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::EventSeq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The deliverer's scan of pending deliveries, and the listing by id.
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_status")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::Status)
                    .col(WebhookDelivery::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_list")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDelivery::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Webhook::Table).to_owned())
            .await
    }
}
