//! Who may see or act on a lead: the policy's scope as SQL, and its
//! per-lead answers as errors.

use crate::auth::Viewer;
use crate::auth::policy::{self, Denied, LeadAction, LeadFacts, LeadScope};
use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::{LeadStage, Requirement};
use entity::lead;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

/// The SQL form of a [`LeadScope`]: row rules applied in the query itself.
pub fn scope_condition(scope: LeadScope) -> Condition {
    match scope {
        LeadScope::All => Condition::all(),
        LeadScope::Nothing => Condition::all().add(Expr::val(1).eq(0)),
        LeadScope::QualifiedOrOwnedBy(user) => Condition::any()
            .add(lead::Column::Stage.is_in(policy::SALES_VISIBLE_STAGES.iter().map(|s| s.code())))
            .add(lead::Column::OwnerId.eq(user)),
    }
}

pub fn facts(lead: &lead::Model) -> AppResult<LeadFacts> {
    Ok(LeadFacts {
        stage: LeadStage::from_code(&lead.stage)?,
        owner_id: lead.owner_id,
    })
}

pub(super) fn denied(denied: Denied) -> AppError {
    match denied {
        Denied::Invisible => AppError::not_found("lead"),
        Denied::Forbidden(message) => AppError::Forbidden(message),
        Denied::InvalidTransition(message) => AppError::InvalidTransition(message),
    }
}

/// `authorize_lead`, as an `AppError`.
pub fn authorize(
    viewer: &Viewer,
    lead: &lead::Model,
    action: LeadAction,
) -> AppResult<Requirement> {
    policy::authorize_lead(viewer, facts(lead)?, action).map_err(denied)
}

/// A lead the viewer may see.
pub async fn get(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<lead::Model>> {
    Ok(lead::Entity::find_by_id(id)
        .filter(scope_condition(policy::lead_scope(viewer)))
        .into_model::<lead::ByPosition>()
        .one(db)
        .await?
        .map(|row| row.0))
}
