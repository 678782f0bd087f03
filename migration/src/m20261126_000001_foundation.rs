//! Users, leads, interactions, stage history and the event outbox.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppUser {
    Table,
    Id,
    Subject,
    Name,
    Email,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Lead {
    Table,
    Id,
    Email,
    FirstName,
    LastName,
    Company,
    JobTitle,
    Industry,
    CompanySize,
    Country,
    Phone,
    SearchText,
    Stage,
    ReachedRank,
    Score,
    FitScore,
    EngagementScore,
    ScoreBreakdown,
    PersonaId,
    IcpFit,
    SourceChannel,
    SourceCampaignId,
    OwnerId,
    QualBudget,
    QualNeed,
    QualAuthority,
    QualTimeline,
    QualNotes,
    DealAmountCents,
    DisqualificationReason,
    CreatedAt,
    UpdatedAt,
    StageChangedAt,
    MqlAt,
    SqlAt,
    OpportunityAt,
    CustomerAt,
    Version,
}

#[derive(DeriveIden)]
enum Interaction {
    Table,
    Id,
    LeadId,
    Kind,
    OccurredAt,
    Channel,
    CampaignId,
    ExternalId,
    Metadata,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StageChange {
    Table,
    Id,
    LeadId,
    FromStage,
    ToStage,
    At,
    Actor,
    Reason,
}

#[derive(DeriveIden)]
enum StageEvent {
    Table,
    Seq,
    LeadId,
    FromStage,
    ToStage,
    Actor,
    Reason,
    OwnerId,
    OccurredAt,
}

fn index(name: &str, table: impl IntoIden + 'static) -> IndexCreateStatement {
    Index::create().name(name).table(table).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppUser::Table)
                    .col(big_pk_auto(AppUser::Id))
                    .col(string_uniq(AppUser::Subject))
                    .col(string_null(AppUser::Name))
                    .col(string_null(AppUser::Email))
                    .col(string(AppUser::Role))
                    .col(timestamp_with_time_zone(AppUser::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Lead::Table)
                    .col(big_pk_auto(Lead::Id))
                    .col(string(Lead::Email))
                    .col(string_null(Lead::FirstName))
                    .col(string_null(Lead::LastName))
                    .col(string_null(Lead::Company))
                    .col(string_null(Lead::JobTitle))
                    .col(string_null(Lead::Industry))
                    .col(integer_null(Lead::CompanySize))
                    .col(string_null(Lead::Country))
                    .col(string_null(Lead::Phone))
                    .col(text(Lead::SearchText))
                    .col(string(Lead::Stage))
                    .col(integer(Lead::ReachedRank))
                    .col(integer(Lead::Score))
                    .col(integer(Lead::FitScore))
                    .col(integer(Lead::EngagementScore))
                    .col(json(Lead::ScoreBreakdown))
                    .col(big_integer_null(Lead::PersonaId))
                    .col(double_null(Lead::IcpFit))
                    .col(string(Lead::SourceChannel))
                    .col(big_integer_null(Lead::SourceCampaignId))
                    .col(big_integer_null(Lead::OwnerId))
                    .col(boolean(Lead::QualBudget))
                    .col(boolean(Lead::QualNeed))
                    .col(boolean(Lead::QualAuthority))
                    .col(string_null(Lead::QualTimeline))
                    .col(text_null(Lead::QualNotes))
                    .col(big_integer_null(Lead::DealAmountCents))
                    .col(string_null(Lead::DisqualificationReason))
                    .col(timestamp_with_time_zone(Lead::CreatedAt))
                    .col(timestamp_with_time_zone(Lead::UpdatedAt))
                    .col(timestamp_with_time_zone(Lead::StageChangedAt))
                    .col(timestamp_with_time_zone_null(Lead::MqlAt))
                    .col(timestamp_with_time_zone_null(Lead::SqlAt))
                    .col(timestamp_with_time_zone_null(Lead::OpportunityAt))
                    .col(timestamp_with_time_zone_null(Lead::CustomerAt))
                    .col(integer(Lead::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Lead::Table, Lead::OwnerId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Each index serves one filter or one keyset order of `leads` (the id
        // breaks ties, so a cursor is a total order).
        let lead_indexes = [
            index("ux_lead_email", Lead::Table)
                .col(Lead::Email)
                .unique()
                .to_owned(),
            index("ix_lead_stage_score", Lead::Table)
                .col(Lead::Stage)
                .col(Lead::Score)
                .col(Lead::Id)
                .to_owned(),
            index("ix_lead_score", Lead::Table)
                .col(Lead::Score)
                .col(Lead::Id)
                .to_owned(),
            index("ix_lead_created", Lead::Table)
                .col(Lead::CreatedAt)
                .col(Lead::Id)
                .to_owned(),
            index("ix_lead_updated", Lead::Table)
                .col(Lead::UpdatedAt)
                .col(Lead::Id)
                .to_owned(),
            index("ix_lead_stage_changed", Lead::Table)
                .col(Lead::StageChangedAt)
                .col(Lead::Id)
                .to_owned(),
            index("ix_lead_owner", Lead::Table)
                .col(Lead::OwnerId)
                .to_owned(),
            index("ix_lead_campaign", Lead::Table)
                .col(Lead::SourceCampaignId)
                .to_owned(),
            index("ix_lead_persona", Lead::Table)
                .col(Lead::PersonaId)
                .to_owned(),
        ];
        for stmt in lead_indexes {
            manager.create_index(stmt).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Interaction::Table)
                    .col(big_pk_auto(Interaction::Id))
                    .col(big_integer(Interaction::LeadId))
                    .col(string(Interaction::Kind))
                    .col(timestamp_with_time_zone(Interaction::OccurredAt))
                    .col(string_null(Interaction::Channel))
                    .col(big_integer_null(Interaction::CampaignId))
                    .col(string_null(Interaction::ExternalId))
                    .col(json_null(Interaction::Metadata))
                    .col(timestamp_with_time_zone(Interaction::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Interaction::Table, Interaction::LeadId)
                            .to(Lead::Table, Lead::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ix_interaction_lead_time", Interaction::Table)
                    .col(Interaction::LeadId)
                    .col(Interaction::OccurredAt)
                    .col(Interaction::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ux_interaction_external_id", Interaction::Table)
                    .col(Interaction::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StageChange::Table)
                    .col(big_pk_auto(StageChange::Id))
                    .col(big_integer(StageChange::LeadId))
                    .col(string_null(StageChange::FromStage))
                    .col(string(StageChange::ToStage))
                    .col(timestamp_with_time_zone(StageChange::At))
                    .col(string(StageChange::Actor))
                    .col(string_null(StageChange::Reason))
                    .foreign_key(
                        ForeignKey::create()
                            .from(StageChange::Table, StageChange::LeadId)
                            .to(Lead::Table, Lead::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ix_stage_change_lead", StageChange::Table)
                    .col(StageChange::LeadId)
                    .col(StageChange::Id)
                    .to_owned(),
            )
            .await?;

        // No foreign key: the outbox outlives merged leads until retention.
        manager
            .create_table(
                Table::create()
                    .table(StageEvent::Table)
                    .col(big_pk_auto(StageEvent::Seq))
                    .col(big_integer(StageEvent::LeadId))
                    .col(string_null(StageEvent::FromStage))
                    .col(string(StageEvent::ToStage))
                    .col(string(StageEvent::Actor))
                    .col(string_null(StageEvent::Reason))
                    .col(big_integer_null(StageEvent::OwnerId))
                    .col(timestamp_with_time_zone(StageEvent::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ix_stage_event_time", StageEvent::Table)
                    .col(StageEvent::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StageEvent::Table.into_iden(),
            StageChange::Table.into_iden(),
            Interaction::Table.into_iden(),
            Lead::Table.into_iden(),
            AppUser::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
