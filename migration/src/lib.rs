//! Database migrations of leadgraph, the same on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_foundation;
mod m20261126_000002_scoring;
mod m20261126_000003_campaigns;
mod m20261126_000006_event_retention;
mod m20261126_000007_score_state;
mod m20261204_000008_scoring_version;
mod m20261204_000009_webhooks;
pub mod m20261204_000010_kpi_rollups;
pub mod m20261204_000011_kpi_rollups_by_dimension;
pub mod m20261204_000012_kpi_rollup_deltas;
pub mod m20261205_000013_kpi_rollup_weeks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_foundation::Migration),
            Box::new(m20261126_000002_scoring::Migration),
            Box::new(m20261126_000003_campaigns::Migration),
            Box::new(m20261126_000006_event_retention::Migration),
            Box::new(m20261126_000007_score_state::Migration),
            Box::new(m20261204_000008_scoring_version::Migration),
            Box::new(m20261204_000009_webhooks::Migration),
            Box::new(m20261204_000010_kpi_rollups::Migration),
            Box::new(m20261204_000011_kpi_rollups_by_dimension::Migration),
            Box::new(m20261204_000012_kpi_rollup_deltas::Migration),
            Box::new(m20261205_000013_kpi_rollup_weeks::Migration),
        ]
    }
}
