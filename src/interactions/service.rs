//! Recording interactions, singly, in batches and by form capture.

use super::kind::InteractionKind;
use super::model::{BatchOutcome, Capture, Captured, LeadRef, NewInteraction};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability, LeadAction};
use crate::error::{AppError, AppResult};
use crate::leads::channel::Channel;
use crate::leads::service as leads;
use crate::scoring::engine::InteractionFact;
use crate::validate;
use entity::{interaction, lead};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait, TryInsertResult,
};
use std::collections::HashMap;

/// A validated interaction, not yet tied to a loaded lead.
struct Prepared {
    lead: LeadRef,
    kind: InteractionKind,
    occurred_at: chrono::DateTime<chrono::Utc>,
    /// Given, or the campaign's channel once the campaign is resolved.
    channel: Option<Channel>,
    campaign_id: Option<i64>,
    /// Where `campaignId` was given, for the error when no such campaign exists.
    campaign_field: String,
    external_id: Option<String>,
    /// Where `externalId` was given, for the `CONFLICT` of a key in use.
    external_id_field: String,
    metadata: Option<serde_json::Value>,
}

fn prepare(input: &NewInteraction) -> AppResult<Prepared> {
    let f = |name: &str| format!("{}{name}", input.prefix);
    let lead = match &input.lead {
        LeadRef::Id(id) => LeadRef::Id(*id),
        LeadRef::Email(email) => LeadRef::Email(validate::email(&f("leadEmail"), email)?),
    };
    // Whether the campaign exists is checked in the recording transaction.
    Ok(Prepared {
        lead,
        kind: input.kind,
        occurred_at: input.occurred_at.unwrap_or_else(validate::now),
        channel: input.channel,
        campaign_id: input.campaign_id,
        campaign_field: f("campaignId"),
        external_id: validate::text(
            &f("externalId"),
            input.external_id.as_deref(),
            validate::MAX_STRING,
        )?,
        external_id_field: f("externalId"),
        metadata: validate::metadata(&f("metadata"), input.metadata.as_ref())?,
    })
}

fn active(p: &Prepared, lead_id: i64) -> interaction::ActiveModel {
    interaction::ActiveModel {
        lead_id: Set(lead_id),
        kind: Set(p.kind.code().to_owned()),
        occurred_at: Set(p.occurred_at),
        channel: Set(p.channel.map(|c| c.code().to_owned())),
        campaign_id: Set(p.campaign_id),
        external_id: Set(p.external_id.clone()),
        metadata: Set(p.metadata.clone()),
        created_at: Set(validate::now()),
        ..Default::default()
    }
}

/// What scoring reads of an interaction being recorded.
fn fact(p: &Prepared) -> InteractionFact {
    InteractionFact {
        kind: p.kind.code().to_owned(),
        occurred_at: p.occurred_at,
        metadata: p.metadata.clone(),
    }
}

/// The one interaction recorded for a lead, or none, as scoring takes it.
fn recorded_for(lead_id: i64, p: &Prepared, created: bool) -> HashMap<i64, Vec<InteractionFact>> {
    let mut recorded = HashMap::new();
    if created {
        recorded.insert(lead_id, vec![fact(p)]);
    }
    recorded
}

async fn find_by_external_id(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> AppResult<Option<interaction::Model>> {
    Ok(interaction::Entity::find()
        .filter(interaction::Column::ExternalId.eq(external_id))
        .one(db)
        .await?)
}

async fn lead_for(db: &impl ConnectionTrait, lead: &LeadRef) -> AppResult<Option<lead::Model>> {
    let query = match lead {
        LeadRef::Id(id) => lead::Entity::find_by_id(*id),
        LeadRef::Email(email) => {
            lead::Entity::find().filter(lead::Column::Email.eq(email.as_str()))
        }
    };
    Ok(query
        .into_model::<lead::ByPosition>()
        .one(db)
        .await?
        .map(|row| row.0))
}

/// The `CONFLICT` of an `externalId` stored for another lead, or out of the
/// caller's reach: nothing of the stored interaction, not even its lead.
fn external_id_taken(field: &str) -> AppError {
    AppError::conflict_on(
        field,
        format!("{field} is already used by another interaction; a retry must name the same lead"),
    )
}

/// An interaction stored under the `externalId` of a write to `lead_id`: a
/// replay of that write when it belongs to the same lead (whose access the
/// caller has passed), else `CONFLICT` on `field`.
fn replay_of(
    stored: interaction::Model,
    lead_id: i64,
    field: &str,
) -> AppResult<interaction::Model> {
    if stored.lead_id == lead_id {
        Ok(stored)
    } else {
        Err(external_id_taken(field))
    }
}

/// Insert one interaction for `lead` unless its externalId is stored already
/// (see [`replay_of`]); returns the stored interaction and whether it is new.
async fn insert_one(
    txn: &impl ConnectionTrait,
    p: &Prepared,
    lead_id: i64,
) -> AppResult<(interaction::Model, bool)> {
    let result = interaction::Entity::insert(active(p, lead_id))
        .on_conflict_do_nothing_on([interaction::Column::ExternalId])
        .exec_with_returning(txn)
        .await;
    let key = match (result, p.external_id.as_deref()) {
        (Ok(TryInsertResult::Inserted(model)), _) => return Ok((model, true)),
        // A key taken since it was looked up (a concurrent write): with
        // RETURNING, SeaORM reports the row skipped by DO NOTHING as not found.
        (Ok(_) | Err(sea_orm::DbErr::RecordNotFound(_)), Some(key)) => key,
        (Ok(_), None) => return Err(AppError::internal("interaction not inserted")),
        (Err(err), _) => return Err(err.into()),
    };
    let existing = find_by_external_id(txn, key)
        .await?
        .ok_or_else(|| AppError::internal("interaction conflict without a stored externalId"))?;
    Ok((replay_of(existing, lead_id, &p.external_id_field)?, false))
}

/// What `recordInteraction` answers: the stored interaction to a caller who
/// may see its lead; to one who may not (INGEST writes blind), only what it
/// sent itself under the stored id, so a replay reveals nothing it could not
/// have sent.
fn answer(
    viewer: &Viewer,
    lead: &lead::Model,
    p: &Prepared,
    stored: interaction::Model,
) -> AppResult<interaction::Model> {
    if policy::lead_scope(viewer).admits(leads::facts(lead)?) {
        return Ok(stored);
    }
    Ok(interaction::Model {
        id: stored.id,
        lead_id: stored.lead_id,
        kind: p.kind.code().to_owned(),
        occurred_at: p.occurred_at,
        channel: p.channel.map(|c| c.code().to_owned()),
        campaign_id: p.campaign_id,
        external_id: p.external_id.clone(),
        metadata: p.metadata.clone(),
        created_at: stored.created_at,
    })
}

/// `recordInteraction`.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn record(
    viewer: &Viewer,
    db: &DatabaseConnection,
    input: NewInteraction,
) -> AppResult<interaction::Model> {
    policy::require(viewer, Capability::RecordInteractions)?;
    let mut prepared = prepare(&input)?;
    let txn = db.begin().await?;
    if let Some(campaign) = prepared.campaign_id {
        let channel =
            crate::campaigns::service::source_channel(&txn, campaign, &prepared.campaign_field)
                .await?;
        prepared.channel.get_or_insert(channel);
    }
    // Locked before the insert, so concurrent recordings rescore one after
    // another; a lead named by id is read once, by the locking read.
    let lead = match &prepared.lead {
        LeadRef::Id(id) => leads::lock(&txn, *id).await?,
        LeadRef::Email(_) => {
            let lead = lead_for(&txn, &prepared.lead)
                .await?
                .ok_or_else(|| AppError::not_found("lead"))?;
            leads::lock(&txn, lead.id).await?
        }
    };
    // Access before idempotency: a replay is answered only within the caller's reach.
    leads::authorize(viewer, &lead, LeadAction::RecordInteraction(prepared.kind))?;
    if let Some(key) = &prepared.external_id
        && let Some(existing) = find_by_external_id(&txn, key).await?
    {
        let stored = replay_of(existing, lead.id, &prepared.external_id_field)?;
        return answer(viewer, &lead, &prepared, stored);
    }
    let (stored, created) = insert_one(&txn, &prepared, lead.id).await?;
    let answered = answer(viewer, &lead, &prepared, stored)?;
    if created {
        let recorded = recorded_for(lead.id, &prepared, true);
        crate::scoring::service::rescore_recorded(&txn, vec![lead], &recorded, validate::now())
            .await?;
    }
    txn.commit().await?;
    Ok(answered)
}

/// `recordInteractions`: each bad item reported by index, the good ones
/// recorded together in one transaction. An item the caller could not
/// convert (an undecodable id) comes as its error and is reported at its
/// index like any other bad item.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject, items = inputs.len()))]
pub async fn record_batch(
    viewer: &Viewer,
    db: &DatabaseConnection,
    inputs: Vec<AppResult<NewInteraction>>,
) -> AppResult<BatchOutcome> {
    policy::require(viewer, Capability::RecordInteractions)?;
    if inputs.len() > validate::MAX_BATCH {
        return Err(AppError::LimitExceeded(format!(
            "a batch holds at most {} items",
            validate::MAX_BATCH
        )));
    }
    let mut errors = Vec::new();
    let mut prepared = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        match input.as_ref().map_err(Clone::clone).and_then(prepare) {
            Ok(p) => prepared.push((index, p)),
            Err(err) => errors.push((index, err)),
        }
    }
    let txn = db.begin().await?;
    // One query resolves every campaign of the batch; an unknown one fails its item.
    let campaigns = crate::campaigns::service::channels(
        &txn,
        prepared.iter().filter_map(|(_, p)| p.campaign_id),
    )
    .await?;
    let mut known = Vec::with_capacity(prepared.len());
    for (index, mut p) in prepared {
        match p.campaign_id.map(|id| campaigns.get(&id)) {
            Some(None) => errors.push((
                index,
                AppError::bad_input(p.campaign_field.clone(), "no such campaign"),
            )),
            Some(Some(channel)) => {
                p.channel.get_or_insert(*channel);
                known.push((index, p));
            }
            None => known.push((index, p)),
        }
    }
    let prepared = known;
    // Emails are resolved to ids by a read of two columns; then one
    // statement locks every lead the batch names, in id order (so that
    // overlapping batches wait instead of deadlocking), and those rows are
    // what authorization and scoring read.
    let emails: Vec<String> = prepared
        .iter()
        .filter_map(|(_, p)| match &p.lead {
            LeadRef::Email(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let mut by_email: HashMap<String, i64> = HashMap::new();
    if !emails.is_empty() {
        by_email = lead::Entity::find()
            .select_only()
            .columns([lead::Column::Email, lead::Column::Id])
            .filter(lead::Column::Email.is_in(emails))
            .into_tuple::<(String, i64)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
    }
    let named = prepared.iter().filter_map(|(_, p)| match &p.lead {
        LeadRef::Id(id) => Some(*id),
        LeadRef::Email(e) => by_email.get(e).copied(),
    });
    let mut locked: HashMap<i64, lead::Model> = crate::scoring::service::lock_leads(&txn, named)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let found = |lead: &LeadRef| match lead {
        LeadRef::Id(id) => locked.get(id),
        LeadRef::Email(e) => by_email.get(e).and_then(|id| locked.get(id)),
    };
    let mut accepted = Vec::with_capacity(prepared.len());
    for (index, p) in &prepared {
        let outcome = found(&p.lead)
            .ok_or_else(|| AppError::not_found("lead"))
            .and_then(|l| {
                leads::authorize(viewer, l, LeadAction::RecordInteraction(p.kind)).map(|_| l.id)
            });
        match outcome {
            Ok(lead_id) => accepted.push((*index, p, lead_id)),
            Err(err) => errors.push((*index, err)),
        }
    }
    // Each externalId, stored or earlier in this batch, names its lead: the
    // same lead again is a replay (a duplicate), another lead a CONFLICT.
    let mut claimed = stored_external_ids(
        &txn,
        accepted
            .iter()
            .filter_map(|(_, p, _)| p.external_id.clone()),
    )
    .await?;
    let mut rows = Vec::with_capacity(accepted.len());
    let mut keyed = Vec::new();
    let mut touched = Vec::new();
    let mut duplicates = 0u64;
    // What each lead gains, for scoring.
    let mut recorded_facts: HashMap<i64, Vec<InteractionFact>> = HashMap::new();
    for (index, p, lead_id) in accepted {
        if let Some(key) = &p.external_id {
            match claimed.get(key) {
                Some(owner) if *owner == lead_id => {
                    duplicates += 1;
                    continue;
                }
                Some(_) => {
                    errors.push((index, external_id_taken(&p.external_id_field)));
                    continue;
                }
                None => {
                    claimed.insert(key.clone(), lead_id);
                    keyed.push((index, key.clone(), lead_id, p.external_id_field.clone()));
                }
            }
        }
        touched.push(lead_id);
        recorded_facts.entry(lead_id).or_default().push(fact(p));
        rows.push(active(p, lead_id));
    }
    // Each lead is rescored once below, in id order.
    touched.sort_unstable();
    touched.dedup();
    let touched: Vec<lead::Model> = touched.iter().filter_map(|id| locked.remove(id)).collect();
    let attempted = rows.len() as u64;
    let mut recorded = 0u64;
    // Bounded statements keep within every database's parameter limit.
    let mut rest = rows;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(500));
        let chunk = std::mem::replace(&mut rest, tail);
        let result = interaction::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([interaction::Column::ExternalId])
            .exec_without_returning(&txn)
            .await?;
        if let TryInsertResult::Inserted(n) = result {
            recorded += n;
        }
    }
    if recorded < attempted {
        // A concurrent write took some keys between the check and the insert:
        // those now on another lead are conflicts, the rest replays.
        let lost = attempted - recorded;
        let now = stored_external_ids(&txn, keyed.iter().map(|(_, k, _, _)| k.clone())).await?;
        let mut conflicts = 0u64;
        for (index, key, lead_id, field) in &keyed {
            if now.get(key).is_some_and(|owner| owner != lead_id) {
                conflicts += 1;
                errors.push((*index, external_id_taken(field)));
            }
        }
        duplicates += lost.saturating_sub(conflicts);
    }
    if recorded == attempted {
        crate::scoring::service::rescore_recorded(&txn, touched, &recorded_facts, validate::now())
            .await?;
    } else {
        // Which rows lost their key is not known: score those leads in full.
        crate::scoring::service::rescore_leads(&txn, touched, validate::now()).await?;
    }
    txn.commit().await?;
    errors.sort_by_key(|(index, _)| *index);
    Ok(BatchOutcome {
        recorded,
        duplicates,
        errors,
    })
}

/// The lead of each of these externalIds that is stored, in bounded queries.
async fn stored_external_ids(
    db: &impl ConnectionTrait,
    keys: impl IntoIterator<Item = String>,
) -> AppResult<HashMap<String, i64>> {
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut stored = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let rows: Vec<(Option<String>, i64)> = interaction::Entity::find()
            .select_only()
            .column(interaction::Column::ExternalId)
            .column(interaction::Column::LeadId)
            .filter(interaction::Column::ExternalId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(
            rows.into_iter()
                .filter_map(|(key, lead)| Some((key?, lead))),
        );
    }
    Ok(stored)
}

/// `captureLead`: upsert the lead by email (an existing lead keeps its stage
/// and owner and gains missing attributes), record a FORM_SUBMIT.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn capture(
    viewer: &Viewer,
    db: &DatabaseConnection,
    input: Capture,
) -> AppResult<Captured> {
    policy::require(viewer, Capability::CaptureLead)?;
    let new = leads::validate_new(&input.lead, "input.lead.")?;
    let external_id = validate::text(
        "input.externalId",
        input.external_id.as_deref(),
        validate::MAX_STRING,
    )?;
    let metadata = validate::metadata("input.metadata", input.metadata.as_ref())?;
    // A concurrent capture of the same new email loses the insert race once;
    // the retry finds the lead and updates it instead.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match capture_once(viewer, db, &new, external_id.clone(), metadata.clone()).await {
            Ok(Raced::Lost) if attempt < 3 => continue,
            Ok(Raced::Lost) => {
                return Err(AppError::conflict(
                    "the lead was changed concurrently; retry",
                ));
            }
            Ok(Raced::Done(captured)) => return Ok(captured),
            Err(err) => return Err(err),
        }
    }
}

/// One attempt of a capture: done, or lost a race on the lead (retry).
enum Raced {
    Done(Captured),
    Lost,
}

async fn capture_once(
    viewer: &Viewer,
    db: &DatabaseConnection,
    new: &leads::CheckedLead,
    external_id: Option<String>,
    metadata: Option<serde_json::Value>,
) -> AppResult<Raced> {
    const EXTERNAL_ID: &str = "input.externalId";
    let txn = db.begin().await?;
    // The channel of this touch; also checks that the campaign exists.
    let channel = leads::source_channel(&txn, new).await?;
    let existing = leads::id_by_email(&txn, &new.email).await?;
    // A replay is the same form for the same person: its key stored for
    // this email's lead. A key stored for anyone else is a CONFLICT.
    if let Some(key) = &external_id
        && let Some(stored) = find_by_external_id(&txn, key).await?
    {
        return match existing {
            Some(lead_id) if lead_id == stored.lead_id => Ok(Raced::Done(Captured {
                lead_id,
                created: false,
                interaction_id: stored.id,
            })),
            _ => Err(external_id_taken(EXTERNAL_ID)),
        };
    }
    let (lead, created) = match existing {
        Some(id) => {
            let current = leads::lock(&txn, id).await?;
            let mut next = current.clone();
            fill(&mut next.first_name, &new.first_name);
            fill(&mut next.last_name, &new.last_name);
            fill(&mut next.company, &new.company);
            fill(&mut next.job_title, &new.job_title);
            fill(&mut next.industry, &new.industry);
            fill(&mut next.country, &new.country);
            fill(&mut next.phone, &new.phone);
            if next.company_size.is_none() {
                next.company_size = new.company_size;
            }
            if next != current {
                next.search_text = leads::search_text(&next);
                next.updated_at = validate::now();
                next.version += 1;
                match leads::save(&txn, &current, next).await {
                    Ok(saved) => (saved, false),
                    Err(AppError::Conflict { .. }) => return Ok(Raced::Lost),
                    Err(err) => return Err(err),
                }
            } else {
                (current, false)
            }
        }
        None => {
            let copy = leads::CheckedLead {
                email: new.email.clone(),
                first_name: new.first_name.clone(),
                last_name: new.last_name.clone(),
                company: new.company.clone(),
                job_title: new.job_title.clone(),
                industry: new.industry.clone(),
                company_size: new.company_size,
                country: new.country.clone(),
                phone: new.phone.clone(),
                source_channel: new.source_channel,
                source_campaign_id: new.source_campaign_id,
                source_campaign_field: new.source_campaign_field.clone(),
            };
            match leads::insert(viewer, &txn, copy).await {
                Ok(inserted) => (inserted, true),
                // Someone else created this email's lead a moment ago.
                Err(AppError::Conflict { .. }) => return Ok(Raced::Lost),
                Err(err) => return Err(err),
            }
        }
    };
    let prepared = Prepared {
        lead: LeadRef::Id(lead.id),
        kind: InteractionKind::FormSubmit,
        occurred_at: validate::now(),
        channel: Some(channel),
        campaign_id: new.source_campaign_id,
        campaign_field: new.source_campaign_field.clone(),
        external_id,
        external_id_field: EXTERNAL_ID.to_owned(),
        metadata,
    };
    let (stored, created_interaction) = insert_one(&txn, &prepared, lead.id).await?;
    let recorded = recorded_for(lead.id, &prepared, created_interaction);
    crate::scoring::service::rescore_recorded(&txn, vec![lead.clone()], &recorded, validate::now())
        .await?;
    txn.commit().await?;
    Ok(Raced::Done(Captured {
        lead_id: lead.id,
        created,
        interaction_id: stored.id,
    }))
}

fn fill(target: &mut Option<String>, value: &Option<String>) {
    if target.is_none() {
        target.clone_from(value);
    }
}
