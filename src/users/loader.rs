use crate::error::AppError;
use async_graphql::dataloader::Loader;
use entity::app_user;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// Users by id, one query per batch.
pub struct UserLoader {
    pub db: DatabaseConnection,
}

impl Loader<i64> for UserLoader {
    type Value = app_user::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = app_user::Entity::find()
            .filter(app_user::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|u| (u.id, u)).collect())
    }
}
