//! Week rows in the KPI rollups (issue 15, docs/kpis.md "Rollups").
//!
//! A weekly trend over a year by channel read the year's 3,650 day rows:
//! on SQLite most of that request was handing those rows over from the
//! driver's thread one at a time, and it missed its 20 ms target. The fold
//! now also keeps one row per (dimension `/week`, Monday of the ISO week,
//! value), as it keeps month rows, so the same trend reads 530 rows. Like
//! the month rows they cost the writers nothing: the triggers still only
//! append to `kpi_delta`, the fold (and the rebuild) write them.
//!
//! What the fold writes is decided by the build that folds. During a
//! rolling upgrade an instance of an older build would go on folding
//! without week rows and leave them short, silently. On PostgreSQL (the
//! database several instances share) a statement trigger on `kpi_delta`
//! therefore refuses any delete from the log that does not come from a fold
//! or a rebuild of this build or a later one, which announce themselves
//! with the transaction-local setting [`FOLD_SETTING`] = [`FOLD_VERSION`].
//! An older instance's fold fails (and logs why); its deltas wait for a
//! current instance, and every reader adds them meanwhile, so no figure is
//! wrong at any time.

use super::m20261204_000010_kpi_rollups as v1;
use super::m20261204_000011_kpi_rollups_by_dimension::{self as v2, dimensions};
use super::m20261204_000012_kpi_rollup_deltas as v3;
pub use super::m20261204_000012_kpi_rollup_deltas::{
    COUNTS, FOLD_LOCK, MONTH, contributions, day, delta_rows, fit_aggregate, micros, month,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The suffix of the `dim` of week rows (`channel/week`, …).
pub const WEEK: &str = "/week";

/// The PostgreSQL setting a fold or a rebuild sets (for its transaction)
/// to be allowed to delete from `kpi_delta`.
pub const FOLD_SETTING: &str = "leadgraph.rollup_fold";

/// The value of [`FOLD_SETTING`] of a build that writes week rows.
pub const FOLD_VERSION: &str = "weeks";

/// The Monday of the ISO week of a lead row `l`'s cohort day.
pub fn week(backend: DbBackend, l: &str) -> String {
    week_of(backend, &day(backend, l))
}

/// The Monday of the ISO week of the date `d` (a DATE on PostgreSQL,
/// `YYYY-MM-DD` on SQLite), of the same type.
pub fn week_of(backend: DbBackend, d: &str) -> String {
    match backend {
        // A date minus an integer is a date; ISODOW is 1 (Monday) … 7.
        DbBackend::Postgres => format!("({d} - CAST(EXTRACT(ISODOW FROM {d}) AS INTEGER) + 1)"),
        // `weekday 0`: forward to the next Sunday, or stay on one.
        _ => format!("date({d}, 'weekday 0', '-6 days')"),
    }
}

/// The first day of the month of the date `d`, as [`week_of`].
pub fn month_of(backend: DbBackend, d: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("({d} - CAST(EXTRACT(DAY FROM {d}) AS INTEGER) + 1)"),
        _ => format!("date({d}, 'start of month')"),
    }
}

/// `SELECT dim, day, k, SUM(sign · contribution)…` of the lead rows `l` of
/// `source`: the day, week and month rows of every dimension, in key order
/// (see 000011's `aggregate`).
pub fn aggregate(backend: DbBackend, source: &str, filter: &str, having_nonzero: bool) -> String {
    let mut branches = Vec::new();
    for (dim, k) in dimensions("l") {
        branches.push((dim.to_owned(), day(backend, "l"), k.clone()));
        branches.push((format!("{dim}{WEEK}"), week(backend, "l"), k.clone()));
        branches.push((format!("{dim}{MONTH}"), month(backend, "l"), k));
    }
    v2::aggregate_branches(backend, source, filter, having_nonzero, &branches)
}

/// The statement that lets this transaction delete from `kpi_delta`
/// (PostgreSQL; nothing to say on SQLite).
fn announce(backend: DbBackend) -> Option<String> {
    (backend == DbBackend::Postgres)
        .then(|| format!("SELECT set_config('{FOLD_SETTING}', '{FOLD_VERSION}', true)"))
}

/// The fold (000012's, with week rows), to run in one transaction.
///
/// On PostgreSQL without JIT compilation for it: the statement is long (nine
/// branches of twenty sums) and, once the log table has grown, its
/// estimated cost passes `jit_above_cost`; compiling it then took 2.0 s
/// for a fold of 4,500 deltas that runs in 90 ms without (measured at
/// 1,000,000 leads, `EXPLAIN ANALYZE`), and the fold runs every second.
pub fn compact_statements(backend: DbBackend) -> Vec<String> {
    let no_jit = (backend == DbBackend::Postgres)
        .then(|| "SELECT set_config('jit', 'off', true)".to_owned());
    announce(backend)
        .into_iter()
        .chain(no_jit)
        .chain(v3::compact_with(backend, aggregate))
        .collect()
}

/// The statements that rebuild the rollups (day, week and month rows) from
/// the lead rows, in one transaction.
pub fn rebuild_statements(backend: DbBackend) -> Vec<String> {
    announce(backend)
        .into_iter()
        .chain(v3::rebuild_with(backend, aggregate))
        .collect()
}

/// PostgreSQL: refuse a delete from the log by a build that does not
/// write week rows.
fn guard_statements() -> [String; 2] {
    [
        format!(
            "CREATE OR REPLACE FUNCTION kpi_delta_fold_guard() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN \
             IF current_setting('{FOLD_SETTING}', true) IS DISTINCT FROM '{FOLD_VERSION}' THEN \
             RAISE EXCEPTION 'kpi_delta is folded by leadgraph builds that keep week rows \
             (migration 000013): this instance runs an older build' \
             USING ERRCODE = 'object_not_in_prerequisite_state'; \
             END IF; RETURN NULL; END $$"
        ),
        "CREATE TRIGGER kpi_delta_fold_guard BEFORE DELETE ON kpi_delta \
         FOR EACH STATEMENT EXECUTE FUNCTION kpi_delta_fold_guard()"
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if backend == DbBackend::Postgres {
            v1::run_all(db, guard_statements()).await?;
        }
        // The day and month rows are right; the week rows are new. The
        // migration runs in a transaction on PostgreSQL, so the setting
        // holds for the rebuild's delete.
        v1::run_all(db, rebuild_statements(backend)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        v1::run_all(db, compact_statements(backend)).await?;
        if backend == DbBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER kpi_delta_fold_guard ON kpi_delta")
                .await?;
            db.execute_unprepared("DROP FUNCTION kpi_delta_fold_guard()")
                .await?;
        }
        db.execute_unprepared(&format!("DELETE FROM kpi_rollup WHERE dim LIKE '%{WEEK}'"))
            .await?;
        Ok(())
    }
}
