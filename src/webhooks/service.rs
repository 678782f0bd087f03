//! Webhooks as the API sees them: create, change, delete, rotate, list,
//! their deliveries, redeliver and test; and the one function that makes an
//! attempt and records it, shared with the worker.

use super::address::{self, Host};
use super::model::{
    DeliveryStatus, EventKind, NewWebhook, WebhookPatch, WebhookStatus, events_of, join_codes,
};
use super::sender::Attempt;
use super::{Webhooks, payload, signing};
use crate::app::AppState;
use crate::auth::policy::{self, Capability, WebhookScope};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::global_id::{NodeType, encode};
use crate::leads::lifecycle::LeadStage;
use crate::patch::Patch;
use crate::validate;
use chrono::{DateTime, Utc};
use entity::{app_user, webhook, webhook_delivery as delivery};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

/// Webhooks one owner may have.
pub const MAX_WEBHOOKS_PER_OWNER: u64 = 25;
/// Characters of a webhook's description.
pub const MAX_DESCRIPTION: usize = validate::MAX_STRING;
/// How long the secret before a rotation still signs (beside the new one).
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// A webhook with its secret, shown once (`createWebhook`, `rotateWebhookSecret`).
pub struct WithSecret {
    pub webhook: webhook::Model,
    pub secret: String,
}

/// The `webhook-id` of a delivery (and its global id).
pub fn message_id(delivery_id: i64) -> String {
    encode(NodeType::WebhookDelivery, delivery_id)
}

fn scope(viewer: &Viewer) -> AppResult<WebhookScope> {
    policy::require(viewer, Capability::ManageWebhooks)?;
    Ok(policy::webhook_scope(viewer))
}

/// A webhook the viewer manages, or `None` (missing or someone else's:
/// the same answer, so no existence leak).
pub async fn get(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<webhook::Model>> {
    let scope = scope(viewer)?;
    Ok(webhook::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|w| scope.admits(w.owner_id)))
}

async fn find(viewer: &Viewer, db: &impl ConnectionTrait, id: i64) -> AppResult<webhook::Model> {
    get(viewer, db, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook"))
}

fn events(field: &str, events: &[EventKind]) -> AppResult<String> {
    if events.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} needs at least one event"),
        ));
    }
    if events.contains(&EventKind::WebhookTest) {
        return Err(AppError::bad_input(
            field,
            "WEBHOOK_TEST is sent by testWebhook only; it cannot be subscribed to",
        ));
    }
    let mut unique: Vec<EventKind> = Vec::new();
    for e in events {
        if !unique.contains(e) {
            unique.push(*e);
        }
    }
    Ok(join_codes(&unique, EventKind::code))
}

fn stages(field: &str, stages: &[LeadStage]) -> AppResult<String> {
    if stages.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} needs at least one stage; omit it for every stage"),
        ));
    }
    let mut unique: Vec<LeadStage> = Vec::new();
    for s in stages {
        if !unique.contains(s) {
            unique.push(*s);
        }
    }
    Ok(join_codes(&unique, LeadStage::code))
}

/// Check a URL's form and (unless private addresses are allowed) every
/// address its host resolves to now; the same check runs again at every
/// delivery.
async fn checked_url(hooks: &Webhooks, field: &str, raw: &str) -> AppResult<String> {
    let (url, host) = address::check_url(field, raw, hooks.allow_private)?;
    if let (Host::Name(name), false) = (&host, hooks.allow_private) {
        let port = url.port_or_known_default().unwrap_or(443);
        let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map(Iterator::collect)
            .unwrap_or_default();
        if found.is_empty() {
            return Err(AppError::bad_input(
                field,
                format!("{field}: the host {name} does not resolve"),
            ));
        }
        if let Some(kind) = found.iter().find_map(|a| address::forbidden(a.ip())) {
            return Err(AppError::bad_input(
                field,
                format!(
                    "{field}: the host {name} resolves to a {kind} address, which webhooks may not reach"
                ),
            ));
        }
    }
    Ok(url.to_string())
}

fn description(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    validate::text(field, value, MAX_DESCRIPTION)
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    signing::new_secret(bytes)
}

/// `createWebhook`: starts at the present (events committed from now on).
#[tracing::instrument(skip(state, viewer, input), fields(subject = %viewer.subject))]
pub async fn create(state: &AppState, viewer: &Viewer, input: NewWebhook) -> AppResult<WithSecret> {
    scope(viewer)?;
    let hooks = &state.webhooks;
    let events = events("input.events", &input.events)?;
    let to_stages = input
        .to_stages
        .as_deref()
        .map(|s| stages("input.toStages", s))
        .transpose()?;
    let description = description("input.description", input.description.as_deref())?;
    let url = checked_url(hooks, "input.url", &input.url).await?;
    let db = &state.db.write;
    let txn = db.begin().await?;
    let owned = webhook::Entity::find()
        .filter(webhook::Column::OwnerId.eq(viewer.user_id))
        .count(&txn)
        .await?;
    if owned >= MAX_WEBHOOKS_PER_OWNER {
        return Err(AppError::LimitExceeded(format!(
            "a user may own at most {MAX_WEBHOOKS_PER_OWNER} webhooks; delete one first"
        )));
    }
    let now = validate::now();
    let secret = random_secret();
    let model = webhook::ActiveModel {
        owner_id: Set(viewer.user_id),
        url: Set(url),
        description: Set(description),
        events: Set(events),
        to_stages: Set(to_stages),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        status: Set(WebhookStatus::Active.code().to_owned()),
        failing_since: Set(None),
        cursor: Set(state.events.position()),
        lease_owner: Set(None),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    hooks.wake.notify_waiters();
    Ok(WithSecret {
        webhook: model,
        secret,
    })
}

/// `updateWebhook`: also reactivates a FAILING webhook (the owner has
/// looked at it); its pending deliveries are tried again at once.
#[tracing::instrument(skip(state, viewer, patch), fields(subject = %viewer.subject))]
pub async fn update(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    patch: WebhookPatch,
) -> AppResult<webhook::Model> {
    let db = &state.db.write;
    let current = find(viewer, db, id).await?;
    let mut model: webhook::ActiveModel = current.clone().into();
    if let Some(url) = patch.url.as_deref() {
        model.url = Set(checked_url(&state.webhooks, "input.url", url).await?);
    }
    if let Some(e) = patch.events.as_deref() {
        model.events = Set(events("input.events", e)?);
    }
    match patch.to_stages {
        Patch::Keep => {}
        Patch::Clear => model.to_stages = Set(None),
        Patch::Set(s) => model.to_stages = Set(Some(stages("input.toStages", &s)?)),
    }
    match patch.description {
        Patch::Keep => {}
        Patch::Clear => model.description = Set(None),
        Patch::Set(d) => model.description = Set(description("input.description", Some(&d))?),
    }
    let now = validate::now();
    model.updated_at = Set(now);
    let txn = db.begin().await?;
    let updated = model.update(&txn).await?;
    reactivate(&txn, id, now).await?;
    txn.commit().await?;
    state.webhooks.wake.notify_waiters();
    Ok(webhook::Entity::find_by_id(id)
        .one(db)
        .await?
        .unwrap_or(updated))
}

/// `deleteWebhook`: with its deliveries.
pub async fn delete(viewer: &Viewer, db: &DatabaseConnection, id: i64) -> AppResult<bool> {
    find(viewer, db, id).await?;
    let txn = db.begin().await?;
    delivery::Entity::delete_many()
        .filter(delivery::Column::WebhookId.eq(id))
        .exec(&txn)
        .await?;
    webhook::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(true)
}

/// `rotateWebhookSecret`: a new secret, shown once; the old one keeps
/// signing beside it for [`ROTATION_OVERLAP`] so receivers can switch.
pub async fn rotate_secret(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
) -> AppResult<WithSecret> {
    let current = find(viewer, db, id).await?;
    let now = validate::now();
    let secret = random_secret();
    let mut model: webhook::ActiveModel = current.clone().into();
    model.previous_secret = Set(Some(current.secret));
    model.previous_secret_until = Set(Some(now + ROTATION_OVERLAP));
    model.secret = Set(secret.clone());
    model.updated_at = Set(now);
    let webhook = model.update(db).await?;
    Ok(WithSecret { webhook, secret })
}

/// `webhooks`: those the viewer manages, oldest first, after the id `after`.
pub async fn list(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    after: Option<i64>,
    first: u64,
) -> AppResult<(Vec<webhook::Model>, bool)> {
    let mut query = webhook::Entity::find().order_by_asc(webhook::Column::Id);
    match scope(viewer)? {
        WebhookScope::All => {}
        WebhookScope::OwnedBy(user) => query = query.filter(webhook::Column::OwnerId.eq(user)),
        WebhookScope::Nothing => return Ok((Vec::new(), false)),
    }
    if let Some(after) = after {
        query = query.filter(webhook::Column::Id.gt(after));
    }
    let mut rows = query.limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// `webhookDeliveries`: newest first, before the id `after`.
pub async fn deliveries(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    webhook_id: i64,
    after: Option<i64>,
    first: u64,
) -> AppResult<(Vec<delivery::Model>, bool)> {
    find(viewer, db, webhook_id).await?;
    let mut query = delivery::Entity::find()
        .filter(delivery::Column::WebhookId.eq(webhook_id))
        .order_by_desc(delivery::Column::Id);
    if let Some(after) = after {
        query = query.filter(delivery::Column::Id.lt(after));
    }
    let mut rows = query.limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// A delivery of a webhook the viewer manages, or `None`.
pub async fn get_delivery(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<(delivery::Model, webhook::Model)>> {
    let Some(d) = delivery::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    Ok(get(viewer, db, d.webhook_id).await?.map(|w| (d, w)))
}

/// `redeliver`: send a delivery again now, with its id and body, whatever
/// its status; a 2xx marks it SUCCEEDED and reactivates a FAILING webhook.
/// A failure leaves a pending delivery on its schedule.
#[tracing::instrument(skip(state, viewer), fields(subject = %viewer.subject))]
pub async fn redeliver(state: &AppState, viewer: &Viewer, id: i64) -> AppResult<delivery::Model> {
    let (d, hook) = get_delivery(viewer, &state.db.write, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook delivery"))?;
    Ok(attempt(state, &hook, &d, Trigger::Manual).await?.0)
}

/// `testWebhook`: send a `WEBHOOK_TEST` event (no lead) now and answer
/// with its delivery; no retries. A 2xx reactivates a FAILING webhook.
#[tracing::instrument(skip(state, viewer), fields(subject = %viewer.subject))]
pub async fn test(state: &AppState, viewer: &Viewer, id: i64) -> AppResult<delivery::Model> {
    let db = &state.db.write;
    let hook = find(viewer, db, id).await?;
    let now = validate::now();
    let d = delivery::ActiveModel {
        webhook_id: Set(hook.id),
        event_seq: Set(None),
        lead_id: Set(None),
        event_type: Set(EventKind::WebhookTest.code().to_owned()),
        payload: Set(payload::test_payload(now).to_string()),
        status: Set(DeliveryStatus::Pending.code().to_owned()),
        attempts: Set(0),
        first_attempt_at: Set(None),
        last_attempt_at: Set(None),
        // Never picked up by a deliverer: it is sent here, once.
        next_attempt_at: Set(None),
        last_status_code: Set(None),
        last_latency_ms: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(attempt(state, &hook, &d, Trigger::Test).await?.0)
}

/// Why an attempt is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The deliverer, on the schedule.
    Scheduled,
    /// `redeliver`.
    Manual,
    /// `testWebhook`.
    Test,
}

/// The secrets that sign now: the current one, and the previous one during
/// the rotation overlap.
pub fn signing_secrets(hook: &webhook::Model, now: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![hook.secret.as_str()];
    if let (Some(previous), Some(until)) = (&hook.previous_secret, hook.previous_secret_until)
        && until > now
    {
        secrets.push(previous);
    }
    secrets
}

/// Send `d` once and record the outcome. Returns the delivery as recorded
/// and whether the webhook is now FAILING (retries exhausted).
pub async fn attempt(
    state: &AppState,
    hook: &webhook::Model,
    d: &delivery::Model,
    trigger: Trigger,
) -> AppResult<(delivery::Model, bool)> {
    let hooks = &state.webhooks;
    let db = &state.db.write;
    let msg_id = message_id(d.id);
    let now = validate::now();
    let sent = hooks
        .sender
        .send(
            &hook.url,
            &signing_secrets(hook, now),
            &msg_id,
            payload::body(&msg_id, &d.payload),
        )
        .await?;
    let now = validate::now();
    let unit: f64 = rand::rng().random();
    let recorded = record(hooks, db, hook, d, &sent, trigger, now, unit).await?;
    metrics::counter!("leadgraph_webhook_deliveries_total", "outcome" => recorded.1).increment(1);
    metrics::histogram!("leadgraph_webhook_delivery_seconds").record(sent.latency.as_secs_f64());
    if recorded.0.status == DeliveryStatus::Succeeded.code() {
        hooks.wake.notify_waiters();
    }
    Ok((recorded.0, recorded.2))
}

/// Write an attempt's outcome; `(delivery, metric outcome, webhook failing)`.
#[allow(clippy::too_many_arguments)]
async fn record(
    hooks: &Webhooks,
    db: &DatabaseConnection,
    hook: &webhook::Model,
    d: &delivery::Model,
    sent: &Attempt,
    trigger: Trigger,
    now: DateTime<Utc>,
    unit: f64,
) -> AppResult<(delivery::Model, &'static str, bool)> {
    let attempts = d.attempts.saturating_add(1);
    let first = d.first_attempt_at.unwrap_or(now);
    let latency = i32::try_from(sent.latency.as_millis()).unwrap_or(i32::MAX);
    let mut model = delivery::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(d.id),
        attempts: Set(attempts),
        first_attempt_at: Set(Some(first)),
        last_attempt_at: Set(Some(now)),
        last_status_code: Set(sent.status.map(i32::from)),
        last_latency_ms: Set(Some(latency)),
        last_error: Set(sent.error.clone()),
        ..Default::default()
    };
    let pending = d.status == DeliveryStatus::Pending.code();
    let mut outcome = sent.outcome;
    let mut gave_up = false;
    let txn = db.begin().await?;
    if sent.succeeded() {
        model.status = Set(DeliveryStatus::Succeeded.code().to_owned());
        model.next_attempt_at = Set(None);
        model.delivered_at = Set(Some(now));
        reactivate(&txn, hook.id, now).await?;
    } else if trigger == Trigger::Test {
        model.status = Set(DeliveryStatus::Failed.code().to_owned());
    } else if pending {
        match hooks.retry.next_attempt(
            first,
            now,
            u32::try_from(attempts).unwrap_or(u32::MAX),
            unit,
        ) {
            Some(next) => model.next_attempt_at = Set(Some(next)),
            None => {
                gave_up = true;
                outcome = "gave_up";
                model.status = Set(DeliveryStatus::Failed.code().to_owned());
                model.next_attempt_at = Set(None);
            }
        }
    }
    let mut update = delivery::Entity::update_many()
        .set(model)
        .filter(delivery::Column::Id.eq(d.id));
    if !sent.succeeded() {
        // A concurrent success (a redelivery) is never overwritten by a failure.
        update = update.filter(delivery::Column::Status.eq(d.status.clone()));
    }
    update.exec(&txn).await?;
    if gave_up {
        webhook::Entity::update_many()
            .set(webhook::ActiveModel {
                status: Set(WebhookStatus::Failing.code().to_owned()),
                failing_since: Set(Some(now)),
                ..Default::default()
            })
            .filter(webhook::Column::Id.eq(hook.id))
            .filter(webhook::Column::Status.eq(WebhookStatus::Active.code()))
            .exec(&txn)
            .await?;
        tracing::warn!(
            webhook = hook.id,
            delivery = d.id,
            "webhook delivery gave up; the webhook is FAILING"
        );
    }
    txn.commit().await?;
    let row = delivery::Entity::find_by_id(d.id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("webhook delivery"))?;
    Ok((row, outcome, gave_up))
}

/// Make a FAILING webhook ACTIVE again and its pending deliveries due now,
/// each with a fresh retry window.
pub async fn reactivate(db: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let changed = webhook::Entity::update_many()
        .set(webhook::ActiveModel {
            status: Set(WebhookStatus::Active.code().to_owned()),
            failing_since: Set(None),
            ..Default::default()
        })
        .filter(webhook::Column::Id.eq(id))
        .filter(webhook::Column::Status.eq(WebhookStatus::Failing.code()))
        .exec(db)
        .await?
        .rows_affected;
    if changed > 0 {
        delivery::Entity::update_many()
            .set(delivery::ActiveModel {
                next_attempt_at: Set(Some(now)),
                first_attempt_at: Set(None),
                ..Default::default()
            })
            .filter(delivery::Column::WebhookId.eq(id))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.code()))
            .filter(delivery::Column::EventSeq.is_not_null())
            .exec(db)
            .await?;
        tracing::info!(webhook = id, "webhook reactivated");
    }
    Ok(())
}

/// The owner of a webhook as a viewer, with the role stored for it now;
/// `None` when the user is gone.
pub async fn owner_viewer(db: &impl ConnectionTrait, owner_id: i64) -> AppResult<Option<Viewer>> {
    let Some(user) = app_user::Entity::find_by_id(owner_id).one(db).await? else {
        return Ok(None);
    };
    Ok(Some(Viewer {
        user_id: user.id,
        subject: user.subject,
        role: Role::from_code(&user.role)?,
        expires_at: i64::MAX,
    }))
}

/// The event kinds of a stored webhook (for the GraphQL edge).
pub fn kinds(hook: &webhook::Model) -> AppResult<Vec<EventKind>> {
    events_of(&hook.events)
}
