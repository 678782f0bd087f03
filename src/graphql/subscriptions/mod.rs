//! Subscriptions to stage changes: the GraphQL side of `crate::events`.
//!
//! A subscription field opens a follower of the event bus (access, filter,
//! resume cursor: `events::service::subscribe`) and turns each event into a
//! [`StageChangeEvent`]. Executed by the schema, that is one selection-set
//! run per event and subscriber. The WebSocket transport does better for
//! the common case of many identical subscriptions (`share`): it asks the
//! field to hand the event stream over ([`StreamHandover`]) instead of
//! executing it, and then renders each event once per share key by running
//! the same operation over that one event ([`RenderOneEvent`]).

pub mod share;
pub mod types;

pub use types::StageChangeEvent;

use crate::events::bus::{Event, FollowError};
use crate::events::outbox::encode_cursor;
use crate::graphql::error::ToGraphql;
use crate::graphql::error::{ApiError, ApiResult};
use crate::leads::types::LeadStage;
use async_graphql::{Context, ErrorExtensions, Subscription};
use futures::stream::{BoxStream, StreamExt};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct EventSubscription;

type EventStream = BoxStream<'static, async_graphql::Result<StageChangeEvent>>;

/// A subscriber's events, as the bus hands them out.
pub type Events = BoxStream<'static, Result<Arc<Event>, FollowError>>;

/// Request data by which the WebSocket transport takes over a
/// subscription's events (see `share`): the subscription is opened as usual
/// (access, cursor, errors), but its event stream is handed over here
/// instead of being executed by the schema per event.
#[derive(Clone, Default)]
pub struct StreamHandover(Arc<Mutex<Option<Events>>>);

impl StreamHandover {
    /// Leave `events` here; they come back if a stream was handed over already.
    fn put(&self, events: Events) -> Option<Events> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Some(events);
        }
        *slot = Some(events);
        None
    }

    pub fn take(&self) -> Option<Events> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Request data that makes a subscription yield this one item and end: how
/// the transport renders an event (or the error that ends a stream) of a
/// subscription whose stream it took over.
pub struct RenderOneEvent(Mutex<Option<Result<Arc<Event>, FollowError>>>);

impl RenderOneEvent {
    pub fn new(item: Result<Arc<Event>, FollowError>) -> Self {
        RenderOneEvent(Mutex::new(Some(item)))
    }
}

#[Subscription]
impl EventSubscription {
    /// Stage changes of the leads you may see after the change (SALES: the
    /// lead is then MQL or beyond, or yours), oldest first. Without `after`
    /// it starts now (a change committed a moment before may still come);
    /// with `after` it first replays every later change, then
    /// continues live: in order, no gap, no duplicate, across reconnects and
    /// server restarts. Events are kept `LEADGRAPH_EVENT_RETENTION_DAYS`
    /// (default 30); an older cursor is `BAD_USER_INPUT` on `after`. When the
    /// stream is interrupted it ends with an error whose
    /// `extensions.resumeAfter` is the cursor to resubscribe with.
    async fn lead_stage_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes to these stages; omit for every stage.")] to_stages: Option<
            Vec<LeadStage>,
        >,
        #[graphql(desc = "The `cursor` of the last event received, to resume after it.")]
        after: Option<String>,
    ) -> Result<EventStream, ApiError> {
        open(ctx, to_stages, after).await
    }

    /// Newly sales-qualified leads: `leadStageChanged(toStages: [SQL])`.
    async fn lead_qualified(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the last event received, to resume after it.")]
        after: Option<String>,
    ) -> Result<EventStream, ApiError> {
        open(ctx, Some(vec![LeadStage::Sql]), after).await
    }
}

async fn open(
    ctx: &Context<'_>,
    to_stages: Option<Vec<LeadStage>>,
    after: Option<String>,
) -> ApiResult<EventStream> {
    let viewer = crate::graphql::viewer(ctx)?;
    if let Some(one) = ctx.data_opt::<RenderOneEvent>() {
        crate::events::service::may_subscribe(viewer)?;
        let item = one.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        return Ok(futures::stream::iter(item).map(convert).boxed());
    }
    let state = crate::graphql::state(ctx);
    let to_stages = to_stages.map(|stages| stages.into_iter().map(Into::into).collect());
    let events =
        crate::events::service::subscribe(state, viewer, to_stages, after.as_deref()).await?;
    let events = match ctx.data_opt::<StreamHandover>() {
        Some(handover) => match handover.put(events.boxed()) {
            None => return Ok(futures::stream::empty().boxed()),
            Some(events) => events,
        },
        None => events.boxed(),
    };
    Ok(events.map(convert).boxed())
}

fn convert(item: Result<Arc<Event>, FollowError>) -> async_graphql::Result<StageChangeEvent> {
    match item {
        Ok(event) => Ok(StageChangeEvent(event)),
        Err(FollowError::Expired(err)) => Err(err.to_graphql()),
        Err(FollowError::Interrupted { resume_after }) => Err(interrupted(resume_after)),
    }
}

/// The error that ends an interrupted stream; its message carries no
/// internals, so the WebSocket layer does not mask it.
fn interrupted(resume_after: i64) -> async_graphql::Error {
    let cursor = encode_cursor(resume_after);
    async_graphql::Error::new(format!(
        "the event stream was interrupted; resubscribe with after: \"{cursor}\" to receive \
         every later event"
    ))
    .extend_with(|_, ext| {
        ext.set("code", "INTERNAL_SERVER_ERROR");
        ext.set("resumeAfter", cursor.as_str());
    })
}
