//! The command line: `leadgraph [serve|migrate|token|schema|seed|operations|export|import|rollups]`, every
//! setting of [`Config`] a flag and an environment variable.

use crate::auth::{Role, jwt::JwtKeys};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::seed::SeedArgs;
use clap::{Args, Parser, Subcommand};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "leadgraph",
    version,
    about = "GraphQL API for the B2B lead funnel"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint a signed HS256 token for a subject and role.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL, sorted).
    Schema,
    /// Write the deterministic reference data set (docs/performance.md).
    Seed(SeedArgs),
    /// The documented operations (docs/operations/).
    #[command(subcommand)]
    Operations(crate::graphql::operations::OperationsCommand),
    /// Export leads or a KPI table as CSV (docs/export.md).
    #[command(subcommand)]
    Export(crate::exports::cli::ExportCommand),
    /// Import from CSV files (docs/import-export.md).
    #[command(subcommand)]
    Import(crate::cli_import::ImportCommand),
    /// The daily KPI rollups (docs/kpis.md "Rollups").
    #[command(subcommand)]
    Rollups(RollupsCommand),
}

#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute the rollups from the lead rows, in one transaction.
    Rebuild,
    /// Compare every rollup row with the lead rows; print each row that
    /// differs and exit non-zero when any does.
    Verify,
    /// Fold the delta log into the rollups now (the server does it every
    /// `LEADGRAPH_ROLLUP_COMPACT_INTERVAL`).
    Compact,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Load a small demo data set into the (empty) database first and print
    /// a token per role (docs/frontend.md).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// ADMIN, MARKETING, SALES or INGEST.
    #[arg(long)]
    pub role: String,
    /// The subject (`sub` claim), e.g. an email address.
    #[arg(long)]
    pub sub: String,
    /// Lifetime, e.g. `24h`, `30m`, `7d`.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
}

/// Run the subcommand (`serve` when none is given).
pub async fn run(cli: Cli) -> AppResult<()> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => crate::app::serve(cli.config, args.demo).await,
        Command::Migrate => crate::app::migrate(&cli.config).await,
        Command::Token(args) => token(&cli.config, &args),
        Command::Seed(args) => seed(&cli.config, &args).await,
        Command::Operations(command) => crate::graphql::operations::run(&command),
        Command::Export(command) => crate::exports::cli::run(&cli.config, &command).await,
        Command::Import(command) => crate::cli_import::run(&cli.config, command).await,
        Command::Rollups(command) => rollups(&cli.config, &command).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
    }
}

/// `leadgraph token`: print a token signed with the configured HS256 secret.
fn token(config: &Config, args: &TokenArgs) -> AppResult<()> {
    let role = Role::parse(&args.role.to_uppercase()).ok_or_else(|| {
        AppError::config(
            "--role",
            format!(
                "unknown role {:?}: use ADMIN, MARKETING, SALES or INGEST",
                args.role
            ),
        )
    })?;
    let ttl =
        i64::try_from(args.ttl.as_secs()).map_err(|_| AppError::config("--ttl", "too long"))?;
    let keys = JwtKeys::from_config(config, true)?;
    let token = keys.mint(
        &args.sub,
        role,
        ttl,
        args.name.as_deref(),
        args.email.as_deref(),
    )?;
    println!("{token}");
    Ok(())
}

/// `leadgraph rollups rebuild|verify|compact` on a migrated database.
async fn rollups(config: &Config, command: &RollupsCommand) -> AppResult<()> {
    use crate::kpis::rollups;
    let db = crate::db::Db::connect(config).await?;
    let started = Instant::now();
    match command {
        RollupsCommand::Rebuild => {
            rollups::rebuild(&db.write).await?;
            println!(
                "kpi rollups rebuilt in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        RollupsCommand::Compact => {
            let folded = rollups::compact(&db.write, true).await?;
            println!(
                "kpi rollup deltas {} ({:.1} s)",
                if folded { "folded" } else { "already folded" },
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        RollupsCommand::Verify => {
            let drift = rollups::verify(&db.write).await?;
            for row in &drift {
                println!("drift {row}");
            }
            if drift.is_empty() {
                println!(
                    "kpi rollups match the lead rows ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            } else {
                Err(rollups::drift_error(&drift))
            }
        }
    }
}

/// `leadgraph seed`: write the data set and say what it wrote.
async fn seed(config: &Config, args: &SeedArgs) -> AppResult<()> {
    let started = Instant::now();
    let report = crate::seed::seed(config, args).await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {} users, {} leads, {} stage changes, {} interactions{} in {elapsed:.1} s",
        report.users,
        report.leads,
        report.stage_changes,
        report.interactions,
        if report.other_rows > 0 {
            format!(", {} other rows", report.other_rows)
        } else {
            String::new()
        },
    );
    let stages: Vec<String> = report
        .stages
        .iter()
        .map(|(stage, n)| format!("{stage} {n}"))
        .collect();
    println!("stages now: {}", stages.join(", "));
    Ok(())
}
