//! What incremental scoring carries between rescorings (docs/scoring.md,
//! "Scoring a write incrementally"): the ENGAGEMENT sums of each lead, as
//! JSON text that only scoring reads. Rows from before have none and are
//! scored in full until their next rescoring stores it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Lead {
    Table,
    ScoreState,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Lead::Table)
                    .add_column(text_null(Lead::ScoreState))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Lead::Table)
                    .drop_column(Lead::ScoreState)
                    .to_owned(),
            )
            .await
    }
}
