//! Opaque global ids (`base64url("Lead:42")`) and the `node` query.

use crate::graphql::error::ApiResult;
use async_graphql::{Context, ID, Interface, Object};

pub use crate::global_id::{NodeType, decode, decode_any};

/// The global id of a node, as GraphQL's `ID`.
pub fn encode(kind: NodeType, id: i64) -> ID {
    ID(crate::global_id::encode(kind, id))
}

/// An object with a global id.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived, one per node() call"
)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Lead(crate::leads::types::Lead),
    User(crate::users::types::User),
    Interaction(crate::interactions::types::Interaction),
    ScoringRule(crate::scoring::types::ScoringRule),
    Persona(crate::personas::types::Persona),
    Campaign(crate::campaigns::types::Campaign),
    Webhook(crate::webhooks::types::Webhook),
    WebhookDelivery(crate::webhooks::types::WebhookDelivery),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; `null` when it does not exist or the
    /// viewer may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let viewer = super::viewer(ctx)?;
        let Some((kind, number)) = decode_any(&id) else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<crate::app::Loaders>();
        Ok(match kind {
            NodeType::Lead => loaders.lead(number).await?.map(Node::Lead),
            NodeType::User => crate::users::types::User::visible(viewer, loaders, number)
                .await?
                .map(Node::User),
            NodeType::Interaction => crate::interactions::types::Interaction::visible(
                viewer,
                &super::state(ctx).db,
                loaders,
                number,
            )
            .await?
            .map(Node::Interaction),
            // Roles that may not read campaigns get `null`, as for any node they cannot see.
            NodeType::Campaign => {
                match crate::campaigns::types::Campaign::visible(viewer, loaders, number).await {
                    Ok(campaign) => campaign.map(Node::Campaign),
                    Err(crate::error::AppError::Forbidden(_)) => None,
                    Err(err) => return Err(err.into()),
                }
            }
            NodeType::ScoringRule => {
                crate::scoring::types::ScoringRule::visible(viewer, loaders, number)
                    .await?
                    .map(Node::ScoringRule)
            }
            NodeType::Persona => crate::personas::types::Persona::visible(viewer, loaders, number)
                .await?
                .map(Node::Persona),
            NodeType::Webhook => {
                crate::webhooks::types::Webhook::visible(viewer, &super::state(ctx).db.read, number)
                    .await?
                    .map(Node::Webhook)
            }
            NodeType::WebhookDelivery => crate::webhooks::types::WebhookDelivery::visible(
                viewer,
                &super::state(ctx).db.read,
                number,
            )
            .await?
            .map(Node::WebhookDelivery),
        })
    }
}
