//! KPI rollups fed by a delta log (issue 15, docs/kpis.md "Rollups").
//!
//! Until this migration the triggers on `lead` upserted the rollup rows
//! themselves: three `kpi_rollup` rows (one per dimension) and the fit
//! histogram per change, in the writing transaction. Measured on
//! PostgreSQL, that upsert was 0.13 ms of server CPU per stage change and
//! made the transition workload 19 % slower; and the writer then held those
//! rows until commit, so writers on one (day, channel) row queued behind each
//! other and two multi-statement writers could deadlock on two rows.
//!
//! Now a trigger only appends the changed lead's KPI columns to `kpi_delta`
//! with a sign (+1 for the new row, −1 for the old one): a plain insert into
//! a table without an index, which never waits for another writer. The
//! deltas are folded into the rollups by [`compact_statements`] (the server
//! does it every `LEADGRAPH_ROLLUP_COMPACT_INTERVAL`, one statement on
//! PostgreSQL, one transaction on SQLite), and every reader adds the
//! deltas not yet folded in the same statement as the rollup rows — one
//! snapshot, so a fold committing meanwhile is seen entirely or not at all.
//! The numbers are exact at every instant; the fold only keeps the log
//! short.
//!
//! The fold also keeps **month rows**: beside each (dimension, day,
//! value) row, one per (dimension `/month`, first day of the month UTC,
//! value), so a year by channel sums 120 rows instead of 3,650. They cost
//! the writers nothing (the fold writes them), and the readers take whole
//! months from them and the remaining days from the day rows.
//!
//! What a lead contributes is still [`contributions`] over its row: the
//! rebuild over `lead`, the fold over `kpi_delta` and the readers over
//! `kpi_delta` use the one generator ([`aggregate`], `fit_aggregate`).

use super::m20261204_000010_kpi_rollups::{self as v1, FACTS};
use super::m20261204_000011_kpi_rollups_by_dimension::{self as v2, dimensions};
pub use super::m20261204_000011_kpi_rollups_by_dimension::{
    COUNTS, contributions, day, fit_aggregate, micros,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The advisory lock (PostgreSQL) that keeps one fold or rebuild at a time.
pub const FOLD_LOCK: i64 = 0x6c67_6b70_6966_6f6c;

/// The suffix of the `dim` of month rows (`channel/month`, …).
pub const MONTH: &str = "/month";

/// The first day of the UTC month of a lead row `l`'s cohort day.
pub fn month(backend: DbBackend, l: &str) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("CAST(date_trunc('month', {l}.created_at AT TIME ZONE 'UTC') AS DATE)")
        }
        _ => format!("(substr({l}.created_at, 1, 7) || '-01')"),
    }
}

/// `SELECT dim, day, k, SUM(sign · contribution)…` of the lead rows `l` of
/// `source`: the day rows of every dimension and the month rows, in key
/// order (see 000011's `aggregate`).
pub fn aggregate(backend: DbBackend, source: &str, filter: &str, having_nonzero: bool) -> String {
    let mut branches = Vec::new();
    for (dim, k) in dimensions("l") {
        branches.push((dim.to_owned(), day(backend, "l"), k.clone()));
        branches.push((format!("{dim}{MONTH}"), month(backend, "l"), k));
    }
    v2::aggregate_branches(backend, source, filter, having_nonzero, &branches)
}

/// `kpi_delta`: a sign and the lead's KPI columns, typed as in `lead`.
fn create_delta_table(backend: DbBackend) -> String {
    let ts = match backend {
        DbBackend::Postgres => "timestamp with time zone",
        _ => "timestamp_with_timezone_text",
    };
    let (int, big, float) = match backend {
        DbBackend::Postgres => ("integer", "bigint", "double precision"),
        _ => ("integer", "integer", "double"),
    };
    format!(
        "CREATE TABLE kpi_delta (sign smallint NOT NULL, created_at {ts} NOT NULL, \
         source_channel varchar NOT NULL, source_campaign_id {big} NULL, persona_id {big} NULL, \
         icp_fit {float} NULL, reached_rank {int} NOT NULL, stage varchar NOT NULL, \
         deal_amount_cents {big} NULL, mql_at {ts} NULL, sql_at {ts} NULL, \
         opportunity_at {ts} NULL, customer_at {ts} NULL)"
    )
}

/// `INSERT INTO kpi_delta (sign, <facts>) `.
fn insert_delta() -> String {
    format!("INSERT INTO kpi_delta (sign, {}) ", FACTS.join(", "))
}

/// `r.created_at, …`: the KPI columns of the row `r` (`NEW` or `OLD`).
fn facts_list(r: &str) -> String {
    let facts: Vec<String> = FACTS.iter().map(|c| format!("{r}.{c}")).collect();
    facts.join(", ")
}

/// `(<sign>, r.created_at, …)`: the delta of the row `r`.
fn delta_values(r: &str, sign: i64) -> String {
    format!("({sign}, {})", facts_list(r))
}

/// `(r.created_at, …)`: the KPI columns of `r`, as one row value.
fn facts_of(r: &str) -> String {
    format!("({})", facts_list(r))
}

/// The triggers on `lead` that append to `kpi_delta`.
///
/// - PostgreSQL: INSERT and DELETE statement triggers copy the transition
///   table (one statement however many rows an import or a merge writes);
///   UPDATE is a row trigger `OF` the KPI columns `WHEN` one of them
///   changed, so a score write never enters a function nor builds a
///   transition table.
/// - SQLite: row triggers, the update one under the same `WHEN`.
pub async fn create_delta_triggers(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
) -> Result<(), DbErr> {
    let changed = format!("{} IS DISTINCT FROM {}", facts_of("OLD"), facts_of("NEW"));
    let insert = insert_delta();
    let facts = FACTS.join(", ");
    match backend {
        DbBackend::Postgres => {
            for (event, body) in [
                ("insert", format!("{insert}SELECT 1, {facts} FROM kpi_new")),
                ("delete", format!("{insert}SELECT -1, {facts} FROM kpi_old")),
                (
                    "update",
                    format!(
                        "{insert}VALUES {}, {}",
                        delta_values("OLD", -1),
                        delta_values("NEW", 1)
                    ),
                ),
            ] {
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION kpi_rollup_{event}() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "DROP TRIGGER IF EXISTS lead_kpi_rollup_{event} ON lead"
                ))
                .await?;
                let how = match event {
                    "insert" => "AFTER INSERT ON lead REFERENCING NEW TABLE AS kpi_new \
                                 FOR EACH STATEMENT"
                        .to_owned(),
                    "delete" => "AFTER DELETE ON lead REFERENCING OLD TABLE AS kpi_old \
                                 FOR EACH STATEMENT"
                        .to_owned(),
                    _ => format!("AFTER UPDATE OF {facts} ON lead FOR EACH ROW WHEN ({changed})"),
                };
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER lead_kpi_rollup_{event} {how} \
                     EXECUTE FUNCTION kpi_rollup_{event}()"
                ))
                .await?;
            }
        }
        _ => {
            for event in ["insert", "update", "delete"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS lead_kpi_rollup_{event}"))
                    .await?;
            }
            db.execute_unprepared(&format!(
                "CREATE TRIGGER lead_kpi_rollup_insert AFTER INSERT ON lead \
                 BEGIN {insert}VALUES {}; END",
                delta_values("NEW", 1)
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER lead_kpi_rollup_delete AFTER DELETE ON lead \
                 BEGIN {insert}VALUES {}; END",
                delta_values("OLD", -1)
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER lead_kpi_rollup_update AFTER UPDATE ON lead WHEN {} \
                 BEGIN {insert}VALUES {}, {}; END",
                v1::sqlite_facts_changed(),
                delta_values("OLD", -1),
                delta_values("NEW", 1)
            ))
            .await?;
        }
    }
    Ok(())
}

/// The fold: every delta added to the rollups and removed, atomically.
///
/// - PostgreSQL: one statement, `WITH d AS (DELETE FROM kpi_delta
///   RETURNING *)` feeding both upserts, so a delta committed while it
///   runs is either folded and deleted or left for the next fold; the
///   rollup rows are written in key order (`aggregate` sorts), so two folds
///   never wait on each other in opposite orders.
/// - SQLite: run in one write transaction (one writer at a time, so
///   nothing is appended between the upserts and the delete).
pub fn compact_statements(backend: DbBackend) -> Vec<String> {
    compact_with(backend, aggregate)
}

/// [`compact_statements`] for the rollup rows that `aggregate` writes
/// (a later migration adds rows).
pub fn compact_with(backend: DbBackend, aggregate: Aggregate) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![format!(
            "WITH d AS (DELETE FROM kpi_delta RETURNING *), r AS ({}) {}",
            v2::upsert_rollup(&aggregate(backend, "d", "1 = 1", true)),
            v1::upsert_fit(&fit_aggregate(backend, "d", "1 = 1", true))
        )],
        _ => vec![
            v2::upsert_rollup(&aggregate(backend, "kpi_delta", "1 = 1", true)),
            v1::upsert_fit(&fit_aggregate(backend, "kpi_delta", "1 = 1", true)),
            "DELETE FROM kpi_delta".to_owned(),
        ],
    }
}

/// A generator of the rollup rows of lead rows (see [`aggregate`]).
pub type Aggregate = fn(DbBackend, &str, &str, bool) -> String;

/// The statements that rebuild the rollups (day and month rows) from the
/// lead rows, the deltas dropped (the lead rows already hold what they
/// say).
pub fn rebuild_statements(backend: DbBackend) -> Vec<String> {
    rebuild_with(backend, aggregate)
}

/// [`rebuild_statements`] for the rollup rows that `aggregate` writes.
pub fn rebuild_with(backend: DbBackend, aggregate: Aggregate) -> Vec<String> {
    let mut out = vec!["DELETE FROM kpi_delta".to_owned()];
    out.extend(v1::rebuild_keyed(backend, &v2::KEY, aggregate));
    out
}

/// The deltas not yet folded, as rollup rows of the dimension `dim`: `k`,
/// `day` and the signed contributions in [`COUNTS`] order, one row per
/// delta (the caller sums), for the cohort days `[$1, $2)`.
pub fn delta_rows(backend: DbBackend, dim: &str) -> String {
    // `dim` is one of `dimensions`; another names no row.
    let (k, known) = dimensions("l")
        .into_iter()
        .find_map(|(d, k)| (d == dim).then_some((k, "1 = 1")))
        .unwrap_or_else(|| ("l.source_channel".to_owned(), "1 = 0"));
    let day = day(backend, "l");
    let values = v2::signed_contributions(backend);
    format!(
        "SELECT {k} AS k, {day} AS day, {} FROM kpi_delta l \
         WHERE {known} AND {day} >= $1 AND {day} < $2",
        values.join(", ")
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        db.execute_unprepared(&create_delta_table(backend)).await?;
        create_delta_triggers(db, backend).await?;
        // The day rows are right; the month rows are new.
        v1::run_all(db, rebuild_statements(backend)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        v1::run_all(db, compact_statements(backend)).await?;
        // PostgreSQL's are dropped and created again by `create_triggers`.
        if backend != DbBackend::Postgres {
            for event in ["insert", "update", "delete"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS lead_kpi_rollup_{event}"))
                    .await?;
            }
        }
        v1::create_triggers(db, backend, &v2::LAYOUT).await?;
        db.execute_unprepared("DROP TABLE kpi_delta").await?;
        db.execute_unprepared(&format!("DELETE FROM kpi_rollup WHERE dim LIKE '%{MONTH}'"))
            .await?;
        Ok(())
    }
}
