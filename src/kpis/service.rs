//! The KPI queries: one aggregate statement per figure set, grouped in the
//! database over the cohort index (`ix_lead_kpi_cohort`), so only per-group
//! totals reach the process — never leads.
//!
//! Which groups appear:
//! - `funnel`: `NONE` always gives the one group `ALL` (zeros and nulls for
//!   an empty cohort); other groupings give the groups with at least one
//!   cohort lead.
//! - `costPerLead`: `NONE` always gives `ALL`; `CHANNEL` and `CAMPAIGN` give
//!   every group with a cohort lead or a spend entry dated in the period, so
//!   a campaign (or channel) that spent but brought no lead appears with
//!   `leads: 0` and null costs, and the `NONE` campaign group (leads without
//!   a campaign) has no spend and a null `roi`. For `CHANNEL`, spend is that
//!   of the campaigns *running on* the channel, leads are the cohort leads
//!   whose `sourceChannel` is the channel (with or without a campaign).
//!
//! Groups are ordered: channels in `Channel` order; campaigns and personas
//! by id, `NONE` last.

use super::calc::{self, CohortCounts, CostFigures, Interval, PeriodError};
use super::model::{Group, GroupBy, Period};
use super::rollups;
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::{AppError, AppResult};
use crate::leads::channel::Channel;
use crate::leads::lifecycle::LeadStage;
use entity::{campaign, persona};
use migration::m20261205_000013_kpi_rollup_weeks as sql;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryResult, QuerySelect,
    Statement, Value,
};
use std::collections::{BTreeMap, HashMap};

/// `from < to` and at most 5 years, else `BAD_USER_INPUT` on `period`.
fn check(period: &Period) -> AppResult<()> {
    match calc::check_period(period.from, period.to) {
        Ok(()) => Ok(()),
        Err(PeriodError::Empty) => Err(AppError::bad_input(
            "period",
            "period.from must be before period.to",
        )),
        Err(PeriodError::TooLong) => Err(AppError::bad_input(
            "period",
            "a period spans at most 5 years",
        )),
        Err(PeriodError::TooLate) => Err(AppError::bad_input(
            "period",
            "period.to must be at most 9999-12-31T00:00:00Z",
        )),
    }
}

/// A group as the database names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    All,
    /// Position in `Channel::ALL`.
    Channel(usize),
    Id(i64),
    /// A lead without campaign or persona.
    Missing,
}

fn key_column(group_by: GroupBy) -> Option<&'static str> {
    match group_by {
        GroupBy::None => None,
        GroupBy::Channel => Some("source_channel"),
        GroupBy::Campaign => Some("source_campaign_id"),
        GroupBy::Persona => Some("persona_id"),
    }
}

fn channel_key(name: String) -> AppResult<Key> {
    let channel = Channel::from_code(&name)?;
    let position = Channel::ALL.iter().take_while(|c| **c != channel).count();
    Ok(Key::Channel(position))
}

fn read_key(row: &QueryResult, group_by: GroupBy) -> AppResult<Key> {
    Ok(match group_by {
        GroupBy::None => Key::All,
        GroupBy::Channel => channel_key(row.try_get::<String>("", "k")?)?,
        GroupBy::Campaign | GroupBy::Persona => match row.try_get::<Option<i64>>("", "k")? {
            Some(id) => Key::Id(id),
            None => Key::Missing,
        },
    })
}

fn count(row: &QueryResult, column: &str) -> AppResult<i64> {
    // SUM over no rows is NULL.
    Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0))
}

/// The sum of an amount column as two columns `{alias}_hi`, `{alias}_lo`
/// that cannot overflow (see [`calc::SUM_SPLIT`]); [`read_money_sum`]
/// joins them exactly. Amounts are never negative, so `/` and `%` agree on
/// both databases.
pub fn money_sum(expr: &str, alias: &str) -> String {
    let split = calc::SUM_SPLIT;
    format!(
        "CAST(SUM(({expr}) / {split}) AS BIGINT) AS {alias}_hi, \
         CAST(SUM(({expr}) % {split}) AS BIGINT) AS {alias}_lo"
    )
}

/// A sum selected by [`money_sum`], in cents.
pub fn read_money_sum(row: &QueryResult, alias: &str) -> AppResult<i128> {
    Ok(calc::join_sum(
        count(row, &format!("{alias}_hi"))?,
        count(row, &format!("{alias}_lo"))?,
    ))
}

/// Days from `earlier` to `later`, as SQL: SQLite reads our RFC 3339 text
/// with julianday(); PostgreSQL subtracts timestamptz. (`date_part` gives a
/// double; `EXTRACT` gives a NUMERIC, whose AVG made the funnel ~1.5× slower.)
fn days_between(backend: DbBackend, earlier: &str, later: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("date_part('epoch', {later} - {earlier}) / 86400"),
        _ => format!("(julianday({later}) - julianday({earlier}))"),
    }
}

/// `SELECT [key AS k,] <aggregates> FROM lead WHERE <cohort> [GROUP BY key]`;
/// `$1`, `$2` are the period (both databases number parameters so).
fn cohort_sql(aggregates: &str, group_by: GroupBy) -> String {
    match key_column(group_by) {
        None => format!("SELECT {aggregates} FROM lead WHERE created_at >= $1 AND created_at < $2"),
        Some(col) => format!(
            "SELECT {col} AS k, {aggregates} FROM lead \
             WHERE created_at >= $1 AND created_at < $2 GROUP BY {col}"
        ),
    }
}

async fn query(
    db: &impl ConnectionTrait,
    sql: String,
    values: Vec<Value>,
) -> AppResult<Vec<QueryResult>> {
    let backend = db.get_database_backend();
    Ok(db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?)
}

fn reached_sum(rank: i32) -> String {
    format!("SUM(CASE WHEN reached_rank >= {rank} THEN 1 ELSE 0 END)")
}

fn disqualified_sum() -> String {
    format!(
        "SUM(CASE WHEN stage = '{}' THEN 1 ELSE 0 END)",
        LeadStage::Disqualified.code()
    )
}

/// The groups of `keys`, with the names of their campaigns or personas.
async fn names(
    db: &impl ConnectionTrait,
    group_by: GroupBy,
    keys: &[&Key],
) -> AppResult<Vec<Group>> {
    let ids: Vec<i64> = keys
        .iter()
        .filter_map(|k| match k {
            Key::Id(id) => Some(*id),
            _ => None,
        })
        .collect();
    let personas = group_by == GroupBy::Persona;
    let labels: HashMap<i64, String> = if ids.is_empty() {
        HashMap::new()
    } else if personas {
        persona::Entity::find()
            .select_only()
            .column(persona::Column::Id)
            .column(persona::Column::Name)
            .filter(persona::Column::Id.is_in(ids))
            .into_tuple::<(i64, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    } else {
        campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .column(campaign::Column::Name)
            .filter(campaign::Column::Id.is_in(ids))
            .into_tuple::<(i64, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    Ok(keys
        .iter()
        .map(|k| match k {
            Key::All => Group::All,
            Key::Channel(position) => Group::Channel(Channel::ALL[*position]),
            Key::Id(id) if personas => Group::Persona(*id, labels.get(id).cloned()),
            Key::Id(id) => Group::Campaign(*id, labels.get(id).cloned()),
            Key::Missing if personas => Group::NoPersona,
            Key::Missing => Group::NoCampaign,
        })
        .collect())
}

/// `funnel`: per group, the cohort's counts per stage, mean days between
/// milestones, and the disqualified.
#[tracing::instrument(skip_all, fields(group_by = ?group_by))]
pub async fn funnel(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    cohorts: &Cohorts,
    period: &Period,
    group_by: GroupBy,
) -> AppResult<Vec<(Group, CohortCounts)>> {
    Ok(funnel_trend(viewer, db, cohorts, period, group_by, None)
        .await?
        .into_iter()
        .map(|(group, counts, _)| (group, counts))
        .collect())
}

/// A bucket of a trend and its figures.
pub type Series<T> = Vec<(rollups::Bucket, T)>;

/// A group, its figures over the period and, with an interval, per bucket.
pub type Trend<T> = (Group, T, Option<Series<T>>);

/// The buckets of a trend over `period`, or `LIMIT_EXCEEDED` past
/// [`calc::MAX_BUCKETS`].
pub fn trend_buckets(period: &Period, interval: Interval) -> AppResult<Vec<rollups::Bucket>> {
    calc::buckets(period.from, period.to, interval, calc::MAX_BUCKETS).ok_or_else(|| {
        AppError::LimitExceeded(format!(
            "a trend has at most {} buckets: use a longer interval or a shorter period",
            calc::MAX_BUCKETS
        ))
    })
}

/// `funnel` with, when `interval` is given, each group's figures per
/// bucket (every bucket of the period, zeros where no lead was created).
#[tracing::instrument(skip_all, fields(group_by = ?group_by, interval = ?interval))]
pub async fn funnel_trend(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    cohorts: &Cohorts,
    period: &Period,
    group_by: GroupBy,
    interval: Option<Interval>,
) -> AppResult<Vec<Trend<CohortCounts>>> {
    policy::require(viewer, Capability::ReadKpis)?;
    check(period)?;
    let buckets = interval.map(|i| trend_buckets(period, i)).transpose()?;
    let cohort = cohorts.get(db, period, group_by).await?;
    let mut groups: BTreeMap<Key, CohortCounts> = cohort
        .iter()
        .filter(|(_, row)| row.counts.new_leads > 0 || group_by == GroupBy::None)
        .map(|(key, row)| (key.clone(), row.counts))
        .collect();
    if group_by == GroupBy::None {
        groups.entry(Key::All).or_default();
    }
    let mut series = match (&buckets, interval) {
        (Some(b), Some(i)) => Some(cohorts.series(db, b, i, group_by).await?),
        _ => None,
    };
    let keys: Vec<&Key> = groups.keys().collect();
    let names = names(db, group_by, &keys).await?;
    Ok(names
        .into_iter()
        .zip(groups)
        .map(|(name, (key, counts))| {
            let trend = buckets.as_ref().map(|b| {
                let totals = series
                    .as_mut()
                    .and_then(|s| s.remove(&key))
                    .unwrap_or_else(|| vec![rollups::Totals::default(); b.len()]);
                b.iter()
                    .copied()
                    .zip(totals.iter().map(rollups::Totals::counts))
                    .collect()
            });
            (name, counts, trend)
        })
        .collect())
}

/// What the cohort of a period gives one group: the funnel's counts and
/// the revenue of its customers.
#[derive(Clone, Debug, Default)]
pub struct CohortRow {
    pub counts: CohortCounts,
    pub revenue: i128,
}

/// The cohorts read by one request: `funnel` and `costPerLead` over the
/// same period and grouping read the leads once (the first asks, the other
/// waits for its answer).
/// The cohort of one period and grouping, per group.
type Cohort = std::sync::Arc<BTreeMap<Key, CohortRow>>;

#[derive(Default)]
pub struct Cohorts(
    std::sync::Mutex<std::collections::HashMap<(Period, GroupBy), CohortCell>>,
    std::sync::Mutex<std::collections::HashMap<(Vec<rollups::Bucket>, GroupBy), SeriesCell>>,
);

/// The per-bucket totals of a trend, being read or read.
type SeriesCell =
    std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<BTreeMap<Key, Vec<rollups::Totals>>>>>;

/// A cohort being read, or read.
type CohortCell = std::sync::Arc<tokio::sync::OnceCell<Cohort>>;

impl Cohorts {
    /// Per-bucket totals of a trend (read once per request as well).
    async fn series(
        &self,
        db: &impl ConnectionTrait,
        buckets: &[rollups::Bucket],
        interval: Interval,
        group_by: GroupBy,
    ) -> AppResult<BTreeMap<Key, Vec<rollups::Totals>>> {
        let key = (buckets.to_vec(), group_by);
        let cell = {
            let mut map = self
                .1
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(key).or_default().clone()
        };
        let rows = cell
            .get_or_try_init(|| async {
                rollups::series(db, buckets, interval, group_by)
                    .await
                    .map(std::sync::Arc::new)
            })
            .await?;
        Ok(rows.as_ref().clone())
    }

    async fn get(
        &self,
        db: &impl ConnectionTrait,
        period: &Period,
        group_by: GroupBy,
    ) -> AppResult<Cohort> {
        self.get_with(period, group_by, || cohort(db, period, group_by))
            .await
    }

    /// The cohort of `(period, group_by)`, read by `read` at most once
    /// (again only after a failed read).
    async fn get_with<F>(
        &self,
        period: &Period,
        group_by: GroupBy,
        read: impl FnOnce() -> F,
    ) -> AppResult<Cohort>
    where
        F: std::future::Future<Output = AppResult<BTreeMap<Key, CohortRow>>>,
    {
        let cell = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry((*period, group_by)).or_default().clone()
        };
        let rows = cell
            .get_or_try_init(|| async { read().await.map(std::sync::Arc::new) })
            .await?;
        Ok(rows.clone())
    }
}

/// Every count, mean delay and sum `funnel` and `costPerLead` need, per
/// group, from the daily rollups (whole days) and the lead rows of the
/// partial days at the edges of the period (`rollups::totals`).
pub async fn cohort(
    db: &impl ConnectionTrait,
    period: &Period,
    group_by: GroupBy,
) -> AppResult<BTreeMap<Key, CohortRow>> {
    let totals = rollups::totals(db, period.from, period.to, group_by).await?;
    let mut cohort: BTreeMap<Key, CohortRow> = totals
        .into_iter()
        .filter(|(_, t)| t.new_leads() != 0)
        .map(|(key, t)| {
            (
                key,
                CohortRow {
                    counts: t.counts(),
                    revenue: t.revenue(),
                },
            )
        })
        .collect();
    if group_by == GroupBy::None {
        cohort.entry(Key::All).or_default();
    }
    Ok(cohort)
}

/// The reference the rollups are checked against (the differential test):
/// the KPIs' first implementation, one statement over the lead rows of the
/// cohort, per group, with its own definitions (AVG of the milestone
/// differences in days).
pub async fn reference_cohort(
    db: &impl ConnectionTrait,
    period: &Period,
    group_by: GroupBy,
) -> AppResult<BTreeMap<Key, CohortRow>> {
    let backend = db.get_database_backend();
    // Milestone of each funnel rank: LEAD is the creation.
    let milestones = [
        "created_at",
        "mql_at",
        "sql_at",
        "opportunity_at",
        "customer_at",
    ];
    let mut aggregates = vec![
        "COUNT(*) AS n".to_owned(),
        format!("{} AS dq", disqualified_sum()),
        money_sum(
            "CASE WHEN reached_rank >= 5 THEN COALESCE(deal_amount_cents, 0) ELSE 0 END",
            "revenue",
        ),
    ];
    for rank in 2..=5usize {
        let days = days_between(backend, milestones[rank - 2], milestones[rank - 1]);
        aggregates.push(format!("{} AS r{rank}", reached_sum(rank as i32)));
        aggregates.push(format!(
            "CAST(AVG(CASE WHEN reached_rank >= {rank} THEN {days} END) AS DOUBLE PRECISION) AS d{rank}"
        ));
    }
    let sql = cohort_sql(&aggregates.join(", "), group_by);
    let rows = query(db, sql, vec![period.from.into(), period.to.into()]).await?;
    let mut cohort = BTreeMap::new();
    for row in &rows {
        let n = count(row, "n")?;
        let mut counts = CohortCounts {
            new_leads: n,
            disqualified: count(row, "dq")?,
            ..Default::default()
        };
        counts.reached[0] = n;
        for rank in 2..=5usize {
            counts.reached[rank - 1] = count(row, &format!("r{rank}"))?;
            counts.avg_days[rank - 1] = row.try_get::<Option<f64>>("", &format!("d{rank}"))?;
        }
        let key = match group_by {
            GroupBy::None => Key::All,
            _ => read_key(row, group_by)?,
        };
        let revenue = if n == 0 {
            0
        } else {
            read_money_sum(row, "revenue")?
        };
        cohort.insert(key, CohortRow { counts, revenue });
    }
    Ok(cohort)
}

/// `costPerLead`: spend per group (one statement over the spend dates of
/// the period) and the cohort's counts and revenue per group (the rollups),
/// joined here by group key.
#[tracing::instrument(skip_all, fields(group_by = ?group_by))]
pub async fn cost_per_lead(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    cohorts: &Cohorts,
    period: &Period,
    group_by: GroupBy,
) -> AppResult<Vec<(Group, CostFigures)>> {
    Ok(
        cost_per_lead_trend(viewer, db, cohorts, period, group_by, None)
            .await?
            .into_iter()
            .map(|(group, figures, _)| (group, figures))
            .collect(),
    )
}

/// The spend statement of `costPerLead`, per group and, with `by`, per
/// spend date truncated to the interval (`d`: the date, its week's Monday
/// or its month's first day), so a weekly year is 53 rows per group, not
/// 365.
fn spend_sql(backend: DbBackend, group_by: GroupBy, by: Option<Interval>) -> String {
    let spend = money_sum("s.amount_cents", "spend");
    let date = "s.spent_on";
    let per_date = by.is_some();
    let (day, by) = match by {
        Some(interval) => {
            let d = match interval {
                Interval::Day => date.to_owned(),
                Interval::Week => sql::week_of(backend, date),
                Interval::Month => sql::month_of(backend, date),
            };
            (format!("CAST({d} AS TEXT) AS d, "), ", d")
        }
        None => (String::new(), ""),
    };
    match group_by {
        GroupBy::Channel => format!(
            "SELECT c.channel AS k, {day}{spend} \
             FROM campaign_spend s JOIN campaign c ON c.id = s.campaign_id \
             WHERE s.spent_on >= $1 AND s.spent_on < $2 GROUP BY c.channel{by}"
        ),
        GroupBy::Campaign => format!(
            "SELECT s.campaign_id AS k, {day}{spend} \
             FROM campaign_spend s \
             WHERE s.spent_on >= $1 AND s.spent_on < $2 GROUP BY s.campaign_id{by}"
        ),
        _ if per_date => format!(
            "SELECT {day}{spend} \
             FROM campaign_spend s WHERE s.spent_on >= $1 AND s.spent_on < $2 GROUP BY d"
        ),
        _ => format!(
            "SELECT {spend} \
             FROM campaign_spend s WHERE s.spent_on >= $1 AND s.spent_on < $2"
        ),
    }
}

/// ((spend, revenue), [leads, mqls, sqls, customers]) of a group.
type CostParts = ((i128, i128), [i64; 4]);

fn cost_parts(spend: i128, totals: Option<&rollups::Totals>) -> CostParts {
    match totals {
        Some(t) if t.new_leads() != 0 => {
            let c = t.counts();
            (
                (spend, t.revenue()),
                [c.new_leads, c.reached[1], c.reached[2], c.reached[4]],
            )
        }
        _ => ((spend, 0), [0; 4]),
    }
}

fn figures(((spend, revenue), [leads, mqls, sqls, customers]): CostParts) -> CostFigures {
    calc::cost_figures(spend, leads, mqls, sqls, customers, revenue)
}

/// `costPerLead` with, when `interval` is given, each group's figures per
/// bucket: spend entries by the bucket holding their date's midnight, leads
/// by the bucket of their creation.
#[tracing::instrument(skip_all, fields(group_by = ?group_by, interval = ?interval))]
pub async fn cost_per_lead_trend(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    cohorts: &Cohorts,
    period: &Period,
    group_by: GroupBy,
    interval: Option<Interval>,
) -> AppResult<Vec<Trend<CostFigures>>> {
    policy::require(viewer, Capability::ReadCampaignCost)?;
    check(period)?;
    if group_by == GroupBy::Persona {
        return Err(AppError::bad_input(
            "groupBy",
            "costPerLead groups by NONE, CHANNEL or CAMPAIGN: spend has no persona",
        ));
    }
    let buckets = interval.map(|i| trend_buckets(period, i)).transpose()?;
    let (first_day, end_day) = calc::spend_dates(period.from, period.to);
    let dates = || vec![first_day.into(), end_day.into()];
    let backend = db.get_database_backend();
    let spend_rows = query(db, spend_sql(backend, group_by, None), dates()).await?;
    let cohort = cohorts.get(db, period, group_by).await?;

    let mut groups: BTreeMap<Key, CostParts> = BTreeMap::new();
    for row in &spend_rows {
        let key = match group_by {
            GroupBy::None => Key::All,
            _ => read_key(row, group_by)?,
        };
        groups.entry(key).or_default().0.0 = read_money_sum(row, "spend")?;
    }
    for (key, row) in cohort.iter() {
        let c = &row.counts;
        if c.new_leads == 0 {
            continue;
        }
        let entry = groups.entry(key.clone()).or_default();
        entry.0.1 = row.revenue;
        entry.1 = [c.new_leads, c.reached[1], c.reached[2], c.reached[4]];
    }
    if group_by == GroupBy::None {
        groups.entry(Key::All).or_default();
    }

    // Per bucket: spend by date, leads from the rollups.
    let mut trends: BTreeMap<Key, Series<CostFigures>> = BTreeMap::new();
    if let (Some(buckets), Some(interval)) = (&buckets, interval) {
        let mut spend: BTreeMap<Key, Vec<i128>> = BTreeMap::new();
        let by_bucket = spend_sql(backend, group_by, Some(interval));
        for row in &query(db, by_bucket, dates()).await? {
            let key = match group_by {
                GroupBy::None => Key::All,
                _ => read_key(row, group_by)?,
            };
            let day = row.try_get::<String>("", "d")?;
            let day = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|e| AppError::internal(format!("spend date {day}: {e}")))?;
            // A week or month that began before the period: its dates in
            // the period are in the first bucket.
            let start = rollups::midnight(day).max(period.from);
            if let Some(i) = rollups::bucket_of(buckets, start) {
                spend.entry(key).or_insert_with(|| vec![0; buckets.len()])[i] +=
                    read_money_sum(row, "spend")?;
            }
        }
        let series = cohorts.series(db, buckets, interval, group_by).await?;
        for key in groups.keys() {
            let spend = spend.get(key);
            let totals = series.get(key);
            let trend = buckets
                .iter()
                .enumerate()
                .map(|(i, bucket)| {
                    let s = spend.map_or(0, |v| v[i]);
                    (*bucket, figures(cost_parts(s, totals.map(|t| &t[i]))))
                })
                .collect();
            trends.insert(key.clone(), trend);
        }
    }

    let keys: Vec<&Key> = groups.keys().collect();
    let names = names(db, group_by, &keys).await?;
    Ok(names
        .into_iter()
        .zip(groups)
        .map(|(name, (key, parts))| {
            let trend = buckets
                .as_ref()
                .map(|_| trends.remove(&key).unwrap_or_default());
            (name, figures(parts), trend)
        })
        .collect())
}

/// `leadRelevance`: (new leads, matching the ICP, disqualified) — one statement.
#[tracing::instrument(skip_all)]
pub async fn lead_relevance(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    period: &Period,
    min_icp_fit: f64,
) -> AppResult<(i64, i64, i64)> {
    policy::require(viewer, Capability::ReadKpis)?;
    check(period)?;
    if !(0.0..=1.0).contains(&min_icp_fit) {
        return Err(AppError::bad_input(
            "minIcpFit",
            "minIcpFit must be between 0 and 1",
        ));
    }
    let totals = rollups::totals(db, period.from, period.to, GroupBy::None).await?;
    let all = totals.get(&Key::All).copied().unwrap_or_default();
    let matching = rollups::matching_icp(db, period.from, period.to, min_icp_fit).await?;
    Ok((all.new_leads(), matching, all.disqualified()))
}

/// `leadRelevance` from the lead rows: the reference of the differential
/// test.
pub async fn reference_lead_relevance(
    db: &impl ConnectionTrait,
    period: &Period,
    min_icp_fit: f64,
) -> AppResult<(i64, i64, i64)> {
    let aggregates = format!(
        "COUNT(*) AS n, SUM(CASE WHEN icp_fit >= $3 THEN 1 ELSE 0 END) AS m, {} AS dq",
        disqualified_sum()
    );
    let rows = query(
        db,
        cohort_sql(&aggregates, GroupBy::None),
        vec![period.from.into(), period.to.into(), min_icp_fit.into()],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok((0, 0, 0));
    };
    Ok((count(row, "n")?, count(row, "m")?, count(row, "dq")?))
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn funnel_and_cost_per_lead_read_a_cohort_once_per_request() {
        let cohorts = Cohorts::default();
        let reads = AtomicUsize::new(0);
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let q3 = Period {
            from: t("2026-07-01T00:00:00Z"),
            to: t("2026-10-01T00:00:00Z"),
        };
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(BTreeMap::from([(Key::All, CohortRow::default())]))
        };
        // Both fields at once, as the executor runs them.
        let (a, b) = tokio::join!(
            cohorts.get_with(&q3, GroupBy::Channel, read),
            cohorts.get_with(&q3, GroupBy::Channel, read)
        );
        assert!(std::sync::Arc::ptr_eq(&a.unwrap(), &b.unwrap()));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Another grouping or period is another cohort.
        cohorts.get_with(&q3, GroupBy::None, read).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
