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

async fn count(db: &impl ConnectionTrait, table: &str) -> AppResult<i64> {
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

/// Migrate (or reset), check the database is empty, write the data set.
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
    let window = Window {
        start: args.until - Duration::days(730),
        end: args.until,
    };
    let mut report = SeedReport::default();

    let t = Instant::now();
    let setup_at = window.start - Duration::days(30);
    let users = users::generate(setup_at);
    let mut campaign_rng = rng_for(args.seed, "campaigns");
    let campaigns = campaigns::Campaigns::generate(conn, &window, &mut campaign_rng).await?;
    let txn = conn.begin().await?;
    let rows: Vec<_> = users.rows.iter().map(users::values).collect();
    report.users = users::TABLE.insert(&txn, rows).await?;
    report.other_rows += campaigns.write(&txn, &mut campaign_rng).await?;
    report.other_rows += scoring::write_rules(&txn, setup_at).await?;
    report.other_rows += personas::write(&txn, setup_at).await?;
    txn.commit().await?;
    tracing::info!(elapsed = ?t.elapsed(), "users, campaigns, rules and personas written");

    let t = Instant::now();
    let mut lead_rng = rng_for(args.seed, "leads");
    let seeded = leads::generate(args.leads, &window, &users, &campaigns, &mut lead_rng);
    let mut interaction_rng = rng_for(args.seed, "interactions");
    let total = u64::from(args.leads) * u64::from(args.interactions_per_lead);
    let counts = interactions::counts(&seeded, total, &mut interaction_rng);
    tracing::info!(elapsed = ?t.elapsed(), leads = seeded.len(), "leads generated");

    let mut next_interaction = 0i64;
    for (chunk, chunk_counts) in seeded
        .chunks(LEADS_PER_TRANSACTION)
        .zip(counts.chunks(LEADS_PER_TRANSACTION))
    {
        let t = Instant::now();
        let lead_rows: Vec<_> = chunk.iter().map(|l| leads::values(&l.model)).collect();
        let history_rows: Vec<_> = chunk
            .iter()
            .flat_map(|l| l.history.iter().map(leads::history_values))
            .collect();
        let mut interaction_rows = Vec::new();
        for (lead, n) in chunk.iter().zip(chunk_counts) {
            for row in interactions::for_lead(
                lead,
                *n,
                &mut next_interaction,
                &window,
                &campaigns,
                &mut interaction_rng,
            )? {
                interaction_rows.push(interactions::values(&row));
            }
        }
        let generated = t.elapsed();
        let txn = conn.begin().await?;
        report.leads += leads::TABLE.insert(&txn, lead_rows).await?;
        report.stage_changes += leads::HISTORY_TABLE.insert(&txn, history_rows).await?;
        report.interactions += interactions::TABLE.insert(&txn, interaction_rows).await?;
        txn.commit().await?;
        tracing::info!(
            leads = report.leads,
            interactions = report.interactions,
            generate = ?generated,
            total = ?t.elapsed(),
            "chunk written"
        );
    }
    for (table, id) in [
        ("app_user", "id"),
        ("lead", "id"),
        ("stage_change", "id"),
        ("interaction", "id"),
    ] {
        writer::sync_sequence(conn, table, id).await?;
    }

    let t = Instant::now();
    report.rescored = scoring::rescore(&db, window.end).await?;
    tracing::info!(elapsed = ?t.elapsed(), leads = report.rescored, "rescored");

    // Fresh planner statistics: the bulk load changed every table at once.
    // On PostgreSQL also VACUUM: the rescoring above rewrote every lead, and
    // until the dead row versions are gone and the visibility map is set,
    // index-only scans (the KPI cohort index) fetch from the heap — the KPI
    // queries ran 10× slower until autovacuum came by (measured).
    let t = Instant::now();
    let analyze = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    conn.execute_unprepared(analyze).await?;
    tracing::info!(elapsed = ?t.elapsed(), "analyzed");

    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT stage, COUNT(*) AS n FROM lead GROUP BY stage ORDER BY stage".to_owned(),
        ))
        .await?;
    for row in rows {
        report.stages.push((
            row.try_get::<String>("", "stage")?,
            row.try_get::<i64>("", "n")? as u64,
        ));
    }
    if conn.get_database_backend() == DbBackend::Sqlite {
        conn.execute_unprepared("PRAGMA synchronous = NORMAL; PRAGMA wal_checkpoint(TRUNCATE);")
            .await?;
    }
    Ok(report)
}
