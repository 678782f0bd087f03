//! Persona queries and mutations.

use super::service;
use super::types::{Persona, PersonaInput};
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::{state, viewer};
use async_graphql::{Context, ID, Object};

#[derive(Default)]
pub struct PersonaQuery;

#[Object]
impl PersonaQuery {
    /// The personas, oldest first (not for INGEST).
    async fn personas(&self, ctx: &Context<'_>) -> ApiResult<Vec<Persona>> {
        let personas = service::list(viewer(ctx)?, &state(ctx).db.read).await?;
        Ok(personas.into_iter().map(Persona).collect())
    }
}

#[derive(Default)]
pub struct PersonaMutation;

#[Object]
impl PersonaMutation {
    /// Add a persona (MARKETING, ADMIN); leads match it from the next rescoring on.
    async fn create_persona(&self, ctx: &Context<'_>, input: PersonaInput) -> ApiResult<Persona> {
        let persona = service::create(viewer(ctx)?, &state(ctx).db.write, input.into()).await?;
        Ok(Persona(persona))
    }

    /// Replace a persona (MARKETING, ADMIN); leads are rematched on the next rescoring.
    async fn update_persona(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: PersonaInput,
    ) -> ApiResult<Persona> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Persona, &id, "id")?;
        let persona = service::update(viewer, &state(ctx).db.write, id, input.into()).await?;
        Ok(Persona(persona))
    }

    /// Delete a persona (MARKETING, ADMIN); its leads are rematched before this returns.
    async fn delete_persona(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(NodeType::Persona, &id, "id")?;
        Ok(service::delete(viewer, &state(ctx).db, id).await?)
    }
}
