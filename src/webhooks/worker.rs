//! The deliverers of one instance (docs/webhooks.md#delivery).
//!
//! A manager takes the lease of every webhook no live instance holds
//! (`lease_owner`, `lease_until`: one atomic UPDATE, so two instances never
//! both hold one) and renews its own at each poll; for each webhook it
//! holds, a deliverer task:
//!
//! 1. ingests: reads the outbox after the webhook's cursor, up to the event
//!    bus's position (everything below it is final, PostgreSQL gaps
//!    included), and in one transaction inserts a delivery per matching
//!    event and moves the cursor — guarded by the cursor's old value and the
//!    lease, so an event becomes a delivery exactly once;
//! 2. sends the due deliveries oldest first, skipping every later delivery
//!    of a lead whose earlier one is still pending (order per lead), after
//!    checking that the lease outlasts the attempt;
//! 3. sleeps until the bus dispatches new events, a local wake-up, the next
//!    due retry, or the poll interval.
//!
//! At shutdown the attempts in flight finish and are recorded, then the
//! leases are released, so another instance (or the next start) takes over
//! at its next poll without sending them again; after a crash, when the
//! leases expire (an attempt whose outcome was not recorded is then sent
//! again, with the same `webhook-id`).

use super::model::{EventKind, WebhookStatus, events_of, stages_of};
use super::payload::{self, LeadView};
use super::service::{self, Trigger};
use crate::app::AppState;
use crate::auth::policy::{self, LeadFacts};
use crate::error::AppResult;
use crate::events::bus::Filter;
use crate::events::outbox;
use crate::leads::lifecycle::LeadStage;
use crate::validate;
use chrono::{DateTime, Utc};
use entity::{app_user, campaign, webhook, webhook_delivery as delivery};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Outbox events ingested per transaction.
const INGEST_PAGE: u64 = 200;
/// Pending deliveries looked at per round.
const SEND_PAGE: u64 = 500;

/// Start this instance's webhook manager (stops with the event bus).
pub fn spawn(state: AppState) {
    let me = format!("leadgraph-{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(manage(state, me));
}

fn lease_length(state: &AppState) -> Duration {
    let config = &state.config;
    config
        .webhook_lease
        .max(config.webhook_timeout * 2 + Duration::from_secs(1))
}

fn poll(state: &AppState) -> Duration {
    state
        .config
        .webhook_poll_interval
        .max(Duration::from_millis(10))
}

async fn manage(state: AppState, me: String) {
    let stopped = state.events.stopped();
    tokio::pin!(stopped);
    let wake = state.webhooks.wake.clone();
    let mut running: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, task| !task.is_finished());
        match acquire(&state, &me).await {
            Ok(held) => {
                for id in held {
                    running.entry(id).or_insert_with(|| {
                        tracing::debug!(webhook = id, "delivering webhook");
                        tokio::spawn(deliver(state.clone(), me.clone(), id))
                    });
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot take webhook leases; retrying"),
        }
        tokio::select! {
            () = &mut stopped => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(poll(&state)) => {}
        }
    }
    // Let attempts in flight finish and be recorded, so the next holder of
    // a lease does not send them again; a deliverer stops at its next step.
    let grace = state.config.webhook_timeout + Duration::from_secs(2);
    for (id, task) in running {
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!(webhook = id, "a webhook deliverer did not stop in time");
        }
    }
    if let Err(err) = release(&state, &me).await {
        tracing::warn!(error = %err, "cannot release webhook leases (they expire)");
    }
    state.webhooks.finished.send_replace(true);
}

/// Take every free or expired lease and renew this instance's; the ids held.
async fn acquire(state: &AppState, me: &str) -> AppResult<Vec<i64>> {
    let db = &state.db.write;
    let now = validate::now();
    let until = now + chrono::Duration::from_std(lease_length(state)).unwrap_or_default();
    webhook::Entity::update_many()
        .set(webhook::ActiveModel {
            lease_owner: Set(Some(me.to_owned())),
            lease_until: Set(Some(until)),
            ..Default::default()
        })
        .filter(
            Condition::any()
                .add(webhook::Column::LeaseOwner.is_null())
                .add(webhook::Column::LeaseUntil.lt(now))
                .add(webhook::Column::LeaseOwner.eq(me)),
        )
        .exec(db)
        .await?;
    Ok(webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .filter(webhook::Column::LeaseOwner.eq(me))
        .into_tuple()
        .all(db)
        .await?)
}

async fn release(state: &AppState, me: &str) -> AppResult<()> {
    webhook::Entity::update_many()
        .set(webhook::ActiveModel {
            lease_owner: Set(None),
            lease_until: Set(None),
            ..Default::default()
        })
        .filter(webhook::Column::LeaseOwner.eq(me))
        .exec(&state.db.write)
        .await?;
    Ok(())
}

/// The webhook, while this instance holds its lease for at least `margin`.
async fn held(
    state: &AppState,
    me: &str,
    id: i64,
    margin: Duration,
) -> AppResult<Option<webhook::Model>> {
    let Some(hook) = webhook::Entity::find_by_id(id).one(&state.db.write).await? else {
        return Ok(None);
    };
    let horizon = validate::now() + chrono::Duration::from_std(margin).unwrap_or_default();
    let mine =
        hook.lease_owner.as_deref() == Some(me) && hook.lease_until.is_some_and(|t| t > horizon);
    Ok(mine.then_some(hook))
}

async fn deliver(state: AppState, me: String, id: i64) {
    let stopped = state.events.stopped();
    tokio::pin!(stopped);
    let mut progress = state.events.progress();
    let wake = state.webhooks.wake.clone();
    loop {
        let wait = match round(&state, &me, id).await {
            Ok(Some(next_due)) => {
                let until = (next_due - validate::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                until.min(poll(&state))
            }
            Ok(None) => poll(&state),
            Err(err) => {
                tracing::warn!(webhook = id, error = %err, "webhook delivery round failed; retrying");
                poll(&state)
            }
        };
        if held(&state, &me, id, Duration::ZERO)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            tracing::debug!(webhook = id, "webhook lease lost or webhook deleted");
            return;
        }
        tokio::select! {
            () = &mut stopped => return,
            _ = progress.changed() => {}
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Ingest new events, then send what is due; the next due time, if any.
async fn round(state: &AppState, me: &str, id: i64) -> AppResult<Option<DateTime<Utc>>> {
    if state.events.is_stopped() {
        return Ok(None);
    }
    let Some(mut hook) = held(state, me, id, Duration::ZERO).await? else {
        return Ok(None);
    };
    ingest(state, me, &mut hook).await?;
    if WebhookStatus::from_code(&hook.status)? == WebhookStatus::Failing {
        return Ok(None);
    }
    send_due(state, me, &hook).await
}

async fn ingest(state: &AppState, me: &str, hook: &mut webhook::Model) -> AppResult<()> {
    let through = state.events.position();
    let kinds = events_of(&hook.events)?;
    let to_stages = stages_of(hook.to_stages.as_deref())?;
    while hook.cursor < through {
        let read = &state.db.read;
        let rows = outbox::read_after(read, hook.cursor, Some(through), INGEST_PAGE).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            break;
        };
        // The owner's view, read per page: a changed role applies at once.
        let owner = service::owner_viewer(read, hook.owner_id).await?;
        let scope = owner
            .as_ref()
            .map_or(policy::LeadScope::Nothing, policy::webhook_lead_scope);
        let shows_cost = owner
            .as_ref()
            .is_some_and(|o| policy::webhook_shows_cost(o.role));
        let filter = Filter {
            scope,
            to_stages: to_stages.clone(),
        };
        let admitted: Vec<_> = rows
            .iter()
            .filter(|row| filter.admits(row))
            .filter_map(|row| {
                let to = LeadStage::from_code(&row.to_stage).ok()?;
                let from = row
                    .from_stage
                    .as_deref()
                    .and_then(|f| LeadStage::from_code(f).ok());
                let kind = EventKind::of_change(from, to);
                kinds
                    .iter()
                    .any(|k| k.covers(kind))
                    .then_some((row, from, to, kind))
            })
            .collect();
        let refs: Vec<_> = admitted.iter().map(|(row, ..)| *row).collect();
        let leads = outbox::load_leads(read, &refs).await?;
        let campaign_ids: Vec<i64> = leads
            .values()
            .filter_map(|l| l.source_campaign_id)
            .collect();
        let user_ids: Vec<i64> = leads.values().filter_map(|l| l.owner_id).collect();
        let campaigns: HashMap<i64, campaign::Model> = campaign::Entity::find()
            .filter(campaign::Column::Id.is_in(campaign_ids))
            .all(read)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let users: HashMap<i64, app_user::Model> = app_user::Entity::find()
            .filter(app_user::Column::Id.is_in(user_ids))
            .all(read)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let now = validate::now();
        let new_rows: Vec<delivery::ActiveModel> = admitted
            .iter()
            .map(|(row, from, to, kind)| {
                // The lead as the owner may see it now, or null.
                let lead = leads.get(&row.lead_id).filter(|l| {
                    LeadStage::from_code(&l.stage).is_ok_and(|stage| {
                        scope.admits(LeadFacts {
                            stage,
                            owner_id: l.owner_id,
                        })
                    })
                });
                let lead_json = lead.map(|l| {
                    payload::lead_json(&LeadView {
                        lead: l,
                        campaign: l.source_campaign_id.and_then(|c| campaigns.get(&c)),
                        owner: l.owner_id.and_then(|u| users.get(&u)),
                        shows_cost,
                        currency: state.currency(),
                    })
                });
                let body = payload::event_payload(
                    kind.code(),
                    row.occurred_at,
                    &outbox::encode_cursor(row.seq),
                    *from,
                    *to,
                    lead_json,
                );
                delivery::ActiveModel {
                    webhook_id: Set(hook.id),
                    event_seq: Set(Some(row.seq)),
                    lead_id: Set(Some(row.lead_id)),
                    event_type: Set(kind.code().to_owned()),
                    payload: Set(body.to_string()),
                    status: Set("PENDING".to_owned()),
                    attempts: Set(0),
                    first_attempt_at: Set(None),
                    last_attempt_at: Set(None),
                    next_attempt_at: Set(Some(now)),
                    last_status_code: Set(None),
                    last_latency_ms: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    delivered_at: Set(None),
                    ..Default::default()
                }
            })
            .collect();
        let count = new_rows.len();
        let txn = state.db.write.begin().await?;
        for chunk in new_rows.chunks(crate::db::rows_per_statement(txn.get_database_backend())) {
            delivery::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        let moved = webhook::Entity::update_many()
            .set(webhook::ActiveModel {
                cursor: Set(last),
                ..Default::default()
            })
            .filter(webhook::Column::Id.eq(hook.id))
            .filter(webhook::Column::Cursor.eq(hook.cursor))
            .filter(webhook::Column::LeaseOwner.eq(me))
            .exec(&txn)
            .await?
            .rows_affected;
        if moved == 0 {
            // Another instance took the webhook over: leave it to it.
            txn.rollback().await?;
            return Ok(());
        }
        txn.commit().await?;
        hook.cursor = last;
        if count > 0 {
            tracing::debug!(
                webhook = hook.id,
                count,
                cursor = last,
                "webhook deliveries recorded"
            );
        }
    }
    Ok(())
}

/// Send the due deliveries, in order per lead; the next due time.
async fn send_due(
    state: &AppState,
    me: &str,
    hook: &webhook::Model,
) -> AppResult<Option<DateTime<Utc>>> {
    let pending = delivery::Entity::find()
        .filter(delivery::Column::WebhookId.eq(hook.id))
        .filter(delivery::Column::Status.eq("PENDING"))
        .filter(delivery::Column::EventSeq.is_not_null())
        .order_by_asc(delivery::Column::Id)
        .limit(SEND_PAGE)
        .all(&state.db.write)
        .await?;
    let margin = state.config.webhook_timeout + Duration::from_secs(1);
    let mut blocked: HashSet<Option<i64>> = HashSet::new();
    let mut next_due: Option<DateTime<Utc>> = None;
    let earliest = |t: DateTime<Utc>, next: &mut Option<DateTime<Utc>>| {
        *next = Some(next.map_or(t, |n| n.min(t)));
    };
    for d in pending {
        if state.events.is_stopped() {
            return Ok(None);
        }
        if blocked.contains(&d.lead_id) {
            continue;
        }
        let Some(due) = d.next_attempt_at else {
            blocked.insert(d.lead_id);
            continue;
        };
        if due > validate::now() {
            blocked.insert(d.lead_id);
            earliest(due, &mut next_due);
            continue;
        }
        // Fresh: the URL, secret and status may have changed meanwhile.
        let Some(current) = held(state, me, hook.id, margin).await? else {
            return Ok(None);
        };
        if WebhookStatus::from_code(&current.status)? == WebhookStatus::Failing {
            return Ok(None);
        }
        let (sent, failing) = service::attempt(state, &current, &d, Trigger::Scheduled).await?;
        if failing {
            return Ok(None);
        }
        if sent.status == "PENDING" {
            blocked.insert(d.lead_id);
            if let Some(next) = sent.next_attempt_at {
                earliest(next, &mut next_due);
            }
        }
    }
    Ok(next_due)
}
