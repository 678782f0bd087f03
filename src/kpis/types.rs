//! GraphQL types of the KPIs.

use super::calc::{self, CohortCounts, CostFigures};
use super::model::{self, Group};
use crate::graphql::plain::{Buckets, Plain, Sel, float, money, object};
use crate::graphql::scalars::{DateTime, Money};
use crate::leads::lifecycle;
use crate::leads::types::LeadStage;
use async_graphql::{Enum, InputObject, ScalarType, SimpleObject, Value};

/// A half-open period `[from, to)` in UTC: `from < to`, at most 5 years.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct PeriodInput {
    pub from: DateTime,
    pub to: DateTime,
}

impl From<PeriodInput> for model::Period {
    fn from(input: PeriodInput) -> Self {
        model::Period {
            from: input.from.0,
            to: input.to.0,
        }
    }
}

/// How KPI rows are grouped.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "model::GroupBy")]
pub enum KpiGroupBy {
    /// One group, key `ALL`.
    None,
    /// By the lead's `sourceChannel` (costPerLead: the campaign's channel
    /// for spend); key = the Channel value.
    Channel,
    /// By `sourceCampaign`; key = the campaign's id, `NONE` for leads
    /// without one.
    Campaign,
    /// By the lead's current persona; key = the persona's id, `NONE` for
    /// leads without one. Not for costPerLead.
    Persona,
}

/// The buckets of a trend (`interval` of `funnel` and `costPerLead`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "calc::Interval")]
pub enum KpiInterval {
    /// UTC days.
    Day,
    /// ISO weeks: Monday 00:00 UTC to the next Monday.
    Week,
    /// Calendar months from the 1st, 00:00 UTC.
    Month,
}

/// What a trend adds to the complexity of its field: one per bucket (the
/// service refuses more than `calc::MAX_BUCKETS` with `LIMIT_EXCEEDED`).
pub fn trend_cost(period: &PeriodInput, interval: Option<KpiInterval>) -> usize {
    interval.map_or(0, |i| {
        calc::buckets(period.from.0, period.to.0, i.into(), calc::MAX_BUCKETS + 1)
            .map_or(calc::MAX_BUCKETS + 1, |b| b.len())
    })
}

/// One bucket of a group's funnel trend: the same figures as the group,
/// for the leads created in `[start, end)`.
#[derive(SimpleObject, Clone, Debug)]
pub struct FunnelBucket {
    /// Start of the bucket (inclusive): `period.from` for the first one,
    /// else a midnight, a Monday or a 1st (UTC).
    pub start: DateTime,
    /// End of the bucket (exclusive): `period.to` for the last one.
    pub end: DateTime,
    pub new_leads: i32,
    /// LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER in this order.
    pub stages: Vec<FunnelStage>,
    pub disqualified: i32,
    pub overall_conversion: Option<f64>,
}

/// One stage of a funnel group.
#[derive(SimpleObject, Clone, Debug)]
pub struct FunnelStage {
    pub stage: LeadStage,
    /// Cohort leads whose highest stage ever is at or beyond this one.
    pub reached: i32,
    /// reached / previous stage's reached; `null` for LEAD or when the
    /// previous stage is 0.
    pub conversion_from_previous: Option<f64>,
    /// Mean days from the first time at a stage ≥ the previous one to the
    /// first time at a stage ≥ this one, over the leads that reached this
    /// one; `null` for LEAD or when none did.
    pub avg_days_from_previous: Option<f64>,
}

/// The funnel of one group of the cohort.
#[derive(SimpleObject, Clone, Debug)]
pub struct FunnelGroup {
    /// `ALL`, a Channel value, a campaign or persona id, or `NONE`.
    pub key: String,
    /// A readable name: the channel, campaign or persona name.
    pub label: String,
    /// Leads created in the period (the cohort), erased ones included.
    pub new_leads: i32,
    /// LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER in this order.
    pub stages: Vec<FunnelStage>,
    /// Cohort leads currently DISQUALIFIED.
    pub disqualified: i32,
    /// CUSTOMER reached / newLeads; `null` when there are no new leads.
    pub overall_conversion: Option<f64>,
    /// With `interval`: the same figures per bucket of the period, every
    /// bucket in order (zeros where no lead was created); `null` without.
    pub buckets: Option<Buckets<FunnelBucket>>,
}

/// `funnel`: groups with at least one lead in the cohort (`NONE`: always
/// the one group `ALL`).
#[derive(SimpleObject, Clone, Debug)]
pub struct FunnelReport {
    pub from: DateTime,
    pub to: DateTime,
    pub groups: Vec<FunnelGroup>,
}

/// Cost, leads and return of one group. MARKETING and ADMIN only.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(visible = "crate::campaigns::types::sees_cost")]
pub struct CostRow {
    /// `ALL`, a Channel value, a campaign id, or `NONE`.
    pub key: String,
    pub label: String,
    /// Spend entries of the group's campaigns dated in the period.
    pub spend: Money,
    /// Cohort leads of the group (all of them reached LEAD).
    pub leads: i32,
    /// Cohort leads of the group that reached MQL.
    pub mqls: i32,
    /// … that reached SQL.
    pub sqls: i32,
    /// … that reached CUSTOMER.
    pub customers: i32,
    /// spend / leads; `null` when there are none.
    pub cost_per_lead: Option<Money>,
    pub cost_per_mql: Option<Money>,
    pub cost_per_sql: Option<Money>,
    pub cost_per_customer: Option<Money>,
    /// Deal amounts of the group's cohort leads that reached CUSTOMER.
    pub revenue: Money,
    /// (revenue − spend) / spend; `null` when spend is 0.
    pub roi: Option<f64>,
    /// With `interval`: the same figures per bucket of the period, every
    /// bucket in order; `null` without.
    pub buckets: Option<Buckets<CostBucket>>,
}

/// One bucket of a group's cost trend: spend entries dated in `[start,
/// end)` (by their date's midnight) and the leads created in it.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(visible = "crate::campaigns::types::sees_cost")]
pub struct CostBucket {
    /// Start of the bucket (inclusive).
    pub start: DateTime,
    /// End of the bucket (exclusive).
    pub end: DateTime,
    pub spend: Money,
    pub leads: i32,
    pub mqls: i32,
    pub sqls: i32,
    pub customers: i32,
    pub cost_per_lead: Option<Money>,
    pub cost_per_mql: Option<Money>,
    pub cost_per_sql: Option<Money>,
    pub cost_per_customer: Option<Money>,
    pub revenue: Money,
    pub roi: Option<f64>,
}

/// How many new leads fit the ideal customer profiles, and how many were
/// disqualified.
#[derive(SimpleObject, Clone, Debug)]
pub struct LeadRelevance {
    /// Leads created in the period.
    pub new_leads: i32,
    /// Cohort leads with `icpFit ≥ minIcpFit`.
    pub matching_icp: i32,
    /// matchingIcp / newLeads; `null` when there are no new leads.
    pub share: Option<f64>,
    /// Cohort leads currently DISQUALIFIED.
    pub disqualified: i32,
    /// disqualified / newLeads; `null` when there are no new leads.
    pub disqualification_rate: Option<f64>,
}

/// A group's `key` and `label`, as the API shows them (the CSV export
/// shows the same: `Group::key_and_label`).
pub fn key_and_label(group: Group) -> (String, String) {
    group.key_and_label()
}

/// Counts fit an Int: a cohort is far below 2^31 leads.
fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn stages(counts: &CohortCounts) -> Vec<FunnelStage> {
    calc::stage_figures(counts)
        .iter()
        .map(|s| FunnelStage {
            stage: lifecycle::LeadStage::FUNNEL[s.index].into(),
            reached: int(s.reached),
            conversion_from_previous: s.conversion_from_previous,
            avg_days_from_previous: s.avg_days_from_previous,
        })
        .collect()
}

/// A trend's buckets as the services give them.
pub type Series<T> = Vec<(
    (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    T,
)>;

impl FunnelGroup {
    pub fn new(group: Group, counts: &CohortCounts) -> Self {
        Self::with_trend(group, counts, None)
    }

    pub fn with_trend(
        group: Group,
        counts: &CohortCounts,
        trend: Option<Series<CohortCounts>>,
    ) -> Self {
        let (key, label) = key_and_label(group);
        FunnelGroup {
            key,
            label,
            new_leads: int(counts.new_leads),
            stages: stages(counts),
            disqualified: int(counts.disqualified),
            overall_conversion: calc::overall_conversion(counts),
            buckets: trend
                .map(|t| {
                    t.iter()
                        .map(|((start, end), c)| FunnelBucket {
                            start: DateTime(*start),
                            end: DateTime(*end),
                            new_leads: int(c.new_leads),
                            stages: stages(c),
                            disqualified: int(c.disqualified),
                            overall_conversion: calc::overall_conversion(c),
                        })
                        .collect()
                })
                .map(Buckets),
        }
    }
}

impl CostRow {
    pub fn new(group: Group, f: &CostFigures, currency: &str) -> Self {
        Self::with_trend(group, f, None, currency)
    }

    pub fn with_trend(
        group: Group,
        f: &CostFigures,
        trend: Option<Series<CostFigures>>,
        currency: &str,
    ) -> Self {
        let (key, label) = key_and_label(group);
        let money = |cents: i128| Money::from_cents(cents, currency);
        let buckets = trend
            .map(|t| {
                t.iter()
                    .map(|((start, end), f)| CostBucket {
                        start: DateTime(*start),
                        end: DateTime(*end),
                        spend: money(f.spend_cents),
                        leads: int(f.leads),
                        mqls: int(f.mqls),
                        sqls: int(f.sqls),
                        customers: int(f.customers),
                        cost_per_lead: f.cost_per_lead.map(money),
                        cost_per_mql: f.cost_per_mql.map(money),
                        cost_per_sql: f.cost_per_sql.map(money),
                        cost_per_customer: f.cost_per_customer.map(money),
                        revenue: money(f.revenue_cents),
                        roi: f.roi,
                    })
                    .collect()
            })
            .map(Buckets);
        CostRow {
            buckets,
            key,
            label,
            spend: money(f.spend_cents),
            leads: int(f.leads),
            mqls: int(f.mqls),
            sqls: int(f.sqls),
            customers: int(f.customers),
            cost_per_lead: f.cost_per_lead.map(money),
            cost_per_mql: f.cost_per_mql.map(money),
            cost_per_sql: f.cost_per_sql.map(money),
            cost_per_customer: f.cost_per_customer.map(money),
            revenue: money(f.revenue_cents),
            roi: f.roi,
        }
    }
}

impl LeadRelevance {
    pub fn new(new_leads: i64, matching_icp: i64, disqualified: i64) -> Self {
        LeadRelevance {
            new_leads: int(new_leads),
            matching_icp: int(matching_icp),
            share: calc::ratio(matching_icp, new_leads),
            disqualified: int(disqualified),
            disqualification_rate: calc::ratio(disqualified, new_leads),
        }
    }
}

// The buckets of a trend, written in one pass (`graphql::plain`).

impl Plain for FunnelStage {
    const NAME: &'static str = "FunnelStage";
    fn child(_: &str, _: &str) -> Option<&'static str> {
        None
    }
    fn value(&self, field: &str, _: &[Sel]) -> Option<Value> {
        Some(match field {
            "stage" => async_graphql::resolver_utils::enum_value(self.stage),
            "reached" => self.reached.to_value(),
            "conversionFromPrevious" => float(self.conversion_from_previous),
            "avgDaysFromPrevious" => float(self.avg_days_from_previous),
            _ => return None,
        })
    }
}

impl Plain for FunnelBucket {
    const NAME: &'static str = "FunnelBucket";
    fn child(parent: &str, field: &str) -> Option<&'static str> {
        (parent == Self::NAME && field == "stages").then_some(FunnelStage::NAME)
    }
    fn value(&self, field: &str, children: &[Sel]) -> Option<Value> {
        Some(match field {
            "start" => self.start.to_value(),
            "end" => self.end.to_value(),
            "newLeads" => self.new_leads.to_value(),
            "stages" => Value::List(
                self.stages
                    .iter()
                    .map(|s| object(s, children))
                    .collect::<Option<_>>()?,
            ),
            "disqualified" => self.disqualified.to_value(),
            "overallConversion" => float(self.overall_conversion),
            _ => return None,
        })
    }
}

impl Plain for CostBucket {
    const NAME: &'static str = "CostBucket";
    fn child(parent: &str, field: &str) -> Option<&'static str> {
        let money = matches!(
            field,
            "spend" | "costPerLead" | "costPerMql" | "costPerSql" | "costPerCustomer" | "revenue"
        );
        (parent == Self::NAME && money).then_some(<Money as Plain>::NAME)
    }
    fn value(&self, field: &str, children: &[Sel]) -> Option<Value> {
        Some(match field {
            "start" => self.start.to_value(),
            "end" => self.end.to_value(),
            "spend" => money(Some(&self.spend), children)?,
            "leads" => self.leads.to_value(),
            "mqls" => self.mqls.to_value(),
            "sqls" => self.sqls.to_value(),
            "customers" => self.customers.to_value(),
            "costPerLead" => money(self.cost_per_lead.as_ref(), children)?,
            "costPerMql" => money(self.cost_per_mql.as_ref(), children)?,
            "costPerSql" => money(self.cost_per_sql.as_ref(), children)?,
            "costPerCustomer" => money(self.cost_per_customer.as_ref(), children)?,
            "revenue" => money(Some(&self.revenue), children)?,
            "roi" => float(self.roi),
            _ => return None,
        })
    }
}
