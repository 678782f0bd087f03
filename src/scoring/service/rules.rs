//! Scoring rules: list, check, create, replace, delete.

use super::MAX_VALUES;
use super::rescore::{Selection, rescore_selection};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::interactions::kind::InteractionKind;
use crate::scoring::engine::{self};
use crate::validate;
use chrono::{DateTime, Utc};
use entity::scoring_rule;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use serde::Deserialize;

/// `scoringRules`: the rules in use, oldest first.
pub async fn list_rules(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
) -> AppResult<Vec<scoring_rule::Model>> {
    policy::require(viewer, Capability::ReadScoring)?;
    Ok(scoring_rule::Entity::find()
        .filter(scoring_rule::Column::DeletedAt.is_null())
        .order_by_asc(scoring_rule::Column::Id)
        .all(db)
        .await?)
}

/// A stored code of a rule row; an unknown one is a broken database.
fn stored<T>(
    m: &scoring_rule::Model,
    what: &str,
    code: &str,
    parse: fn(&str) -> Option<T>,
) -> AppResult<T> {
    parse(code).ok_or_else(|| {
        AppError::internal(format!(
            "unknown stored {what} {code:?} in scoring rule {}",
            m.id
        ))
    })
}

/// The FIT condition stored in a rule row, if it has one.
pub fn condition(m: &scoring_rule::Model) -> AppResult<Option<engine::FitCondition>> {
    let (Some(field), Some(op)) = (m.condition_field.as_deref(), m.condition_op.as_deref()) else {
        return Ok(None);
    };
    let field = stored(m, "condition field", field, engine::LeadField::parse)?;
    let op = stored(m, "condition operator", op, engine::ConditionOp::parse)?;
    let values = m
        .condition_values
        .as_ref()
        .and_then(|v| Vec::<String>::deserialize(v).ok())
        .unwrap_or_default();
    Ok(Some(engine::FitCondition { field, op, values }))
}

/// The kind stored in a rule row.
pub fn rule_kind(m: &scoring_rule::Model) -> AppResult<engine::RuleKind> {
    stored(m, "rule kind", &m.kind, engine::RuleKind::parse)
}

/// A rule row as the engine sees it.
pub fn to_engine(m: &scoring_rule::Model) -> AppResult<engine::Rule> {
    if let Some(code) = &m.interaction_kind {
        InteractionKind::from_code(code)?;
    }
    Ok(engine::Rule {
        id: m.id,
        points: m.points,
        active: m.active,
        kind: rule_kind(m)?,
        condition: condition(m)?,
        interaction_kind: m.interaction_kind.clone(),
        metadata_key: m.metadata_key.clone(),
        metadata_contains: m.metadata_contains.clone(),
        decay_half_life_days: m.decay_half_life_days,
        max_points_per_lead: m.max_points_per_lead,
    })
}

/// A whole rule as given (`createScoringRule`, `updateScoringRule`); the
/// service checks it.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub name: String,
    pub kind: engine::RuleKind,
    pub points: i32,
    pub active: bool,
    pub condition: Option<ConditionSpec>,
    pub interaction_kind: Option<InteractionKind>,
    pub metadata_key: Option<String>,
    pub metadata_contains: Option<String>,
    pub decay_half_life_days: Option<i32>,
    pub max_points_per_lead: Option<i32>,
}

/// A FIT condition as given.
#[derive(Clone, Debug)]
pub struct ConditionSpec {
    pub field: engine::LeadField,
    pub op: engine::ConditionOp,
    pub values: Vec<String>,
}

fn required_text(field: &str, value: &str) -> AppResult<String> {
    validate::text(field, Some(value), validate::MAX_STRING)?
        .ok_or_else(|| AppError::bad_input(field, format!("{field} must not be empty")))
}

/// Check a rule input: its name and the rule (id 0), or `BAD_USER_INPUT`
/// naming the field.
fn checked(input: &RuleSpec) -> AppResult<(String, engine::Rule)> {
    let name = required_text("input.name", &input.name)?;
    let condition = match &input.condition {
        None => None,
        Some(c) => {
            const FIELD: &str = "input.condition.values";
            if c.values.len() > MAX_VALUES {
                return Err(AppError::bad_input(
                    FIELD,
                    format!("{FIELD} holds at most {MAX_VALUES} values"),
                ));
            }
            let values = c
                .values
                .iter()
                .map(|v| required_text(FIELD, v))
                .collect::<AppResult<Vec<_>>>()?;
            Some(engine::FitCondition {
                field: c.field,
                op: c.op,
                values,
            })
        }
    };
    let rule = engine::Rule {
        id: 0,
        points: input.points,
        active: input.active,
        kind: input.kind,
        condition,
        interaction_kind: input.interaction_kind.map(|k| k.code().to_owned()),
        metadata_key: validate::text(
            "input.metadataKey",
            input.metadata_key.as_deref(),
            validate::MAX_STRING,
        )?,
        metadata_contains: validate::text(
            "input.metadataContains",
            input.metadata_contains.as_deref(),
            validate::MAX_STRING,
        )?,
        decay_half_life_days: input.decay_half_life_days,
        max_points_per_lead: input.max_points_per_lead,
    };
    engine::validate_rule(&rule).map_err(|e| AppError::bad_input(e.field, e.message))?;
    Ok((name, rule))
}

fn set_rule(
    am: &mut scoring_rule::ActiveModel,
    name: String,
    rule: &engine::Rule,
    now: DateTime<Utc>,
) {
    let condition = rule.condition.as_ref();
    am.name = Set(name);
    am.kind = Set(rule.kind.as_str().to_owned());
    am.points = Set(rule.points);
    am.active = Set(rule.active);
    am.condition_field = Set(condition.map(|c| c.field.as_str().to_owned()));
    am.condition_op = Set(condition.map(|c| c.op.as_str().to_owned()));
    am.condition_values = Set(condition.map(|c| serde_json::json!(c.values)));
    am.interaction_kind = Set(rule.interaction_kind.clone());
    am.metadata_key = Set(rule.metadata_key.clone());
    am.metadata_contains = Set(rule.metadata_contains.clone());
    am.decay_half_life_days = Set(rule.decay_half_life_days);
    am.max_points_per_lead = Set(rule.max_points_per_lead);
    am.updated_at = Set(now);
}

/// `createScoringRule`. It scores leads from the next rescoring on.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn create_rule(
    viewer: &Viewer,
    db: &DatabaseConnection,
    input: RuleSpec,
) -> AppResult<scoring_rule::Model> {
    policy::require(viewer, Capability::WriteScoring)?;
    let (name, rule) = checked(&input)?;
    let now = validate::now();
    let mut am = scoring_rule::ActiveModel {
        created_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    set_rule(&mut am, name, &rule, now);
    Ok(scoring_rule::Entity::insert(am)
        .exec_with_returning(db)
        .await?)
}

/// `updateScoringRule`: replace every field. It takes effect on the next rescoring.
#[tracing::instrument(skip_all, fields(rule_id = id))]
pub async fn update_rule(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    input: RuleSpec,
) -> AppResult<scoring_rule::Model> {
    policy::require(viewer, Capability::WriteScoring)?;
    let (name, rule) = checked(&input)?;
    let current = scoring_rule::Entity::find_by_id(id)
        .filter(scoring_rule::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("scoring rule"))?;
    let mut am: scoring_rule::ActiveModel = current.into();
    set_rule(&mut am, name, &rule, validate::now());
    // A deletion racing with this leaves a deleted rule deleted: harmless.
    match scoring_rule::Entity::update(am).exec(db).await {
        Ok(model) => Ok(model),
        Err(DbErr::RecordNotUpdated) => Err(AppError::not_found("scoring rule")),
        Err(err) => Err(err.into()),
    }
}

/// `deleteScoringRule`: the rule stops scoring at once, and every lead whose
/// breakdown names it is rescored before this returns (in batches). The row
/// stays as a tombstone, so a breakdown written by a rescoring that raced
/// with the deletion still names an existing rule until its next rescoring.
#[tracing::instrument(skip_all, fields(rule_id = id))]
pub async fn delete_rule(viewer: &Viewer, db: &Db, id: i64) -> AppResult<bool> {
    policy::require(viewer, Capability::WriteScoring)?;
    let now = validate::now();
    let deleted = scoring_rule::Entity::update_many()
        .col_expr(scoring_rule::Column::Active, Expr::value(false))
        .col_expr(scoring_rule::Column::DeletedAt, Expr::value(now))
        .col_expr(scoring_rule::Column::UpdatedAt, Expr::value(now))
        .filter(scoring_rule::Column::Id.eq(id))
        .filter(scoring_rule::Column::DeletedAt.is_null())
        .exec(&db.write)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::not_found("scoring rule"));
    }
    rescore_selection(db, &Selection::RuleInBreakdown(id), now).await?;
    Ok(true)
}
