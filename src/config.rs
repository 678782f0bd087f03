//! Configuration: every setting is an environment variable and a flag,
//! parsed once in `main` and carried in `AppState`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A string that never prints.
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `sqlite://file.db?mode=rwc` (embedded default) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://leadgraph.db?mode=rwc",
        global = true
    )]
    pub database_url: String,
    /// Address to listen on.
    #[arg(
        long,
        env = "LEADGRAPH_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub addr: SocketAddr,
    /// HS256 secret. Without it and without a public key, a secret is created
    /// once and stored beside the database (mode 0600).
    #[arg(
        long,
        env = "LEADGRAPH_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<Secret>,
    /// PEM public key (RS256, ES256 or EdDSA) to verify tokens with.
    #[arg(long, env = "LEADGRAPH_JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "LEADGRAPH_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "LEADGRAPH_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Currency of all money amounts.
    #[arg(long, env = "LEADGRAPH_CURRENCY", default_value = "EUR", global = true)]
    pub currency: String,
    #[arg(
        long,
        env = "LEADGRAPH_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
    /// Maximum query depth.
    #[arg(long, env = "LEADGRAPH_MAX_DEPTH", default_value_t = 12, global = true)]
    pub max_depth: usize,
    /// Maximum query complexity (fields selected, lists weighted by `first`).
    #[arg(
        long,
        env = "LEADGRAPH_MAX_COMPLEXITY",
        default_value_t = 2000,
        global = true
    )]
    pub max_complexity: usize,
    /// Maximum operations in one batched request.
    #[arg(long, env = "LEADGRAPH_MAX_BATCH", default_value_t = 10, global = true)]
    pub max_batch: usize,
    /// Database connections (PostgreSQL pool; SQLite readers).
    #[arg(long, env = "LEADGRAPH_DB_POOL", default_value_t = 16, global = true)]
    pub db_pool: u32,
}

impl Config {
    /// A configuration for tests and tools: defaults, no environment.
    pub fn for_database(database_url: &str) -> Self {
        Config {
            database_url: database_url.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            currency: "EUR".to_owned(),
            log_format: LogFormat::Pretty,
            max_depth: 12,
            max_complexity: 2000,
            max_batch: 10,
            db_pool: 16,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// Where the generated HS256 secret lives: beside the SQLite file, or in
    /// the working directory for PostgreSQL.
    pub fn secret_file(&self) -> PathBuf {
        if let Some(rest) = self.database_url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or(rest);
            if !path.is_empty() && path != ":memory:" {
                let mut file = PathBuf::from(path);
                file.set_extension("jwt-secret");
                return file;
            }
        }
        PathBuf::from("leadgraph.jwt-secret")
    }
}
