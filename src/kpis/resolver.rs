//! KPI queries: get the viewer, call one service, convert.

use super::service;
use super::types::{
    CostRow, FunnelGroup, FunnelReport, KpiGroupBy, KpiInterval, LeadRelevance, PeriodInput,
    trend_cost,
};
use crate::graphql::error::ApiResult;
use crate::graphql::{state, viewer};
use async_graphql::{Context, Object};

#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// The funnel of the leads created in the period (the cohort): per group,
    /// how many reached each stage, conversion and mean days between stages.
    /// With `interval`, each group also has its figures per bucket
    /// (`buckets`: DAY, ISO WEEK or MONTH, UTC; the first and last bucket cut
    /// at the period's ends; at most 400 buckets).
    #[graphql(complexity = "child_complexity + trend_cost(&period, interval)")]
    async fn funnel(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default_with = "Some(KpiGroupBy::None)")] group_by: Option<KpiGroupBy>,
        interval: Option<KpiInterval>,
    ) -> ApiResult<FunnelReport> {
        let group_by = group_by.unwrap_or(KpiGroupBy::None).into();
        let cohorts = &ctx.data_unchecked::<crate::app::Loaders>().cohorts;
        let groups = service::funnel_trend(
            viewer(ctx)?,
            &state(ctx).db.read,
            cohorts,
            &period.into(),
            group_by,
            interval.map(Into::into),
        )
        .await?;
        Ok(FunnelReport {
            from: period.from,
            to: period.to,
            groups: groups
                .into_iter()
                .map(|(group, counts, trend)| FunnelGroup::with_trend(group, &counts, trend))
                .collect(),
        })
    }

    /// Spend, leads, cost per lead / MQL / SQL / customer, revenue and ROI
    /// per group (NONE, CHANNEL or CAMPAIGN). MARKETING and ADMIN only.
    /// With `interval`, each row also has its figures per bucket (`buckets`,
    /// as for `funnel`).
    #[graphql(
        visible = "crate::campaigns::types::sees_cost",
        complexity = "child_complexity + trend_cost(&period, interval)"
    )]
    async fn cost_per_lead(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        #[graphql(default_with = "Some(KpiGroupBy::Channel)")] group_by: Option<KpiGroupBy>,
        interval: Option<KpiInterval>,
    ) -> ApiResult<Vec<CostRow>> {
        let group_by = group_by.unwrap_or(KpiGroupBy::Channel).into();
        let state = state(ctx);
        let cohorts = &ctx.data_unchecked::<crate::app::Loaders>().cohorts;
        let rows = service::cost_per_lead_trend(
            viewer(ctx)?,
            &state.db.read,
            cohorts,
            &period.into(),
            group_by,
            interval.map(Into::into),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(group, figures, trend)| {
                CostRow::with_trend(group, &figures, trend, state.currency())
            })
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
