//! Lead queries and mutations: get the viewer, call one service, convert.

use super::service::{self, TransitionRequest};
use super::types::{
    CreateLeadInput, Lead, LeadConnection, LeadEdge, LeadFilter, LeadOrder, LeadStage,
    QualificationInput, UpdateLeadInput,
};
use crate::app::Loaders;
use crate::auth::policy::{self, Capability};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::pagination::PageInfo;
use crate::graphql::scalars::Decimal;
use crate::graphql::{state, viewer};
use crate::validate;
use async_graphql::{Context, ID, Object};

#[derive(Default)]
pub struct LeadQuery;

#[Object]
impl LeadQuery {
    /// A lead by id; `null` when it does not exist or the viewer may not see it.
    async fn lead(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Lead>> {
        viewer(ctx)?;
        let Ok(id) = ids::decode(NodeType::Lead, &id, "id") else {
            return Ok(None);
        };
        Ok(ctx.data_unchecked::<Loaders>().lead(id).await?)
    }

    /// Leads the viewer may see, filtered and ordered (default: newest first),
    /// in pages of at most 100.
    #[graphql(
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1 + filter.as_ref().and_then(|f| f.search.as_ref()).map_or(0, |_| crate::graphql::execute::AGGREGATE_COST)"
    )]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        filter: Option<LeadFilter>,
        order_by: Option<LeadOrder>,
    ) -> ApiResult<LeadConnection> {
        connection(
            viewer(ctx)?,
            &state(ctx).db.read,
            first,
            after,
            filter,
            order_by,
        )
        .await
    }
}

/// A page of `leads` as the viewer may see it: the resolver's work, shared
/// with the prepared plans of `graphql::plan`.
pub async fn connection(
    viewer: &crate::auth::Viewer,
    db: &sea_orm::DatabaseConnection,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<LeadFilter>,
    order_by: Option<LeadOrder>,
) -> ApiResult<LeadConnection> {
    let first = validate::first(first, 20)?;
    let order: super::model::Order = order_by.map(Into::into).unwrap_or_default();
    let filter = filter.unwrap_or_default().into_domain()?;
    let after = after
        .map(|cursor| super::types::decode_keyset(&cursor, order.field))
        .transpose()?;
    let query = super::model::LeadQuery {
        first,
        after,
        filter,
        order,
    };
    let page = service::list(viewer, db, &query).await?;
    let edges: Vec<LeadEdge> = page
        .rows
        .into_iter()
        .map(|l| LeadEdge {
            cursor: super::types::lead_cursor(order.field, &l),
            node: Lead(l),
        })
        .collect();
    let page_info = PageInfo {
        has_next_page: page.has_next,
        has_previous_page: false,
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    Ok(LeadConnection {
        edges,
        page_info,
        count_query: page.count_query,
    })
}

#[derive(Default)]
pub struct LeadMutation;

#[Object]
impl LeadMutation {
    /// Create a lead at stage LEAD. A duplicate email is `CONFLICT`, with the
    /// existing lead's id in `extensions.leadId` when the caller may see it.
    async fn create_lead(&self, ctx: &Context<'_>, input: CreateLeadInput) -> ApiResult<Lead> {
        let viewer = viewer(ctx)?;
        // The policy first: a role that may not create learns nothing of
        // its input.
        policy::require(viewer, Capability::CreateLead)?;
        let input = input.into_domain("input.")?;
        Ok(Lead(
            service::create(viewer, &state(ctx).db.write, input).await?,
        ))
    }

    /// Change a lead's attributes; with `expectedVersion`, only if unchanged since.
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLeadInput,
        expected_version: Option<i32>,
    ) -> ApiResult<Lead> {
        let id = ids::decode(NodeType::Lead, &id, "id")?;
        Ok(Lead(
            service::update(
                viewer(ctx)?,
                &state(ctx).db.write,
                id,
                input.into(),
                expected_version,
            )
            .await?,
        ))
    }

    // The description below is part of the published SDL and stays as it is;
    // its "DESIGN.md §3" is docs/lifecycle.md in this repository.
    /// Move a lead to another stage, as DESIGN.md §3 allows.
    async fn transition_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        to: LeadStage,
        reason: Option<String>,
        deal_amount: Option<Decimal>,
        expected_version: Option<i32>,
    ) -> ApiResult<Lead> {
        let id = ids::decode(NodeType::Lead, &id, "id")?;
        let request = TransitionRequest {
            to: to.into(),
            reason,
            deal_amount: deal_amount.map(|d| d.0),
            expected_version,
        };
        Ok(Lead(
            service::transition(viewer(ctx)?, &state(ctx).db.write, id, request).await?,
        ))
    }

    /// Record BANT answers; an MQL with budget, need and authority all
    /// confirmed becomes SQL.
    async fn qualify_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: QualificationInput,
    ) -> ApiResult<Lead> {
        let id = ids::decode(NodeType::Lead, &id, "id")?;
        Ok(Lead(
            service::qualify(viewer(ctx)?, &state(ctx).db.write, id, input.into()).await?,
        ))
    }

    /// Merge a duplicate into a primary lead (MARKETING, ADMIN): interactions and history move,
    /// empty fields are filled, the more advanced stage is kept, and the
    /// duplicate's id resolves to `null` afterwards.
    async fn merge_leads(
        &self,
        ctx: &Context<'_>,
        primary_id: ID,
        duplicate_id: ID,
    ) -> ApiResult<Lead> {
        let primary = ids::decode(NodeType::Lead, &primary_id, "primaryId")?;
        let duplicate = ids::decode(NodeType::Lead, &duplicate_id, "duplicateId")?;
        Ok(Lead(
            service::merge(viewer(ctx)?, &state(ctx).db.write, primary, duplicate).await?,
        ))
    }

    /// GDPR erasure: personal data is wiped, what KPIs need is kept, and the
    /// email can be used again.
    async fn erase_lead(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id = ids::decode(NodeType::Lead, &id, "id")?;
        Ok(service::erase(viewer(ctx)?, &state(ctx).db.write, id).await?)
    }

    /// Give a lead to a user, or release it with `ownerId: null`.
    async fn assign_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        owner_id: Option<ID>,
    ) -> ApiResult<Lead> {
        let id = ids::decode(NodeType::Lead, &id, "id")?;
        let owner_id = owner_id
            .map(|owner| ids::decode(NodeType::User, &owner, "ownerId"))
            .transpose()?;
        Ok(Lead(
            service::assign(viewer(ctx)?, &state(ctx).db.write, id, owner_id).await?,
        ))
    }
}
