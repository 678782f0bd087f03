//! The command line: `leadgraph [serve|migrate|token|schema|seed]`, every
//! setting of [`Config`] a flag and an environment variable.

use crate::config::Config;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

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
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint a signed HS256 token for a subject and role.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL, sorted).
    Schema,
    /// Write the deterministic reference data set (docs/performance.md).
    Seed(crate::seed::SeedArgs),
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
