//! Configuration: every setting is an environment variable and a flag,
//! parsed once in `main` (see `cli`) and carried in `AppState`.

use clap::{Args, ValueEnum};
use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which documents may run (`LEADGRAPH_TRUSTED_DOCUMENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustedDocuments {
    /// Any document; the manifest's operations, if any, are known by hash.
    Off,
    /// Only the operations of the manifest.
    Only,
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
    /// How often every lead is rescored (rule changes, decay), e.g. `1h`,
    /// `30m`; `0` turns the periodic rescoring off.
    #[arg(
        long,
        env = "LEADGRAPH_RESCORE_INTERVAL",
        default_value = "1h",
        value_parser = parse_interval,
        global = true
    )]
    pub rescore_interval: Duration,
    /// How often the KPI rollups' delta log is folded into the rollups
    /// (docs/kpis.md "Rollups"); `0` turns the fold off (the figures stay
    /// exact, reads grow with the log).
    #[arg(
        long,
        env = "LEADGRAPH_ROLLUP_COMPACT_INTERVAL",
        default_value = "1s",
        value_parser = parse_interval,
        global = true
    )]
    pub rollup_compact_interval: Duration,
    /// Days stage-change events stay in the outbox; an `after` cursor older
    /// than that cannot be resumed (docs/events.md).
    #[arg(
        long,
        env = "LEADGRAPH_EVENT_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub event_retention_days: u32,
    /// How often each instance polls the outbox as a safety net beside the
    /// in-process wake-up and PostgreSQL LISTEN/NOTIFY.
    #[arg(
        long,
        env = "LEADGRAPH_EVENT_POLL_INTERVAL",
        default_value = "1s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub event_poll_interval: Duration,
    /// Events each instance buffers for subscribers that are momentarily
    /// behind; one further behind catches up from the outbox.
    #[arg(
        long,
        env = "LEADGRAPH_EVENT_BUFFER",
        default_value_t = 4096,
        global = true
    )]
    pub event_buffer: usize,
    /// Allow webhook URLs that name or resolve to loopback, private,
    /// link-local, unspecified or multicast addresses (tests, on-premise
    /// receivers); `false` refuses them at creation and at every delivery
    /// (docs/webhooks.md).
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub webhook_allow_private: bool,
    /// Time one webhook delivery attempt may take (connect, send, answer).
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_TIMEOUT",
        default_value = "10s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub webhook_timeout: Duration,
    /// Delay before the first retry of a failed delivery; each later retry
    /// waits twice as long (±20 % jitter), up to `LEADGRAPH_WEBHOOK_RETRY_MAX_DELAY`.
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_RETRY_BASE",
        default_value = "5s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub webhook_retry_base: Duration,
    /// The longest wait between two attempts of one delivery.
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_RETRY_MAX_DELAY",
        default_value = "3h",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub webhook_retry_max_delay: Duration,
    /// How long a delivery is retried after its first attempt before it is
    /// given up and its webhook marked `FAILING`.
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_RETRY_WINDOW",
        default_value = "24h",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub webhook_retry_window: Duration,
    /// How long an instance holds a webhook's delivery lease without
    /// renewing it; another instance takes the webhook over after that
    /// (e.g. when the holder crashed). Kept above twice the timeout.
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_LEASE",
        default_value = "30s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub webhook_lease: Duration,
    /// How often each instance looks for webhooks to deliver and due
    /// retries, beside the wake-up on new events.
    #[arg(
        long,
        env = "LEADGRAPH_WEBHOOK_POLL_INTERVAL",
        default_value = "1s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub webhook_poll_interval: Duration,
    /// Origins allowed to open `/graphql/ws` (comma-separated, e.g.
    /// `https://app.example.com`). Empty = any: tokens travel in the
    /// `connection_init` payload, never in cookies, so a foreign page cannot
    /// ride on a user's session.
    #[arg(
        long,
        env = "LEADGRAPH_ALLOWED_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_origins: Vec<String>,
    /// Browser origins allowed to call `/graphql` from another origin
    /// (CORS): comma-separated exact origins (`scheme://host[:port]`, e.g.
    /// `http://localhost:5173`) or `*` (any; never with credentials).
    /// Unset: no CORS headers (same-origin pages only). Also the WebSocket
    /// origins when `LEADGRAPH_ALLOWED_ORIGINS` is unset.
    #[arg(
        long,
        env = "LEADGRAPH_CORS_ORIGINS",
        default_value = "",
        hide_default_value = true,
        value_parser = crate::cors::parse_origins,
        global = true
    )]
    pub cors_origins: crate::cors::CorsOrigins,
    /// How long a browser may reuse a CORS preflight answer.
    #[arg(
        long,
        env = "LEADGRAPH_CORS_MAX_AGE",
        default_value = "10m",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub cors_max_age: Duration,
    /// Serve GraphiQL at `GET /graphql` (with `Accept: text/html`) and its
    /// assets under `/graphiql/assets/`; `false`: both 404.
    #[arg(
        long,
        env = "LEADGRAPH_GRAPHIQL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub graphiql: bool,
    /// How long a WebSocket may stay open without `connection_init` (then 4408).
    #[arg(
        long,
        env = "LEADGRAPH_WS_INIT_TIMEOUT",
        default_value = "10s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub ws_init_timeout: Duration,
    /// Largest response body, in bytes; a larger answer is replaced by a
    /// `LIMIT_EXCEEDED` error.
    #[arg(
        long,
        env = "LEADGRAPH_MAX_RESPONSE_BYTES",
        default_value_t = 8 * 1024 * 1024,
        global = true
    )]
    pub max_response_bytes: usize,
    /// Time one operation may run before it is stopped (`LIMIT_EXCEEDED`).
    #[arg(
        long,
        env = "LEADGRAPH_REQUEST_TIMEOUT",
        default_value = "30s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub request_timeout: Duration,
    /// Time a client gets to send a request's headers (then the connection
    /// is closed).
    #[arg(
        long,
        env = "LEADGRAPH_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub header_timeout: Duration,
    /// Time a client gets to send a request's body (then HTTP 408).
    #[arg(
        long,
        env = "LEADGRAPH_BODY_TIMEOUT",
        default_value = "30s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub body_timeout: Duration,
    /// Operations with aggregate fields (`funnel`, `costPerLead`,
    /// `leadRelevance`, `totalCount`) running at once on this instance;
    /// more wait for a turn.
    #[arg(
        long,
        env = "LEADGRAPH_MAX_HEAVY_QUERIES",
        default_value_t = 4,
        global = true
    )]
    pub max_heavy_queries: usize,
    /// Operations per second per subject (a token bucket, HTTP and
    /// WebSocket `subscribe` together); `0` turns rate limiting off.
    #[arg(long, env = "LEADGRAPH_RATE_LIMIT", default_value_t = 0, global = true)]
    pub rate_limit: u32,
    /// Operations a subject may send at once before the rate applies
    /// (`0`: as many as the rate per second).
    #[arg(long, env = "LEADGRAPH_RATE_BURST", default_value_t = 0, global = true)]
    pub rate_burst: u32,
    /// Leads per page of a CSV export (`/export/leads.csv`, `leadgraph
    /// export leads`): read, written and sent one page at a time, so this
    /// bounds the leads an export holds in memory.
    #[arg(
        long,
        env = "LEADGRAPH_EXPORT_PAGE_SIZE",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(1..=10_000),
        global = true
    )]
    pub export_page_size: u64,
    /// Answer the hot queries (sales queue, lead detail) with prepared
    /// plans once the executor has validated them (`graphql::plan`);
    /// `false` sends every operation through the executor.
    #[arg(
        long,
        env = "LEADGRAPH_PREPARED_PLANS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub prepared_plans: bool,
    /// Automatic persisted queries (Apollo's APQ): clients may send a
    /// document's SHA-256 instead of its text once registered;
    /// `false` answers `PersistedQueryNotSupported`.
    #[arg(
        long,
        env = "LEADGRAPH_APQ",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub apq: bool,
    /// Bytes of document text the automatic persisted queries cache holds
    /// on each instance; the least used documents are evicted beyond.
    #[arg(
        long,
        env = "LEADGRAPH_APQ_CACHE_SIZE",
        default_value_t = 8 * 1024 * 1024,
        global = true
    )]
    pub apq_cache_size: u64,
    /// An Apollo persisted query manifest (JSON) of trusted documents,
    /// always known by their hash; checked at startup.
    #[arg(long, env = "LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST", global = true)]
    pub trusted_documents_manifest: Option<PathBuf>,
    /// `only`: refuse every document that is not in the manifest.
    #[arg(
        long,
        env = "LEADGRAPH_TRUSTED_DOCUMENTS",
        value_enum,
        default_value = "off",
        global = true
    )]
    pub trusted_documents: TrustedDocuments,
    /// Largest file a `multipart/form-data` POST to `/graphql` may upload
    /// (`importLeads`), in bytes; JSON bodies keep their 1 MiB limit.
    #[arg(
        long,
        env = "LEADGRAPH_UPLOAD_MAX_BYTES",
        default_value_t = 20 * 1024 * 1024,
        global = true
    )]
    pub upload_max_bytes: usize,
}

/// A duration such as `1h` or `90s`; a bare `0` is zero (off).
fn parse_interval(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" => Ok(Duration::ZERO),
        other => humantime::parse_duration(other).map_err(|e| e.to_string()),
    }
}

impl Config {
    /// Every setting at its default, as the flags above declare it (the one
    /// place a default is written), with the environment ignored.
    // Parsing no arguments can only fail if a declared default does not
    // parse: a bug that `defaults_are_the_flags_defaults` catches.
    #[allow(clippy::expect_used)]
    pub fn defaults() -> Self {
        use clap::FromArgMatches;
        let command = Config::augment_args(clap::Command::new("leadgraph"))
            .mut_args(|arg| arg.env(None))
            .no_binary_name(true);
        let matches = command.get_matches_from(std::iter::empty::<String>());
        Config::from_arg_matches(&matches).expect("the declared defaults parse")
    }

    /// A configuration for tests and tools: the defaults with this database,
    /// on a free loopback port, without the periodic rescoring job, no
    /// environment.
    pub fn for_database(database_url: &str) -> Self {
        Config {
            database_url: database_url.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rescore_interval: Duration::ZERO,
            ..Config::defaults()
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

#[cfg(test)]
mod tests {
    use super::Config;
    use std::time::Duration;

    #[test]
    fn defaults_are_the_flags_defaults() {
        let config = Config::defaults();
        assert_eq!(config.max_batch, 10);
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.rescore_interval, Duration::from_secs(3600));
        let tools = Config::for_database("sqlite::memory:");
        assert_eq!(tools.rescore_interval, Duration::ZERO);
        assert_eq!(tools.max_complexity, config.max_complexity);
    }
}
