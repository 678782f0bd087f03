//! Reading the outbox by sequence, cursors, and the retention.
//!
//! Retention deletes a prefix of the outbox (by sequence) and records how far
//! in `event_retention.pruned_through`, in the same transaction: a cursor
//! `c >= pruned_through` has lost nothing, an older one has.

use crate::error::{AppError, AppResult};
use entity::{event_retention, lead, stage_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use std::collections::HashMap;

const CURSOR_TAG: &str = "ev";

/// The opaque cursor of the event with sequence `seq`.
pub fn encode_cursor(seq: i64) -> String {
    crate::cursor::encode(&[CURSOR_TAG, &seq.to_string()])
}

/// The sequence inside a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> AppResult<i64> {
    let bad = || AppError::bad_input("after", "after is not a cursor of a stage-change event");
    let parts = crate::cursor::decode(cursor, CURSOR_TAG, 1).ok_or_else(bad)?;
    match parts.first().and_then(|p| p.parse::<i64>().ok()) {
        Some(seq) if seq >= 0 => Ok(seq),
        _ => Err(bad()),
    }
}

/// The error of a cursor the retention has overtaken.
pub fn expired(retention_days: u32) -> AppError {
    AppError::bad_input(
        "after",
        format!(
            "the cursor is older than the event retention ({retention_days} days): \
             the events after it are no longer kept; resubscribe without `after`"
        ),
    )
}

/// Events with `after < seq <= through`, oldest first, at most `limit`.
pub async fn read_after(
    db: &impl ConnectionTrait,
    after: i64,
    through: Option<i64>,
    limit: u64,
) -> AppResult<Vec<stage_event::Model>> {
    let mut query = stage_event::Entity::find().filter(stage_event::Column::Seq.gt(after));
    if let Some(through) = through {
        query = query.filter(stage_event::Column::Seq.lte(through));
    }
    Ok(query
        .order_by_asc(stage_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// The leads of these events as they are now (one query; erased leads
/// included, merged-away ones absent).
pub async fn load_leads(
    db: &impl ConnectionTrait,
    rows: &[&stage_event::Model],
) -> AppResult<HashMap<i64, lead::Model>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<i64> = rows.iter().map(|r| r.lead_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let leads = lead::Entity::find()
        .filter(lead::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(leads.into_iter().map(|l| (l.id, l)).collect())
}

/// The highest sequence in the outbox (0 when empty).
pub async fn max_seq(db: &impl ConnectionTrait) -> AppResult<i64> {
    let max: Option<Option<i64>> = stage_event::Entity::find()
        .select_only()
        .column_as(stage_event::Column::Seq.max(), "max")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Every event with `seq <= pruned_through` may be gone.
pub async fn pruned_through(db: &impl ConnectionTrait) -> AppResult<i64> {
    Ok(event_retention::Entity::find_by_id(1)
        .one(db)
        .await?
        .map(|r| r.pruned_through)
        .unwrap_or(0))
}

/// `Ok` when a subscriber may resume after `seq`: nothing later was pruned,
/// and the cursor is not from the future.
pub async fn check_resumable(
    db: &DatabaseConnection,
    seq: i64,
    retention_days: u32,
) -> AppResult<()> {
    if seq < pruned_through(db).await? {
        return Err(expired(retention_days));
    }
    if seq > max_seq(db).await? {
        return Err(AppError::bad_input(
            "after",
            "after is not a cursor of an event of this server",
        ));
    }
    Ok(())
}

/// Delete the events older than `retention_days` (0 = keep forever). The
/// newest event is always kept, so the sequence never restarts below a
/// cursor already handed out. Returns the number of events deleted.
#[tracing::instrument(skip(db))]
pub async fn prune(db: &DatabaseConnection, retention_days: u32) -> AppResult<u64> {
    if retention_days == 0 {
        return Ok(0);
    }
    let cutoff = crate::validate::now() - chrono::Duration::days(i64::from(retention_days));
    let txn = db.begin().await?;
    let oldest_kept_bound: Option<Option<i64>> = stage_event::Entity::find()
        .select_only()
        .column_as(stage_event::Column::Seq.max(), "max")
        .filter(stage_event::Column::OccurredAt.lt(cutoff))
        .into_tuple()
        .one(&txn)
        .await?;
    let Some(old) = oldest_kept_bound.flatten() else {
        return Ok(0);
    };
    let through = old.min(max_seq(&txn).await? - 1);
    if through <= pruned_through(&txn).await? {
        return Ok(0);
    }
    let deleted = stage_event::Entity::delete_many()
        .filter(stage_event::Column::Seq.lte(through))
        .exec(&txn)
        .await?
        .rows_affected;
    event_retention::Entity::update_many()
        .col_expr(event_retention::Column::PrunedThrough, Expr::value(through))
        .filter(event_retention::Column::Id.eq(1))
        .filter(event_retention::Column::PrunedThrough.lt(through))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    if deleted > 0 {
        tracing::info!(deleted, through, "pruned the event outbox");
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_others() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        assert!(decode_cursor("nope").is_err());
        assert!(decode_cursor(&crate::cursor::encode(&["lead", "1"])).is_err());
        assert!(decode_cursor(&crate::cursor::encode(&["ev", "-3"])).is_err());
    }
}
