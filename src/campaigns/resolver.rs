//! Campaign queries and mutations: get the viewer, call one service, convert.

use super::service;
use super::types::{Campaign, CampaignInput};
use crate::auth::policy::{self, Capability};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::scalars::{Date, Decimal};
use crate::graphql::{state, viewer};
use async_graphql::{Context, ID, Object};

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    /// Every campaign, by name. SALES sees names and channels only.
    async fn campaigns(&self, ctx: &Context<'_>) -> ApiResult<Vec<Campaign>> {
        let rows = service::list(viewer(ctx)?, &state(ctx).db.read).await?;
        Ok(rows.into_iter().map(Campaign).collect())
    }
}

#[derive(Default)]
pub struct CampaignMutation;

#[Object]
impl CampaignMutation {
    /// Create a campaign; a name already in use is `CONFLICT`.
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        input: CampaignInput,
    ) -> ApiResult<Campaign> {
        Ok(Campaign(
            service::create(viewer(ctx)?, &state(ctx).db.write, input.into()).await?,
        ))
    }

    /// Replace a campaign's attributes (omitted optional fields become `null`).
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CampaignInput,
    ) -> ApiResult<Campaign> {
        let viewer = viewer(ctx)?;
        // The policy first: a role that may not write learns nothing of its
        // arguments.
        policy::require(viewer, Capability::WriteCampaigns)?;
        let id = ids::decode(NodeType::Campaign, &id, "id")?;
        Ok(Campaign(
            service::update(viewer, &state(ctx).db.write, id, input.into()).await?,
        ))
    }

    /// Record what a campaign spent on a day (at least 0, at most 2
    /// decimals). Recording the same day again replaces the amount.
    async fn record_spend(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
        on: Date,
        amount: Decimal,
    ) -> ApiResult<Campaign> {
        let viewer = viewer(ctx)?;
        policy::require(viewer, Capability::WriteCampaigns)?;
        let id = ids::decode(NodeType::Campaign, &campaign_id, "campaignId")?;
        let db = &state(ctx).db.write;
        Ok(Campaign(
            service::record_spend(viewer, db, id, on.0, amount.as_str()).await?,
        ))
    }
}
