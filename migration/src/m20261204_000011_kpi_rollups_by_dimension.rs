//! KPI rollups by dimension (issue 15, docs/kpis.md "Rollups").
//!
//! The rollup of migration 000010 kept one row per (day, channel, campaign,
//! persona). At 1,000,000 leads that key holds about 140 rows a day, so a
//! one-year `costPerLead` by channel summed 51,000 rows: 24 ms in
//! PostgreSQL alone, where the target for the whole request is 10 ms. A KPI
//! groups by one dimension at a time (`KpiGroupBy`: NONE, CHANNEL, CAMPAIGN,
//! PERSONA), never by two, so this migration keeps one row per (dimension,
//! day, value) instead: each lead counts once under its channel, once under
//! its campaign and once under its persona (`0` for none) — about 26 rows a
//! day at 1M leads, 3,650 for a year by channel. NONE sums the channel rows
//! (every lead has exactly one channel).
//!
//! The sums themselves ([`contributions`](super::m20261204_000010_kpi_rollups::contributions)),
//! the fit histogram, the update guard and the lock order are those of
//! 000010; the triggers are replaced in place and the table rebuilt from
//! the lead rows.

use super::m20261204_000010_kpi_rollups::{self as v1, Layout};
pub use super::m20261204_000010_kpi_rollups::{COUNTS, contributions, day, fit_aggregate, micros};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The key columns of `kpi_rollup`, in index order.
pub const KEY: [&str; 3] = ["dim", "day", "k"];

/// The dimensions (`dim`) and the value (`k`, text) of a lead row `l` in
/// each: the channel code, the campaign id, the persona id (`0` for none).
pub fn dimensions(l: &str) -> [(&'static str, String); 3] {
    [
        ("channel", format!("{l}.source_channel")),
        (
            "campaign",
            format!("CAST(COALESCE({l}.source_campaign_id, 0) AS TEXT)"),
        ),
        (
            "persona",
            format!("CAST(COALESCE({l}.persona_id, 0) AS TEXT)"),
        ),
    ]
}

/// `SELECT dim, day, k, SUM(sign · contribution)… FROM <source> l WHERE
/// <filter>`, one row per dimension, day and value, in key order (the lock
/// order of the upserts). `having_nonzero` drops rows whose every sum is 0.
pub fn aggregate(backend: DbBackend, source: &str, filter: &str, having_nonzero: bool) -> String {
    let branches: Vec<(String, String, String)> = dimensions("l")
        .into_iter()
        .map(|(dim, k)| (dim.to_owned(), day(backend, "l"), k))
        .collect();
    aggregate_branches(backend, source, filter, having_nonzero, &branches)
}

/// `l.sign * (<contribution>) AS <count>, …` of the row `l`, in [`COUNTS`]
/// order: what one lead row (or one logged delta) adds to its rollup rows.
pub fn signed_contributions(backend: DbBackend) -> Vec<String> {
    contributions(backend, "l")
        .into_iter()
        .zip(COUNTS)
        .map(|(e, c)| format!("l.sign * ({e}) AS {c}"))
        .collect()
}

/// [`aggregate`] over the given `(dim, day expression, k expression)`
/// branches of the lead rows `l` of `source`.
pub fn aggregate_branches(
    backend: DbBackend,
    source: &str,
    filter: &str,
    having_nonzero: bool,
    branches: &[(String, String, String)],
) -> String {
    let values = signed_contributions(backend);
    let branches: Vec<String> = branches
        .iter()
        .map(|(dim, day, k)| {
            format!(
                "SELECT '{dim}' AS dim, {day} AS day, {k} AS k, {} FROM {source} l WHERE {filter}",
                values.join(", ")
            )
        })
        .collect();
    let sums: Vec<String> = COUNTS
        .iter()
        .map(|c| format!("SUM(c.{c}) AS {c}"))
        .collect();
    let having = if having_nonzero {
        let any: Vec<String> = COUNTS.iter().map(|c| format!("SUM(c.{c}) <> 0")).collect();
        format!(" HAVING {}", any.join(" OR "))
    } else {
        String::new()
    };
    format!(
        "SELECT c.dim, c.day, c.k, {} FROM ({}) c GROUP BY c.dim, c.day, c.k{having} \
         ORDER BY c.dim, c.day, c.k",
        sums.join(", "),
        branches.join(" UNION ALL ")
    )
}

/// `INSERT INTO kpi_rollup … <select> ON CONFLICT (dim, day, k)` adding the counts.
pub fn upsert_rollup(select: &str) -> String {
    v1::upsert_keyed(&KEY, select)
}

/// The statements that rebuild both rollup tables from the lead rows
/// (`leadgraph rollups rebuild`, and this migration).
pub fn rebuild_statements(backend: DbBackend) -> Vec<String> {
    v1::rebuild_keyed(backend, &KEY, aggregate)
}

/// SQLite row trigger: the row `r` (`NEW` or `OLD`) counted with `sign`
/// under its three dimensions (one upsert of three rows), and in the fit
/// histogram.
fn sqlite_row(r: &str, sign: i64) -> Vec<String> {
    let values: Vec<String> = contributions(DbBackend::Sqlite, r)
        .into_iter()
        .map(|e| format!("{sign} * ({e})"))
        .collect();
    let rows: Vec<String> = dimensions(r)
        .into_iter()
        .map(|(dim, k)| {
            format!(
                "('{dim}', {}, {k}, {})",
                day(DbBackend::Sqlite, r),
                values.join(", ")
            )
        })
        .collect();
    let [_, fit] = v1::sqlite_row(r, sign);
    vec![
        format!("{};", upsert_rollup(&format!("VALUES {}", rows.join(", ")))),
        fit,
    ]
}

/// This migration's layout, for `create_triggers`.
pub const LAYOUT: Layout = Layout {
    upsert: |backend, source| upsert_rollup(&aggregate(backend, source, "1 = 1", true)),
    sqlite_row,
};

/// Drop `kpi_rollup`, and on SQLite the triggers that write it (they would
/// fail without it; PostgreSQL's functions are replaced in place).
async fn drop_rollup_table(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
) -> Result<(), DbErr> {
    if backend != DbBackend::Postgres {
        for event in ["insert", "update", "delete"] {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS lead_kpi_rollup_{event}"))
                .await?;
        }
    }
    db.execute_unprepared("DROP TABLE kpi_rollup").await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        drop_rollup_table(db, backend).await?;
        let counts: Vec<String> = COUNTS
            .iter()
            .map(|c| format!("{c} bigint NOT NULL DEFAULT 0"))
            .collect();
        db.execute_unprepared(&format!(
            "CREATE TABLE kpi_rollup (dim varchar NOT NULL, day date NOT NULL, \
             k varchar NOT NULL, {}, PRIMARY KEY (dim, day, k))",
            counts.join(", ")
        ))
        .await?;
        // The triggers first: on PostgreSQL the old functions would write
        // the old columns.
        v1::create_triggers(db, backend, &LAYOUT).await?;
        v1::run_all(db, rebuild_statements(backend)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to 000010's table, triggers and contents.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        drop_rollup_table(db, backend).await?;
        v1::create_rollup_table(db).await?;
        v1::create_triggers(db, backend, &v1::LAYOUT).await?;
        v1::run_all(db, v1::rebuild_statements(backend)).await?;
        Ok(())
    }
}
