//! Stage changes, the event outbox and subscriptions (DESIGN.md §3, §7).
//! Every change is written here, in the caller's transaction: a history row
//! and an outbox event, so an event exists if and only if its change
//! committed. From the outbox, `bus` dispatches events to the subscribers of
//! this instance (`listener` wakes it on PostgreSQL when another instance
//! commits), `service` opens subscriptions, `resolver` serves them, and
//! `fanout` lets identical subscriptions share the rendering of an event.

pub mod bus;
pub mod fanout;
pub mod listener;
pub mod outbox;
pub mod resolver;
pub mod service;
pub mod types;

pub use bus::EventBus;

use crate::error::AppResult;
use crate::leads::lifecycle::LeadStage;
use entity::{lead, stage_change, stage_event};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};

/// The actor of automatic changes by the scoring engine.
pub const SCORING_ACTOR: &str = "system:scoring";

/// Append a stage change of `lead` (already in its new state) to its history
/// and to the outbox. On PostgreSQL the transaction also notifies
/// `leadgraph_events` with the event's sequence (delivered on commit only), so
/// every instance reads it.
pub async fn record_stage_change(
    txn: &impl ConnectionTrait,
    lead: &lead::Model,
    from: Option<LeadStage>,
    to: LeadStage,
    actor: &str,
    reason: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let from = from.map(|s| s.code().to_owned());
    let to = to.code().to_owned();
    stage_change::Entity::insert(stage_change::ActiveModel {
        lead_id: Set(lead.id),
        from_stage: Set(from.clone()),
        to_stage: Set(to.clone()),
        at: Set(at),
        actor: Set(actor.to_owned()),
        reason: Set(reason.clone()),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    let seq = stage_event::Entity::insert(stage_event::ActiveModel {
        lead_id: Set(lead.id),
        from_stage: Set(from),
        to_stage: Set(to),
        actor: Set(actor.to_owned()),
        reason: Set(reason),
        owner_id: Set(lead.owner_id),
        occurred_at: Set(at),
        ..Default::default()
    })
    .exec(txn)
    .await?
    .last_insert_id;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [listener::CHANNEL.into(), seq.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}
