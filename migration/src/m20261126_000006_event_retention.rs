//! How far the event outbox has been pruned, so an `after` cursor older than
//! the retention is refused instead of silently skipping what was deleted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventRetention {
    Table,
    Id,
    PrunedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventRetention::Table)
                    .col(integer(EventRetention::Id).primary_key())
                    .col(big_integer(EventRetention::PrunedThrough))
                    .to_owned(),
            )
            .await?;
        // The one row: nothing pruned yet.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(EventRetention::Table)
                    .columns([EventRetention::Id, EventRetention::PrunedThrough])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventRetention::Table).to_owned())
            .await
    }
}
