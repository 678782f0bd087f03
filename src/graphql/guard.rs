//! The query root's gate: before any query root field runs, the policy says
//! whether the viewer may ask it (docs/roles.md: INGEST reads nothing but
//! `me`). One check for every root field, present and future, with no cost
//! on nested fields; introspection is answered by async-graphql before it.

use crate::auth::policy;
use crate::graphql::error::ToGraphql;
use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{
    Context, ContextSelectionSet, ObjectType, OutputType, Positioned, ServerResult, Value,
};
use std::borrow::Cow;

/// `T` as a query root whose every field is asked of the policy first.
#[derive(Default)]
pub struct Gated<T>(T);

impl<T: ContainerType> ContainerType for Gated<T> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let allowed = super::viewer(ctx)
            .and_then(|viewer| policy::require_query(viewer, &ctx.item.node.name.node));
        if let Err(err) = allowed {
            return Err(ctx.set_error_path(err.to_graphql().into_server_error(ctx.item.pos)));
        }
        self.0.resolve_field(ctx).await
    }
}

impl<T: ContainerType> OutputType for Gated<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_container(ctx, self).await
    }
}

impl<T: ObjectType> ObjectType for Gated<T> {}
