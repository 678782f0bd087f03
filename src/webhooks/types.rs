//! GraphQL types of webhooks.

use super::model::{self, DeliveryStatus, EventKind, NewWebhook, WebhookPatch, stages_of};
use crate::app::Loaders;
use crate::auth::Viewer;
use crate::error::AppResult;
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::PageInfo;
use crate::graphql::scalars::DateTime;
use crate::leads::types::LeadStage;
use crate::patch::Patch;
use crate::users::types::User;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use entity::{webhook, webhook_delivery};

/// What a webhook receives. `STAGE_CHANGED` covers every stage change; a
/// delivery's `type` is the most specific kind of its event.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "model::EventKind")]
pub enum WebhookEventType {
    /// Any stage change of a lead, its creation included.
    StageChanged,
    /// A new lead.
    LeadCreated,
    /// A lead moved to SQL.
    LeadQualified,
    /// Sent by `testWebhook` only; cannot be subscribed to.
    WebhookTest,
}

/// Whether a webhook's deliveries are being sent.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "model::WebhookStatus")]
pub enum WebhookStatus {
    /// Deliveries are sent and retried.
    Active,
    /// A delivery exhausted its retries (about 24 h): nothing is sent until
    /// `updateWebhook`, or a `testWebhook` or `redeliver` answered with 2xx,
    /// reactivates it. New events still queue as PENDING deliveries.
    Failing,
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "model::DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Not yet answered with a 2xx; tried again at `nextAttemptAt`.
    Pending,
    /// Answered with a 2xx.
    Succeeded,
    /// Retries exhausted, or a failed test; `redeliver` sends it again.
    Failed,
}

/// An outside URL that receives signed lead events (docs/webhooks.md).
pub struct Webhook(pub webhook::Model);

impl Webhook {
    /// A webhook by id for `node(id)`: `None` when missing or not the viewer's.
    pub async fn visible(
        viewer: &Viewer,
        db: &sea_orm::DatabaseConnection,
        id: i64,
    ) -> AppResult<Option<Self>> {
        if !crate::auth::policy::allows(
            viewer.role,
            crate::auth::policy::Capability::ManageWebhooks,
        ) {
            return Ok(None);
        }
        Ok(super::service::get(viewer, db, id).await?.map(Webhook))
    }
}

#[Object]
impl Webhook {
    /// Global id.
    pub async fn id(&self) -> ID {
        encode(NodeType::Webhook, self.0.id)
    }
    /// Where deliveries are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The kinds of event it receives.
    async fn events(&self) -> ApiResult<Vec<WebhookEventType>> {
        Ok(super::service::kinds(&self.0)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    /// Only changes to these stages; `null`: every stage.
    async fn to_stages(&self) -> ApiResult<Option<Vec<LeadStage>>> {
        Ok(
            stages_of(self.0.to_stages.as_deref())?
                .map(|s| s.into_iter().map(Into::into).collect()),
        )
    }
    async fn status(&self) -> ApiResult<WebhookStatus> {
        Ok(model::WebhookStatus::from_code(&self.0.status)?.into())
    }
    /// When it became FAILING.
    async fn failing_since(&self) -> Option<DateTime> {
        self.0.failing_since.map(DateTime)
    }
    /// Its owner, whose view of the leads its payloads carry.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let viewer = crate::graphql::viewer(ctx)?;
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(User::visible(viewer, loaders, self.0.owner_id).await?)
    }
    /// The cursor of the last event it has taken into account (the same
    /// cursors as `StageChangeEvent.cursor`).
    async fn cursor(&self) -> String {
        crate::events::outbox::encode_cursor(self.0.cursor)
    }
    /// Until when the secret before the last rotation still signs too.
    async fn previous_secret_expires_at(&self) -> Option<DateTime> {
        self.0.previous_secret_until.map(DateTime)
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// A webhook and its signing secret: shown here once, never again.
#[derive(SimpleObject)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    /// `whsec_<base64>`: the HMAC-SHA256 key is the base64 part.
    pub secret: String,
}

impl From<super::service::WithSecret> for WebhookWithSecret {
    fn from(w: super::service::WithSecret) -> Self {
        WebhookWithSecret {
            webhook: Webhook(w.webhook),
            secret: w.secret,
        }
    }
}

/// One event sent (or to be sent) to one webhook. Its id is the
/// `webhook-id` header of every attempt and the `id` of the body.
pub struct WebhookDelivery(pub webhook_delivery::Model);

impl WebhookDelivery {
    /// A delivery by id for `node(id)`.
    pub async fn visible(
        viewer: &Viewer,
        db: &sea_orm::DatabaseConnection,
        id: i64,
    ) -> AppResult<Option<Self>> {
        if !crate::auth::policy::allows(
            viewer.role,
            crate::auth::policy::Capability::ManageWebhooks,
        ) {
            return Ok(None);
        }
        Ok(super::service::get_delivery(viewer, db, id)
            .await?
            .map(|(d, _)| WebhookDelivery(d)))
    }
}

#[Object]
impl WebhookDelivery {
    /// Global id; also the `webhook-id` header.
    pub async fn id(&self) -> ID {
        encode(NodeType::WebhookDelivery, self.0.id)
    }
    async fn webhook_id(&self) -> ID {
        encode(NodeType::Webhook, self.0.webhook_id)
    }
    #[graphql(name = "type")]
    async fn event_type(&self) -> ApiResult<WebhookEventType> {
        Ok(EventKind::from_code(&self.0.event_type)?.into())
    }
    async fn status(&self) -> ApiResult<WebhookDeliveryStatus> {
        Ok(DeliveryStatus::from_code(&self.0.status)?.into())
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// HTTP status of the last answer; `null` when none came.
    async fn last_response_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    /// Milliseconds the last attempt took.
    async fn last_latency_ms(&self) -> Option<i32> {
        self.0.last_latency_ms
    }
    /// Why the last attempt failed (never the receiver's body).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.0.last_attempt_at.map(DateTime)
    }
    /// When a PENDING delivery is tried next.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        (self.0.status == "PENDING")
            .then_some(self.0.next_attempt_at)
            .flatten()
            .map(DateTime)
    }
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(DateTime)
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// The JSON body as sent (the same bytes on every attempt).
    async fn payload(&self) -> String {
        let body = super::payload::body(&super::service::message_id(self.0.id), &self.0.payload);
        String::from_utf8_lossy(&body).into_owned()
    }
}

#[derive(SimpleObject)]
pub struct WebhookEdge {
    pub cursor: String,
    pub node: Webhook,
}

/// A page of webhooks, oldest first.
#[derive(SimpleObject)]
pub struct WebhookConnection {
    pub edges: Vec<WebhookEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct WebhookDeliveryEdge {
    pub cursor: String,
    pub node: WebhookDelivery,
}

/// A page of deliveries, newest first.
#[derive(SimpleObject)]
pub struct WebhookDeliveryConnection {
    pub edges: Vec<WebhookDeliveryEdge>,
    pub page_info: PageInfo,
}

/// A new webhook. SALES webhooks carry only the events and fields a SALES
/// subscription of the same user would.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// `http://` or `https://`, at most 2,048 characters; no credentials.
    /// Loopback, private and link-local addresses are refused unless the
    /// server allows them (`LEADGRAPH_WEBHOOK_ALLOW_PRIVATE`).
    pub url: String,
    /// At least one; `WEBHOOK_TEST` is not subscribable.
    pub events: Vec<WebhookEventType>,
    /// Only changes to these stages (at least one); omit for every stage.
    pub to_stages: Option<Vec<LeadStage>>,
    /// At most 256 characters.
    pub description: Option<String>,
}

impl From<CreateWebhookInput> for NewWebhook {
    fn from(input: CreateWebhookInput) -> Self {
        NewWebhook {
            url: input.url,
            events: input.events.into_iter().map(Into::into).collect(),
            to_stages: input
                .to_stages
                .map(|s| s.into_iter().map(Into::into).collect()),
            description: input.description,
        }
    }
}

/// Changes to a webhook; omitted fields stay. Any update reactivates a
/// FAILING webhook.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEventType>>,
    /// `null`: every stage again.
    pub to_stages: MaybeUndefined<Vec<LeadStage>>,
    /// `null` clears it.
    pub description: MaybeUndefined<String>,
}

fn patch<T, U>(value: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Patch<U> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(f(v)),
    }
}

impl From<UpdateWebhookInput> for WebhookPatch {
    fn from(input: UpdateWebhookInput) -> Self {
        WebhookPatch {
            url: input.url,
            events: input
                .events
                .map(|e| e.into_iter().map(Into::into).collect()),
            to_stages: patch(input.to_stages, |s| s.into_iter().map(Into::into).collect()),
            description: patch(input.description, |d| d),
        }
    }
}
