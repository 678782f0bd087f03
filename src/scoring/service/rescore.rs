//! Rescoring: the context read once per transaction, one lead in the
//! caller's transaction, or many in batches; the periodic job.

use super::BATCH;
use super::context::{LeadScore, LeadSet, ScoringContext};
use super::write::{promote_many, write_scores};
use crate::app::AppState;
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::events::SCORING_ACTOR;
use crate::leads::lifecycle::LeadStage;
use crate::scoring::engine::{self, InteractionFact};
use crate::validate;
use chrono::{DateTime, Utc};
use entity::lead;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use std::collections::HashMap;

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
    let rows = query.into_model::<lead::ByPosition>().all(txn).await?;
    Ok(rows.into_iter().map(|row| row.0).collect())
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
    rescore_in_write(txn, leads, None, now).await
}

/// [`rescore_leads`] after the caller recorded `recorded` interactions
/// (by lead id; none for a lead is fine) and nothing else changed the
/// leads' interactions: each lead is scored from its stored ENGAGEMENT sums
/// plus the new interactions where that gives the exact score, and from all
/// of its interactions where it cannot (docs/scoring.md, "Scoring a write
/// incrementally").
pub async fn rescore_recorded(
    txn: &impl ConnectionTrait,
    leads: Vec<lead::Model>,
    recorded: &HashMap<i64, Vec<InteractionFact>>,
    now: DateTime<Utc>,
) -> AppResult<Vec<lead::Model>> {
    rescore_in_write(txn, leads, Some(recorded), now).await
}

/// Score locked leads in a write's transaction, incrementally where
/// `recorded` allows, write them all (their sums are new even where their
/// scores are not) and promote.
async fn rescore_in_write(
    txn: &impl ConnectionTrait,
    leads: Vec<lead::Model>,
    recorded: Option<&HashMap<i64, Vec<InteractionFact>>>,
    now: DateTime<Utc>,
) -> AppResult<Vec<lead::Model>> {
    if leads.is_empty() {
        return Ok(leads);
    }
    let context = ScoringContext::current(txn).await?;
    let inputs: Vec<LeadScore> = leads.iter().map(LeadScore::from).collect();
    let mut scores: Vec<Option<LeadScore>> = match recorded {
        Some(recorded) => inputs
            .iter()
            .map(|lead| {
                let new = recorded.get(&lead.id).map_or(&[][..], Vec::as_slice);
                context.evaluate_incrementally(lead, new, now)
            })
            .collect(),
        None => vec![None; inputs.len()],
    };
    let incremental = scores.iter().filter(|s| s.is_some()).count();
    let full: Vec<i64> = inputs
        .iter()
        .zip(&scores)
        .filter(|(_, score)| score.is_none())
        .map(|(lead, _)| lead.id)
        .collect();
    if !full.is_empty() {
        let mut facts = context.load_facts(txn, LeadSet::Ids(&full)).await?;
        for (lead, score) in inputs.iter().zip(&mut scores) {
            if score.is_none() {
                let interactions = facts.remove(&lead.id).unwrap_or_default();
                *score = Some(context.evaluate(lead, &interactions, now));
            }
        }
    }
    metrics::counter!("leadgraph_write_rescorings_total", "path" => "incremental")
        .increment(incremental as u64);
    metrics::counter!("leadgraph_write_rescorings_total", "path" => "full")
        .increment(full.len() as u64);
    let scores: Vec<LeadScore> = scores.into_iter().flatten().collect();
    write_scores(txn, &scores.iter().collect::<Vec<_>>()).await?;
    let lead_stage = LeadStage::Lead.code();
    let mut stored = Vec::with_capacity(leads.len());
    for (mut lead, scores) in leads.into_iter().zip(scores) {
        let promote = engine::reaches_mql(
            scores.stage == lead_stage,
            scores.score,
            context.mql_threshold,
        );
        scores.apply(&mut lead);
        if promote {
            lead = crate::leads::service::apply_transition(
                txn,
                lead,
                LeadStage::Mql,
                SCORING_ACTOR,
                None,
                None,
            )
            .await?;
        }
        stored.push(lead);
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
    let context = ScoringContext::current(&txn).await?;
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
    let context = ScoringContext::current(&db.read).await?;
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
