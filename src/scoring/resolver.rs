//! Scoring queries and mutations: MARKETING and ADMIN only, and absent from
//! other roles' introspection.

use super::service;
use super::types::{
    RescoreResult, ScoringRule, ScoringRuleInput, ScoringSettings, scoring_readable,
    scoring_writable,
};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::{state, viewer};
use async_graphql::{Context, ID, Object};

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Default)]
pub struct ScoringQuery;

#[Object]
impl ScoringQuery {
    /// The scoring rules, oldest first. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn scoring_rules(&self, ctx: &Context<'_>) -> ApiResult<Vec<ScoringRule>> {
        let rules = service::list_rules(viewer(ctx)?, &state(ctx).db.read).await?;
        Ok(rules.into_iter().map(ScoringRule).collect())
    }

    /// The scoring settings. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn scoring_settings(&self, ctx: &Context<'_>) -> ApiResult<ScoringSettings> {
        let mql_threshold = service::settings(viewer(ctx)?, &state(ctx).db.read).await?;
        Ok(ScoringSettings { mql_threshold })
    }
}

#[derive(Default)]
pub struct ScoringMutation;

#[Object]
impl ScoringMutation {
    /// Add a scoring rule; it scores leads from the next rescoring on
    /// (`rescoreLeads`, the periodic job, or a change to the lead).
    #[graphql(visible = "scoring_writable")]
    async fn create_scoring_rule(
        &self,
        ctx: &Context<'_>,
        input: ScoringRuleInput,
    ) -> ApiResult<ScoringRule> {
        let rule = service::create_rule(viewer(ctx)?, &state(ctx).db.write, input.into()).await?;
        Ok(ScoringRule(rule))
    }

    /// Replace a scoring rule; it takes effect on the next rescoring.
    #[graphql(visible = "scoring_writable")]
    async fn update_scoring_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ScoringRuleInput,
    ) -> ApiResult<ScoringRule> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::ScoringRule, &id, "id")?;
        let rule = service::update_rule(viewer, &state(ctx).db.write, id, input.into()).await?;
        Ok(ScoringRule(rule))
    }

    /// Delete a scoring rule; the leads it scored are rescored before this returns.
    #[graphql(visible = "scoring_writable")]
    async fn delete_scoring_rule(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::ScoringRule, &id, "id")?;
        Ok(service::delete_rule(viewer, &state(ctx).db, id).await?)
    }

    /// Set the MQL threshold (at least 1); it takes effect on the next rescoring.
    #[graphql(visible = "scoring_writable")]
    async fn update_scoring_settings(
        &self,
        ctx: &Context<'_>,
        mql_threshold: i32,
    ) -> ApiResult<ScoringSettings> {
        let mql_threshold =
            service::update_settings(viewer(ctx)?, &state(ctx).db.write, mql_threshold).await?;
        Ok(ScoringSettings { mql_threshold })
    }

    /// Rescore every lead now with the current rules, personas and threshold
    /// (and decay), in batches; LEADs reaching the threshold move to MQL.
    #[graphql(visible = "scoring_writable")]
    async fn rescore_leads(&self, ctx: &Context<'_>) -> ApiResult<RescoreResult> {
        let counts = service::rescore(viewer(ctx)?, &state(ctx).db).await?;
        Ok(RescoreResult {
            leads_rescored: count(counts.leads_rescored),
            promoted_to_mql: count(counts.promoted_to_mql),
        })
    }
}
