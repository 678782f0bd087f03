//! `leadgraph seed`: the deterministic reference data set of docs/performance.md.
//!
//! One module per domain generates its rows in memory from its own seeded
//! random generator (so adding a domain does not change the others' data),
//! and [`writer`] writes them with multi-row `INSERT`s in large transactions.
//! Rows get explicit ids (references need no `RETURNING`), then PostgreSQL's
//! sequences are moved past them.
//!
//! Same `--seed`, `--leads`, `--interactions-per-lead` and `--until` → the
//! same rows, on either database (`rand`'s `StdRng` is a fixed algorithm for
//! a given `rand` version, and the version is pinned by `Cargo.lock`).
//!
//! The outbox (`stage_event`) is deliberately left empty: it is the delivery
//! queue of live subscriptions (docs/events.md), and an imported past has no
//! subscriber and no cursor anyone could resume from; KPIs read the lead
//! milestones and `stage_change`, which are complete. The first live change
//! after seeding gets the first sequence, as on a fresh database.
//!
//! Later domains plug in here: [`campaigns`] (campaigns and daily spend),
//! [`scoring`] (rules, settings, and the rescoring hook) and [`personas`]
//! each write their rows when their migration's table exists, and are
//! skipped otherwise.

pub mod campaigns;
pub mod interactions;
pub mod leads;
mod names;
pub mod personas;
pub mod scoring;
pub mod users;
pub mod writer;

use crate::config::Config;
use crate::db::Db;
use crate::error::AppResult;
use chrono::{DateTime, Duration, Utc};
use migration::MigratorTrait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use std::time::Instant;

/// `leadgraph seed` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Number of leads.
    #[arg(long, default_value_t = 100_000)]
    pub leads: u32,
    /// Interactions per lead, on average (the total is exact).
    #[arg(long, default_value_t = 10)]
    pub interactions_per_lead: u32,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Drop every table of the database and migrate afresh before seeding.
    /// Without it, seeding a database that has users, leads or interactions
    /// is refused.
    #[arg(long)]
    pub reset: bool,
    /// End of the two years the data spans (RFC 3339). Fixed by default, so
    /// that a seed gives the same data whatever day it runs.
    #[arg(long, default_value = "2026-11-01T00:00:00Z", value_parser = parse_time)]
    pub until: DateTime<Utc>,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

/// The time span of the data set: `[start, end)`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Weighted choice from `(value, weight)` pairs.
pub trait Pick<T> {
    fn pick(&self, rng: &mut StdRng) -> &T;
}

impl<T> Pick<T> for [(T, u32)] {
    fn pick(&self, rng: &mut StdRng) -> &T {
        let total: u32 = self.iter().map(|(_, w)| *w).sum();
        let mut roll = rng.random_range(0..total.max(1));
        for (value, weight) in self {
            if roll < *weight {
                return value;
            }
            roll -= weight;
        }
        &self[self.len() - 1].0
    }
}

/// Uniform choice from a non-empty slice.
pub trait PickUniform<T> {
    fn pick_uniform(&self, rng: &mut StdRng) -> &T;
}

impl<T> PickUniform<T> for [T] {
    fn pick_uniform(&self, rng: &mut StdRng) -> &T {
        &self[rng.random_range(0..self.len())]
    }
}

/// A generator per domain, derived from the seed and the domain's name.
fn rng_for(seed: u64, domain: &str) -> StdRng {
    // FNV-1a of the name, so each domain draws its own stream.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in domain.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    StdRng::seed_from_u64(seed ^ hash)
}

/// Leads (with their history and interactions) written per transaction.
const LEADS_PER_TRANSACTION: usize = 10_000;

/// What `seed` wrote.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub users: u64,
    pub leads: u64,
    pub stage_changes: u64,
    pub interactions: u64,
    pub other_rows: u64,
    pub rescored: u64,
    pub stages: Vec<(String, u64)>,
}

pub(crate) async fn count(db: &impl ConnectionTrait, table: &str) -> AppResult<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "n")?,
        None => 0,
    })
}

/// The shape of a data set: the reference workload of `leadgraph seed`, or
/// the small one of `serve --demo` (`crate::demo`).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// How many users of each role.
    pub team: &'static [(crate::auth::Role, usize)],
    pub leads: u32,
    /// Interactions per lead, on average (the total is exact).
    pub interactions_per_lead: u32,
    pub seed: u64,
    pub window: Window,
}

impl Plan {
    /// `leadgraph seed`'s data set: two years up to `--until`.
    pub fn reference(args: &SeedArgs) -> Plan {
        Plan {
            team: &users::TEAM,
            leads: args.leads,
            interactions_per_lead: args.interactions_per_lead,
            seed: args.seed,
            window: Window {
                start: args.until - Duration::days(730),
                end: args.until,
            },
        }
    }
}

/// A data set generated in memory, written by [`DataSet::write_reference`]
/// and [`DataSet::write_leads`] in the caller's transactions.
pub struct DataSet {
    pub plan: Plan,
    pub users: users::Users,
    pub campaigns: campaigns::Campaigns,
    pub leads: Vec<leads::SeededLead>,
    /// Interactions of each lead of `leads`.
    interaction_counts: Vec<u32>,
    campaign_rng: StdRng,
    interaction_rng: StdRng,
    next_interaction: i64,
}

impl DataSet {
    /// Generate the users, campaigns and leads of `plan` (`db` only tells
    /// which tables exist). Each domain draws from its own generator, so the
    /// order of generation and writing changes nothing.
    pub async fn generate(db: &impl ConnectionTrait, plan: Plan) -> AppResult<DataSet> {
        let users = users::generate(plan.team, Self::setup_at(&plan));
        let mut campaign_rng = rng_for(plan.seed, "campaigns");
        let campaigns = campaigns::Campaigns::generate(db, &plan.window, &mut campaign_rng).await?;
        let mut lead_rng = rng_for(plan.seed, "leads");
        let leads = leads::generate(plan.leads, &plan.window, &users, &campaigns, &mut lead_rng);
        let mut interaction_rng = rng_for(plan.seed, "interactions");
        let total = u64::from(plan.leads) * u64::from(plan.interactions_per_lead);
        let interaction_counts = interactions::counts(&leads, total, &mut interaction_rng);
        Ok(DataSet {
            plan,
            users,
            campaigns,
            leads,
            interaction_counts,
            campaign_rng,
            interaction_rng,
            next_interaction: 0,
        })
    }

    /// When users, rules and personas were set up: a month before the data.
    fn setup_at(plan: &Plan) -> DateTime<Utc> {
        plan.window.start - Duration::days(30)
    }

    /// Write the users, the campaigns with their spend, the scoring rules
    /// and settings, and the personas.
    pub async fn write_reference(
        &mut self,
        txn: &impl ConnectionTrait,
        report: &mut SeedReport,
    ) -> AppResult<()> {
        let setup_at = Self::setup_at(&self.plan);
        let rows: Vec<_> = self.users.rows.iter().map(users::values).collect();
        report.users += users::TABLE.insert(txn, rows).await?;
        report.other_rows += self.campaigns.write(txn, &mut self.campaign_rng).await?;
        report.other_rows += scoring::write_rules(txn, setup_at).await?;
        report.other_rows += personas::write(txn, setup_at).await?;
        Ok(())
    }

    /// Write the leads `range` of [`DataSet::leads`] (call in order) with
    /// their stage history and interactions.
    pub async fn write_leads(
        &mut self,
        txn: &impl ConnectionTrait,
        range: std::ops::Range<usize>,
        report: &mut SeedReport,
    ) -> AppResult<()> {
        let t = Instant::now();
        let chunk = &self.leads[range.clone()];
        let lead_rows: Vec<_> = chunk.iter().map(|l| leads::values(&l.model)).collect();
        let history_rows: Vec<_> = chunk
            .iter()
            .flat_map(|l| l.history.iter().map(leads::history_values))
            .collect();
        let mut interaction_rows = Vec::new();
        for (lead, n) in chunk.iter().zip(&self.interaction_counts[range]) {
            for row in interactions::for_lead(
                lead,
                *n,
                &mut self.next_interaction,
                &self.plan.window,
                &self.campaigns,
                &mut self.interaction_rng,
            )? {
                interaction_rows.push(interactions::values(&row));
            }
        }
        let generated = t.elapsed();
        report.leads += leads::TABLE.insert(txn, lead_rows).await?;
        report.stage_changes += leads::HISTORY_TABLE.insert(txn, history_rows).await?;
        report.interactions += interactions::TABLE.insert(txn, interaction_rows).await?;
        tracing::info!(
            leads = report.leads,
            interactions = report.interactions,
            generate = ?generated,
            total = ?t.elapsed(),
            "leads written"
        );
        Ok(())
    }

    /// Move PostgreSQL's sequences past the explicit ids written.
    pub async fn sync_sequences(db: &impl ConnectionTrait) -> AppResult<()> {
        for table in ["app_user", "lead", "stage_change", "interaction"] {
            writer::sync_sequence(db, table, "id").await?;
        }
        Ok(())
    }
}

/// Migrate (or reset), check the database is empty, write the data set.
/// Leads per stage, by stage name: what `seed` and the demo report.
pub async fn stage_counts(conn: &impl ConnectionTrait) -> AppResult<Vec<(String, u64)>> {
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT stage, COUNT(*) AS n FROM lead GROUP BY stage ORDER BY stage".to_owned(),
        ))
        .await?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        counts.push((
            row.try_get::<String>("", "stage")?,
            row.try_get::<i64>("", "n")? as u64,
        ));
    }
    Ok(counts)
}

pub async fn seed(config: &Config, args: &SeedArgs) -> AppResult<SeedReport> {
    let db = Db::connect(config).await?;
    let conn = &db.write;
    if args.reset {
        migration::Migrator::fresh(conn).await?;
    } else {
        migration::Migrator::up(conn, None).await?;
    }
    let mut existing = Vec::new();
    for table in ["app_user", "lead", "interaction"] {
        let n = count(conn, table).await?;
        if n > 0 {
            existing.push(format!("{n} rows in {table}"));
        }
    }
    if !existing.is_empty() {
        return Err(crate::error::AppError::conflict(format!(
            "the database is not empty ({}); seed an empty database, or pass --reset to drop \
             every table and seed afresh",
            existing.join(", ")
        )));
    }
    if conn.get_database_backend() == DbBackend::Sqlite {
        // One big writer, nothing to protect until it is done.
        conn.execute_unprepared("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
            .await?;
    }
    let plan = Plan::reference(args);
    let mut report = SeedReport::default();

    let t = Instant::now();
    let mut data = DataSet::generate(conn, plan).await?;
    tracing::info!(elapsed = ?t.elapsed(), leads = data.leads.len(), "generated");

    let t = Instant::now();
    let txn = conn.begin().await?;
    data.write_reference(&txn, &mut report).await?;
    txn.commit().await?;
    tracing::info!(elapsed = ?t.elapsed(), "users, campaigns, rules and personas written");

    let total = data.leads.len();
    for start in (0..total).step_by(LEADS_PER_TRANSACTION) {
        let txn = conn.begin().await?;
        data.write_leads(
            &txn,
            start..(start + LEADS_PER_TRANSACTION).min(total),
            &mut report,
        )
        .await?;
        txn.commit().await?;
    }
    DataSet::sync_sequences(conn).await?;
    let window = plan.window;

    let t = Instant::now();
    report.rescored = scoring::rescore(&db, window.end).await?;
    tracing::info!(elapsed = ?t.elapsed(), leads = report.rescored, "rescored");

    // Fresh planner statistics: the bulk load changed every table at once.
    // On PostgreSQL also VACUUM: the rescoring above rewrote every lead, and
    // until the dead row versions are gone and the visibility map is set,
    // index-only scans (the KPI cohort index) fetch from the heap — the KPI
    // queries ran 10× slower until autovacuum came by (measured).
    // The rollup triggers logged every lead written and every KPI column
    // the rescoring changed: fold the log once, now.
    let t = Instant::now();
    crate::kpis::rollups::compact(conn, true).await?;
    tracing::info!(elapsed = ?t.elapsed(), "kpi rollup deltas folded");

    let t = Instant::now();
    // The fold rewrote the KPI rollup rows and emptied the delta log: at
    // 1M leads the rollup table had held 237 MB for 27 MB of rows, and a
    // plain VACUUM does not give that back.
    let analyze = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            conn.execute_unprepared("VACUUM FULL kpi_rollup, kpi_fit_rollup, kpi_delta")
                .await?;
            "VACUUM ANALYZE"
        }
        _ => "ANALYZE",
    };
    conn.execute_unprepared(analyze).await?;
    tracing::info!(elapsed = ?t.elapsed(), "analyzed");

    report.stages = stage_counts(conn).await?;
    if conn.get_database_backend() == DbBackend::Sqlite {
        conn.execute_unprepared("PRAGMA synchronous = NORMAL; PRAGMA wal_checkpoint(TRUNCATE);")
            .await?;
    }
    Ok(report)
}
