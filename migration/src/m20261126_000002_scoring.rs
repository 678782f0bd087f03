//! Scoring rules, the scoring settings and personas (docs/scoring.md, docs/personas.md).
//!
//! Rules and personas are deleted softly (`deleted_at`): a lead's score
//! breakdown or persona written by a rescoring that raced with the deletion
//! still names a row that exists, until the next rescoring drops it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ScoringRule {
    Table,
    Id,
    Name,
    Kind,
    Points,
    Active,
    ConditionField,
    ConditionOp,
    ConditionValues,
    InteractionKind,
    MetadataKey,
    MetadataContains,
    DecayHalfLifeDays,
    MaxPointsPerLead,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ScoringSettings {
    Table,
    Id,
    MqlThreshold,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Persona {
    Table,
    Id,
    Name,
    Description,
    Industries,
    CompanySizeMin,
    CompanySizeMax,
    Countries,
    JobTitleKeywords,
    CreatedAt,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ScoringRule::Table)
                    .col(big_pk_auto(ScoringRule::Id))
                    .col(string(ScoringRule::Name))
                    .col(string(ScoringRule::Kind))
                    .col(integer(ScoringRule::Points))
                    .col(boolean(ScoringRule::Active))
                    .col(string_null(ScoringRule::ConditionField))
                    .col(string_null(ScoringRule::ConditionOp))
                    .col(json_null(ScoringRule::ConditionValues))
                    .col(string_null(ScoringRule::InteractionKind))
                    .col(string_null(ScoringRule::MetadataKey))
                    .col(string_null(ScoringRule::MetadataContains))
                    .col(integer_null(ScoringRule::DecayHalfLifeDays))
                    .col(integer_null(ScoringRule::MaxPointsPerLead))
                    .col(timestamp_with_time_zone(ScoringRule::CreatedAt))
                    .col(timestamp_with_time_zone(ScoringRule::UpdatedAt))
                    .col(timestamp_with_time_zone_null(ScoringRule::DeletedAt))
                    .to_owned(),
            )
            .await?;

        // One row (id 1) at most; without it the defaults apply. The column
        // default keeps the schema's default equal to the code's.
        manager
            .create_table(
                Table::create()
                    .table(ScoringSettings::Table)
                    .col(integer(ScoringSettings::Id).primary_key())
                    .col(integer(ScoringSettings::MqlThreshold).default(50))
                    .col(timestamp_with_time_zone(ScoringSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Persona::Table)
                    .col(big_pk_auto(Persona::Id))
                    .col(string(Persona::Name))
                    .col(string_null(Persona::Description))
                    .col(json(Persona::Industries))
                    .col(integer_null(Persona::CompanySizeMin))
                    .col(integer_null(Persona::CompanySizeMax))
                    .col(json(Persona::Countries))
                    .col(json(Persona::JobTitleKeywords))
                    .col(timestamp_with_time_zone(Persona::CreatedAt))
                    .col(timestamp_with_time_zone_null(Persona::DeletedAt))
                    .to_owned(),
            )
            .await?;
        // Names are unique among the personas in use; a deleted one frees its name.
        manager
            .create_index(
                Index::create()
                    .name("ux_persona_name")
                    .table(Persona::Table)
                    .col(Persona::Name)
                    .unique()
                    .and_where(Expr::col(Persona::DeletedAt).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Persona::Table.into_iden(),
            ScoringSettings::Table.into_iden(),
            ScoringRule::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
