//! Campaigns, their daily spend, and the lead index the KPI queries read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Campaign {
    Table,
    Id,
    Name,
    Channel,
    StartsOn,
    EndsOn,
    BudgetCents,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignSpend {
    Table,
    CampaignId,
    SpentOn,
    AmountCents,
    RecordedAt,
}

#[derive(DeriveIden)]
enum Lead {
    Table,
    CreatedAt,
    SourceChannel,
    SourceCampaignId,
    PersonaId,
    ReachedRank,
    Stage,
    MqlAt,
    SqlAt,
    OpportunityAt,
    CustomerAt,
    DealAmountCents,
    IcpFit,
}

/// The cohort index of the KPIs: a range on `created_at`, then every column
/// funnel, costPerLead and leadRelevance aggregate, so both databases answer
/// from the index alone (an index-only scan on PostgreSQL, a covering index
/// on SQLite) instead of visiting wide lead rows.
const LEAD_KPI_INDEX: &str = "ix_lead_kpi_cohort";

/// Spend by date first: a period sums every campaign's entries in one range scan.
const SPEND_DATE_INDEX: &str = "ix_campaign_spend_date";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Campaign::Table)
                    .col(big_pk_auto(Campaign::Id))
                    .col(string_uniq(Campaign::Name))
                    .col(string(Campaign::Channel))
                    .col(date_null(Campaign::StartsOn))
                    .col(date_null(Campaign::EndsOn))
                    .col(big_integer_null(Campaign::BudgetCents))
                    .col(timestamp_with_time_zone(Campaign::CreatedAt))
                    .col(timestamp_with_time_zone(Campaign::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One amount per campaign and day: the key is the upsert target.
        manager
            .create_table(
                Table::create()
                    .table(CampaignSpend::Table)
                    .col(big_integer(CampaignSpend::CampaignId))
                    .col(date(CampaignSpend::SpentOn))
                    .col(big_integer(CampaignSpend::AmountCents))
                    .col(timestamp_with_time_zone(CampaignSpend::RecordedAt))
                    .primary_key(
                        Index::create()
                            .col(CampaignSpend::CampaignId)
                            .col(CampaignSpend::SpentOn),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CampaignSpend::Table, CampaignSpend::CampaignId)
                            .to(Campaign::Table, Campaign::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SPEND_DATE_INDEX)
                    .table(CampaignSpend::Table)
                    .col(CampaignSpend::SpentOn)
                    .col(CampaignSpend::CampaignId)
                    .col(CampaignSpend::AmountCents)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(LEAD_KPI_INDEX)
                    .table(Lead::Table)
                    .col(Lead::CreatedAt)
                    .col(Lead::SourceChannel)
                    .col(Lead::SourceCampaignId)
                    .col(Lead::PersonaId)
                    .col(Lead::ReachedRank)
                    .col(Lead::Stage)
                    .col(Lead::MqlAt)
                    .col(Lead::SqlAt)
                    .col(Lead::OpportunityAt)
                    .col(Lead::CustomerAt)
                    .col(Lead::DealAmountCents)
                    .col(Lead::IcpFit)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(LEAD_KPI_INDEX)
                    .table(Lead::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(CampaignSpend::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Campaign::Table).to_owned())
            .await
    }
}
