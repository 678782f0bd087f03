//! GraphQL types of leads.

use super::{channel, lifecycle};
use crate::app::{AppState, Loaders};
use crate::error::{AppError, AppResult};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::PageInfo;
use crate::graphql::scalars::{DateTime, Money};
use crate::interactions::types::{InteractionConnection, InteractionKind};
use crate::users::types::User;
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject,
};
use entity::lead;

/// Where a lead stands in the funnel.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "lifecycle::LeadStage")]
pub enum LeadStage {
    /// Identified contact with a first, faint interest.
    Lead,
    /// Marketing-qualified: enough engagement and fit.
    Mql,
    /// Sales-qualified: budget, need and authority confirmed.
    Sql,
    /// In negotiation.
    Opportunity,
    /// Bought.
    Customer,
    /// Out of the funnel, with a reason; may be recycled.
    Disqualified,
}

/// Where a lead came from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "channel::Channel")]
pub enum Channel {
    OrganicSearch,
    PaidSearch,
    Social,
    Email,
    Content,
    Webinar,
    Event,
    Referral,
    Direct,
    Other,
}

/// An identified contact and where it stands in the funnel.
pub struct Lead(pub lead::Model);

impl From<lead::Model> for Lead {
    fn from(m: lead::Model) -> Self {
        Lead(m)
    }
}

/// What sales confirmed about the lead (BANT).
#[derive(SimpleObject, Clone, Debug)]
pub struct Qualification {
    pub budget: bool,
    pub need: bool,
    /// The contact holds decision power.
    pub authority: bool,
    pub timeline: Option<String>,
    pub notes: Option<String>,
}

/// One row of a lead's stage history.
#[derive(SimpleObject, Clone, Debug)]
pub struct StageChange {
    /// `null` for the creation.
    pub from: Option<LeadStage>,
    pub to: LeadStage,
    pub at: DateTime,
    /// The JWT subject that made the change, or `system:scoring`.
    pub actor: String,
    pub reason: Option<String>,
}

impl TryFrom<entity::stage_change::Model> for StageChange {
    type Error = AppError;

    fn try_from(m: entity::stage_change::Model) -> Result<Self, AppError> {
        Ok(StageChange {
            from: match m.from_stage.as_deref() {
                Some(code) => Some(lifecycle::LeadStage::from_code(code)?.into()),
                None => None,
            },
            to: lifecycle::LeadStage::from_code(&m.to_stage)?.into(),
            at: DateTime(m.at),
            actor: m.actor,
            reason: m.reason,
        })
    }
}

#[Object]
impl Lead {
    pub async fn id(&self) -> ID {
        encode(NodeType::Lead, self.0.id)
    }
    /// Lower-cased, unique.
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    async fn job_title(&self) -> Option<&str> {
        self.0.job_title.as_deref()
    }
    async fn industry(&self) -> Option<&str> {
        self.0.industry.as_deref()
    }
    async fn company_size(&self) -> Option<i32> {
        self.0.company_size
    }
    /// ISO 3166-1 alpha-2, upper case.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn stage(&self) -> ApiResult<LeadStage> {
        Ok(lifecycle::LeadStage::from_code(&self.0.stage)?.into())
    }
    /// `fitScore + engagementScore`.
    async fn score(&self) -> i32 {
        self.0.score
    }
    /// Points of the matching FIT rules.
    async fn fit_score(&self) -> i32 {
        self.0.fit_score
    }
    /// Points of the ENGAGEMENT rules, decayed and capped.
    async fn engagement_score(&self) -> i32 {
        self.0.engagement_score
    }
    /// Each rule with a non-zero contribution; the points add up to `score`.
    /// Visible to every role that sees the lead, SALES included (rule id,
    /// name, kind and points; the rule's definition is for MARKETING and ADMIN).
    async fn score_breakdown(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<crate::scoring::types::ScoreContribution>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(crate::scoring::types::breakdown(loaders, &self.0).await?)
    }
    /// The best-matching persona; `null` when none matches at all.
    async fn persona(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<crate::personas::types::Persona>> {
        let Some(id) = self.0.persona_id else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders
            .personas
            .load_one(id)
            .await?
            .map(crate::personas::types::Persona))
    }
    /// Fit (0..1) to the best-matching persona; `null` when none matches.
    async fn icp_fit(&self) -> Option<f64> {
        self.0.icp_fit
    }
    async fn source_channel(&self) -> ApiResult<Channel> {
        Ok(channel::Channel::from_code(&self.0.source_channel)?.into())
    }
    /// The campaign of the first touch.
    async fn source_campaign(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<crate::campaigns::types::Campaign>> {
        let Some(id) = self.0.source_campaign_id else {
            return Ok(None);
        };
        let viewer = crate::graphql::viewer(ctx)?;
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(crate::campaigns::types::Campaign::visible(viewer, loaders, id).await?)
    }
    /// The sales rep who owns the lead.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(owner) = self.0.owner_id else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders
            .users
            .load_one(owner)
            .await?
            .map(User::try_from)
            .transpose()?)
    }
    async fn qualification(&self) -> Qualification {
        Qualification {
            budget: self.0.qual_budget,
            need: self.0.qual_need,
            authority: self.0.qual_authority,
            timeline: self.0.qual_timeline.clone(),
            notes: self.0.qual_notes.clone(),
        }
    }
    /// The deal's amount (set moving to OPPORTUNITY or CUSTOMER).
    async fn deal_amount(&self, ctx: &Context<'_>) -> Option<Money> {
        let state = ctx.data_unchecked::<AppState>();
        self.0
            .deal_amount_cents
            .map(|c| Money::from_cents(c, state.currency()))
    }
    async fn disqualification_reason(&self) -> Option<&str> {
        self.0.disqualification_reason.as_deref()
    }
    /// The lead's interactions, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        kinds: Option<Vec<InteractionKind>>,
    ) -> ApiResult<InteractionConnection> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(crate::interactions::types::page_for_lead(
            loaders,
            self.0.id,
            first,
            after,
            kinds.map(|kinds| kinds.into_iter().map(Into::into).collect()),
        )
        .await?)
    }
    /// Oldest first; the first entry is the creation (`from: null`).
    async fn stage_history(&self, ctx: &Context<'_>) -> ApiResult<Vec<StageChange>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.history.load_one(self.0.id).await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(StageChange::try_from)
            .collect::<Result<_, _>>()?)
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
    async fn stage_changed_at(&self) -> DateTime {
        DateTime(self.0.stage_changed_at)
    }
    /// Increases with every change; pass as `expectedVersion` to update safely.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

#[derive(SimpleObject)]
pub struct LeadEdge {
    pub cursor: String,
    pub node: Lead,
}

/// A page of leads.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct LeadConnection {
    pub edges: Vec<LeadEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub count_query: super::service::LeadCountQuery,
}

#[ComplexObject]
impl LeadConnection {
    /// Leads matching the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let state = ctx.data_unchecked::<AppState>();
        Ok(self.count_query.count(&state.db.read).await?)
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "super::model::OrderField")]
pub enum LeadOrderField {
    Score,
    CreatedAt,
    UpdatedAt,
    StageChangedAt,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "super::model::Direction")]
pub enum SortDirection {
    Asc,
    Desc,
}

/// Sort order of `leads`; ties are broken by id in the same direction.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct LeadOrder {
    pub field: LeadOrderField,
    pub direction: SortDirection,
}

/// Every given criterion must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub struct LeadFilter {
    pub stages: Option<Vec<LeadStage>>,
    pub owner_id: Option<ID>,
    /// `true`: only leads without an owner; `false`: only owned ones.
    pub unassigned: Option<bool>,
    pub persona_ids: Option<Vec<ID>>,
    pub campaign_ids: Option<Vec<ID>>,
    pub channels: Option<Vec<Channel>>,
    pub score_min: Option<i32>,
    pub score_max: Option<i32>,
    /// Created at or after.
    pub created_from: Option<DateTime>,
    /// Created before.
    pub created_to: Option<DateTime>,
    /// Case-insensitive match on email, names and company.
    pub search: Option<String>,
}

#[derive(InputObject, Clone, Debug)]
pub struct CreateLeadInput {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<i32>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub phone: Option<String>,
    /// Default: the campaign's channel, else DIRECT.
    pub source_channel: Option<Channel>,
    pub source_campaign_id: Option<ID>,
}

/// Fields to change; an explicit `null` clears a field.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateLeadInput {
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub company: MaybeUndefined<String>,
    pub job_title: MaybeUndefined<String>,
    pub industry: MaybeUndefined<String>,
    pub company_size: MaybeUndefined<i32>,
    pub country: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
}

/// BANT answers to record; omitted fields keep their value.
#[derive(InputObject, Clone, Debug, Default)]
pub struct QualificationInput {
    pub budget: Option<bool>,
    pub authority: Option<bool>,
    pub need: Option<bool>,
    pub timeline: Option<String>,
    pub notes: Option<String>,
}

// ------------------------------------------------- into the domain's terms

use super::model;
use crate::graphql::pagination::{decode_cursor, encode_cursor, from_micros, micros};

impl From<LeadOrder> for model::Order {
    fn from(order: LeadOrder) -> Self {
        model::Order {
            field: order.field.into(),
            direction: order.direction.into(),
        }
    }
}

impl LeadFilter {
    /// The filter with its ids decoded; lists are capped first.
    pub fn into_domain(self) -> AppResult<model::LeadFilter> {
        crate::validate::list_lens(&[
            ("filter.stages", self.stages.as_ref().map(Vec::len)),
            ("filter.channels", self.channels.as_ref().map(Vec::len)),
            ("filter.personaIds", self.persona_ids.as_ref().map(Vec::len)),
            (
                "filter.campaignIds",
                self.campaign_ids.as_ref().map(Vec::len),
            ),
        ])?;
        let decode_all = |list: Option<Vec<ID>>, kind, field| {
            list.map(|ids| {
                ids.iter()
                    .map(|id| crate::graphql::ids::decode(kind, id, field))
                    .collect::<AppResult<Vec<_>>>()
            })
            .transpose()
        };
        Ok(model::LeadFilter {
            stages: self.stages.map(|s| s.into_iter().map(Into::into).collect()),
            owner_id: self
                .owner_id
                .map(|id| crate::graphql::ids::decode(NodeType::User, &id, "filter.ownerId"))
                .transpose()?,
            unassigned: self.unassigned,
            persona_ids: decode_all(self.persona_ids, NodeType::Persona, "filter.personaIds")?,
            campaign_ids: decode_all(self.campaign_ids, NodeType::Campaign, "filter.campaignIds")?,
            channels: self
                .channels
                .map(|c| c.into_iter().map(Into::into).collect()),
            score_min: self.score_min,
            score_max: self.score_max,
            created_from: self.created_from.map(|t| t.0),
            created_to: self.created_to.map(|t| t.0),
            search: self.search,
        })
    }
}

impl CreateLeadInput {
    /// The new lead with its campaign id decoded; `prefix` names nested
    /// fields (`input.`, `input.lead.`).
    pub fn into_domain(self, prefix: &str) -> AppResult<model::NewLead> {
        let source_campaign_id = self
            .source_campaign_id
            .map(|id| {
                crate::graphql::ids::decode(
                    NodeType::Campaign,
                    &id,
                    &format!("{prefix}sourceCampaignId"),
                )
            })
            .transpose()?;
        Ok(model::NewLead {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            company: self.company,
            job_title: self.job_title,
            industry: self.industry,
            company_size: self.company_size,
            country: self.country,
            phone: self.phone,
            source_channel: self.source_channel.map(Into::into),
            source_campaign_id,
        })
    }
}

impl From<UpdateLeadInput> for model::LeadPatch {
    fn from(input: UpdateLeadInput) -> Self {
        model::LeadPatch {
            first_name: input.first_name.into(),
            last_name: input.last_name.into(),
            company: input.company.into(),
            job_title: input.job_title.into(),
            industry: input.industry.into(),
            company_size: input.company_size.into(),
            country: input.country.into(),
            phone: input.phone.into(),
        }
    }
}

impl From<QualificationInput> for model::Qualification {
    fn from(input: QualificationInput) -> Self {
        model::Qualification {
            budget: input.budget,
            authority: input.authority,
            need: input.need,
            timeline: input.timeline,
            notes: input.notes,
        }
    }
}

/// The cursor of a lead in a list ordered by `field`: the tag of the order,
/// the order column's value and the id.
pub fn lead_cursor(field: model::OrderField, lead: &lead::Model) -> String {
    let value = match field {
        model::OrderField::Score => lead.score.to_string(),
        model::OrderField::CreatedAt => micros(lead.created_at).to_string(),
        model::OrderField::UpdatedAt => micros(lead.updated_at).to_string(),
        model::OrderField::StageChangedAt => micros(lead.stage_changed_at).to_string(),
    };
    encode_cursor(&[order_tag(field), &value, &lead.id.to_string()])
}

/// The keyset of an `after` cursor made by [`lead_cursor`] for `field`.
pub fn decode_keyset(cursor: &str, field: model::OrderField) -> AppResult<model::Keyset> {
    let parts = decode_cursor(cursor, order_tag(field), 2)?;
    let bad = || AppError::bad_input("after", "after is not a valid cursor");
    let id: i64 = parts[1].parse().map_err(|_| bad())?;
    let value = match field {
        model::OrderField::Score => model::KeyValue::Score(parts[0].parse().map_err(|_| bad())?),
        _ => model::KeyValue::Time(from_micros(&parts[0])?),
    };
    Ok(model::Keyset { value, id })
}

fn order_tag(field: model::OrderField) -> &'static str {
    match field {
        model::OrderField::Score => "s",
        model::OrderField::CreatedAt => "c",
        model::OrderField::UpdatedAt => "u",
        model::OrderField::StageChangedAt => "t",
    }
}
