//! Interaction mutations.

use super::service;
use super::types::{
    BatchResult, CaptureLeadInput, CaptureResult, Interaction, RecordInteractionInput,
};
use crate::auth::policy::{self, Capability};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::{state, viewer};
use async_graphql::{Context, Object};

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    /// Record one interaction. The same `externalId` again for the same lead
    /// is a replay and returns the stored one (to INGEST, which reads
    /// nothing: what it sent, under the stored id); for another lead it is
    /// `CONFLICT`.
    async fn record_interaction(
        &self,
        ctx: &Context<'_>,
        input: RecordInteractionInput,
    ) -> ApiResult<Interaction> {
        let viewer = viewer(ctx)?;
        // The policy first: a role that may not record learns nothing of
        // its input.
        policy::require(viewer, Capability::RecordInteractions)?;
        let input = input.into_domain("input.")?;
        Ok(Interaction(
            service::record(viewer, &state(ctx).db.write, input).await?,
        ))
    }

    /// Record up to 1,000 interactions: good items are recorded, bad ones
    /// reported by index, `externalId`s repeated for the same lead counted
    /// as duplicates (one already used for another lead is that item's `CONFLICT`).
    async fn record_interactions(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<RecordInteractionInput>,
    ) -> ApiResult<BatchResult> {
        let viewer = viewer(ctx)?;
        policy::require(viewer, Capability::RecordInteractions)?;
        let inputs = inputs
            .into_iter()
            .enumerate()
            .map(|(index, input)| input.into_domain(&format!("inputs.{index}.")))
            .collect();
        let outcome = service::record_batch(viewer, &state(ctx).db.write, inputs).await?;
        Ok(outcome.into())
    }

    /// A landing-page form: upsert the lead by email and record a FORM_SUBMIT.
    /// An `externalId` already used for another lead is `CONFLICT`; nothing is written.
    async fn capture_lead(
        &self,
        ctx: &Context<'_>,
        input: CaptureLeadInput,
    ) -> ApiResult<CaptureResult> {
        let viewer = viewer(ctx)?;
        policy::require(viewer, Capability::CaptureLead)?;
        let input = input.into_domain()?;
        let captured = service::capture(viewer, &state(ctx).db.write, input).await?;
        Ok(CaptureResult {
            lead_id: encode(NodeType::Lead, captured.lead_id),
            created: captured.created,
            interaction_id: encode(NodeType::Interaction, captured.interaction_id),
        })
    }
}
