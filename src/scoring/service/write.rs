//! Writing scores and promotions in few statements: `UPDATE … FROM (VALUES …)`
//! for scored columns, and the batch move of LEADs to MQL.

use super::context::LeadScore;
use super::sql::Sql;
use crate::error::{AppError, AppResult};
use crate::events::{self, SCORING_ACTOR};
use crate::leads::lifecycle::LeadStage;
use crate::validate;
use entity::lead;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Value,
};
use std::collections::HashMap;

/// `WITH v (columns) AS (VALUES (…), …) UPDATE lead SET … FROM v WHERE
/// lead.id = v.id`, the same on both databases (SQLite ≥ 3.33 has
/// `UPDATE … FROM`); `rows` gives one tuple of values per lead.
pub(super) async fn update_from_values(
    db: &impl ConnectionTrait,
    columns: &[&str],
    set: &str,
    guard: &str,
    rows: impl ExactSizeIterator<Item = Vec<Value>>,
) -> AppResult<u64> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("WITH v (")
        .push(&columns.join(", "))
        .push(") AS (VALUES ");
    for (i, row) in rows.enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        for (c, value) in row.into_iter().enumerate() {
            if c > 0 {
                sql.push(", ");
            }
            sql.param(value);
        }
        sql.push(")");
    }
    sql.push(") UPDATE lead SET ")
        .push(set)
        .push(" FROM v WHERE lead.id = v.id")
        .push(guard);
    Ok(db
        .execute_raw(sql.statement(backend))
        .await?
        .rows_affected())
}

/// The `score_breakdown` column of a `VALUES` list, as the table's type
/// (PostgreSQL sends the JSON text as text).
pub(super) fn breakdown_from_values(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "CAST(v.score_breakdown AS json)",
        _ => "v.score_breakdown",
    }
}

/// Write scored columns, a few dozen leads per statement (see [`crate::db::rows_per_statement`]).
pub(super) async fn write_scores(db: &impl ConnectionTrait, rows: &[&LeadScore]) -> AppResult<()> {
    let breakdown = breakdown_from_values(db.get_database_backend());
    let set = format!(
        "score = v.score, fit_score = v.fit_score, engagement_score = v.engagement_score, \
         score_breakdown = {breakdown}, score_state = v.score_state, \
         persona_id = v.persona_id, icp_fit = v.icp_fit"
    );
    let columns = [
        "id",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "score_state",
        "persona_id",
        "icp_fit",
    ];
    for chunk in rows.chunks(crate::db::rows_per_statement(db.get_database_backend())) {
        let values = chunk.iter().map(|row| {
            vec![
                Value::from(row.id),
                Value::from(row.score),
                Value::from(row.fit_score),
                Value::from(row.engagement_score),
                Value::from(row.score_breakdown.to_json()),
                Value::from(row.score_state.clone()),
                Value::from(row.persona_id),
                Value::from(row.icp_fit),
            ]
        });
        update_from_values(db, &columns, &set, "", values).await?;
    }
    Ok(())
}

/// Move many locked LEADs to MQL by `system:scoring` at once, with their
/// new scores: exactly what `rescore_leads` and `apply_transition` write for
/// one (scores, stage, milestone, version; history, outbox event and NOTIFY
/// on PostgreSQL through `events::record_stage_changes`), but one row
/// version per lead and a few statements per 500 leads instead of five
/// statements per lead.
pub(super) async fn promote_many(
    txn: &impl ConnectionTrait,
    scored: Vec<LeadScore>,
) -> AppResult<u64> {
    if scored.is_empty() {
        return Ok(0);
    }
    let now = validate::now();
    let from = LeadStage::Lead.code();
    let mut scores: HashMap<i64, LeadScore> = scored.into_iter().map(|s| (s.id, s)).collect();
    let current = lead::Entity::find()
        .filter(lead::Column::Id.is_in(scores.keys().copied()))
        .filter(lead::Column::Stage.eq(from))
        .order_by_asc(lead::Column::Id)
        .all(txn)
        .await?;
    let pairs: Vec<(&lead::Model, lead::Model)> = current
        .iter()
        .filter_map(|lead| {
            let mut next = lead.clone();
            scores.remove(&lead.id)?.apply(&mut next);
            crate::leads::service::apply_stage(&mut next, LeadStage::Mql, now);
            next.disqualification_reason = None;
            Some((lead, next))
        })
        .collect();
    // Not at LEAD any more (cannot happen under the lock): scores only.
    let rest: Vec<&LeadScore> = scores.values().collect();
    write_scores(txn, &rest).await?;
    let breakdown = breakdown_from_values(txn.get_database_backend());
    let columns = [
        "id",
        "version",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "score_state",
        "persona_id",
        "icp_fit",
        "stage",
        "reached_rank",
        "mql_at",
        "stage_changed_at",
        "updated_at",
        "next_version",
    ];
    let set = format!(
        "score = v.score, fit_score = v.fit_score, engagement_score = v.engagement_score, \
         score_breakdown = {breakdown}, score_state = v.score_state, \
         persona_id = v.persona_id, icp_fit = v.icp_fit, stage = v.stage, reached_rank = v.reached_rank, mql_at = v.mql_at, \
         stage_changed_at = v.stage_changed_at, updated_at = v.updated_at, \
         version = v.next_version, disqualification_reason = NULL"
    );
    for chunk in pairs.chunks(crate::db::rows_per_statement(txn.get_database_backend())) {
        let rows = chunk.iter().map(|(before, lead)| {
            vec![
                Value::from(lead.id),
                Value::from(before.version),
                Value::from(lead.score),
                Value::from(lead.fit_score),
                Value::from(lead.engagement_score),
                Value::from(lead.score_breakdown.to_json()),
                Value::from(lead.score_state.clone()),
                Value::from(lead.persona_id),
                Value::from(lead.icp_fit),
                Value::from(lead.stage.clone()),
                Value::from(lead.reached_rank),
                Value::from(lead.mql_at),
                Value::from(lead.stage_changed_at),
                Value::from(lead.updated_at),
                Value::from(lead.version),
            ]
        });
        let updated =
            update_from_values(txn, &columns, &set, " AND lead.version = v.version", rows).await?;
        if updated != chunk.len() as u64 {
            return Err(AppError::conflict("a lead was changed concurrently; retry"));
        }
    }
    let changes: Vec<_> = pairs
        .iter()
        .map(|(_, lead)| events::StageChange {
            lead,
            from: Some(LeadStage::Lead),
            to: LeadStage::Mql,
            actor: SCORING_ACTOR,
            reason: None,
            at: now,
        })
        .collect();
    events::record_stage_changes(txn, &changes).await?;
    Ok(pairs.len() as u64)
}
