//! GraphQL types of interactions.

use super::kind;
use super::loader::{InteractionCountKey, InteractionPageKey};
use super::model;
use crate::app::Loaders;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::{PageInfo, decode_cursor, encode_cursor, from_micros, micros};
use crate::graphql::scalars::DateTime;
use crate::leads::channel;
use crate::leads::types::{Channel, CreateLeadInput, Lead};
use crate::validate;
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

// ------------------------------------------------- into the domain's terms

impl RecordInteractionInput {
    /// The interaction with its ids decoded; `prefix` names its fields
    /// (`input.`, `inputs.3.`).
    pub fn into_domain(self, prefix: &str) -> AppResult<model::NewInteraction> {
        let f = |name: &str| format!("{prefix}{name}");
        let lead = match (self.lead_id, self.lead_email) {
            (Some(id), None) => model::LeadRef::Id(crate::graphql::ids::decode(
                NodeType::Lead,
                &id,
                &f("leadId"),
            )?),
            (None, Some(email)) => model::LeadRef::Email(email),
            _ => {
                return Err(AppError::bad_input(
                    f("leadId"),
                    "give exactly one of leadId and leadEmail",
                ));
            }
        };
        let campaign_id = self
            .campaign_id
            .map(|id| crate::graphql::ids::decode(NodeType::Campaign, &id, &f("campaignId")))
            .transpose()?;
        Ok(model::NewInteraction {
            lead,
            kind: self.kind.into(),
            occurred_at: self.occurred_at.map(|t| t.0),
            channel: self.channel.map(Into::into),
            campaign_id,
            external_id: self.external_id,
            metadata: self.metadata.map(|j| j.0),
            prefix: prefix.to_owned(),
        })
    }
}

impl CaptureLeadInput {
    pub fn into_domain(self) -> AppResult<model::Capture> {
        Ok(model::Capture {
            lead: self.lead.into_domain("input.lead.")?,
            external_id: self.external_id,
            metadata: self.metadata.map(|j| j.0),
        })
    }
}

impl From<model::BatchOutcome> for BatchResult {
    fn from(outcome: model::BatchOutcome) -> Self {
        let int = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        BatchResult {
            recorded: int(outcome.recorded),
            duplicates: int(outcome.duplicates),
            errors: outcome
                .errors
                .into_iter()
                .map(|(index, err)| BatchError {
                    index: i32::try_from(index).unwrap_or(i32::MAX),
                    code: err.code().to_owned(),
                    message: err.public_message(),
                })
                .collect(),
        }
    }
}

impl Interaction {
    /// An interaction by id, when the viewer may see its lead (the lead
    /// loader is scoped by the policy).
    pub async fn visible(
        _viewer: &Viewer,
        db: &crate::db::Db,
        loaders: &Loaders,
        id: i64,
    ) -> AppResult<Option<Interaction>> {
        let Some(model) = super::loader::stored_interaction(&db.read, id).await? else {
            return Ok(None);
        };
        Ok(loaders
            .lead(model.lead_id)
            .await?
            .map(|_| Interaction(model)))
    }
}

fn interaction_cursor(m: &interaction::Model) -> String {
    encode_cursor(&["i", &micros(m.occurred_at).to_string(), &m.id.to_string()])
}

/// `Lead.interactions`: a page through the loader, newest first.
pub async fn page_for_lead(
    loaders: &Loaders,
    lead_id: i64,
    first: Option<i32>,
    after: Option<String>,
    kinds: Option<Vec<kind::InteractionKind>>,
) -> AppResult<InteractionConnection> {
    let key = page_key(lead_id, first, after, kinds)?;
    let page = loaders
        .interactions
        .load_one(key.clone())
        .await?
        .unwrap_or_default();
    Ok(connection(key, page))
}

/// The loader key of a page of `lead_id`'s interactions, arguments checked.
pub fn page_key(
    lead_id: i64,
    first: Option<i32>,
    after: Option<String>,
    kinds: Option<Vec<kind::InteractionKind>>,
) -> AppResult<InteractionPageKey> {
    let first = validate::first(first, 20)?;
    validate::list_len("kinds", kinds.as_ref().map_or(0, Vec::len))?;
    let after = match after {
        None => None,
        Some(cursor) => {
            let parts = decode_cursor(&cursor, "i", 2)?;
            let id: i64 = parts[1]
                .parse()
                .map_err(|_| AppError::bad_input("after", "after is not a valid cursor"))?;
            Some((from_micros(&parts[0])?, id))
        }
    };
    let mut kinds: Vec<&'static str> = kinds
        .unwrap_or_default()
        .into_iter()
        .map(kind::InteractionKind::code)
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    Ok(InteractionPageKey {
        lead_id,
        first,
        after,
        kinds,
    })
}

/// The connection of a loaded page.
pub fn connection(
    key: InteractionPageKey,
    page: super::loader::InteractionPage,
) -> InteractionConnection {
    let edges: Vec<InteractionEdge> = page
        .rows
        .into_iter()
        .map(|m| InteractionEdge {
            cursor: interaction_cursor(&m),
            node: Interaction(m),
        })
        .collect();
    InteractionConnection {
        page_info: PageInfo {
            has_next_page: page.has_next,
            has_previous_page: false,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
        count_key: InteractionCountKey {
            lead_id: key.lead_id,
            kinds: key.kinds,
        },
    }
}
