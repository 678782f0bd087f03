//! The GraphQL layer: schema construction (no database needed), merged roots,
//! HTTP handler, scalars and global ids.

pub mod documents;
pub mod error;
pub mod execute;
pub mod graphiql;
pub mod guard;
pub mod http;
pub mod ids;
pub mod operations;
pub mod pagination;
pub mod persisted;
pub mod plain;
pub mod plan;
pub mod scalars;
pub mod subscriptions;
pub mod ws;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use async_graphql::{Context, MergedObject, MergedSubscription, Schema, SchemaBuilder};

/// The query root: every field passes the policy's gate first.
pub type QueryRoot = guard::Gated<QueryFields>;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryFields(
    crate::leads::resolver::LeadQuery,
    crate::users::resolver::UserQuery,
    crate::graphql::ids::NodeQuery,
    crate::campaigns::resolver::CampaignQuery,
    crate::kpis::resolver::KpiQuery,
    crate::scoring::resolver::ScoringQuery,
    crate::personas::resolver::PersonaQuery,
    crate::webhooks::resolver::WebhookQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    crate::leads::resolver::LeadMutation,
    crate::interactions::resolver::InteractionMutation,
    crate::campaigns::resolver::CampaignMutation,
    crate::scoring::resolver::ScoringMutation,
    crate::personas::resolver::PersonaMutation,
    crate::webhooks::resolver::WebhookMutation,
    crate::imports::resolver::ImportMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(subscriptions::EventSubscription);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Limits of a schema (docs/errors.md).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
}

impl Default for Limits {
    /// The limits of the default configuration.
    fn default() -> Self {
        let config = crate::config::Config::defaults();
        Limits {
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
        }
    }
}

/// The schema without runtime data; the server adds its state with `.data()`.
pub fn schema_builder(limits: Limits) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(32)
    .limit_directives(20)
    .disable_suggestions()
}

/// The SDL of the full schema, sorted, as checked in at `schema/schema.graphql`.
pub fn sdl() -> String {
    let schema = schema_builder(Limits::default()).finish();
    schema.sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// The viewer of this request (the HTTP handler always sets it).
pub fn viewer<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Viewer> {
    ctx.data::<Viewer>()
        .map_err(|_| AppError::Unauthenticated("authentication required".into()))
}

/// The application state of this request.
pub fn state<'a>(ctx: &'a Context<'_>) -> &'a crate::app::AppState {
    ctx.data_unchecked::<crate::app::AppState>()
}
