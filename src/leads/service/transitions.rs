//! Lifecycle changes in one transaction: transitions, qualification,
//! assignment.

use crate::auth::Viewer;
use crate::auth::policy::{self, LeadAction};
use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::{self, LeadStage, Requirement};
use crate::leads::model::Qualification;
use crate::validate;
use entity::lead;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};

use super::access::{authorize, denied, facts};
use super::store::{check_version, lock, save};

/// Move `lead` to `to` in memory: stage, milestones, timestamps, version.
pub fn apply_stage(lead: &mut lead::Model, to: LeadStage, now: chrono::DateTime<chrono::Utc>) {
    for rank in lifecycle::new_milestones(lead.reached_rank, to) {
        let slot = match rank {
            2 => &mut lead.mql_at,
            3 => &mut lead.sql_at,
            4 => &mut lead.opportunity_at,
            _ => &mut lead.customer_at,
        };
        slot.get_or_insert(now);
    }
    if let Some(rank) = to.rank() {
        lead.reached_rank = std::cmp::max(lead.reached_rank, rank);
    }
    lead.stage = to.code().to_owned();
    lead.stage_changed_at = now;
    lead.updated_at = now;
    lead.version += 1;
}

/// Arguments of `transitionLead`.
pub struct TransitionRequest {
    pub to: LeadStage,
    pub reason: Option<String>,
    /// As the client wrote it: `validate::amount_cents` reads it.
    pub deal_amount: Option<String>,
    pub expected_version: Option<i32>,
}

/// `transitionLead`: check the table of §3, then apply in one transaction.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn transition(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    request: TransitionRequest,
) -> AppResult<lead::Model> {
    let reason = validate::text("reason", request.reason.as_deref(), validate::MAX_STRING)?;
    let deal_cents = request
        .deal_amount
        .map(|d| validate::amount_cents("dealAmount", &d))
        .transpose()?;
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    // Who may touch the lead comes before its version, the move after it.
    let action = LeadAction::Transition { to: request.to };
    policy::may_act_on(viewer, facts(&current)?, action).map_err(denied)?;
    check_version(&current, request.expected_version)?;
    let requirement = authorize(viewer, &current, action)?;
    match requirement {
        Requirement::Reason if reason.is_none() => {
            return Err(AppError::bad_input(
                "reason",
                "this transition needs a reason",
            ));
        }
        Requirement::Bant => {
            let missing = lifecycle::missing_bant(
                current.qual_budget,
                current.qual_need,
                current.qual_authority,
            );
            if !missing.is_empty() {
                return Err(AppError::InvalidTransition(format!(
                    "budget, need and authority must all be confirmed first; missing: {}",
                    missing.join(", ")
                )));
            }
        }
        _ => {}
    }
    if deal_cents.is_some() && requirement != Requirement::DealAmount {
        return Err(AppError::bad_input(
            "dealAmount",
            "a deal amount is only taken moving to OPPORTUNITY or CUSTOMER",
        ));
    }
    let saved = apply_transition(
        &txn,
        current,
        request.to,
        &viewer.subject,
        reason,
        deal_cents,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Apply an allowed transition: lead row, history, outbox — same transaction.
pub async fn apply_transition(
    txn: &impl ConnectionTrait,
    current: lead::Model,
    to: LeadStage,
    actor: &str,
    reason: Option<String>,
    deal_cents: Option<i64>,
) -> AppResult<lead::Model> {
    let now = validate::now();
    let from = LeadStage::from_code(&current.stage)?;
    let mut next = current.clone();
    apply_stage(&mut next, to, now);
    if let Some(cents) = deal_cents {
        next.deal_amount_cents = Some(cents);
    }
    next.disqualification_reason = if to == LeadStage::Disqualified {
        reason.clone()
    } else {
        None
    };
    let saved = save(txn, &current, next).await?;
    crate::events::record_stage_change(txn, &saved, Some(from), to, actor, reason, now).await?;
    Ok(saved)
}

/// `qualifyLead`: record BANT; an MQL with all three confirmed becomes SQL.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn qualify(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    input: Qualification,
) -> AppResult<lead::Model> {
    let timeline = validate::text(
        "input.timeline",
        input.timeline.as_deref(),
        validate::MAX_STRING,
    )?;
    let notes = validate::text("input.notes", input.notes.as_deref(), validate::MAX_NOTES)?;
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(viewer, &current, LeadAction::Qualify)?;
    let mut next = current.clone();
    next.qual_budget = input.budget.unwrap_or(current.qual_budget);
    next.qual_need = input.need.unwrap_or(current.qual_need);
    next.qual_authority = input.authority.unwrap_or(current.qual_authority);
    if input.timeline.is_some() {
        next.qual_timeline = timeline;
    }
    if input.notes.is_some() {
        next.qual_notes = notes;
    }
    next.updated_at = validate::now();
    next.version += 1;
    let mut saved = save(&txn, &current, next).await?;
    let complete =
        lifecycle::missing_bant(saved.qual_budget, saved.qual_need, saved.qual_authority)
            .is_empty();
    if complete && saved.stage == LeadStage::Mql.code() {
        saved = apply_transition(&txn, saved, LeadStage::Sql, &viewer.subject, None, None).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// `assignLead`: give the lead to a user, or release it (`None`).
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn assign(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    owner_id: Option<i64>,
) -> AppResult<lead::Model> {
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(
        viewer,
        &current,
        LeadAction::Assign {
            new_owner: owner_id,
        },
    )?;
    if let Some(owner_id) = owner_id {
        let exists = entity::app_user::Entity::find_by_id(owner_id)
            .one(&txn)
            .await?
            .is_some();
        if !exists {
            return Err(AppError::bad_input("ownerId", "no such user"));
        }
    }
    let mut next = current.clone();
    next.owner_id = owner_id;
    next.updated_at = validate::now();
    next.version += 1;
    let saved = save(&txn, &current, next).await?;
    txn.commit().await?;
    Ok(saved)
}
