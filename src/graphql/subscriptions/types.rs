//! GraphQL types of events.

use crate::auth::policy;
use crate::error::AppError;
use crate::events::bus::Event;
use crate::events::outbox::encode_cursor;
use crate::graphql::error::ApiResult;
use crate::graphql::error::ToGraphql;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::scalars::DateTime;
use crate::leads::lifecycle;
use crate::leads::types::Lead;
use crate::leads::types::LeadStage;
use async_graphql::{Context, ErrorExtensions, Object};
use std::sync::Arc;

/// A committed stage change of a lead, as a subscription delivers it.
pub struct StageChangeEvent(pub Arc<Event>);

#[Object]
impl StageChangeEvent {
    /// This event's place in the event log: pass it as `after` to resume
    /// right after it, with no gap and no duplicate.
    async fn cursor(&self) -> String {
        encode_cursor(self.0.row.seq)
    }

    /// The lead as it is now. If it has since been merged into another lead,
    /// or you may no longer see it, this field fails with `NOT_FOUND` (and,
    /// the field being non-null, so does the event's `data`); the error's
    /// `extensions.cursor` still carries this event's cursor, so you can
    /// resume after it, and `extensions.leadId` the lead's id.
    async fn lead(&self, ctx: &Context<'_>) -> async_graphql::Result<Lead> {
        let viewer = crate::graphql::viewer(ctx).map_err(|e| e.to_graphql())?;
        match &self.0.lead {
            Some(lead)
                if policy::lead_scope(viewer)
                    .admits(crate::leads::service::facts(lead).map_err(|e| e.to_graphql())?) =>
            {
                Ok(Lead(lead.clone()))
            }
            _ => {
                let cursor = encode_cursor(self.0.row.seq);
                let lead_id = encode(NodeType::Lead, self.0.row.lead_id);
                Err(AppError::not_found("lead")
                    .to_graphql()
                    .extend_with(|_, ext| {
                        ext.set("cursor", cursor.as_str());
                        ext.set("leadId", lead_id.as_str());
                    }))
            }
        }
    }

    /// The stage before the change; `null` for the lead's creation.
    async fn from(&self) -> ApiResult<Option<LeadStage>> {
        let from = self.0.row.from_stage.as_deref();
        let from = from.map(lifecycle::LeadStage::from_code).transpose()?;
        Ok(from.map(Into::into))
    }

    /// The stage after the change.
    async fn to(&self) -> ApiResult<LeadStage> {
        Ok(self.0.to_stage()?.into())
    }

    /// The JWT subject that made the change, or `system:scoring`.
    async fn actor(&self) -> &str {
        &self.0.row.actor
    }

    /// Why, for disqualifications and recycling.
    async fn reason(&self) -> Option<&str> {
        self.0.row.reason.as_deref()
    }

    /// When the change was made.
    async fn occurred_at(&self) -> DateTime {
        DateTime(self.0.row.occurred_at)
    }
}
