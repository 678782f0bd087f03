//! GraphQL types of interactions.

use super::kind;
use crate::app::Loaders;
use crate::error::{ApiResult, AppError};
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::PageInfo;
use crate::graphql::scalars::DateTime;
use crate::leads::channel;
use crate::leads::types::{Channel, CreateLeadInput, Lead};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use entity::interaction;

/// What the lead did (or what sales did with it).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "kind::InteractionKind")]
pub enum InteractionKind {
    PageVisit,
    FormSubmit,
    ContentDownload,
    WebinarRegistered,
    WebinarAttended,
    EmailOpen,
    EmailClick,
    DemoRequest,
    QuoteRequest,
    Call,
    Meeting,
    EmailReply,
    Unsubscribe,
}

/// One signal of a lead.
pub struct Interaction(pub interaction::Model);

#[Object]
impl Interaction {
    pub async fn id(&self) -> ID {
        encode(NodeType::Interaction, self.0.id)
    }
    /// The lead; an error for viewers who may not see it (INGEST).
    async fn lead(&self, ctx: &Context<'_>) -> ApiResult<Lead> {
        let loaders = ctx.data_unchecked::<Loaders>();
        loaders.lead(self.0.lead_id).await?.ok_or_else(|| {
            AppError::forbidden("the viewer may not see this interaction's lead").into()
        })
    }
    async fn kind(&self) -> ApiResult<InteractionKind> {
        Ok(kind::InteractionKind::from_code(&self.0.kind)?.into())
    }
    async fn occurred_at(&self) -> DateTime {
        DateTime(self.0.occurred_at)
    }
    async fn channel(&self) -> ApiResult<Option<Channel>> {
        let channel = self.0.channel.as_deref().map(channel::Channel::from_code);
        Ok(channel.transpose()?.map(Into::into))
    }
    /// The campaign that brought the interaction (`FORBIDDEN` for INGEST,
    /// which reads no campaigns).
    async fn campaign(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<crate::campaigns::types::Campaign>> {
        let Some(id) = self.0.campaign_id else {
            return Ok(None);
        };
        let viewer = crate::graphql::viewer(ctx)?;
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(crate::campaigns::types::Campaign::visible(viewer, loaders, id).await?)
    }
    /// The caller's idempotency key.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }
}

#[derive(SimpleObject)]
pub struct InteractionEdge {
    pub cursor: String,
    pub node: Interaction,
}

/// A page of a lead's interactions, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct InteractionConnection {
    pub edges: Vec<InteractionEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub count_key: super::loader::InteractionCountKey,
}

#[ComplexObject]
impl InteractionConnection {
    /// The lead's interactions of the requested kinds, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders
            .interaction_counts
            .load_one(self.count_key.clone())
            .await?
            .unwrap_or(0))
    }
}

/// One interaction to record.
#[derive(InputObject, Clone, Debug)]
pub struct RecordInteractionInput {
    /// The lead, by id; or `leadEmail` — exactly one of them.
    pub lead_id: Option<ID>,
    pub lead_email: Option<String>,
    pub kind: InteractionKind,
    /// Default: now.
    pub occurred_at: Option<DateTime>,
    pub channel: Option<Channel>,
    pub campaign_id: Option<ID>,
    /// Idempotency key: recording the same externalId twice stores one interaction.
    pub external_id: Option<String>,
    /// A JSON object of at most 16 KiB.
    pub metadata: Option<Json<serde_json::Value>>,
}

/// A landing-page form: upsert the lead by email, record a FORM_SUBMIT.
#[derive(InputObject, Clone, Debug)]
pub struct CaptureLeadInput {
    pub lead: CreateLeadInput,
    pub external_id: Option<String>,
    pub metadata: Option<Json<serde_json::Value>>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct CaptureResult {
    pub lead_id: ID,
    /// True when the email was new.
    pub created: bool,
    pub interaction_id: ID,
}

/// Outcome of `recordInteractions`.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct BatchResult {
    /// Items stored now.
    pub recorded: i32,
    /// Items whose externalId was already stored for the same lead (nothing
    /// recorded twice).
    pub duplicates: i32,
    /// Items refused, by index in the input list.
    pub errors: Vec<BatchError>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct BatchError {
    pub index: i32,
    pub code: String,
    pub message: String,
}
