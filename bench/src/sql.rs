//! The same workloads by hand-written SQL through sqlx (the version SeaORM
//! uses), with prepared statements (sqlx caches them per connection) and
//! pools sized like the server's: PostgreSQL `min(concurrency, 16)`
//! connections (the server's default `LEADGRAPH_DB_POOL`); SQLite 8 readers
//! and one writer, as the server opens it.
//!
//! - Pools check connections out as the server's do: no ping unless a
//!   connection was idle for 30 s (sqlx pings on every checkout by default,
//!   one more round trip per statement on both sides until issue 12's
//!   last run).
//! - Q1: one query for the page (50 SQL-stage leads by score desc, id desc,
//!   with the owner's name joined, and persona and campaign names once those
//!   tables exist), then one batched query for the 5 latest interactions of
//!   those 50 leads: `LATERAL` over the ids on PostgreSQL (the fastest form
//!   there), a `ROW_NUMBER()` window on SQLite (no `LATERAL`).
//! - Q3: the lead by id with its owner's name, then its stage history (and
//!   the names of the rules in its breakdown once scoring exists).
//! - M1: in a transaction, read the lead (as the server does to check the
//!   caller may record on it; `FOR UPDATE` on PostgreSQL plus an update of
//!   the lead row once scoring exists, the least an incremental rescoring
//!   costs), insert the interaction returning its id, commit.
//! - M1 batch: in a transaction, read the batch's leads in one query, insert
//!   the 500 rows in one multi-row statement, commit.
//! - Q2: the three aggregate statements the server's KPI service runs for
//!   `funnel` and `costPerLead` by channel (the cohort's funnel counts and
//!   mean days, the period's spend per channel, the cohort's cost counts and
//!   revenue), each grouped in the database, then the ratios, costs per X
//!   (cents, half away from zero) and ROI in Rust.
//!
//! Every row is decoded into Rust values, as a hand-written server would.

use crate::api::Features;
use sea_orm::sqlx::{self, Row};
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use std::str::FromStr;
use std::time::Duration;

type Time = chrono::DateTime<chrono::Utc>;

/// Pooled connections are checked out as the server's are (`src/db.rs`):
/// pinged only after this long idle, not on every checkout.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub enum Sql {
    Postgres(PgPool),
    Sqlite { read: SqlitePool, write: SqlitePool },
}

fn err(e: sqlx::Error) -> String {
    format!("sql: {e}")
}

impl Sql {
    pub async fn connect(url: &str, concurrency: usize) -> Result<Sql, String> {
        if url.starts_with("postgres") {
            let pool = PgPoolOptions::new()
                .max_connections(concurrency.clamp(1, 16) as u32)
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IF_IDLE_FOR {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await
                .map_err(err)?;
            Ok(Sql::Postgres(pool))
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(err)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let read = SqlitePoolOptions::new()
                .max_connections(concurrency.clamp(1, 8) as u32)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await
                .map_err(err)?;
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(err)?;
            Ok(Sql::Sqlite { read, write })
        }
    }

    pub fn database(&self) -> &'static str {
        match self {
            Sql::Postgres(_) => "postgres",
            Sql::Sqlite { .. } => "sqlite",
        }
    }

    pub async fn close(&self) {
        match self {
            Sql::Postgres(p) => p.close().await,
            Sql::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }

    /// Every lead id, ascending (to pick random leads from).
    pub async fn lead_ids(&self) -> Result<Vec<i64>, String> {
        let q = "SELECT id FROM lead ORDER BY id";
        match self {
            Sql::Postgres(p) => sqlx::query_scalar(q).fetch_all(p).await.map_err(err),
            Sql::Sqlite { read, .. } => sqlx::query_scalar(q).fetch_all(read).await.map_err(err),
        }
    }

    /// Up to `limit` leads at LEAD or DISQUALIFIED, with their stage, for
    /// TRANSITION.
    pub async fn movable_leads(&self, limit: i64) -> Result<Vec<(i64, String)>, String> {
        let q = "SELECT id, stage FROM lead WHERE stage IN ('LEAD', 'DISQUALIFIED') \
                 ORDER BY id LIMIT $1";
        match self {
            Sql::Postgres(p) => sqlx::query_as(q)
                .bind(limit)
                .fetch_all(p)
                .await
                .map_err(err),
            Sql::Sqlite { read, .. } => sqlx::query_as(AssertSqlSafe(q.replace("$1", "?")))
                .bind(limit)
                .fetch_all(read)
                .await
                .map_err(err),
        }
    }

    /// `(subject, name, email)` of the users of a role.
    pub async fn users(
        &self,
        role: &str,
    ) -> Result<Vec<(String, Option<String>, Option<String>)>, String> {
        let q = "SELECT subject, name, email FROM app_user WHERE role = $1 ORDER BY id";
        match self {
            Sql::Postgres(p) => sqlx::query_as(q).bind(role).fetch_all(p).await.map_err(err),
            Sql::Sqlite { read, .. } => sqlx::query_as(AssertSqlSafe(q.replace("$1", "?")))
                .bind(role)
                .fetch_all(read)
                .await
                .map_err(err),
        }
    }

    /// Q1: the page, then the 5 latest interactions of its leads. Returns
    /// the number of leads.
    pub async fn q1(&self, f: Features) -> Result<u64, String> {
        let mut select =
            String::from("SELECT l.id, l.email, l.company, l.score, u.name AS owner_name");
        let mut joins = String::from(" FROM lead l LEFT JOIN app_user u ON u.id = l.owner_id");
        if f.persona {
            select.push_str(", p.name AS persona_name");
            joins.push_str(" LEFT JOIN persona p ON p.id = l.persona_id");
        }
        if f.source_campaign {
            select.push_str(", c.name AS campaign_name");
            joins.push_str(" LEFT JOIN campaign c ON c.id = l.source_campaign_id");
        }
        let page = format!(
            "{select}{joins} WHERE l.stage = {} ORDER BY l.score DESC, l.id DESC LIMIT 50",
            match self {
                Sql::Postgres(_) => "$1",
                Sql::Sqlite { .. } => "?",
            }
        );
        match self {
            Sql::Postgres(pool) => {
                let rows = sqlx::query(AssertSqlSafe(page.clone()))
                    .bind("SQL")
                    .fetch_all(pool)
                    .await
                    .map_err(err)?;
                let mut ids = Vec::with_capacity(rows.len());
                for row in &rows {
                    decode_q1_lead(row, f).map_err(err)?;
                    ids.push(row.try_get::<i64, _>("id").map_err(err)?);
                }
                let items = sqlx::query(
                    "SELECT k.lead_id, i.kind, i.occurred_at, i.metadata \
                     FROM unnest($1::bigint[]) AS k(lead_id) CROSS JOIN LATERAL \
                     (SELECT kind, occurred_at, metadata FROM interaction \
                      WHERE lead_id = k.lead_id ORDER BY occurred_at DESC, id DESC LIMIT 5) i",
                )
                .bind(&ids)
                .fetch_all(pool)
                .await
                .map_err(err)?;
                for row in &items {
                    decode_interaction(row).map_err(err)?;
                }
                Ok(rows.len() as u64)
            }
            Sql::Sqlite { read, .. } => {
                let rows = sqlx::query(AssertSqlSafe(page.clone()))
                    .bind("SQL")
                    .fetch_all(read)
                    .await
                    .map_err(err)?;
                let mut ids = Vec::with_capacity(rows.len());
                for row in &rows {
                    decode_q1_lead(row, f).map_err(err)?;
                    ids.push(row.try_get::<i64, _>("id").map_err(err)?);
                }
                if ids.is_empty() {
                    return Ok(0);
                }
                let marks = vec!["?"; ids.len()].join(", ");
                let sql = format!(
                    "SELECT lead_id, kind, occurred_at, metadata FROM (SELECT i.lead_id, i.kind, \
                     i.occurred_at, i.metadata, ROW_NUMBER() OVER (PARTITION BY i.lead_id \
                     ORDER BY i.occurred_at DESC, i.id DESC) AS rn FROM interaction i \
                     WHERE i.lead_id IN ({marks})) t WHERE t.rn <= 5"
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for id in &ids {
                    query = query.bind(*id);
                }
                let items = query.fetch_all(read).await.map_err(err)?;
                for row in &items {
                    decode_interaction(row).map_err(err)?;
                }
                Ok(rows.len() as u64)
            }
        }
    }

    /// Q3: the lead with its owner's name, its history (and its breakdown's
    /// rule names).
    pub async fn q3(&self, id: i64, f: Features) -> Result<u64, String> {
        let lead = "SELECT l.*, u.name AS owner_name FROM lead l \
                    LEFT JOIN app_user u ON u.id = l.owner_id WHERE l.id = $1";
        let history = "SELECT from_stage, to_stage, at, actor, reason FROM stage_change \
                       WHERE lead_id = $1 ORDER BY id";
        match self {
            Sql::Postgres(pool) => {
                let Some(row) = sqlx::query(lead)
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(err)?
                else {
                    return Err(format!("lead {id} not found"));
                };
                let breakdown = decode_q3_lead(&row).map_err(err)?;
                let rows = sqlx::query(history)
                    .bind(id)
                    .fetch_all(pool)
                    .await
                    .map_err(err)?;
                for r in &rows {
                    decode_history(r).map_err(err)?;
                }
                if f.score_breakdown && !breakdown.is_empty() {
                    let names: Vec<(i64, String)> =
                        sqlx::query_as("SELECT id, name FROM scoring_rule WHERE id = ANY($1)")
                            .bind(&breakdown)
                            .fetch_all(pool)
                            .await
                            .map_err(err)?;
                    std::hint::black_box(names);
                }
                Ok(1)
            }
            Sql::Sqlite { read, .. } => {
                let Some(row) = sqlx::query(AssertSqlSafe(lead.replace("$1", "?")))
                    .bind(id)
                    .fetch_optional(read)
                    .await
                    .map_err(err)?
                else {
                    return Err(format!("lead {id} not found"));
                };
                let breakdown = decode_q3_lead(&row).map_err(err)?;
                let rows = sqlx::query(AssertSqlSafe(history.replace("$1", "?")))
                    .bind(id)
                    .fetch_all(read)
                    .await
                    .map_err(err)?;
                for r in &rows {
                    decode_history(r).map_err(err)?;
                }
                if f.score_breakdown && !breakdown.is_empty() {
                    let marks = vec!["?"; breakdown.len()].join(", ");
                    let sql = format!("SELECT id, name FROM scoring_rule WHERE id IN ({marks})");
                    let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
                    for rule in &breakdown {
                        q = q.bind(*rule);
                    }
                    std::hint::black_box(q.fetch_all(read).await.map_err(err)?);
                }
                Ok(1)
            }
        }
    }

    /// M1 single: see the module header.
    pub async fn m1(&self, lead_id: i64, n: u64, f: Features) -> Result<u64, String> {
        let now = now();
        let metadata = Json(serde_json::json!({ "path": "/pricing", "n": n % 4 }));
        match self {
            Sql::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(err)?;
                let lock = if f.score_breakdown { " FOR UPDATE" } else { "" };
                let lead: Option<(i64, String, Option<i64>)> = sqlx::query_as(AssertSqlSafe(
                    format!("SELECT id, stage, owner_id FROM lead WHERE id = $1{lock}"),
                ))
                .bind(lead_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
                lead.ok_or("no such lead")?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO interaction (lead_id, kind, occurred_at, channel, campaign_id, \
                     external_id, metadata, created_at) VALUES ($1, 'PAGE_VISIT', $2, \
                     'ORGANIC_SEARCH', NULL, NULL, $3, $2) RETURNING id",
                )
                .bind(lead_id)
                .bind(now)
                .bind(&metadata)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
                std::hint::black_box(id);
                if f.score_breakdown {
                    sqlx::query(
                        "UPDATE lead SET engagement_score = engagement_score + 1, score = score + 1, \
                         updated_at = $2, version = version + 1 WHERE id = $1",
                    )
                    .bind(lead_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
                tx.commit().await.map_err(err)?;
            }
            Sql::Sqlite { write, .. } => {
                let mut tx = write.begin().await.map_err(err)?;
                let lead: Option<(i64, String, Option<i64>)> =
                    sqlx::query_as("SELECT id, stage, owner_id FROM lead WHERE id = ?")
                        .bind(lead_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(err)?;
                lead.ok_or("no such lead")?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO interaction (lead_id, kind, occurred_at, channel, campaign_id, \
                     external_id, metadata, created_at) VALUES (?, 'PAGE_VISIT', ?, \
                     'ORGANIC_SEARCH', NULL, NULL, ?, ?) RETURNING id",
                )
                .bind(lead_id)
                .bind(now)
                .bind(&metadata)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
                std::hint::black_box(id);
                if f.score_breakdown {
                    sqlx::query(
                        "UPDATE lead SET engagement_score = engagement_score + 1, score = score + 1, \
                         updated_at = ?, version = version + 1 WHERE id = ?",
                    )
                    .bind(now)
                    .bind(lead_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
                tx.commit().await.map_err(err)?;
            }
        }
        Ok(1)
    }

    /// M1 batch: see the module header. Returns the rows inserted.
    pub async fn m1_batch(&self, lead_ids: &[i64]) -> Result<u64, String> {
        let now = now();
        let metadata = Json(serde_json::json!({ "path": "/pricing" }));
        let width = 8;
        let values = |pg: bool| {
            (0..lead_ids.len())
                .map(|i| {
                    let cols: Vec<String> = (1..=width)
                        .map(|c| {
                            if pg {
                                format!("${}", i * width + c)
                            } else {
                                "?".to_owned()
                            }
                        })
                        .collect();
                    format!("({})", cols.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let insert = "INSERT INTO interaction (lead_id, kind, occurred_at, channel, campaign_id, \
                      external_id, metadata, created_at) VALUES ";
        let conflict = " ON CONFLICT (external_id) DO NOTHING";
        match self {
            Sql::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(err)?;
                let leads: Vec<(i64, String, Option<i64>)> =
                    sqlx::query_as("SELECT id, stage, owner_id FROM lead WHERE id = ANY($1)")
                        .bind(lead_ids)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(err)?;
                std::hint::black_box(&leads);
                let sql = format!("{insert}{}{conflict}", values(true));
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for id in lead_ids {
                    q = q
                        .bind(*id)
                        .bind("PAGE_VISIT")
                        .bind(now)
                        .bind("ORGANIC_SEARCH")
                        .bind(None::<i64>)
                        .bind(None::<String>)
                        .bind(&metadata)
                        .bind(now);
                }
                let done = q.execute(&mut *tx).await.map_err(err)?.rows_affected();
                tx.commit().await.map_err(err)?;
                Ok(done)
            }
            Sql::Sqlite { write, .. } => {
                let mut tx = write.begin().await.map_err(err)?;
                let marks = vec!["?"; lead_ids.len()].join(", ");
                let sql = format!("SELECT id, stage, owner_id FROM lead WHERE id IN ({marks})");
                let mut q = sqlx::query_as::<_, (i64, String, Option<i64>)>(AssertSqlSafe(sql));
                for id in lead_ids {
                    q = q.bind(*id);
                }
                std::hint::black_box(q.fetch_all(&mut *tx).await.map_err(err)?);
                let sql = format!("{insert}{}{conflict}", values(false));
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for id in lead_ids {
                    q = q
                        .bind(*id)
                        .bind("PAGE_VISIT")
                        .bind(now)
                        .bind("ORGANIC_SEARCH")
                        .bind(None::<i64>)
                        .bind(None::<String>)
                        .bind(&metadata)
                        .bind(now);
                }
                let done = q.execute(&mut *tx).await.map_err(err)?.rows_affected();
                tx.commit().await.map_err(err)?;
                Ok(done)
            }
        }
    }

    /// The `(score, id)` of the lead at `offset` in Q1's order over all
    /// leads, and how many leads there are.
    pub async fn count_leads(&self) -> Result<i64, String> {
        let q = "SELECT COUNT(*) FROM lead";
        match self {
            Sql::Postgres(p) => sqlx::query_scalar(q).fetch_one(p).await.map_err(err),
            Sql::Sqlite { read, .. } => sqlx::query_scalar(q).fetch_one(read).await.map_err(err),
        }
    }
}

/// Q2's funnel per channel: `[new leads, reached MQL, SQL, OPPORTUNITY,
/// CUSTOMER]`, the mean days to each from the previous, the disqualified.
type FunnelTuple = (
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    Option<i64>,
    Option<f64>,
    Option<i64>,
    Option<f64>,
    Option<i64>,
    Option<f64>,
);
type CostTuple = (
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);
type SpendTuple = (String, Option<i64>);

const Q2_FUNNEL: &str = "SELECT source_channel AS k, COUNT(*) AS n, \
    SUM(CASE WHEN stage = 'DISQUALIFIED' THEN 1 ELSE 0 END) AS dq, \
    SUM(CASE WHEN reached_rank >= 2 THEN 1 ELSE 0 END) AS r2, \
    CAST(AVG(CASE WHEN reached_rank >= 2 THEN {days:created_at:mql_at} END) AS DOUBLE PRECISION) AS d2, \
    SUM(CASE WHEN reached_rank >= 3 THEN 1 ELSE 0 END) AS r3, \
    CAST(AVG(CASE WHEN reached_rank >= 3 THEN {days:mql_at:sql_at} END) AS DOUBLE PRECISION) AS d3, \
    SUM(CASE WHEN reached_rank >= 4 THEN 1 ELSE 0 END) AS r4, \
    CAST(AVG(CASE WHEN reached_rank >= 4 THEN {days:sql_at:opportunity_at} END) AS DOUBLE PRECISION) AS d4, \
    SUM(CASE WHEN reached_rank >= 5 THEN 1 ELSE 0 END) AS r5, \
    CAST(AVG(CASE WHEN reached_rank >= 5 THEN {days:opportunity_at:customer_at} END) AS DOUBLE PRECISION) AS d5 \
    FROM lead WHERE created_at >= $1 AND created_at < $2 GROUP BY source_channel";

const Q2_SPEND: &str = "SELECT c.channel AS k, CAST(SUM(s.amount_cents) AS BIGINT) AS spend \
    FROM campaign_spend s JOIN campaign c ON c.id = s.campaign_id \
    WHERE s.spent_on >= $1 AND s.spent_on < $2 GROUP BY c.channel";

const Q2_COST: &str = "SELECT source_channel AS k, COUNT(*) AS n, \
    SUM(CASE WHEN reached_rank >= 2 THEN 1 ELSE 0 END) AS r2, \
    SUM(CASE WHEN reached_rank >= 3 THEN 1 ELSE 0 END) AS r3, \
    SUM(CASE WHEN reached_rank >= 5 THEN 1 ELSE 0 END) AS r5, \
    CAST(SUM(CASE WHEN reached_rank >= 5 THEN COALESCE(deal_amount_cents, 0) ELSE 0 END) AS BIGINT) AS revenue \
    FROM lead WHERE created_at >= $1 AND created_at < $2 GROUP BY source_channel";

/// Q2's statements for one database: days between milestones as each
/// computes them (PostgreSQL subtracts timestamps; SQLite reads the RFC 3339
/// text with `julianday`), and SQLite's `?N` parameters.
fn q2_sql(postgres: bool, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(start) = rest.find("{days:") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let mut parts = rest[start + 6..end].split(':');
        let (earlier, later) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        out.push_str(&if postgres {
            format!("date_part('epoch', {later} - {earlier}) / 86400")
        } else {
            format!("(julianday({later}) - julianday({earlier}))")
        });
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out.push_str(rest);
    if postgres {
        out
    } else {
        out.replace("$1", "?1").replace("$2", "?2")
    }
}

/// Q2's three statements (funnel, spend, cost), built once per database.
fn q2_statements(postgres: bool) -> &'static [String; 3] {
    static PG: std::sync::LazyLock<[String; 3]> =
        std::sync::LazyLock::new(|| [Q2_FUNNEL, Q2_SPEND, Q2_COST].map(|q| q2_sql(true, q)));
    static SQLITE: std::sync::LazyLock<[String; 3]> =
        std::sync::LazyLock::new(|| [Q2_FUNNEL, Q2_SPEND, Q2_COST].map(|q| q2_sql(false, q)));
    if postgres { &PG } else { &SQLITE }
}

/// One channel's Q2 figures, money in cents: what the three statements
/// return, and what is derived from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Q2Channel {
    /// A funnel group: the channel has cohort leads.
    pub in_funnel: bool,
    /// A cost row: cohort leads or spend in the period.
    pub in_cost: bool,
    pub new_leads: i64,
    /// Reached LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER.
    pub reached: [i64; 5],
    pub avg_days: [Option<f64>; 5],
    pub conversion: [Option<f64>; 5],
    pub overall_conversion: Option<f64>,
    pub disqualified: i64,
    pub spend_cents: i64,
    /// leads, mqls, sqls, customers of the cost row.
    pub cost_counts: [i64; 4],
    /// Cost per lead, MQL, SQL, customer.
    pub cost_per: [Option<i64>; 4],
    pub revenue_cents: i64,
    pub roi: Option<f64>,
}

/// `a / b` in cents, rounded half away from zero; `None` when `b` is 0.
fn cents_per(cents: i64, count: i64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    let (n, d) = (i128::from(cents), i128::from(count));
    let q = (2 * n.abs() + d.abs()) / (2 * d.abs());
    i64::try_from(if (n < 0) != (d < 0) { -q } else { q }).ok()
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b != 0).then(|| a as f64 / b as f64)
}

impl Sql {
    /// The latest lead's `created_at`.
    pub async fn latest_lead(&self) -> Result<Option<Time>, String> {
        let q = "SELECT MAX(created_at) FROM lead";
        match self {
            Sql::Postgres(p) => sqlx::query_scalar(q).fetch_one(p).await.map_err(err),
            Sql::Sqlite { read, .. } => sqlx::query_scalar(q).fetch_one(read).await.map_err(err),
        }
    }

    /// Q2 by hand for `[from, to)`: see the module header. Spend entries
    /// count when dated in `[first_day, end_day)`.
    pub async fn q2(
        &self,
        from: Time,
        to: Time,
        first_day: chrono::NaiveDate,
        end_day: chrono::NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, Q2Channel>, String> {
        // The same three statements on either pool (their types differ).
        macro_rules! run {
            ($pool:expr, $postgres:expr) => {{
                let [funnel, spend, cost] = q2_statements($postgres);
                let funnel = sqlx::query_as(AssertSqlSafe(funnel.as_str()))
                    .bind(from)
                    .bind(to)
                    .fetch_all($pool)
                    .await
                    .map_err(err)?;
                let spend = sqlx::query_as(AssertSqlSafe(spend.as_str()))
                    .bind(first_day)
                    .bind(end_day)
                    .fetch_all($pool)
                    .await
                    .map_err(err)?;
                let cost = sqlx::query_as(AssertSqlSafe(cost.as_str()))
                    .bind(from)
                    .bind(to)
                    .fetch_all($pool)
                    .await
                    .map_err(err)?;
                (funnel, spend, cost)
            }};
        }
        let (funnel, spend, cost): (Vec<FunnelTuple>, Vec<SpendTuple>, Vec<CostTuple>) = match self
        {
            Sql::Postgres(pool) => run!(pool, true),
            Sql::Sqlite { read, .. } => run!(read, false),
        };
        let mut channels: std::collections::BTreeMap<String, Q2Channel> = Default::default();
        for (k, n, dq, r2, d2, r3, d3, r4, d4, r5, d5) in funnel {
            let c = channels.entry(k).or_default();
            c.in_funnel = n > 0;
            c.new_leads = n;
            c.disqualified = dq.unwrap_or(0);
            c.reached = [
                n,
                r2.unwrap_or(0),
                r3.unwrap_or(0),
                r4.unwrap_or(0),
                r5.unwrap_or(0),
            ];
            c.avg_days = [None, d2, d3, d4, d5];
            for i in 1..5 {
                c.conversion[i] = ratio(c.reached[i], c.reached[i - 1]);
            }
            c.overall_conversion = ratio(c.reached[4], n);
        }
        for (k, cents) in spend {
            let c = channels.entry(k).or_default();
            c.in_cost = true;
            c.spend_cents = cents.unwrap_or(0);
        }
        for (k, n, r2, r3, r5, revenue) in cost {
            let c = channels.entry(k).or_default();
            c.in_cost |= n > 0;
            c.cost_counts = [n, r2.unwrap_or(0), r3.unwrap_or(0), r5.unwrap_or(0)];
            c.revenue_cents = revenue.unwrap_or(0);
        }
        for c in channels.values_mut() {
            c.cost_per = c.cost_counts.map(|x| cents_per(c.spend_cents, x));
            c.roi = (c.spend_cents != 0)
                .then(|| (c.revenue_cents - c.spend_cents) as f64 / c.spend_cents as f64);
        }
        Ok(channels)
    }

    /// Every lead's `(id, score, breakdown as text)`, by id: what a rescoring
    /// changed is the difference of two of these.
    pub async fn scores(&self) -> Result<Vec<(i64, i32, String)>, String> {
        let q = "SELECT id, score, CAST(score_breakdown AS TEXT) FROM lead ORDER BY id";
        match self {
            Sql::Postgres(p) => sqlx::query_as(q).fetch_all(p).await.map_err(err),
            Sql::Sqlite { read, .. } => sqlx::query_as(q).fetch_all(read).await.map_err(err),
        }
    }
}

fn now() -> Time {
    leadgraph::validate::now()
}

fn decode_q1_lead<R>(row: &R, f: Features) -> Result<(), sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let v = (
        row.try_get::<i64, _>("id")?,
        row.try_get::<String, _>("email")?,
        row.try_get::<Option<String>, _>("company")?,
        row.try_get::<i32, _>("score")?,
        row.try_get::<Option<String>, _>("owner_name")?,
    );
    std::hint::black_box(v);
    if f.persona {
        std::hint::black_box(row.try_get::<Option<String>, _>("persona_name")?);
    }
    if f.source_campaign {
        std::hint::black_box(row.try_get::<Option<String>, _>("campaign_name")?);
    }
    Ok(())
}

fn decode_interaction<R>(row: &R) -> Result<(), sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Time: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<Json<serde_json::Value>>:
        sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let v = (
        row.try_get::<i64, _>("lead_id")?,
        row.try_get::<String, _>("kind")?,
        row.try_get::<Time, _>("occurred_at")?,
        row.try_get::<Option<Json<serde_json::Value>>, _>("metadata")?,
    );
    std::hint::black_box(v);
    Ok(())
}

/// Decode Q3's lead columns; returns the rule ids of its breakdown.
fn decode_q3_lead<R>(row: &R) -> Result<Vec<i64>, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Time: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Json<serde_json::Value>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    for col in ["email", "stage", "source_channel"] {
        std::hint::black_box(row.try_get::<String, _>(col)?);
    }
    for col in [
        "first_name",
        "last_name",
        "company",
        "job_title",
        "industry",
        "country",
        "phone",
        "qual_timeline",
        "disqualification_reason",
        "owner_name",
    ] {
        std::hint::black_box(row.try_get::<Option<String>, _>(col)?);
    }
    for col in ["score", "fit_score", "engagement_score", "version"] {
        std::hint::black_box(row.try_get::<i32, _>(col)?);
    }
    std::hint::black_box(row.try_get::<Option<i32>, _>("company_size")?);
    std::hint::black_box(row.try_get::<Option<i64>, _>("deal_amount_cents")?);
    for col in ["qual_budget", "qual_need", "qual_authority"] {
        std::hint::black_box(row.try_get::<bool, _>(col)?);
    }
    for col in ["created_at", "updated_at", "stage_changed_at"] {
        std::hint::black_box(row.try_get::<Time, _>(col)?);
    }
    let breakdown = row.try_get::<Json<serde_json::Value>, _>("score_breakdown")?;
    Ok(breakdown
        .0
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["ruleId"].as_i64()).collect())
        .unwrap_or_default())
}

fn decode_history<R>(row: &R) -> Result<(), sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Time: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let v = (
        row.try_get::<Option<String>, _>("from_stage")?,
        row.try_get::<String, _>("to_stage")?,
        row.try_get::<Time, _>("at")?,
        row.try_get::<String, _>("actor")?,
        row.try_get::<Option<String>, _>("reason")?,
    );
    std::hint::black_box(v);
    Ok(())
}
