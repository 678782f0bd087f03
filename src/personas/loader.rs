//! Personas by id for `Lead.persona`: one query per batch.

use crate::error::AppError;
use async_graphql::dataloader::Loader;
use entity::persona;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// Personas by id, deleted ones included: a lead's persona always resolves.
pub struct PersonaLoader {
    pub db: DatabaseConnection,
}

impl Loader<i64> for PersonaLoader {
    type Value = persona::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = persona::Entity::find()
            .filter(persona::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}
