//! Scoring rules by id for `Lead.scoreBreakdown`: one query per batch.

use crate::error::AppError;
use async_graphql::dataloader::Loader;
use entity::scoring_rule;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// Rules by id, deleted ones included: a breakdown always resolves.
pub struct ScoringRuleLoader {
    pub db: DatabaseConnection,
}

impl Loader<i64> for ScoringRuleLoader {
    type Value = scoring_rule::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = scoring_rule::Entity::find()
            .filter(scoring_rule::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}
