use super::service;
use super::types::{Role, User};
use crate::app::Loaders;
use crate::graphql::error::ApiResult;
use crate::graphql::{state, viewer};
use async_graphql::{Context, Object};

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The caller, as the token names it.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<User> {
        Ok(User::me(viewer(ctx)?, ctx.data_unchecked::<Loaders>()).await?)
    }

    /// Everyone who has used the API, optionally of one role (not for INGEST).
    async fn users(&self, ctx: &Context<'_>, role: Option<Role>) -> ApiResult<Vec<User>> {
        let users = service::list(viewer(ctx)?, &state(ctx).db.read, role.map(Into::into)).await?;
        Ok(users
            .into_iter()
            .map(User::try_from)
            .collect::<Result<_, _>>()?)
    }
}
