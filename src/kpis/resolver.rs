//! KPI queries: get the viewer, call one service, convert.

use super::service;
use super::types::{CostRow, FunnelGroup, FunnelReport, KpiGroupBy, LeadRelevance, PeriodInput};
use crate::graphql::error::ApiResult;
use crate::graphql::{state, viewer};
use async_graphql::{Context, Object};

#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// The funnel of the leads created in the period (the cohort): per group,
    /// how many reached each stage, conversion and mean days between stages.
    async fn funnel(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default_with = "Some(KpiGroupBy::None)")] group_by: Option<KpiGroupBy>,
    ) -> ApiResult<FunnelReport> {
        let group_by = group_by.unwrap_or(KpiGroupBy::None).into();
        let cohorts = &ctx.data_unchecked::<crate::app::Loaders>().cohorts;
        let groups = service::funnel(
            viewer(ctx)?,
            &state(ctx).db.read,
            cohorts,
            &period.into(),
            group_by,
        )
        .await?;
        Ok(FunnelReport {
            from: period.from,
            to: period.to,
            groups: groups
                .into_iter()
                .map(|(group, counts)| FunnelGroup::new(group, &counts))
                .collect(),
        })
    }

    /// Spend, leads, cost per lead / MQL / SQL / customer, revenue and ROI
    /// per group (NONE, CHANNEL or CAMPAIGN). MARKETING and ADMIN only.
    #[graphql(visible = "crate::campaigns::types::sees_cost")]
    async fn cost_per_lead(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default_with = "Some(KpiGroupBy::Channel)")] group_by: Option<KpiGroupBy>,
    ) -> ApiResult<Vec<CostRow>> {
        let group_by = group_by.unwrap_or(KpiGroupBy::Channel).into();
        let state = state(ctx);
        let cohorts = &ctx.data_unchecked::<crate::app::Loaders>().cohorts;
        let rows = service::cost_per_lead(
            viewer(ctx)?,
            &state.db.read,
            cohorts,
            &period.into(),
            group_by,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(group, figures)| CostRow::new(group, &figures, state.currency()))
            .collect())
    }

    /// How many of the period's new leads fit an ideal customer profile
    /// (`icpFit ≥ minIcpFit`, between 0 and 1) and how many were disqualified.
    async fn lead_relevance(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default = 0.5)] min_icp_fit: Option<f64>,
    ) -> ApiResult<LeadRelevance> {
        let (new_leads, matching, disqualified) = service::lead_relevance(
            viewer(ctx)?,
            &state(ctx).db.read,
            &period.into(),
            min_icp_fit.unwrap_or(0.5),
        )
        .await?;
        Ok(LeadRelevance::new(new_leads, matching, disqualified))
    }
}
