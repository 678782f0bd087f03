//! What one rescoring reads (rules, personas, threshold, the leads'
//! interactions) and how it scores a set of leads inside a transaction.

use super::rules::to_engine;
use super::settings::mql_threshold;
use super::sql::Sql;
use super::write::write_scores;
use crate::error::AppResult;
use crate::leads::lifecycle::LeadStage;
use crate::personas::fit::{self, PersonaCriteria};
use crate::scoring::engine::{
    self, Contribution, EngagementState, InteractionFact, LeadAttributes,
};
use chrono::{DateTime, Utc};
use entity::{lead, scoring_rule};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Scoring contexts by the token of `scoring_version`, which names one
/// content of the rules, personas and settings (any change replaces it with
/// a new random token, by trigger). A write reads the token and takes the
/// context from here; only a token not seen yet reads the three tables.
/// Tokens are random, so databases never share one for different contents
/// and one map serves every database of the process (tests open hundreds).
static CONTEXTS: LazyLock<moka::sync::Cache<i64, Arc<ScoringContext>>> =
    LazyLock::new(|| moka::sync::Cache::new(64));

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
    /// The stored [`EngagementState`] as JSON text (see `lead.score_state`).
    pub score_state: Option<String>,
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
            score_state: m.score_state.clone(),
            persona_id: m.persona_id,
            icp_fit: m.icp_fit,
        }
    }
}

impl LeadScore {
    /// The columns a bulk rescoring reads, instead of whole leads.
    pub(super) fn columns() -> [lead::Column; 14] {
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
            C::ScoreState,
            C::PersonaId,
            C::IcpFit,
        ]
    }

    /// Whether the visible scored columns are the same (not the state).
    fn same_scores(&self, other: &LeadScore) -> bool {
        self.score == other.score
            && self.fit_score == other.fit_score
            && self.engagement_score == other.engagement_score
            && self.persona_id == other.persona_id
            && self.icp_fit == other.icp_fit
            && self.score_breakdown == other.score_breakdown
    }

    /// Copy the scored columns into a lead.
    pub(super) fn apply(self, lead: &mut lead::Model) {
        lead.score = self.score;
        lead.fit_score = self.fit_score;
        lead.engagement_score = self.engagement_score;
        lead.score_breakdown = self.score_breakdown;
        lead.score_state = self.score_state;
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

/// The token of the scoring tables' current content (see [`CONTEXTS`]).
async fn version(db: &impl ConnectionTrait) -> AppResult<i64> {
    #[derive(FromQueryResult)]
    struct Version {
        token: i64,
    }
    let statement = sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT token FROM scoring_version WHERE id = 1",
    );
    Version::find_by_statement(statement)
        .one(db)
        .await?
        .map(|v| v.token)
        .ok_or_else(|| {
            crate::error::AppError::internal(
                "scoring_version has no row: the migrations did not run",
            )
        })
}

/// The interactions to load: of these leads, or of the leads in an id range.
pub(super) enum LeadSet<'a> {
    Ids(&'a [i64]),
    Range(i64, i64),
}

/// One interaction as the aggregate query returns it: `[kind, occurredAt, metadata]`.
#[derive(Deserialize)]
struct FactRow(String, DateTime<Utc>, Option<serde_json::Value>);

/// What rescoring a set of leads found.
pub(super) struct Outcome {
    /// The new scored columns, in the order of the leads given.
    pub(super) scores: Vec<LeadScore>,
    /// Indexes of the leads whose scored columns change.
    pub(super) changed: Vec<usize>,
    /// Indexes of the leads that move to MQL.
    pub(super) promote: Vec<usize>,
}

impl ScoringContext {
    /// The context in force: read once per version of the rules, personas
    /// and settings, then kept (see [`CONTEXTS`]). Where the version moves
    /// while the tables are read, the context read is used but not kept.
    pub async fn current(db: &impl ConnectionTrait) -> AppResult<Arc<ScoringContext>> {
        let token = version(db).await?;
        if let Some(context) = CONTEXTS.get(&token) {
            metrics::counter!("leadgraph_scoring_contexts_total", "source" => "cache").increment(1);
            return Ok(context);
        }
        metrics::counter!("leadgraph_scoring_contexts_total", "source" => "database").increment(1);
        let context = Arc::new(Self::load(db).await?);
        if version(db).await? == token {
            CONTEXTS.insert(token, context.clone());
        }
        Ok(context)
    }

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

    /// The lead's score, breakdown, persona and ICP fit at `now`, from all
    /// of its interactions (those the rules read), with the state to store.
    pub fn evaluate(
        &self,
        lead: &LeadScore,
        interactions: &[InteractionFact],
        now: DateTime<Utc>,
    ) -> LeadScore {
        self.evaluate_in_full(lead, interactions, now).0
    }

    fn evaluate_in_full(
        &self,
        lead: &LeadScore,
        interactions: &[InteractionFact],
        now: DateTime<Utc>,
    ) -> (LeadScore, EngagementState) {
        let attributes = attributes(lead);
        let (score, state) = engine::score_in_full(&self.rules, &attributes, interactions, now);
        (self.scored(lead, &attributes, score, &state), state)
    }

    /// What [`evaluate`](Self::evaluate) would give after `new` interactions
    /// were recorded, from the lead's stored state instead of all of its
    /// interactions; `None` where that state cannot give the exact answer
    /// (none stored, or see [`engine::score_incrementally`]).
    pub fn evaluate_incrementally(
        &self,
        lead: &LeadScore,
        new: &[InteractionFact],
        now: DateTime<Utc>,
    ) -> Option<LeadScore> {
        let stored = stored_state(lead)?;
        let attributes = attributes(lead);
        let (score, state) =
            engine::score_incrementally(&self.rules, &attributes, &stored, new, now)?;
        Some(self.scored(lead, &attributes, score, &state))
    }

    /// Whether the lead's stored state would serve the incremental path at
    /// `now` under these rules.
    fn state_serves(&self, lead: &LeadScore, now: DateTime<Utc>) -> bool {
        stored_state(lead)
            .is_some_and(|state| engine::advance(&self.rules, &state, &[], now).is_some())
    }

    fn scored(
        &self,
        lead: &LeadScore,
        attributes: &LeadAttributes,
        score: engine::Score,
        state: &EngagementState,
    ) -> LeadScore {
        let persona = fit::best_persona(&self.personas, attributes);
        LeadScore {
            score: score.score,
            fit_score: score.fit_score,
            engagement_score: score.engagement_score,
            score_breakdown: breakdown_json(&score.breakdown),
            // Sums are finite; a sum that was not would be written as `null`,
            // which does not decode: the lead would be scored in full next time.
            score_state: serde_json::to_string(state).ok(),
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
    pub(super) async fn load_facts(
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

    /// Score `leads` with their interactions: no I/O. A lead counts as
    /// changed when its scores change, or when its stored state cannot serve
    /// the incremental path (none yet, or the rules changed) and the new one
    /// can, so that one bulk rescoring prepares every lead for it.
    pub(super) fn evaluate_all(
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
            let (next, state) = self.evaluate_in_full(lead, &interactions, now);
            // A lead whose scores stay is rewritten only to store a state
            // the incremental path can use where its own cannot serve (none
            // yet, or rules defined otherwise since).
            let refresh = || state.carries() && !self.state_serves(lead, now);
            if !next.same_scores(lead) || refresh() {
                outcome.changed.push(i);
            }
            if engine::reaches_mql(next.stage == lead_stage, next.score, self.mql_threshold) {
                outcome.promote.push(i);
            }
            outcome.scores.push(next);
        }
        outcome
    }

    /// Rescore `leads` (locked by the caller) inside `txn` from all of their
    /// interactions and write the changed ones (scores, or a state to
    /// refresh: see [`evaluate_all`](Self::evaluate_all)), except those of
    /// the leads that reach MQL when `promotions_write_scores` (their
    /// promotion writes them); moving them to MQL is for the caller.
    pub(super) async fn rescore(
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

fn attributes(lead: &LeadScore) -> LeadAttributes {
    LeadAttributes {
        job_title: lead.job_title.clone(),
        industry: lead.industry.clone(),
        country: lead.country.clone(),
        email: lead.email.clone(),
        company_size: lead.company_size,
    }
}

/// The lead's stored state, if it has one that decodes (an undecodable one
/// is as good as none: the lead is scored in full).
fn stored_state(lead: &LeadScore) -> Option<EngagementState> {
    serde_json::from_str(lead.score_state.as_deref()?).ok()
}

pub(super) fn breakdown_json(breakdown: &[Contribution]) -> entity::lead::ScoreBreakdown {
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
