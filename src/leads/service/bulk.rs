//! Many leads at once (CSV import, docs/import-export.md): the same rows,
//! history, outbox events, scoring and automatic MQL as `createLead` and
//! `updateLead` write for one lead, in a few multi-row statements per call.

use crate::auth::Viewer;
use crate::auth::policy::LeadAction;
use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::LeadStage;
use crate::validate;
use entity::lead;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;

use super::access::authorize;
use super::store::{CheckedLead, new_model, save, search_text};

/// The ids of the leads with these (checked) emails, in bounded queries.
pub async fn ids_by_emails(
    db: &impl ConnectionTrait,
    emails: &[&str],
) -> AppResult<HashMap<String, i64>> {
    let mut found = HashMap::new();
    for chunk in emails.chunks(500) {
        let rows: Vec<(String, i64)> = lead::Entity::find()
            .select_only()
            .columns([lead::Column::Email, lead::Column::Id])
            .filter(lead::Column::Email.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Insert new leads in the caller's transaction, as [`super::insert`] does
/// one (LEAD, its creation in the history and the outbox, scored, moved to
/// MQL when the score reaches the threshold) but a few multi-row statements
/// per call. The caller has made sure, in this transaction, that no lead
/// has one of these emails and that the emails are distinct; a lead created
/// meanwhile by another writer fails the whole call (a unique violation is
/// `CONFLICT`), and the caller's transaction with it. An unknown source
/// campaign is `BAD_USER_INPUT` on the lead's `sourceCampaignId` field.
/// Returns the leads as stored, in the order given.
pub async fn insert_many(
    viewer: &Viewer,
    txn: &impl ConnectionTrait,
    new: Vec<CheckedLead>,
) -> AppResult<Vec<lead::Model>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let campaigns =
        crate::campaigns::service::channels(txn, new.iter().filter_map(|l| l.source_campaign_id))
            .await?;
    let now = validate::now();
    let mut order = Vec::with_capacity(new.len());
    let mut rows = Vec::with_capacity(new.len());
    for lead in new {
        let campaign_channel = match lead.source_campaign_id {
            Some(id) => Some(*campaigns.get(&id).ok_or_else(|| {
                AppError::bad_input(lead.source_campaign_field.clone(), "no such campaign")
            })?),
            None => None,
        };
        let channel = lead
            .source_channel
            .or(campaign_channel)
            .unwrap_or(crate::leads::channel::Channel::Direct);
        order.push(lead.email.clone());
        let mut active: lead::ActiveModel = new_model(viewer, lead, channel, now).into();
        active.id = sea_orm::ActiveValue::NotSet;
        rows.push(active);
    }
    // A lead row is about 40 values: PostgreSQL gets half the usual rows
    // per statement to stay within one send buffer (`db::rows_per_statement`).
    let backend = txn.get_database_backend();
    let per_statement = match backend {
        DbBackend::Postgres => crate::db::rows_per_statement(backend) / 2,
        _ => crate::db::rows_per_statement(backend),
    }
    .max(1);
    let mut by_email: HashMap<String, lead::Model> = HashMap::with_capacity(rows.len());
    let mut rest = rows;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(per_statement));
        let chunk = std::mem::replace(&mut rest, tail);
        let inserted = match lead::Entity::insert_many(chunk)
            .exec_with_returning(txn)
            .await
        {
            Ok(inserted) => inserted,
            Err(err) if crate::error::is_unique_violation(&err) => {
                return Err(AppError::conflict(
                    "a lead with one of these emails was created meanwhile; retry",
                ));
            }
            Err(err) => return Err(err.into()),
        };
        by_email.extend(inserted.into_iter().map(|m| (m.email.clone(), m)));
    }
    // RETURNING's row order is not promised: the emails put them back in order.
    let inserted: Vec<lead::Model> = order
        .iter()
        .map(|email| {
            by_email
                .remove(email)
                .ok_or_else(|| AppError::internal("an inserted lead was not returned"))
        })
        .collect::<AppResult<_>>()?;
    let changes: Vec<_> = inserted
        .iter()
        .map(|lead| crate::events::StageChange {
            lead,
            from: None,
            to: LeadStage::Lead,
            actor: &viewer.subject,
            reason: None,
            at: now,
        })
        .collect();
    crate::events::record_stage_changes(txn, &changes).await?;
    crate::scoring::service::rescore_leads(txn, inserted, now).await
}

/// `current` with the attributes `new` gives (a `None` keeps the stored
/// value; source channel and campaign are not attributes an update changes).
pub fn overwrite(current: &lead::Model, new: &CheckedLead) -> lead::Model {
    let mut next = current.clone();
    let set = |target: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            target.clone_from(value);
        }
    };
    set(&mut next.first_name, &new.first_name);
    set(&mut next.last_name, &new.last_name);
    set(&mut next.company, &new.company);
    set(&mut next.job_title, &new.job_title);
    set(&mut next.industry, &new.industry);
    set(&mut next.country, &new.country);
    set(&mut next.phone, &new.phone);
    if new.company_size.is_some() {
        next.company_size = new.company_size;
    }
    next
}

/// What [`update_many`] did to one lead.
#[derive(Debug)]
pub enum Updated {
    /// Attributes changed: saved (version + 1) and rescored; `promoted`
    /// when scoring then moved it from LEAD to MQL.
    Changed {
        lead: Box<lead::Model>,
        promoted: bool,
    },
    /// The values given were those stored already: nothing written.
    Unchanged,
}

/// Overwrite existing leads' attributes with the values given (a `None`
/// keeps the stored value; the source channel and campaign of an existing
/// lead never change), in the caller's transaction, as `updateLead` does
/// for one: locked, authorized (`UpdateFields`), saved under its version
/// with `updatedAt`, then the changed leads rescored together. Each item's
/// answer is its own: a lead the viewer may not update is that item's
/// error (`NOT_FOUND` for one it cannot see); a database error fails the
/// call.
pub async fn update_many(
    viewer: &Viewer,
    txn: &impl ConnectionTrait,
    changes: Vec<(i64, CheckedLead)>,
) -> AppResult<Vec<AppResult<Updated>>> {
    let locked: HashMap<i64, lead::Model> =
        crate::scoring::service::lock_leads(txn, changes.iter().map(|(id, _)| *id))
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
    let now = validate::now();
    let mut answers = Vec::with_capacity(changes.len());
    let mut saved = Vec::new();
    // Where each saved lead's answer goes once it is rescored.
    let mut slots = Vec::new();
    for (id, new) in changes {
        let Some(current) = locked.get(&id) else {
            answers.push(Err(AppError::not_found("lead")));
            continue;
        };
        if let Err(err) = authorize(viewer, current, LeadAction::UpdateFields) {
            answers.push(Err(err));
            continue;
        }
        let mut next = overwrite(current, &new);
        if next == *current {
            answers.push(Ok(Updated::Unchanged));
            continue;
        }
        next.search_text = search_text(&next);
        next.updated_at = now;
        next.version = current.version + 1;
        saved.push(save(txn, current, next).await?);
        slots.push((answers.len(), current.stage == LeadStage::Lead.code()));
        answers.push(Ok(Updated::Unchanged));
    }
    let rescored = crate::scoring::service::rescore_leads(txn, saved, now).await?;
    for ((slot, was_lead), lead) in slots.into_iter().zip(rescored) {
        let promoted = was_lead && lead.stage == LeadStage::Mql.code();
        answers[slot] = Ok(Updated::Changed {
            lead: Box::new(lead),
            promoted,
        });
    }
    Ok(answers)
}
