//! Webhook queries and mutations (docs/webhooks.md).

use super::service;
use super::types::{
    CreateWebhookInput, UpdateWebhookInput, Webhook, WebhookConnection, WebhookDelivery,
    WebhookDeliveryConnection, WebhookDeliveryEdge, WebhookEdge, WebhookWithSecret,
};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::pagination::{PageInfo, decode_cursor, encode_cursor};
use crate::graphql::{state, viewer};
use crate::validate;
use async_graphql::{Context, ID, Object};

const WEBHOOK_CURSOR: &str = "wh";
const DELIVERY_CURSOR: &str = "whd";

fn after_id(after: Option<&str>, tag: &str) -> ApiResult<Option<i64>> {
    let Some(after) = after else {
        return Ok(None);
    };
    let parts = decode_cursor(after, tag, 1)?;
    match parts.first().and_then(|p| p.parse::<i64>().ok()) {
        Some(id) => Ok(Some(id)),
        None => Err(crate::error::AppError::bad_input(
            "after",
            "after is not a cursor of this list",
        )
        .into()),
    }
}

fn page_info(cursors: &[String], more: bool) -> PageInfo {
    PageInfo {
        has_next_page: more,
        has_previous_page: false,
        start_cursor: cursors.first().cloned(),
        end_cursor: cursors.last().cloned(),
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The webhooks the viewer manages, oldest first: ADMIN every one,
    /// MARKETING and SALES their own.
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<WebhookConnection> {
        let first = validate::first(first, 20)?;
        let after = after_id(after.as_deref(), WEBHOOK_CURSOR)?;
        let (rows, more) = service::list(viewer(ctx)?, &state(ctx).db.read, after, first).await?;
        let edges: Vec<WebhookEdge> = rows
            .into_iter()
            .map(|w| WebhookEdge {
                cursor: encode_cursor(&[WEBHOOK_CURSOR, &w.id.to_string()]),
                node: Webhook(w),
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(WebhookConnection {
            page_info: page_info(&cursors, more),
            edges,
        })
    }

    /// The deliveries of a webhook, newest first: status, attempts, last
    /// answer and latency, next attempt.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<WebhookDeliveryConnection> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Webhook, &webhook_id, "webhookId")?;
        let first = validate::first(first, 20)?;
        let after = after_id(after.as_deref(), DELIVERY_CURSOR)?;
        let (rows, more) =
            service::deliveries(viewer, &state(ctx).db.read, id, after, first).await?;
        let edges: Vec<WebhookDeliveryEdge> = rows
            .into_iter()
            .map(|d| WebhookDeliveryEdge {
                cursor: encode_cursor(&[DELIVERY_CURSOR, &d.id.to_string()]),
                node: WebhookDelivery(d),
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(WebhookDeliveryConnection {
            page_info: page_info(&cursors, more),
            edges,
        })
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Register a webhook (ADMIN, MARKETING, SALES). It receives the events
    /// committed from now on; the answer holds its secret, shown only here.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> ApiResult<WebhookWithSecret> {
        let created = service::create(state(ctx), viewer(ctx)?, input.into()).await?;
        Ok(created.into())
    }

    /// Change a webhook; reactivates it when FAILING.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookInput,
    ) -> ApiResult<Webhook> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Webhook, &id, "id")?;
        Ok(Webhook(
            service::update(state(ctx), viewer, id, input.into()).await?,
        ))
    }

    /// Delete a webhook and its deliveries.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Webhook, &id, "id")?;
        Ok(service::delete(viewer, &state(ctx).db.write, id).await?)
    }

    /// A new secret, shown only here; the previous one also signs for 24 h.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<WebhookWithSecret> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Webhook, &id, "id")?;
        Ok(service::rotate_secret(viewer, &state(ctx).db.write, id)
            .await?
            .into())
    }

    /// Send a delivery again now, with the same `webhook-id` and body.
    async fn redeliver(&self, ctx: &Context<'_>, delivery_id: ID) -> ApiResult<WebhookDelivery> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::WebhookDelivery, &delivery_id, "deliveryId")?;
        Ok(WebhookDelivery(
            service::redeliver(state(ctx), viewer, id).await?,
        ))
    }

    /// Send a `WEBHOOK_TEST` event now and answer with its delivery.
    async fn test_webhook(&self, ctx: &Context<'_>, id: ID) -> ApiResult<WebhookDelivery> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Webhook, &id, "id")?;
        Ok(WebhookDelivery(
            service::test(state(ctx), viewer, id).await?,
        ))
    }
}
