//! The same workloads by hand-written SQL through sqlx (the version SeaORM
//! uses), with prepared statements (sqlx caches them per connection) and
//! pools sized like the server's: PostgreSQL `min(concurrency, 16)`
//! connections (the server's default `LEADGRAPH_DB_POOL`); SQLite 8 readers
//! and one writer, as the server opens it.
//!
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
                .connect_with(options.clone())
                .await
                .map_err(err)?;
            let write = SqlitePoolOptions::new()
                .max_connections(1)
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
