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
use crate::app::{AppState, Loaders};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::events::{self, SCORING_ACTOR};
use crate::interactions::kind::InteractionKind;
use crate::leads::lifecycle::LeadStage;
use crate::personas::fit::{self, PersonaCriteria};
use crate::validate;
use chrono::{DateTime, Utc};
use entity::{lead, scoring_rule, scoring_settings};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait, Value,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write as _;

/// `mqlThreshold` until someone sets it.
pub const DEFAULT_MQL_THRESHOLD: i32 = 50;
/// Leads per transaction of a bulk rescoring.
pub const BATCH: u64 = 1000;
/// At most this many values in a FIT condition.
pub const MAX_VALUES: usize = validate::MAX_LIST;
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

/// A stored code of a rule row; an unknown one is a broken database.
fn stored<T>(
    m: &scoring_rule::Model,
    what: &str,
    code: &str,
    parse: fn(&str) -> Option<T>,
) -> AppResult<T> {
    parse(code).ok_or_else(|| {
        AppError::Internal(format!(
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
        interaction_kind: input
            .interaction_kind
            .map(|k| InteractionKind::from(k).code().to_owned()),
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

/// What scoring reads of a lead, and the scored columns it writes back.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct LeadScore {
    pub id: i64,
    pub email: String,
    pub job_title: Option<String>,
    pub industry: Option<String>,
    pub country: Option<String>,
    pub company_size: Option<i32>,
    pub stage: String,
    pub score: i32,
    pub fit_score: i32,
    pub engagement_score: i32,
    pub score_breakdown: entity::lead::ScoreBreakdown,
    pub persona_id: Option<i64>,
    pub icp_fit: Option<f64>,
}

impl From<&lead::Model> for LeadScore {
    fn from(m: &lead::Model) -> Self {
        LeadScore {
            id: m.id,
            email: m.email.clone(),
            job_title: m.job_title.clone(),
            industry: m.industry.clone(),
            country: m.country.clone(),
            company_size: m.company_size,
            stage: m.stage.clone(),
            score: m.score,
            fit_score: m.fit_score,
            engagement_score: m.engagement_score,
            score_breakdown: m.score_breakdown.clone(),
            persona_id: m.persona_id,
            icp_fit: m.icp_fit,
        }
    }
}

impl LeadScore {
    /// The columns a bulk rescoring reads, instead of whole leads.
    fn columns() -> [lead::Column; 13] {
        use lead::Column as C;
        [
            C::Id,
            C::Email,
            C::JobTitle,
            C::Industry,
            C::Country,
            C::CompanySize,
            C::Stage,
            C::Score,
            C::FitScore,
            C::EngagementScore,
            C::ScoreBreakdown,
            C::PersonaId,
            C::IcpFit,
        ]
    }

    fn same_scores(&self, other: &LeadScore) -> bool {
        self.score == other.score
            && self.fit_score == other.fit_score
            && self.engagement_score == other.engagement_score
            && self.persona_id == other.persona_id
            && self.icp_fit == other.icp_fit
            && self.score_breakdown == other.score_breakdown
    }

    /// Copy the scored columns into a lead.
    fn apply(self, lead: &mut lead::Model) {
        lead.score = self.score;
        lead.fit_score = self.fit_score;
        lead.engagement_score = self.engagement_score;
        lead.score_breakdown = self.score_breakdown;
        lead.persona_id = self.persona_id;
        lead.icp_fit = self.icp_fit;
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

/// Raw SQL with backend placeholders (`$n` on PostgreSQL, `?` on SQLite).
struct Sql {
    text: String,
    values: Vec<Value>,
    postgres: bool,
}

impl Sql {
    fn new(backend: DbBackend) -> Sql {
        Sql {
            text: String::with_capacity(256),
            values: Vec::new(),
            postgres: backend == DbBackend::Postgres,
        }
    }

    fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// A bound parameter.
    fn param(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        if self.postgres {
            let _ = write!(self.text, "${}", self.values.len());
        } else {
            self.text.push('?');
        }
        self
    }

    /// `(p, p, …)` of strings.
    fn list(&mut self, items: &[String]) -> &mut Sql {
        self.push("(");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.param(item.clone());
        }
        self.push(")")
    }

    fn statement(self, backend: DbBackend) -> Statement {
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}

/// One interaction as the aggregate query returns it: `[kind, occurredAt, metadata]`.
#[derive(Deserialize)]
struct FactRow(String, DateTime<Utc>, Option<serde_json::Value>);

/// What rescoring a set of leads found.
struct Outcome {
    /// The new scored columns, in the order of the leads given.
    scores: Vec<LeadScore>,
    /// Indexes of the leads whose scored columns change.
    changed: Vec<usize>,
    /// Indexes of the leads that move to MQL.
    promote: Vec<usize>,
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
            .map(to_engine)
            .collect::<AppResult<_>>()?;
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

    /// The lead's score, breakdown, persona and ICP fit at `now`.
    pub fn evaluate(
        &self,
        lead: &LeadScore,
        interactions: &[InteractionFact],
        now: DateTime<Utc>,
    ) -> LeadScore {
        let attributes = LeadAttributes {
            job_title: lead.job_title.clone(),
            industry: lead.industry.clone(),
            country: lead.country.clone(),
            email: lead.email.clone(),
            company_size: lead.company_size,
        };
        let score = engine::score(&self.rules, &attributes, interactions, now);
        let persona = fit::best_persona(&self.personas, &attributes);
        LeadScore {
            score: score.score,
            fit_score: score.fit_score,
            engagement_score: score.engagement_score,
            score_breakdown: breakdown_json(&score.breakdown),
            persona_id: persona.map(|(id, _)| id),
            icp_fit: persona.map(|(_, f)| f),
            ..lead.clone()
        }
    }

    /// The interactions the rules read, by lead, in one query. SQLite pays
    /// dearly per row fetched, so there the database folds each lead's
    /// interactions into one JSON array; PostgreSQL returns plain rows, which
    /// cost it less than building JSON.
    ///
    /// Metadata that cannot be decoded (deeper than serde_json reads: stored
    /// before its depth was bounded, or by hand) never fails a rescoring: it
    /// is logged and read as absent. On SQLite such a lead's array is read
    /// again as plain rows, so only the bad interaction loses its metadata.
    async fn load_facts(
        &self,
        db: &impl ConnectionTrait,
        set: LeadSet<'_>,
    ) -> AppResult<HashMap<i64, Vec<InteractionFact>>> {
        let mut facts: HashMap<i64, Vec<InteractionFact>> = HashMap::new();
        if self.kinds.is_empty() {
            return Ok(facts);
        }
        let backend = db.get_database_backend();
        if backend == DbBackend::Postgres {
            return self.plain_facts(db, set).await;
        }
        let mut sql = Sql::new(backend);
        sql.push("SELECT lead_id, json_group_array(json_array(kind, occurred_at, ");
        if self.metadata_kinds.is_empty() {
            sql.push("NULL");
        } else {
            // Metadata travels only where a rule looks at it.
            sql.push("CASE WHEN kind IN ")
                .list(&self.metadata_kinds)
                .push(" THEN json(metadata) END");
        }
        sql.push(")) FROM interaction WHERE ");
        self.facts_filter(&mut sql, set);
        sql.push(" GROUP BY lead_id");
        let mut unreadable = Vec::new();
        for row in db.query_all_raw(sql.statement(backend)).await? {
            let lead_id: i64 = row.try_get_by_index(0)?;
            let json: String = row.try_get_by_index(1)?;
            let rows: Vec<FactRow> = match serde_json::from_str(&json) {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(lead_id, error = %err, "undecodable interaction metadata; reading the lead's interactions one by one");
                    unreadable.push(lead_id);
                    continue;
                }
            };
            facts.insert(
                lead_id,
                rows.into_iter()
                    .map(|FactRow(kind, occurred_at, metadata)| InteractionFact {
                        kind,
                        occurred_at,
                        metadata,
                    })
                    .collect(),
            );
        }
        if !unreadable.is_empty() {
            facts.extend(self.plain_facts(db, LeadSet::Ids(&unreadable)).await?);
        }
        Ok(facts)
    }

    /// `lead_id IN (…)` or `BETWEEN`, and the kinds the rules read.
    fn facts_filter(&self, sql: &mut Sql, set: LeadSet<'_>) {
        match set {
            LeadSet::Ids(ids) => {
                sql.push("lead_id IN (");
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.param(*id);
                }
                sql.push(")");
            }
            LeadSet::Range(first, last) => {
                sql.push("lead_id BETWEEN ")
                    .param(first)
                    .push(" AND ")
                    .param(last);
            }
        }
        sql.push(" AND kind IN ").list(&self.kinds);
    }

    /// The facts as one row per interaction, metadata decoded row by row.
    async fn plain_facts(
        &self,
        db: &impl ConnectionTrait,
        set: LeadSet<'_>,
    ) -> AppResult<HashMap<i64, Vec<InteractionFact>>> {
        let backend = db.get_database_backend();
        let mut sql = Sql::new(backend);
        sql.push("SELECT lead_id, kind, occurred_at, ");
        if self.metadata_kinds.is_empty() {
            sql.push(if sql.postgres {
                "CAST(NULL AS json)"
            } else {
                "NULL"
            });
        } else {
            sql.push("CASE WHEN kind IN ")
                .list(&self.metadata_kinds)
                .push(" THEN metadata END");
        }
        sql.push(" FROM interaction WHERE ");
        self.facts_filter(&mut sql, set);
        let mut facts: HashMap<i64, Vec<InteractionFact>> = HashMap::new();
        for row in db.query_all_raw(sql.statement(backend)).await? {
            let lead_id: i64 = row.try_get_by_index(0)?;
            let metadata = match row.try_get_by_index::<Option<serde_json::Value>>(3) {
                Ok(metadata) => metadata,
                Err(err) => {
                    tracing::warn!(lead_id, error = %err, "undecodable interaction metadata, scored as absent");
                    None
                }
            };
            facts.entry(lead_id).or_default().push(InteractionFact {
                kind: row.try_get_by_index(1)?,
                occurred_at: row.try_get_by_index(2)?,
                metadata,
            });
        }
        Ok(facts)
    }

    /// Score `leads` with their interactions: no I/O.
    fn evaluate_all(
        &self,
        leads: &[LeadScore],
        mut facts: HashMap<i64, Vec<InteractionFact>>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let lead_stage = LeadStage::Lead.code();
        let mut outcome = Outcome {
            scores: Vec::with_capacity(leads.len()),
            changed: Vec::new(),
            promote: Vec::new(),
        };
        for (i, lead) in leads.iter().enumerate() {
            let interactions = facts.remove(&lead.id).unwrap_or_default();
            let next = self.evaluate(lead, &interactions, now);
            if !next.same_scores(lead) {
                outcome.changed.push(i);
            }
            if engine::reaches_mql(next.stage == lead_stage, next.score, self.mql_threshold) {
                outcome.promote.push(i);
            }
            outcome.scores.push(next);
        }
        outcome
    }

    /// Rescore `leads` (locked by the caller) inside `txn` and write the
    /// changed scores, except those of the leads that reach MQL when
    /// `promotions_write_scores` (their promotion writes them); moving
    /// them to MQL is for the caller.
    async fn rescore(
        &self,
        txn: &impl ConnectionTrait,
        leads: &[LeadScore],
        set: LeadSet<'_>,
        now: DateTime<Utc>,
        promotions_write_scores: bool,
    ) -> AppResult<Outcome> {
        let facts = self.load_facts(txn, set).await?;
        let outcome = self.evaluate_all(leads, facts, now);
        let rows: Vec<&LeadScore> = outcome
            .changed
            .iter()
            .filter(|i| !(promotions_write_scores && outcome.promote.contains(i)))
            .map(|&i| &outcome.scores[i])
            .collect();
        write_scores(txn, &rows).await?;
        Ok(outcome)
    }
}

fn breakdown_json(breakdown: &[Contribution]) -> entity::lead::ScoreBreakdown {
    entity::lead::ScoreBreakdown(
        breakdown
            .iter()
            .map(|c| entity::lead::RuleShare {
                rule_id: c.rule_id,
                points: c.points,
            })
            .collect(),
    )
}

/// `WITH v (columns) AS (VALUES (…), …) UPDATE lead SET … FROM v WHERE
/// lead.id = v.id`, the same on both databases (SQLite ≥ 3.33 has
/// `UPDATE … FROM`); `rows` gives one tuple of values per lead.
async fn update_from_values(
    db: &impl ConnectionTrait,
    columns: &[&str],
    set: &str,
    guard: &str,
    rows: impl ExactSizeIterator<Item = Vec<Value>>,
) -> AppResult<u64> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("WITH v (")
        .push(&columns.join(", "))
        .push(") AS (VALUES ");
    for (i, row) in rows.enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        for (c, value) in row.into_iter().enumerate() {
            if c > 0 {
                sql.push(", ");
            }
            sql.param(value);
        }
        sql.push(")");
    }
    sql.push(") UPDATE lead SET ")
        .push(set)
        .push(" FROM v WHERE lead.id = v.id")
        .push(guard);
    Ok(db
        .execute_raw(sql.statement(backend))
        .await?
        .rows_affected())
}

/// The `score_breakdown` column of a `VALUES` list, as the table's type
/// (PostgreSQL sends the JSON text as text).
fn breakdown_from_values(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "CAST(v.score_breakdown AS json)",
        _ => "v.score_breakdown",
    }
}

/// Write scored columns, a few dozen leads per statement (see [`crate::db::rows_per_statement`]).
async fn write_scores(db: &impl ConnectionTrait, rows: &[&LeadScore]) -> AppResult<()> {
    let breakdown = breakdown_from_values(db.get_database_backend());
    let set = format!(
        "score = v.score, fit_score = v.fit_score, engagement_score = v.engagement_score, \
         score_breakdown = {breakdown}, persona_id = v.persona_id, icp_fit = v.icp_fit"
    );
    let columns = [
        "id",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "persona_id",
        "icp_fit",
    ];
    for chunk in rows.chunks(crate::db::rows_per_statement(db.get_database_backend())) {
        let values = chunk.iter().map(|row| {
            vec![
                Value::from(row.id),
                Value::from(row.score),
                Value::from(row.fit_score),
                Value::from(row.engagement_score),
                Value::from(row.score_breakdown.to_json()),
                Value::from(row.persona_id),
                Value::from(row.icp_fit),
            ]
        });
        update_from_values(db, &columns, &set, "", values).await?;
    }
    Ok(())
}

/// Move many locked LEADs to MQL by `system:scoring` at once, with their
/// new scores: exactly what `rescore_leads` and `apply_transition` write for
/// one (scores, stage, milestone, version; history, outbox event and NOTIFY
/// on PostgreSQL through `events::record_stage_changes`), but one row
/// version per lead and a few statements per 500 leads instead of five
/// statements per lead.
async fn promote_many(txn: &impl ConnectionTrait, scored: Vec<LeadScore>) -> AppResult<u64> {
    if scored.is_empty() {
        return Ok(0);
    }
    let now = validate::now();
    let from = LeadStage::Lead.code();
    let mut scores: HashMap<i64, LeadScore> = scored.into_iter().map(|s| (s.id, s)).collect();
    let current = lead::Entity::find()
        .filter(lead::Column::Id.is_in(scores.keys().copied()))
        .filter(lead::Column::Stage.eq(from))
        .order_by_asc(lead::Column::Id)
        .all(txn)
        .await?;
    let pairs: Vec<(&lead::Model, lead::Model)> = current
        .iter()
        .filter_map(|lead| {
            let mut next = lead.clone();
            scores.remove(&lead.id)?.apply(&mut next);
            crate::leads::service::apply_stage(&mut next, LeadStage::Mql, now);
            next.disqualification_reason = None;
            Some((lead, next))
        })
        .collect();
    // Not at LEAD any more (cannot happen under the lock): scores only.
    let rest: Vec<&LeadScore> = scores.values().collect();
    write_scores(txn, &rest).await?;
    let breakdown = breakdown_from_values(txn.get_database_backend());
    let columns = [
        "id",
        "version",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "persona_id",
        "icp_fit",
        "stage",
        "reached_rank",
        "mql_at",
        "stage_changed_at",
        "updated_at",
        "next_version",
    ];
    let set = format!(
        "score = v.score, fit_score = v.fit_score, engagement_score = v.engagement_score, \
         score_breakdown = {breakdown}, persona_id = v.persona_id, icp_fit = v.icp_fit, \
         stage = v.stage, reached_rank = v.reached_rank, mql_at = v.mql_at, \
         stage_changed_at = v.stage_changed_at, updated_at = v.updated_at, \
         version = v.next_version, disqualification_reason = NULL"
    );
    for chunk in pairs.chunks(crate::db::rows_per_statement(txn.get_database_backend())) {
        let rows = chunk.iter().map(|(before, lead)| {
            vec![
                Value::from(lead.id),
                Value::from(before.version),
                Value::from(lead.score),
                Value::from(lead.fit_score),
                Value::from(lead.engagement_score),
                Value::from(lead.score_breakdown.to_json()),
                Value::from(lead.persona_id),
                Value::from(lead.icp_fit),
                Value::from(lead.stage.clone()),
                Value::from(lead.reached_rank),
                Value::from(lead.mql_at),
                Value::from(lead.stage_changed_at),
                Value::from(lead.updated_at),
                Value::from(lead.version),
            ]
        });
        let updated =
            update_from_values(txn, &columns, &set, " AND lead.version = v.version", rows).await?;
        if updated != chunk.len() as u64 {
            return Err(AppError::conflict("a lead was changed concurrently; retry"));
        }
    }
    let changes: Vec<_> = pairs
        .iter()
        .map(|(_, lead)| events::StageChange {
            lead,
            from: Some(LeadStage::Lead),
            to: LeadStage::Mql,
            actor: SCORING_ACTOR,
            reason: None,
            at: now,
        })
        .collect();
    events::record_stage_changes(txn, &changes).await?;
    Ok(pairs.len() as u64)
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
/// reaches the threshold moves to MQL through `apply_transition`. Returns
/// the leads as stored.
pub async fn rescore_leads(
    txn: &impl ConnectionTrait,
    leads: Vec<lead::Model>,
    now: DateTime<Utc>,
) -> AppResult<Vec<lead::Model>> {
    if leads.is_empty() {
        return Ok(leads);
    }
    let context = ScoringContext::load(txn).await?;
    let inputs: Vec<LeadScore> = leads.iter().map(LeadScore::from).collect();
    let ids: Vec<i64> = leads.iter().map(|l| l.id).collect();
    let outcome = context
        .rescore(txn, &inputs, LeadSet::Ids(&ids), now, false)
        .await?;
    let mut stored: Vec<lead::Model> = leads
        .into_iter()
        .zip(outcome.scores)
        .map(|(mut lead, scores)| {
            scores.apply(&mut lead);
            lead
        })
        .collect();
    for i in outcome.promote {
        stored[i] = crate::leads::service::apply_transition(
            txn,
            stored[i].clone(),
            LeadStage::Mql,
            SCORING_ACTOR,
            None,
            None,
        )
        .await?;
    }
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

/// One batch of a bulk rescoring.
#[derive(Default)]
struct Batch {
    /// Leads read and scored.
    scored: u64,
    /// The highest id read (the keyset position).
    last: Option<i64>,
    /// Leads whose scores changed.
    changed: u64,
    promoted: u64,
}

/// Lock up to [`BATCH`] leads of `filter` (in id order), rescore them, write
/// what changed and promote, in one transaction.
async fn rescore_locked(
    db: &Db,
    filter: Condition,
    range: bool,
    now: DateTime<Utc>,
) -> AppResult<Batch> {
    let backend = db.backend();
    let txn = db.write.begin().await?;
    let mut query = lead::Entity::find()
        .select_only()
        .columns(LeadScore::columns())
        .filter(filter)
        .order_by_asc(lead::Column::Id)
        .limit(BATCH);
    if backend == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let leads: Vec<LeadScore> = query.into_model().all(&txn).await?;
    let (Some(first), Some(last)) = (leads.first().map(|l| l.id), leads.last().map(|l| l.id))
    else {
        txn.commit().await?;
        return Ok(Batch::default());
    };
    let context = ScoringContext::load(&txn).await?;
    let ids: Vec<i64>;
    let set = if range {
        LeadSet::Range(first, last)
    } else {
        ids = leads.iter().map(|l| l.id).collect();
        LeadSet::Ids(&ids)
    };
    let outcome = context.rescore(&txn, &leads, set, now, true).await?;
    let promote = outcome
        .promote
        .iter()
        .map(|&i| outcome.scores[i].clone())
        .collect();
    let promoted = promote_many(&txn, promote).await?;
    txn.commit().await?;
    Ok(Batch {
        scored: leads.len() as u64,
        last: Some(last),
        changed: outcome.changed.len() as u64,
        promoted,
    })
}

/// Read up to [`BATCH`] leads of `filter` without locks (SQLite: from a
/// reader, leaving the writer free) and score them; only the leads whose
/// scores would change or that would move to MQL are then locked, read again
/// and rescored by [`rescore_locked`]. A lead that changes after the
/// unlocked read was rescored by the write that changed it, so skipping it
/// loses nothing.
async fn rescore_optimistic(
    db: &Db,
    filter: Condition,
    range: bool,
    now: DateTime<Utc>,
) -> AppResult<Batch> {
    let leads: Vec<LeadScore> = lead::Entity::find()
        .select_only()
        .columns(LeadScore::columns())
        .filter(filter)
        .order_by_asc(lead::Column::Id)
        .limit(BATCH)
        .into_model()
        .all(&db.read)
        .await?;
    let (Some(first), Some(last)) = (leads.first().map(|l| l.id), leads.last().map(|l| l.id))
    else {
        return Ok(Batch::default());
    };
    let context = ScoringContext::load(&db.read).await?;
    let ids: Vec<i64>;
    let set = if range {
        LeadSet::Range(first, last)
    } else {
        ids = leads.iter().map(|l| l.id).collect();
        LeadSet::Ids(&ids)
    };
    let facts = context.load_facts(&db.read, set).await?;
    let outcome = context.evaluate_all(&leads, facts, now);
    let mut candidates: Vec<i64> = outcome
        .changed
        .iter()
        .chain(&outcome.promote)
        .map(|&i| leads[i].id)
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut batch = Batch {
        scored: leads.len() as u64,
        last: Some(last),
        ..Batch::default()
    };
    if !candidates.is_empty() {
        let filter = Condition::all().add(lead::Column::Id.is_in(candidates));
        let locked = rescore_locked(db, filter, false, now).await?;
        batch.changed = locked.changed;
        batch.promoted = locked.promoted;
    }
    Ok(batch)
}

/// Rescore every lead of `selection`: [`BATCH`] leads at a time, in id
/// order, never holding locks beyond one batch's transaction. Per batch: one
/// query for the leads' scoring columns, one for their interactions, a
/// write per few dozen changed leads, a few statements for the promoted
/// ones. While few scores change (the usual periodic run) batches are read
/// without locks and only the changed leads are locked and rewritten; while
/// most change (after a rule change) batches are locked and rewritten whole.
/// All leads are split into [`WORKERS`] id ranges rescored side by side
/// (disjoint ranges: their locks never meet).
pub async fn rescore_selection(
    db: &Db,
    selection: &Selection,
    now: DateTime<Utc>,
) -> AppResult<RescoreCounts> {
    let mut ranges = vec![(0_i64, None)];
    if *selection == Selection::All {
        let max: Option<i64> = lead::Entity::find()
            .select_only()
            .expr(lead::Column::Id.max())
            .into_tuple::<Option<i64>>()
            .one(&db.read)
            .await?
            .flatten();
        if let Some(max) = max.filter(|m| *m > 2 * BATCH as i64) {
            let step = max / WORKERS as i64;
            ranges = (0..WORKERS as i64)
                .map(|k| (k * step, (k + 1 < WORKERS as i64).then_some((k + 1) * step)))
                .collect();
        }
    }
    let workers: Vec<_> = ranges
        .into_iter()
        .map(|(after, through)| {
            let (db, selection) = (db.clone(), *selection);
            tokio::spawn(async move { rescore_range(&db, selection, after, through, now).await })
        })
        .collect();
    let mut counts = RescoreCounts::default();
    for worker in workers {
        let part = worker
            .await
            .map_err(|err| AppError::internal(format!("rescoring worker: {err}")))??;
        counts.leads_rescored += part.leads_rescored;
        counts.promoted_to_mql += part.promoted_to_mql;
    }
    Ok(counts)
}

/// Bulk rescoring works on this many id ranges at once.
const WORKERS: usize = 2;

/// [`rescore_selection`] over the ids in `(after, through]`.
async fn rescore_range(
    db: &Db,
    selection: Selection,
    mut after: i64,
    through: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<RescoreCounts> {
    let backend = db.backend();
    let range = selection == Selection::All;
    let mut counts = RescoreCounts::default();
    let mut mostly_changed = false;
    loop {
        let mut filter = Condition::all()
            .add(lead::Column::Id.gt(after))
            .add(selection.condition(backend));
        if let Some(through) = through {
            filter = filter.add(lead::Column::Id.lte(through));
        }
        let batch = if mostly_changed {
            rescore_locked(db, filter, range, now).await?
        } else {
            rescore_optimistic(db, filter, range, now).await?
        };
        let Some(last) = batch.last else { break };
        counts.leads_rescored += batch.scored;
        counts.promoted_to_mql += batch.promoted;
        mostly_changed = batch.changed * 2 > batch.scored;
        after = last;
        if batch.scored < BATCH {
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
    let contributions: Vec<Contribution> = lead
        .score_breakdown
        .0
        .iter()
        .map(|share| Contribution {
            rule_id: share.rule_id,
            points: share.points,
        })
        .collect();
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
