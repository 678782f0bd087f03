//! Interaction mutations.

use super::service;
use super::types::{
    BatchResult, CaptureLeadInput, CaptureResult, Interaction, RecordInteractionInput,
};
use crate::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::{state, viewer};
use async_graphql::{Context, Object};

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    /// Record one interaction; the same `externalId` again returns the stored one.
    async fn record_interaction(
        &self,
        ctx: &Context<'_>,
        input: RecordInteractionInput,
    ) -> ApiResult<Interaction> {
        Ok(Interaction(
            service::record(viewer(ctx)?, &state(ctx).db.write, input).await?,
        ))
    }

    /// Record up to 1,000 interactions: good items are recorded, bad ones
    /// reported by index, repeated `externalId`s counted as duplicates.
    async fn record_interactions(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<RecordInteractionInput>,
    ) -> ApiResult<BatchResult> {
        Ok(service::record_batch(viewer(ctx)?, &state(ctx).db.write, inputs).await?)
    }

    /// A landing-page form: upsert the lead by email and record a FORM_SUBMIT.
    async fn capture_lead(
        &self,
        ctx: &Context<'_>,
        input: CaptureLeadInput,
    ) -> ApiResult<CaptureResult> {
        let captured = service::capture(viewer(ctx)?, &state(ctx).db.write, input).await?;
        Ok(CaptureResult {
            lead_id: encode(NodeType::Lead, captured.lead_id),
            created: captured.created,
            interaction_id: encode(NodeType::Interaction, captured.interaction_id),
        })
    }
}
