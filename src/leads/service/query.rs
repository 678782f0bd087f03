//! Lead lists: filters narrowed by the viewer's scope, keyset pages, the
//! lazy total count.

use crate::auth::Viewer;
use crate::auth::policy::{self};
use crate::error::AppResult;
use crate::leads::model::{Direction, KeyValue, LeadFilter, LeadQuery, OrderField};
use crate::validate;
use entity::lead;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::access::scope_condition;

/// Everything `totalCount` needs to count lazily.
#[derive(Clone, Debug)]
pub struct LeadCountQuery {
    condition: Condition,
}

impl LeadCountQuery {
    pub async fn count(&self, db: &impl ConnectionTrait) -> AppResult<i64> {
        let n = lead::Entity::find()
            .filter(self.condition.clone())
            .count(db)
            .await?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// One page of `leads`.
pub struct LeadPage {
    pub rows: Vec<lead::Model>,
    pub has_next: bool,
    pub count_query: LeadCountQuery,
}

fn filter_condition(viewer: &Viewer, filter: &LeadFilter) -> AppResult<Condition> {
    validate::list_lens(&[
        ("filter.stages", filter.stages.as_ref().map(Vec::len)),
        ("filter.channels", filter.channels.as_ref().map(Vec::len)),
        (
            "filter.personaIds",
            filter.persona_ids.as_ref().map(Vec::len),
        ),
        (
            "filter.campaignIds",
            filter.campaign_ids.as_ref().map(Vec::len),
        ),
    ])?;
    // The scope is one AND-ed term: filters narrow it, never widen it.
    let mut cond = Condition::all().add(scope_condition(policy::lead_scope(viewer)));
    if let Some(stages) = &filter.stages {
        cond = cond.add(lead::Column::Stage.is_in(stages.iter().map(|s| s.code())));
    }
    if let Some(owner) = filter.owner_id {
        cond = cond.add(lead::Column::OwnerId.eq(owner));
    }
    match filter.unassigned {
        Some(true) => cond = cond.add(lead::Column::OwnerId.is_null()),
        Some(false) => cond = cond.add(lead::Column::OwnerId.is_not_null()),
        None => {}
    }
    if let Some(ids) = &filter.persona_ids {
        cond = cond.add(lead::Column::PersonaId.is_in(ids.iter().copied()));
    }
    if let Some(ids) = &filter.campaign_ids {
        cond = cond.add(lead::Column::SourceCampaignId.is_in(ids.iter().copied()));
    }
    if let Some(channels) = &filter.channels {
        cond = cond.add(lead::Column::SourceChannel.is_in(channels.iter().map(|c| c.code())));
    }
    if let Some(min) = filter.score_min {
        cond = cond.add(lead::Column::Score.gte(min));
    }
    if let Some(max) = filter.score_max {
        cond = cond.add(lead::Column::Score.lte(max));
    }
    if let Some(from) = filter.created_from {
        cond = cond.add(lead::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        cond = cond.add(lead::Column::CreatedAt.lt(to));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        validate::text("filter.search", Some(search), validate::MAX_STRING)?;
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        cond = cond.add(
            Expr::col(lead::Column::SearchText)
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    Ok(cond)
}

fn order_column(field: OrderField) -> lead::Column {
    match field {
        OrderField::Score => lead::Column::Score,
        OrderField::CreatedAt => lead::Column::CreatedAt,
        OrderField::UpdatedAt => lead::Column::UpdatedAt,
        OrderField::StageChangedAt => lead::Column::StageChangedAt,
    }
}

/// `leads`: a keyset page — `(order column, id)` past the keyset, so a deep
/// page costs what the first one costs.
pub async fn list(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    query: &LeadQuery,
) -> AppResult<LeadPage> {
    let order = query.order;
    let condition = filter_condition(viewer, &query.filter)?;
    let column = order_column(order.field);
    let mut select = lead::Entity::find().filter(condition.clone());
    if let Some(after) = query.after {
        let value: sea_orm::Value = match after.value {
            KeyValue::Score(score) => score.into(),
            KeyValue::Time(time) => time.into(),
        };
        let left = Expr::tuple([Expr::col(column), Expr::col(lead::Column::Id)]);
        let right = Expr::tuple([Expr::val(value), Expr::val(after.id)]);
        select = select.filter(match order.direction {
            Direction::Asc => left.gt(right),
            Direction::Desc => left.lt(right),
        });
    }
    select = match order.direction {
        Direction::Asc => select.order_by_asc(column).order_by_asc(lead::Column::Id),
        Direction::Desc => select.order_by_desc(column).order_by_desc(lead::Column::Id),
    };
    let first = query.first;
    let mut rows: Vec<lead::Model> = select
        .limit(first + 1)
        .into_model::<lead::ByPosition>()
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.0)
        .collect();
    let has_next = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(LeadPage {
        rows,
        has_next,
        count_query: LeadCountQuery { condition },
    })
}
