//! The daily KPI rollups (docs/kpis.md "Rollups"): what the KPI services
//! read instead of the lead rows, the same totals aggregated from the lead
//! rows (for the partial days at the edges of a period, and as the
//! reference `leadgraph rollups verify` compares with), and the rebuild.
//!
//! The tables and the triggers that keep them are those of the migrations
//! `m20261204_000010_kpi_rollups` (the sums, the fit histogram),
//! `m20261204_000011_kpi_rollups_by_dimension` (one row per dimension, day
//! and value) and `m20261204_000012_kpi_rollup_deltas` (the triggers append
//! to `kpi_delta`, [`compact`] folds it), whose SQL generators this module
//! shares. Every read adds the deltas not yet folded, in the same statement.

use super::calc::{self, CohortCounts, Interval, STAGES};
use super::model::GroupBy;
use super::service::Key;
use crate::error::{AppError, AppResult};
use crate::leads::channel::Channel;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use migration::m20261205_000013_kpi_rollup_weeks as sql;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait, Value,
};
use std::collections::BTreeMap;

/// Number of count columns (`sql::COUNTS`).
const N: usize = sql::COUNTS.len();
/// Positions in `sql::COUNTS`.
const LEADS: usize = 0;
const REACHED2: usize = 1;
const DISQUALIFIED: usize = 5;
const TIMED2: usize = 6;
const SECS2: usize = 10;
const MICROS2: usize = 14;
const REVENUE_HI: usize = 18;

/// The sums of one rollup key (or of several), in `sql::COUNTS` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals(pub [i64; N]);

impl Default for Totals {
    fn default() -> Self {
        Totals([0; N])
    }
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += *b;
        }
    }

    /// The sum of a column of `sql::COUNTS` (positions checked by a test).
    fn get(&self, column: usize) -> i64 {
        self.0[column]
    }

    pub fn new_leads(&self) -> i64 {
        self.get(LEADS)
    }

    pub fn disqualified(&self) -> i64 {
        self.get(DISQUALIFIED)
    }

    /// Won deal amounts, in cents.
    pub fn revenue(&self) -> i128 {
        calc::join_sum(self.get(REVENUE_HI), self.get(REVENUE_HI + 1))
    }

    /// The funnel's counts: reached per stage and the mean days between
    /// milestones (the exact sum of microseconds over the leads timed).
    pub fn counts(&self) -> CohortCounts {
        let n = self.new_leads();
        let mut counts = CohortCounts {
            new_leads: n,
            disqualified: self.disqualified(),
            ..Default::default()
        };
        counts.reached[0] = n;
        for rank in 2..=STAGES {
            let k = rank - 2;
            counts.reached[rank - 1] = self.get(REACHED2 + k);
            let timed = self.get(TIMED2 + k);
            let micros =
                i128::from(self.get(SECS2 + k)) * 1_000_000 + i128::from(self.get(MICROS2 + k));
            counts.avg_days[rank - 1] =
                (timed > 0).then(|| micros as f64 / timed as f64 / 86_400_000_000.0);
        }
        counts
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }

    /// The count columns of `row`, which start at column `first` in
    /// `sql::COUNTS` order (read by position: by name is a search per
    /// column, and a weekly trend reads 3,650 rows of 20).
    fn read(row: &QueryResult, first: usize) -> AppResult<Totals> {
        let mut t = Totals::default();
        for (i, slot) in t.0.iter_mut().enumerate() {
            // SUM over no rows is NULL.
            *slot = row.try_get_by_index::<Option<i64>>(first + i)?.unwrap_or(0);
        }
        Ok(t)
    }
}

/// `CAST(SUM(x) AS BIGINT) AS c` for every count column, `x` given.
fn sums(exprs: impl Iterator<Item = String>) -> String {
    exprs
        .zip(sql::COUNTS)
        .map(|(e, c)| format!("CAST(SUM({e}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `dim` of `kpi_rollup` that answers a grouping: NONE sums the
/// channel rows (every lead has exactly one channel).
fn rollup_dimension(group_by: GroupBy) -> &'static str {
    match group_by {
        GroupBy::None | GroupBy::Channel => "channel",
        GroupBy::Campaign => "campaign",
        GroupBy::Persona => "persona",
    }
}

/// The rollup rows of `dim` for the days `[$1, $2)` with the deltas not
/// yet folded, one statement (so one snapshot): the whole weeks or months
/// (`unit`, [`sql::WEEK`] or [`sql::MONTH`]) `[$3, $4)` from their rows,
/// the other days from the day rows. Each row is `k`, `day` (a week or
/// month row's first day) and the counts; one row per rollup row or delta.
fn rows_query(backend: DbBackend, dim: &str, unit: &str) -> String {
    let counts = sql::COUNTS.join(", ");
    format!(
        "SELECT k, day, {counts} FROM kpi_rollup WHERE dim = '{dim}{unit}' AND day >= $3 AND day < $4 \
         UNION ALL SELECT k, day, {counts} FROM kpi_rollup WHERE dim = '{dim}' \
         AND (day >= $1 AND day < $3 OR day >= $4 AND day < $2) \
         UNION ALL {}",
        sql::delta_rows(backend, dim)
    )
}

/// The rollup rows of `group_by` for the days `[$1, $2)`, summed per
/// group: the whole months `[$3, $4)` from the month rows, the other days
/// from the day rows, and the deltas not yet folded — one statement.
fn rollup_query(backend: DbBackend, group_by: GroupBy) -> String {
    let aggregates = sums(sql::COUNTS.iter().map(|c| format!("x.{c}")));
    let (select, group) = match group_by {
        GroupBy::None => ("", ""),
        _ => ("x.k AS k, ", " GROUP BY x.k"),
    };
    format!(
        "SELECT {select}{aggregates} FROM ({}) x{group}",
        rows_query(backend, rollup_dimension(group_by), sql::MONTH)
    )
}

/// The whole ISO weeks within the days `[first, end)`, as their Mondays
/// `[a, b)`; `a == b == end` when there is none.
pub fn whole_weeks(first: NaiveDate, end: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday_of =
        |d: NaiveDate| d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()));
    let a = if first.weekday() == chrono::Weekday::Mon {
        first
    } else {
        monday_of(first) + chrono::Days::new(7)
    };
    let b = monday_of(end);
    if a < b { (a, b) } else { (end, end) }
}

/// The whole calendar months within the days `[first, end)`, as the
/// first days `[a, b)`; `a == b == end` when there is none.
pub fn whole_months(first: NaiveDate, end: NaiveDate) -> (NaiveDate, NaiveDate) {
    let month_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let a = if first.day() == 1 {
        first
    } else {
        month_of(first)
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(end)
    };
    let b = month_of(end);
    if a < b { (a, b) } else { (end, end) }
}

fn lead_key_column(group_by: GroupBy) -> Option<&'static str> {
    match group_by {
        GroupBy::None => None,
        GroupBy::Channel => Some("l.source_channel"),
        GroupBy::Campaign => Some("CAST(COALESCE(l.source_campaign_id, 0) AS TEXT)"),
        GroupBy::Persona => Some("CAST(COALESCE(l.persona_id, 0) AS TEXT)"),
    }
}

/// The group of a row whose first column is `k` (none for NONE).
fn read_key(row: &QueryResult, group_by: GroupBy) -> AppResult<Key> {
    Ok(match group_by {
        GroupBy::None => Key::All,
        GroupBy::Channel => {
            let channel = Channel::from_code(&row.try_get_by_index::<String>(0)?)?;
            Key::Channel(Channel::ALL.iter().take_while(|c| **c != channel).count())
        }
        GroupBy::Campaign | GroupBy::Persona => {
            let k = row.try_get_by_index::<String>(0)?;
            match k.parse::<i64>() {
                Ok(0) => Key::Missing,
                Ok(id) => Key::Id(id),
                Err(e) => return Err(AppError::internal(format!("rollup key {k}: {e}"))),
            }
        }
    })
}

async fn grouped(
    db: &impl ConnectionTrait,
    sql: String,
    values: Vec<Value>,
    group_by: GroupBy,
    into: &mut BTreeMap<Key, Totals>,
) -> AppResult<()> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    // `[k,] counts…`
    let first = usize::from(group_by != GroupBy::None);
    for row in &rows {
        let totals = Totals::read(row, first)?;
        if totals.is_zero() {
            continue;
        }
        into.entry(read_key(row, group_by)?)
            .or_default()
            .add(&totals);
    }
    Ok(())
}

/// Totals per group of the rollup days `[first, end)`.
async fn from_rollups(
    db: &impl ConnectionTrait,
    first: NaiveDate,
    end: NaiveDate,
    group_by: GroupBy,
    into: &mut BTreeMap<Key, Totals>,
) -> AppResult<()> {
    let query = rollup_query(db.get_database_backend(), group_by);
    let (a, b) = whole_months(first, end);
    let values = vec![first.into(), end.into(), a.into(), b.into()];
    grouped(db, query, values, group_by, into).await
}

/// Totals per group of the leads created in `[from, to)`, from the lead
/// rows (the reference the rollups must equal).
pub async fn from_leads(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
    into: &mut BTreeMap<Key, Totals>,
) -> AppResult<()> {
    let backend = db.get_database_backend();
    let aggregates = sums(sql::contributions(backend, "l").into_iter());
    let filter = "l.created_at >= $1 AND l.created_at < $2";
    let query = match lead_key_column(group_by) {
        None => format!("SELECT {aggregates} FROM lead l WHERE {filter}"),
        Some(k) => format!("SELECT {k} AS k, {aggregates} FROM lead l WHERE {filter} GROUP BY {k}"),
    };
    grouped(db, query, vec![from.into(), to.into()], group_by, into).await
}

/// The `day` column of a rollup row: a DATE on PostgreSQL, `YYYY-MM-DD`
/// text on SQLite.
fn read_day(row: &QueryResult, backend: DbBackend) -> AppResult<NaiveDate> {
    // `k, day, counts…`
    if backend == DbBackend::Postgres {
        return Ok(row.try_get_by_index::<NaiveDate>(1)?);
    }
    let day = row.try_get_by_index::<String>(1)?;
    NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .map_err(|e| AppError::internal(format!("rollup day {day}: {e}")))
}

/// Midnight (UTC) of `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// How a span `[from, to)` is read: whole UTC days `[first, end)` from the
/// rollups, and the partial days before and after them from the lead rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub days: Option<(NaiveDate, NaiveDate)>,
    pub before: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub after: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Split `[from, to)` (`from < to`) into whole days and partial edges.
pub fn split(from: DateTime<Utc>, to: DateTime<Utc>) -> Split {
    // The first midnight at or after `from`, the last at or before `to`.
    let (first, _) = calc::spend_dates(from, to);
    let end = to.date_naive();
    if first >= end {
        return Split {
            days: None,
            before: Some((from, to)),
            after: None,
        };
    }
    let (start, stop) = (midnight(first), midnight(end));
    Split {
        days: Some((first, end)),
        before: (from < start).then_some((from, start)),
        after: (stop < to).then_some((stop, to)),
    }
}

/// Totals per group of the leads created in `[from, to)`: whole days from
/// the rollups, partial days (at most one at each edge) from the leads.
pub async fn totals(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
) -> AppResult<BTreeMap<Key, Totals>> {
    let s = split(from, to);
    let mut out = BTreeMap::new();
    if let Some((first, end)) = s.days {
        from_rollups(db, first, end, group_by, &mut out).await?;
    }
    for (a, b) in [s.before, s.after].into_iter().flatten() {
        from_leads(db, a, b, group_by, &mut out).await?;
    }
    Ok(out)
}

/// A bucket of a trend: `[start, end)`.
pub type Bucket = (DateTime<Utc>, DateTime<Utc>);

/// The bucket of `buckets` (contiguous, in order) that holds `t`.
pub fn bucket_of(buckets: &[Bucket], t: DateTime<Utc>) -> Option<usize> {
    let i = buckets
        .partition_point(|(start, _)| *start <= t)
        .checked_sub(1)?;
    (t < buckets[i].1).then_some(i)
}

/// Totals per group and bucket of a trend (`buckets` of `interval`,
/// contiguous, in order): one rollup statement for the whole days, the
/// lead rows for the partial days at the two ends.
pub async fn series(
    db: &impl ConnectionTrait,
    buckets: &[Bucket],
    interval: Interval,
    group_by: GroupBy,
) -> AppResult<BTreeMap<Key, Vec<Totals>>> {
    let mut out: BTreeMap<Key, Vec<Totals>> = BTreeMap::new();
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return Ok(out);
    };
    let n = buckets.len();
    let s = split(first.0, last.1);
    if let Some((a, b)) = s.days {
        // Whole weeks (or months) from their rows, each inside one bucket
        // (buckets are ISO weeks or calendar months, cut only at the
        // period's ends); the other days from the day rows. The rows are
        // read as they are and added up here (a GROUP BY over a year's
        // 3,650 channel rows took PostgreSQL 22 ms, reading them 2).
        let (unit, (ua, ub)) = match interval {
            Interval::Week => (sql::WEEK, whole_weeks(a, b)),
            Interval::Month => (sql::MONTH, whole_months(a, b)),
            // No coarser rows: an empty range of week rows.
            Interval::Day => (sql::WEEK, (b, b)),
        };
        let backend = db.get_database_backend();
        let query = rows_query(backend, rollup_dimension(group_by), unit);
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                query,
                vec![a.into(), b.into(), ua.into(), ub.into()],
            ))
            .await?;
        for row in &rows {
            let totals = Totals::read(row, 2)?;
            if totals.is_zero() {
                continue;
            }
            let day = read_day(row, backend)?;
            let Some(i) = bucket_of(buckets, midnight(day)) else {
                continue;
            };
            out.entry(read_key(row, group_by)?)
                .or_insert_with(|| vec![Totals::default(); n])[i]
                .add(&totals);
        }
    }
    for (a, b) in [s.before, s.after].into_iter().flatten() {
        for (i, (start, end)) in buckets.iter().enumerate() {
            let (from, to) = (a.max(*start), b.min(*end));
            if from >= to {
                continue;
            }
            let mut piece = BTreeMap::new();
            from_leads(db, from, to, group_by, &mut piece).await?;
            for (key, totals) in piece {
                out.entry(key).or_insert_with(|| vec![Totals::default(); n])[i].add(&totals);
            }
        }
    }
    Ok(out)
}

async fn count_one(db: &impl ConnectionTrait, query: String, values: Vec<Value>) -> AppResult<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, query, values))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<i64>>("", "n")?.unwrap_or(0),
        None => 0,
    })
}

/// Leads created in `[from, to)` with `icpFit ≥ min_fit`: the fit
/// histogram for whole days, the lead rows for the edges.
pub async fn matching_icp(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    min_fit: f64,
) -> AppResult<i64> {
    let s = split(from, to);
    let mut n = 0;
    if let Some((first, end)) = s.days {
        n += count_one(
            db,
            format!(
                "SELECT CAST(SUM(x.n) AS BIGINT) AS n FROM (SELECT leads AS n FROM kpi_fit_rollup \
                 WHERE day >= $1 AND day < $2 AND icp_fit >= $3 \
                 UNION ALL SELECT l.sign AS n FROM kpi_delta l WHERE l.icp_fit >= $3 \
                 AND {day} >= $1 AND {day} < $2) x",
                day = sql::day(db.get_database_backend(), "l")
            ),
            vec![first.into(), end.into(), min_fit.into()],
        )
        .await?;
    }
    for (a, b) in [s.before, s.after].into_iter().flatten() {
        n += count_one(
            db,
            "SELECT CAST(SUM(CASE WHEN icp_fit >= $3 THEN 1 ELSE 0 END) AS BIGINT) AS n \
             FROM lead WHERE created_at >= $1 AND created_at < $2"
                .to_owned(),
            vec![a.into(), b.into(), min_fit.into()],
        )
        .await?;
    }
    Ok(n)
}

/// `leadgraph rollups rebuild`: both rollup tables recomputed from the lead
/// rows, in one transaction (readers see the old or the new tables).
pub async fn rebuild(db: &DatabaseConnection) -> AppResult<()> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        // Writers wait for the rebuild rather than change leads it has
        // read; a fold in progress finishes first.
        txn.execute_unprepared("LOCK TABLE lead IN SHARE MODE")
            .await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({})", sql::FOLD_LOCK))
            .await?;
    }
    for statement in sql::rebuild_statements(backend) {
        txn.execute_unprepared(&statement).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Fold the delta log into the rollups (docs/kpis.md "Rollups"). Returns
/// whether it folded: not when the log is empty. On PostgreSQL one fold
/// runs at a time (an advisory lock, also taken by the rebuild): with
/// `wait` it waits for the other to finish and folds what is left, without
/// it leaves the deltas to the fold in progress (the periodic fold of
/// several instances).
pub async fn compact(db: &DatabaseConnection, wait: bool) -> AppResult<bool> {
    let backend = db.get_database_backend();
    let pending = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT 1 AS one FROM kpi_delta LIMIT 1",
        ))
        .await?;
    if pending.is_none() {
        return Ok(false);
    }
    let txn = db.begin().await?;
    if backend == DbBackend::Postgres {
        let lock = if wait {
            format!(
                "SELECT true AS held FROM (SELECT pg_advisory_xact_lock({})) l",
                sql::FOLD_LOCK
            )
        } else {
            format!(
                "SELECT pg_try_advisory_xact_lock({}) AS held",
                sql::FOLD_LOCK
            )
        };
        let held = txn
            .query_one_raw(Statement::from_string(backend, lock))
            .await?
            .map(|row| row.try_get::<bool>("", "held"))
            .transpose()?
            .unwrap_or(false);
        if !held {
            return Ok(false);
        }
    }
    for statement in sql::compact_statements(backend) {
        txn.execute_unprepared(&statement).await?;
    }
    txn.commit().await?;
    if backend == DbBackend::Postgres {
        // Every read scans the log, and a fold leaves its rows dead: at
        // 1,300 stage changes a second that is 160,000 dead rows a minute,
        // which autovacuum (once a minute at best, and off on some
        // machines) leaves for every read to step over — Q2 went from 1.2
        // to 7.6 ms. Vacuuming the few pages the fold emptied costs well
        // under a millisecond; SKIP_LOCKED leaves them to a vacuum already
        // running.
        if let Err(err) = db
            .execute_unprepared("VACUUM (SKIP_LOCKED) kpi_delta")
            .await
        {
            tracing::warn!(error = %err, "vacuuming the kpi rollup delta log failed");
        }
    }
    Ok(true)
}

/// Start the periodic fold (`LEADGRAPH_ROLLUP_COMPACT_INTERVAL`; zero:
/// off) on the instance's write connection; it stops with the event bus.
pub fn spawn_compactor(state: &crate::app::AppState) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.config.rollup_compact_interval;
    if every.is_zero() {
        return None;
    }
    let db = state.db.write.clone();
    let stopped = state.events.stopped();
    Some(tokio::spawn(async move {
        tokio::pin!(stopped);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                _ = ticker.tick() => {}
            }
            if let Err(err) = compact(&db, false).await {
                tracing::warn!(error = %err, "folding the kpi rollup deltas failed; retrying at the next interval");
            }
        }
    }))
}

/// One rollup row that differs from the lead rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// `day dimension value`, or `day fit=x` for the fit histogram.
    pub key: String,
    /// `column: stored ≠ expected` for each differing column.
    pub columns: Vec<String>,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.columns.join(", "))
    }
}

type Rows = BTreeMap<String, Vec<i64>>;

async fn keyed(db: &impl ConnectionTrait, query: String, columns: &[&str]) -> AppResult<Rows> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, query))
        .await?;
    let mut out = BTreeMap::new();
    for row in &rows {
        let key = row.try_get::<String>("", "key")?;
        let mut values = Vec::with_capacity(columns.len());
        for c in columns {
            values.push(row.try_get::<Option<i64>>("", c)?.unwrap_or(0));
        }
        if values.iter().any(|v| *v != 0) {
            out.insert(key, values);
        }
    }
    Ok(out)
}

fn compare(stored: &Rows, expected: &Rows, columns: &[&str], drift: &mut Vec<Drift>) {
    let keys: std::collections::BTreeSet<&String> = stored.keys().chain(expected.keys()).collect();
    let zero = vec![0; columns.len()];
    for key in keys {
        let s = stored.get(key).unwrap_or(&zero);
        let e = expected.get(key).unwrap_or(&zero);
        let differing: Vec<String> = columns
            .iter()
            .zip(s.iter().zip(e.iter()))
            .filter(|(_, (a, b))| a != b)
            .map(|(c, (a, b))| format!("{c}: stored {a}, leads say {b}"))
            .collect();
        if !differing.is_empty() {
            drift.push(Drift {
                key: key.clone(),
                columns: differing,
            });
        }
    }
}

/// `leadgraph rollups verify`: every rollup row against the same sums
/// aggregated from the lead rows; the rows that differ (none when the
/// rollups are right). Reads in one transaction (REPEATABLE READ on
/// PostgreSQL), so both sides see the same snapshot of a live database.
pub async fn verify(db: &DatabaseConnection) -> AppResult<Vec<Drift>> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        txn.execute_unprepared("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await?;
    }
    let text = |e: &str| format!("CAST({e} AS TEXT)");
    let key = format!("{} || ' ' || dim || ' ' || k AS key", text("day"));
    let columns: Vec<String> = sql::COUNTS
        .iter()
        .map(|c| format!("CAST({c} AS BIGINT) AS {c}"))
        .collect();
    let source = "(SELECT 1 AS sign, lead.* FROM lead)";
    // Stored: the rollup rows plus the deltas not yet folded.
    let counts = sql::COUNTS.join(", ");
    let stored = keyed(
        &txn,
        format!(
            "SELECT {key}, {} FROM (SELECT dim, day, k, {} FROM \
             (SELECT dim, day, k, {counts} FROM kpi_rollup UNION ALL SELECT * FROM ({}) z) y \
             GROUP BY dim, day, k) x",
            columns.join(", "),
            sums(sql::COUNTS.iter().map(|c| format!("y.{c}"))),
            sql::aggregate(backend, "kpi_delta", "1 = 1", false)
        ),
        &sql::COUNTS,
    )
    .await?;
    let expected = keyed(
        &txn,
        format!(
            "SELECT {key}, {} FROM ({}) x",
            columns.join(", "),
            sql::aggregate(backend, source, "1 = 1", false)
        ),
        &sql::COUNTS,
    )
    .await?;
    let mut drift = Vec::new();
    compare(&stored, &expected, &sql::COUNTS, &mut drift);
    let fit_key = format!("{} || ' fit=' || {} AS key", text("day"), text("icp_fit"));
    let stored = keyed(
        &txn,
        format!(
            "SELECT {fit_key}, CAST(leads AS BIGINT) AS leads FROM (SELECT day, icp_fit, \
             SUM(y.leads) AS leads FROM (SELECT day, icp_fit, leads FROM kpi_fit_rollup \
             UNION ALL SELECT * FROM ({}) z) y GROUP BY day, icp_fit) x",
            sql::fit_aggregate(backend, "kpi_delta", "1 = 1", false)
        ),
        &["leads"],
    )
    .await?;
    let expected = keyed(
        &txn,
        format!(
            "SELECT {fit_key}, CAST(leads AS BIGINT) AS leads FROM ({}) x",
            sql::fit_aggregate(backend, source, "1 = 1", false)
        ),
        &["leads"],
    )
    .await?;
    compare(&stored, &expected, &["leads"], &mut drift);
    txn.commit().await?;
    Ok(drift)
}

/// A `rollups verify` that found drift, as an error (non-zero exit).
pub fn drift_error(drift: &[Drift]) -> AppError {
    AppError::internal(format!(
        "kpi rollups differ from the lead rows in {} row(s)",
        drift.len()
    ))
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    proptest! {
        /// Every day of `[first, end)` is read once: from a whole month
        /// of `whole_months`, or from the day rows outside it.
        #[test]
        fn months_and_days_cover_a_period_once(start in 0i64..3_000, len in 1i64..800) {
            let day0 = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
            let first = day0 + chrono::Duration::days(start);
            let end = first + chrono::Duration::days(len);
            let (a, b) = whole_months(first, end);
            prop_assert!(first <= a && a <= b && b <= end);
            prop_assert!(a == b || (a.day() == 1 && b.day() == 1));
            let mut d = first - chrono::Duration::days(40);
            while d < end + chrono::Duration::days(40) {
                let by_month = a <= d && d < b;
                let by_day = first <= d && d < end && !by_month;
                prop_assert_eq!(by_month || by_day, first <= d && d < end);
                d += chrono::Duration::days(1);
            }
            // No whole month is left to the day rows.
            let mut m = first.with_day(1).unwrap();
            while m < end {
                let next = m.checked_add_months(chrono::Months::new(1)).unwrap();
                if first <= m && next <= end {
                    prop_assert!(a <= m && next <= b, "{} in [{}, {})", m, a, b);
                }
                m = next;
            }
        }

        /// The same for `whole_weeks`: Mondays, and no whole ISO week
        /// left to the day rows.
        #[test]
        fn weeks_and_days_cover_a_period_once(start in 0i64..3_000, len in 1i64..800) {
            let day0 = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
            let first = day0 + chrono::Duration::days(start);
            let end = first + chrono::Duration::days(len);
            let (a, b) = whole_weeks(first, end);
            prop_assert!(first <= a && a <= b && b <= end);
            prop_assert!(
                a == b || (a.weekday() == chrono::Weekday::Mon && b.weekday() == chrono::Weekday::Mon)
            );
            let mut m = first - chrono::Duration::days(7);
            while m < end {
                let next = m + chrono::Duration::days(7);
                if m.weekday() == chrono::Weekday::Mon && first <= m && next <= end {
                    prop_assert!(a <= m && next <= b, "{} in [{}, {})", m, a, b);
                }
                m += chrono::Duration::days(1);
            }
        }
    }

    #[test]
    fn count_positions_name_their_columns() {
        let at = |name: &str| sql::COUNTS.iter().position(|c| *c == name);
        assert_eq!(at("leads"), Some(LEADS));
        assert_eq!(at("disqualified"), Some(DISQUALIFIED));
        assert_eq!(at("revenue_hi"), Some(REVENUE_HI));
        assert_eq!(at("revenue_lo"), Some(REVENUE_HI + 1));
        for k in 0..4 {
            let rank = k + 2;
            assert_eq!(at(&format!("reached{rank}")), Some(REACHED2 + k));
            assert_eq!(at(&format!("timed{rank}")), Some(TIMED2 + k));
            assert_eq!(at(&format!("secs{rank}")), Some(SECS2 + k));
            assert_eq!(at(&format!("micros{rank}")), Some(MICROS2 + k));
        }
        assert_eq!(sql::COUNTS.len(), N);
    }

    #[test]
    fn aligned_periods_read_rollups_only() {
        let s = split(t("2026-03-01T00:00:00Z"), t("2026-04-01T00:00:00Z"));
        assert_eq!(s.before, None);
        assert_eq!(s.after, None);
        assert_eq!(
            s.days,
            Some((
                NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
            ))
        );
        let s = split(t("2026-03-01T10:00:00Z"), t("2026-03-01T12:00:00Z"));
        assert_eq!(s.days, None);
        assert_eq!(
            s.before,
            Some((t("2026-03-01T10:00:00Z"), t("2026-03-01T12:00:00Z")))
        );
    }

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (1_577_836_800i64..1_900_000_000i64, 0u8..3).prop_map(|(secs, kind)| {
            let secs = match kind {
                0 => secs - secs % 86_400,
                1 => secs - secs % 60,
                _ => secs,
            };
            DateTime::from_timestamp(secs, 0).unwrap()
        })
    }

    /// A time with 0, 3, 6 or 9 fractional digits, as sqlx writes them.
    fn any_precise_time() -> impl Strategy<Value = DateTime<Utc>> {
        (
            1_577_836_800i64..1_900_000_000i64,
            0u32..1_000_000_000,
            0u8..4,
        )
            .prop_map(|(secs, nanos, digits)| {
                let nanos = match digits {
                    0 => 0,
                    1 => nanos - nanos % 1_000_000,
                    2 => nanos - nanos % 1_000,
                    _ => nanos,
                };
                DateTime::from_timestamp(secs, nanos).unwrap()
            })
    }

    /// SQLite's date functions see milliseconds; the rollups read the
    /// microseconds from the stored text. Every precision sqlx writes gives
    /// the exact difference in microseconds (the time truncated to them, as
    /// `validate::truncate_micros` does before a write).
    #[test]
    fn sqlite_differences_are_exact_microseconds() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = rt
            .block_on(sea_orm::Database::connect("sqlite::memory:"))
            .unwrap();
        let query = format!(
            "SELECT {} - {} AS d, {} AS day FROM (SELECT $2 AS created_at) l",
            sql::micros(DbBackend::Sqlite, "$2"),
            sql::micros(DbBackend::Sqlite, "$1"),
            sql::day(DbBackend::Sqlite, "l"),
        );
        let micros =
            |t: DateTime<Utc>| t.timestamp() * 1_000_000 + i64::from(t.timestamp_subsec_micros());
        proptest!(ProptestConfig::with_cases(300), |(a in any_precise_time(), b in any_precise_time())| {
            let row = rt
                .block_on(db.query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    query.clone(),
                    vec![a.into(), b.into()],
                )))
                .unwrap()
                .unwrap();
            prop_assert_eq!(row.try_get::<i64>("", "d").unwrap(), micros(b) - micros(a));
            prop_assert_eq!(row.try_get::<String>("", "day").unwrap(), b.date_naive().to_string());
        });
    }

    proptest! {
        /// Every instant of `[from, to)` is in exactly one part of the
        /// split, and no instant outside it is in any.
        #[test]
        fn a_split_covers_the_period_once(from in any_time(), len in 1i64..10 * 86_400, probes in proptest::collection::vec(-86_400i64..11 * 86_400, 20)) {
            let to = from + chrono::Duration::seconds(len);
            let s = split(from, to);
            for p in probes {
                let x = from + chrono::Duration::seconds(p);
                let in_days = s.days.is_some_and(|(a, b)| midnight(a) <= x && x < midnight(b));
                let in_before = s.before.is_some_and(|(a, b)| a <= x && x < b);
                let in_after = s.after.is_some_and(|(a, b)| a <= x && x < b);
                let parts = [in_days, in_before, in_after].iter().filter(|b| **b).count();
                prop_assert_eq!(parts, usize::from(from <= x && x < to), "{}", x);
            }
            // Edges are partial days: at most two days of leads are read.
            for (a, b) in [s.before, s.after].into_iter().flatten() {
                prop_assert!(b - a < chrono::Duration::days(2));
            }
        }
    }
}
