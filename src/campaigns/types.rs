//! GraphQL types of campaigns.

use crate::app::{AppState, Loaders};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::{AppError, AppResult};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::scalars::{Date, Decimal, Money};
use crate::leads::types::Channel;
use async_graphql::{Context, ID, InputObject, Object};
use entity::campaign;

/// `visible` hook of cost fields and types: shown only to roles that may
/// read campaign cost. Hiding is not refusing: the resolvers check too.
pub fn sees_cost(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<Viewer>()
        .is_some_and(|v| policy::allows(v.role, Capability::ReadCampaignCost))
}

/// A marketing campaign on one channel.
pub struct Campaign(pub campaign::Model);

impl From<campaign::Model> for Campaign {
    fn from(m: campaign::Model) -> Self {
        Campaign(m)
    }
}

impl Campaign {
    /// A campaign by id for `node`, `Lead.sourceCampaign`,
    /// `Interaction.campaign`: `FORBIDDEN` for roles that may not read
    /// campaigns.
    pub async fn visible(viewer: &Viewer, loaders: &Loaders, id: i64) -> AppResult<Option<Self>> {
        policy::require(viewer, Capability::ReadCampaigns)?;
        Ok(loaders.campaigns.load_one(id).await?.map(Campaign))
    }
}

#[Object]
impl Campaign {
    pub async fn id(&self) -> ID {
        encode(NodeType::Campaign, self.0.id)
    }
    /// Unique among campaigns.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The channel the campaign runs on; leads it brings default to it.
    async fn channel(&self) -> ApiResult<Channel> {
        Ok(crate::leads::channel::Channel::from_code(&self.0.channel)?.into())
    }
    async fn starts_on(&self) -> Option<Date> {
        self.0.starts_on.map(Date)
    }
    async fn ends_on(&self) -> Option<Date> {
        self.0.ends_on.map(Date)
    }
    /// The planned budget. MARKETING and ADMIN only.
    #[graphql(visible = "sees_cost")]
    async fn budget(&self, ctx: &Context<'_>) -> ApiResult<Option<Money>> {
        let viewer = crate::graphql::viewer(ctx)?;
        policy::require(viewer, Capability::ReadCampaignCost)?;
        let state = ctx.data_unchecked::<AppState>();
        Ok(self
            .0
            .budget_cents
            .map(|c| Money::from_cents(c, state.currency())))
    }
    /// The sum of the spend entries dated in `[from, to)`; an open bound is
    /// unbounded (both omitted: all time). MARKETING and ADMIN only.
    #[graphql(visible = "sees_cost")]
    async fn spend(
        &self,
        ctx: &Context<'_>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> ApiResult<Money> {
        let viewer = crate::graphql::viewer(ctx)?;
        policy::require(viewer, Capability::ReadCampaignCost)?;
        let (from, to) = (from.map(|d| d.0), to.map(|d| d.0));
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            return Err(AppError::bad_input("to", "to must not be before from").into());
        }
        let key = super::loader::SpendKey {
            campaign_id: self.0.id,
            from,
            to,
        };
        let loaders = ctx.data_unchecked::<Loaders>();
        let cents = loaders.campaign_spend.load_one(key).await?.unwrap_or(0);
        let state = ctx.data_unchecked::<AppState>();
        Ok(Money::from_cents(cents, state.currency()))
    }
}

/// A campaign's attributes; `updateCampaign` replaces all of them (an
/// omitted optional field becomes `null`).
#[derive(InputObject, Clone, Debug)]
pub struct CampaignInput {
    /// Unique, at most 256 characters.
    pub name: String,
    pub channel: Channel,
    pub starts_on: Option<Date>,
    /// Not before `startsOn`.
    pub ends_on: Option<Date>,
    /// At least 0, at most 2 decimals.
    pub budget: Option<Decimal>,
}

impl From<CampaignInput> for super::service::CampaignSpec {
    fn from(input: CampaignInput) -> Self {
        super::service::CampaignSpec {
            name: input.name,
            channel: input.channel.into(),
            starts_on: input.starts_on.map(|d| d.0),
            ends_on: input.ends_on.map(|d| d.0),
            budget: input.budget.map(|b| b.as_str().to_owned()),
        }
    }
}
