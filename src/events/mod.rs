//! Stage changes, the event outbox and subscriptions (docs/lifecycle.md, docs/events.md).
//! Every change is written here, in the caller's transaction: a history row
//! and an outbox event, so an event exists if and only if its change
//! committed. From the outbox, `bus` dispatches events to the subscribers of
//! this instance (`listener` wakes it on PostgreSQL when another instance
//! commits) and `service` opens subscriptions. Nothing here knows GraphQL:
//! the subscription fields, and the sharing of an event's rendering between
//! identical subscriptions, are in `graphql::subscriptions`.

pub mod bus;
pub mod listener;
pub mod outbox;
pub mod service;

pub use bus::EventBus;

use crate::error::AppResult;
use crate::leads::lifecycle::LeadStage;
use entity::{lead, stage_change, stage_event};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};

/// The actor of automatic changes by the scoring engine.
pub const SCORING_ACTOR: &str = "system:scoring";

/// One stage change of a lead, as its history row and outbox event say it.
#[derive(Clone, Debug)]
pub struct StageChange<'a> {
    /// The lead, already in its new state (the event carries its owner).
    pub lead: &'a lead::Model,
    /// `None` for the lead's creation.
    pub from: Option<LeadStage>,
    pub to: LeadStage,
    pub actor: &'a str,
    pub reason: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Append a stage change of `lead` (already in its new state) to its history
/// and to the outbox; see [`record_stage_changes`].
pub async fn record_stage_change(
    txn: &impl ConnectionTrait,
    lead: &lead::Model,
    from: Option<LeadStage>,
    to: LeadStage,
    actor: &str,
    reason: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let change = StageChange {
        lead,
        from,
        to,
        actor,
        reason,
        at,
    };
    record_stage_changes(txn, &[change]).await
}

/// Append stage changes to the history and to the outbox, in the caller's
/// transaction and in the given order: one multi-row INSERT per table and
/// batch of rows, however many leads. This is the only writer of both tables.
/// On PostgreSQL the transaction also notifies `leadgraph_events` once with
/// the last event's sequence (delivered on commit only), so every instance
/// reads the outbox.
pub async fn record_stage_changes(
    txn: &impl ConnectionTrait,
    changes: &[StageChange<'_>],
) -> AppResult<()> {
    let backend = txn.get_database_backend();
    let mut last_seq = None;
    for chunk in changes.chunks(crate::db::rows_per_statement(backend)) {
        stage_change::Entity::insert_many(chunk.iter().map(|c| stage_change::ActiveModel {
            lead_id: Set(c.lead.id),
            from_stage: Set(c.from.map(|s| s.code().to_owned())),
            to_stage: Set(c.to.code().to_owned()),
            at: Set(c.at),
            actor: Set(c.actor.to_owned()),
            reason: Set(c.reason.clone()),
            ..Default::default()
        }))
        .exec_without_returning(txn)
        .await?;
        let last =
            stage_event::Entity::insert_many(chunk.iter().map(|c| stage_event::ActiveModel {
                lead_id: Set(c.lead.id),
                from_stage: Set(c.from.map(|s| s.code().to_owned())),
                to_stage: Set(c.to.code().to_owned()),
                actor: Set(c.actor.to_owned()),
                reason: Set(c.reason.clone()),
                owner_id: Set(c.lead.owner_id),
                occurred_at: Set(c.at),
                ..Default::default()
            }))
            .exec(txn)
            .await?
            .last_insert_id;
        last_seq = last.or(last_seq);
    }
    // One NOTIFY wakes every instance's dispatcher, which reads the outbox.
    if let (DbBackend::Postgres, Some(seq)) = (backend, last_seq) {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [listener::CHANNEL.into(), seq.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}
