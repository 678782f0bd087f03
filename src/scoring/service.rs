//! Scoring rules and settings, and rescoring (DESIGN.md §4, §5): one lead
//! inside the transaction of the write that changed it, or many leads in
//! batches of [`BATCH`] per transaction.
//!
//! Every rescoring goes through [`ScoringContext::rescore`]: the rules,
//! personas and threshold are read in the same transaction, the leads' row
//! locks are held (PostgreSQL `FOR UPDATE`; SQLite has one writer), the
//! interactions of the kinds that active ENGAGEMENT rules read are loaded in
//! one query per batch, changed scores are written in one statement per 500
//! leads, and a LEAD that reaches the threshold moves to MQL through
//! `apply_transition` like any other change. Scores are derived data: a
//! rescoring changes neither `version` nor `updatedAt`.

use super::engine::{self, Contribution, InteractionFact, LeadAttributes};
use super::types::ScoringRuleInput;
use crate::app::{AppState, Db, Loaders};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::{AppError, AppResult};
use crate::events::SCORING_ACTOR;
use crate::graphql::enum_name;
use crate::leads::lifecycle::LeadStage;
use crate::personas::fit::{self, PersonaCriteria};
use crate::validate;
use chrono::{DateTime, Utc};
use entity::{interaction, lead, scoring_rule, scoring_settings};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait, Value,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write as _;

/// `mqlThreshold` until someone sets it.
pub const DEFAULT_MQL_THRESHOLD: i32 = 50;
/// Leads per transaction of a bulk rescoring.
pub const BATCH: u64 = 1000;
/// Leads per `UPDATE` statement (7 parameters each).
const UPDATE_CHUNK: usize = 500;
/// At most this many values in a FIT condition.
pub const MAX_VALUES: usize = 100;
const SETTINGS_ID: i32 = 1;

// ---------------------------------------------------------------- rules

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

/// A rule by id for `node(id)`: `None` when deleted or the viewer may not read rules.
pub async fn visible_rule(
    viewer: &Viewer,
    loaders: &Loaders,
    id: i64,
) -> AppResult<Option<scoring_rule::Model>> {
    if !policy::allows(viewer.role, Capability::ReadScoring) {
        return Ok(None);
    }
    Ok(loaders
        .scoring_rules
        .load_one(id)
        .await?
        .filter(|r| r.deleted_at.is_none()))
}

/// The FIT condition stored in a rule row, if it has a readable one.
pub fn condition(m: &scoring_rule::Model) -> Option<engine::FitCondition> {
    let field = engine::LeadField::parse(m.condition_field.as_deref()?)?;
    let op = engine::ConditionOp::parse(m.condition_op.as_deref()?)?;
    let values = m
        .condition_values
        .as_ref()
        .and_then(|v| Vec::<String>::deserialize(v).ok())
        .unwrap_or_default();
    Some(engine::FitCondition { field, op, values })
}

/// A rule row as the engine sees it; `None` for a row it cannot read.
pub fn to_engine(m: &scoring_rule::Model) -> Option<engine::Rule> {
    let Some(kind) = engine::RuleKind::parse(&m.kind) else {
        tracing::error!(rule_id = m.id, kind = %m.kind, "unknown scoring rule kind in database");
        return None;
    };
    Some(engine::Rule {
        id: m.id,
        points: m.points,
        active: m.active,
        kind,
        condition: condition(m),
        interaction_kind: m.interaction_kind.clone(),
        metadata_key: m.metadata_key.clone(),
        metadata_contains: m.metadata_contains.clone(),
        decay_half_life_days: m.decay_half_life_days,
        max_points_per_lead: m.max_points_per_lead,
    })
}

fn required_text(field: &str, value: &str) -> AppResult<String> {
    validate::text(field, Some(value), validate::MAX_STRING)?
        .ok_or_else(|| AppError::bad_input(field, format!("{field} must not be empty")))
}

/// Check a rule input: its name and the rule (id 0), or `BAD_USER_INPUT`
/// naming the field.
fn checked(input: &ScoringRuleInput) -> AppResult<(String, engine::Rule)> {
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
                field: c.field.into(),
                op: c.op.into(),
                values,
            })
        }
    };
    let rule = engine::Rule {
        id: 0,
        points: input.points,
        active: input.active.unwrap_or(true),
        kind: input.kind.into(),
        condition,
        interaction_kind: input.interaction_kind.map(|k| enum_name(k).to_owned()),
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
    input: ScoringRuleInput,
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
    input: ScoringRuleInput,
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

// ------------------------------------------------------------- settings

/// The MQL threshold in force.
pub async fn mql_threshold(db: &impl ConnectionTrait) -> AppResult<i32> {
    Ok(scoring_settings::Entity::find_by_id(SETTINGS_ID)
        .one(db)
        .await?
        .map_or(DEFAULT_MQL_THRESHOLD, |s| s.mql_threshold))
}

/// `scoringSettings`: the threshold.
pub async fn settings(viewer: &Viewer, db: &impl ConnectionTrait) -> AppResult<i32> {
    policy::require(viewer, Capability::ReadScoring)?;
    mql_threshold(db).await
}

/// `updateScoringSettings`; it takes effect on the next rescoring.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn update_settings(
    viewer: &Viewer,
    db: &DatabaseConnection,
    mql_threshold: i32,
) -> AppResult<i32> {
    policy::require(viewer, Capability::WriteScoring)?;
    if mql_threshold < 1 {
        return Err(AppError::bad_input(
            "mqlThreshold",
            "mqlThreshold must be at least 1",
        ));
    }
    let row = scoring_settings::ActiveModel {
        id: Set(SETTINGS_ID),
        mql_threshold: Set(mql_threshold),
        updated_at: Set(validate::now()),
    };
    scoring_settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(scoring_settings::Column::Id)
                .update_columns([
                    scoring_settings::Column::MqlThreshold,
                    scoring_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(mql_threshold)
}

// ------------------------------------------------------------ rescoring

/// What a bulk rescoring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RescoreCounts {
    /// Leads scored again.
    pub leads_rescored: u64,
    /// Leads moved from LEAD to MQL.
    pub promoted_to_mql: u64,
}

/// Which leads a bulk rescoring visits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    All,
    /// Leads matched to this persona.
    Persona(i64),
    /// Leads whose breakdown names this rule.
    RuleInBreakdown(i64),
}

impl Selection {
    fn condition(self, backend: DbBackend) -> Condition {
        match self {
            Selection::All => Condition::all(),
            Selection::Persona(id) => Condition::all().add(lead::Column::PersonaId.eq(id)),
            // An i64 formatted into the SQL: nothing to escape.
            Selection::RuleInBreakdown(id) => Condition::all().add(Expr::cust(match backend {
                DbBackend::Postgres => format!(
                    "EXISTS (SELECT 1 FROM json_array_elements(\"lead\".\"score_breakdown\") AS e(item) \
                     WHERE e.item->>'ruleId' = '{id}')"
                ),
                _ => format!(
                    "EXISTS (SELECT 1 FROM json_each(\"lead\".\"score_breakdown\") AS e \
                     WHERE json_extract(e.value, '$.ruleId') = {id})"
                ),
            })),
        }
    }
}

/// Everything scoring reads besides the lead and its interactions.
#[derive(Clone, Debug)]
pub struct ScoringContext {
    /// Active rules the engine can read.
    pub rules: Vec<engine::Rule>,
    /// Personas in use, oldest first.
    pub personas: Vec<PersonaCriteria>,
    pub mql_threshold: i32,
    /// Interaction kinds that active ENGAGEMENT rules read: nothing else is loaded.
    kinds: Vec<String>,
    /// Of those, the kinds whose rules look at metadata.
    metadata_kinds: Vec<String>,
}

/// The interactions to load: of these leads, or of the leads in an id range.
enum LeadSet<'a> {
    Ids(&'a [i64]),
    Range(i64, i64),
}

/// The scored columns of one lead, as written.
struct ScoreRow {
    id: i64,
    score: i32,
    fit_score: i32,
    engagement_score: i32,
    breakdown: String,
    persona_id: Option<i64>,
    icp_fit: Option<f64>,
}

impl ScoringContext {
    /// Read the active rules, the personas and the threshold.
    pub async fn load(db: &impl ConnectionTrait) -> AppResult<ScoringContext> {
        let rules: Vec<engine::Rule> = scoring_rule::Entity::find()
            .filter(scoring_rule::Column::Active.eq(true))
            .filter(scoring_rule::Column::DeletedAt.is_null())
            .order_by_asc(scoring_rule::Column::Id)
            .all(db)
            .await?
            .iter()
            .filter_map(to_engine)
            .collect();
        let mut kinds = Vec::new();
        let mut metadata_kinds = Vec::new();
        for rule in rules
            .iter()
            .filter(|r| r.kind == engine::RuleKind::Engagement)
        {
            if let Some(kind) = &rule.interaction_kind {
                kinds.push(kind.clone());
                if rule.metadata_key.is_some() {
                    metadata_kinds.push(kind.clone());
                }
            }
        }
        for list in [&mut kinds, &mut metadata_kinds] {
            list.sort_unstable();
            list.dedup();
        }
        Ok(ScoringContext {
            rules,
            personas: crate::personas::service::criteria_in_use(db).await?,
            mql_threshold: mql_threshold(db).await?,
            kinds,
            metadata_kinds,
        })
    }

    /// The lead with its score, breakdown, persona and ICP fit recomputed at `now`.
    pub fn evaluate(
        &self,
        lead: &lead::Model,
        interactions: &[InteractionFact],
        now: DateTime<Utc>,
    ) -> lead::Model {
        let attributes = LeadAttributes {
            job_title: lead.job_title.clone(),
            industry: lead.industry.clone(),
            country: lead.country.clone(),
            email: lead.email.clone(),
            company_size: lead.company_size,
        };
        let score = engine::score(&self.rules, &attributes, interactions, now);
        let persona = fit::best_persona(&self.personas, &attributes);
        let mut next = lead.clone();
        next.score = score.score;
        next.fit_score = score.fit_score;
        next.engagement_score = score.engagement_score;
        next.score_breakdown = breakdown_json(&score.breakdown);
        next.persona_id = persona.map(|(id, _)| id);
        next.icp_fit = persona.map(|(_, f)| f);
        next
    }

    /// The interactions the rules read, by lead; one query.
    async fn load_facts(
        &self,
        db: &impl ConnectionTrait,
        set: LeadSet<'_>,
    ) -> AppResult<HashMap<i64, Vec<InteractionFact>>> {
        let mut facts: HashMap<i64, Vec<InteractionFact>> = HashMap::new();
        if self.kinds.is_empty() {
            return Ok(facts);
        }
        let leads = match set {
            LeadSet::Ids(ids) => interaction::Column::LeadId.is_in(ids.iter().copied()),
            LeadSet::Range(first, last) => interaction::Column::LeadId.between(first, last),
        };
        let query = interaction::Entity::find()
            .select_only()
            .column(interaction::Column::LeadId)
            .column(interaction::Column::Kind)
            .column(interaction::Column::OccurredAt)
            .filter(leads)
            .filter(interaction::Column::Kind.is_in(self.kinds.iter().map(String::as_str)));
        let mut push = |lead_id: i64, kind, occurred_at, metadata| {
            facts.entry(lead_id).or_default().push(InteractionFact {
                kind,
                occurred_at,
                metadata,
            })
        };
        if self.metadata_kinds.is_empty() {
            let rows: Vec<(i64, String, DateTime<Utc>)> = query.into_tuple().all(db).await?;
            for (lead_id, kind, occurred_at) in rows {
                push(lead_id, kind, occurred_at, None);
            }
        } else {
            // Metadata is parsed only where a rule looks at it.
            let metadata = Expr::case(
                interaction::Column::Kind.is_in(self.metadata_kinds.iter().map(String::as_str)),
                Expr::col(interaction::Column::Metadata),
            );
            let rows: Vec<(i64, String, DateTime<Utc>, Option<serde_json::Value>)> = query
                .expr_as(metadata, "metadata")
                .into_tuple()
                .all(db)
                .await?;
            for (lead_id, kind, occurred_at, metadata) in rows {
                push(lead_id, kind, occurred_at, metadata);
            }
        }
        Ok(facts)
    }

    /// Rescore `leads` (locked by the caller, ordered by id) inside `txn`:
    /// write the changed scores, promote to MQL. Returns the leads as stored
    /// and how many were promoted.
    async fn rescore(
        &self,
        txn: &impl ConnectionTrait,
        leads: Vec<lead::Model>,
        set: LeadSet<'_>,
        now: DateTime<Utc>,
    ) -> AppResult<(Vec<lead::Model>, u64)> {
        let mut facts = self.load_facts(txn, set).await?;
        let lead_stage = enum_name(LeadStage::Lead);
        let mut rows = Vec::new();
        let mut promote = Vec::new();
        let mut out = Vec::with_capacity(leads.len());
        for lead in leads {
            let interactions = facts.remove(&lead.id).unwrap_or_default();
            let next = self.evaluate(&lead, &interactions, now);
            if scores_differ(&lead, &next) {
                rows.push(ScoreRow {
                    id: next.id,
                    score: next.score,
                    fit_score: next.fit_score,
                    engagement_score: next.engagement_score,
                    breakdown: next.score_breakdown.to_string(),
                    persona_id: next.persona_id,
                    icp_fit: next.icp_fit,
                });
            }
            if engine::reaches_mql(next.stage == lead_stage, next.score, self.mql_threshold) {
                promote.push(out.len());
            }
            out.push(next);
        }
        write_scores(txn, &rows).await?;
        for &i in &promote {
            out[i] = crate::leads::service::apply_transition(
                txn,
                out[i].clone(),
                LeadStage::Mql,
                SCORING_ACTOR,
                None,
                None,
            )
            .await?;
        }
        Ok((out, promote.len() as u64))
    }
}

fn breakdown_json(breakdown: &[Contribution]) -> serde_json::Value {
    serde_json::Value::Array(
        breakdown
            .iter()
            .map(|c| serde_json::json!({"ruleId": c.rule_id, "points": c.points}))
            .collect(),
    )
}

fn scores_differ(a: &lead::Model, b: &lead::Model) -> bool {
    a.score != b.score
        || a.fit_score != b.fit_score
        || a.engagement_score != b.engagement_score
        || a.persona_id != b.persona_id
        || a.icp_fit != b.icp_fit
        || a.score_breakdown != b.score_breakdown
}

/// Write scored columns: one `UPDATE … FROM (VALUES …)` per chunk, the same
/// SQL on both databases (SQLite ≥ 3.33 has `UPDATE … FROM`).
async fn write_scores(db: &impl ConnectionTrait, rows: &[ScoreRow]) -> AppResult<()> {
    let backend = db.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    for chunk in rows.chunks(UPDATE_CHUNK) {
        let mut sql = String::with_capacity(200 + chunk.len() * 48);
        sql.push_str(
            "WITH v (id, score, fit_score, engagement_score, score_breakdown, persona_id, icp_fit) AS (VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 7);
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for c in 0..7 {
                if c > 0 {
                    sql.push_str(", ");
                }
                if postgres {
                    let _ = write!(sql, "${}", values.len() + c + 1);
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
            values.extend([
                Value::from(row.id),
                Value::from(row.score),
                Value::from(row.fit_score),
                Value::from(row.engagement_score),
                Value::from(row.breakdown.clone()),
                Value::from(row.persona_id),
                Value::from(row.icp_fit),
            ]);
        }
        let breakdown = if postgres {
            "CAST(v.score_breakdown AS json)"
        } else {
            "v.score_breakdown"
        };
        let _ = write!(
            sql,
            ") UPDATE lead SET score = v.score, fit_score = v.fit_score, \
             engagement_score = v.engagement_score, score_breakdown = {breakdown}, \
             persona_id = v.persona_id, icp_fit = v.icp_fit FROM v WHERE lead.id = v.id"
        );
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// Load leads for change, locking their rows until the transaction ends
/// (PostgreSQL `FOR UPDATE`, in id order so that lockers never deadlock each
/// other; SQLite has a single writer). Missing ids are skipped.
pub async fn lock_leads(
    txn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> AppResult<Vec<lead::Model>> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = lead::Entity::find()
        .filter(lead::Column::Id.is_in(ids))
        .order_by_asc(lead::Column::Id);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.all(txn).await?)
}

/// Rescore leads the caller has locked (see [`lock_leads`]) inside its
/// transaction, with their interactions loaded in one query; a LEAD that
/// reaches the threshold moves to MQL. Returns the leads as stored.
pub async fn rescore_leads(
    txn: &impl ConnectionTrait,
    leads: Vec<lead::Model>,
    now: DateTime<Utc>,
) -> AppResult<Vec<lead::Model>> {
    if leads.is_empty() {
        return Ok(leads);
    }
    let context = ScoringContext::load(txn).await?;
    let ids: Vec<i64> = leads.iter().map(|l| l.id).collect();
    let (stored, _) = context.rescore(txn, leads, LeadSet::Ids(&ids), now).await?;
    Ok(stored)
}

/// Rescore one lead inside the transaction of the write that changed it (the
/// caller holds its row lock, or just inserted it); returns it as stored.
pub async fn rescore_lead(
    txn: &impl ConnectionTrait,
    lead: lead::Model,
    now: DateTime<Utc>,
) -> AppResult<lead::Model> {
    rescore_leads(txn, vec![lead], now)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("rescoring lost its lead"))
}

/// Rescore every lead of `selection`: [`BATCH`] leads per transaction, in id
/// order, each batch locked only for its own transaction.
pub async fn rescore_selection(
    db: &Db,
    selection: &Selection,
    now: DateTime<Utc>,
) -> AppResult<RescoreCounts> {
    let backend = db.backend();
    let mut counts = RescoreCounts::default();
    let mut after = 0_i64;
    loop {
        let txn = db.write.begin().await?;
        let mut query = lead::Entity::find()
            .filter(lead::Column::Id.gt(after))
            .filter(selection.condition(backend))
            .order_by_asc(lead::Column::Id)
            .limit(BATCH);
        if backend == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let leads = query.all(&txn).await?;
        let (Some(first), Some(last)) = (leads.first().map(|l| l.id), leads.last().map(|l| l.id))
        else {
            txn.commit().await?;
            break;
        };
        let full = leads.len() as u64 == BATCH;
        let context = ScoringContext::load(&txn).await?;
        let ids: Vec<i64>;
        let set = if *selection == Selection::All {
            // Every lead in the range is in the batch: a range scan, no list.
            LeadSet::Range(first, last)
        } else {
            ids = leads.iter().map(|l| l.id).collect();
            LeadSet::Ids(&ids)
        };
        counts.leads_rescored += leads.len() as u64;
        let (_, promoted) = context.rescore(&txn, leads, set, now).await?;
        txn.commit().await?;
        counts.promoted_to_mql += promoted;
        after = last;
        if !full {
            break;
        }
    }
    Ok(counts)
}

/// Rescore every lead (`rescoreLeads`, the periodic job, the bench).
#[tracing::instrument(skip_all)]
pub async fn rescore_all(db: &Db, now: DateTime<Utc>) -> AppResult<RescoreCounts> {
    let started = std::time::Instant::now();
    let counts = rescore_selection(db, &Selection::All, now).await?;
    tracing::info!(
        leads = counts.leads_rescored,
        promoted = counts.promoted_to_mql,
        seconds = started.elapsed().as_secs_f64(),
        "rescored all leads"
    );
    Ok(counts)
}

/// `rescoreLeads`.
pub async fn rescore(viewer: &Viewer, db: &Db) -> AppResult<RescoreCounts> {
    policy::require(viewer, Capability::WriteScoring)?;
    rescore_all(db, validate::now()).await
}

/// Start the periodic rescoring (`LEADGRAPH_RESCORE_INTERVAL`; zero: off),
/// which also applies decay. Its first run is one interval after start; the
/// events of the leads it promotes are dispatched right after each run.
pub fn spawn_periodic(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.config.rescore_interval;
    if every.is_zero() {
        return None;
    }
    let (db, events) = (state.db.clone(), state.events.clone());
    Some(tokio::spawn(async move {
        let start = tokio::time::Instant::now() + every;
        let mut ticker = tokio::time::interval_at(start, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match rescore_all(&db, validate::now()).await {
                Ok(counts) if counts.promoted_to_mql > 0 => events.wake(),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "periodic rescoring failed; retrying at the next interval")
                }
            }
        }
    }))
}

// ------------------------------------------------------------ breakdown

/// `Lead.scoreBreakdown`: each contribution with its rule, through the
/// request's rule loader (one query for a whole page of leads).
pub async fn breakdown(
    loaders: &Loaders,
    lead: &lead::Model,
) -> AppResult<Vec<(scoring_rule::Model, i32)>> {
    let contributions = match Vec::<Contribution>::deserialize(&lead.score_breakdown) {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(lead_id = lead.id, error = %err, "unreadable score breakdown");
            return Ok(Vec::new());
        }
    };
    if contributions.is_empty() {
        return Ok(Vec::new());
    }
    let rules = loaders
        .scoring_rules
        .load_many(contributions.iter().map(|c| c.rule_id))
        .await?;
    Ok(contributions
        .into_iter()
        .filter_map(|c| match rules.get(&c.rule_id) {
            Some(rule) => Some((rule.clone(), c.points)),
            None => {
                tracing::error!(
                    lead_id = lead.id,
                    rule_id = c.rule_id,
                    "score breakdown names a missing rule"
                );
                None
            }
        })
        .collect())
}
