//! Merging duplicates and erasing personal data.

use crate::auth::Viewer;
use crate::auth::policy::{self, Capability, LeadAction};
use crate::error::{AppError, AppResult};
use crate::global_id::{self, NodeType};
use crate::leads::lifecycle::LeadStage;
use crate::validate;
use entity::lead;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};

use super::access::authorize;
use super::store::{lock, save, search_text};
use super::transitions::apply_transition;

/// Rank for "the more advanced stage" of a merge: DISQUALIFIED is least.
fn advancement(stage: &str) -> AppResult<i32> {
    Ok(LeadStage::from_code(stage)?.rank().unwrap_or(0))
}

fn earliest(
    a: Option<chrono::DateTime<chrono::Utc>>,
    b: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(std::cmp::min(x, y)),
        (x, y) => x.or(y),
    }
}

/// `mergeLeads`: the duplicate's interactions and history move to the
/// primary, which gains the duplicate's filled fields it lacks and keeps the
/// more advanced stage; the duplicate is removed.
#[tracing::instrument(skip_all, fields(primary = primary_id, duplicate = duplicate_id))]
pub async fn merge(
    viewer: &Viewer,
    db: &DatabaseConnection,
    primary_id: i64,
    duplicate_id: i64,
) -> AppResult<lead::Model> {
    use entity::{interaction, stage_change};
    // The capability first: a role that may not merge learns nothing of
    // which ids exist; for the others a hidden lead is a missing one.
    policy::require(viewer, Capability::MergeLeads)?;
    if primary_id == duplicate_id {
        return Err(AppError::bad_input(
            "duplicateId",
            "a lead cannot be merged into itself",
        ));
    }
    let txn = db.begin().await?;
    let primary = lock(&txn, primary_id).await?;
    let duplicate = lock(&txn, duplicate_id).await?;
    authorize(viewer, &primary, LeadAction::Merge)?;
    authorize(viewer, &duplicate, LeadAction::Merge)?;
    let mut next = primary.clone();
    macro_rules! fill {
        ($($field:ident),*) => {$( if next.$field.is_none() { next.$field = duplicate.$field.clone(); } )*};
    }
    fill!(
        first_name,
        last_name,
        company,
        job_title,
        industry,
        company_size,
        country,
        phone,
        source_campaign_id,
        owner_id,
        qual_timeline,
        qual_notes,
        deal_amount_cents
    );
    next.qual_budget |= duplicate.qual_budget;
    next.qual_need |= duplicate.qual_need;
    next.qual_authority |= duplicate.qual_authority;
    next.reached_rank = std::cmp::max(primary.reached_rank, duplicate.reached_rank);
    next.mql_at = earliest(primary.mql_at, duplicate.mql_at);
    next.sql_at = earliest(primary.sql_at, duplicate.sql_at);
    next.opportunity_at = earliest(primary.opportunity_at, duplicate.opportunity_at);
    next.customer_at = earliest(primary.customer_at, duplicate.customer_at);
    next.search_text = search_text(&next);
    next.updated_at = validate::now();
    next.version += 1;

    interaction::Entity::update_many()
        .col_expr(interaction::Column::LeadId, Expr::val(primary_id))
        .filter(interaction::Column::LeadId.eq(duplicate_id))
        .exec(&txn)
        .await?;
    stage_change::Entity::update_many()
        .col_expr(stage_change::Column::LeadId, Expr::val(primary_id))
        .filter(stage_change::Column::LeadId.eq(duplicate_id))
        .exec(&txn)
        .await?;
    lead::Entity::delete_by_id(duplicate_id).exec(&txn).await?;
    let mut saved = save(&txn, &primary, next).await?;
    if advancement(&duplicate.stage)? > advancement(&primary.stage)? {
        let to = LeadStage::from_code(&duplicate.stage)?;
        let reason = Some(format!(
            "merged with {}",
            global_id::encode(NodeType::Lead, duplicate_id)
        ));
        if to == LeadStage::Opportunity || to == LeadStage::Customer {
            saved.deal_amount_cents = saved.deal_amount_cents.or(duplicate.deal_amount_cents);
        }
        saved = apply_transition(&txn, saved, to, &viewer.subject, reason, None).await?;
    }
    let saved = crate::scoring::service::rescore_lead(&txn, saved, validate::now()).await?;
    txn.commit().await?;
    Ok(saved)
}

/// `eraseLead` (GDPR): wipe personal data, keep what KPIs need; the email
/// becomes free for a new lead.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn erase(viewer: &Viewer, db: &DatabaseConnection, id: i64) -> AppResult<bool> {
    use entity::interaction;
    policy::require(viewer, Capability::EraseLeads)?;
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(viewer, &current, LeadAction::Erase)?;
    let mut next = current.clone();
    next.email = format!("erased-{id}@erased.invalid");
    next.first_name = None;
    next.last_name = None;
    next.phone = None;
    next.company = None;
    next.job_title = None;
    next.qual_notes = None;
    next.qual_timeline = None;
    next.search_text = String::new();
    next.updated_at = validate::now();
    next.version += 1;
    let saved = save(&txn, &current, next).await?;
    interaction::Entity::update_many()
        .col_expr(
            interaction::Column::Metadata,
            Expr::value(sea_orm::Value::Json(None)),
        )
        .filter(interaction::Column::LeadId.eq(id))
        .exec(&txn)
        .await?;
    crate::scoring::service::rescore_lead(&txn, saved, validate::now()).await?;
    txn.commit().await?;
    Ok(true)
}
