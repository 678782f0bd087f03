//! Application state, the router and `serve`.

use crate::auth::{Viewer, jwt::JwtKeys};
use crate::config::Config;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::graphql::{AppSchema, Limits};
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use migration::MigratorTrait;
use std::{sync::Arc, time::Duration};

/// Everything a request needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<Config>,
    pub users: crate::users::service::UserCache,
    /// Stage-change events of this instance: the dispatcher and subscribers.
    pub events: Arc<crate::events::EventBus>,
    /// Trusted documents and automatic persisted queries (both transports).
    pub persisted: Arc<crate::graphql::persisted::Persisted>,
    /// Webhook delivery: the HTTP sender, retry schedule, wake-up.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
}

impl AppState {
    pub fn currency(&self) -> &str {
        &self.config.currency
    }
}

/// Per-request DataLoaders, scoped to the viewer.
pub struct Loaders {
    pub leads: async_graphql::dataloader::DataLoader<crate::leads::loader::LeadLoader>,
    pub users: async_graphql::dataloader::DataLoader<ById<entity::app_user::Entity>>,
    pub history: async_graphql::dataloader::DataLoader<crate::leads::loader::HistoryLoader>,
    pub interactions:
        async_graphql::dataloader::DataLoader<crate::interactions::loader::InteractionPageLoader>,
    pub interaction_counts:
        async_graphql::dataloader::DataLoader<crate::interactions::loader::InteractionCountLoader>,
    pub campaigns: async_graphql::dataloader::DataLoader<ById<entity::campaign::Entity>>,
    pub campaign_spend:
        async_graphql::dataloader::DataLoader<crate::campaigns::loader::SpendLoader>,
    pub scoring_rules: async_graphql::dataloader::DataLoader<ById<entity::scoring_rule::Entity>>,
    pub personas: async_graphql::dataloader::DataLoader<ById<entity::persona::Entity>>,
    /// Lead cohorts of the KPI fields, read once per request.
    pub cohorts: crate::kpis::service::Cohorts,
}

/// How long a DataLoader gathers keys before it queries. On tokio's timer
/// (async-graphql's `tokio-timer` feature) this rounds up to the next
/// millisecond tick.
const BATCH_DELAY: Duration = Duration::from_micros(100);

/// Rows of the entity `E` by their `i64` primary key, one query per batch:
/// the DataLoader of users, personas, scoring rules and campaigns (deleted
/// rows included: what names them always resolves; visibility is decided
/// by the caller).
pub struct ById<E> {
    db: sea_orm::DatabaseConnection,
    entity: std::marker::PhantomData<fn() -> E>,
}

impl<E> ById<E> {
    pub fn new(db: &sea_orm::DatabaseConnection) -> Self {
        ById {
            db: db.clone(),
            entity: std::marker::PhantomData,
        }
    }
}

impl<E> async_graphql::dataloader::Loader<i64> for ById<E>
where
    E: sea_orm::EntityTrait,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[i64],
    ) -> Result<std::collections::HashMap<i64, E::Model>, AppError> {
        use sea_orm::{ColumnTrait, Iterable, ModelTrait, PrimaryKeyToColumn, QueryFilter};
        let table = E::default().table_name().to_owned();
        let Some(id) = E::PrimaryKey::iter()
            .next()
            .map(PrimaryKeyToColumn::into_column)
        else {
            return Err(AppError::internal(format!("{table} has no primary key")));
        };
        let rows = E::find()
            .filter(id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| match row.get(id) {
                sea_orm::Value::BigInt(Some(key)) => Ok((key, row)),
                other => Err(AppError::internal(format!(
                    "{table}: a primary key that is not a BIGINT: {other:?}"
                ))),
            })
            .collect()
    }
}

/// A per-request DataLoader of `loader`.
fn batched<T: Send + Sync + 'static>(loader: T) -> async_graphql::dataloader::DataLoader<T> {
    async_graphql::dataloader::DataLoader::new(loader, tokio::spawn).delay(BATCH_DELAY)
}

impl Loaders {
    pub fn new(state: &AppState, viewer: &Viewer) -> Self {
        use crate::{campaigns, interactions, leads};
        let db = &state.db.read;
        Loaders {
            leads: batched(leads::loader::LeadLoader {
                db: db.clone(),
                scope: crate::auth::policy::lead_scope(viewer),
            }),
            users: batched(ById::new(db)),
            history: batched(leads::loader::HistoryLoader { db: db.clone() }),
            interactions: batched(interactions::loader::InteractionPageLoader { db: db.clone() }),
            interaction_counts: batched(interactions::loader::InteractionCountLoader {
                db: db.clone(),
            }),
            campaigns: batched(ById::new(db)),
            campaign_spend: batched(campaigns::loader::SpendLoader { db: db.clone() }),
            scoring_rules: batched(ById::new(db)),
            personas: batched(ById::new(db)),
            cohorts: Default::default(),
        }
    }

    /// A lead the viewer may see, by database id.
    pub async fn lead(&self, id: i64) -> AppResult<Option<crate::leads::types::Lead>> {
        Ok(self
            .leads
            .load_one(id)
            .await?
            .map(crate::leads::types::Lead::from))
    }
}

/// Build the state: connect, migrate, load keys.
pub async fn build_state(config: Config) -> AppResult<AppState> {
    crate::telemetry::prometheus();
    let persisted = crate::graphql::persisted::Persisted::from_config(&config)?;
    let keys = JwtKeys::from_config(&config, true)?;
    let db = Db::connect(&config).await?;
    apply_migrations(&db).await?;
    let events = crate::events::EventBus::start(&db, &config).await?;
    let webhooks = crate::webhooks::Webhooks::from_config(&config)?;
    let state = AppState {
        db,
        keys: Arc::new(keys),
        config: Arc::new(config),
        users: crate::users::service::UserCache::new(),
        events,
        persisted: Arc::new(persisted),
        webhooks: Arc::new(webhooks),
    };
    // Deliverers run on every instance; leases keep one per webhook.
    crate::webhooks::worker::spawn(state.clone());
    // Every instance folds the KPI rollup deltas; a lock keeps one fold at a time.
    crate::kpis::rollups::spawn_compactor(&state);
    Ok(state)
}

pub fn schema(state: &AppState) -> AppSchema {
    crate::graphql::schema_builder(Limits {
        max_depth: state.config.max_depth,
        max_complexity: state.config.max_complexity,
    })
    .data(state.clone())
    .finish()
}

pub fn router(state: AppState) -> Router {
    let exec = crate::graphql::execute::Executor::new(schema(&state), state.clone());
    let mut graphql_http = crate::graphql::http::routes(exec.clone());
    // The CSV exports share the GraphQL transport's rate limit and
    // heavy-query permits, and its CORS policy.
    let rate_exec = exec.clone();
    let mut exports = crate::exports::http::routes(crate::exports::http::ExportHttp {
        state: state.clone(),
        rate: Arc::new(move |subject: &str| {
            rate_exec
                .rate_check(subject, 1)
                .map_err(|limited| limited.retry_after)
        }),
        heavy: exec.heavy_queries(),
    });
    if let Some(cors) = crate::cors::layer(&state.config) {
        graphql_http = graphql_http.layer(cors.clone());
        exports = exports.layer(cors);
    }
    Router::new()
        .merge(graphql_http)
        .merge(exports)
        .merge(crate::graphql::ws::routes(exec))
        .merge(crate::graphql::graphiql::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::graphql::http::panic_response,
        ))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.read.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::telemetry::prometheus().render(),
    )
}

async fn apply_migrations(db: &Db) -> AppResult<()> {
    migration::Migrator::up(&db.write, None)
        .await
        .map_err(|e| AppError::config("DATABASE_URL", format!("cannot apply migrations: {e}")))
}

/// `leadgraph serve`; with `demo`, first load the demo data set and print
/// tokens (`crate::demo`).
pub async fn serve(config: Config, demo: bool) -> AppResult<()> {
    let addr = config.addr;
    let state = build_state(config).await?;
    let loaded = if demo {
        Some(crate::demo::load(&state.db, crate::demo::today()).await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AppError::config("LEADGRAPH_ADDR", format!("cannot listen on {addr}: {e}")))?;
    if let Some(loaded) = loaded {
        let url = crate::demo::graphiql_url(listener.local_addr().unwrap_or(addr));
        let text = crate::demo::announcement(&loaded, &state.keys, &url)?;
        // A closed stdout (`serve --demo | head`) must not stop the server.
        let mut stdout = std::io::stdout();
        if let Err(err) = std::io::Write::write_all(&mut stdout, text.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut stdout))
        {
            tracing::warn!(error = %err, "cannot print the demo's tokens");
        }
    }
    crate::scoring::service::spawn_periodic(&state);
    tracing::info!(%addr, backend = ?state.db.backend(), "leadgraph serving GraphQL at /graphql");
    let events = state.events.clone();
    let webhooks = state.webhooks.clone();
    let webhook_grace = state.config.webhook_timeout + Duration::from_secs(5);
    let header_timeout = state.config.header_timeout;
    serve_on(listener, router(state), header_timeout, async move {
        shutdown_signal().await;
        // Closes the WebSockets, which graceful shutdown does not wait for.
        events.shutdown();
    })
    .await;
    // Attempts in flight are recorded and leases released before exit.
    webhooks.wait_finished(webhook_grace).await;
    Ok(())
}

/// How long open connections get to finish their requests at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serve `router` on `listener` until `shutdown` completes, then let open
/// connections finish. Each connection gets `header_timeout` to send a
/// request's headers (a client that trickles them is dropped), and its
/// socket sends small writes at once (`TCP_NODELAY`).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(error = %err, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(error = %err, "cannot set TCP_NODELAY");
                }
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

/// `leadgraph migrate`.
pub async fn migrate(config: &Config) -> AppResult<()> {
    let db = Db::connect(config).await?;
    apply_migrations(&db).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
