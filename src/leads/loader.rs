//! DataLoaders of leads and their history: one query per batch, never per row.

use crate::auth::policy::LeadScope;
use crate::error::AppError;
use async_graphql::dataloader::Loader;
use entity::{lead, stage_change};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// Leads by id, within the viewer's scope (invisible ones are absent).
pub struct LeadLoader {
    pub db: DatabaseConnection,
    pub scope: LeadScope,
}

impl Loader<i64> for LeadLoader {
    type Value = lead::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = lead::Entity::find()
            .filter(lead::Column::Id.is_in(keys.iter().copied()))
            .filter(super::service::scope_condition(self.scope))
            .into_model::<lead::ByPosition>()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|l| (l.0.id, l.0)).collect())
    }
}

/// Stage history by lead id, oldest first.
pub struct HistoryLoader {
    pub db: DatabaseConnection,
}

impl Loader<i64> for HistoryLoader {
    type Value = Vec<stage_change::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = stage_change::Entity::find()
            .filter(stage_change::Column::LeadId.is_in(keys.iter().copied()))
            .order_by_asc(stage_change::Column::Id)
            .all(&self.db)
            .await?;
        let mut map: HashMap<i64, Self::Value> = HashMap::new();
        for row in rows {
            map.entry(row.lead_id).or_default().push(row);
        }
        Ok(map)
    }
}
